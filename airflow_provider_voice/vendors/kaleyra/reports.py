"""Kaleyra call-report endpoints (dial, dial.c2cstatus, followup.reports)."""

from __future__ import annotations

from airflow_provider_voice.vendors.kaleyra.core import KaleyraCore

__all__ = ["KaleyraReportEndpoints"]


class KaleyraReportEndpoints(KaleyraCore):
    """Kaleyra call-report endpoints (dial, dial.c2cstatus, followup.reports)."""
