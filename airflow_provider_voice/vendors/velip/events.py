"""Velip's end-of-call webhook (account URL or per-call ``rurl``; PUBLIC-NOTES "Webhook").

``/voice-webhooks/<conn_id>/calls``: POST, JSON or form-encoded, one call per request:
``cd_id``, ``ctid``, ``dest``, ``cd_called_status`` (OK|NA|EK|CK|BK|IK), ``date``/``time``,
``dur``, ``value`` (price); ``cp_id`` for campaign calls. → kind ``calls-ended``, one event per
``cd_id``. Velip does not sign its webhooks: protect the URL with a secret path token
(``webhook_auth`` = ``token``). Any 200 is accepted by Velip; the body is empty.

Times are Velip's account-local ``date`` (``YYYY-MM-DD``) and ``time`` (``HH:MM:SS``), kept
without a zone (Velip's zone is the account's).
"""

from __future__ import annotations

from airflow_provider_voice.models.events import (
    VoiceEvent,
    WebhookEndpoint,
    WebhookRequest,
    number_field,
    person_number,
    text_field,
    vendor_time,
)
from airflow_provider_voice.vendors.velip.campaign import VELIP_OUTCOMES

__all__ = ["WEBHOOK_ENDPOINTS", "parse_call_webhook"]

VENDOR = "velip"


def parse_call_webhook(request: WebhookRequest, conn_id: str) -> list[VoiceEvent]:
    """The event of one end-of-call webhook."""
    body = request.fields()
    where = "the Velip call"
    cd_id = text_field(body, "cd_id", required=True, where=where)
    status = (
        text_field(body, "cd_called_status", where=where) or text_field(body, "cd_status", where=where) or ""
    ).upper()
    date, time = text_field(body, "date", where=where), text_field(body, "time", where=where)
    return [
        VoiceEvent(
            vendor=VENDOR,
            conn_id=conn_id,
            kind="calls-ended",
            event_id=f"call:{cd_id}",
            received_at=request.received_at,
            occurred_at=vendor_time(f"{date} {time}") if date and time else None,
            number=person_number(text_field(body, "dest", where=where), None),
            direction="outbound",
            status=status or None,
            outcome=VELIP_OUTCOMES.get(status),
            ref=cd_id,
            campaign_ref=text_field(body, "cp_id", where=where),
            correlation_id=text_field(body, "ctid", where=where),
            duration_seconds=number_field(body, "dur", where=where),
            cost=number_field(body, "value", where=where),
            raw=dict(body),
        )
    ]


WEBHOOK_ENDPOINTS = (
    WebhookEndpoint(
        "calls",
        ("POST",),
        ("calls-ended",),
        parse_call_webhook,
        auth=("token",),
        summary="end-of-call webhook (JSON or form)",
    ),
)
