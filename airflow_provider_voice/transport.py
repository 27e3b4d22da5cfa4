"""One HTTP core for every vendor: request building, retry policy, limits, error classification.

All pure logic lives once in :class:`HttpCore`; :class:`SyncHttp` and :class:`AsyncHttp` only differ
in how they *send*, *read* and *sleep*. A vendor plugs in through a :class:`Dialect` (its auth
headers and how to read its error bodies) and describes each endpoint as a :class:`Call`.

Multi-step exchanges (pagination, polling) are written once as *flows*: generators that yield
:class:`Call`, :class:`Sleep` or :class:`Emit` steps and receive each call's parsed result. The sync
and async clients drive the same flow object.

Retry policy (see :class:`RetryPolicy`):

* connect errors (the request never left): always retried;
* HTTP 408 and 429: retried after ``Retry-After`` (seconds or HTTP date), capped; a longer wait
  than the cap is not slept through: :class:`~airflow_provider_voice.errors.RateLimitedError` is raised
  with ``retry_after`` so the task can reschedule;
* HTTP 5xx, read timeouts and broken connections: retried **only** for idempotent calls (reads,
  or writes that carry a vendor idempotency key such as Octopush ``request_id``); for other writes
  the error says ``may_have_been_accepted`` and nothing is resent;
* authentication errors: never retried (Velip bans an IP after repeated failures).

Limits (see :class:`ResponseLimits`) — nothing a vendor sends back is trusted:

* **Size.** Every answer is read as a stream, at most ``max_response_bytes`` of it: 16 MiB by
  default (:data:`DEFAULT_MAX_RESPONSE_BYTES`), more for the calls that fetch big pages
  (``Call.max_response_bytes``: report pages, message exports). The cap counts *decoded* bytes
  (a gzip body is inflated in 64 KiB steps, so a gzip bomb never grows past the cap) and the raw
  bytes alike. Past it the connection is closed and
  :class:`~airflow_provider_voice.errors.MalformedResponseError` ("response over N bytes") is raised.
  An error answer (non-2xx) is read up to 64 KiB and cut there: its status decides the error.
  Only ``gzip``/``deflate`` are asked for (``Accept-Encoding``); another encoding is malformed.
* **Time.** Every call has an overall deadline, tries and the sleeps between them included:
  ``Call.deadline``, else ``ResponseLimits.deadline``, else **3 x the read timeout + the longest
  ``Retry-After`` the policy sleeps through** (3 x 30 s + 120 s = 210 s with the defaults). It holds
  against a server that drips bytes (a per-read timeout alone does not: each byte restarts it):
  the async client runs each try in a cancel scope; the sync client checks the clock at every
  chunk and its sockets' read timeouts are shortened to the time left. Past the deadline:
  :class:`~airflow_provider_voice.errors.RequestTimeoutError` (``may_have_been_accepted`` when a try
  may have reached the vendor, e.g. a write whose answer never completed) and no further try; a
  retry whose sleep would end past the deadline is not made (the last error is raised).
* **Streams.** Downloads opened with :meth:`SyncHttp.stream` / :meth:`AsyncHttp.stream` are bounded
  by their destination, not by the cap, and by no overall deadline (a big file takes its time);
  opening them follows the deadline, and reading them a no-progress timeout: no byte for the read
  timeout, or fewer than 1 KiB in any read-timeout window (a server dripping bytes), is
  :class:`~airflow_provider_voice.errors.RequestTimeoutError`.
* **Shape.** JSON nested deeper than :data:`MAX_JSON_DEPTH` levels, and any exception a parser
  raises on a body of the wrong shape (pydantic, ``KeyError``, ``TypeError``, ``RecursionError``,
  XML errors...), become :class:`~airflow_provider_voice.errors.MalformedResponseError` carrying the
  endpoint, the HTTP status and a redacted excerpt of the body (:meth:`HttpCore.parse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import http.cookiejar
import json as jsonlib
import random
import select
import ssl
import threading
import time
import types
import weakref
import xml.parsers.expat
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, cast

import anyio
import httpcore
import httpx
import pydantic
import tenacity

from airflow_provider_voice.errors import (
    AuthError,
    MalformedResponseError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    ValidationError,
    VendorRejectedError,
    VoiceProviderError,
)
from airflow_provider_voice.redaction import get_logger, redact
from airflow_provider_voice.version import __version__

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_JSON_DEPTH",
    "SHARED_ASYNC_CLIENTS",
    "SHARED_POOL_CONNECTIONS",
    "USER_AGENT",
    "AsyncClientLease",
    "AsyncHttp",
    "Call",
    "Dialect",
    "Emit",
    "ErrorInfo",
    "Flow",
    "HttpCore",
    "PagedFlow",
    "ResponseLimits",
    "RetryPolicy",
    "SharedAsyncClients",
    "Sleep",
    "SyncHttp",
    "check_json_depth",
    "json_body",
    "map_emitted",
    "new_async_client",
    "new_shared_async_client",
    "new_sync_client",
    "parse_retry_after",
]

T = TypeVar("T")
#: a call's result type (covariant: a ``Call[VelipUser]`` is a ``Call[object]``, i.e. a call of any result)
T_co = TypeVar("T_co", covariant=True)
#: the type of the items a flow emits
E = TypeVar("E")
log = get_logger(__name__)

USER_AGENT = f"airflow-provider-voice/{__version__} httpx/{httpx.__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: default cap of one answer's body (decoded bytes)
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: an error answer (non-2xx) is read this far, then cut: its status decides the error
ERROR_BODY_BYTES = 64 * 1024
#: JSON (or XML) nested deeper than this is refused as malformed
MAX_JSON_DEPTH = 64
#: a streamed download receiving fewer bytes than this per read-timeout window has stalled
STREAM_MIN_BYTES_PER_WINDOW = 1024
#: characters of a body shown (redacted) in a MalformedResponseError
EXCERPT_CHARS = 200
#: the read timeout the default deadline is computed from when the timeout has none
_FALLBACK_READ_TIMEOUT = 30.0
#: decoded bytes produced per inflate step (bounds the memory a compressed body can claim)
_INFLATE_STEP = 64 * 1024
#: what a parser raises on a body of the wrong shape (VoiceProviderError subclasses are kept as they are)
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # pydantic.ValidationError, json.JSONDecodeError, UnicodeDecodeError...
    TypeError,
    LookupError,  # KeyError, IndexError
    AttributeError,
    ArithmeticError,
    RecursionError,
    SyntaxError,  # xml.etree.ElementTree.ParseError
    xml.parsers.expat.ExpatError,
)


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """One HTTP exchange with a vendor, described without sending it.

    :param endpoint: the vendor's name for the operation (``"MakeTTSCall"``, ``"voice.call"``...).
    :param method: HTTP method.
    :param path: path relative to the base URL named by ``base``.
    :param parse: turns a successful :class:`httpx.Response` into the result (may raise
        :class:`VendorRejectedError` for errors a vendor reports inside a 200 body, and
        :class:`MalformedResponseError` for a 2xx body that lacks what a success carries; any
        other exception it raises on a wrong shape is turned into ``MalformedResponseError``).
    :param params: query string.
    :param data: form fields.
    :param json: JSON body.
    :param files: multipart files.
    :param content: raw body.
    :param headers: extra headers (auth headers are added by the dialect).
    :param idempotent: safe to resend after an ambiguous failure; defaults to True for GET/HEAD.
    :param base: key of the base URL to use (vendors with several hosts, e.g. Kaleyra OBD).
    :param auth: which of the vendor's credentials signs the call (TeleVoIPs has two keys).
    :param timeout: per-request timeout overriding the client's.
    :param max_response_bytes: cap of the (decoded) body; None: the client's default (16 MiB).
        Calls that fetch big pages set more. Not applied to :meth:`SyncHttp.stream` downloads.
    :param deadline: overall seconds for this call, tries and sleeps included; None: the
        client's (see :class:`ResponseLimits`).
    """

    endpoint: str
    method: str
    path: str
    parse: Callable[[httpx.Response], T_co]
    params: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    json: Any = None
    files: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    idempotent: bool | None = None
    base: str = "default"
    auth: str = "default"
    timeout: httpx.Timeout | float | None = None
    max_response_bytes: int | None = None
    deadline: float | None = None

    @property
    def is_idempotent(self) -> bool:
        """Whether the call may be resent after an ambiguous failure."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Sleep:
    """Flow step: wait ``seconds`` (``time.sleep`` or ``asyncio.sleep`` depending on the driver)."""

    seconds: float


