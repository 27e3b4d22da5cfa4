"""Octopush hook."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.access import Vendor
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.octopush.campaign import OctopushCampaigns
from airflow_provider_voice.vendors.octopush.connection import VENDOR

__all__ = ["OctopushHook"]


class OctopushHook(VoiceHook[OctopushApi]):
    """Hook for Octopush Voice-SMS (connection type ``octopush``): voice campaigns.

    Connection: **api-login** (login) and **api-key** (password) from the Octopush account;
    **Base URL** (host) optional (:mod:`airflow_provider_voice.vendors.octopush.connection`).
    """

    vendor: ClassVar[Vendor[OctopushApi]] = VENDOR

    def campaigns(self) -> OctopushCampaigns:
        """Octopush Voice-SMS campaigns (``POST /voice-campaign/send``)."""
        return OctopushCampaigns(self.access)
