"""Kaleyra Voice client (``https://api-voice.kaleyra.com/v1/``, OBD also at ``https://obd.kaleyra.com/api/v1/``).

Besides :class:`KaleyraApi`, the package exports what the Kaleyra-only operators use (operators
import a vendor package, never its modules): the default region, the dialer channel and the
follow-ups logic.
"""

from __future__ import annotations

from airflow_provider_voice.vendors.kaleyra.api_calls import (
    AUTODIAL_IMPORT_MAX,
    KaleyraCallEndpoints,
    check_dialer_name,
)
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION, KaleyraCore, KaleyraHealth, KaleyraReply
from airflow_provider_voice.vendors.kaleyra.api_obd import KaleyraObdEndpoints
from airflow_provider_voice.vendors.kaleyra.api_reports import KALEYRA_TIMEZONE, KaleyraReportEndpoints
from airflow_provider_voice.vendors.kaleyra.dialer import DIALER_METHODS, KaleyraDialerChannel, KaleyraNumberCheck
from airflow_provider_voice.vendors.kaleyra.followups import FOLLOWUP_ACTIONS, KaleyraFollowUps
from airflow_provider_voice.vendors.kaleyra.records_table import KALEYRA_CALLS_TABLE

__all__ = [
    "AUTODIAL_IMPORT_MAX",
    "DEFAULT_REGION",
    "DIALER_METHODS",
    "FOLLOWUP_ACTIONS",
    "KALEYRA_CALLS_TABLE",
    "KALEYRA_TIMEZONE",
    "KaleyraApi",
    "KaleyraDialerChannel",
    "KaleyraFollowUps",
    "KaleyraHealth",
    "KaleyraNumberCheck",
    "KaleyraReply",
    "check_dialer_name",
    "ended_click_to_calls_flow",
]


class KaleyraApi(KaleyraObdEndpoints, KaleyraReportEndpoints, KaleyraCallEndpoints, KaleyraCore):
    """Every Kaleyra Voice endpoint.

    :param api_key: API key.
    :param response_format: ``json`` or ``xml``.
    """


# the event pollers import this package's API: imported last (no cycle)
from airflow_provider_voice.vendors.kaleyra.events import ended_click_to_calls_flow  # noqa: E402
