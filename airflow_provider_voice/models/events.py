"""Vendor events (webhooks and polled records) in one normalized shape: :class:`VoiceEvent`.

Each vendor folder turns its own payloads into these (``vendors/<vendor>/events.py``); the
webhook receiver stores them, the Asset events announce them, and a task reads them back with
:func:`airflow_provider_voice.operators.events.triggering_voice_events`.

Kinds (:data:`EVENT_KINDS`), each published on its own Asset per connection
(:func:`event_asset_uri`: ``voice://<vendor>/<conn_id>/<kind>``):

================== ==============================================================================
``messages-received``  an inbound SMS (TeleVoIPs ``message-received``)
``deliveries``         the fate of a sent message or voice message (TeleVoIPs ``message-delivered`` /
                       ``message-failed``, Octopush delivery reports)
``opt-outs``           a person asked not to be contacted again (an inbound STOP keyword, Octopush STOP)
``calls-answered``     a call's first leg was answered (Kaleyra's first callback of a call)
``calls-ended``        a call ended, with its status (Velip end-of-call webhook, Kaleyra end callback)
``cdrs``               call detail records (TeleVoIPs CDR webhook)
================== ==============================================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EVENT_KINDS",
    "EVENT_URI_SCHEME",
    "VoiceEvent",
    "WebhookEndpoint",
    "WebhookParser",
    "WebhookPayloadError",
    "WebhookRequest",
    "event_asset_uri",
    "event_key",
    "number_field",
    "parse_event_asset_uri",
    "person_number",
    "text_field",
    "vendor_time",
]

EVENT_KINDS = ("messages-received", "deliveries", "opt-outs", "calls-answered", "calls-ended", "cdrs")
#: the URI scheme of the event Assets
EVENT_URI_SCHEME = "voice"


def event_key(vendor: str, conn_id: str, kind: str, event_id: str) -> str:
    """The storage key of one event: a hash of its identity (no phone number shows in it).

    Two deliveries of the same vendor event (a retry, a replay) have the same key, so the store
    keeps one.
    """
    identity = "\x1f".join((vendor, conn_id, kind, event_id)).encode("utf-8")
    return hashlib.sha256(identity).hexdigest()[:32]


def event_asset_uri(vendor: str, conn_id: str, kind: str) -> str:
    """The URI of the Asset announcing ``kind`` events of one connection.

    >>> event_asset_uri("televoips", "televoips_default", "opt-outs")
    'voice://televoips/televoips_default/opt-outs'
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
    return f"{EVENT_URI_SCHEME}://{vendor}/{conn_id}/{kind}"


def parse_event_asset_uri(uri: str) -> tuple[str, str, str] | None:
    """``(vendor, conn_id, kind)`` of an event Asset URI, or None for any other URI."""
    prefix = f"{EVENT_URI_SCHEME}://"
    if not uri.startswith(prefix):
        return None
    parts = uri[len(prefix) :].split("/")
    if len(parts) != 3 or parts[2] not in EVENT_KINDS or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1], parts[2]


class VoiceEvent(BaseModel):
    """One vendor event, normalized.

    :param vendor: ``televoips``, ``velip``, ``octopush`` or ``kaleyra``.
    :param conn_id: the Airflow connection the event arrived for.
    :param kind: one of :data:`EVENT_KINDS`.
    :param event_id: the vendor's identity of the event (e.g. ``message-delivered:<id>``,
        Velip ``cd_id``); a retried or replayed delivery has the same one.
    :param received_at: when the provider received it (UTC).
    :param occurred_at: the vendor's time of the event, when it gives one (UTC when the vendor
        says which zone; otherwise as the vendor wrote it, without a zone).
    :param number: the person (E.164, ``+`` and digits) — the recipient of an outbound message or
        call, the sender of an inbound message; None when the vendor sent none that parses (the
        vendor's text stays in ``raw``).
    :param account_number: the account's own number, when the vendor names it.
    :param direction: ``inbound`` or ``outbound`` when known.
    :param status: the vendor's own status word (``DELIVERED``, ``NA``, ``NO ANSWER``...).
    :param outcome: the normalized outcome: ``delivered``, ``failed``, ``answered``, ``no_answer``,
        ``busy``, ``invalid_number``, ``blocked``, ``opted_out`` (None when unknown).
    :param text: message text (inbound SMS, STOP message).
    :param ref: the vendor's id of the message or call.
    :param campaign_ref: the vendor's campaign id, when given.
    :param correlation_id: the caller's own id sent with the request (Velip ``ctid``, Kaleyra ``custom``).
    :param duration_seconds: call duration.
    :param billed_seconds: billed (talk) duration.
    :param cost: price, in the vendor's currency.
    :param error_code: the vendor's error code (TeleVoIPs ``errorCode``).
    :param error_message: the vendor's error text.
    :param raw: the vendor's payload for this event, as received.
    """

    model_config = ConfigDict(frozen=True)

    vendor: str
    conn_id: str
    kind: str
    event_id: str
    received_at: dt.datetime
    occurred_at: dt.datetime | None = None
    number: str | None = None
    account_number: str | None = None
    direction: str | None = None
    status: str | None = None
    outcome: str | None = None
    text: str | None = None
    ref: str | None = None
    campaign_ref: str | None = None
    correlation_id: str | None = None
    duration_seconds: float | None = None
    billed_seconds: float | None = None
    cost: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """The storage key (:func:`event_key`)."""
        return event_key(self.vendor, self.conn_id, self.kind, self.event_id)

    @property
    def asset_uri(self) -> str:
        """The URI of the Asset this event is announced on."""
        return event_asset_uri(self.vendor, self.conn_id, self.kind)

    def __repr__(self) -> str:  # never a phone number or a message text in a repr
        return (
            f"VoiceEvent(vendor={self.vendor!r}, conn_id={self.conn_id!r}, kind={self.kind!r}, "
            f"key={self.key!r}, status={self.status!r}, outcome={self.outcome!r})"
        )

    __str__ = __repr__


