"""What a connection type is: form fields, labels and defaults, as plain data.

Each vendor declares its own (``vendors/<vendor>/connection.py``); ``vendors/registry.py`` lists them.

:mod:`airflow_provider_voice.provider_info` turns this into the ``connection-types`` entries Airflow
3.2+ reads (``conn-fields`` / ``ui-field-behaviour``); the hooks turn it into
``get_ui_field_behaviour()`` / ``get_connection_form_widgets()`` for Airflow 3.1. No Airflow import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CONSOLE_PLACEHOLDERS", "WEBHOOK_FIELDS", "ConnField", "ConnectionType", "console_fields"]


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
    #: the vendor's web console (the target of the tasks' "Vendor console" link when the connection
    #: has no ``console_url`` extra); None: no console of this vendor is known, so no link
    console_url: str | None = None

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


#: the form fields every vendor connection has for the webhook receiver (``/voice-webhooks/``)
WEBHOOK_FIELDS: dict[str, ConnField] = {
    "webhook_auth": ConnField(
        "Webhook auth",
        "How the vendor's webhooks prove who they are: 'token' (a secret query parameter: "
        "/voice-webhooks/<conn_id>/<route>?token=<secret>), 'basic' (TeleVoIPs: user + password) or 'api_key' "
        "(TeleVoIPs: a header). Empty: webhooks for this connection are refused.",
        enum=("token", "basic", "api_key"),
    ),
    "webhook_secret": ConnField(
        "Webhook secret",
        "The token, the Basic password, or the API key value (at least 16 characters).",
        secret=True,
    ),
    "webhook_username": ConnField("Webhook user", "Basic auth only: the user name the vendor sends."),
    "webhook_api_key_header": ConnField(
        "Webhook API-key header", "API-key auth only: the header the vendor sends it in.", default="X-Api-Key"
    ),
    "optout_keywords": ConnField(
        "Opt-out keywords",
        "Comma-separated keywords that make an inbound SMS an opt-out (default: STOP, UNSUBSCRIBE, ARRET, "
        "PARAR, BAJA... in EN, FR, PT, ES).",
    ),
}


#: what a ``console_url`` template may hold; the tasks' extra links fill in what they know
CONSOLE_PLACEHOLDERS: tuple[str, ...] = ("campaign_id", "call_id", "report_id", "day")


def console_fields(default: str | None) -> dict[str, ConnField]:
    """The ``console_url`` form field of a vendor connection (``airflow_provider_voice.operators.links``).

    :param default: the vendor's console used when the field is empty (None: none is known).
    """
    fallback = f"Empty: {default}." if default else "Empty: no link (no console of this vendor is known)."
    return {
        "console_url": ConnField(
            "Console URL",
            "The vendor's web console, opened by the tasks' 'Vendor console' link. It may hold {campaign_id}, "
            "{call_id}, {report_id} or {day}, e.g. https://console.example.com/campaigns/{campaign_id}; a "
            "link that lacks one opens the console's home. " + fallback,
        )
    }
