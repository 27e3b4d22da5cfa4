"""The four connection types: form fields, labels and defaults, declared once as plain data.

:mod:`airflow_provider_voice.provider_info` turns this into the ``connection-types`` entries Airflow
3.2+ reads (``conn-fields`` / ``ui-field-behaviour``); the hooks turn it into
``get_ui_field_behaviour()`` / ``get_connection_form_widgets()`` for Airflow 3.1. No Airflow import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CONNECTION_TYPES", "ConnField", "ConnectionType"]


@dataclass(frozen=True)
class ConnField:
    """An extra field on a connection form (stored in the connection's ``extra`` JSON)."""

    label: str
    description: str
    secret: bool = False
    default: str | None = None
    enum: tuple[str, ...] | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if self.secret:
            schema["format"] = "password"
        if self.default is not None:
            schema["default"] = self.default
        if self.enum:
            schema["enum"] = list(self.enum)
        return schema


@dataclass(frozen=True)
class ConnectionType:
    """One vendor's connection type: what the form shows and how fields are relabelled."""

    conn_type: str
    hook_name: str
    hook_class: str
    default_conn_id: str
    hidden_fields: tuple[str, ...]
    relabeling: dict[str, str]
    placeholders: dict[str, str]
    extra_fields: dict[str, ConnField] = field(default_factory=dict)

    def ui_field_behaviour(self) -> dict[str, Any]:
        """``get_ui_field_behaviour()`` form (snake_case keys)."""
        return {
            "hidden_fields": list(self.hidden_fields),
            "relabeling": dict(self.relabeling),
            "placeholders": dict(self.placeholders),
        }

    def provider_entry(self) -> dict[str, Any]:
        """The ``connection-types`` entry of the provider info (kebab-case keys, Airflow 3.2+)."""
        entry: dict[str, Any] = {
            "connection-type": self.conn_type,
            "hook-class-name": self.hook_class,
            "hook-name": self.hook_name,
            "ui-field-behaviour": {
                "hidden-fields": list(self.hidden_fields),
                "relabeling": dict(self.relabeling),
                "placeholders": dict(self.placeholders),
            },
        }
        if self.extra_fields:
            entry["conn-fields"] = {
                name: {"label": f.label, "description": f.description, "schema": f.schema()}
                for name, f in self.extra_fields.items()
            }
        return entry


CONNECTION_TYPES: dict[str, ConnectionType] = {
    "velip": ConnectionType(
        conn_type="velip",
        hook_name="Velip V2 (voice)",
        hook_class="airflow_provider_voice.hooks.velip.VelipHook",
        default_conn_id="velip_default",
        hidden_fields=("schema", "login", "port"),
        relabeling={"host": "Base URL", "password": "Token"},
        placeholders={
            "host": "https://vox.velip.com.br",
            "password": "permanent token (API > CONFIGURA > TOKENS) or a tsid from GetUserID",
            "extra": '{"php_suffix": false}',
        },
    ),
    "televoips": ConnectionType(
        conn_type="televoips",
        hook_name="TeleVoIPs (voice, SMS)",
        hook_class="airflow_provider_voice.hooks.televoips.TeleVoipsHook",
        default_conn_id="televoips_default",
        hidden_fields=("schema", "login", "port", "password"),
        relabeling={"host": "Base URL"},
        placeholders={"host": "https://api.televoips.com"},
        extra_fields={
            "reports_api_key": ConnField(
                "Reports key (x-api-key)", "API key for /reports (CDRs), sent as the x-api-key header.", secret=True
            ),
            "messaging_api_key": ConnField(
                "Messaging key (Authorization)",
                "API key for /messages and /unsubscribe, sent raw in the Authorization header.",
                secret=True,
            ),
            "owned_numbers": ConnField(
                "Owned numbers",
                "Comma-separated numbers of the account enabled for texting; SMS 'from' is checked against them "
                "before sending (optional: without it, TeleVoIPs' own 400 'Unable to send message' is reported).",
            ),
        },
    ),
    "octopush": ConnectionType(
        conn_type="octopush",
        hook_name="Octopush (Voice-SMS)",
        hook_class="airflow_provider_voice.hooks.octopush.OctopushHook",
        default_conn_id="octopush_default",
        hidden_fields=("schema", "port"),
        relabeling={"host": "Base URL", "login": "api-login", "password": "api-key"},
        placeholders={
            "host": "https://api.octopush.com",
            "login": "the e-mail address of your Octopush account",
            "password": "API key from your Octopush account (API & Integrations)",
        },
    ),
    "kaleyra": ConnectionType(
        conn_type="kaleyra",
        hook_name="Kaleyra Voice",
        hook_class="airflow_provider_voice.hooks.kaleyra.KaleyraHook",
        default_conn_id="kaleyra_default",
        hidden_fields=("schema", "login", "port"),
        relabeling={"host": "Base URL", "password": "API key"},
        placeholders={
            "host": "https://api-voice.kaleyra.com/v1/",
            "password": "the API key from your Kaleyra Voice account",
        },
        extra_fields={
            "obd_base_url": ConnField(
                "OBD base URL",
                "Base URL of the voice.* (outbound dialing) methods. Leave empty: with Kaleyra's production "
                "Base URL they go to https://obd.kaleyra.com/api/v1/, with any other Base URL (the simulator, "
                "a proxy) to that Base URL.",
            ),
            "response_format": ConnField(
                "Response format", "format= asked of Kaleyra (both are parsed).", default="json", enum=("json", "xml")
            ),
        },
    ),
}
