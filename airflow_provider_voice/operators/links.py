"""Extra links from a finished task to the vendor's web console (Airflow's ``operator_extra_links``).

In Airflow 3 the worker computes a task's links when the task ends (``get_link`` is called with the
live, rendered operator) and stores each URL as an XCom (``_link_<class name>``); the UI reads that
XCom, the api-server never runs provider code. The links here read what the operator already
pushed as its ``return_value`` XCom: the vendor's ids and the connection. Nothing else is
persisted, and no phone number or secret ends up in a link.

**Where a link points.** The connection's ``console_url`` extra when it is set, else the vendor's
console (:attr:`~airflow_provider_voice.connections.ConnectionType.console_url`, one line in
``vendors/<vendor>/connection.py``; ``docs/vendors/<vendor>.md`` says where each comes from). No
vendor documents a page per campaign, call or report, so the defaults open the console's home. A
``console_url`` may be a template holding ``{campaign_id}``, ``{call_id}``, ``{report_id}`` or
``{day}`` (filled in URL-encoded); when the task lacks a value the template asks for, the link opens
the console's home (the template's scheme and host).

**No link** (an empty string, which the UI does not show) when the vendor has no known console and
the connection sets none; when the task sent nothing (no campaign id, no call id, no SMS accepted,
no report downloaded); when the connection cannot be read; when the URL is not ``http(s)://host``;
or when it would carry a secret (anything :func:`~airflow_provider_voice.redaction.redact` removes:
a registered key, ``token=...``, ``user:password@``). An id that parses as a phone number is never
put in a link: the console's home is linked instead.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.sdk import BaseHook, BaseOperatorLink

from airflow_provider_voice.connections import CONSOLE_PLACEHOLDERS
from airflow_provider_voice.redaction import get_logger, mask_phones, redact
from airflow_provider_voice.vendors.registry import CONNECTION_TYPES

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "LINK_NAME",
    "CampaignConsoleLink",
    "CdrConsoleLink",
    "ClickToCallConsoleLink",
    "SmsConsoleLink",
    "VendorConsoleLink",
    "console_link",
    "console_template",
]

log = get_logger(__name__)

#: the text of the link's button in the UI (one console link per operator)
LINK_NAME = "Vendor console"
_SCHEMES = ("http", "https")


def _netloc(parts: Any) -> str:
    """The host and port of a split URL, without ``user:password@``."""
    return str(parts.netloc).rsplit("@", 1)[-1]


def _root(template: str) -> str | None:
    """``scheme://host[:port]`` of a console URL (template), or None when it is not an http(s) URL with a host."""
    parts = urlsplit(template)
    host = _netloc(parts)
    if parts.scheme.lower() not in _SCHEMES or not host or "{" in host or "}" in host:
        return None
    return f"{parts.scheme.lower()}://{host}"


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=_netloc(parts))) if "@" in parts.netloc else url


def console_link(template: str | None, values: Mapping[str, Any]) -> str:
    """The console URL of a task: ``template`` with the task's ``values`` filled in; ``""``: no link.

    :param template: a ``console_url`` (a plain URL, or one holding ``{campaign_id}``, ``{call_id}``,
        ``{report_id}``, ``{day}``); None or empty: no link.
    :param values: what the task knows, e.g. ``{"campaign_id": "c_88700"}``. A value that parses as a
        phone number is left out.
    :returns: the URL (placeholders URL-encoded; ``user:password@`` dropped); the template's
        ``scheme://host`` when a placeholder has no value; ``""`` when the template is not an
        ``http(s)://host`` URL, is not a valid template, or the URL would carry a secret.
    """
    if not isinstance(template, str) or not template.strip():
        return ""
    template = template.strip()
    root = _root(template)
    if root is None:
        log.warning("console_url %r is not an http(s)://host URL: no console link", redact(template, phones=True))
        return ""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        log.warning("console_url %r is not a valid template: no console link", redact(template, phones=True))
        return ""
    usable = {
        key: str(value)
        for key, value in values.items()
        if key in CONSOLE_PLACEHOLDERS and value not in (None, "") and mask_phones(str(value)) == str(value)
    }
    if not fields:
        url = _without_userinfo(template)
    elif fields <= set(usable):
        try:
            url = _without_userinfo(template.format_map({k: quote(v, safe="") for k, v in usable.items()}))
        except (ValueError, KeyError, IndexError, AttributeError):
            url = root
    else:
        url = root
    if redact(url) != url:
        log.warning("no console link: its URL would carry a credential")
        return ""
    return url


