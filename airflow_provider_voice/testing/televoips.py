"""TeleVoIPs simulator (``{root}/televoips``): CDR reports and SMS messaging.

Reports (header ``x-api-key`` = the reports key):
  * ``GET /reports/cdrs``: the first request of a day answers 202 ``requested``, then 202
    ``processing`` until ``cdr_compile_seconds`` have passed on the clock, then 201 ``complete``.
    The report covers the previous day (``televoips_utc_offset_minutes``, UTC by default); its id
    is derived from the seed and the day, and it is never recreated. Any query parameter is
    rejected with the spec's 400 body (the endpoint takes none). Missing or wrong key: the spec's
    403 body ``'Access Denied'``.
  * ``GET /reports/cdrs/{id}/cdrs_<yyyy-mm-dd>.csv``: the CSV, generated on the fly in ~64 KiB
    chunks (``cdr_rows`` rows, or about ``cdr_target_bytes`` bytes; rows of
    ``state.televoips.cdr_records`` first), deterministic by seed and day. ``cdr_bad_line`` puts a
    non-integer duration on that file line (the header is line 1). Size-targeted files cycle the
    random part of rows through a pool of 4096 generated rows (ids stay unique, calldate
    increases) so 1 GB streams fast. ``state.televoips.cdr_abort_after_bytes`` resets the
    connection after that many body bytes (a network drop mid-download). No key: 403
    ``{"message": "Forbidden"}``; wrong key: 401 ``{"message": "Unauthorized"}``; unknown or not
    yet complete report: 404 ``{"message": "Not Found"}``.

Messaging (header ``Authorization`` = the raw messaging key; ``Bearer`` is not accepted):
  * ``POST /messages`` (form ``from``, ``to``, ``content``): ``from`` must be an owned number
    (``televoips_numbers``), ``to`` 10-15 digits and not unsubscribed, ``content`` non-empty;
    otherwise 400 ``{"message": "Unable to send message"}``. Success: 200 ``{"uuid": <28 chars>}``.
    A recipient whose generic outcome is ``blocked`` (seeded, or ``outcome_overrides``) replies
    ``STOP``: an inbound message from them appears one second later in ``GET /messages`` (the
    simulator does not unsubscribe them: that is the client's ``POST /unsubscribe``).
  * ``GET /messages?start=&end=`` (``yyyy-mm-dd HH:mm:ss``; last 90 days when neither is given):
    the spec's list shape; a bad date answers 400 ``{"message": "Invalid date"}``.
  * ``GET /messages/{id}``: a one-element list, or 404 ``{"message": "Not Found"}``.
  * ``POST /unsubscribe`` (form ``from`` = the person, ``to`` = an owned number): 200 with an
    empty body; ``to`` not owned: 400 with the spec's message. An unsubscribed number can no longer
    be messaged from any owned number.
  Missing or wrong key: 401 ``{"message": "Unauthorized"}``.

Webhooks (JSON POSTs in the spec's shapes, to loopback URLs only, with the credentials of
``televoips_webhook_auth``: ``{"type": "basic", "username", "password"}`` sends
``Authorization: Basic <base64>``, ``{"type": "api_key", "header", "value"}`` sends that header;
retried like the vendor until a 200, see :mod:`.webhooks`):
  * ``televoips_webhook_url``: after each accepted ``POST /messages``, ``message-delivered``, or
    ``message-failed`` with ``errorCode``/``description`` when the recipient's generic outcome is
    ``bad_number`` (4720 "invalid destination"), ``failed`` (4750 "destination rejected
    message") or ``congestion`` (5600 "destination carrier service unavailable"); every other
    outcome is delivered (``blocked`` too: that person then replies STOP). ``id`` is the message
    uuid, ``to`` ``[recipient digits]``, ``from`` the owned number, ``text`` ``""`` and ``media``
    ``[]`` as in the spec's examples, ``segmentCount`` from the content (GSM-7: 160 characters, or
    153 per part; otherwise 70, or 67 per part). Each inbound message (a STOP reply, or one made
    with ``POST /_sim/televoips/inbound``) is sent as ``message-received`` (``direction``
    ``inbound``, its ``text``, ``media`` ``[]``). Each is also a ledger "callback" entry.
  * ``televoips_cdr_webhook_url``: a JSON array of CDR objects (the spec's keys, string values);
    the simulator places no TeleVoIPs calls, so these come from ``POST /_sim/webhooks/emit``.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from . import clock as clk
from .auth import secrets_equal
from .calls import Outcome, digits
from .faults import ABORT_EXTENSION
from .ids import LOWER_ALNUM
from .render import json_response, raw_response
from .vendor import RequestContext, VendorSimulator, status_phrase

VENDOR = "televoips"
ACCESS_DENIED = "'Access Denied'"
PROBLEM = "'There was a problem processing your request.'"
UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}
NOT_FOUND = {"message": "Not Found"}
UNABLE_TO_SEND = {"message": "Unable to send message"}
NOT_OWNER = {"message": "You do not own the number you are trying to unsubscribe from"}
CDR_HEADER = (
    "id,calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,billsec,disposition,"
    "amaflags,accountcode,uniqueid,did,recordingfile,cnum,cnam,outbound_cnum,outbound_cnam,dst_cnam"
).split(",")
DISPOSITIONS = (("ANSWERED", 0.62), ("NO ANSWER", 0.2), ("BUSY", 0.09), ("FAILED", 0.05), ("CONGESTION", 0.04))
MESSAGE_TIME = "%Y-%m-%d %H:%M:%S"
NINETY_DAYS = 90 * 86400
NAMES = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy")
#: generic outcomes that make an outbound message fail, with the webhook's errorCode and description
SMS_FAILURES: dict[Outcome, tuple[int, str]] = {
    Outcome.BAD_NUMBER: (4720, "invalid destination"),
    Outcome.FAILED: (4750, "destination rejected message"),
    Outcome.CONGESTION: (5600, "destination carrier service unavailable"),
}
#: keys of a CDR webhook object, in the spec's order
CDR_WEBHOOK_KEYS = (
    "calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,billsec,disposition,amaflags,"
    "accountcode,uniqueid,userfield,did,recordingfile,cnum,cnam,outbound_cnum,outbound_cnam,dst_cnam"
).split(",")
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def segment_count(text: str) -> int:
    """SMS parts ``text`` takes: GSM-7 (extension characters count twice) 160 / 153 per part, else 70 / 67."""
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text):
        units, single, part = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text), 160, 153
    else:
        units, single, part = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text), 70, 67
    return 1 if units <= single else -(-units // part)


def message_event(
    kind: str,
    message_id: str,
    time: str,
    to: str,
    sender: str,
    *,
    text: str = "",
    segments: int = 1,
    error: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """A messaging webhook body in the spec's shape (``kind``: ``message-received`` | ``-delivered`` | ``-failed``)."""
    body: dict[str, Any] = {
        "type": kind,
        "id": message_id,
        "time": time,
        "to": [digits(to)],
        "from": digits(sender),
        "text": text,
        "media": [],
        "direction": "inbound" if kind == "message-received" else "outbound",
        "segmentCount": segments,
    }
    if error is not None:
        body["errorCode"], body["description"] = error
    return body


