"""One HTTP core for every vendor: request building, retry policy, error classification.

All pure logic lives once in :class:`HttpCore`; :class:`SyncHttp` and :class:`AsyncHttp` only differ
in how they *send* and *sleep*. A vendor plugs in through a :class:`Dialect` (its auth headers and
how to read its error bodies) and describes each endpoint as a :class:`Call`.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json as jsonlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import tenacity

from airflow_provider_voice import __version__
from airflow_provider_voice.errors import (
    AuthError,
    MalformedResponseError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    VendorRejectedError,
    VoiceProviderError,
)
from airflow_provider_voice.redaction import get_logger, redact

__all__ = [
    "USER_AGENT",
    "AsyncHttp",
    "Call",
    "Dialect",
    "Emit",
    "ErrorInfo",
    "Flow",
    "HttpCore",
    "RetryPolicy",
    "Sleep",
    "SyncHttp",
    "json_body",
    "parse_retry_after",
]

T = TypeVar("T")
log = get_logger(__name__)

USER_AGENT = f"airflow-provider-voice/{__version__} httpx/{httpx.__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP exchange with a vendor, described without sending it.

    :param endpoint: the vendor's name for the operation (``"MakeTTSCall"``, ``"voice.call"``...).
    :param method: HTTP method.
    :param path: path relative to the base URL named by ``base``.
    :param parse: turns a successful :class:`httpx.Response` into the result (may raise
        :class:`VendorRejectedError` for errors a vendor reports inside a 200 body).
    :param params: query string. :param data: form fields. :param json: JSON body.
    :param files: multipart files. :param content: raw body.
    :param headers: extra headers (auth headers are added by the dialect).
    :param idempotent: safe to resend after an ambiguous failure; defaults to True for GET/HEAD.
    :param base: key of the base URL to use (vendors with several hosts, e.g. Kaleyra OBD).
    :param auth: which of the vendor's credentials signs the call (TeleVoIPs has two keys).
    :param stream: do not read the body (used with :meth:`SyncHttp.stream`).
    """

    endpoint: str
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
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

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Sleep:
    """Flow step: wait ``seconds`` (``time.sleep`` or ``asyncio.sleep`` depending on the driver)."""

    seconds: float


@dataclass(frozen=True)
class Emit:
    """Flow step: hand ``items`` to the caller of ``iterate`` (pagination)."""

    items: list[Any]


FlowStep = Call[Any] | Sleep | Emit
Flow = Generator[FlowStep, Any, T]


@dataclass(frozen=True)
class ErrorInfo:
    """What a vendor's error body says: its code, its message and per-field errors."""

    code: str | None = None
    message: str | None = None
    field_errors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    payload: Any = None


class Dialect:
    """What the HTTP core needs to know about a vendor. Vendor APIs subclass it."""

    vendor: str = "vendor"
    #: base URLs by key; ``"default"`` is required
    base_urls: Mapping[str, str] = {}

    def auth_headers(self, call: Call[Any]) -> dict[str, str]:
        """Headers that authenticate ``call`` (most vendors: the same for every call)."""
        return {}

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        """Read the vendor's error body. The default reads ``{"message": ...}`` or plain text."""
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
    try:
        return response.text[:limit]
    except Exception:
        return ""


