"""Velip V2 hook."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.velip import VelipApi

__all__ = ["VelipHook"]


class VelipHook(VoiceHook):
    """Hook for Velip V2 (connection type ``velip``).

    Connection: **Token** (password) = a permanent token or a temporary ``tsid``; **Base URL**
    (host) optional; extra ``{"php_suffix": true}`` to call ``/api/v2/<Name>.php``.
    ``hook.client`` exposes every endpoint of :class:`~airflow_provider_voice.vendors.velip.VelipApi`.
    """

    conn_type: ClassVar[str] = "velip"
    hook_name: ClassVar[str] = "Velip V2 (voice)"
    default_conn_name = "velip_default"

    def build_api(self, conn: Any, extra: dict[str, Any]) -> VelipApi:
        if not conn.password:
            raise ValidationError("password (Token)", None, f"connection {self.conn_id!r} needs the Velip token")
        return VelipApi(
            token=conn.password,
            php_suffix=bool(self.extra_value(extra, "php_suffix")),
            base_urls=self.base_urls(conn, extra),
        )

    def probe(self) -> str:
        user = self.client.get_user_id()
        return f"Velip GetUserID OK, account {user.cdcs_id}"
