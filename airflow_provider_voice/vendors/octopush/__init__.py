"""Octopush client (``https://api.octopush.com/v1/public/...``)."""

from __future__ import annotations

from airflow_provider_voice.vendors.octopush.api_campaigns import OctopushCampaignEndpoints
from airflow_provider_voice.vendors.octopush.api_core import OctopushBalance, OctopushCore

__all__ = ["OctopushApi", "OctopushBalance"]


class OctopushApi(OctopushCampaignEndpoints, OctopushCore):
    """Every Octopush Voice-SMS endpoint.

    :param api_login: api login.
    :param api_key: api key.
    """
