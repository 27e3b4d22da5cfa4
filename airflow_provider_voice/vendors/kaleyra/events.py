"""Kaleyra call callbacks (spec "Callback & Replaceable Variables"): a templated URL Kaleyra requests.

``/voice-webhooks/<conn_id>/calls``: Kaleyra calls the ``callback`` URL of a click-to-call or OBD
request at the first leg's answer and at the end of the call, with the template's variables
expanded. Put the secret token and every variable in the query string::

    https://airflow.example.com/voice-webhooks/kaleyra_default/calls?token=<token>&id={id}&caller={caller}
    &receiver={receiver}&status={status}&status1={status1}&status2={status2}&duration={duration}
    &billsec={billsec}&starttime={starttime}&endtime={endtime}&recordpath={recordpath}&callerid={callerid}

(:func:`callback_template` builds it.) A request with an ``endtime`` is the end of the call →
kind ``calls-ended``; one without is the answer notification → ``calls-answered``. Both are
accepted as GET (Kaleyra's way) or POST with the variables in a form/JSON body. Kaleyra does not
sign: use the token. Times are epoch seconds; numbers are 10-digit Indian numbers or digits
with the country code. The call id is ``{id}`` (else ``{caller}``/``{receiver}``/``{starttime}``).

Polling (the pull path, for an ``AssetWatcher``'s
:class:`~airflow_provider_voice.triggers.events.VoiceEventTrigger`): :func:`ended_click_to_calls_flow`
reads the click-to-call log (``dial.c2cstatus``) and makes the same ``calls-ended`` events (same
keys) as the end callback, for click-to-calls (OBD calls are only reported by callback).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from airflow_provider_voice.models.click_to_call import ClickToCallState
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
from airflow_provider_voice.models.report_window import vendor_date
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import Flow
from airflow_provider_voice.vendors.kaleyra.api_calls import CALLBACK_VARIABLES
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION
from airflow_provider_voice.vendors.kaleyra.api_reports import (
    C2C_RETENTION_DAYS,
    KALEYRA_TIMEZONE,
    KaleyraReportEndpoints,
)
from airflow_provider_voice.vendors.kaleyra.click_to_call import kaleyra_c2c_state
from airflow_provider_voice.vendors.kaleyra.outcomes import KALEYRA_OUTCOMES
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord, KaleyraReportPage

__all__ = [
    "CALLBACK_VARIABLES",
    "CALLS_LOOKBACK",
    "WEBHOOK_ENDPOINTS",
    "callback_template",
    "click_to_call_status",
    "ended_click_to_call_event",
    "ended_click_to_calls_flow",
    "parse_call_callback",
]

VENDOR = "kaleyra"


def callback_template(base_url: str) -> str:
    """The ``callback`` value for Kaleyra: ``base_url`` plus every variable in the query string.

    :param base_url: the receiver URL with its token, e.g.
        ``https://airflow.example.com/voice-webhooks/kaleyra_default/calls?token=<token>``.
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
    where = "the Kaleyra callback"
    given = request.fields()
    fields = {k: _unexpanded(text_field(given, k, where=where)) for k in given}  # a non-text value is a 400
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


# -- polling (the pull path: VoiceEventTrigger) ------------------------------------------------
#: every poll reads this far back again (by end time): a call Kaleyra logs a little late is still found, once
CALLS_LOOKBACK = dt.timedelta(seconds=60)
#: rows per ``dial.c2cstatus`` page read by a poll
POLL_LIMIT = 1000

log = get_logger(__name__)

#: one poll: the new events and the position to save (JSON primitives)
CallsPoll = tuple[list[VoiceEvent], dict[str, Any]]


def _india_time(value: str | None) -> dt.datetime | None:
    """A ``dial.c2cstatus`` time (``YYYY-MM-DD HH:MM:SS``, India time) as an aware UTC datetime."""
    naive = vendor_time(value)
    if naive is None:
        return None
    if naive.tzinfo is not None:  # epoch seconds
        return naive
    return naive.replace(tzinfo=ZoneInfo(KALEYRA_TIMEZONE)).astimezone(dt.timezone.utc)


def click_to_call_status(row: KaleyraCallRecord) -> str | None:
    """One status for the whole call, as Kaleyra's ``{status}`` callback variable gives it: ``ANSWER``
    when both legs answered, else the first leg's status when it did not answer, else the second's."""
    first, second = (row.status or "").strip().upper(), (row.status2 or "").strip().upper()
    if first == "ANSWER":
        return second or first
    return first or second or None


