"""Kaleyra Voice hook."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_core import is_kaleyra_production

__all__ = ["KaleyraHook"]


class KaleyraHook(VoiceHook):
    """Hook for Kaleyra Voice (connection type ``kaleyra``).

    Connection: **API key** (password); **Base URL** (host) optional (default
    ``https://api-voice.kaleyra.com/v1/``); extras ``obd_base_url`` (``voice.*`` methods; when empty
    they go to ``https://obd.kaleyra.com/api/v1/`` with the production Base URL, and to the Base
    URL itself when it is another host, such as the simulator or a proxy) and ``response_format``
    (``json``/``xml``). A Base URL that is not Kaleyra's with an ``obd_base_url`` that is (the old
    form default) is refused: the calls would reach real people through production.
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
            if urls.get("default") and not is_kaleyra_production(urls["default"]) and is_kaleyra_production(obd):
                raise ValidationError(
                    "extra.obd_base_url",
                    obd,
                    f"connection {self.conn_id!r} sends Kaleyra calls to {urls['default']} but voice.* calls to "
                    "Kaleyra's production OBD host; clear obd_base_url (voice.* then goes to the Base URL) or set "
                    "it to the same non-production host",
                    vendor="kaleyra",
                )
            urls["obd"] = obd if "://" in obd else f"https://{obd}"
        fmt = self.extra_value(extra, "response_format") or "json"
        if fmt not in ("json", "xml"):
            raise ValidationError("extra.response_format", fmt, "json or xml")
        return KaleyraApi(api_key=conn.password, response_format=fmt, base_urls=urls)

    def probe(self) -> str:
        health = self.client.monitor()
        state = "healthy" if health.healthy else "incidents reported"
        return f"Kaleyra monitor OK: {state}, {len(health.incidents)} region entries"
