"""Airflow triggers of the voice provider.

:class:`~airflow_provider_voice.triggers.events.VoiceEventTrigger` (the ``AssetWatcher`` trigger) is
also importable from here; it is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["VoiceEventTrigger"]


def __getattr__(name: str) -> Any:
    if name == "VoiceEventTrigger":
        from airflow_provider_voice.triggers.events import VoiceEventTrigger

        return VoiceEventTrigger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