def ended_click_to_call_event(row: KaleyraCallRecord, conn_id: str, received_at: dt.datetime) -> VoiceEvent:
    """The ``calls-ended`` event of one ended ``dial.c2cstatus`` row (it must have an ``id``).

    Its ``event_id`` is the end callback's (``calls-ended:<id>``): a call both reported by callback
    and found by a poll is one event (one key).

    :param row: the row.
    :param conn_id: the connection it was read with.
    :param received_at: when the poll read it (UTC).
    """
    status = click_to_call_status(row)
    return VoiceEvent(
        vendor=VENDOR,
        conn_id=conn_id,
        kind="calls-ended",
        event_id=f"calls-ended:{row.id}",
        received_at=received_at,
        occurred_at=_india_time(row.end_time),
        number=person_number(row.callto or row.callfrom, DEFAULT_REGION),
        account_number=person_number(row.caller_id, DEFAULT_REGION),
        direction="outbound",
        status=status,
        outcome=KALEYRA_OUTCOMES.get(status or ""),
        ref=row.id,
        duration_seconds=row.duration,
        billed_seconds=row.billsec,
        cost=row.credits,
        raw=row.model_dump(mode="json", exclude_none=True),
    )


def ended_click_to_calls_flow(
    api: KaleyraReportEndpoints,
    conn_id: str,
    position: Mapping[str, Any] | None,
    *,
    start: dt.datetime,
    now: dt.datetime,
    max_requests: int = 5,
    limit: int = POLL_LIMIT,
) -> Flow[CallsPoll]:
    """The click-to-calls that ended since ``position``: ``dial.c2cstatus`` pages, rows no longer in progress.

    The position is ``{"time": ISO UTC, "ids": [...]}``: every call that ended before ``time``
    has been read, and so have the ones in ``ids`` (ended at ``time`` or after). Each poll reads
    the days (India time) from the day before ``time`` to today — a call is logged under the day
    it started — page by page (at most ``max_requests`` pages of ``limit`` rows), and the new
    position is the poll's time less :data:`CALLS_LOOKBACK`. When the pages are not all read,
    the position does not move (logged): reading more than ``max_requests * limit`` calls in two
    days needs the callback instead. Kaleyra keeps the log 3 days: an older position is moved up
    to the oldest day (logged: calls in between were missed).

    :param api: the Kaleyra API.
    :param conn_id: the connection (names the events).
    :param position: the saved position, or None (or ``{}``) to start at ``start``.
    :param start: where to begin when there is no position (aware).
    :param now: the poll's time (aware), the end of the window.
    :param max_requests: pages at most in this poll.
    :param limit: rows per page.
    :returns: (new events; the new position).
    """
    position = position or {}
    raw_time = position.get("time")
    since = None
    if isinstance(raw_time, str):
        with contextlib.suppress(ValueError):
            since = dt.datetime.fromisoformat(raw_time)
    since = since or start
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    since = since.astimezone(dt.timezone.utc).replace(microsecond=0)
    seen = {str(i) for i in position.get("ids") or [] if isinstance(i, str)}
    today = vendor_date(now, KALEYRA_TIMEZONE, field="now")
    oldest = api.c2c_oldest_day(today)
    first_day = vendor_date(since - dt.timedelta(days=1), KALEYRA_TIMEZONE, field="time")
    if first_day < oldest:
        if first_day < oldest - dt.timedelta(days=1):
            log.warning(
                "Kaleyra keeps the click-to-call log %d days: calls that ended between %s and %s were not read",
                C2C_RETENTION_DAYS,
                since.isoformat(),
                oldest.isoformat(),
            )
        first_day = oldest
    first_day = min(first_day, today)
    events: list[VoiceEvent] = []
    listed: dict[str, dt.datetime] = {}
    complete = False
    for number in range(1, max(1, max_requests) + 1):
        page: KaleyraReportPage[KaleyraCallRecord] = yield api.c2c_status(
            fromdate=first_day, todate=today, limit=limit, page=number
        )
        for row in page.rows:
            if not row.id or kaleyra_c2c_state(row) is ClickToCallState.PENDING:
                continue
            ended = _india_time(row.end_time) or _india_time(row.start_time)
            if ended is None or ended < since:
                continue
            listed[row.id] = ended
            if row.id not in seen:
                seen.add(row.id)
                events.append(ended_click_to_call_event(row, conn_id, now))
        if page.is_last:
            complete = True
            break
    if not complete:
        log.warning(
            "Kaleyra dial.c2cstatus has more than %d rows from %s to %s: the position stays at %s",
            max_requests * limit,
            first_day.isoformat(),
            today.isoformat(),
            since.isoformat(),
        )
        return events, {"time": since.isoformat(), "ids": sorted(seen)}
    since = max(since, now.astimezone(dt.timezone.utc).replace(microsecond=0) - CALLS_LOOKBACK)
    return events, {"time": since.isoformat(), "ids": sorted(i for i, at in listed.items() if at >= since)}
