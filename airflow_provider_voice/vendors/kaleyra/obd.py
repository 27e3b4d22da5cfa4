"""Kaleyra outbound-dialing endpoints (voice.call, voice.json, voice.status, voice.groupstatus)."""

from __future__ import annotations

from airflow_provider_voice.vendors.kaleyra.core import KaleyraCore

__all__ = ["KaleyraObdEndpoints"]


class KaleyraObdEndpoints(KaleyraCore):
    """Kaleyra outbound-dialing endpoints (voice.call, voice.json, voice.status, voice.groupstatus)."""
