"""The Octopush connection: its form, how it becomes an :class:`OctopushApi`, and its connection test.

Connection: **api-login** (login) and **api-key** (password) from the Octopush account; **Base URL**
(host) optional (default ``https://api.octopush.com``; paths start with ``/v1/public/``).
"""

from __future__ import annotations

from airflow_provider_voice.connections import WEBHOOK_FIELDS, ConnectionType, console_fields
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.vendors.access import ConnectionFields, Vendor, VendorAccess
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.octopush.events import WEBHOOK_ENDPOINTS

__all__ = ["CONNECTION", "VENDOR", "build_api", "probe"]

#: Octopush's client area (public integrations link its registration and API-credentials pages
#: there); no campaign page is documented: docs/vendors/octopush.md
CONSOLE_URL = "https://client.octopush.com"

CONNECTION = ConnectionType(
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
    extra_fields={**console_fields(CONSOLE_URL), **WEBHOOK_FIELDS},
    console_url=CONSOLE_URL,
)


def build_api(fields: ConnectionFields) -> OctopushApi:
    """The Octopush API of a connection (api-login and api-key are required).

    :param fields: the connection's fields.
    """
    if not fields.login or not fields.password:
        raise ValidationError(
            "login/password (api-login/api-key)",
            None,
            f"connection {fields.conn_id!r} needs both Octopush credentials",
        )
    return OctopushApi(api_login=fields.login, api_key=fields.password, base_urls=fields.base_urls())


def probe(access: VendorAccess[OctopushApi]) -> str:
    """The wallet balance.

    :param access: the API and its clients.
    """
    balance = access.client().send(access.api.check_balance())
    return f"Octopush wallet balance {balance.amount} {balance.unit}"


VENDOR = Vendor(CONNECTION, build_api, probe, ("Octopush", "https://www.octopush.com"), webhooks=WEBHOOK_ENDPOINTS)