class WebhookPayloadError(ValueError):
    """A webhook body that does not match the vendor's documented shape (answered 400).

    The message names the field and what was expected, never a phone number or a message text.
    """


@dataclass(frozen=True)
class WebhookRequest:
    """One webhook request as a parser sees it (no Airflow, no web framework).

    :param method: ``GET`` or ``POST``.
    :param query: the query string's variables (the first value of each).
    :param body: the raw body (already bounded by the receiver).
    :param content_type: the ``Content-Type`` header, lower case, without parameters.
    :param received_at: when it arrived (UTC).
    """

    method: str
    query: Mapping[str, str]
    body: bytes
    content_type: str
    received_at: dt.datetime

    def json(self) -> Any:
        """The body as JSON (``WebhookPayloadError`` when it is not)."""
        try:
            return json.loads(self.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise WebhookPayloadError("the body is not JSON (UTF-8)") from None

    def fields(self) -> dict[str, Any]:
        """A JSON object body, a form body, or (no body) the query variables, as one mapping."""
        if not self.body.strip():
            return dict(self.query)
        if self.content_type == "application/x-www-form-urlencoded" or (
            self.content_type != "application/json" and not self.body.lstrip().startswith((b"{", b"["))
        ):
            try:
                pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            except (UnicodeDecodeError, ValueError):
                raise WebhookPayloadError("the body is neither JSON nor a form") from None
            return {**self.query, **dict(pairs)}
        value = self.json()
        if not isinstance(value, dict):
            raise WebhookPayloadError(f"expected a JSON object, got a JSON {type(value).__name__}")
        return {**self.query, **value}


#: a parser: the request and the connection id -> the events it carries
WebhookParser = Callable[[WebhookRequest, str], "list[VoiceEvent]"]


@dataclass(frozen=True)
class WebhookEndpoint:
    """One webhook route of a vendor: ``/voice-webhooks/<conn_id>/<name>``.

    :param name: the route's last segment (``messages``, ``cdrs``, ``calls``, ``deliveries``...).
    :param methods: the HTTP methods the vendor uses.
    :param kinds: the event kinds it can produce.
    :param parse: the parser.
    :param auth: the authentication the vendor can send: ``basic``, ``api_key`` (a header), ``token``
        (a secret in the URL, for vendors that cannot sign).
    :param success_body: the body the vendor expects with the 200.
    :param success_type: its media type.
    :param summary: one line for the docs and the route's description.
    """

    name: str
    methods: tuple[str, ...]
    kinds: tuple[str, ...]
    parse: WebhookParser
    auth: tuple[str, ...] = ("token",)
    success_body: bytes = b""
    success_type: str = "text/plain"
    summary: str = ""


def text_field(record: Mapping[str, Any], name: str, *, required: bool = False, where: str = "") -> str | None:
    """``record[name]`` as a stripped string (numbers allowed); None when absent or empty.

    :raises WebhookPayloadError: ``required`` and absent/empty, or a value that is not text.
    """
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise WebhookPayloadError(f"{where or 'the payload'} has no {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise WebhookPayloadError(f"{where or 'the payload'}: {name!r} must be text, got {type(value).__name__}")
    return str(value).strip() or None


def number_field(record: Mapping[str, Any], name: str, *, where: str = "") -> float | None:
    """``record[name]`` as a number; None when absent or empty (``WebhookPayloadError`` when not numeric)."""
    text = text_field(record, name, where=where)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise WebhookPayloadError(f"{where or 'the payload'}: {name!r} must be a number") from None


def person_number(value: str | None, default_region: str | None) -> str | None:
    """A vendor-reported number as E.164, leniently (any *possible* number); None when it does not parse.

    Vendors write numbers their own way (``12345678900``, ``+33612345678``, a 10-digit Indian
    number): an event is kept even when its number does not parse (``raw`` keeps the text).
    """
    if not value:
        return None
    from airflow_provider_voice.models.phone import PhoneNumber

    candidates = [value]
    digits = "".join(ch for ch in value if ch.isdigit())
    if digits and not value.strip().startswith(("+", "00")):
        # vendors mostly write the country code without '+'; a national reading in the vendor's own
        # region comes first when there is one (a 10-digit Indian mobile is not +91 and 8 digits)
        candidates.insert(1 if default_region else 0, "+" + digits)
    for candidate in candidates:
        try:
            return PhoneNumber.parse(candidate, default_region, strict=False).e164
        except ValueError:
            continue
    return None


def vendor_time(
    value: str | None, *, fmt: str = "%Y-%m-%d %H:%M:%S", utc_offset_minutes: int | None = None
) -> dt.datetime | None:
    """A vendor's time string (or epoch seconds) as a datetime; None when absent or unreadable.

    :param utc_offset_minutes: the vendor's zone when its times carry none (None: keep it naive).
    """
    if not value:
        return None
    text = value.strip()
    try:
        if text.replace(".", "", 1).isdigit():
            if float(text) <= 0:
                return None
            return dt.datetime.fromtimestamp(float(text), tz=dt.timezone.utc)
        parsed = dt.datetime.strptime(text, fmt)
    except (ValueError, OverflowError, OSError):
        return None
    if utc_offset_minutes is None:
        return parsed
    return parsed.replace(tzinfo=dt.timezone(dt.timedelta(minutes=utc_offset_minutes))).astimezone(dt.timezone.utc)
