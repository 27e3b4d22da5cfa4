"""The webhook receiver: ``/voice-webhooks/<conn_id>/<route>[?token=<secret>]`` on the Airflow api-server.

For every request, in this order (the first failure answers):

1. **Size**: a body over :data:`MAX_BODY_BYTES` (``Content-Length`` or counted while reading) → 413.
2. **Route**: the connection's vendor must have ``<route>`` (``vendors/<vendor>/events.py``) and
   accept the method → 404 / 405.
3. **Auth** (plugin apps are mounted without Airflow's auth): the connection's ``webhook_auth`` —
   ``token`` (the ``token`` query parameter), ``basic`` or ``api_key`` (a header) — compared in constant
   time with ``webhook_secret`` (and ``webhook_username``) → 401 otherwise, also for an unknown
   connection, one without a secret, or a secret shorter than :data:`MIN_SECRET_LENGTH`.
4. **Parse** with the vendor's parser → 400 (the reason logged, without numbers or texts).
5. **Store** each event under its key (a retry or replay is stored once), derive opt-outs from
   inbound keywords, write the batch and its pending marker — all durable — then answer **200**
   with the vendor's expected body (``{"outcome":"success"}`` for TeleVoIPs, empty otherwise).
   A storage failure answers 503, so the vendor retries.

Announcing happens after the answer: the :class:`~.publisher.AssetEventPublisher` (started with the
app) turns pending batches into Asset events, and on start-up announces what a previous process
stored but did not announce.

Connection lookups are cached for :data:`CONNECTION_TTL_SECONDS`; secrets never reach a log, an
exception or a response. The token travels as the ``token`` query parameter because Airflow's
access log masks the values of secret-looking query parameters (``token``...) — a path segment
would be logged in clear; :class:`AccessLogTokenFilter` does the same for uvicorn/gunicorn access
logs. The ``token`` parameter is not passed to the vendor's parser.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.responses import Response

from airflow_provider_voice.delivery.event_store import EventStore, configured_event_store
from airflow_provider_voice.delivery.optouts import OptOutKeywords, derive_opt_outs
from airflow_provider_voice.models.events import WebhookEndpoint, WebhookPayloadError, WebhookRequest
from airflow_provider_voice.redaction import get_logger, mask_phones, register_secret
from airflow_provider_voice.vendors.access import Vendor
from airflow_provider_voice.vendors.registry import VENDORS

__all__ = ["MAX_BODY_BYTES", "WebhookReceiver", "app", "build_app"]

log = get_logger(__name__)

#: the largest body accepted (a TeleVoIPs CDR array of a few thousand records fits)
MAX_BODY_BYTES = 1024 * 1024
#: secrets shorter than this are refused (a guessable token protects nothing)
MIN_SECRET_LENGTH = 16
#: how long a connection's webhook settings are cached (a changed secret applies after this)
CONNECTION_TTL_SECONDS = 30.0
#: how long an unknown connection is remembered as unknown (bounds lookups by strangers)
UNKNOWN_TTL_SECONDS = 5.0
AUTH_MODES = ("token", "basic", "api_key")


@dataclass(frozen=True)
class WebhookSettings:
    """One connection's webhook settings (``repr`` never shows the secret)."""

    conn_id: str
    vendor: Vendor[Any]
    auth: str | None
    secret: str | None
    username: str | None
    api_key_header: str
    keywords: OptOutKeywords

    def __repr__(self) -> str:
        return f"WebhookSettings(conn_id={self.conn_id!r}, vendor={self.vendor.name!r}, auth={self.auth!r})"


def settings_from_connection(conn_id: str, conn_type: str | None, extra: dict[str, Any]) -> WebhookSettings | None:
    """The webhook settings of a connection, or None when its type is not one of ours."""
    vendor = next((v for v in VENDORS if v.name == conn_type), None)
    if vendor is None:
        return None
    prefix = f"extra__{vendor.name}__"

    def value(name: str) -> Any:
        found = extra.get(name, extra.get(prefix + name))
        return found.strip() if isinstance(found, str) else found

    secret = value("webhook_secret")
    register_secret(secret if isinstance(secret, str) else None)
    auth = value("webhook_auth")
    return WebhookSettings(
        conn_id=conn_id,
        vendor=vendor,
        auth=str(auth).lower() if auth else None,
        secret=secret if isinstance(secret, str) and secret else None,
        username=value("webhook_username") or None,
        api_key_header=str(value("webhook_api_key_header") or "X-Api-Key"),
        keywords=OptOutKeywords.parse(value("optout_keywords")),
    )


