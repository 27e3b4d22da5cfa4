"""TeleVoIPs webhooks (spec "Webhooks"): messaging events and call detail records.

* ``/voice-webhooks/<conn_id>/messages``: the messaging webhook, one JSON object per request whose
  ``type`` is ``message-received`` (→ kind ``messages-received``; an opt-out keyword also makes an
  ``opt-outs`` event), ``message-delivered`` or ``message-failed`` (→ ``deliveries``, one event per
  number in ``to``, with ``errorCode``/``description`` for a failure).
* ``/voice-webhooks/<conn_id>/cdrs``: the CDR webhook, a JSON **array** of records (→ ``cdrs``, one
  event per ``uniqueid``).

TeleVoIPs signs with the credentials given when the webhook is created: Basic (user + password) or
an API-key header; both are accepted (``webhook_auth`` = ``basic`` / ``api_key``), and so is a
secret path token. It expects HTTP 200 with ``{"outcome": "success"}`` and retries anything else
for an hour or 20 tries. Times (``"2021-08-24 12:20:17"``) carry no zone: read as UTC, like the
CDR CSV. Numbers are digits with the country code (``12345678900``).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_voice.models.events import (
    VoiceEvent,
    WebhookEndpoint,
    WebhookPayloadError,
    WebhookRequest,
    number_field,
    person_number,
    text_field,
    vendor_time,
)
from airflow_provider_voice.vendors.televoips.api_messaging import DEFAULT_REGION

__all__ = ["WEBHOOK_ENDPOINTS", "parse_cdr_webhook", "parse_message_webhook"]

VENDOR = "televoips"
SUCCESS_BODY = b'{"outcome":"success"}'
MESSAGE_TYPES = ("message-received", "message-delivered", "message-failed")
#: CDR ``disposition`` -> normalized outcome
CDR_OUTCOMES = {
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "NOANSWER": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "failed",
}


def _numbers(value: Any, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    raise WebhookPayloadError(f"{where}: 'to' must be a number or a list of numbers")


def parse_message_webhook(request: WebhookRequest, conn_id: str) -> list[VoiceEvent]:
    """The events of one messaging webhook (see the module docstring)."""
    body = request.json()
    if not isinstance(body, dict):
        raise WebhookPayloadError(f"a messaging webhook is a JSON object, got a JSON {type(body).__name__}")
    kind_name = text_field(body, "type", required=True, where="the message event")
    if kind_name not in MESSAGE_TYPES:
        raise WebhookPayloadError(f"'type' must be one of {', '.join(MESSAGE_TYPES)}")
    message_id = text_field(body, "id", required=True, where="the message event")
    occurred = vendor_time(text_field(body, "time", where="the message event"), utc_offset_minutes=0)
    to = _numbers(body.get("to"), "the message event")
    sender = text_field(body, "from", where="the message event")
    text = body.get("text") if isinstance(body.get("text"), str) else None
    common: dict[str, Any] = {
        "vendor": VENDOR,
        "conn_id": conn_id,
        "received_at": request.received_at,
        "occurred_at": occurred,
        "ref": message_id,
        "status": kind_name,
        "raw": body,
    }
    if kind_name == "message-received":
        return [
            VoiceEvent(
                kind="messages-received",
                event_id=f"{kind_name}:{message_id}",
                number=person_number(sender, DEFAULT_REGION),
                account_number=person_number(to[0], DEFAULT_REGION) if to else None,
                direction="inbound",
                text=text,
                **common,
            )
        ]
    if not to:
        raise WebhookPayloadError(f"a {kind_name} event has no 'to'")
    failed = kind_name == "message-failed"
    error_code = text_field(body, "errorCode", where="the message event") if failed else None
    error_message = text_field(body, "description", where="the message event") if failed else None
    return [
        VoiceEvent(
            kind="deliveries",
            event_id=f"{kind_name}:{message_id}:{recipient}",
            number=person_number(recipient, DEFAULT_REGION),
            account_number=person_number(sender, DEFAULT_REGION),
            direction="outbound",
            outcome="failed" if failed else "delivered",
            error_code=error_code,
            error_message=error_message,
            **common,
        )
        for recipient in to
    ]


def parse_cdr_webhook(request: WebhookRequest, conn_id: str) -> list[VoiceEvent]:
    """The events of one CDR webhook: a JSON array of records (a lone object is read as one)."""
    body = request.json()
    records = [body] if isinstance(body, dict) else body
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise WebhookPayloadError("a CDR webhook is a JSON array of objects")
    events = []
    for index, record in enumerate(records):
        where = f"CDR record {index}"
        unique = text_field(record, "uniqueid", required=True, where=where)
        disposition = " ".join((text_field(record, "disposition", where=where) or "").upper().split()) or None
        source, destination = text_field(record, "src", where=where), text_field(record, "dst", where=where)
        events.append(
            VoiceEvent(
                vendor=VENDOR,
                conn_id=conn_id,
                kind="cdrs",
                event_id=f"cdr:{unique}",
                received_at=request.received_at,
                occurred_at=vendor_time(text_field(record, "calldate", where=where), utc_offset_minutes=0),
                number=person_number(destination, DEFAULT_REGION) or person_number(source, DEFAULT_REGION),
                account_number=person_number(text_field(record, "did", where=where), DEFAULT_REGION),
                status=disposition,
                outcome=CDR_OUTCOMES.get(disposition or ""),
                ref=unique,
                duration_seconds=number_field(record, "duration", where=where),
                billed_seconds=number_field(record, "billsec", where=where),
                raw=record,
            )
        )
    return events


WEBHOOK_ENDPOINTS = (
    WebhookEndpoint(
        "messages",
        ("POST",),
        ("messages-received", "deliveries", "opt-outs"),
        parse_message_webhook,
        auth=("basic", "api_key", "token"),
        success_body=SUCCESS_BODY,
        success_type="application/json",
        summary="messaging webhook: message-received, message-delivered, message-failed",
    ),
    WebhookEndpoint(
        "cdrs",
        ("POST",),
        ("cdrs",),
        parse_cdr_webhook,
        auth=("basic", "api_key", "token"),
        success_body=SUCCESS_BODY,
        success_type="application/json",
        summary="call detail record webhook (a JSON array)",
    ),
)
