"""TeleVoIPs client (``https://api.televoips.com``)."""

from __future__ import annotations

from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsCore, TeleVoipsMessage
from airflow_provider_voice.vendors.televoips.api_messaging import TeleVoipsMessagingEndpoints
from airflow_provider_voice.vendors.televoips.api_reports import TeleVoipsReportEndpoints

__all__ = ["TeleVoipsApi", "TeleVoipsMessage"]


class TeleVoipsApi(TeleVoipsReportEndpoints, TeleVoipsMessagingEndpoints, TeleVoipsCore):
    """Every TeleVoIPs endpoint.

    :param reports_key: ``x-api-key`` for reports.
    :param messaging_key: ``Authorization`` for messaging.
    """
