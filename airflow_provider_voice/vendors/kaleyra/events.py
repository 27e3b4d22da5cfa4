"""Kaleyra call callbacks (spec "Callback & Replaceable Variables"): a templated URL Kaleyra requests.

``/voice-webhooks/<conn_id>/calls``: Kaleyra calls the ``callback`` URL of a click-to-call or OBD
request at the first leg's answer and at the end of the call, with the template's variables
expanded. Put every variable in the query string, and the secret token in the path::

    https://airflow.example.com/voice-webhooks/kaleyra_default/calls/<token>?id={id}&caller={caller}
    &receiver={receiver}&status={status}&status1={status1}&status2={status2}&duration={duration}
    &billsec={billsec}&starttime={starttime}&endtime={endtime}&recordpath={recordpath}&callerid={callerid}

(:func:`callback_template` builds it.) A request with an ``endtime`` is the end of the call →
kind ``calls-ended``; one without is the answer notification → ``calls-answered``. Both are
accepted as GET (Kaleyra's way) or POST with the variables in a form/JSON body. Kaleyra does not
sign: use the path token. Times are epoch seconds; numbers are 10-digit Indian numbers or digits
with the country code. The call id is ``{id}`` (else ``{caller}``/``{receiver}``/``{starttime}``).
"""

from __future__ import annotations

import urllib.parse

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
from airflow_provider_voice.vendors.kaleyra.campaign import KALEYRA_OUTCOMES

__all__ = ["CALLBACK_VARIABLES", "WEBHOOK_ENDPOINTS", "callback_template", "parse_call_callback"]

VENDOR = "kaleyra"
DEFAULT_REGION = "IN"
CALLBACK_VARIABLES = (
    "id",
    "caller",
    "receiver",
    "status",
    "status1",
    "status2",
    "duration",
    "billsec",
    "starttime",
    "endtime",
    "recordpath",
    "callerid",
)


def callback_template(base_url: str) -> str:
    """The ``callback`` value for Kaleyra: ``base_url`` plus every variable in the query string.

    :param base_url: the receiver URL with its token, e.g.
        ``https://airflow.example.com/voice-webhooks/kaleyra_default/calls/<token>``.
    """
    query = "&".join(f"{name}={{{name}}}" for name in CALLBACK_VARIABLES)
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


def _unexpanded(value: str | None) -> str | None:
    """A variable Kaleyra left as ``{name}`` (not applicable) reads as absent."""
    if value is None:
        return None
    text = urllib.parse.unquote(value).strip()
    return None if not text or (text.startswith("{") and text.endswith("}")) else text


def parse_call_callback(request: WebhookRequest, conn_id: str) -> list[VoiceEvent]:
    """The event of one callback request."""
    fields = {
        k: _unexpanded(text_field(v if isinstance(v, dict) else {"v": v}, "v")) for k, v in request.fields().items()
    }
    where = "the Kaleyra callback"
    caller, receiver = fields.get("caller"), fields.get("receiver")
    status = (fields.get("status") or fields.get("status1") or "").upper() or None
    start, end = fields.get("starttime"), fields.get("endtime")
    ended = bool(end and end not in ("0",))
    call_id = fields.get("id") or "/".join(filter(None, (caller, receiver, start)))
    if not call_id:
        raise WebhookPayloadError(f"{where} has no 'id' (nor caller/receiver/starttime)")
    kind = "calls-ended" if ended else "calls-answered"
    return [
        VoiceEvent(
            vendor=VENDOR,
            conn_id=conn_id,
            kind=kind,
            event_id=f"{kind}:{call_id}",
            received_at=request.received_at,
            occurred_at=vendor_time(end if ended else start),
            number=person_number(receiver or caller, DEFAULT_REGION),
            account_number=person_number(fields.get("callerid"), DEFAULT_REGION),
            direction="outbound",
            status=status,
            outcome=KALEYRA_OUTCOMES.get(status or "") if ended else None,
            ref=fields.get("id"),
            duration_seconds=number_field(fields, "duration", where=where),
            billed_seconds=number_field(fields, "billsec", where=where),
            raw={k: v for k, v in fields.items() if v is not None},
        )
    ]


WEBHOOK_ENDPOINTS = (
    WebhookEndpoint(
        "calls",
        ("GET", "POST"),
        ("calls-answered", "calls-ended"),
        parse_call_callback,
        summary="click-to-call / OBD callback (answer and end of call)",
    ),
)