def _airflow_connection(conn_id: str) -> WebhookSettings | None:
    """Read a connection the way the api-server does (secrets backends, then the database)."""
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except Exception as err:  # AirflowNotFoundException, or a backend error: refuse, say why in the log
        if type(err).__name__ != "AirflowNotFoundException":
            log.warning("webhook for connection %r: cannot read the connection (%s)", conn_id, type(err).__name__)
        return None
    try:
        extra = conn.extra_dejson or {}
    except Exception:
        extra = {}
    return settings_from_connection(conn_id, conn.conn_type, extra if isinstance(extra, dict) else {})


class WebhookReceiver:
    """What the app does, without the web framework: look up, authenticate, parse, store.

    :param store: the event store (default: ``[voice] events_path``, resolved on first use).
    :param lookup: ``conn_id -> WebhookSettings | None`` (default: Airflow's connections).
    :param clock: POSIX time source (tests).
    """

    def __init__(
        self,
        store: EventStore | None = None,
        lookup: Any = None,
        clock: Any = time.monotonic,
    ) -> None:
        self._store = store
        self._lookup = lookup or _airflow_connection
        self._clock = clock
        self._cache: dict[str, tuple[float, WebhookSettings | None]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self.on_stored: Any = None  # called after new batches are stored (the publisher's wake-up)

    @property
    def store(self) -> EventStore:
        if self._store is None:
            self._store = configured_event_store()
        return self._store

    def settings(self, conn_id: str) -> WebhookSettings | None:
        """The connection's webhook settings (cached)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(conn_id)
            if cached and cached[0] > now:
                return cached[1]
        found = self._lookup(conn_id)
        ttl = CONNECTION_TTL_SECONDS if found is not None else UNKNOWN_TTL_SECONDS
        with self._lock:
            if len(self._cache) > 10_000:  # strangers probing random ids: forget them
                self._cache.clear()
            self._cache[conn_id] = (now + ttl, found)
        return found

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def authenticate(
        self, settings: WebhookSettings, endpoint: WebhookEndpoint, token: str | None, headers: Any
    ) -> bool:
        """Whether the request proves it comes from the vendor (constant-time comparisons)."""
        conn_id = settings.conn_id
        if not settings.auth or not settings.secret:
            self._warn_once(
                f"{conn_id}:none", "connection %r: webhooks refused (set webhook_auth and webhook_secret)", conn_id
            )
            return False
        if settings.auth not in AUTH_MODES or settings.auth not in endpoint.auth:
            allowed = ", ".join(endpoint.auth)
            self._warn_once(
                f"{conn_id}:{endpoint.name}:mode",
                "connection %r: webhook_auth %r cannot be used for %s route %r (allowed: %s): refused",
                conn_id,
                settings.auth,
                settings.vendor.name,
                endpoint.name,
                allowed,
            )
            return False
        if len(settings.secret) < MIN_SECRET_LENGTH:
            self._warn_once(
                f"{conn_id}:short",
                "connection %r: webhook_secret is shorter than %d characters: refused",
                conn_id,
                MIN_SECRET_LENGTH,
            )
            return False
        secret = settings.secret.encode("utf-8")
        if settings.auth == "token":
            return token is not None and hmac.compare_digest(token.encode("utf-8"), secret)
        if settings.auth == "api_key":
            given = headers.get(settings.api_key_header)
            return given is not None and hmac.compare_digest(given.encode("utf-8"), secret)
        user, password = _basic_credentials(headers.get("authorization"))
        if user is None or password is None or not settings.username:
            return False
        user_ok = hmac.compare_digest(user.encode("utf-8"), settings.username.encode("utf-8"))
        password_ok = hmac.compare_digest(password.encode("utf-8"), secret)
        return user_ok and password_ok

    def accept(self, settings: WebhookSettings, endpoint: WebhookEndpoint, request: WebhookRequest) -> tuple[int, int]:
        """Parse and store one request; ``(new events, repeated events)``.

        :raises WebhookPayloadError: the body does not match the vendor's shape.
        """
        events = endpoint.parse(request, settings.conn_id)
        events = events + derive_opt_outs(events, settings.keywords)
        done = self.store.ingest(events)
        if done.batches and self.on_stored is not None:
            self.on_stored()
        if done.unsettled:
            raise EventsUnsettledError(f"{done.unsettled} event(s) are still being stored by another request")
        return len(done.new), done.repeated


class EventsUnsettledError(RuntimeError):
    """A repeat of events another request is still storing: answered 503 so the vendor retries."""


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header[:6].lower() == "basic ":
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


def _plain(status: int, message: str) -> Response:
    return Response(json.dumps({"detail": message}), status_code=status, media_type="application/json")


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


_TOKEN_IN_QUERY = re.compile(r"(/voice-webhooks/[^\s?]*\?(?:[^\s]*&)?token=)[^&\s\"]+")


class AccessLogTokenFilter(logging.Filter):
    """Masks the ``token`` query value of webhook URLs in access-log lines (uvicorn, gunicorn)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "/voice-webhooks/" in record.msg:
            record.msg = _TOKEN_IN_QUERY.sub(r"\1***", record.msg)
        return True


ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access", "uvicorn.error")


def install_access_log_filter() -> AccessLogTokenFilter:
    """Add the token filter to the access loggers (idempotent); returns it."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        for existing in logger.filters:
            if isinstance(existing, AccessLogTokenFilter):
                break
        else:
            logger.addFilter(AccessLogTokenFilter())
    return next(f for f in logging.getLogger(ACCESS_LOGGERS[0]).filters if isinstance(f, AccessLogTokenFilter))


def build_app(receiver: WebhookReceiver | None = None, *, publisher: Any = None) -> FastAPI:
    """The receiver's FastAPI app.

    :param receiver: the receiver (default: Airflow connections, ``[voice] events_path``).
    :param publisher: an :class:`~.publisher.AssetEventPublisher` started and stopped with the app
        (default: one announcing to Airflow's database; ``False``: none, for tests of the receiver).
    """
    receiver = receiver or WebhookReceiver()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        install_access_log_filter()
        running = publisher
        if running is None:
            from airflow_provider_voice.plugins.publisher import AssetEventPublisher

            running = AssetEventPublisher(lambda: receiver.store)
        if running:
            receiver.on_stored = running.wake
            running.start()
        try:
            yield
        finally:
            if running:
                await to_thread.run_sync(running.stop)

    app = FastAPI(
        title="Voice provider webhooks",
        description="Vendor webhooks (Velip, TeleVoIPs, Octopush, Kaleyra) → Airflow Asset events.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    async def receive(request: Request, conn_id: str, route: str) -> Response:
        started = time.perf_counter()
        body = await _read_body(request)
        if body is None:
            log.warning("webhook %s/%s refused: body over %d bytes", conn_id, route, MAX_BODY_BYTES)
            return _plain(413, f"body over {MAX_BODY_BYTES} bytes")
        settings = await to_thread.run_sync(receiver.settings, conn_id)
        endpoint = settings.vendor.webhook(route) if settings else None
        if settings is None:
            return _plain(401, "unauthorized")
        if endpoint is None:
            return _plain(404, f"{settings.vendor.name} has no webhook route {route!r}")
        if request.method not in endpoint.methods:
            return _plain(405, f"{route} accepts {', '.join(endpoint.methods)}")
        token = request.query_params.get("token")
        if not receiver.authenticate(settings, endpoint, token, request.headers):
            log.warning("webhook %s/%s refused: not authenticated", conn_id, route)
            return _plain(401, "unauthorized")
        parsed = WebhookRequest(
            method=request.method,
            query={k: v for k, v in request.query_params.items() if k != "token"},
            body=body,
            content_type=(request.headers.get("content-type") or "").split(";")[0].strip().lower(),
            received_at=dt.datetime.now(dt.timezone.utc),
        )
        try:
            new, repeated = await to_thread.run_sync(receiver.accept, settings, endpoint, parsed)
        except WebhookPayloadError as err:
            log.warning(
                "webhook %s/%s refused (400): %s; body (%d bytes) starts %r",
                conn_id,
                route,
                err,
                len(body),
                mask_phones(body[:120].decode("utf-8", "replace")),
            )
            return _plain(400, f"not a {settings.vendor.name} {route} payload: {err}")
        except EventsUnsettledError as err:
            log.info("webhook %s/%s answered 503 (retry later): %s", conn_id, route, err)
            return _plain(503, "retry later")
        except Exception as err:  # storage down: the vendor must retry, nothing is acknowledged
            log.error("webhook %s/%s not stored (503): %s: %s", conn_id, route, type(err).__name__, err)
            return _plain(503, "event store unavailable; retry later")
        log.info(
            "webhook %s/%s: %d new event(s), %d repeat(s) in %.1f ms",
            conn_id,
            route,
            new,
            repeated,
            (time.perf_counter() - started) * 1000,
        )
        return Response(endpoint.success_body, status_code=200, media_type=endpoint.success_type)

    app.add_api_route("/{conn_id}/{route}", receive, methods=["GET", "POST"], include_in_schema=False)
    app.state.receiver = receiver
    return app


#: the app the plugin mounts
app = build_app()
