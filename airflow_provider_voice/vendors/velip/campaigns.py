"""Velip campaign and single-call endpoints (MakeTTSCall, CreateCampaign, GetCampaignsList, ChangeCampaign)."""

from __future__ import annotations

from airflow_provider_voice.vendors.velip.core import VelipCore

__all__ = ["VelipCampaignEndpoints"]


class VelipCampaignEndpoints(VelipCore):
    """Velip campaign and single-call endpoints (MakeTTSCall, CreateCampaign, GetCampaignsList, ChangeCampaign)."""
