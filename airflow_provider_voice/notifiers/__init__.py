"""Airflow notifiers of the voice provider: SMS and voice calls from task and DAG callbacks.

``SmsNotifier`` / ``send_sms_notification`` (TeleVoIPs, Velip) and ``VoiceCallNotifier`` /
``send_voice_call_notification`` (Velip, Kaleyra) are loaded on first use (importing this package
imports no Airflow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_voice.notifiers.base import sent_notifications
    from airflow_provider_voice.notifiers.sms import SmsNotifier, send_sms_notification
    from airflow_provider_voice.notifiers.voice import VoiceCallNotifier, send_voice_call_notification

__all__ = [
    "SmsNotifier",
    "VoiceCallNotifier",
    "send_sms_notification",
    "send_voice_call_notification",
    "sent_notifications",
]

_WHERE = {
    "SmsNotifier": "sms",
    "send_sms_notification": "sms",
    "VoiceCallNotifier": "voice",
    "send_voice_call_notification": "voice",
    "sent_notifications": "base",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
