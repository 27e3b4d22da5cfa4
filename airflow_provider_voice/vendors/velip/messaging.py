"""Velip SMS endpoint (MakeSMS)."""

from __future__ import annotations

from airflow_provider_voice.vendors.velip.core import VelipCore

__all__ = ["VelipMessagingEndpoints"]


class VelipMessagingEndpoints(VelipCore):
    """Velip SMS endpoint (MakeSMS)."""
