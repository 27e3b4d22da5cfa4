"""The TeleVoIPs connection: its form, how it becomes a :class:`TeleVoipsApi`, and its connection test.

Connection extras: **Reports key** (``reports_api_key``, sent as ``x-api-key`` to ``/reports``) and
**Messaging key** (``messaging_api_key``, sent as ``Authorization`` to ``/messages`` and
``/unsubscribe``); at least one. The password field, when set, is taken as the reports key.
**Base URL** (host) optional (default ``https://api.televoips.com``).
"""

from __future__ import annotations

import pendulum

from airflow_provider_voice.connections import WEBHOOK_FIELDS, ConnectionType, ConnField, console_fields
from airflow_provider_voice.vendors.access import ConnectionFields, Vendor, VendorAccess
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.events import WEBHOOK_ENDPOINTS

__all__ = ["CONNECTION", "VENDOR", "build_api", "probe"]

#: no web console of TeleVoIPs is named in its public docs: its tasks get no console link by default
CONSOLE_URL: str | None = None

CONNECTION = ConnectionType(
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
        **console_fields(CONSOLE_URL),
        **WEBHOOK_FIELDS,
    },
    console_url=CONSOLE_URL,
)


def build_api(fields: ConnectionFields) -> TeleVoipsApi:
    """The TeleVoIPs API of a connection (either key may be missing; the calls that need it say so).

    :param fields: the connection's fields.
    """
    reports_key = fields.extra_value("reports_api_key") or fields.password
    messaging_key = fields.extra_value("messaging_api_key")
    return TeleVoipsApi(reports_key=reports_key, messaging_key=messaging_key, base_urls=fields.base_urls())


def probe(access: VendorAccess[TeleVoipsApi]) -> str:
    """Messaging key: list the last minute's messages. Reports key only: ask for the CDR report
    (TeleVoIPs compiles one report per day, so asking again changes nothing).

    :param access: the API and its clients.
    """
    api, client = access.api, access.client()
    done = []
    if api.has_messaging_key:
        now = pendulum.now("UTC")
        messages = client.send(api.list_messages(start=now.subtract(minutes=1), end=now))
        done.append(f"messaging key OK ({len(messages)} messages in the last minute)")
    if api.has_reports_key:
        report = client.send(api.request_cdr_report())
        done.append(f"reports key OK (CDR report {report.status})")
    return "; ".join(done) or "no key to test"


VENDOR = Vendor(CONNECTION, build_api, probe, ("TeleVoIPs", "https://www.televoips.com"), webhooks=WEBHOOK_ENDPOINTS)
