"""Velip V2 simulator (``{root}/velip/api/v2/<Name>`` and ``<Name>.php``, GET or POST).

The Velip spec documents auth, the envelope and status codes, not every field. The choices made
here (the client must match them; a correction is a one-line change in this module):

Requests
  * Parameters come from a JSON body, a form body (urlencoded or multipart) or the query string;
    the query string wins, then the form, then JSON.
  * Auth: ``Authorization: Bearer <token>``, ``Authorization: <token>``, or ``tsid`` in the
    body/query. ``GetUserID`` needs the permanent token; the ``tsid`` it returns is accepted by
    the other APIs for ``velip_tsid_ttl_seconds`` (60 min) from the same IP.
  * Numbers (``dest``, ``dest2``, datajson ``number``): digits only, 8-15 of them, no ``+``.
  * Dates ``YYYY-MM-DD``, times ``HH:MM:SS``, in Velip's zone (UTC-03:00, ``velip_utc_offset_minutes``).

Responses: always ``{"return": {"status": "OK", "status_code": "0", ...}}``; ``status_code`` is a
string. Ids are strings (``cd_id`` ``"c_88700"``, ``cp_id`` ``"5001"``, ``cdls_id`` ``"s_70001"``,
``tsid`` 32 hex chars); counts and durations are integers; ``active`` is 0/1; ``value`` a float.

  * GetUserID -> ``tsid``, ``tsid_expires`` ("YYYY-MM-DD HH:MM:SS"), ``cdcs_id`` "1001",
    ``cdus_id`` "2001", ``user``, ``aut_send``/``aut_camp``/``aut_sms`` (1).
  * MakeTTSCall -> ``cd_id``, ``ctid`` (``cd_id`` omitted when ``repeat`` schedules the call;
    track it by ``ctid``). ``repeat`` = ``tries|interval_min|until|YYYY-MM-DD HH:MM``; the last
    part is the start. Type 3 calls ``dest`` and ``dest2`` (two ledger "call" entries). Type 2 (DTMF
    confirmation) calls ``dest``; its ``dest2``, optional, is where a confirmed call is transferred
    (checked and kept in the ledger entry as ``transfer_to``; the transfer itself is not simulated).
    Its outcome goes through the outcome model, and what an answering person presses through
    ``velip_dtmf_overrides`` / ``velip_dtmf_confirm_rate`` / ``velip_dtmf_confirm_key`` (see
    :class:`~.state.SimulatorConfig`).
  * MakeSMS -> ``cdls_id``, ``ctid``.
  * CreateCampaign -> ``cp_id``, ``cp_ctid``, ``cp_destinations``. Destinations from ``datajson``
    (a JSON array, or a string holding one; items ``{"number", "name", "codcli", "extra1".."extra3"}``
    or bare numbers), a multipart ``file`` (CSV with or without a header row, ``,`` or ``;``,
    columns number,name,codcli,extra1..3; or a JSON array), ``cdlc_id`` (a list registered in
    ``state.velip.contact_lists``) or a clone of ``cp_id``. The campaign starts at
    ``date_start time_start`` (now if that is past); the daily ``time_start..time_end`` window
    and ``vel`` are stored but do not slow the simulation (``call_seconds``/``call_lines`` do).
    A single bad number rejects the request (203, with ``dest`` naming it). Each destination is a
    ledger ``call`` entry with ``details`` ``{cp_id, cp_ctid, text, content}``: what the person
    hears (the campaign's ``text`` read as given, or its audio ``content``).
  * GetCampaignsList (filters ``cp_id``, ``cp_ctid``, ``name``, ``active``) -> ``campaigns[]``
    with ``cp_id, cp_ctid, name, date_start, date_end, time_start, time_end, created,
    cp_destinations, cp_made, cp_answered, cp_counts {OK, NA, EK, IK, CK, BK}, active, status``;
    ``status`` is ``scheduled`` | ``running`` | ``paused`` | ``finished``.
  * ChangeCampaign (``cp_id`` + ``active`` 0/1, ``name``, dates, times) -> ``cp_id``, ``active``,
    ``cp_status`` (the campaign's ``status`` above; ``status`` itself stays the envelope's "OK").
    A new ``date_start``/``time_start`` moves the start only if no call has started.
  * GetCallStatus -> ``calls[]`` of ``{cd_id, ctid, cp_id, cd_status, dest, date, time, dur, value}``
    in ``cd_id`` order, and ``pagination {"has_more": bool, "next_id": "<cd_id of the last call
    returned>" | ""}``; pass it back as ``last_id`` (``"c_88799"`` or ``"88799"``). ``cd_status`` is
    OK | NA | EK | IK | CK | BK once the call ended and ``PD`` while it is queued or ringing.
    Rows of type-2 calls also carry ``dtmf`` (the keys pressed, text, ``""`` none) and ``confirmed``
    (1 when the confirmation key was pressed, else 0): ``""``/0 until the answered call has ended.
    Filters: ``cd_id``, ``ctid``, ``cp_id``, ``date_start``/``date_end`` (call date), ``maxreg``
    (default 1000, at most 5000). ``velip_list_requests_per_hour`` (200) requests per hour, then
    429 with ``Retry-After`` and ``{"return": {"status": "Rate limit exceeded", "status_code": "429"}}``.
  * Outcomes: answered OK; no answer and busy NA; failed and congestion EK; bad number IK;
    blocked BK (CK is never produced).

Errors (HTTP 400 unless noted): 201 "No text", 202 "Invalid parameter: <name>", 203 "Invalid
number", 220 "Duplicate ctid", 230 "Campaign with same name and date already exists", 240
"Campaign not found", 244 "Duplicate destination" (same ``dest`` within ``velip_httpdup_seconds``);
HTTP 401: 100 "Session ID is not valid", 101 "Session ID expired", 130 "No user or password";
HTTP 404: 404 "API not found".

Webhook: when a call ends and the call's ``rurl`` (or the campaign's, or ``velip_webhook_url``) is
set, a ledger "callback" entry is recorded and, for a loopback URL, a POST is made with
``cd_id, ctid, cp_id, dest, cd_called_status, dur, value, date, time`` (and ``dtmf``,
``confirmed`` for a type-2 call): a JSON body, or a
form-encoded one (every value as text) with ``velip_webhook_format="form"``. Best effort: one try,
no retry (see :mod:`.webhooks`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import clock as clk
from .auth import authorization_token, secrets_equal
from .calls import CallBatch, Outcome, Phase
from .ledger import LedgerEntry
from .render import json_response
from .vendor import RequestContext, VendorSimulator, status_phrase

VENDOR = "velip"
STATUS_CODES: dict[Outcome, str] = {
    Outcome.ANSWERED: "OK",
    Outcome.NO_ANSWER: "NA",
    Outcome.BUSY: "NA",
    Outcome.FAILED: "EK",
    Outcome.CONGESTION: "EK",
    Outcome.BAD_NUMBER: "IK",
    Outcome.BLOCKED: "BK",
}
PENDING_STATUS = "PD"
#: fields of a type-2 (DTMF confirmation) call in GetCallStatus rows and the end-of-call webhook
DTMF_FIELD = "dtmf"
CONFIRMED_FIELD = "confirmed"
ALL_CODES = ("OK", "NA", "EK", "IK", "CK", "BK")
APIS = ("GetUserID", "MakeTTSCall", "MakeSMS", "CreateCampaign", "GetCampaignsList", "ChangeCampaign", "GetCallStatus")
NUMBER_RE = re.compile(r"\d{8,15}")
CTID_RE = re.compile(r"[A-Za-z0-9]{1,15}")
DATE_FMT = "%Y-%m-%d"
TIME_FMT = "%H:%M:%S"
FIRST_CD = 88700
FIRST_CP = 5001
FIRST_SMS = 70001


class VelipError(Exception):
    """A Velip error answer: HTTP status, vendor code, status text, extra fields."""

    def __init__(self, http: int, code: str, status: str, **extra: Any) -> None:
        super().__init__(status)
        self.http, self.code, self.status, self.extra = http, code, status, extra


def _invalid(name: str, why: str = "") -> VelipError:
    return VelipError(400, "202", f"Invalid parameter: {name}" + (f" ({why})" if why else ""))


def envelope(status: str = "OK", code: str = "0", **fields: Any) -> dict[str, Any]:
    """The Velip response envelope."""
    return {"return": {"status": status, "status_code": code, **fields}}


@dataclass
class CallGroup:
    """Calls sharing consecutive ``cd_id`` numbers (one MakeTTSCall, or one campaign).

    ``confirmation`` is set for a ``MakeTTSCall`` type 2 (DTMF confirmation): the keys the person
    presses if they answer, and whether that is the confirmation (decided when the call is placed).
    """

    first_cd: int
    batch: CallBatch
    ctid: str = ""
    cp_id: str = ""
    rurl: str | None = None
    confirmation: tuple[str, int] | None = None

    def cd_id(self, index: int) -> str:
        return f"c_{self.first_cd + index}"


@dataclass
class Campaign:
    """A Velip campaign."""

    cp_id: str
    cp_ctid: str
    name: str
    date_start: str
    date_end: str
    time_start: str
    time_end: str
    created: float
    group: CallGroup
    audio: dict[str, Any]
    records: list[dict[str, Any]]
    rurl: str | None = None
    active: int = 1


@dataclass
class VelipStore:
    """Velip data of one simulator state."""

    tsids: dict[str, tuple[float, str]] = field(default_factory=dict)
    call_ctids: set[str] = field(default_factory=set)
    sms_ctids: set[str] = field(default_factory=set)
    last_dest: dict[str, float] = field(default_factory=dict)
    list_requests: deque[float] = field(default_factory=deque)
    groups: list[CallGroup] = field(default_factory=list)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    sms: list[dict[str, Any]] = field(default_factory=list)
    contact_lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    return text or None


def _int(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    text = _text(params, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _invalid(name) from None
    if not low <= value <= high:
        raise _invalid(name, f"{low}-{high}")
    return value


def queue_webhook(
    state: Any, url: str, payload: Mapping[str, Any], *, duplicate_rate: float | None = None, delay: float = 0.0
) -> bool:
    """Queue one end-of-call webhook, JSON or form-encoded as ``velip_webhook_format`` says."""
    if state.config.velip_webhook_format == "form":
        form = {k: "" if v is None else str(v) for k, v in payload.items()}
        body: dict[str, Any] = {"data": form}
    else:
        body = {"json": dict(payload)}
    return bool(
        state.webhooks.deliver(
            "POST",
            url,
            **body,
            vendor=VENDOR,
            kind="call-ended",
            event_id=str(payload.get("cd_id", "")),
            duplicate_rate=duplicate_rate,
            delay=delay,
        )
    )


class VelipSimulator(VendorSimulator):
    """Serves the Velip V2 API."""

    name = VENDOR

    def routes(self) -> list[BaseRoute]:
        return [Route("/api/v2/{api}", self.endpoint, methods=["GET", "POST"])]

    def fault_response(self, status: int, ctx: RequestContext) -> Response:
        return json_response(envelope(status_phrase(status), str(status)), status)

    async def endpoint(self, request: Request) -> Response:
        api = request.path_params["api"]
        if api.lower().endswith(".php"):
            api = api[:-4]
        return await self.handle(request, api, self.act)

    # -- dispatch ---------------------------------------------------------------------------
    @property
    def store(self) -> VelipStore:
        return self.state.velip

    def act(self, ctx: RequestContext) -> Response:
        handlers = {
            "GetUserID": self.get_user_id,
            "MakeTTSCall": self.make_tts_call,
            "MakeSMS": self.make_sms,
            "CreateCampaign": self.create_campaign,
            "GetCampaignsList": self.get_campaigns_list,
            "ChangeCampaign": self.change_campaign,
            "GetCallStatus": self.get_call_status,
        }
        lookup = {name.lower(): handler for name, handler in handlers.items()}
        handler = lookup.get(ctx.route.lower())
        if handler is None:
            return json_response(envelope("API not found", "404"), 404)
        params = ctx.params.merged()
        try:
            self.authenticate(ctx, params, permanent_only=handler == self.get_user_id)
            if ctx.params.json_error:
                raise _invalid("body", "not valid JSON")
            return handler(ctx, params)
        except VelipError as err:
            headers = err.extra.pop("_headers", None)
            return json_response(envelope(err.status, err.code, **err.extra), err.http, headers)

    def authenticate(self, ctx: RequestContext, params: Mapping[str, Any], *, permanent_only: bool) -> None:
        token = authorization_token(ctx.headers.get("authorization")) or _text(params, "tsid")
        if token is None:
            raise VelipError(401, "130", "No user or password")
        if secrets_equal(token, self.state.config.velip_token):
            return
        known = None if permanent_only else self.store.tsids.get(token)
        if known is None:
            raise VelipError(401, "100", "Session ID is not valid")
        created, ip = known
        if ip != ctx.client_host:
            raise VelipError(401, "100", "Session ID is not valid")
        if self.state.now() - created > self.state.config.velip_tsid_ttl_seconds:
            raise VelipError(401, "101", "Session ID expired")

    # -- helpers ----------------------------------------------------------------------------
    def _fmt(self, ts: float, pattern: str) -> str:
        return clk.fmt(ts, self.state.config.velip_utc_offset_minutes, pattern)

    def _local_ts(self, date: str, time_of_day: str) -> float | None:
        return clk.parse_local(
            f"{date} {time_of_day}", ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"], self.state.config.velip_utc_offset_minutes
        )

    def _number(self, value: str | None, name: str = "dest") -> str:
        if value is None or not NUMBER_RE.fullmatch(value):
            raise VelipError(400, "203", "Invalid number", **{name: value or ""})
        return value

    def _ctid(self, params: Mapping[str, Any], used: set[str]) -> str:
        ctid = _text(params, "ctid") or ""
        if ctid and not CTID_RE.fullmatch(ctid):
            raise _invalid("ctid", "up to 15 letters or digits")
        if ctid and self.state.config.velip_unique_ctid and ctid in used:
            raise VelipError(400, "220", "Duplicate ctid", ctid=ctid)
        return ctid

    def _new_group(
        self,
        numbers: list[str],
        *,
        start_at: float | None,
        ctid: str = "",
        cp_id: str = "",
        rurl: str | None = None,
        active: bool = True,
        overrides: dict[str, str] | None = None,
        confirmation: tuple[str, int] | None = None,
    ) -> CallGroup:
        first = self.state.ids.reserve("velip.cd", len(numbers), FIRST_CD)
        batch = self.state.new_batch(
            cp_id or f"c_{first}", numbers, start_at=start_at, active=active, overrides=overrides
        )
        group = CallGroup(first, batch, ctid, cp_id, rurl, confirmation)
        self.store.groups.append(group)
        url = rurl or self.state.config.velip_webhook_url
        if url:
            self.state.webhooks.watch(batch, lambda index: self._call_ended(group, index, url))
        return group

    def _call_record(self, group: CallGroup, index: int, now: float) -> dict[str, Any]:
        batch = group.batch
        done = batch.phase(index, now) is Phase.DONE
        dur = batch.talk_seconds(index) if done else 0
        started = batch.started_at(index)
        record: dict[str, Any] = {
            "cd_id": group.cd_id(index),
            "ctid": group.ctid,
            "cp_id": group.cp_id,
            "cd_status": STATUS_CODES[batch.outcome(index)] if done else PENDING_STATUS,
            "dest": batch.numbers[index],
            "date": self._fmt(started, DATE_FMT),
            "time": self._fmt(started, TIME_FMT),
            "dur": dur,
            "value": round(0.15 * math.ceil(dur / 60), 2) if dur else 0.0,
        }
        if group.confirmation is not None:  # type 2: what was pressed, once the answered call has ended
            answered = done and batch.outcome(index) is Outcome.ANSWERED
            keys, confirmed = group.confirmation if answered else ("", 0)
            record[DTMF_FIELD], record[CONFIRMED_FIELD] = keys, confirmed
        return record

    def _confirmation(self, dest: str) -> tuple[dict[str, str], tuple[str, int]]:
        """For a type-2 call to ``dest``: the outcome it is forced to (``velip_dtmf_overrides``), and
        ``(keys pressed, confirmed)`` should the person answer."""
        config = self.state.config
        key = config.velip_dtmf_confirm_key
        behaviour = config.velip_dtmf_overrides.get(dest)
        if behaviour is None:
            presses = self.state.outcome_model().confirms(dest, config.velip_dtmf_confirm_rate)
            return {}, (key, 1) if presses else ("", 0)
        if behaviour == "confirm":
            return {dest: Outcome.ANSWERED.value}, (key, 1)
        if behaviour == "no_key":
            return {dest: Outcome.ANSWERED.value}, ("", 0)
        if behaviour in {o.value for o in Outcome}:
            return {dest: behaviour}, ("", 0)
        return {dest: Outcome.ANSWERED.value}, (behaviour, 1 if behaviour == key else 0)  # keys

    def _call_ended(self, group: CallGroup, index: int, url: str) -> None:
        record = self._call_record(group, index, self.state.now())
        payload = {k: v for k, v in record.items() if k != "cd_status"} | {"cd_called_status": record["cd_status"]}
        self.state.record(VENDOR, "callback", record["dest"], record["cd_id"], {"url": url, "payload": payload})
        queue_webhook(self.state, url, payload)

    # -- APIs -------------------------------------------------------------------------------
    def get_user_id(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        now = self.state.now()
        tsid = self.state.ids.token("velip.tsid", 32)
        self.store.tsids[tsid] = (now, ctx.client_host)
        expires = self._fmt(now + self.state.config.velip_tsid_ttl_seconds, "%Y-%m-%d %H:%M:%S")
        return json_response(
            envelope(
                tsid=tsid,
                tsid_expires=expires,
                cdcs_id="1001",
                cdus_id="2001",
                user="simulator",
                aut_send=1,
                aut_camp=1,
                aut_sms=1,
            )
        )

    def make_tts_call(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        now = self.state.now()
        dest = self._number(_text(params, "dest"))
        call_type = _int(params, "type", 0, 0, 3)
        if call_type == 1:
            raise _invalid("type", "0, 2 or 3")
        dest2 = None
        if call_type == 3 or (call_type == 2 and _text(params, "dest2")):  # type 2: transferred after confirming
            dest2 = self._number(_text(params, "dest2"), "dest2")
        text, content = _text(params, "text"), _text(params, "content")
        if not text and not content:
            raise VelipError(400, "201", "No text")
        ctid = self._ctid(params, self.store.call_ctids)
        window = self.state.config.velip_httpdup_seconds
        last = self.store.last_dest.get(dest)
        if window > 0 and last is not None and now - last < window:
            raise VelipError(400, "244", "Duplicate destination", dest=dest)
        start_at = None
        repeat = _text(params, "repeat")
        if repeat:
            parts = repeat.split("|")
            start_at = self._local_ts(*parts[3].split(" ", 1)) if len(parts) == 4 and " " in parts[3] else None
            if start_at is None or not parts[0].isdigit() or not parts[1].isdigit():
                raise _invalid("repeat", "tries|interval_min|until|YYYY-MM-DD HH:MM")
        numbers = [dest] + ([dest2] if dest2 and call_type == 3 else [])
        overrides, confirmation = self._confirmation(dest) if call_type == 2 else ({}, None)
        group = self._new_group(
            [dest],
            start_at=start_at,
            ctid=ctid,
            rurl=_text(params, "rurl"),
            overrides=overrides,
            confirmation=confirmation,
        )
        if ctid:
            self.store.call_ctids.add(ctid)
        self.store.last_dest[dest] = now
        cd_id = group.cd_id(0)
        details = {
            "type": call_type,
            "ctid": ctid,
            "text": text,
            "content": content,
            "voice": _text(params, "voice"),
            "scheduled": repeat,
        }
        if call_type == 2 and dest2:
            details["transfer_to"] = dest2  # not simulated: no second leg is dialled
        for leg, number in enumerate(numbers, start=1):
            self.state.record(VENDOR, "call", number, cd_id, details | {"leg": leg})
        sms_text = _text(params, "sms_text")
        if sms_text and _text(params, "sms_action") not in (None, "0"):
            self.state.record(
                VENDOR, "sms", dest, cd_id, {"message": sms_text, "sms_action": _text(params, "sms_action")}
            )
        fields: dict[str, Any] = {"ctid": ctid}
        if not repeat:
            fields = {"cd_id": cd_id, **fields}
        return json_response(envelope(**fields))

    def make_sms(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        dest = self._number(_text(params, "dest"))
        message = _text(params, "message")
        if not message:
            raise VelipError(400, "201", "No text")
        ctid = self._ctid(params, self.store.sms_ctids)
        if ctid:
            self.store.sms_ctids.add(ctid)
        cdls_id = f"s_{self.state.ids.next_int('velip.sms', FIRST_SMS)}"
        self.store.sms.append(
            {"cdls_id": cdls_id, "dest": dest, "message": message, "ctid": ctid, "at": self.state.now()}
        )
        self.state.record(VENDOR, "sms", dest, cdls_id, {"message": message, "ctid": ctid})
        return json_response(envelope(cdls_id=cdls_id, ctid=ctid))

    def _destinations(self, ctx: RequestContext, params: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        raw: Any = params.get("datajson")
        upload = ctx.params.files.get("file")
        if raw is None and upload is not None:
            return self._parse_file(upload.filename, upload.data)
        if raw is None and _text(params, "cdlc_id"):
            stored = self.store.contact_lists.get(str(_text(params, "cdlc_id")))
            if stored is None:
                raise _invalid("cdlc_id", "unknown list")
            return [dict(r) for r in stored]
        if raw is None:
            return None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise _invalid("datajson", "not a JSON array") from None
        if not isinstance(raw, list):
            raise _invalid("datajson", "not a JSON array")
        return [self._record(item) for item in raw]

    @staticmethod
    def _record(item: Any) -> dict[str, Any]:
        if isinstance(item, Mapping):
            record = {str(k): v for k, v in item.items()}
            for alias in ("dest", "phone", "telefone"):
                if "number" not in record and alias in record:
                    record["number"] = record[alias]
            record["number"] = "" if record.get("number") is None else str(record["number"]).strip()
            return record
        return {"number": str(item).strip()}

    def _parse_file(self, filename: str, data: bytes) -> list[dict[str, Any]]:
        text = data.decode("utf-8-sig", errors="replace")
        if filename.lower().endswith(".json") or text.lstrip()[:1] in ("[", "{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise _invalid("file", "not valid JSON") from None
            if isinstance(parsed, Mapping):
                parsed = parsed.get("datajson", parsed.get("data", []))
            if not isinstance(parsed, list):
                raise _invalid("file", "not a JSON array")
            return [self._record(item) for item in parsed]
        delimiter = ";" if text.count(";") > text.count(",") else ","
        rows = [
            row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row and any(c.strip() for c in row)
        ]
        columns = ["number", "name", "codcli", "extra1", "extra2", "extra3"]
        if rows and not rows[0][0].strip().lstrip("+").isdigit():
            header = [c.strip().lower() for c in rows.pop(0)]
            columns = ["number" if c in ("dest", "phone", "telefone") else c for c in header]
        return [self._record(dict(zip(columns, (c.strip() for c in row), strict=False))) for row in rows]

    def create_campaign(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        now = self.state.now()
        name = _text(params, "name")
        if not name or len(name) > 50:
            raise _invalid("name", "1-50 characters")
        source: Campaign | None = None
        records = self._destinations(ctx, params)
        if records is None and _text(params, "cp_id"):
            source = self.store.campaigns.get(str(_text(params, "cp_id")))
            if source is None:
                raise VelipError(400, "240", "Campaign not found", cp_id=_text(params, "cp_id"))
            records = [dict(r) for r in source.records]
        if not records:
            raise _invalid("datajson", "no destinations")
        if len(records) > self.state.config.velip_max_destinations:
            raise _invalid("datajson", f"at most {self.state.config.velip_max_destinations} destinations")
        for record in records:
            self._number(record["number"] or None)
        audio = {k: _text(params, k) for k in ("text", "voice", "content")}
        if not audio["text"] and not audio["content"]:
            if source is None:
                raise VelipError(400, "201", "No text")
            audio = dict(source.audio)
        today = self._fmt(now, DATE_FMT)
        date_start = _text(params, "date_start") or (source.date_start if source else today)
        date_end = _text(params, "date_end") or date_start
        time_start = _text(params, "time_start") or (source.time_start if source else "00:00:00")
        time_end = _text(params, "time_end") or (source.time_end if source else "23:59:59")
        start_at = self._local_ts(date_start, time_start)
        if start_at is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_start):
            raise _invalid("date_start" if self._local_ts(date_start, "00:00:00") is None else "time_start")
        if self._local_ts(date_end, time_end) is None:
            raise _invalid("date_end" if self._local_ts(date_end, "00:00:00") is None else "time_end")
        if date_end < date_start:
            raise _invalid("date_end", "before date_start")
        vel = _text(params, "vel")
        if vel is not None and vel != "max" and not (vel.isdigit() and 1 <= int(vel) <= 100):
            raise _invalid("vel", "1-100 or max")
        resends = _int(params, "resends", 0, 0, 3)
        time_resends = _int(params, "time_resends", 0, 0, 24 * 60)
        cp_ctid = _text(params, "cp_ctid") or ""
        if len(cp_ctid) > 50:
            raise _invalid("cp_ctid", "at most 50 characters")
        for existing in self.store.campaigns.values():
            if (
                existing.name == name
                and existing.date_start == date_start
                and existing.active
                and not existing.group.batch.finished(now)
            ):
                raise VelipError(400, "230", "Campaign with same name and date already exists", cp_id=existing.cp_id)
        cp_id = str(self.state.ids.next_int("velip.cp", FIRST_CP))
        rurl = _text(params, "rurl")
        numbers = [r["number"] for r in records]
        group = self._new_group(numbers, start_at=max(start_at, now), cp_id=cp_id, rurl=rurl)
        campaign = Campaign(
            cp_id, cp_ctid, name, date_start, date_end, time_start, time_end, now, group, audio, records, rurl
        )
        self.store.campaigns[cp_id] = campaign
        settings = {
            "name": name,
            "cp_ctid": cp_ctid,
            "destinations": len(numbers),
            "vel": vel,
            "resends": resends,
            "time_resends": time_resends,
            **audio,
        }
        self.state.record(VENDOR, "campaign_create", "", cp_id, settings)
        # what each destination hears: the campaign's text read as given (no per-destination substitution
        # is documented), or its audio ``content``
        heard = {"text": audio["text"], "content": audio["content"]}
        shared = LedgerEntry(VENDOR, "call", "", cp_id, {"cp_id": cp_id, "cp_ctid": cp_ctid, **heard}, now).details
        self.state.ledger.record_many(
            LedgerEntry(VENDOR, "call", n, group.cd_id(i), shared, now) for i, n in enumerate(numbers)
        )
        return json_response(envelope(cp_id=cp_id, cp_ctid=cp_ctid, cp_destinations=len(numbers)))

    def _campaign_view(self, campaign: Campaign, now: float) -> dict[str, Any]:
        batch = campaign.group.batch
        counts = {code: 0 for code in ALL_CODES}
        for outcome, n in batch.counts(now).items():
            counts[STATUS_CODES[outcome]] += n
        if not campaign.active:
            status = "paused"
        elif batch.finished(now):
            status = "finished"
        elif not batch.started(now):
            status = "scheduled"
        else:
            status = "running"
        return {
            "cp_id": campaign.cp_id,
            "cp_ctid": campaign.cp_ctid,
            "name": campaign.name,
            "date_start": campaign.date_start,
            "date_end": campaign.date_end,
            "time_start": campaign.time_start,
            "time_end": campaign.time_end,
            "created": self._fmt(campaign.created, "%Y-%m-%d %H:%M:%S"),
            "cp_destinations": len(batch),
            "cp_made": batch.done_count(now),
            "cp_answered": counts["OK"],
            "cp_counts": counts,
            "active": campaign.active,
            "status": status,
        }

    def get_campaigns_list(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        now = self.state.now()
        wanted = {k: _text(params, k) for k in ("cp_id", "cp_ctid", "name", "active")}
        campaigns = [
            self._campaign_view(c, now)
            for c in self.store.campaigns.values()
            if all(v is None or str(getattr(c, k)) == v for k, v in wanted.items())
        ]
        return json_response(envelope(campaigns=campaigns))

    def change_campaign(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        now = self.state.now()
        cp_id = _text(params, "cp_id")
        if not cp_id:
            raise _invalid("cp_id")
        campaign = self.store.campaigns.get(cp_id)
        if campaign is None:
            raise VelipError(400, "240", "Campaign not found", cp_id=cp_id)
        changes: dict[str, Any] = {}
        active = _text(params, "active")
        if active is not None:
            if active not in ("0", "1"):
                raise _invalid("active", "0 or 1")
            campaign.active = int(active)
            (campaign.group.batch.resume if campaign.active else campaign.group.batch.pause)(now)
            changes["active"] = campaign.active
        name = _text(params, "name")
        if name is not None:
            if len(name) > 50:
                raise _invalid("name", "1-50 characters")
            campaign.name = changes["name"] = name
        for key in ("date_start", "time_start", "date_end", "time_end"):
            value = _text(params, key)
            if value is not None:
                date = value if key.startswith("date") else "2000-01-01"
                time_of_day = value if key.startswith("time") else "00:00:00"
                if self._local_ts(date, time_of_day) is None:
                    raise _invalid(key)
                setattr(campaign, key, value)
                changes[key] = value
        if "date_start" in changes or "time_start" in changes:
            start_at = self._local_ts(campaign.date_start, campaign.time_start)
            if start_at is not None:
                campaign.group.batch.reschedule(max(start_at, now), now)
        self.state.record(VENDOR, "campaign_change", "", cp_id, changes)
        view = self._campaign_view(campaign, now)
        return json_response(envelope(cp_id=cp_id, active=view["active"], cp_status=view["status"]))

    def _rate_limit(self, api: str) -> None:
        config = self.state.config
        if api not in config.velip_rate_limited_apis or config.velip_list_requests_per_hour <= 0:
            return
        now = self.state.now()
        window = self.store.list_requests
        while window and window[0] <= now - 3600:
            window.popleft()
        if len(window) >= config.velip_list_requests_per_hour:
            wait = max(1, math.ceil(window[0] + 3600 - now))
            raise VelipError(429, "429", "Rate limit exceeded", _headers={"Retry-After": str(wait)})
        window.append(now)

    def get_call_status(self, ctx: RequestContext, params: Mapping[str, Any]) -> Response:
        self._rate_limit("GetCallStatus")
        now = self.state.now()
        maxreg = min(_int(params, "maxreg", 1000, 1, 1_000_000), 5000)
        last = (_text(params, "last_id") or "").removeprefix("c_")
        if last and not last.isdigit():
            raise _invalid("last_id")
        last_id = int(last) if last else FIRST_CD - 1
        cd_id, ctid, cp_id = _text(params, "cd_id"), _text(params, "ctid"), _text(params, "cp_id")
        date_start, date_end = _text(params, "date_start"), _text(params, "date_end")
        for key, value in (("date_start", date_start), ("date_end", date_end)):
            if value is not None and self._local_ts(value, "00:00:00") is None:
                raise _invalid(key)
        wanted_cd = int(cd_id.removeprefix("c_")) if cd_id and cd_id.removeprefix("c_").isdigit() else None
        if cd_id and wanted_cd is None:
            raise _invalid("cd_id")
        calls: list[dict[str, Any]] = []
        has_more = False
        for group in self.store.groups:
            if (ctid is not None and group.ctid != ctid) or (cp_id is not None and group.cp_id != cp_id):
                continue
            start = max(0, last_id - group.first_cd + 1)
            stop = len(group.batch)
            if wanted_cd is not None:
                if not group.first_cd <= wanted_cd < group.first_cd + stop:
                    continue
                start, stop = max(start, wanted_cd - group.first_cd), min(stop, wanted_cd - group.first_cd + 1)
            for index in range(start, stop):
                if date_start or date_end:
                    day = self._fmt(group.batch.started_at(index), DATE_FMT)
                    if (date_start and day < date_start) or (date_end and day > date_end):
                        continue
                if len(calls) >= maxreg:
                    has_more = True
                    break
                calls.append(self._call_record(group, index, now))
            if has_more:
                break
        pagination = {"has_more": has_more, "next_id": calls[-1]["cd_id"] if calls else ""}
        return json_response(envelope(calls=calls, pagination=pagination))
