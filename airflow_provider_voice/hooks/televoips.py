"""TeleVoIPs hook."""

from __future__ import annotations

from typing import Any, ClassVar

import pendulum

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.televoips import TeleVoipsApi

__all__ = ["TeleVoipsHook"]


class TeleVoipsHook(VoiceHook):
    """Hook for TeleVoIPs (connection type ``televoips``).

    Connection extras: **Reports key** (``reports_api_key``, sent as ``x-api-key`` to ``/reports``) and
    **Messaging key** (``messaging_api_key``, sent as ``Authorization`` to ``/messages`` and
    ``/unsubscribe``); at least one. The password field, when set, is taken as the reports key.
    **Base URL** (host) optional (default ``https://api.televoips.com``).
    """

    conn_type: ClassVar[str] = "televoips"
    hook_name: ClassVar[str] = "TeleVoIPs (voice, SMS)"
    default_conn_name = "televoips_default"

    def build_api(self, conn: Any, extra: dict[str, Any]) -> TeleVoipsApi:
        reports_key = self.extra_value(extra, "reports_api_key") or conn.password
        messaging_key = self.extra_value(extra, "messaging_api_key")
        return TeleVoipsApi(reports_key=reports_key, messaging_key=messaging_key, base_urls=self.base_urls(conn, extra))

    def probe(self) -> str:
        """Messaging key: list the last minute's messages. Reports key only: ask for the CDR report
        (TeleVoIPs compiles one report per day, so asking again changes nothing)."""
        api: TeleVoipsApi = self.api  # type: ignore[assignment]
        done = []
        if api.has_messaging_key:
            now = pendulum.now("UTC")
            messages = self.client.list_messages(start=now.subtract(minutes=1), end=now)
            done.append(f"messaging key OK ({len(messages)} messages in the last minute)")
        if api.has_reports_key and hasattr(api, "request_cdr_report"):
            report = self.client.request_cdr_report()
            done.append(f"reports key OK (CDR report {report.status})")
        return "; ".join(done) or "no key to test"
