"""The Velip V2 connection: its form, how it becomes a :class:`VelipApi`, and its connection test.

Connection: **Token** (password) = a permanent token or a temporary ``tsid``; **Base URL** (host)
optional; extra ``{"php_suffix": true}`` to call ``/api/v2/<Name>.php``.
"""

from __future__ import annotations

from airflow_provider_voice.connections import WEBHOOK_FIELDS, ConnectionType, console_fields
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.vendors.access import ConnectionFields, Vendor, VendorAccess
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.events import WEBHOOK_ENDPOINTS

__all__ = ["CONNECTION", "VENDOR", "build_api", "probe"]

#: the platform's host as the spec names it (its API; the spec's "control panel", where tokens are
#: made, has no documented URL or page): a best guess, see docs/vendors/velip.md
CONSOLE_URL = "https://vox.velip.com.br"

CONNECTION = ConnectionType(
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
    extra_fields={**console_fields(CONSOLE_URL), **WEBHOOK_FIELDS},
    console_url=CONSOLE_URL,
)


def build_api(fields: ConnectionFields) -> VelipApi:
    """The Velip API of a connection (the token is required).

    :param fields: the connection's fields.
    """
    if not fields.password:
        raise ValidationError("password (Token)", None, f"connection {fields.conn_id!r} needs the Velip token")
    return VelipApi(
        token=fields.password,
        php_suffix=bool(fields.extra_value("php_suffix")),
        base_urls=fields.base_urls(),
    )


def probe(access: VendorAccess[VelipApi]) -> str:
    """``GetUserID``: the account id.

    :param access: the API and its clients.
    """
    user = access.client().send(access.api.get_user_id())
    return f"Velip GetUserID OK, account {user.cdcs_id}"


VENDOR = Vendor(CONNECTION, build_api, probe, ("Velip V2", "https://www.velip.com.br"), webhooks=WEBHOOK_ENDPOINTS)