@dataclass(frozen=True)
class Emit(Generic[E]):
    """Flow step: hand ``items`` to the caller of ``iterate`` (pagination)."""

    items: list[E]


FlowStep = Call[object] | Sleep | Emit[Any]
#: a flow returning ``T``: it yields steps and is sent each call's parsed result (``client.run``)
Flow = Generator[FlowStep, Any, T]
#: a flow emitting items of type ``E`` and returning ``T`` (pagination): ``client.iterate`` yields the ``E`` s
PagedFlow = Generator[Call[object] | Sleep | Emit[E], Any, T]
StepT = TypeVar("StepT", bound=FlowStep)
F = TypeVar("F")


def map_emitted(flow: PagedFlow[E, T], convert: Callable[[E], F]) -> PagedFlow[F, T]:
    """``flow`` with every emitted item passed through ``convert`` (calls, sleeps and the return
    value unchanged): a vendor's paged rows turned into normalized records, page by page."""
    reply: Any = None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as stop:
            return cast(T, stop.value)
        if isinstance(step, Emit):
            reply = yield Emit([convert(item) for item in step.items])
        else:
            reply = yield step


@dataclass(frozen=True)
class ErrorInfo:
    """What a vendor's error body says: its code, its message and per-field errors."""

    code: str | None = None
    message: str | None = None
    field_errors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    payload: Any = None


@dataclass(frozen=True)
class ResponseLimits:
    """Bounds on what a vendor may send back and on how long one call may take.

    :param max_response_bytes: cap of a body (decoded bytes) for calls that set none.
    :param ceiling: hard cap for every call, even one that asks for more (``Call.max_response_bytes``);
        None: no ceiling. Bounds the memory a client may spend on one answer.
    :param deadline: overall seconds per call, tries and sleeps included, for calls that set none;
        None: 3 x the read timeout + the policy's ``max_retry_after``.
    """

    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ceiling: int | None = None
    deadline: float | None = None

    def __post_init__(self) -> None:
        if self.max_response_bytes < 1:
            raise ValidationError("max_response_bytes", self.max_response_bytes, "at least 1 byte")
        if self.ceiling is not None and self.ceiling < 1:
            raise ValidationError("ceiling", self.ceiling, "at least 1 byte, or None")
        if self.deadline is not None and not self.deadline > 0:
            raise ValidationError("deadline", self.deadline, "a number of seconds > 0, or None")


class Dialect:
    """What the HTTP core needs to know about a vendor. Vendor APIs subclass it."""

    vendor: ClassVar[str] = "vendor"
    #: base URLs by key; ``"default"`` is required
    base_urls: Mapping[str, str] = {}

    def auth_headers(self, call: Call[object]) -> dict[str, str]:
        """Headers that authenticate ``call`` (most vendors: the same for every call).

        :param call: the call being signed.
        """
        return {}

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        """Read the vendor's error body. The default reads ``{"message": ...}`` or plain text.

        :param response: a non-2xx answer, its body read.
        """
        body = _safe_text(response)
        try:
            payload = response.json()
        except ValueError:
            return ErrorInfo(message=body.strip().strip("'\"") or response.reason_phrase, payload=body)
        if isinstance(payload, dict):
            message = payload.get("message") or payload.get("error") or response.reason_phrase
            code = payload.get("code")
            return ErrorInfo(code=None if code is None else str(code), message=str(message), payload=payload)
        return ErrorInfo(message=str(payload), payload=payload)


def _safe_text(response: httpx.Response, limit: int = 2000) -> str:
    """The first ``limit`` characters of a read body (never raises)."""
    try:
        raw = response.content[: limit * 4]
        return raw.decode(response.encoding or "utf-8", errors="replace")[:limit]
    except Exception:
        return ""


def body_excerpt(response: httpx.Response, limit: int = EXCERPT_CHARS) -> str:
    """A short, redacted excerpt of a read body (secrets and phone numbers masked).

    :param response: the answer (its body read).
    :param limit: characters kept.
    """
    return redact(_safe_text(response, limit), phones=True)[:limit]


