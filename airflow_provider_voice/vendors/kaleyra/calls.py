"""Kaleyra call operations (dial.click2call, block, followup, autodial.add, autodial.import)."""

from __future__ import annotations

from airflow_provider_voice.vendors.kaleyra.core import KaleyraCore

__all__ = ["KaleyraCallEndpoints"]


class KaleyraCallEndpoints(KaleyraCore):
    """Kaleyra call operations (dial.click2call, block, followup, autodial.add, autodial.import)."""
