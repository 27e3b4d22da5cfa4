"""Kaleyra Voice hook."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.access import Vendor
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.blacklist import KaleyraBlacklist
from airflow_provider_voice.vendors.kaleyra.campaign import KaleyraCampaigns
from airflow_provider_voice.vendors.kaleyra.click_to_call import KaleyraClickToCall
from airflow_provider_voice.vendors.kaleyra.connection import VENDOR
from airflow_provider_voice.vendors.kaleyra.voice_call import KaleyraVoiceCall

__all__ = ["KaleyraHook"]


class KaleyraHook(VoiceHook[KaleyraApi]):
    """Hook for Kaleyra Voice (connection type ``kaleyra``): campaigns, blacklist, click-to-call,
    single calls, follow-ups, the dialer, call reports and network health.

    Connection: **API key** (password); **Base URL** (host) optional; extras ``obd_base_url`` and
    ``response_format`` (:mod:`airflow_provider_voice.vendors.kaleyra.connection`).
    """

    vendor: ClassVar[Vendor[KaleyraApi]] = VENDOR

    def campaigns(self) -> KaleyraCampaigns:
        """Kaleyra OBD campaigns (``voice.call`` / ``voice.json``)."""
        return KaleyraCampaigns(self.access)

    def blacklist(self) -> KaleyraBlacklist:
        """The Kaleyra blacklist (``method=block``)."""
        return KaleyraBlacklist(self.access)

    def click_to_call(self) -> KaleyraClickToCall:
        """Kaleyra click-to-call (``dial.click2call``)."""
        return KaleyraClickToCall(self.access)

    def voice_call(self) -> KaleyraVoiceCall:
        """Kaleyra single call (OBD ``voice.call`` with one number)."""
        return KaleyraVoiceCall(self.access)