def check_json_depth(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``ValueError`` when ``value`` (decoded JSON: dicts and lists) nests deeper than ``max_depth``.

    Iterative, so a deep value cannot exhaust the interpreter's stack.

    :param value: the decoded JSON.
    :param max_depth: the deepest nesting allowed (1: a flat object or list).
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def json_body(response: httpx.Response, *, vendor: str, endpoint: str) -> Any:
    """Decode a JSON body or raise :class:`MalformedResponseError` (with a redacted excerpt).

    JSON nested deeper than :data:`MAX_JSON_DEPTH` levels is refused too.

    :param response: the answer (its body read).
    :param vendor: the vendor, for the error.
    :param endpoint: the endpoint, for the error.
    """
    status = response.status_code
    try:
        payload = response.json()
    except RecursionError:
        problem = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        problem = f"expected JSON, got {response.headers.get('content-type', 'no content type')}"
    else:
        try:
            check_json_depth(payload)
        except ValueError as exc:
            problem = f"JSON {exc}"
        else:
            return payload
    excerpt = body_excerpt(response)
    raise MalformedResponseError(
        f"HTTP {status}: {problem}: {excerpt!r}",
        status_code=status,
        excerpt=excerpt,
        vendor=vendor,
        endpoint=endpoint,
    ) from None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable.

    :param value: the header value.
    :param now: the current POSIX time (tests pass one).
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def describe_parse_error(exc: BaseException) -> str:
    """What was wrong with a body, from the exception a parser raised (no pydantic URL, no values).

    :param exc: the exception.
    """
    if isinstance(exc, pydantic.ValidationError):
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        parts = []
        for error in errors[:3]:
            where = ".".join(str(p) for p in error.get("loc", ())) or "(the body)"
            parts.append(f"field {where!r}: {error.get('msg', 'invalid')}")
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        return "; ".join(parts) + more
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, ValidationError):
        return f"{exc.field}: {exc.rule}"
    text = redact(str(exc), phones=True)
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    :param max_attempts: total tries per call (first try included).
    :param backoff_initial: first exponential backoff wait, in seconds (jittered).
    :param backoff_max: largest backoff wait.
    :param max_retry_after: longest ``Retry-After`` the client sleeps through; a longer one is
        raised as :class:`RateLimitedError` (so a task can reschedule instead of holding a worker).
    """

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0

    def should_retry(self, call: Call[object], exc: BaseException) -> bool:
        """Whether ``exc`` raised by ``call`` may be retried (see the module docstring).

        :param call: the call that failed.
        :param exc: its error.
        """
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        if isinstance(exc, ServerError):
            return call.is_idempotent
        if isinstance(exc, TransportError):
            return call.is_idempotent or not exc.may_have_been_accepted
        return False

    def wait_seconds(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1``: ``Retry-After`` when given, else jittered backoff.

        :param exc: the last error.
        :param attempt: the number of the try that failed (from 1).
        """
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        ceiling = min(self.backoff_max, self.backoff_initial * (2.0 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class _Budget:
    """The time one call has left, tries and sleeps included.

    Sleeps are counted even when the sleep function does not really sleep (a test's fake clock):
    the budget's clock is the later of the monotonic clock and the end of the last sleep.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._start = time.monotonic()
        self._virtual = self._start
        #: True once a try may have reached the vendor
        self.may_have_been_accepted = False

    def _now(self) -> float:
        return max(time.monotonic(), self._virtual)

    def slept(self, seconds: float) -> None:
        self._virtual = self._now() + max(0.0, seconds)

    def remaining(self) -> float:
        return self._start + self.seconds - self._now()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


class _BodyTooLarge(Exception):
    """Internal: a body went over its cap (raised by :class:`_BodyReader`)."""


class _Inflate:
    """One zlib stage (gzip or deflate) that never produces more than ``_INFLATE_STEP`` bytes at once."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._decoder: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._decoder is None:  # deflate: zlib-wrapped (RFC 1950) or raw (RFC 1951), sniffed
            if not data:
                return
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] * 256 + data[1]) % 31 == 0
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        pending = data
        while True:
            out = self._decoder.decompress(pending, _INFLATE_STEP)
            if out:
                yield out
            pending = self._decoder.unconsumed_tail
            if self._decoder.eof or (not pending and len(out) < _INFLATE_STEP):
                return

    def flush(self) -> Iterator[bytes]:
        if self._decoder is None:
            return
        yield from self.decode(b"")
        tail = self._decoder.flush()
        if tail:
            yield tail


class _BodyReader:
    """Reads one answer's body from its raw chunks, within the call's size cap and deadline (I/O-free)."""

    def __init__(self, core: HttpCore, call: Call[object], response: httpx.Response, budget: _Budget | None) -> None:
        self.core = core
        self.call = call
        self.status = response.status_code
        self.budget = budget
        self.cap, self.strict = core.body_cap(call, self.status)
        self.stages = self._stages(response.headers.get("content-encoding", ""))
        self.parts: list[bytes] = []
        self.size = 0
        self.raw = 0

    def _stages(self, header: str) -> list[_Inflate]:
        stages = []
        for token in reversed([t.strip().lower() for t in header.split(",") if t.strip()]):
            if token in ("identity", ""):
                continue
            if token in ("gzip", "x-gzip"):
                stages.append(_Inflate("gzip"))
            elif token == "deflate":
                stages.append(_Inflate("deflate"))
            else:
                raise self.core.malformed(
                    self.call, self.status, f"unsupported Content-Encoding {token!r} (gzip/deflate were asked for)"
                )
        return stages

    def feed(self, raw: bytes) -> bool:
        """Take one raw chunk; False when the body was cut (an error answer over its cap)."""
        self.raw += len(raw)
        try:
            if self.raw > self.cap:
                raise _BodyTooLarge
            for piece in self._decode(raw, 0):
                self._add(piece)
        except _BodyTooLarge:
            if self.strict:
                raise self.core.too_large(self.call, self.status, self.cap) from None
            return False
        if self.budget is not None and self.budget.expired:
            raise self.core.deadline_error(self.call, self.budget)
        return True

    def already_read(self, content: bytes) -> bytes:
        """The body of an answer read (and decoded) before the reader saw it, within the cap."""
        self.stages = []
        self.feed(content)
        return self.finish()

    def finish(self) -> bytes:
        """The decoded body, once the raw stream has ended."""
        try:
            for index, stage in enumerate(self.stages):
                for piece in self._checked(stage, stage.flush()):
                    for out in self._decode(piece, index + 1):
                        self._add(out)
        except _BodyTooLarge:
            if self.strict:
                raise self.core.too_large(self.call, self.status, self.cap) from None
        return b"".join(self.parts)

    def _decode(self, data: bytes, start: int) -> Iterator[bytes]:
        """``data`` through stages ``start``.. lazily: a piece is produced only when the last one was taken."""
        if start >= len(self.stages):
            if data:
                yield data
            return
        stage = self.stages[start]
        for piece in self._checked(stage, stage.decode(data)):
            yield from self._decode(piece, start + 1)

    def _checked(self, stage: _Inflate, pieces: Iterator[bytes]) -> Iterator[bytes]:
        while True:
            try:
                piece = next(pieces)
            except StopIteration:
                return
            except zlib.error:
                raise self.core.malformed(
                    self.call, self.status, f"the body is not valid {stage.encoding} data (Content-Encoding)"
                ) from None
            yield piece

    def _add(self, piece: bytes) -> None:
        if self.size + len(piece) > self.cap:
            self.parts.append(piece[: self.cap - self.size])
            self.size = self.cap
            raise _BodyTooLarge
        self.parts.append(piece)
        self.size += len(piece)


class _ProgressWatch:
    """Raises when a download gets fewer than ``min_bytes`` in a ``window`` of seconds (a drip)."""

    def __init__(self, window: float, min_bytes: int, stalled: Callable[[], Exception]) -> None:
        self.window = window
        self.min_bytes = min_bytes
        self.stalled = stalled
        self.start = time.monotonic()
        self.count = 0

    def tick(self, size: int) -> None:
        self.count += size
        now = time.monotonic()
        if now - self.start >= self.window:
            if self.count < self.min_bytes:
                raise self.stalled()
            self.start, self.count = now, 0


