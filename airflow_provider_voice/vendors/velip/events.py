"""Velip's end-of-call webhook (account URL or per-call ``rurl``; PUBLIC-NOTES "Webhook").

``/voice-webhooks/<conn_id>/calls``: POST, JSON or form-encoded, one call per request:
``cd_id``, ``ctid``, ``dest``, ``cd_called_status`` (OK|NA|EK|CK|BK|IK), ``date``/``time``,
``dur``, ``value`` (price); ``cp_id`` for campaign calls. → kind ``calls-ended``, one event per
``cd_id``. Velip does not sign its webhooks: protect the URL with a secret ``token`` query
parameter (``webhook_auth`` = ``token``). Any 200 is accepted by Velip; the body is empty.

Times are Velip's account-local ``date`` (``YYYY-MM-DD``) and ``time`` (``HH:MM:SS``), kept
without a zone (Velip's zone is the account's).

Polling (the pull path, for an ``AssetWatcher``'s
:class:`~airflow_provider_voice.triggers.events.VoiceEventTrigger`): :func:`ended_calls_flow` reads
``GetCallStatus`` with its ``last_id`` cursor and makes the same ``calls-ended`` events (same keys)
as the webhook. Mind Velip's limit of about 200 list requests per hour: poll every minute or more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from airflow_provider_voice.models.events import (
    VoiceEvent,
    WebhookEndpoint,
    WebhookRequest,
    number_field,
    person_number,
    text_field,
    vendor_time,
)
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import Flow
from airflow_provider_voice.vendors.velip.api_reports import VelipReportEndpoints
from airflow_provider_voice.vendors.velip.outcomes import VELIP_OUTCOMES, velip_started_at
from airflow_provider_voice.vendors.velip.records import VelipCallRecord, VelipCallStatusPage

__all__ = [
    "PENDING_GIVE_UP",
    "WEBHOOK_ENDPOINTS",
    "ended_call_event",
    "ended_calls_flow",
    "parse_call_webhook",
]

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


# -- polling (the pull path: VoiceEventTrigger) ------------------------------------------------
#: rows per ``GetCallStatus`` page read by a poll
POLL_MAXREG = 1000
#: a call still pending (``PD``) this long after its Velip date/time is no longer waited for: the
#: cursor moves past it (its end, if it ever comes, only arrives by webhook)
PENDING_GIVE_UP = dt.timedelta(hours=6)

log = get_logger(__name__)

#: one poll: the new events and the position to save (JSON primitives)
CallsPoll = tuple[list[VoiceEvent], dict[str, Any]]


def ended_call_event(call: VelipCallRecord, conn_id: str, received_at: dt.datetime) -> VoiceEvent:
    """The ``calls-ended`` event of one ``GetCallStatus`` row whose ``cd_status`` is final.

    Its ``event_id`` is the webhook's (``call:<cd_id>``): a call both reported by webhook and
    found by a poll is one event (one key).

    :param call: the row.
    :param conn_id: the connection it was read with.
    :param received_at: when the poll read it (UTC).
    """
    status = (call.cd_status or "").strip().upper()
    return VoiceEvent(
        vendor=VENDOR,
        conn_id=conn_id,
        kind="calls-ended",
        event_id=f"call:{call.cd_id}",
        received_at=received_at,
        occurred_at=vendor_time(f"{call.date} {call.time}") if call.date and call.time else None,
        number=person_number(call.dest, None),
        direction="outbound",
        status=status or None,
        outcome=VELIP_OUTCOMES.get(status),
        ref=call.cd_id,
        campaign_ref=call.cp_id,
        correlation_id=call.ctid,
        duration_seconds=call.dur,
        cost=call.value,
        raw=call.model_dump(mode="json"),
    )


def ended_calls_flow(
    api: VelipReportEndpoints,
    conn_id: str,
    position: Mapping[str, Any] | None,
    *,
    start: dt.datetime,
    now: dt.datetime,
    max_requests: int = 5,
    maxreg: int = POLL_MAXREG,
) -> Flow[CallsPoll]:
    """The calls that ended since ``position``: ``GetCallStatus`` pages after ``last_id``, final ``cd_status`` only.

    The position is ``{"last_id", "done", "caught_up"}``. ``last_id`` is the ``GetCallStatus``
    cursor before the first call still pending (``PD``): every call up to it has been read and had
    ended. Calls after it that had ended are read too, and listed in ``done`` so the next poll
    (which reads again from ``last_id``, to find the pending call's end) skips them. A call still
    pending :data:`PENDING_GIVE_UP` after its date/time no longer holds the cursor (logged).
    Until the first poll reads to the end (``caught_up``), calls that had ended before ``start``
    (date/time + duration) are history, not reported. Requests filter ``date_start`` = the day of
    ``start`` (Velip's zone).

    :param api: the Velip API.
    :param conn_id: the connection (names the events).
    :param position: the saved position, or None (or ``{}``) to start at ``start``.
    :param start: where to begin when there is no position (aware).
    :param now: the poll's time (aware), for :data:`PENDING_GIVE_UP`.
    :param max_requests: ``GetCallStatus`` pages at most in this poll.
    :param maxreg: rows per page.
    :returns: (new events, in ``cd_id`` order; the new position).
    """
    position = position or {}
    last_id = position.get("last_id") if isinstance(position.get("last_id"), str) else None
    done = {str(i) for i in position.get("done") or [] if isinstance(i, str)}
    caught_up = bool(position.get("caught_up"))
    hold, holding = last_id, False
    still_done: set[str] = set()
    events: list[VoiceEvent] = []
    given_up: list[str] = []
    request_after = last_id
    complete = False
    for _ in range(max(1, max_requests)):
        page: VelipCallStatusPage = yield api.get_call_status(last_id=request_after, date_start=start, maxreg=maxreg)
        for call in page.calls:
            status = (call.cd_status or "").strip().upper()
            final = status in VELIP_OUTCOMES
            if not final:
                started = velip_started_at(call)
                if started is not None and now - started > PENDING_GIVE_UP:
                    given_up.append(call.cd_id)
                else:
                    holding = True
                    continue
            if holding:
                if final:
                    still_done.add(call.cd_id)
            else:
                hold = call.cd_id
            if not final or call.cd_id in done:
                continue
            if not caught_up:
                started = velip_started_at(call)
                if started is not None and started + dt.timedelta(seconds=call.dur or 0) < start:
                    continue  # it had ended before the trigger's start: history
            events.append(ended_call_event(call, conn_id, now))
        if not page.has_more:
            complete = True
            break
        next_id = page.next_id or (page.calls[-1].cd_id if page.calls else None)
        if not next_id or next_id == request_after:
            break  # a cursor that does not move: read again from the saved position next time
        request_after = next_id
    if given_up:
        log.warning(
            "Velip calls %s are still pending %s after their start: no longer waited for (their end can "
            "only arrive by webhook)",
            ", ".join(given_up[:10]) + (f" and {len(given_up) - 10} more" if len(given_up) > 10 else ""),
            PENDING_GIVE_UP,
        )
    return events, {"last_id": hold, "done": sorted(still_done), "caught_up": caught_up or complete}
