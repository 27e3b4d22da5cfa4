"""Synthetic webhook events for load tests (``POST /_sim/webhooks/emit``).

:func:`emit_webhooks` makes ``count`` distinct events of one vendor and kind, in the vendor's exact
payload shape, with seeded random but valid phone numbers and fresh vendor ids (taken from the
same counters as real ones, so they never collide with them), and queues them in the webhook
outbox (:mod:`.webhooks`: retries, delays, duplicates and reordering apply as configured):

* ``televoips`` ``message-received`` / ``message-delivered`` / ``message-failed``: the spec's
  messaging bodies (a failed one carries ``errorCode`` and ``description``), to
  ``televoips_webhook_url``, with ``televoips_webhook_auth``; ids are 28-character message ids.
  ``cdr``: JSON arrays of up to ``cdr_batch`` CDR objects (``count`` rows in all), to
  ``televoips_cdr_webhook_url``; each row's id is its ``uniqueid`` (the attempt log shows the
  first row's). Synthetic messages are not added to ``GET /messages`` (use
  ``POST /_sim/televoips/inbound`` for that).
* ``octopush`` ``delivery``: ``{message_id, number, status, delivery_date, call_duration,
  charged_duration}`` to ``octopush_webhook_url``; ``stop``: ``{message_id, number, text,
  stop_date}`` to ``octopush_stop_webhook_url`` (else ``octopush_webhook_url``). Each event has
  its own ``message_id`` (``voice_<13 hex>``).
* ``velip`` ``call-ended``: ``{cd_id, ctid, cp_id, dest, cd_called_status, date, time, dur,
  value}`` (JSON or form as ``velip_webhook_format``) to ``velip_webhook_url``.
* ``kaleyra`` ``call-ended``: a GET to ``kaleyra_webhook_url`` with ``id, caller, receiver,
  status, status1, status2, duration, billsec, starttime, endtime`` (epoch), ``recordpath`` and
  ``callerid`` appended to its query string.

Statuses come from the seeded outcome model of each generated number, as for real calls.
``duplicate_rate`` (default ``webhook_duplicate_rate``) decides, seeded, which events are sent a
second time once accepted. ``burst: true`` queues every delivery due at once, with deliveries
held while they are queued, then released together (at most ``webhook_max_in_flight`` at a
time; when deliveries are already held, they stay held until ``POST /_sim/webhooks/release``);
otherwise they are spread ``interval`` seconds apart (default 0.01). Synthetic events are not
written to the ledger.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from . import clock as clk
from . import televoips as tv
from . import velip as vl
from .auth import is_loopback_url
from .calls import Outcome
from .ids import LOWER_ALNUM
from .kaleyra import C2C_STATUS
from .octopush import DELIVERY_STATUS

if TYPE_CHECKING:
    from .state import SimulatorState

#: the event kinds of each vendor
KINDS: dict[str, tuple[str, ...]] = {
    "televoips": ("message-received", "message-delivered", "message-failed", "cdr"),
    "octopush": ("delivery", "stop"),
    "velip": ("call-ended",),
    "kaleyra": ("call-ended",),
}
#: most events one request may emit
MAX_EVENTS = 100_000
INBOUND_TEXTS = ("STOP", "Yes", "No", "Thanks", "Call me later", "UNSUBSCRIBE")


@dataclass(frozen=True)
class EmitRequest:
    """What to emit (the JSON body of ``POST /_sim/webhooks/emit``).

    :param vendor: ``televoips`` | ``octopush`` | ``velip`` | ``kaleyra``.
    :param kind: one of :data:`KINDS` of that vendor.
    :param count: events to make (1 to :data:`MAX_EVENTS`; CDR rows for ``cdr``).
    :param url: where to send them (else the configured URL of that vendor and kind); loopback only.
    :param duplicate_rate: share of events sent twice (``webhook_duplicate_rate`` when None).
    :param burst: queue everything at once and release it together.
    :param interval: seconds between two deliveries when not a burst.
    :param cdr_batch: CDR rows per array (``cdr`` only).
    """

    vendor: str
    kind: str
    count: int = 1
    url: str | None = None
    duplicate_rate: float | None = None
    burst: bool = False
    interval: float = 0.01
    cdr_batch: int = 1

    @classmethod
    def from_json(cls, payload: Any) -> EmitRequest:
        """Parse and check a JSON body (``ValueError`` with a message when it is wrong)."""
        if not isinstance(payload, Mapping):
            raise ValueError("the body must be a JSON object")
        unknown = set(payload) - {"vendor", "kind", "count", "url", "duplicate_rate", "burst", "interval", "cdr_batch"}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        vendor, kind = payload.get("vendor"), payload.get("kind")
        if vendor not in KINDS:
            raise ValueError(f"vendor must be one of {sorted(KINDS)}")
        if kind not in KINDS[vendor]:
            raise ValueError(f"kind of {vendor} must be one of {list(KINDS[vendor])}")
        count = _integer(payload.get("count", 1), "count")
        if not 1 <= count <= MAX_EVENTS:
            raise ValueError(f"count must be between 1 and {MAX_EVENTS}")
        cdr_batch = _integer(payload.get("cdr_batch", 1), "cdr_batch")
        if cdr_batch < 1:
            raise ValueError("cdr_batch must be at least 1")
        rate = payload.get("duplicate_rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
            raise ValueError("duplicate_rate must be a number between 0 and 1")
        interval = payload.get("interval", 0.01)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 60:
            raise ValueError("interval must be a number of seconds between 0 and 60")
        burst = payload.get("burst", False)
        if not isinstance(burst, bool):
            raise ValueError("burst must be true or false")
        url = payload.get("url")
        if url is not None and not isinstance(url, str):
            raise ValueError("url must be a string")
        return cls(vendor, kind, count, url, None if rate is None else float(rate), burst, float(interval), cdr_batch)


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def configured_url(state: SimulatorState, vendor: str, kind: str) -> str | None:
    """The URL a vendor sends ``kind`` events to, from the settings."""
    config = state.config
    if vendor == "televoips":
        return config.televoips_cdr_webhook_url if kind == "cdr" else config.televoips_webhook_url
    if vendor == "octopush":
        if kind == "stop":
            return config.octopush_stop_webhook_url or config.octopush_webhook_url
        return config.octopush_webhook_url
    if vendor == "velip":
        return config.velip_webhook_url
    return config.kaleyra_webhook_url


# -- numbers ------------------------------------------------------------------------------------
def _us_number(rng: random.Random) -> str:
    area = f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}"
    exchange = f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}"
    return f"1{area}{exchange}{rng.randint(0, 9999):04d}"


def _french_mobile(rng: random.Random) -> str:
    return f"+33{rng.choice('67')}{rng.randint(0, 99_999_999):08d}"


def _brazil_mobile(rng: random.Random) -> str:
    return f"55{rng.randint(11, 99)}9{rng.randint(0, 99_999_999):08d}"


def _india_mobile(rng: random.Random) -> str:
    return f"{rng.randint(6, 9)}{rng.randint(0, 999_999_999):09d}"


# -- events: (event ids, delivery arguments) -----------------------------------------------------
@dataclass
class _Event:
    ids: list[str]
    method: str
    url: str
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None


def _televoips(state: SimulatorState, request: EmitRequest, url: str, rng: random.Random) -> list[_Event]:
    config = state.config
    now = state.now()
    headers = tv.webhook_headers(config.televoips_webhook_auth)
    if request.kind == "cdr":
        first = state.ids.reserve("televoips.cdr-webhook", request.count)
        rows = tv.cdr_events(config.seed, first, request.count, now, config.televoips_utc_offset_minutes)
        size = request.cdr_batch
        return [
            _Event([r["uniqueid"] for r in rows[i : i + size]], "POST", url, json=rows[i : i + size], headers=headers)
            for i in range(0, len(rows), size)
        ]
    owned_numbers = sorted(config.televoips_numbers) or ["13214567890"]
    when = clk.fmt(now, config.televoips_utc_offset_minutes, tv.MESSAGE_TIME)
    failures = list(tv.SMS_FAILURES.values())
    events = []
    for index in range(request.count):
        message_id = state.ids.token("televoips.message", 28, LOWER_ALNUM)
        owned, person = owned_numbers[index % len(owned_numbers)], _us_number(rng)
        if request.kind == "message-received":
            text = rng.choice(INBOUND_TEXTS)
            body = tv.message_event(request.kind, message_id, when, owned, person, text=text)
        else:
            error = rng.choice(failures) if request.kind == "message-failed" else None
            body = tv.message_event(request.kind, message_id, when, person, owned, segments=rng.choice((1, 1, 1, 2)), error=error)  # fmt: skip
        events.append(_Event([message_id], "POST", url, json=body, headers=headers))
    return events


def _octopush(state: SimulatorState, request: EmitRequest, url: str, rng: random.Random) -> list[_Event]:
    model = state.outcome_model()
    stamp = clk.fmt(state.now(), 0)
    events = []
    for _ in range(request.count):
        message_id = f"voice_{state.ids.token('octopush.ticket', 13)}"
        number = _french_mobile(rng)
        body: dict[str, Any]
        if request.kind == "stop":
            body = {"message_id": message_id, "number": number, "text": "STOP", "stop_date": stamp}
        else:
            outcome = model.outcome(number)
            duration = model.talk_seconds(number, outcome)
            body = {
                "message_id": message_id,
                "number": number,
                "status": DELIVERY_STATUS[outcome],
                "delivery_date": stamp,
                "call_duration": duration,
                "charged_duration": 30 * math.ceil(duration / 30),
            }
        events.append(_Event([message_id], "POST", url, json=body))
    return events


def _velip(state: SimulatorState, request: EmitRequest, url: str, rng: random.Random) -> list[_Event]:
    model = state.outcome_model()
    offset = state.config.velip_utc_offset_minutes
    now = state.now()
    first = state.ids.reserve("velip.cd", request.count, vl.FIRST_CD)
    events = []
    for index in range(request.count):
        dest = _brazil_mobile(rng)
        outcome = model.outcome(dest)
        dur = model.talk_seconds(dest, outcome)
        started = now - dur - model.ring_seconds(dest)
        cd_id = f"c_{first + index}"
        payload: dict[str, Any] = {
            "cd_id": cd_id,
            "ctid": "",
            "cp_id": "",
            "dest": dest,
            "cd_called_status": vl.STATUS_CODES[outcome],
            "date": clk.fmt(started, offset, vl.DATE_FMT),
            "time": clk.fmt(started, offset, vl.TIME_FMT),
            "dur": dur,
            "value": round(0.15 * math.ceil(dur / 60), 2) if dur else 0.0,
        }
        if state.config.velip_webhook_format == "form":
            events.append(_Event([cd_id], "POST", url, data={k: str(v) for k, v in payload.items()}))
        else:
            events.append(_Event([cd_id], "POST", url, json=payload))
    return events


def _with_query(url: str, values: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(values)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def _kaleyra(state: SimulatorState, request: EmitRequest, url: str, rng: random.Random) -> list[_Event]:
    model = state.outcome_model()
    now = int(state.now())
    events = []
    for _ in range(request.count):
        call_id = f"c2c_{state.ids.token('kaleyra.c2c', 16)}"
        caller, receiver = _india_mobile(rng), _india_mobile(rng)
        status1 = C2C_STATUS[model.outcome(caller)]
        status2 = C2C_STATUS[model.outcome(receiver)] if status1 == "ANSWER" else "CANCEL"
        billsec = model.talk_seconds(receiver, Outcome.ANSWERED) if status2 == "ANSWER" else 0
        duration = billsec + model.ring_seconds(caller) if status1 == "ANSWER" else 0
        status = "ANSWER" if status1 == status2 == "ANSWER" else (status1 if status1 != "ANSWER" else status2)
        values = {
            "id": call_id,
            "caller": caller,
            "receiver": receiver,
            "status": status,
            "status1": status1,
            "status2": status2,
            "duration": str(duration),
            "billsec": str(billsec),
            "starttime": str(now - duration - model.ring_seconds(receiver)),
            "endtime": str(now),
            "recordpath": f"//play.simulator.invalid/?id={call_id}" if status2 == "ANSWER" else "",
            "callerid": state.config.kaleyra_caller_id,
        }
        events.append(_Event([call_id], "GET", _with_query(url, values)))
    return events


_MAKERS = {"televoips": _televoips, "octopush": _octopush, "velip": _velip, "kaleyra": _kaleyra}


def emit_webhooks(state: SimulatorState, request: EmitRequest) -> dict[str, Any]:
    """Make and queue the events of ``request``; call with ``state.lock`` held.

    Returns ``{"emitted": events, "deliveries": requests queued including the planned duplicate
    copies, "dropped": requests the full outbox refused, "event_ids": [distinct vendor ids]}``.
    Raises ``ValueError`` when no loopback URL is given or configured.
    """
    url = request.url or configured_url(state, request.vendor, request.kind)
    if not url:
        raise ValueError(f"no URL: pass url or configure the {request.vendor} webhook URL for {request.kind!r}")
    if not is_loopback_url(url):
        raise ValueError("the simulator sends webhooks to loopback URLs only")
    config = state.config
    serial = state.ids.next_int("emit")
    rng = random.Random(f"{config.seed}|emit|{request.vendor}|{request.kind}|{serial}")
    events = _MAKERS[request.vendor](state, request, url, rng)
    rate = config.webhook_duplicate_rate if request.duplicate_rate is None else request.duplicate_rate
    webhooks = state.webhooks
    queued = dropped = 0
    event_ids: list[str] = []
    hold = request.burst and not webhooks.held  # already held: the caller releases
    if hold:
        webhooks.hold()
    try:
        for index, event in enumerate(events):
            event_ids.extend(event.ids)
            repeat = rate > 0 and rng.random() < rate
            ok = webhooks.deliver(
                event.method,
                event.url,
                json=event.json,
                data=event.data,
                headers=event.headers,
                vendor=request.vendor,
                kind=request.kind,
                event_id=event.ids[0],
                duplicate_rate=1.0 if repeat else 0.0,
                delay=0.0 if request.burst else index * request.interval,
            )
            if ok:
                queued += 2 if repeat else 1
            else:
                dropped += 1
    finally:
        if hold:
            webhooks.release()
        else:
            webhooks.notify()
    return {"emitted": len(event_ids), "deliveries": queued, "dropped": dropped, "event_ids": event_ids}