def json_body(response: httpx.Response, *, vendor: str, endpoint: str) -> Any:
    """Decode a JSON body or raise :class:`MalformedResponseError` (with a redacted excerpt)."""
    try:
        return response.json()
    except ValueError:
        excerpt = redact(_safe_text(response, 200))
        raise MalformedResponseError(
            f"expected JSON, got {response.headers.get('content-type', 'no content type')}: {excerpt!r}",
            vendor=vendor,
            endpoint=endpoint,
        ) from None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
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

    def should_retry(self, call: Call[Any], exc: BaseException) -> bool:
        """Whether ``exc`` raised by ``call`` may be retried (see the module docstring)."""
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        if isinstance(exc, ServerError):
            return call.is_idempotent
        if isinstance(exc, TransportError):
            return call.is_idempotent or not exc.may_have_been_accepted
        return False

    def wait_seconds(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1``: ``Retry-After`` when given, else jittered backoff."""
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after)
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class HttpCore:
    """Shared, I/O-free half of the sync and async clients."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.dialect = dialect
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry = retry or RetryPolicy()

    # -- requests -------------------------------------------------------------------------
    def url_for(self, call: Call[Any]) -> str:
        try:
            base = self.dialect.base_urls[call.base]
        except KeyError:
            raise VoiceProviderError(
                f"no base URL named {call.base!r}", vendor=self.dialect.vendor, endpoint=call.endpoint
            ) from None
        return base.rstrip("/") + "/" + call.path.lstrip("/")

    def build_request(self, client: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/xml;q=0.9, */*;q=0.5"}
        headers.update(self.dialect.auth_headers(call))
        headers.update(call.headers or {})
        timeout = call.timeout if call.timeout is not None else self.timeout
        return client.build_request(
            call.method,
            self.url_for(call),
            params=_clean(call.params),
            data=_clean(call.data),
            json=call.json,
            files=call.files,
            content=call.content,
            headers=headers,
            timeout=timeout,
        )

    # -- responses ------------------------------------------------------------------------
    def check_status(self, call: Call[Any], response: httpx.Response) -> None:
        """Raise the typed error for a non-2xx response (the body must already be read)."""
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
        info = self.dialect.error_info(response)
        text = redact(info.message or response.reason_phrase)
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
        self.check_status(call, response)
        return call.parse(response)

    def transport_error(self, call: Call[Any], exc: httpx.HTTPError) -> TransportError:
        """Map an httpx failure to a typed error, saying whether the vendor may have the request."""
        vendor, endpoint = self.dialect.vendor, call.endpoint
        never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
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
    def retrying_kwargs(self, call: Call[Any]) -> dict[str, Any]:
        policy = self.retry

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return policy.wait_seconds(exc, state.attempt_number)

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
            "stop": tenacity.stop_after_attempt(policy.max_attempts),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def log_exchange(self, call: Call[Any], response: httpx.Response, started: float) -> None:
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


class SyncHttp:
    """Blocking client: sends :class:`Call` objects and drives flows with ``time.sleep``.

    :param dialect: the vendor API (auth headers, error reading, base URLs).
    :param timeout: default timeout per request.
    :param retry: the retry policy.
    :param http_client: an ``httpx.Client`` to use (tests pass one with ``MockTransport``).
    :param sleep: the sleep function (tests pass a fake clock).
    """

    def __init__(
        self,
        dialect: Dialect,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.core = HttpCore(dialect, timeout=timeout, retry=retry)
        self._client = http_client or httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=20))
        self._sleep = sleep

    def send(self, call: Call[T]) -> T:
        """Send ``call`` with the retry policy; return its parsed result or raise a typed error."""
        retrying = tenacity.Retrying(sleep=self._sleep, **self.core.retrying_kwargs(call))
        return retrying(self._send_once, call)

    def _send_once(self, call: Call[T]) -> T:
        request = self.core.build_request(self._client, call)
        started = time.monotonic()
        try:
            response = self._client.send(request)
        except httpx.HTTPError as exc:
            raise self.core.transport_error(call, exc) from None
        self.core.log_exchange(call, response, started)
        return self.core.parse(call, response)

    @contextlib.contextmanager
    def stream(self, call: Call[Any]) -> Iterator[httpx.Response]:
        """Open ``call`` as a stream: yields the response after a 2xx status (the body unread)."""

        def open_stream() -> httpx.Response:
            request = self.core.build_request(self._client, call)
            try:
                response = self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise self.core.transport_error(call, exc) from None
            if not 200 <= response.status_code < 300:
                try:
                    response.read()
                finally:
                    response.close()
                self.core.check_status(call, response)
            return response

        retrying = tenacity.Retrying(sleep=self._sleep, **self.core.retrying_kwargs(call))
        response = retrying(open_stream)
        try:
            yield response
        except httpx.HTTPError as exc:
            raise self.core.transport_error(call, exc) from None
        finally:
            response.close()

    def run(self, flow: Flow[T]) -> T:
        """Drive a flow to its end and return its return value (emitted items are dropped)."""
        box: list[Any] = []
        for _ in self._drive(flow, collect=False, box=box):
            pass
        return box[0]

    def iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        """Drive a flow, yielding every item it emits (one page at a time, constant memory)."""
        yield from self._drive(flow, collect=True, box=[])

    def _drive(self, flow: Flow[Any], collect: bool, box: list[Any]) -> Iterator[Any]:
        reply: Any = None
        try:
            while True:
                step = flow.send(reply)
                reply = None
                if isinstance(step, Call):
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
        """Send a call or run a flow."""
        return self.send(step) if isinstance(step, Call) else self.run(step)

    def close(self) -> None:
        self._client.close()


class AsyncHttp:
    """Asyncio twin of :class:`SyncHttp` over the same :class:`HttpCore`; sleeps with ``asyncio.sleep``."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.core = HttpCore(dialect, timeout=timeout, retry=retry)
        self._client = http_client or httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
        self._sleep = sleep

    async def send(self, call: Call[T]) -> T:
        """Send ``call`` with the retry policy; return its parsed result or raise a typed error."""
        retrying = tenacity.AsyncRetrying(sleep=self._sleep, **self.core.retrying_kwargs(call))
        return await retrying(self._send_once, call)

    async def _send_once(self, call: Call[T]) -> T:
        request = self.core.build_request(self._client, call)
        started = time.monotonic()
        try:
            response = await self._client.send(request)
        except httpx.HTTPError as exc:
            raise self.core.transport_error(call, exc) from None
        self.core.log_exchange(call, response, started)
        return self.core.parse(call, response)

    @contextlib.asynccontextmanager
    async def stream(self, call: Call[Any]) -> AsyncIterator[httpx.Response]:
        """Async twin of :meth:`SyncHttp.stream`."""

        async def open_stream() -> httpx.Response:
            request = self.core.build_request(self._client, call)
            try:
                response = await self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise self.core.transport_error(call, exc) from None
            if not 200 <= response.status_code < 300:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
                self.core.check_status(call, response)
            return response

        retrying = tenacity.AsyncRetrying(sleep=self._sleep, **self.core.retrying_kwargs(call))
        response = await retrying(open_stream)
        try:
            yield response
        except httpx.HTTPError as exc:
            raise self.core.transport_error(call, exc) from None
        finally:
            await response.aclose()

    async def run(self, flow: Flow[T]) -> T:
        """Drive a flow to its end and return its return value."""
        box: list[Any] = []
        async for _ in self._drive(flow, collect=False, box=box):
            pass
        return box[0]

    async def iterate(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        """Drive a flow, yielding every item it emits."""
        async for item in self._drive(flow, collect=True, box=[]):
            yield item

    async def _drive(self, flow: Flow[Any], collect: bool, box: list[Any]) -> AsyncIterator[Any]:
        reply: Any = None
        try:
            while True:
                step = flow.send(reply)
                reply = None
                if isinstance(step, Call):
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
        """Send a call or run a flow."""
        return await (self.send(step) if isinstance(step, Call) else self.run(step))

    async def aclose(self) -> None:
        await self._client.aclose()
