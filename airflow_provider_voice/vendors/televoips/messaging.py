"""TeleVoIPs SMS write endpoints (POST /messages, POST /unsubscribe)."""

from __future__ import annotations

from airflow_provider_voice.vendors.televoips.core import TeleVoipsCore

__all__ = ["TeleVoipsMessagingEndpoints"]


class TeleVoipsMessagingEndpoints(TeleVoipsCore):
    """TeleVoIPs SMS write endpoints (POST /messages, POST /unsubscribe)."""
