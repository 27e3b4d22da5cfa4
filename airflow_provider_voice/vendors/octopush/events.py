"""Octopush webhooks (PUBLIC-NOTES "Octopush"): delivery reports and STOP opt-outs, JSON, POST.

* ``/voice-webhooks/<conn_id>/deliveries``: ``{message_id, number, status, delivery_date
  "Y-m-d H:i:s", call_duration, charged_duration}`` → kind ``deliveries``; ``status`` one of
  DELIVERED, NOT_DELIVERED, NOT_DELIVERABLE, BUSY, REFUSED, BLACKLISTED_NUMBER.
* ``/voice-webhooks/<conn_id>/opt-outs``: ``{message_id, number, text, stop_date}`` → ``opt-outs``.

A body may also be a JSON array of such objects (one event each). Octopush does not sign its
callbacks: use a secret ``token`` query parameter. It wants a fast 200 with an **empty** body. Octopush dates
are Paris time (``Europe/Paris``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

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
from airflow_provider_voice.vendors.octopush.outcomes import OCTOPUSH_OUTCOMES

__all__ = ["DELIVERY_OUTCOMES", "WEBHOOK_ENDPOINTS", "parse_delivery_webhook", "parse_stop_webhook"]

VENDOR = "octopush"
OCTOPUSH_ZONE = ZoneInfo("Europe/Paris")
#: delivery report ``status`` -> normalized outcome (the table lives in :mod:`.outcomes`)
DELIVERY_OUTCOMES = OCTOPUSH_OUTCOMES


def _records(request: WebhookRequest) -> list[dict[str, Any]]:
    body = request.json()
    records = [body] if isinstance(body, dict) else body
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise WebhookPayloadError("an Octopush callback is a JSON object (or a non-empty array of objects)")
    return records


def _paris(value: str | None) -> dt.datetime | None:
    parsed = vendor_time(value)
    if parsed is None or parsed.tzinfo is not None:
        return parsed
    return parsed.replace(tzinfo=OCTOPUSH_ZONE).astimezone(dt.timezone.utc)


def parse_delivery_webhook(request: WebhookRequest, conn_id: str) -> list[VoiceEvent]:
    """The events of one delivery-report callback."""
    events = []
    for index, record in enumerate(_records(request)):
        where = f"delivery report {index}"
        message_id = text_field(record, "message_id", required=True, where=where)
        number = text_field(record, "number", required=True, where=where)
        status = (text_field(record, "status", required=True, where=where) or "").upper()
        events.append(
            VoiceEvent(
                vendor=VENDOR,
                conn_id=conn_id,
                kind="deliveries",
                event_id=f"report:{message_id}:{number}:{status}",
                received_at=request.received_at,
                occurred_at=_paris(text_field(record, "delivery_date", where=where)),
                number=person_number(number, None),
                direction="outbound",
                status=status,
                outcome=DELIVERY_OUTCOMES.get(status),  # a status not documented yet: kept, outcome unknown
                ref=message_id,
                campaign_ref=message_id,
                duration_seconds=number_field(record, "call_duration", where=where),
                billed_seconds=number_field(record, "charged_duration", where=where),
                raw=record,
            )
        )
    return events


def parse_stop_webhook(request: WebhookRequest, conn_id: str) -> list[VoiceEvent]:
    """The events of one STOP (opt-out) callback."""
    events = []
    for index, record in enumerate(_records(request)):
        where = f"STOP callback {index}"
        number = text_field(record, "number", required=True, where=where)
        message_id = text_field(record, "message_id", where=where) or ""
        stop_date = text_field(record, "stop_date", where=where) or ""
        events.append(
            VoiceEvent(
                vendor=VENDOR,
                conn_id=conn_id,
                kind="opt-outs",
                event_id=f"stop:{message_id}:{number}:{stop_date}",
                received_at=request.received_at,
                occurred_at=_paris(stop_date or None),
                number=person_number(number, None),
                direction="inbound",
                status="STOP",
                outcome="opted_out",
                text=record.get("text") if isinstance(record.get("text"), str) else None,
                ref=message_id or None,
                raw=record,
            )
        )
    return events


WEBHOOK_ENDPOINTS = (
    WebhookEndpoint("deliveries", ("POST",), ("deliveries",), parse_delivery_webhook, summary="delivery reports"),
    WebhookEndpoint("opt-outs", ("POST",), ("opt-outs",), parse_stop_webhook, summary="STOP (opt-out) callbacks"),
)
