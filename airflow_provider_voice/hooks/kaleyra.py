"""Kaleyra Voice hook."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.kaleyra import KaleyraApi

__all__ = ["KaleyraHook"]


class KaleyraHook(VoiceHook):
    """Hook for Kaleyra Voice (connection type ``kaleyra``).

    Connection: **API key** (password); **Base URL** (host) optional (default
    ``https://api-voice.kaleyra.com/v1/``); extras ``obd_base_url`` (``voice.*`` methods, default
    ``https://obd.kaleyra.com/api/v1/``) and ``response_format`` (``json``/``xml``).
    """

    conn_type: ClassVar[str] = "kaleyra"
    hook_name: ClassVar[str] = "Kaleyra Voice"
    default_conn_name = "kaleyra_default"

    def build_api(self, conn: Any, extra: dict[str, Any]) -> KaleyraApi:
        if not conn.password:
            raise ValidationError("password (API key)", None, f"connection {self.conn_id!r} needs the Kaleyra API key")
        urls = self.base_urls(conn, extra)
        obd = self.extra_value(extra, "obd_base_url")
        if obd:
            urls["obd"] = obd
        fmt = self.extra_value(extra, "response_format") or "json"
        if fmt not in ("json", "xml"):
            raise ValidationError("extra.response_format", fmt, "json or xml")
        return KaleyraApi(api_key=conn.password, response_format=fmt, base_urls=urls)

    def probe(self) -> str:
        health = self.client.monitor()
        state = "healthy" if health.healthy else "incidents reported"
        return f"Kaleyra monitor OK: {state}, {len(health.incidents)} region entries"