class _WatchedStream(httpx.SyncByteStream):
    """A response stream reporting each raw chunk to a :class:`_ProgressWatch`."""

    def __init__(self, inner: httpx.SyncByteStream, watch: _ProgressWatch) -> None:
        self._inner = inner
        self._watch = watch

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._watch.tick(len(chunk))
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _AsyncWatchedStream(httpx.AsyncByteStream):
    """Async twin of :class:`_WatchedStream`."""

    def __init__(self, inner: httpx.AsyncByteStream, watch: _ProgressWatch) -> None:
        self._inner = inner
        self._watch = watch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._watch.tick(len(chunk))
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class HttpCore:
    """Shared, I/O-free half of the sync and async clients.

    :param dialect: the vendor API.
    :param timeout: default timeout per request.
    :param retry: the retry policy.
    :param limits: size and time bounds (see :class:`ResponseLimits`).
    """

    def __init__(
        self,
        dialect: Dialect,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.dialect = dialect
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry = retry or RetryPolicy()
        self.limits = limits or ResponseLimits()

    # -- requests -------------------------------------------------------------------------
    def url_for(self, call: Call[object]) -> str:
        """The absolute URL of ``call``.

        :param call: the call.
        """
        try:
            base = self.dialect.base_urls[call.base]
        except KeyError:
            raise VoiceProviderError(
                f"no base URL named {call.base!r}", vendor=self.dialect.vendor, endpoint=call.endpoint
            ) from None
        return base.rstrip("/") + "/" + call.path.lstrip("/")

    def call_timeout(self, call: Call[object]) -> httpx.Timeout:
        """The per-request timeout of ``call`` (its own, else the client's).

        :param call: the call.
        """
        value = call.timeout if call.timeout is not None else self.timeout
        return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)

    def attempt_timeout(self, call: Call[object], remaining: float) -> httpx.Timeout:
        """The call's timeouts, none longer than the ``remaining`` seconds of its deadline.

        :param call: the call.
        :param remaining: seconds left before the call's deadline.
        """
        base = self.call_timeout(call)

        def clamp(value: float | None) -> float:
            return remaining if value is None else max(0.001, min(value, remaining))

        return httpx.Timeout(
            connect=clamp(base.connect), read=clamp(base.read), write=clamp(base.write), pool=clamp(base.pool)
        )

    def build_request(
        self, client: httpx.Client | httpx.AsyncClient, call: Call[object], *, timeout: httpx.Timeout | None = None
    ) -> httpx.Request:
        """The :class:`httpx.Request` for ``call`` (auth headers added).

        :param client: the client that will send it.
        :param call: the call.
        :param timeout: timeouts to use instead of the call's.
        """
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json, text/xml;q=0.9, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        headers.update(self.dialect.auth_headers(call))
        headers.update(call.headers or {})
        return client.build_request(
            call.method,
            self.url_for(call),
            params=_clean(call.params),
            data=_clean(call.data),
            json=call.json,
            files=call.files,
            content=call.content,
            headers=headers,
            timeout=timeout if timeout is not None else self.call_timeout(call),
        )

    # -- limits ---------------------------------------------------------------------------
    def deadline_for(self, call: Call[object]) -> float:
        """Overall seconds ``call`` may take, tries and sleeps included (see the module docstring).

        :param call: the call.
        """
        if call.deadline is not None:
            return float(call.deadline)
        if self.limits.deadline is not None:
            return float(self.limits.deadline)
        read = self.call_timeout(call).read
        return 3 * (read if read is not None else _FALLBACK_READ_TIMEOUT) + self.retry.max_retry_after

    def body_cap(self, call: Call[object], status: int) -> tuple[int, bool]:
        """``(cap, strict)`` for a body with HTTP ``status``: strict caps raise, others cut the body.

        :param call: the call.
        :param status: the HTTP status of its answer.
        """
        cap = call.max_response_bytes or self.limits.max_response_bytes
        if self.limits.ceiling is not None:
            cap = min(cap, self.limits.ceiling)
        if not 200 <= status < 300:
            return min(cap, ERROR_BODY_BYTES), False
        return cap, True

    def too_large(self, call: Call[object], status: int, cap: int) -> MalformedResponseError:
        """The error for a body over its cap.

        :param call: the call.
        :param status: the HTTP status.
        :param cap: the cap, in bytes.
        """
        return MalformedResponseError(
            f"HTTP {status}: response over {cap} bytes (decoded); stopped reading and closed the connection",
            status_code=status,
            vendor=self.dialect.vendor,
            endpoint=call.endpoint,
        )

    def progress_watch(self, call: Call[object]) -> _ProgressWatch:
        """The no-progress guard of a streamed download of ``call`` (window: its read timeout).

        :param call: the call.
        """
        read = self.call_timeout(call).read
        window = read if read is not None else _FALLBACK_READ_TIMEOUT

        def stalled() -> RequestTimeoutError:
            return RequestTimeoutError(
                f"download stalled: fewer than {STREAM_MIN_BYTES_PER_WINDOW} bytes in {window:g} s",
                may_have_been_accepted=True,
                vendor=self.dialect.vendor,
                endpoint=call.endpoint,
            )

        return _ProgressWatch(window, STREAM_MIN_BYTES_PER_WINDOW, stalled)

    def deadline_error(self, call: Call[object], budget: _Budget) -> RequestTimeoutError:
        """The error for a call past its deadline.

        :param call: the call.
        :param budget: its time budget.
        """
        accepted = budget.may_have_been_accepted
        return RequestTimeoutError(
            f"no complete answer within the call's deadline of {budget.seconds:g} s (tries included)"
            + (" (the request may have been accepted)" if accepted else ""),
            may_have_been_accepted=accepted,
            vendor=self.dialect.vendor,
            endpoint=call.endpoint,
        )

    def malformed(
        self, call: Call[object], response: httpx.Response | int, reason: str, *, endpoint: str | None = None
    ) -> MalformedResponseError:
        """A :class:`MalformedResponseError` for ``call``: ``reason``, the status and a redacted excerpt.

        :param call: the call.
        :param response: its answer (body read), or only its HTTP status.
        :param reason: what is wrong (no body values in it).
        :param endpoint: the endpoint to name, when not the call's.
        """
        if isinstance(response, httpx.Response):
            status: int = response.status_code
            excerpt: str | None = body_excerpt(response)
        else:
            status, excerpt = response, None
        shown = f"; body: {excerpt!r}" if excerpt is not None else ""
        return MalformedResponseError(
            f"HTTP {status}: unexpected answer: {reason}{shown}",
            status_code=status,
            excerpt=excerpt,
            vendor=self.dialect.vendor,
            endpoint=endpoint or call.endpoint,
        )

    # -- responses ------------------------------------------------------------------------
    def buffered(self, response: httpx.Response, content: bytes) -> httpx.Response:
        """A closed copy of ``response`` holding its decoded ``content``.

        :param response: the streamed answer.
        :param content: its body, decoded.
        """
        drop = (b"content-encoding", b"content-length", b"transfer-encoding")
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in drop]
        extensions = {k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")}
        fresh = httpx.Response(
            response.status_code, headers=headers, content=content, request=response.request, extensions=extensions
        )
        fresh.close()
        return fresh

    def check_status(self, call: Call[object], response: httpx.Response) -> None:
        """Raise the typed error for a non-2xx response (the body must already be read).

        :param call: the call.
        :param response: its answer.
        """
        status = response.status_code
        if 200 <= status < 300:
            return
        vendor, endpoint = self.dialect.vendor, call.endpoint
        if status in (408, 429):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimitedError(
                f"HTTP {status}: rate limited"
                + (f", retry after {retry_after:.0f} s" if retry_after is not None else ""),
                retry_after=retry_after,
                status_code=status,
                vendor=vendor,
                endpoint=endpoint,
            )
        try:
            info = self.dialect.error_info(response)
        except Exception:  # an unreadable error body: the status alone decides
            info = ErrorInfo(message=response.reason_phrase)
        text = redact(str(info.message or response.reason_phrase))
        code = f" (vendor code {info.code})" if info.code else ""
        if status in (401, 403):
            raise AuthError(
                f"HTTP {status}: {text}{code}",
                status_code=status,
                vendor_code=info.code,
                vendor=vendor,
                endpoint=endpoint,
            )
        if status >= 500:
            raise ServerError(f"HTTP {status}: {text}", status_code=status, vendor=vendor, endpoint=endpoint)
        raise VendorRejectedError(
            f"HTTP {status}: {text}{code}" + _fields_suffix(info.field_errors),
            vendor_code=info.code,
            vendor_message=info.message,
            field_errors=info.field_errors,
            status_code=status,
            payload=info.payload,
            vendor=vendor,
            endpoint=endpoint,
        )

    def parse(self, call: Call[T], response: httpx.Response) -> T:
        """Check the status, then parse: anything a parser raises on a wrong shape is malformed.

        :param call: the call.
        :param response: its answer (body read).
        """
        self.check_status(call, response)
        try:
            return call.parse(response)
        except MalformedResponseError as exc:
            exc.vendor = exc.vendor or self.dialect.vendor
            exc.endpoint = call.endpoint  # a shared parser may name its family ("voice"): name this call
            if exc.status_code is None:
                exc.status_code = response.status_code
            if exc.excerpt is None:
                exc.excerpt = body_excerpt(response)
            raise
        except ValidationError as exc:  # raised while reading an answer: the answer is at fault
            raise self.malformed(call, response, describe_parse_error(exc)) from None
        except VoiceProviderError:
            raise
        except PARSE_ERRORS as exc:
            raise self.malformed(call, response, describe_parse_error(exc)) from None

    def advance(self, flow: Generator[StepT, Any, Any], reply: Any, last: Call[object] | None) -> StepT:
        """The flow's next step; what the flow raises while reading the last answer is malformed.

        :param flow: the flow.
        :param reply: the value sent into it (the last call's result).
        :param last: the last call sent (None before the first).
        """
        try:
            return flow.send(reply)
        except ValidationError as exc:
            if last is None:
                raise
            raise self._flow_malformed(last, exc) from None
        except VoiceProviderError:
            raise
        except PARSE_ERRORS as exc:
            if last is None:
                raise
            raise self._flow_malformed(last, exc) from None

    def _flow_malformed(self, last: Call[object], exc: BaseException) -> MalformedResponseError:
        return MalformedResponseError(
            f"the answer of {last.endpoint} could not be followed: {describe_parse_error(exc)}",
            vendor=self.dialect.vendor,
            endpoint=last.endpoint,
        )

    def transport_error(
        self, call: Call[object], exc: httpx.HTTPError, budget: _Budget | None = None
    ) -> VoiceProviderError:
        """Map an httpx failure to a typed error, saying whether the vendor may have the request.

        :param call: the call.
        :param exc: the httpx error.
        :param budget: the call's time budget (a failure past the deadline is the deadline's).
        """
        vendor, endpoint = self.dialect.vendor, call.endpoint
        never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        if budget is not None:
            budget.may_have_been_accepted = budget.may_have_been_accepted or not never_sent
            if budget.expired:
                return self.deadline_error(call, budget)
        if isinstance(exc, httpx.DecodingError):
            return MalformedResponseError(
                "the body does not decode as its Content-Encoding says", vendor=vendor, endpoint=endpoint
            )
        kind = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(
                f"{kind}: no answer in time" + ("" if never_sent else " (the request may have been accepted)"),
                may_have_been_accepted=not never_sent,
                vendor=vendor,
                endpoint=endpoint,
            )
        return TransportError(
            f"{kind}: {redact(str(exc)) or 'connection failed'}"
            + ("" if never_sent else " (the request may have been accepted)"),
            may_have_been_accepted=not never_sent,
            vendor=vendor,
            endpoint=endpoint,
        )

    # -- retries --------------------------------------------------------------------------
    def retrying_kwargs(self, call: Call[object], budget: _Budget | None = None) -> dict[str, Any]:
        """tenacity arguments for ``call``: the policy, and no try (nor sleep) past the deadline.

        :param call: the call.
        :param budget: its time budget.
        """
        policy = self.retry

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return policy.wait_seconds(exc, state.attempt_number)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= policy.max_attempts:
                return True
            return budget is not None and budget.remaining() - (state.upcoming_sleep or 0.0) <= 0

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s failed (%s); retry %d/%d in %.2f s",
                self.dialect.vendor,
                call.endpoint,
                exc,
                state.attempt_number,
                policy.max_attempts - 1,
                state.upcoming_sleep,
            )

        return {
            "retry": tenacity.retry_if_exception(lambda exc: policy.should_retry(call, exc)),
            "stop": stop,
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def log_exchange(self, call: Call[object], response: httpx.Response, started: float) -> None:
        """Log one exchange at DEBUG (no body).

        :param call: the call.
        :param response: its answer.
        :param started: ``time.monotonic()`` when it was sent.
        """
        log.debug(
            "%s %s %s -> %d in %.0f ms",
            self.dialect.vendor,
            call.method,
            call.endpoint,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )


def _clean(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values and render booleans the way form/query vendors expect."""
    if mapping is None:
        return None
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, (dict, list)):
            value = jsonlib.dumps(value, separators=(",", ":"))
        out[key] = value
    return out


def _fields_suffix(field_errors: Mapping[str, Mapping[str, Any]]) -> str:
    if not field_errors:
        return ""
    parts = [f"{name}: {err.get('message', err)} (code {err.get('code')})" for name, err in field_errors.items()]
    return " [" + "; ".join(parts) + "]"


# -- the sync client's sockets: read timeouts shortened to the call's deadline -------------------
#: monotonic time the current call's reads must end by (set around a sync exchange)
_SOCKET_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("voice_socket_deadline", default=None)


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _SOCKET_DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read/write ends by the current call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, handing out :class:`_DeadlineStream` sockets."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _clamp(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _wrap_network_backends(client: httpx.Client | httpx.AsyncClient, base: type, wrapper: type) -> None:
    """Wrap the network backend of each of the client's httpcore pools in ``wrapper`` (best effort:
    skipped if httpx changes; a backend that is not a ``base`` or is wrapped already is left alone)."""
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if pool is not None and isinstance(backend, base) and not isinstance(backend, wrapper):
            pool._network_backend = wrapper(backend)


def _install_deadline_sockets(client: httpx.Client) -> None:
    """Give the client's httpcore pools deadline-aware sockets (best effort: skipped if httpx changes)."""
    _wrap_network_backends(client, httpcore.NetworkBackend, _DeadlineBackend)


def new_sync_client(*, max_connections: int = 20) -> httpx.Client:
    """The ``httpx.Client`` :class:`SyncHttp` uses by default: no redirects followed, and sockets whose
    reads end by each call's deadline (so a server dripping headers cannot hold a call).

    :param max_connections: size of the connection pool.
    """
    client = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=max_connections))
    _install_deadline_sockets(client)
    return client


