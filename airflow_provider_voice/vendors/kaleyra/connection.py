"""The Kaleyra Voice connection: its form, how it becomes a :class:`KaleyraApi`, and its connection test.

Connection: **API key** (password); **Base URL** (host) optional (default
``https://api-voice.kaleyra.com/v1/``); extras ``obd_base_url`` (``voice.*`` methods; when empty
they go to ``https://obd.kaleyra.com/api/v1/`` with the production Base URL, and to the Base
URL itself when it is another host, such as the simulator or a proxy) and ``response_format``
(``json``/``xml``). A Base URL that is not Kaleyra's with an ``obd_base_url`` that is (the old
form default) is refused: the calls would reach real people through production.
"""

from __future__ import annotations

from airflow_provider_voice.connections import WEBHOOK_FIELDS, ConnectionType, ConnField, console_fields
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.vendors.access import ConnectionFields, Vendor, VendorAccess, with_scheme
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_core import is_kaleyra_production
from airflow_provider_voice.vendors.kaleyra.events import WEBHOOK_ENDPOINTS

__all__ = ["CONNECTION", "VENDOR", "build_api", "probe"]

#: the Kaleyra Voice panel (linked by public client code; api-voice.kaleyra.com is the API); no
#: page of it is documented: docs/vendors/kaleyra.md
CONSOLE_URL = "https://voice.kaleyra.com"

CONNECTION = ConnectionType(
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
        **console_fields(CONSOLE_URL),
        **WEBHOOK_FIELDS,
    },
    console_url=CONSOLE_URL,
)


def build_api(fields: ConnectionFields) -> KaleyraApi:
    """The Kaleyra API of a connection (the API key is required; see the module docstring for the URLs).

    :param fields: the connection's fields.
    """
    if not fields.password:
        raise ValidationError("password (API key)", None, f"connection {fields.conn_id!r} needs the Kaleyra API key")
    urls = fields.base_urls()
    obd = fields.extra_value("obd_base_url")
    if obd:
        if urls.get("default") and not is_kaleyra_production(urls["default"]) and is_kaleyra_production(obd):
            raise ValidationError(
                "extra.obd_base_url",
                obd,
                f"connection {fields.conn_id!r} sends Kaleyra calls to {urls['default']} but voice.* calls to "
                "Kaleyra's production OBD host; clear obd_base_url (voice.* then goes to the Base URL) or set "
                "it to the same non-production host",
                vendor="kaleyra",
            )
        urls["obd"] = with_scheme(obd)
    fmt = fields.extra_value("response_format") or "json"
    if fmt not in ("json", "xml"):
        raise ValidationError("extra.response_format", fmt, "json or xml")
    return KaleyraApi(api_key=fields.password, response_format="xml" if fmt == "xml" else "json", base_urls=urls)


def probe(access: VendorAccess[KaleyraApi]) -> str:
    """``method=monitor``: Kaleyra's network health.

    :param access: the API and its clients.
    """
    health = access.client().send(access.api.monitor())
    state = "healthy" if health.healthy else "incidents reported"
    return f"Kaleyra monitor OK: {state}, {len(health.incidents)} region entries"


VENDOR = Vendor(CONNECTION, build_api, probe, ("Kaleyra Voice", "https://www.kaleyra.com"), webhooks=WEBHOOK_ENDPOINTS)
