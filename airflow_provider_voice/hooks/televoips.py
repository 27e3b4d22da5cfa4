"""TeleVoIPs hook."""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.access import Vendor
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.blacklist import TeleVoipsBlacklist
from airflow_provider_voice.vendors.televoips.connection import VENDOR
from airflow_provider_voice.vendors.televoips.sms import TeleVoipsSms

__all__ = ["TeleVoipsHook"]


class TeleVoipsHook(VoiceHook[TeleVoipsApi]):
    """Hook for TeleVoIPs (connection type ``televoips``): SMS, opt-outs, messages, CDR reports.

    Connection extras: **Reports key** (``reports_api_key``) and **Messaging key**
    (``messaging_api_key``), at least one; ``owned_numbers`` optional
    (:mod:`airflow_provider_voice.vendors.televoips.connection`).
    """

    vendor: ClassVar[Vendor[TeleVoipsApi]] = VENDOR

    def sms(self) -> TeleVoipsSms:
        """TeleVoIPs SMS (``POST /messages``)."""
        return TeleVoipsSms(self.access)

    def blacklist(self) -> TeleVoipsBlacklist:
        """TeleVoIPs opt-outs (``POST /unsubscribe``)."""
        return TeleVoipsBlacklist(self.access)
