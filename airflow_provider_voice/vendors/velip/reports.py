"""Velip call-record endpoints (GetCallStatus, cursor pagination)."""

from __future__ import annotations

from airflow_provider_voice.vendors.velip.core import VelipCore

__all__ = ["VelipReportEndpoints"]


class VelipReportEndpoints(VelipCore):
    """Velip call-record endpoints (GetCallStatus, cursor pagination)."""