def new_async_client(*, max_connections: int = 64) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` :class:`AsyncHttp` uses by default (no redirects followed), with a
    cheap check of idle pooled connections (:class:`_IdleCheckStream`: httpcore asks it of every
    pooled connection at every request, the largest client cost of a campaign's send at high concurrency).

    :param max_connections: size of the connection pool.
    """
    client = httpx.AsyncClient(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )
    _install_idle_check(client)
    return client


# -- one pooled asyncio client per connection and event loop (the triggerer) ----------------------
#: connections of one shared pool (:class:`SharedAsyncClients`): one connection's polls, all triggers together
SHARED_POOL_CONNECTIONS = 16


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps no cookie: a shared client must not carry one holder's session to another."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _socket_readable(sock: Any) -> bool:
    """httpcore's test of an idle connection: readable (or gone) means the server closed it."""
    fd = -1 if sock is None else sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _IdleCheckStream(httpcore.AsyncNetworkStream):
    """An asyncio connection whose "closed by the server while idle?" check uses the socket found once.

    httpcore asks it of every pooled connection at every request and response; anyio rebuilds its
    table of attributes at each ask (``getpeername`` and all), which is most of a poll's CPU with a
    pool of a dozen connections.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: Any = self  # not looked up yet

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _IdleCheckStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self._socket is self:
                self._socket = self._inner.get_extra_info("socket")
            return _socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _IdleCheckBackend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio network backend, handing out :class:`_IdleCheckStream` connections."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _IdleCheckStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _IdleCheckStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _assign_requests_in_one_scan(pool: Any) -> list[Any]:
    """httpcore 1.0's ``_assign_requests_to_connections`` with the same decisions in linear time.

    httpcore's own counts the pool once *per connection* to find surplus idle ones
    (``len([c.is_idle() for c in connections])``, i.e. ``len(connections)``) and lists every
    available and idle connection for each queued request: quadratic in the pool size, and with 64
    connections most of a campaign send's client CPU (encode/httpcore#1035). Same order, same result.
    """
    closing: list[Any] = []
    connections = pool._connections
    for connection in list(connections):
        if connection.is_closed():
            connections.remove(connection)
        elif connection.has_expired():
            connections.remove(connection)
            closing.append(connection)
        elif connection.is_idle() and len(connections) > pool._max_keepalive_connections:
            connections.remove(connection)
            closing.append(connection)
    for pool_request in [request for request in pool._requests if request.is_queued()]:
        origin = pool_request.request.url.origin
        available = next((c for c in connections if c.can_handle_request(origin) and c.is_available()), None)
        if available is not None:
            pool_request.assign_to_connection(available)
        elif len(connections) < pool._max_connections:
            connection = pool.create_connection(origin)
            connections.append(connection)
            pool_request.assign_to_connection(connection)
        else:
            idle = next((c for c in connections if c.is_idle()), None)
            if idle is not None:
                connections.remove(idle)
                closing.append(idle)
                connection = pool.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)
    return closing


def _install_idle_check(client: httpx.AsyncClient) -> None:
    """Give the client's httpcore pools :class:`_IdleCheckStream` connections and a linear-time
    request assignment (:func:`_assign_requests_in_one_scan`); best effort: skipped if httpx changes."""
    _wrap_network_backends(client, httpcore.AsyncNetworkBackend, _IdleCheckBackend)
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.AsyncConnectionPool) and httpcore.__version__.startswith("1.0."):
            pool._assign_requests_to_connections = types.MethodType(_assign_requests_in_one_scan, pool)  # type: ignore[method-assign]


def new_shared_async_client(*, max_connections: int = SHARED_POOL_CONNECTIONS) -> httpx.AsyncClient:
    """A client of :class:`SharedAsyncClients`: :func:`new_async_client` with a bounded pool and no
    cookie jar.

    :param max_connections: size of the connection pool.
    """
    client = new_async_client(max_connections=max_connections)
    client.cookies = http.cookiejar.CookieJar(policy=_NoCookies())  # a jar (a Cookies object would be copied)
    return client


class _PoolSlot:
    """One shared client: the event loop it belongs to (weakly, when the loop allows it) and its holders."""

    __slots__ = ("client", "holders", "loop")

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.holders = 0
        try:
            self.loop: Callable[[], asyncio.AbstractEventLoop | None] = weakref.ref(loop)
        except TypeError:  # a loop type without weak references: held until the slot goes
            self.loop = lambda: loop

    def dead(self) -> bool:
        loop = self.loop()
        return loop is None or loop.is_closed()


class AsyncClientLease:
    """One holder's claim on a shared ``httpx.AsyncClient`` (see :class:`SharedAsyncClients`).

    Use :attr:`client` in the event loop the lease was taken in only, then :meth:`release` it once
    (a second release does nothing). Never close :attr:`client` itself: others use it.
    """

    __slots__ = ("_registry", "_slot", "_slot_key", "client")

    def __init__(self, registry: SharedAsyncClients, slot_key: tuple[str, int], slot: _PoolSlot) -> None:
        self._registry: SharedAsyncClients | None = registry
        self._slot_key = slot_key
        self._slot = slot
        self.client = slot.client

    @property
    def released(self) -> bool:
        """True once :meth:`release` was called."""
        return self._registry is None

    def check_loop(self) -> None:
        """Raise ``RuntimeError`` unless called in the lease's own event loop (a client is bound to one loop)."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None or running is not self._slot.loop():
            raise RuntimeError("a shared HTTP client is used outside the event loop it was made in")
        if self._registry is None:
            raise RuntimeError("a shared HTTP client is used after its lease was released")

    async def release(self) -> None:
        """Give the client back; the last holder closes it (in its own event loop)."""
        registry, self._registry = self._registry, None
        if registry is not None:
            await registry._release(self._slot_key, self._slot)


class SharedAsyncClients:
    """Process-wide registry of pooled ``httpx.AsyncClient`` objects: one per (key, event loop).

    The triggerer runs every trigger in one event loop; a thousand triggers polling one connection
    share one client and its bounded pool (:data:`SHARED_POOL_CONNECTIONS` sockets) instead of a
    client and a socket each. :meth:`acquire` (in a running loop) hands out a lease and counts it;
    the last :meth:`AsyncClientLease.release` closes the client. A client is never shared across
    event loops (the key includes the running loop); clients of loops closed without being released
    are dropped at the next :meth:`acquire` (nothing can be awaited on a closed loop).

    The client carries no credentials or base URL (each request gets its headers from its caller's
    :class:`HttpCore`), but ``key`` must still name what the caller depends on, so a changed
    connection gets a new client: callers pass a connection id and a keyed hash of its fields,
    never a secret in clear (the key may be logged).

    :param max_connections: pool size of each client.
    :param factory: builds a client (default :func:`new_shared_async_client` with ``max_connections``).
    """

    def __init__(
        self,
        *,
        max_connections: int = SHARED_POOL_CONNECTIONS,
        factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._factory = factory or (lambda: new_shared_async_client(max_connections=max_connections))
        self._slots: dict[tuple[str, int], _PoolSlot] = {}
        self._lock = threading.Lock()  # several loops may run in several threads

    def acquire(self, key: str) -> AsyncClientLease:
        """A lease on the client of ``key`` in the running event loop (made now if there is none).

        :param key: what the client depends on (no secret in clear).
        :raises RuntimeError: no event loop is running.
        """
        loop = asyncio.get_running_loop()
        slot_key = (key, id(loop))
        with self._lock:
            for stale in [k for k, s in self._slots.items() if s.dead()]:
                del self._slots[stale]
            slot = self._slots.get(slot_key)
            if slot is None or slot.loop() is not loop:
                slot = self._slots[slot_key] = _PoolSlot(self._factory(), loop)
            slot.holders += 1
        return AsyncClientLease(self, slot_key, slot)

    async def _release(self, slot_key: tuple[str, int], slot: _PoolSlot) -> None:
        with self._lock:
            slot.holders -= 1
            if slot.holders > 0:
                return
            if self._slots.get(slot_key) is slot:
                del self._slots[slot_key]
        loop = slot.loop()
        if loop is None or loop.is_closed():
            return  # its sockets went with their loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            await slot.client.aclose()
        else:  # released from elsewhere (a finalizer): the client is closed in its own loop
            asyncio.run_coroutine_threadsafe(slot.client.aclose(), loop)

    def holders(self, key: str | None = None) -> int:
        """Leases held (on ``key``'s clients, or on all), in every event loop."""
        with self._lock:
            return sum(s.holders for (k, _), s in self._slots.items() if key is None or k == key)

    def clients(self) -> int:
        """Clients open, in every event loop."""
        with self._lock:
            return len(self._slots)


#: the registry of this process (the triggers' clients)
SHARED_ASYNC_CLIENTS = SharedAsyncClients()


class SyncHttp:
    """Blocking client: sends :class:`Call` objects and drives flows with ``time.sleep``.

    :param dialect: the vendor API (auth headers, error reading, base URLs).
    :param timeout: default timeout per request.
    :param retry: the retry policy.
    :param http_client: an ``httpx.Client`` to use (tests pass one with ``MockTransport``); without
        one, :func:`new_sync_client` makes one at the first request (a client that never sends, such
        as a status read from a local store, costs no connection pool nor TLS context).
    :param sleep: the sleep function (tests pass a fake clock).
    :param limits: size and time bounds (see :class:`ResponseLimits`).
    """

    def __init__(
        self,
        dialect: Dialect,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.core = HttpCore(dialect, timeout=timeout, retry=retry, limits=limits)
        self._http_client = http_client
        self._making = threading.Lock()  # the shared blocking client of a capability may be used by threads
        self._sleep = sleep

    @property
    def _client(self) -> httpx.Client:
        """The ``httpx.Client``, made at first use."""
        client = self._http_client
        if client is None:
            with self._making:
                if self._http_client is None:
                    self._http_client = new_sync_client()
                client = self._http_client
        return client

    def _retrying(self, call: Call[object], budget: _Budget) -> tenacity.Retrying:
        def sleep(seconds: float) -> None:
            budget.slept(seconds)
            self._sleep(seconds)

        return tenacity.Retrying(sleep=sleep, **self.core.retrying_kwargs(call, budget))

    def send(self, call: Call[T]) -> T:
        """Send ``call`` with the retry policy and limits; return its parsed result or raise a typed error.

        :param call: the call.
        """
        budget = _Budget(self.core.deadline_for(call))
        return self._retrying(call, budget)(lambda: self._send_once(call, budget))

    def _send_once(self, call: Call[T], budget: _Budget) -> T:
        core = self.core
        remaining = budget.remaining()
        if remaining <= 0:
            raise core.deadline_error(call, budget)
        request = core.build_request(self._client, call, timeout=core.attempt_timeout(call, remaining))
        started = time.monotonic()
        token = _SOCKET_DEADLINE.set(started + remaining)
        response: httpx.Response | None = None
        try:
            response = self._client.send(request, stream=True)
            budget.may_have_been_accepted = True
            content = self._read(call, response, budget)
        except httpx.HTTPError as exc:
            raise core.transport_error(call, exc, budget) from None
        finally:
            _SOCKET_DEADLINE.reset(token)
            if response is not None:
                response.close()
        answer = core.buffered(response, content)
        core.log_exchange(call, answer, started)
        return core.parse(call, answer)

    def _read(self, call: Call[object], response: httpx.Response, budget: _Budget | None) -> bytes:
        reader = _BodyReader(self.core, call, response, budget)
        if response.is_stream_consumed:  # read before it reached us (mock transports build read answers)
            return reader.already_read(response.content)
        for raw in response.iter_raw():
            if not reader.feed(raw):
                break
        return reader.finish()

    @contextlib.contextmanager
    def stream(self, call: Call[object]) -> Iterator[httpx.Response]:
        """Open ``call`` as a stream: yields the response after a 2xx status (the body unread).

        Opening follows the call's deadline; reading the body, the per-read timeout only (no size
        cap: the destination bounds a download).

        :param call: the call.
        """
        budget = _Budget(self.core.deadline_for(call))

        def open_stream() -> httpx.Response:
            remaining = budget.remaining()
            if remaining <= 0:
                raise self.core.deadline_error(call, budget)
            request = self.core.build_request(self._client, call)
            token = _SOCKET_DEADLINE.set(time.monotonic() + remaining)
            try:
                response = self._client.send(request, stream=True)
                budget.may_have_been_accepted = True
                if not 200 <= response.status_code < 300:
                    try:
                        content = self._read(call, response, budget)
                    finally:
                        response.close()
                    self.core.check_status(call, self.core.buffered(response, content))
            except httpx.HTTPError as exc:
                raise self.core.transport_error(call, exc, budget) from None
            finally:
                _SOCKET_DEADLINE.reset(token)
            return response

        response = self._retrying(call, budget)(open_stream)
        sync_stream = cast(httpx.SyncByteStream, response.stream)  # a sync client's responses stream synchronously
        response.stream = _WatchedStream(sync_stream, self.core.progress_watch(call))
        try:
            yield response
        except httpx.HTTPError as exc:
            raise self.core.transport_error(call, exc) from None
        finally:
            response.close()

    def run(self, flow: Flow[T]) -> T:
        """Drive a flow to its end and return its return value (emitted items are dropped).

        :param flow: the flow.
        """
        box: list[T] = []
        for _ in self._drive(flow, collect=False, box=box):
            pass
        return box[0]

    def iterate(self, flow: PagedFlow[E, Any]) -> Iterator[E]:
        """Drive a flow, yielding every item it emits (one page at a time, constant memory).

        :param flow: the flow.
        """
        yield from self._drive(flow, collect=True, box=[])

    def _drive(self, flow: PagedFlow[E, T], collect: bool, box: list[T]) -> Iterator[E]:
        reply: Any = None
        last: Call[object] | None = None
        try:
            while True:
                step = self.core.advance(flow, reply, last)
                reply = None
                if isinstance(step, Call):
                    last = step
                    reply = self.send(step)
                elif isinstance(step, Sleep):
                    self._sleep(step.seconds)
                elif isinstance(step, Emit):
                    if collect:
                        yield from step.items
                else:  # pragma: no cover - programming error
                    raise TypeError(f"unknown flow step {step!r}")
        except StopIteration as stop:
            box.append(stop.value)

    def execute(self, step: Call[T] | Flow[T]) -> T:
        """Send a call or run a flow.

        :param step: a call or a flow.
        """
        return self.send(step) if isinstance(step, Call) else self.run(step)

    def close(self) -> None:
        """Close the HTTP client (if one was made)."""
        if self._http_client is not None:
            self._http_client.close()


class AsyncHttp:
    """Asyncio twin of :class:`SyncHttp` over the same :class:`HttpCore`; sleeps with ``asyncio.sleep``.

    :param dialect: the vendor API (auth headers, error reading, base URLs).
    :param timeout: default timeout per request.
    :param retry: the retry policy.
    :param http_client: an ``httpx.AsyncClient`` to use (tests pass one with ``MockTransport``).
    :param sleep: the async sleep function (tests pass a fake clock).
    :param limits: size and time bounds (see :class:`ResponseLimits`).
    """

    def __init__(
        self,
        dialect: Dialect,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        limits: ResponseLimits | None = None,
    ) -> None:
        self.core = HttpCore(dialect, timeout=timeout, retry=retry, limits=limits)
        self._client = http_client if http_client is not None else new_async_client()
        self._sleep = sleep

    def _retrying(self, call: Call[object], budget: _Budget) -> tenacity.AsyncRetrying:
        async def sleep(seconds: float) -> None:
            budget.slept(seconds)
            await self._sleep(seconds)

        return tenacity.AsyncRetrying(sleep=sleep, **self.core.retrying_kwargs(call, budget))

    async def _retried(self, call: Call[object], budget: _Budget, attempt: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``await attempt()`` under the retry policy; its result (tenacity's async ``__call__`` leaves it untyped).

        ``attempt`` must be a coroutine function (``async def``): tenacity calls a plain callable without awaiting it.
        """
        result: T = await self._retrying(call, budget)(attempt)
        return result

    async def send(self, call: Call[T]) -> T:
        """Send ``call`` with the retry policy and limits; return its parsed result or raise a typed error.

        :param call: the call.
        """
        budget = _Budget(self.core.deadline_for(call))

        async def attempt() -> T:  # a coroutine function: tenacity awaits each try
            return await self._send_once(call, budget)

        return await self._retried(call, budget, attempt)

    async def _send_once(self, call: Call[T], budget: _Budget) -> T:
        core = self.core
        remaining = budget.remaining()
        if remaining <= 0:
            raise core.deadline_error(call, budget)
        request = core.build_request(self._client, call, timeout=core.attempt_timeout(call, remaining))
        started = time.monotonic()
        response: httpx.Response | None = None
        try:
            with anyio.fail_after(remaining):
                response = await self._client.send(request, stream=True)
                budget.may_have_been_accepted = True
                content = await self._read(call, response, budget)
        except TimeoutError:
            budget.may_have_been_accepted = True  # the request may have been written
            raise core.deadline_error(call, budget) from None
        except httpx.HTTPError as exc:
            raise core.transport_error(call, exc, budget) from None
        finally:
            if response is not None:
                await response.aclose()
        answer = core.buffered(response, content)
        core.log_exchange(call, answer, started)
        return core.parse(call, answer)

    async def _read(self, call: Call[object], response: httpx.Response, budget: _Budget | None) -> bytes:
        reader = _BodyReader(self.core, call, response, budget)
        if response.is_stream_consumed:  # read before it reached us (mock transports build read answers)
            return reader.already_read(response.content)
        async for raw in response.aiter_raw():
            if not reader.feed(raw):
                break
        return reader.finish()

    @contextlib.asynccontextmanager
    async def stream(self, call: Call[object]) -> AsyncIterator[httpx.Response]:
        """Async twin of :meth:`SyncHttp.stream`.

        :param call: the call.
        """
        budget = _Budget(self.core.deadline_for(call))

        async def open_stream() -> httpx.Response:
            remaining = budget.remaining()
            if remaining <= 0:
                raise self.core.deadline_error(call, budget)
            request = self.core.build_request(self._client, call)
            response: httpx.Response | None = None
            try:
                with anyio.fail_after(remaining):
                    response = await self._client.send(request, stream=True)
                    budget.may_have_been_accepted = True
                    if not 200 <= response.status_code < 300:
                        content = await self._read(call, response, budget)
                        await response.aclose()
                        self.core.check_status(call, self.core.buffered(response, content))
            except TimeoutError:
                budget.may_have_been_accepted = True
                if response is not None:
                    await response.aclose()
                raise self.core.deadline_error(call, budget) from None
            except httpx.HTTPError as exc:
                if response is not None:
                    await response.aclose()
                raise self.core.transport_error(call, exc, budget) from None
            except BaseException:
                if response is not None:
                    await response.aclose()
                raise
            return response

        response = await self._retried(call, budget, open_stream)
        async_stream = cast(httpx.AsyncByteStream, response.stream)  # an async client's responses stream asynchronously
        response.stream = _AsyncWatchedStream(async_stream, self.core.progress_watch(call))
        try:
            yield response
        except httpx.HTTPError as exc:
            raise self.core.transport_error(call, exc) from None
        finally:
            await response.aclose()

    async def run(self, flow: Flow[T]) -> T:
        """Drive a flow to its end and return its return value.

        :param flow: the flow.
        """
        box: list[T] = []
        async for _ in self._drive(flow, collect=False, box=box):
            pass
        return box[0]

    async def iterate(self, flow: PagedFlow[E, Any]) -> AsyncIterator[E]:
        """Drive a flow, yielding every item it emits.

        :param flow: the flow.
        """
        async for item in self._drive(flow, collect=True, box=[]):
            yield item

    async def _drive(self, flow: PagedFlow[E, T], collect: bool, box: list[T]) -> AsyncIterator[E]:
        reply: Any = None
        last: Call[object] | None = None
        try:
            while True:
                step = self.core.advance(flow, reply, last)
                reply = None
                if isinstance(step, Call):
                    last = step
                    reply = await self.send(step)
                elif isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                elif isinstance(step, Emit):
                    if collect:
                        for item in step.items:
                            yield item
                else:  # pragma: no cover - programming error
                    raise TypeError(f"unknown flow step {step!r}")
        except StopIteration as stop:
            box.append(stop.value)

    async def execute(self, step: Call[T] | Flow[T]) -> T:
        """Send a call or run a flow.

        :param step: a call or a flow.
        """
        return await (self.send(step) if isinstance(step, Call) else self.run(step))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
