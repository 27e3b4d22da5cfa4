"""Octopush Voice-SMS campaign endpoint (POST /voice-campaign/send)."""

from __future__ import annotations

from airflow_provider_voice.vendors.octopush.core import OctopushCore

__all__ = ["OctopushCampaignEndpoints"]


class OctopushCampaignEndpoints(OctopushCore):
    """Octopush Voice-SMS campaign endpoint (POST /voice-campaign/send)."""