def console_template(conn_id: str) -> str | None:
    """The console URL (template) of a connection: its ``console_url`` extra, else its vendor's console.

    :param conn_id: the connection id.
    :returns: None when the connection cannot be read or its vendor has no known console.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # a link must never fail the task's end
        log.warning("console link: connection %r not readable (%s): no link", conn_id, type(exc).__name__)
        return None
    conn_type = str(conn.conn_type or "")
    extra = conn.extra_dejson or {}
    configured = extra.get("console_url") or extra.get(f"extra__{conn_type}__console_url")
    if configured:
        return str(configured)
    spec = CONNECTION_TYPES.get(conn_type)
    return spec.console_url if spec is not None else None


def task_result(ti_key: Any) -> Any:
    """The task instance's ``return_value`` XCom (None when it pushed none)."""
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_value(ti_key=ti_key, key="return_value")


class VendorConsoleLink(BaseOperatorLink):
    """Base of the console links: the task's XCom -> the values of the URL -> the console URL.

    A subclass says which values its task's XCom gives (:meth:`values`); None means the task
    produced nothing to look at on the vendor's side, and there is no link.
    """

    @property
    def name(self) -> str:
        """The button text in the UI."""
        return LINK_NAME

    def values(self, result: Mapping[str, Any]) -> dict[str, Any] | None:
        """The URL's values from the task's XCom; None: nothing was sent, no link."""
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The console URL for the task instance ``ti_key`` of ``operator``, or ``""`` (no link)."""
        try:
            result = task_result(ti_key)
        except Exception as exc:  # a link must never fail the task's end
            log.warning("console link: the task's XCom is not readable (%s): no link", type(exc).__name__)
            return ""
        if not isinstance(result, Mapping):
            return ""
        values = self.values(result)
        if values is None:
            return ""
        conn_id = result.get("conn_id") or getattr(operator, "conn_id", None)
        if not conn_id or "{{" in str(conn_id):
            return ""
        return console_link(console_template(str(conn_id)), values)


class CampaignConsoleLink(VendorConsoleLink):
    """The campaign on the vendor's console (``{campaign_id}``: the first of the XCom's ``campaign_ids``:
    Velip ``cp_id``, Octopush ticket, Kaleyra group id). No link when no campaign was accepted."""

    def values(self, result: Mapping[str, Any]) -> dict[str, Any] | None:
        ids = [str(i) for i in result.get("campaign_ids") or () if i not in (None, "")]
        return {"campaign_id": ids[0]} if ids else None


class ClickToCallConsoleLink(VendorConsoleLink):
    """The call on the vendor's console (``{call_id}``: the XCom's ``call_id``, else Velip's ``ctid``).
    No link when no call was placed."""

    def values(self, result: Mapping[str, Any]) -> dict[str, Any] | None:
        call_id = result.get("call_id") or result.get("ctid")
        return {"call_id": str(call_id)} if call_id else None


class SmsConsoleLink(VendorConsoleLink):
    """The vendor's console after an SMS send (no per-message page: the console's home, or the
    connection's ``console_url``). No link when the vendor accepted no message."""

    def values(self, result: Mapping[str, Any]) -> dict[str, Any] | None:
        accepted = result.get("accepted")
        return {} if isinstance(accepted, int) and accepted > 0 else None


class CdrConsoleLink(VendorConsoleLink):
    """The CDR report on the vendor's console (``{report_id}``, ``{day}`` from the XCom). TeleVoIPs
    has no known console: a link only when the connection sets ``console_url``. No link before a
    report was downloaded."""

    def values(self, result: Mapping[str, Any]) -> dict[str, Any] | None:
        report_id = result.get("report_id")
        return {"report_id": str(report_id), "day": result.get("day")} if report_id else None