def cdr_event(row: list[str]) -> dict[str, str]:
    """A CDR webhook object (the spec's keys) from a generated CSV row (``CDR_HEADER`` order)."""
    values = dict(zip(CDR_HEADER, row, strict=True))
    return {key: values.get(key, "") for key in CDR_WEBHOOK_KEYS}


def cdr_events(seed: int | str, first: int, count: int, now: float, offset_minutes: int) -> list[dict[str, str]]:
    """``count`` CDR webhook objects with distinct ``uniqueid`` (``<epoch>.<first + i + 1>``), seeded."""
    rng = random.Random(f"{seed}|cdr-webhook|{first}")
    stamp = int(now)
    calldate = clk.fmt(now, offset_minutes, MESSAGE_TIME)
    return [cdr_event(_cdr_row(rng, first + i, calldate, stamp)) for i in range(count)]


def webhook_headers(auth: Mapping[str, str] | None) -> dict[str, str]:
    """The request headers carrying ``televoips_webhook_auth`` (none when it is None)."""
    if not auth:
        return {}
    if auth.get("type") == "basic":
        token = base64.b64encode(f"{auth.get('username', '')}:{auth.get('password', '')}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    if auth.get("type") == "api_key" and auth.get("header"):
        return {str(auth["header"]): str(auth.get("value", ""))}
    return {}


def queue_webhook(
    state: Any,
    url: str | None,
    kind: str,
    body: Any,
    event_id: str,
    *,
    duplicate_rate: float | None = None,
    delay: float = 0.0,
) -> bool:
    """Queue one TeleVoIPs webhook (JSON POST with the configured credentials); whether it was queued."""
    if not url:
        return False
    return bool(
        state.webhooks.deliver(
            "POST",
            url,
            json=body,
            headers=webhook_headers(state.config.televoips_webhook_auth),
            vendor=VENDOR,
            kind=kind,
            event_id=event_id,
            duplicate_rate=duplicate_rate,
            delay=delay,
        )
    )


def receive_inbound(state: Any, person: str, owned: str, text: str, at: float) -> tuple[str, bool]:
    """An inbound message from ``person`` to the owned number ``owned`` at ``at`` (simulator time).

    It appears in ``GET /messages`` and is sent as a ``message-received`` webhook (when
    ``televoips_webhook_url`` is set). Call with ``state.lock`` held. Returns the message id and
    whether a webhook was queued.
    """
    config = state.config
    reply_id = state.ids.token("televoips.message", 28, LOWER_ALNUM)
    numbers = sorted(config.televoips_numbers)
    number_id = str(15125 + numbers.index(owned)) if owned in numbers else None
    when = clk.fmt(at, config.televoips_utc_offset_minutes, MESSAGE_TIME)
    state.televoips.add_message(
        {
            "id": reply_id,
            "user_id": None,
            "number_id": number_id,
            "direction": "inbound",
            "to": owned,
            "from": person,
            "content": text,
            "time": when,
            "read": "0",
            "Media": [],
        },
        at,
    )
    url = config.televoips_webhook_url
    if not url:
        return reply_id, False
    body = message_event("message-received", reply_id, when, owned, person, text=text, segments=segment_count(text))
    state.record(VENDOR, "callback", person, reply_id, {"url": url, "payload": body})
    return reply_id, queue_webhook(state, url, "message-received", body, reply_id)


@dataclass
class CdrReport:
    """One day's CDR report."""

    id: str
    day: str
    requested_at: float


@dataclass
class TeleVoipsStore:
    """TeleVoIPs data of one simulator state.

    ``cdr_records``: rows (dicts keyed by CSV column) emitted before the generated ones.
    ``messages``: message dicts in the spec's shape plus an ``_at`` POSIX time.
    """

    reports: dict[str, CdrReport] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    cdr_records: list[dict[str, Any]] = field(default_factory=list)
    #: when set, CSV downloads are cut (TCP reset mid-body) after this many bytes: a network drop
    cdr_abort_after_bytes: int | None = None

    def add_message(self, message: Mapping[str, Any], at: float) -> None:
        """Add a message (e.g. an inbound one) in the spec's shape."""
        self.messages.append({**message, "_at": at})


@dataclass(frozen=True)
class CdrSpec:
    """What one CSV download contains (a snapshot of the settings at request time)."""

    seed: int
    day: str
    day_start: float
    rows: int
    target_bytes: int | None
    bad_line: int | None
    chunk_bytes: int
    records: tuple[Mapping[str, Any], ...] = ()
    #: cut the connection (TCP reset, no end of body) after this many bytes (``state.televoips.cdr_abort_after_bytes``)
    abort_after_bytes: int | None = None


_DISPOSITION_TABLE = [name for name, weight in DISPOSITIONS for _ in range(round(weight * 100))]


def _cdr_row(rng: random.Random, index: int, calldate: str, stamp: int) -> list[str]:
    """One generated CDR row (all randomness from one 128-bit draw: fast enough for 1 GB)."""
    bits = rng.getrandbits(128)
    disposition = _DISPOSITION_TABLE[(bits & 0xFFFF) % len(_DISPOSITION_TABLE)]
    bits >>= 16
    src = f"1{1_000_000_000 + bits % 9_000_000_000}"
    bits //= 9_000_000_000
    ext = str(200 + bits % 100)
    bits //= 100
    inbound = bits & 1
    bits >>= 1
    dst = ext if inbound else f"1{1_000_000_000 + bits % 9_000_000_000}"
    bits //= 9_000_000_000
    name = NAMES[bits % len(NAMES)]
    bits //= len(NAMES)
    duration = 5 + bits % 895
    bits //= 895
    billsec = 1 + bits % max(1, duration - 1) if disposition == "ANSWERED" else 0
    uid = f"{stamp}.{index + 1}"
    tag = f"{bits & 0xFFFFFFFF:08x}"
    return [
        uid,
        calldate,
        f'"{name}" <{src}>',
        src,
        dst,
        "ext-local" if inbound else "from-internal",
        f"PJSIP/trunk-{tag}",
        f"PJSIP/{ext}-{tag[::-1]}" if disposition == "ANSWERED" else "",
        "Dial",
        f"PJSIP/{ext}/sip:{ext}@10.0.{stamp % 256}.{index % 256}:5060,30",
        str(duration),
        str(billsec),
        disposition,
        "3",
        "",
        uid,
        src[::-1] if inbound else "",
        f"external-{ext}-{src}-{calldate[:10].replace('-', '')}-{uid}.wav"
        if inbound and disposition != "ANSWERED"
        else "",
        src,
        name,
        "",
        "",
        "",
    ]


#: rows of the pool the size-targeted (``cdr_target_bytes``) generator cycles through
_POOL_ROWS = 4096
_UID_MARK = "\x1fuid\x1f"


def _row_pool(rng: random.Random, spec: CdrSpec) -> list[list[str]]:
    """``_POOL_ROWS`` generated rows, each as the CSV text after ``id,calldate,`` split on its uid."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    pool = []
    stamp = int(spec.day_start)
    for index in range(_POOL_ROWS):
        row = _cdr_row(rng, index, _fast_date(spec.day, 0), stamp)
        uid = row[0]
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row[2:])
        pool.append(buffer.getvalue().replace(uid, _UID_MARK).split(_UID_MARK))
    return pool


async def _sized_cdr_chunks(spec: CdrSpec, rng: random.Random, header: str) -> AsyncIterator[bytes]:
    """Size-targeted CSV (``cdr_target_bytes``, for big files): the random part of each row comes
    from a pool of generated rows (cycled), while ``id``/``uniqueid`` stay unique and ``calldate``
    increases through the day, so a 1 GB file is served at several hundred MB/s."""
    pool = _row_pool(rng, spec)
    expected = max(1, (spec.target_bytes or 0) // 200)
    day_start = int(spec.day_start)
    day = spec.day
    lines: list[str] = [header]
    size = len(header)
    sent = 0
    index = 0
    last_second = -1
    calldate = ""
    target = spec.target_bytes or 0
    while sent + size < target:
        index += 1
        second = min(86399, (index - 1) * 86400 // expected)
        if second != last_second:
            last_second = second
            calldate = f"{day} {second // 3600:02d}:{second % 3600 // 60:02d}:{second % 60:02d}"
        uid = f"{day_start + second}.{index}"
        line = f"{uid},{calldate},{uid.join(pool[index % _POOL_ROWS])}"
        if spec.bad_line is not None and index + 1 == spec.bad_line:
            fields = next(csv.reader([line]))
            fields[CDR_HEADER.index("duration")] = "not-a-number"
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(fields)
            line = out.getvalue()
        lines.append(line)
        size += len(line)
        if size >= spec.chunk_bytes:
            data = "".join(lines).encode("utf-8")
            sent += len(data)
            lines.clear()
            size = 0
            yield data
            await asyncio.sleep(0)
    if lines:
        yield "".join(lines).encode("utf-8")


async def cdr_chunks(spec: CdrSpec) -> AsyncIterator[bytes]:
    """The CSV file of ``spec`` in chunks of about ``chunk_bytes`` (constant memory)."""
    rng = random.Random(f"{spec.seed}|cdr|{spec.day}")
    if spec.target_bytes is not None and not spec.records:
        async for chunk in _sized_cdr_chunks(spec, rng, ",".join(CDR_HEADER) + "\n"):
            yield chunk
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CDR_HEADER)
    sent = 0
    line = 1
    index = 0
    expected = spec.rows if spec.target_bytes is None else max(1, spec.target_bytes // 200)
    records = list(spec.records)
    while True:
        if spec.target_bytes is None:
            if index >= len(records) + spec.rows:
                break
        elif sent + buffer.tell() >= spec.target_bytes:
            break
        line += 1
        offset = min(86399.0, index * 86400.0 / max(expected, 1))
        stamp = int(spec.day_start + offset)
        if index < len(records):
            row = [str(records[index].get(col, "")) for col in CDR_HEADER]
        else:
            row = _cdr_row(rng, index, _fast_date(spec.day, offset), stamp)
        if spec.bad_line is not None and line == spec.bad_line:
            row[CDR_HEADER.index("duration")] = "not-a-number"
        writer.writerow(row)
        index += 1
        if buffer.tell() >= spec.chunk_bytes:
            data = buffer.getvalue().encode("utf-8")
            sent += len(data)
            buffer.seek(0)
            buffer.truncate()
            yield data
            await asyncio.sleep(0)
    tail = buffer.getvalue().encode("utf-8")
    if tail:
        yield tail


def _fast_date(day: str, offset: float) -> str:
    seconds = int(offset)
    return f"{day} {seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _CdrResponse(StreamingResponse):
    """The CSV stream; with ``abort_after`` set, the connection is reset once that many bytes are sent."""

    def __init__(self, content: AsyncIterator[bytes], abort_after: int | None, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.abort_after = abort_after

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.abort_after is None:
            await super().__call__(scope, receive, send)
            return
        abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        sent = 0
        async for chunk in self.body_iterator:
            piece = chunk[: max(0, self.abort_after - sent)]
            if piece:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                sent += len(piece)
            if sent >= self.abort_after:
                break
        await asyncio.sleep(0.05)  # let the bytes leave before the reset
        if abort is not None:
            abort()
        else:  # no abortable transport (e.g. an in-process test client): fail the response
            raise ConnectionResetError("simulated network drop")


class TeleVoipsSimulator(VendorSimulator):
    """Serves the TeleVoIPs API."""

    name = VENDOR

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/reports/cdrs", self.cdrs, methods=["GET"]),
            Route("/reports/cdrs/{id}/{file}", self.cdr_file, methods=["GET"]),
            Route("/messages", self.messages, methods=["GET", "POST"]),
            Route("/messages/{id}", self.message, methods=["GET"]),
            Route("/unsubscribe", self.unsubscribe, methods=["POST"]),
        ]

    def fault_response(self, status: int, ctx: RequestContext) -> Response:
        if ctx.route == "/reports/cdrs" and status == 400:
            return raw_response(PROBLEM, 400)
        if ctx.route == "/reports/cdrs" and status == 403:
            return raw_response(ACCESS_DENIED, 403)
        return json_response({"message": status_phrase(status)}, status)

    @property
    def store(self) -> TeleVoipsStore:
        return self.state.televoips

    # -- reports ----------------------------------------------------------------------------
    async def cdrs(self, request: Request) -> Response:
        return await self.handle(request, "/reports/cdrs", self.request_cdrs)

    async def cdr_file(self, request: Request) -> Response:
        return await self.handle(request, "/reports/cdrs/{id}/{file}", self.download_cdrs)

    def _report_day(self) -> tuple[str, float]:
        offset = self.state.config.televoips_utc_offset_minutes
        today = clk.local(self.state.now(), offset).replace(hour=0, minute=0, second=0, microsecond=0)
        day_start = today.timestamp() - 86400
        return clk.fmt(day_start, offset, "%Y-%m-%d"), day_start

    def request_cdrs(self, ctx: RequestContext) -> Response:
        if not secrets_equal(ctx.headers.get("x-api-key"), self.state.config.televoips_reports_key):
            return raw_response(ACCESS_DENIED, 403)
        if ctx.params.query or ctx.params.raw:
            return raw_response(PROBLEM, 400)
        now = self.state.now()
        day, _ = self._report_day()
        report = self.store.reports.get(day)
        if report is None:
            report_id = hashlib.blake2b(f"{self.state.config.seed}|cdr|{day}".encode(), digest_size=5).hexdigest()
            report = self.store.reports[day] = CdrReport(report_id, day, now)
            status, code = "requested", 202
        elif now - report.requested_at < self.state.config.cdr_compile_seconds:
            status, code = "processing", 202
        else:
            status, code = "complete", 201
        url = f"{ctx.root_url}televoips/reports/cdrs/{report.id}/cdrs_{day}.csv"
        return json_response({"id": report.id, "url": url, "status": status}, code)

    def download_cdrs(self, ctx: RequestContext) -> Response:
        key = ctx.headers.get("x-api-key")
        if key is None:
            return json_response(FORBIDDEN, 403)
        if not secrets_equal(key, self.state.config.televoips_reports_key):
            return json_response(UNAUTHORIZED, 401)
        report_id, filename = ctx.request.path_params["id"], ctx.request.path_params["file"]
        report = next((r for r in self.store.reports.values() if r.id == report_id), None)
        config = self.state.config
        if (
            report is None
            or filename != f"cdrs_{report.day}.csv"
            or self.state.now() - report.requested_at < config.cdr_compile_seconds
        ):
            return json_response(NOT_FOUND, 404)
        offset = config.televoips_utc_offset_minutes
        day_start = clk.parse_local(report.day, ["%Y-%m-%d"], offset) or 0.0
        spec = CdrSpec(
            seed=config.seed,
            day=report.day,
            day_start=day_start,
            rows=max(0, int(config.cdr_rows)),
            target_bytes=config.cdr_target_bytes,
            bad_line=config.cdr_bad_line,
            chunk_bytes=max(1024, int(config.cdr_chunk_bytes)),
            records=tuple(dict(r) for r in self.store.cdr_records),
            abort_after_bytes=self.store.cdr_abort_after_bytes,
        )
        headers = {"content-disposition": f'attachment; filename="{filename}"'}
        return _CdrResponse(cdr_chunks(spec), spec.abort_after_bytes, media_type="text/csv", headers=headers)

    # -- messaging --------------------------------------------------------------------------
    def _authorized(self, ctx: RequestContext) -> bool:
        given = ctx.headers.get("authorization")
        return secrets_equal(given.strip() if given else None, self.state.config.televoips_messaging_key)

    def _owned(self, number: str | None) -> str | None:
        wanted = digits(number or "")
        owned = {digits(n): n for n in self.state.config.televoips_numbers}
        return owned.get(wanted) if wanted else None

    async def messages(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.handle(request, "/messages", self.send_message)
        return await self.handle(request, "/messages", self.list_messages)

    async def message(self, request: Request) -> Response:
        return await self.handle(request, "/messages/{id}", self.get_message)

    async def unsubscribe(self, request: Request) -> Response:
        return await self.handle(request, "/unsubscribe", self.do_unsubscribe)

    def send_message(self, ctx: RequestContext) -> Response:
        if not self._authorized(ctx):
            return json_response(UNAUTHORIZED, 401)
        params = ctx.params.merged()
        sender = str(params.get("from") or "").strip()
        to = str(params.get("to") or "").strip()
        content = str(params.get("content") or "")
        owned = self._owned(sender)
        to_digits = digits(to)
        if (
            owned is None
            or not (10 <= len(to_digits) <= 15 and to_digits == to.lstrip("+"))
            or to_digits in self.store.unsubscribed
            or not content.strip()
        ):
            return json_response(UNABLE_TO_SEND, 400)
        now = self.state.now()
        uuid = self.state.ids.token("televoips.message", 28, LOWER_ALNUM)
        number_id = str(15125 + sorted(self.state.config.televoips_numbers).index(owned))
        message: dict[str, Any] = {
            "id": uuid,
            "user_id": None,
            "number_id": number_id,
            "direction": "outbound",
            "to": to,
            "from": sender,
            "content": content,
            "time": clk.fmt(now, self.state.config.televoips_utc_offset_minutes, MESSAGE_TIME),
            "read": "1",
            "Media": [],
        }
        self.store.add_message(message, now)
        self.state.record(VENDOR, "sms", to, uuid, {"from": sender, "content": content})
        outcome = self.state.outcome_model().outcome(to_digits)
        self._message_status(message, outcome)
        if outcome is Outcome.BLOCKED:
            self._reply_stop(to, owned, now)
        return json_response({"uuid": uuid})

    def _message_status(self, message: Mapping[str, Any], outcome: Outcome) -> None:
        """The ``message-delivered`` / ``message-failed`` webhook of an accepted outbound message."""
        url = self.state.config.televoips_webhook_url
        if not url:
            return
        error = SMS_FAILURES.get(outcome)
        kind = "message-failed" if error else "message-delivered"
        body = message_event(
            kind,
            message["id"],
            message["time"],
            message["to"],
            message["from"],
            segments=segment_count(message["content"]),
            error=error,
        )
        self.state.record(VENDOR, "callback", message["to"], message["id"], {"url": url, "payload": body})
        queue_webhook(self.state, url, kind, body, message["id"])

    def _reply_stop(self, person: str, owned: str, now: float) -> None:
        """A person who does not want to be contacted (outcome ``blocked``) answers ``STOP``."""
        receive_inbound(self.state, person, owned, "STOP", now + 1)

    @staticmethod
    def _public(message: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if not k.startswith("_")}

    def list_messages(self, ctx: RequestContext) -> Response:
        if not self._authorized(ctx):
            return json_response(UNAUTHORIZED, 401)
        offset = self.state.config.televoips_utc_offset_minutes
        bounds: dict[str, float | None] = {}
        for key in ("start", "end"):
            text = ctx.params.query.get(key)
            bounds[key] = None
            if text:
                bounds[key] = clk.parse_local(text, [MESSAGE_TIME, "%Y-%m-%d"], offset)
                if bounds[key] is None:
                    return json_response({"message": "Invalid date"}, 400)
        start, end = bounds["start"], bounds["end"]
        if start is None and end is None:
            start = self.state.now() - NINETY_DAYS
        listed = [
            self._public(m)
            for m in self.store.messages
            if (start is None or m["_at"] >= start) and (end is None or m["_at"] <= end)
        ]
        return json_response(listed)

    def get_message(self, ctx: RequestContext) -> Response:
        if not self._authorized(ctx):
            return json_response(UNAUTHORIZED, 401)
        wanted = ctx.request.path_params["id"]
        found = [self._public(m) for m in self.store.messages if m.get("id") == wanted]
        return json_response(found[:1]) if found else json_response(NOT_FOUND, 404)

    def do_unsubscribe(self, ctx: RequestContext) -> Response:
        if not self._authorized(ctx):
            return json_response(UNAUTHORIZED, 401)
        params = ctx.params.merged()
        person = str(params.get("from") or "").strip()
        owned = self._owned(str(params.get("to") or ""))
        if owned is None:
            return json_response(NOT_OWNER, 400)
        if not digits(person):
            return json_response({"message": "Bad Request"}, 400)
        self.store.unsubscribed.add(digits(person))
        self.state.record(VENDOR, "unsubscribe", person, owned, {"to": owned})
        return raw_response(b"", 200)
