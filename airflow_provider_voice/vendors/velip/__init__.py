"""Velip V2 client (``https://vox.velip.com.br/api/v2/<Name>``)."""

from __future__ import annotations

from airflow_provider_voice.vendors.velip.api_campaigns import VelipCampaignEndpoints
from airflow_provider_voice.vendors.velip.api_core import VelipCore, VelipUser
from airflow_provider_voice.vendors.velip.api_messaging import VelipMessagingEndpoints
from airflow_provider_voice.vendors.velip.api_reports import MAXREG_LIMIT, VELIP_TIMEZONE, VelipReportEndpoints
from airflow_provider_voice.vendors.velip.records_table import VELIP_CALLS_TABLE

__all__ = [
    "MAXREG_LIMIT",
    "VELIP_CALLS_TABLE",
    "VELIP_TIMEZONE",
    "VelipApi",
    "VelipPaging",
    "VelipUser",
    "ended_calls_flow",
]


class VelipApi(VelipCampaignEndpoints, VelipReportEndpoints, VelipMessagingEndpoints, VelipCore):
    """Every Velip V2 endpoint. Send with :class:`~airflow_provider_voice.vendors.base.VendorClient`
    or :class:`~airflow_provider_voice.vendors.base.AsyncVendorClient`.

    :param token: permanent token or temporary ``tsid``.
    :param base_urls: ``{"default": url}`` override.
    """


# the event pollers and the paging capability import this package's API: imported last (no cycle)
from airflow_provider_voice.vendors.velip.events import ended_calls_flow  # noqa: E402
from airflow_provider_voice.vendors.velip.paging import VelipPaging  # noqa: E402
