"""Kaleyra Voice simulator: one endpoint dispatching on ``method=``.

Served at ``{root}/kaleyra/v1/`` (every method) and ``{root}/kaleyra-obd/api/v1/`` (the OBD
family ``voice.*`` only), POST or GET. Parameters come from form fields, multipart form data or
the query string (query wins). The API key is read from the ``x-api-key`` header, an ``api_key``
header (the c2cstatus example uses one) or an ``api_key`` parameter; a wrong or missing key is
HTTP 401 with status ``E401`` "Invalid API key". ``format=xml`` answers XML shaped like the spec
(``<api><status/><message/><data/></api>``, list items in ``<dial>``, ``<followup>``, ``<voice>``,
``<monitor>``); **without ``format`` the answer is JSON** (the spec says "default text", which is
not described anywhere, so the simulator picks JSON).

Every other error is HTTP 200 with ``{"status": "E<code>", "message": ...}``. The codes the spec
names are kept (E542 "User Plugin not found or inactive", E701 "No incidents found"); the rest are
the simulator's own (the full list is not public):

  * E100 "Invalid method" (missing/unknown ``method``; non-OBD method on the OBD base URL)
  * E101 "Missing parameter: <name>"
  * E102 "Invalid parameter: <name>" (bad number, retries > 2, delay > 900, bad date, ...)
  * E110 "Maximum 200 numbers allowed per request" (voice.call)
  * E111 "Schedule time should be at least 15 minutes from now"
  * E112 "Schedule time should be within 2 months" (61 days)
  * E113 "Invalid schedule time"
  * E120 "No records found" (unknown call id / group id / follow-up id)

Shapes chosen where the spec is silent:

  * ``voice.call`` answers like ``voice.json``: ``data`` = ``{"0": {"id": "<group>-1", "mobile",
    "status": "SENT"}, ..., "group_id": <int>}``. ``voice.status`` (``id``, optional ``mobile``;
    an id without ``-`` is taken as a group id) and ``voice.groupstatus`` (``groupid``, optional
    ``campaign``; ``voice.groupStatus`` is accepted) answer ``data`` = ``{"0": {id, mobile, status,
    senttime}, ...}``. ``status`` is ``SENT`` until the call ends, then COMPLETED (answered),
    NOANSWER, BUSY, FAILED, CONGESTION, CHANUNAVAIL (bad number) or DND (blocked).
  * ``scheduletime``: EPOCH, ``YYYY-MM-DD HH:mm:SS`` or ``DD/MM/YYYY HH:MM AM``; naive times are
    India time (``kaleyra_utc_offset_minutes`` = 330). Send EPOCH to avoid any doubt.
  * ``voice.json`` body: a raw JSON object, the same URL-encoded, or a form field ``data``/``json``
    holding it; top-level ``play``/``message``/``campaign``/``scheduletime``/``callback``/``retries``
    apply to every ``call[]`` item unless the item overrides them; one group for the request.
  * ``dial.click2call``: ``caller`` (several joined by ``-``), ``receiver`` (several joined by
    ``^``, or ``ivr:<id>`` / ``<id>.ivr``), ``retry`` <= 2, ``delay`` seconds, ``return=1`` gives
    ``data.id`` ``c2c_<16 hex>``. One ledger "click2call" per caller and per receiver number. When
    the call ends, ``callback`` is expanded (``{caller} {receiver} {status} {status1} {status2}
    {duration} {billsec} {starttime} {endtime} {recordpath} {callerid} {id}``, values URL-encoded)
    and recorded as a ledger "callback"; loopback URLs are also requested (GET, best effort: one
    try, no retry).
    ``status2`` is CANCEL when the first leg did not answer.
  * ``dial.c2cstatus`` lists click2call calls of the last 3 days (filters ``id``, ``callto`` or
    ``call to``, ``fromdate``/``todate``, ``limit`` 50, ``page`` 1); a call still ringing has
    ``status`` INPROGRESS and empty ``end_time``/``status2``.
  * ``dial`` (incoming calls) lists ``kaleyra_inbound_calls`` generated records (same filters).
  * ``followup``: create -> ``data.id`` (from "2351"); with ``id`` -> edit ("Follow-up updated
    successfully"); with ``action=delete`` -> delete ("Follow-up deleted successfully"); delete
    needs ``id``, ``phone``, ``name``, ``follower`` and ``ontime`` (mandatory in the spec), else E101.
    ``ontime`` is ``dd-mm-yyyy hh-mm``. ``followup.reports`` shows ``ontime`` as
    ``dd-mm-yyyy hh:mm:ss AM``.
  * ``block`` (``number``, several joined by ``,``; ``action=delete`` unblocks): "200"/"OK".
  * ``autodial.add`` / ``autodial.import``: status ``"OK "`` (with the trailing space of the spec)
    and "Number(s) added Successfully, Total Records(s) - N, Processed Records(s) - M"; import
    considers the first 1000 entries of ``{"data": [...]}``.
  * ``monitor``: ``kaleyra_incidents`` (default: operational regions like the spec); an empty list
    gives E701; ``kaleyra_plugin_active=False`` gives E542.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote_plus

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import clock as clk
from .auth import secrets_equal
from .calls import CallBatch, Outcome, Phase, _unit
from .ledger import LedgerEntry
from .params import RequestParams
from .render import json_response, xml_response
from .vendor import RequestContext, VendorSimulator, status_phrase

VENDOR = "kaleyra"
NUMBER_RE = re.compile(r"\+?\d{10,15}")
IVR_RE = re.compile(r"ivr:\d+|\d+\.ivr")
MAX_NUMBERS = 200
MAX_IMPORT = 1000
OBD_STATUS: dict[Outcome, str] = {
    Outcome.ANSWERED: "COMPLETED",
    Outcome.NO_ANSWER: "NOANSWER",
    Outcome.BUSY: "BUSY",
    Outcome.FAILED: "FAILED",
    Outcome.CONGESTION: "CONGESTION",
    Outcome.BAD_NUMBER: "CHANUNAVAIL",
    Outcome.BLOCKED: "DND",
}
C2C_STATUS: dict[Outcome, str] = {
    Outcome.ANSWERED: "ANSWER",
    Outcome.NO_ANSWER: "NOANSWER",
    Outcome.BUSY: "BUSY",
    Outcome.FAILED: "FAILED",
    Outcome.CONGESTION: "CONGESTION",
    Outcome.BAD_NUMBER: "FAILED",
    Outcome.BLOCKED: "FAILED",
}
STAMP = "%Y-%m-%d %H:%M:%S"
FIRST_GROUP = 217691534
THREE_DAYS = 3 * 86400
TWO_MONTHS = 61 * 86400


class KaleyraError(Exception):
    """A Kaleyra error answer."""

    def __init__(self, code: str, message: str, http: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.http = code, message, http


def _missing(name: str) -> KaleyraError:
    return KaleyraError("E101", f"Missing parameter: {name}")


def _invalid(name: str) -> KaleyraError:
    return KaleyraError("E102", f"Invalid parameter: {name}")


@dataclass
class ObdGroup:
    """The calls of one voice.call / voice.json request."""

    group_id: int
    batch: CallBatch
    campaign: str
    customs: list[str]
    callbacks: list[str | None]
    method: str

    def call_id(self, index: int) -> str:
        return f"{self.group_id}-{index + 1}"


@dataclass
class ClickToCall:
    """One click-to-call."""

    id: str
    callers: list[str]
    receivers: list[str]
    batch: CallBatch
    caller_id: str
    callback: str | None
    custom: str


@dataclass
class Followup:
    """A call follow-up."""

    id: str
    phone: str
    name: str
    follower: str
    ontime: float
    autocall: str
    notes: str


@dataclass
class KaleyraStore:
    """Kaleyra data of one simulator state."""

    blocked: set[str] = field(default_factory=set)
    groups: dict[int, ObdGroup] = field(default_factory=dict)
    c2c: dict[str, ClickToCall] = field(default_factory=dict)
    followups: dict[str, Followup] = field(default_factory=dict)
    dialer: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _text(params: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = params.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _int(params: Mapping[str, Any], names: tuple[str, ...], default: int, high: int) -> int:
    text = _text(params, *names)
    if text is None:
        return default
    if not text.isdigit() or int(text) > high:
        raise _invalid(names[0])
    return int(text)


def _numbers(text: str, name: str, separator: str = ",") -> list[str]:
    numbers = [n.strip() for n in text.split(separator) if n.strip()]
    for number in numbers:
        if not NUMBER_RE.fullmatch(number):
            raise _invalid(name)
    return numbers


class KaleyraSimulator(VendorSimulator):
    """Serves the Kaleyra Voice API (both base URLs)."""

    name = VENDOR

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/", self.endpoint, methods=["GET", "POST"]),
            Route("/v1", self.endpoint, methods=["GET", "POST"]),
        ]

    def obd_routes(self) -> list[BaseRoute]:
        """Routes of the OBD base URL (``{root}/kaleyra-obd``)."""
        return [
            Route("/api/v1/", self.obd_endpoint, methods=["GET", "POST"]),
            Route("/api/v1", self.obd_endpoint, methods=["GET", "POST"]),
        ]

    @staticmethod
    def _method(params: RequestParams) -> str:
        return str(params.merged().get("method") or "").strip().lower()

    def fault_response(self, status: int, ctx: RequestContext) -> Response:
        return self._answer(ctx, {"status": f"E{status}", "message": status_phrase(status)}, "item", status)

    async def endpoint(self, request: Request) -> Response:
        return await self.handle(request, self._method, lambda ctx: self.act(ctx, obd_only=False))

    async def obd_endpoint(self, request: Request) -> Response:
        return await self.handle(request, self._method, lambda ctx: self.act(ctx, obd_only=True))

    @property
    def store(self) -> KaleyraStore:
        return self.state.kaleyra

    # -- plumbing ---------------------------------------------------------------------------
    @staticmethod
    def _answer(ctx: RequestContext, fields: dict[str, Any], item_tag: str, http: int = 200) -> Response:
        fmt = str(ctx.params.merged().get("format") or "json").strip().lower()
        if fmt == "xml":
            return xml_response(fields, item_tag, http)
        return json_response(fields, http)

    def act(self, ctx: RequestContext, *, obd_only: bool) -> Response:
        params = ctx.params.merged()
        key = ctx.headers.get("x-api-key") or ctx.headers.get("api_key") or _text(params, "api_key")
        if not secrets_equal(key, self.state.config.kaleyra_api_key):
            return self._answer(ctx, {"status": "E401", "message": "Invalid API key"}, "item", 401)
        handlers = {
            "dial.click2call": (self.click2call, "item"),
            "dial.c2cstatus": (self.c2c_status, "dial"),
            "dial": (self.dial, "dial"),
            "block": (self.block, "item"),
            "followup": (self.followup, "item"),
            "followup.reports": (self.followup_reports, "followup"),
            "monitor": (self.monitor, "monitor"),
            "autodial.add": (self.autodial_add, "item"),
            "autodial.import": (self.autodial_import, "item"),
            "voice.call": (self.voice_call, "voice"),
            "voice.json": (self.voice_json, "voice"),
            "voice.status": (self.voice_status, "voice"),
            "voice.groupstatus": (self.voice_group_status, "voice"),
        }
        method = ctx.route
        entry = handlers.get(method)
        if entry is None or (obd_only and not method.startswith("voice.")):
            return self._answer(ctx, {"status": "E100", "message": "Invalid method"}, "item")
        handler, item_tag = entry
        try:
            result = handler(ctx, params)
        except KaleyraError as err:
            return self._answer(ctx, {"status": err.code, "message": err.message}, item_tag, err.http)
        fields = {"status": "200", "message": "OK"}
        fields.update(result)
        return self._answer(ctx, fields, item_tag)

    def _tz(self) -> int:
        return self.state.config.kaleyra_utc_offset_minutes

    def _stamp(self, ts: float) -> str:
        return clk.fmt(ts, self._tz(), STAMP)

    def _day_bounds(self, params: Mapping[str, Any]) -> tuple[float | None, float | None]:
        bounds: list[float | None] = []
        for name in ("fromdate", "todate"):
            text = _text(params, name)
            if text is None:
                bounds.append(None)
                continue
            start = clk.parse_local(text, ["%Y/%m/%d", "%d/%m/%Y", "%Y-%m-%d"], self._tz())
            if start is None:
                raise _invalid(name)
            bounds.append(start if name == "fromdate" else start + 86400)
        return bounds[0], bounds[1]

    @staticmethod
    def _page(items: list[dict[str, Any]], params: Mapping[str, Any]) -> list[dict[str, Any]]:
        limit = _int(params, ("limit",), 50, 10_000) or 50
        page = _int(params, ("page",), 1, 1_000_000) or 1
        return items[(page - 1) * limit : page * limit]

    def _schedule(self, text: str | None, now: float) -> float | None:
        if text is None:
            return None
        if text.isdigit():
            when: float | None = float(text)
        else:
            when = clk.parse_local(text, ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y %I:%M %p", "%Y-%m-%d %H:%M"], self._tz())
        if when is None:
            raise KaleyraError("E113", "Invalid schedule time")
        if when < now + 15 * 60:
            raise KaleyraError("E111", "Schedule time should be at least 15 minutes from now")
        if when > now + TWO_MONTHS:
            raise KaleyraError("E112", "Schedule time should be within 2 months")
        return when

    # -- OBD --------------------------------------------------------------------------------
    def _group_numbers(self, group: str) -> list[str]:
        numbers: list[str] = []
        groups = self.state.config.kaleyra_groups
        for key in [g.strip() for g in group.split(",") if g.strip()] if group[:1].isdigit() else [group]:
            if key not in groups:
                raise _invalid("group")
            numbers.extend(groups[key])
        return numbers

    def _start_obd(
        self,
        numbers: list[str],
        *,
        start_at: float,
        campaign: str,
        customs: list[str],
        callbacks: list[str | None],
        method: str,
        details: list[dict[str, Any]],
    ) -> dict[str, Any]:
        now = self.state.now()
        group_id = self.state.ids.next_int("kaleyra.group", FIRST_GROUP)
        batch = self.state.new_batch(str(group_id), numbers, start_at=start_at)
        group = ObdGroup(group_id, batch, campaign, customs, callbacks, method)
        self.store.groups[group_id] = group
        self.state.ledger.record_many(
            LedgerEntry(
                VENDOR,
                "call",
                n,
                group.call_id(i),
                {"group_id": group_id, "method": method, "campaign": campaign, **details[i]},
                now,
            )
            for i, n in enumerate(numbers)
        )
        if any(callbacks):
            self.state.webhooks.watch(batch, lambda index: self._obd_ended(group, index))
        data: dict[str, Any] = {
            str(i): {"id": group.call_id(i), "mobile": n, "status": "SENT"} for i, n in enumerate(numbers)
        }
        data["group_id"] = group_id
        return {"data": data}

    def _obd_view(self, group: ObdGroup, index: int, now: float) -> dict[str, Any]:
        batch = group.batch
        done = batch.phase(index, now) is Phase.DONE
        return {
            "id": group.call_id(index),
            "mobile": batch.numbers[index],
            "status": OBD_STATUS[batch.outcome(index)] if done else "SENT",
            "senttime": self._stamp(batch.created_at),
        }

    def _obd_ended(self, group: ObdGroup, index: int) -> None:
        url = group.callbacks[index]
        if not url:
            return
        view = self._obd_view(group, index, self.state.now())
        values = {"obdid": view["id"], "id": view["id"], "mobile": view["mobile"], "status": view["status"], "groupid": str(group.group_id),
                  "duration": str(group.batch.talk_seconds(index)), "custom": group.customs[index] if index < len(group.customs) else ""}  # fmt: skip
        self._callback(view["mobile"], view["id"], url, values)

    def _callback(self, number: str, ref: str, template: str, values: Mapping[str, str]) -> None:
        url = template
        for name, value in values.items():
            url = url.replace("{" + name + "}", quote(str(value), safe=""))
        self.state.record(VENDOR, "callback", number, ref, {"url": url})
        self.state.webhooks.deliver("GET", url, vendor=VENDOR, kind="call-ended", event_id=ref)

    def voice_call(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        group = _text(params, "group")
        if group:
            numbers = self._group_numbers(group)
        else:
            text = _text(params, "numbers")
            if text is None:
                raise _missing("numbers")
            numbers = [n.strip() for n in text.split(",") if n.strip()]
        if len(numbers) > MAX_NUMBERS:
            raise KaleyraError("E110", f"Maximum {MAX_NUMBERS} numbers allowed per request")
        numbers = _numbers(",".join(numbers), "numbers")
        if not numbers:
            raise _missing("numbers")
        play, message = _text(params, "play"), _text(params, "message")
        if not play and not message:
            raise _missing("play")
        retries = _int(params, ("retries", "retry"), 0, 2)
        delay = _int(params, ("delay",), 0, 900)
        scheduled = self._schedule(_text(params, "scheduletime"), now)
        customs = [c.strip() for c in (_text(params, "custom") or "").split(",")]
        customs += [""] * (len(numbers) - len(customs))
        callback = _text(params, "callback")
        detail = {"play": play, "message": message, "retries": retries, "scheduletime": scheduled}
        return self._start_obd(
            numbers,
            start_at=scheduled if scheduled is not None else now + delay,
            campaign=_text(params, "campaign") or "",
            customs=customs[: len(numbers)],
            callbacks=[callback] * len(numbers),
            method="voice.call",
            details=[detail | {"custom": c} for c in customs[: len(numbers)]],
        )

    @staticmethod
    def _json_payload(params: RequestParams) -> Any:
        if isinstance(params.json, Mapping):
            return params.json
        for key in ("data", "json"):
            if key in params.form:
                try:
                    return json.loads(params.form[key])
                except ValueError:
                    return None
        raw = params.raw.decode("utf-8", errors="replace").strip()
        for candidate in (raw, unquote_plus(raw)):
            try:
                return json.loads(candidate)
            except ValueError:
                continue
        return None

    def voice_json(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        payload = self._json_payload(ctx.params)
        if not isinstance(payload, Mapping):
            raise _invalid("json")
        items = payload.get("call")
        if not isinstance(items, list) or not items:
            raise _missing("call")
        scheduled = self._schedule(_text(payload, "scheduletime"), now)
        delay = _int(payload, ("delay",), 0, 900)
        numbers: list[str] = []
        customs: list[str] = []
        callbacks: list[str | None] = []
        details: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, Mapping):
                raise _invalid("call")
            merged = {**{k: v for k, v in payload.items() if k != "call"}, **item}
            if _text(item, "group"):
                item_numbers = self._group_numbers(str(_text(item, "group")))
            elif _text(item, "to"):
                item_numbers = _numbers(str(_text(item, "to")), "to")
            else:
                raise _missing("to")
            play, message = _text(merged, "play"), _text(merged, "message")
            if not play and not message:
                raise _missing("play")
            retries = _int(merged, ("retries", "retry"), 0, 2)
            item_customs = [c.strip() for c in (_text(item, "custom") or "").split(",")]
            for position, number in enumerate(item_numbers):
                numbers.append(number)
                customs.append(item_customs[position] if position < len(item_customs) else item_customs[-1])
                callbacks.append(_text(merged, "callback"))
                details.append(
                    {
                        "play": play,
                        "message": message,
                        "retries": retries,
                        "custom": customs[-1],
                        "meta": item.get("meta"),
                    }
                )
        return self._start_obd(
            numbers,
            start_at=scheduled if scheduled is not None else now + delay,
            campaign=_text(payload, "campaign") or "",
            customs=customs,
            callbacks=callbacks,
            method="voice.json",
            details=details,
        )

    def voice_status(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        call_id = _text(params, "id")
        if call_id is None:
            raise _missing("id")
        group_part, _, index_part = call_id.partition("-")
        group = self.store.groups.get(int(group_part)) if group_part.isdigit() else None
        if group is None or (index_part and not (index_part.isdigit() and 1 <= int(index_part) <= len(group.batch))):
            raise KaleyraError("E120", "No records found")
        indexes = [int(index_part) - 1] if index_part else list(range(len(group.batch)))
        mobile = _text(params, "mobile")
        now = self.state.now()
        views = [self._obd_view(group, i, now) for i in indexes]
        views = [v for v in views if mobile is None or v["mobile"].lstrip("+")[-10:] == mobile.lstrip("+")[-10:]]
        if not views:
            raise KaleyraError("E120", "No records found")
        return {"data": {str(i): v for i, v in enumerate(views)}}

    def voice_group_status(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        group_id = _text(params, "groupid", "group_id")
        if group_id is None:
            raise _missing("groupid")
        group = self.store.groups.get(int(group_id)) if group_id.isdigit() else None
        campaign = _text(params, "campaign")
        if group is None or (campaign is not None and group.campaign != campaign):
            raise KaleyraError("E120", "No records found")
        now = self.state.now()
        return {"data": {str(i): self._obd_view(group, i, now) for i in range(len(group.batch))}}

    # -- click to call ----------------------------------------------------------------------
    def click2call(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        caller_text, receiver_text = _text(params, "caller"), _text(params, "receiver")
        if caller_text is None:
            raise _missing("caller")
        if receiver_text is None:
            raise _missing("receiver")
        callers = _numbers(caller_text, "caller", "-")
        receivers = [r.strip() for r in receiver_text.split("^") if r.strip()]
        for receiver in receivers:
            if not (NUMBER_RE.fullmatch(receiver) or IVR_RE.fullmatch(receiver)):
                raise _invalid("receiver")
        if not callers or not receivers:
            raise _missing("caller" if not callers else "receiver")
        retry = _int(params, ("retry",), 0, 2)
        delay = _int(params, ("delay",), 0, 86_400)
        caller_id = _text(params, "caller_id") or self.state.config.kaleyra_caller_id
        if not NUMBER_RE.fullmatch(caller_id):
            raise _invalid("caller_id")
        call_id = f"c2c_{self.state.ids.token('kaleyra.c2c', 16)}"
        batch = self.state.new_batch(call_id, [callers[0]], start_at=now + delay)
        call = ClickToCall(
            call_id, callers, receivers, batch, caller_id, _text(params, "callback"), _text(params, "custom") or ""
        )
        self.store.c2c[call_id] = call
        for leg, numbers in (("caller", callers), ("receiver", [r for r in receivers if NUMBER_RE.fullmatch(r)])):
            for number in numbers:
                self.state.record(
                    VENDOR, "click2call", number, call_id, {"leg": leg, "retry": retry, "caller_id": caller_id}
                )
        if call.callback:
            self.state.webhooks.watch(batch, lambda index: self._c2c_ended(call))
        return {"data": {"id": call_id}} if _text(params, "return") == "1" else {}

    def _c2c_legs(self, call: ClickToCall) -> tuple[str, str, str, str]:
        """(answering caller, receiver, status1, status2)."""
        model = call.batch.model
        caller = next((c for c in call.callers if model.outcome(c) is Outcome.ANSWERED), call.callers[0])
        status1 = C2C_STATUS[model.outcome(caller)]
        receiver = call.receivers[0]
        if status1 != "ANSWER":
            return caller, receiver, status1, "CANCEL"
        for candidate in call.receivers:
            if IVR_RE.fullmatch(candidate) or model.outcome(candidate) is Outcome.ANSWERED:
                return caller, candidate, status1, "ANSWER"
        return caller, receiver, status1, C2C_STATUS[model.outcome(receiver)]

    def _c2c_view(self, call: ClickToCall, now: float) -> dict[str, Any]:
        caller, receiver, status1, status2 = self._c2c_legs(call)
        batch = call.batch
        done = batch.phase(0, now) is Phase.DONE
        model = batch.model
        billsec = model.talk_seconds(receiver, Outcome.ANSWERED) if status2 == "ANSWER" else 0
        duration = billsec + model.ring_seconds(caller) if status1 == "ANSWER" else 0
        return {
            "id": call.id,
            "callfrom": caller,
            "callto": receiver,
            "agent": "agent name",
            "start_time": self._stamp(batch.started_at(0)),
            "end_time": self._stamp(batch.ended_at(0)) if done else "",
            "duration": str(duration) if done else "0",
            "billsec": str(billsec) if done else "0",
            "credits": f"{0.6 * ((duration + 59) // 60):.3f}" if done else "0.000",
            "status": status1 if done else "INPROGRESS",
            "status2": status2 if done else "",
            "recording": f"//play.simulator.invalid/?id={call.id}" if done and status2 == "ANSWER" else "",
            "location": "KARNATAKA",
            "provider": "VODAFONE",
        }

    def _c2c_ended(self, call: ClickToCall) -> None:
        view = self._c2c_view(call, self.state.now())
        status = (
            "ANSWER"
            if view["status"] == view["status2"] == "ANSWER"
            else (view["status"] if view["status"] != "ANSWER" else view["status2"])
        )
        values = {
            "caller": view["callfrom"],
            "receiver": view["callto"],
            "status": status,
            "status1": view["status"],
            "status2": view["status2"],
            "duration": view["duration"],
            "billsec": view["billsec"],
            "starttime": str(int(call.batch.started_at(0))),
            "endtime": str(int(call.batch.ended_at(0))),
            "recordpath": view["recording"],
            "callerid": call.caller_id,
            "id": call.id,
        }
        self._callback(view["callfrom"], call.id, call.callback or "", values)

    def _filtered(self, views: list[dict[str, Any]], params: Mapping[str, Any], time_key: str) -> list[dict[str, Any]]:
        start, end = self._day_bounds(params)
        wanted_id, callto = _text(params, "id"), _text(params, "callto", "call to", "call_to")
        out = []
        for view in views:
            when = clk.parse_local(view[time_key], [STAMP], self._tz()) or 0.0
            if (wanted_id and view["id"] != wanted_id) or (callto and view["callto"] != callto):
                continue
            if (start is not None and when < start) or (end is not None and when >= end):
                continue
            out.append(view)
        return self._page(out, params)

    def c2c_status(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        views = [self._c2c_view(c, now) for c in self.store.c2c.values() if c.batch.created_at >= now - THREE_DAYS]
        return {"data": self._filtered(views, params, "start_time")}

    def dial(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        now = self.state.now()
        seed = self.state.config.seed
        views = []
        for i in range(max(0, int(self.state.config.kaleyra_inbound_calls))):
            start = int(now) - 3600 * (i + 1)
            duration = 10 + int(_unit(seed, "dial", i) * 120)
            billsec = max(0, duration - 5)
            number = f"9{int(_unit(seed, 'dial-from', i) * 1e9):09d}"
            views.append({
                "id": f"{int(_unit(seed, 'dial-id', i) * 16**22):022x}",
                "uniqid": f"{start}.{i + 1}.D0",
                "parent_id": f"{int(_unit(seed, 'dial-parent', i) * 16**22):022x}",
                "callfrom": number,
                "callto": f"99{int(_unit(seed, 'dial-to', i) * 1e8):08d}",
                "start_time": self._stamp(start),
                "end_time": self._stamp(start + duration),
                "duration": str(duration),
                "billsec": str(billsec),
                "notes": "",
                "location": "KARNATAKA",
                "provider": "VODAFONE",
                "credits": f"{0.6 * ((duration + 59) // 60):.3f}",
                "status": "ANSWER",
                "recording": f"//play.simulator.invalid/?id={i + 1}",
                "date": clk.fmt(start, self._tz(), "%Y-%m-%d %I:%M %p"),
                "caller_id": self.state.config.kaleyra_caller_id,
            })  # fmt: skip
        return {"data": self._filtered(views, params, "start_time")}

    # -- block, follow-ups, monitor, dialer ------------------------------------------------------
    def block(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        text = _text(params, "number")
        if text is None:
            raise _missing("number")
        numbers = _numbers(text, "number")
        unblock = (_text(params, "action") or "").lower() == "delete"
        for number in numbers:
            if unblock:
                self.store.blocked.discard(number)
            else:
                self.store.blocked.add(number)
            self.state.record(VENDOR, "unblock" if unblock else "block", number, number)
        return {}

    def _ontime(self, text: str) -> float:
        when = clk.parse_local(text, ["%d-%m-%Y %H-%M", "%d-%m-%Y %H:%M"], self._tz())
        if when is None:
            raise _invalid("ontime")
        return when

    def followup(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        followup_id = _text(params, "id")
        action = (_text(params, "action") or "").lower()
        if action == "delete":
            for name in ("id", "phone", "name", "follower", "ontime"):  # all mandatory in the spec
                if _text(params, name) is None:
                    raise _missing(name)
            assert followup_id is not None
            gone = self.store.followups.pop(followup_id, None)
            if gone is None:
                raise KaleyraError("E120", "No records found")
            self.state.record(VENDOR, "followup_delete", gone.phone, followup_id)
            return {"message": "Follow-up deleted successfully", "data": {"id": followup_id}}
        fields = {name: _text(params, name) for name in ("phone", "name", "follower", "ontime", "autocall", "notes")}
        for name in ("phone", "follower"):
            if fields[name] is not None and not NUMBER_RE.fullmatch(str(fields[name])):
                raise _invalid(name)
        if fields["autocall"] not in (None, "0", "1"):
            raise _invalid("autocall")
        ontime = self._ontime(str(fields["ontime"])) if fields["ontime"] else None
        if followup_id is not None:
            existing = self.store.followups.get(followup_id)
            if existing is None:
                raise KaleyraError("E120", "No records found")
            for name in ("phone", "name", "follower", "autocall", "notes"):
                if fields[name] is not None:
                    setattr(existing, name, fields[name])
            if ontime is not None:
                existing.ontime = ontime
            self.state.record(
                VENDOR, "followup_edit", existing.phone, followup_id, {k: v for k, v in fields.items() if v is not None}
            )
            return {"message": "Follow-up updated successfully", "data": {"id": followup_id}}
        for name in ("phone", "name", "follower", "ontime"):
            if fields[name] is None:
                raise _missing(name)
        new_id = str(self.state.ids.next_int("kaleyra.followup", 2351))
        followup = Followup(
            new_id,
            str(fields["phone"]),
            str(fields["name"]),
            str(fields["follower"]),
            float(ontime or 0),
            fields["autocall"] or "0",
            fields["notes"] or "",
        )
        self.store.followups[new_id] = followup
        self.state.record(
            VENDOR,
            "followup_create",
            followup.phone,
            new_id,
            {"follower": followup.follower, "autocall": followup.autocall},
        )
        return {"data": {"id": new_id}}

    def followup_reports(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        start, end = self._day_bounds(params)
        follower, number = _text(params, "follower"), _text(params, "number")
        rows = [
            {
                "id": f.id,
                "phone": f.phone,
                "name": f.name,
                "follower": f.follower,
                "note": f.notes,
                "ontime": clk.fmt(f.ontime, self._tz(), "%d-%m-%Y %I:%M:%S %p"),
            }
            for f in self.store.followups.values()
            if (follower is None or f.follower == follower)
            and (number is None or f.phone == number)
            and (start is None or f.ontime >= start)
            and (end is None or f.ontime < end)
        ]
        return {"data": self._page(rows, params)}

    def monitor(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        if not self.state.config.kaleyra_plugin_active:
            raise KaleyraError("E542", "User Plugin not found or inactive")
        incidents = [dict(i) for i in self.state.config.kaleyra_incidents]
        if not incidents:
            raise KaleyraError("E701", "No incidents found")
        return {"data": {"incidents": incidents}}

    @staticmethod
    def _dialer_message(total: int, processed: int) -> dict[str, Any]:
        return {
            "status": "OK ",
            "message": f"Number(s) added Successfully, Total Records(s) - {total}, Processed Records(s) - {processed}",
        }

    def autodial_add(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        name, number = _text(params, "name"), _text(params, "number")
        if name is None:
            raise _missing("name")
        if number is None:
            raise _missing("number")
        if not NUMBER_RE.fullmatch(number):
            raise _invalid("number")
        meta = params.get("meta")
        self.store.dialer.setdefault(name, []).append({"number": number, "meta": meta})
        self.state.record(VENDOR, "dialer_add", number, name, {"meta": meta})
        return self._dialer_message(1, 1)

    def autodial_import(self, ctx: RequestContext, params: Mapping[str, Any]) -> dict[str, Any]:
        name = _text(ctx.params.query, "name") or _text(params, "name")
        if name is None:
            raise _missing("name")
        payload = self._json_payload(ctx.params)
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, list):
            raise _invalid("data")
        now = self.state.now()
        processed: list[LedgerEntry] = []
        for entry in data[:MAX_IMPORT]:
            number = str(entry.get("number", "")).strip() if isinstance(entry, Mapping) else ""
            if not NUMBER_RE.fullmatch(number):
                continue
            extra = {k: v for k, v in entry.items() if k != "number"}
            self.store.dialer.setdefault(name, []).append({"number": number, **extra})
            processed.append(LedgerEntry(VENDOR, "dialer_add", number, name, extra, now))
        self.state.ledger.record_many(processed)
        return self._dialer_message(len(data), len(processed))
