"""TeleVoIPs client (``https://api.televoips.com``)."""

from __future__ import annotations

from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsCore, TeleVoipsMessage, format_televoips_time
from airflow_provider_voice.vendors.televoips.api_messaging import TeleVoipsMessagingEndpoints
from airflow_provider_voice.vendors.televoips.api_reports import CdrReportNotReadyError, TeleVoipsReportEndpoints
from airflow_provider_voice.vendors.televoips.cdr import CdrReport
from airflow_provider_voice.vendors.televoips.cdr_download import (
    HeaderPolicy,
    adownload_cdr_report,
    download_cdr_report,
)
from airflow_provider_voice.vendors.televoips.records_table import CDR_TABLE

__all__ = [
    "CDR_TABLE",
    "CdrReport",
    "CdrReportNotReadyError",
    "HeaderPolicy",
    "TeleVoipsApi",
    "TeleVoipsMessage",
    "adownload_cdr_report",
    "download_cdr_report",
    "format_televoips_time",
    "inbound_messages_flow",
]


class TeleVoipsApi(TeleVoipsReportEndpoints, TeleVoipsMessagingEndpoints, TeleVoipsCore):
    """Every TeleVoIPs endpoint.

    :param reports_key: ``x-api-key`` for reports.
    :param messaging_key: ``Authorization`` for messaging.
    """


# the event pollers import this package's API: imported last (no cycle)
from airflow_provider_voice.vendors.televoips.events import inbound_messages_flow  # noqa: E402
