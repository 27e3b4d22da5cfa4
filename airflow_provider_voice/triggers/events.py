"""Event trigger for ``AssetWatcher``: poll a vendor for new events and announce them (the pull path).

Airflow 3 starts DAG runs from external events with an Asset whose watcher's trigger subclasses
``BaseEventTrigger``. :class:`VoiceEventTrigger` is that trigger for vendors whose events can be
read back from their API — when webhooks cannot reach Airflow, or as a safety net beside them::

    from airflow.sdk import Asset, AssetWatcher

    uri = event_asset_uri("televoips", "televoips_default", "messages-received")
    inbound = Asset(
        name=uri,
        uri=uri,
        watchers=[
            AssetWatcher(
                name="televoips-inbound",
                trigger=VoiceEventTrigger(conn_id="televoips_default", kind="messages-received", poll_interval=30),
            )
        ],
    )

(:func:`airflow_provider_voice.operators.events.voice_event_asset` builds the same Asset.) A DAG
scheduled on it reads the events with
:func:`~airflow_provider_voice.operators.events.triggering_voice_events`.

Sources (:data:`EVENT_SOURCES`; any other vendor/kind pair is refused with a ``ValueError``):

============ ===================== ===============================================================
vendor       kind                  read from
============ ===================== ===============================================================
televoips    ``messages-received`` ``GET /messages?start=&end=``, ``direction`` inbound
televoips    ``opt-outs``          the same messages, kept when they are an opt-out keyword
velip        ``calls-ended``       ``GetCallStatus`` (``last_id`` cursor), final ``cd_status`` only
kaleyra      ``calls-ended``       ``dial.c2cstatus`` (the click-to-call log), ended calls only
============ ===================== ===============================================================

Each event has the same key as the webhook's for the same vendor record, so a record seen both
by a webhook and by a poll is stored — and announced — once, by whichever saw it first.

**Durability.** One round: poll after the saved position (at most :data:`MAX_REQUESTS_PER_POLL`
requests), store the new events and their batch with a pending marker (``EventStore.ingest``)
(``_pending/trigger-<watcher>/``), save the position, *then* yield the ``TriggerEvent``. The
previous round's batches are marked announced at the start of the next round, when the triggerer
has committed the event (Asset event). A triggerer that dies in between loses nothing: the next
one re-announces this watcher's pending batches first, and reads the vendor from the saved
position (events already stored are not new, so not announced again). A batch announced twice is
read once per consumer (the consumer claims it).

**Errors.** Vendor errors (rate limits, 5xx, network, malformed answers, refusals) and event
store errors are logged — without secrets, phone numbers masked — and the poll is retried with
backoff (doubling from ``poll_interval`` up to :data:`MAX_BACKOFF_SECONDS`, at least the vendor's
``Retry-After``). An authentication error, a configuration error (``ValidationError``) or a
connection of another vendor stops the trigger by raising: the triggerer's log says why, and
Airflow starts it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_voice.delivery.event_store import EventBatch, EventStore, configured_event_store, utc_now
from airflow_provider_voice.delivery.optouts import OptOutKeywords, derive_opt_outs
from airflow_provider_voice.errors import (
    AuthError,
    CapabilityNotSupportedError,
    RateLimitedError,
    ValidationError,
    VoiceProviderError,
)
from airflow_provider_voice.models.events import EVENT_KINDS, VoiceEvent
from airflow_provider_voice.redaction import redact
from airflow_provider_voice.transport import Flow
from airflow_provider_voice.triggers.base import async_voice_hook, parse_deadline
from airflow_provider_voice.vendors.kaleyra import ended_click_to_calls_flow
from airflow_provider_voice.vendors.registry import VENDORS
from airflow_provider_voice.vendors.televoips import inbound_messages_flow
from airflow_provider_voice.vendors.velip import ended_calls_flow

__all__ = [
    "EVENT_SOURCES",
    "MAX_BACKOFF_SECONDS",
    "MAX_REQUESTS_PER_POLL",
    "MIN_POLL_INTERVAL",
    "EventSource",
    "VoiceEventTrigger",
]

#: the shortest ``poll_interval`` accepted (seconds)
MIN_POLL_INTERVAL = 1.0
#: vendor requests (pages, windows) at most in one poll; a backlog is read over several polls
MAX_REQUESTS_PER_POLL = 5
#: the longest wait between two polls after repeated errors (unless ``poll_interval`` is longer)
MAX_BACKOFF_SECONDS = 900.0
#: the longest ``Retry-After`` honoured as such (a longer one waits this long, then polls again)
MAX_RETRY_AFTER_SECONDS = 3600.0
#: version of the saved cursor (``_cursors/<watcher>.json``)
CURSOR_VERSION = 1

#: a poll: ``(api, conn_id, position, *, start, now, max_requests) -> Flow[(events, new position)]``,
#: run by the async client (the same flow a blocking client could run)
Poller = Callable[..., Flow[tuple[list[VoiceEvent], dict[str, Any]]]]
#: errors that stop the trigger: no poll can succeed until someone fixes the connection or the arguments
_FATAL_ERRORS = (AuthError, ValidationError, CapabilityNotSupportedError)


@dataclass(frozen=True)
class EventSource:
    """One vendor/kind pair the trigger can poll.

    :param vendor: the connection type.
    :param kind: the event kind announced (the Asset).
    :param poll: the vendor's poll flow (``vendors/<vendor>/events.py``).
    :param summary: what is read, for the docs and the logs.
    """

    vendor: str
    kind: str
    poll: Poller
    summary: str


#: (vendor, kind) -> its source
EVENT_SOURCES: dict[tuple[str, str], EventSource] = {
    (source.vendor, source.kind): source
    for source in (
        EventSource("televoips", "messages-received", inbound_messages_flow, "GET /messages (inbound)"),
        EventSource("televoips", "opt-outs", inbound_messages_flow, "GET /messages (inbound opt-out keywords)"),
        EventSource("velip", "calls-ended", ended_calls_flow, "GetCallStatus (ended calls)"),
        EventSource("kaleyra", "calls-ended", ended_click_to_calls_flow, "dial.c2cstatus (ended click-to-calls)"),
    )
}


def _supported() -> str:
    return ", ".join(f"{vendor} {kind}" for vendor, kind in EVENT_SOURCES)


def _vendor_of(conn_id: str) -> str | None:
    """The vendor a connection id names by its prefix (``televoips_default`` → ``televoips``), if any."""
    return next((v.name for v in VENDORS if conn_id == v.name or conn_id.startswith(v.name + "_")), None)


class VoiceEventTrigger(BaseEventTrigger):
    """Poll a vendor for new events of one kind, store them, and fire one ``TriggerEvent`` per batch.

    Use it as an ``AssetWatcher``'s trigger on the Asset ``voice://<vendor>/<conn_id>/<kind>``
    (:func:`~airflow_provider_voice.models.events.event_asset_uri`); see the module docstring for
    the sources, the durability and the error rules. ``run()`` never returns.

    :param conn_id: the vendor connection to poll.
    :param kind: the event kind: ``messages-received`` or ``opt-outs`` (TeleVoIPs), ``calls-ended``
        (Velip, Kaleyra).
    :param poll_interval: seconds between polls (at least :data:`MIN_POLL_INTERVAL`; default 60).
        Velip allows about 200 list requests per hour: keep 60 or more there.
    :param watcher: a stable name for this watcher's saved position (``_cursors/<watcher>.json``)
        and pending batches (``_pending/trigger-<watcher>/``); default ``<conn_id>-<kind>``. Two
        watchers of one connection and kind with different arguments need different names.
    :param start: ISO 8601 time to read from when no position is saved yet (naive = UTC); default:
        the trigger's first start, i.e. only events from then on. Ignored once a position is saved.
    :param optout_keywords: ``opt-outs`` only: the keywords that make an inbound message an opt-out
        (default: the connection's ``optout_keywords`` extra, else the built-in EN/FR/PT/ES list).
    :param vendor: the connection's vendor; default: the connection id's prefix when it is a
        vendor name (``televoips_default``). When known, an unsupported vendor/kind pair is refused
        here; in any case a connection of another vendor stops the trigger when it starts.
    :param events_path: the event store (a path or URL); default ``[voice] events_path``. Set it
        only where every reader uses the same store (tests use a temporary folder).
    :raises ValueError: an unsupported vendor/kind pair, or an invalid argument.

    Events: ``{"voice_batches": [batch ids], "count": events, "vendor", "conn_id", "kind",
    "watcher"}`` — ids and counts only, never a phone number or a message text. Airflow puts the
    payload in the Asset event's ``extra["payload"]``.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        kind: str,
        poll_interval: float = 60.0,
        watcher: str | None = None,
        start: str | None = None,
        optout_keywords: Sequence[str] | None = None,
        vendor: str | None = None,
        events_path: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise ValidationError("conn_id", conn_id, "a connection id")
        names = [v.name for v in VENDORS]
        if vendor is not None and vendor not in names:
            raise ValidationError("vendor", vendor, f"one of {', '.join(names)}")
        known = vendor or _vendor_of(conn_id)
        if known is not None and (known, kind) not in EVENT_SOURCES:
            raise ValidationError(
                "kind", kind, f"{known} {kind} cannot be polled; this trigger polls {_supported()} (use the webhooks)"
            )
        if kind not in EVENT_KINDS or not any(k == kind for _, k in EVENT_SOURCES):
            raise ValidationError("kind", kind, f"a kind this trigger polls: {_supported()}")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not math.isfinite(poll_interval)
            or poll_interval < MIN_POLL_INTERVAL
        ):
            raise ValidationError(
                "poll_interval", poll_interval, f"a number of seconds of at least {MIN_POLL_INTERVAL:g}"
            )
        if watcher is not None and (not isinstance(watcher, str) or not watcher.strip()):
            raise ValidationError("watcher", watcher, "a non-empty name")
        if start is not None:
            try:
                parse_deadline(start)
            except (TypeError, ValueError, AttributeError):
                raise ValidationError("start", start, "an ISO 8601 time such as 2026-01-31T08:00:00+00:00") from None
        if optout_keywords is not None:
            if kind != "opt-outs":
                raise ValidationError("optout_keywords", optout_keywords, "only for kind 'opt-outs'")
            if isinstance(optout_keywords, str) or not all(isinstance(k, str) for k in optout_keywords):
                raise ValidationError("optout_keywords", optout_keywords, "a list of keywords")
        if events_path is not None and (not isinstance(events_path, str) or not events_path.strip()):
            raise ValidationError("events_path", events_path, "a path or URL")
        self.conn_id = conn_id
        self.kind = kind
        self.poll_interval = float(poll_interval)
        self.watcher = watcher
        self.start = start
        self.optout_keywords = list(optout_keywords) if optout_keywords is not None else None
        self.vendor = vendor
        self.events_path = events_path
        #: events stored by a round whose batch could not be written yet (batched by the next round)

    # -- names ------------------------------------------------------------------------------
    @property
    def watcher_name(self) -> str:
        """The watcher's name: ``watcher``, or ``<conn_id>-<kind>``."""
        return self.watcher or f"{self.conn_id}-{self.kind}"

    @property
    def source_name(self) -> str:
        """The ``source`` of this watcher's batches (their pending markers live under it)."""
        return f"trigger-{self.watcher_name}"

    # -- Airflow contract --------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The constructor's arguments, exactly (JSON primitives)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "kind": self.kind,
                "poll_interval": self.poll_interval,
                "watcher": self.watcher,
                "start": self.start,
                "optout_keywords": list(self.optout_keywords) if self.optout_keywords is not None else None,
                "vendor": self.vendor,
                "events_path": self.events_path,
            },
        )

    def hook_kwargs(self) -> dict[str, Any]:
        """Extra arguments for ``get_hook`` (none)."""
        return {}

    def event_store(self) -> EventStore:
        """The store events go to: ``events_path``, else ``[voice] events_path`` (blocking: call it in a thread)."""
        return EventStore(self.events_path) if self.events_path else configured_event_store()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Re-announce this watcher's pending batches, then poll forever (see the module docstring)."""
        store = await asyncio.to_thread(self.event_store)
        # the same connection lookup as the deferrable waits (Airflow's async API, then the vendor API)
        hook = await async_voice_hook(self.conn_id)
        vendor = str(getattr(hook, "conn_type", "") or "")
        source = self._source(vendor)
        keywords = self._keywords((await hook.aget_access()).settings) if self.kind == "opt-outs" else None
        client = await hook.aget_shared_client()  # the connection's shared pool in this loop
        name = self.watcher_name
        try:
            announced: list[EventBatch] = await asyncio.to_thread(store.pending_batches, self.source_name)
            if announced:
                self.log.info(
                    "watcher %r: announcing again %d batch(es) stored before the last stop (their Asset events may "
                    "be missing)",
                    name,
                    len(announced),
                )
                yield TriggerEvent(self._payload(announced, vendor))
                await asyncio.sleep(self.poll_interval)
            cursor = await asyncio.to_thread(self._load_cursor, store, vendor)
            start = dt.datetime.fromisoformat(cursor["start"])
            self.log.info(
                "watcher %r polls %s every %.0f s for %s %s events of %r (from %s)",
                name,
                source.summary,
                self.poll_interval,
                vendor,
                self.kind,
                self.conn_id,
                cursor["start"],
            )
            failures = 0
            while True:
                if announced:  # the previous round's Asset event is committed by now
                    announced = await asyncio.to_thread(self._mark_announced, store, announced)
                now = utc_now()
                try:
                    polled, position = await client.run(
                        source.poll(
                            client.api,
                            self.conn_id,
                            cursor.get("position"),
                            start=start,
                            now=now,
                            max_requests=MAX_REQUESTS_PER_POLL,
                        )
                    )
                    wanted = self._select(polled, keywords)
                    batches = await asyncio.to_thread(self._store_round, store, wanted)
                    cursor = {**cursor, "position": position, "polled_at": now.isoformat(timespec="seconds")}
                    await asyncio.to_thread(store.save_cursor, name, cursor)
                except _FATAL_ERRORS:
                    raise
                except (VoiceProviderError, OSError) as exc:
                    failures += 1
                    delay = self._backoff(exc, failures)
                    self.log.warning(
                        "watcher %r: poll %d of %s %s failed (%s: %s); polling again in %.0f s",
                        name,
                        failures,
                        vendor,
                        self.kind,
                        type(exc).__name__,
                        redact(str(exc), phones=True),
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                if batches:
                    payload = self._payload(batches, vendor)
                    self.log.info(
                        "watcher %r: %d new %s event(s) in batch(es) %s",
                        name,
                        payload["count"],
                        self.kind,
                        ", ".join(payload["voice_batches"]),
                    )
                    yield TriggerEvent(payload)
                    announced = batches
                await asyncio.sleep(self.poll_interval)
        finally:
            await client.aclose()

    # -- steps ------------------------------------------------------------------------------
    def _source(self, vendor: str) -> EventSource:
        expected = self.vendor or _vendor_of(self.conn_id)
        if expected is not None and vendor != expected:
            raise ValidationError(
                "conn_id",
                self.conn_id,
                f"a {expected} connection (its event Asset names {expected}); it is a {vendor or 'non-voice'} one",
            )
        source = EVENT_SOURCES.get((vendor, self.kind))
        if source is None:
            raise ValidationError(
                "kind",
                self.kind,
                f"{vendor or 'this connection'} {self.kind} cannot be polled; this trigger polls {_supported()}",
            )
        return source

    def _keywords(self, settings: Mapping[str, Any]) -> OptOutKeywords:
        configured = self.optout_keywords if self.optout_keywords is not None else settings.get("optout_keywords")
        return OptOutKeywords.parse(configured)

    def _select(self, polled: list[VoiceEvent], keywords: OptOutKeywords | None) -> list[VoiceEvent]:
        """The polled events of this trigger's kind (``opt-outs``: derived from the inbound messages)."""
        if self.kind == "opt-outs":
            return derive_opt_outs(polled, keywords or OptOutKeywords())
        return [event for event in polled if event.kind == self.kind]

    def _load_cursor(self, store: EventStore, vendor: str) -> dict[str, Any]:
        """The saved cursor, or a new one starting at ``start`` (saved at once: a restart keeps the same start)."""
        saved = store.cursor(self.watcher_name)
        if saved is not None:
            if saved.get("vendor") == vendor and saved.get("kind") == self.kind and isinstance(saved.get("start"), str):
                try:
                    dt.datetime.fromisoformat(saved["start"])
                    return saved
                except ValueError:
                    pass
            self.log.warning(
                "watcher %r: the saved cursor is for %s %s, not %s %s: starting a new one",
                self.watcher_name,
                saved.get("vendor"),
                saved.get("kind"),
                vendor,
                self.kind,
            )
        at = parse_deadline(self.start)
        moment = utc_now() if at is None else dt.datetime.fromtimestamp(at, tz=dt.timezone.utc)
        cursor: dict[str, Any] = {
            "version": CURSOR_VERSION,
            "vendor": vendor,
            "conn_id": self.conn_id,
            "kind": self.kind,
            "start": moment.isoformat(),
            "position": None,
        }
        store.save_cursor(self.watcher_name, cursor)
        return cursor

    def _store_round(self, store: EventStore, events: list[VoiceEvent]) -> list[EventBatch]:
        """Store the events and write the new ones as pending batches (:meth:`EventStore.ingest`: an
        event a crashed round stored without its batch gets it now)."""
        return store.ingest(events, source=self.source_name).batches

    def _mark_announced(self, store: EventStore, batches: list[EventBatch]) -> list[EventBatch]:
        """Remove the batches' pending markers; the ones that could not be removed (tried again next round)."""
        left = []
        for batch in batches:
            try:
                store.mark_announced(batch)
            except OSError as exc:
                self.log.warning(
                    "watcher %r: cannot mark batch %s announced (%s)", self.watcher_name, batch.batch_id, exc
                )
                left.append(batch)
        return left

    def _payload(self, batches: list[EventBatch], vendor: str) -> dict[str, Any]:
        return {
            "voice_batches": [batch.batch_id for batch in batches],
            "count": sum(len(batch.keys) for batch in batches),
            "vendor": vendor,
            "conn_id": self.conn_id,
            "kind": self.kind,
            "watcher": self.watcher_name,
        }

    def _backoff(self, exc: BaseException, failures: int) -> float:
        """Seconds before the next poll after ``failures`` failed polls in a row."""
        ceiling = max(MAX_BACKOFF_SECONDS, self.poll_interval)
        delay = min(self.poll_interval * 2 ** min(failures - 1, 20), ceiling)
        if isinstance(exc, RateLimitedError) and exc.retry_after:
            delay = max(delay, min(float(exc.retry_after), MAX_RETRY_AFTER_SECONDS))
        return delay
