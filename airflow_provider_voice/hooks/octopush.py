"""Octopush hook."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.octopush import OctopushApi

__all__ = ["OctopushHook"]


class OctopushHook(VoiceHook):
    """Hook for Octopush Voice-SMS (connection type ``octopush``).

    Connection: **api-login** (login) and **api-key** (password) from the Octopush account;
    **Base URL** (host) optional (default ``https://api.octopush.com``; paths start with ``/v1/public/``).
    """

    conn_type: ClassVar[str] = "octopush"
    hook_name: ClassVar[str] = "Octopush (Voice-SMS)"
    default_conn_name = "octopush_default"

    def build_api(self, conn: Any, extra: dict[str, Any]) -> OctopushApi:
        if not conn.login or not conn.password:
            raise ValidationError(
                "login/password (api-login/api-key)",
                None,
                f"connection {self.conn_id!r} needs both Octopush credentials",
            )
        return OctopushApi(api_login=conn.login, api_key=conn.password, base_urls=self.base_urls(conn, extra))

    def probe(self) -> str:
        balance = self.client.check_balance()
        return f"Octopush wallet balance {balance.amount} {balance.unit}"
