"""Velip V2 hook."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.access import Vendor
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.campaign import VelipCampaigns
from airflow_provider_voice.vendors.velip.click_to_call import VelipClickToCall
from airflow_provider_voice.vendors.velip.connection import VENDOR
from airflow_provider_voice.vendors.velip.paging import VelipPaging
from airflow_provider_voice.vendors.velip.sms import VelipSms
from airflow_provider_voice.vendors.velip.voice_call import VelipVoiceCall

__all__ = ["VelipHook"]


class VelipHook(VoiceHook[VelipApi]):
    """Hook for Velip V2 (connection type ``velip``): campaigns, SMS, click-to-call, single calls,
    call records.

    Connection: **Token** (password) = a permanent token or a temporary ``tsid``; **Base URL**
    (host) optional; extra ``{"php_suffix": true}`` to call ``/api/v2/<Name>.php``
    (:mod:`airflow_provider_voice.vendors.velip.connection`).
    """

    vendor: ClassVar[Vendor[VelipApi]] = VENDOR

    def campaigns(self) -> VelipCampaigns:
        """Velip campaigns (``CreateCampaign``, ``GetCampaignsList``, ``ChangeCampaign``)."""
        return VelipCampaigns(self.access)

    def sms(self) -> VelipSms:
        """Velip SMS (``MakeSMS``)."""
        return VelipSms(self.access)

    def click_to_call(self) -> VelipClickToCall:
        """Velip click-to-call (``MakeTTSCall`` type 3)."""
        return VelipClickToCall(self.access)

    def voice_call(self) -> VelipVoiceCall:
        """Velip single call (``MakeTTSCall`` type 0)."""
        return VelipVoiceCall(self.access)

    def paging(self) -> VelipPaging:
        """Velip paging: ``MakeTTSCall`` type 2, acknowledged by a key press (``PageOnCallOperator``)."""
        return VelipPaging(self.access)
