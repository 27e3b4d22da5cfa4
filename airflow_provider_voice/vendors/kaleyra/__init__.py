"""Kaleyra Voice client (``https://api-voice.kaleyra.com/v1/``, OBD also at ``https://obd.kaleyra.com/api/v1/``)."""

from __future__ import annotations

from airflow_provider_voice.vendors.kaleyra.api_calls import KaleyraCallEndpoints
from airflow_provider_voice.vendors.kaleyra.api_core import KaleyraCore, KaleyraHealth, KaleyraReply
from airflow_provider_voice.vendors.kaleyra.api_obd import KaleyraObdEndpoints
from airflow_provider_voice.vendors.kaleyra.api_reports import KaleyraReportEndpoints

__all__ = ["KaleyraApi", "KaleyraHealth", "KaleyraReply"]


class KaleyraApi(KaleyraObdEndpoints, KaleyraReportEndpoints, KaleyraCallEndpoints, KaleyraCore):
    """Every Kaleyra Voice endpoint.

    :param api_key: API key.
    :param response_format: ``json`` or ``xml``.
    """
