"""TeleVoIPs CDR report endpoints (GET /reports/cdrs and the file download)."""

from __future__ import annotations

from airflow_provider_voice.vendors.televoips.core import TeleVoipsCore

__all__ = ["TeleVoipsReportEndpoints"]


class TeleVoipsReportEndpoints(TeleVoipsCore):
    """TeleVoIPs CDR report endpoints (GET /reports/cdrs and the file download)."""
