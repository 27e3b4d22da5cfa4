"""Events at the end of simulated calls, and webhook delivery to loopback URLs the way vendors do it.

Vendors :meth:`~WebhookDispatcher.watch` a :class:`~.calls.CallBatch` with a callback run once
per call when it ends (the simulator records the callback URL in the ledger there).
:meth:`~WebhookDispatcher.pump` runs those callbacks up to the clock; the server calls it on every
request, before every ledger read and every 0.1 s.

HTTP deliveries (:meth:`~WebhookDispatcher.deliver`) are only ever made to loopback URLs, from the
server's event loop (:func:`run_delivery_loop`, with :class:`~.loopback_http.LoopbackHttpClient`),
never blocking it. Settings (``SimulatorConfig``):

* ``webhook_timeout``: seconds one try may take (connect + answer).
* ``webhook_max_in_flight`` (20): requests in flight at once.
* ``webhook_max_queue`` (10,000): deliveries waiting (scheduled or ready). A delivery queued
  beyond that is **dropped and counted** (``dropped``), with a warning in the log.
* Retries, for the vendors in ``webhook_retry_vendors`` (default ``["televoips"]``: its spec says
  a webhook is retried until it gets a 200, for 1 hour or 20 tries): a try that gets anything but
  the accepted answer (TeleVoIPs: exactly 200; other vendors: any 2xx) or a connection error /
  timeout is tried again after ``webhook_retry_base_seconds * 2**(tries-1)`` seconds (capped at
  ``webhook_retry_max_seconds``), up to ``webhook_max_tries`` tries and while the next try falls
  within ``webhook_retry_window_seconds`` of the first one; then the delivery counts in
  ``gave_up``. Retry waits are wall-clock time (``time.monotonic``), not the simulator clock.
  The other vendors (Velip, Octopush, Kaleyra) document no retry: their webhooks are **best
  effort**, one try each (a failed one counts in ``failed`` and ``gave_up``).
* Faults: ``webhook_duplicate_rate`` (seeded): once a delivery is accepted, an identical request
  is sent again ``webhook_duplicate_delay_seconds`` later (at-least-once delivery);
  ``webhook_delay_seconds``: every delivery waits that long before its first try;
  ``webhook_reorder``: the ready deliveries are shuffled (seeded) before each take, so events
  arrive out of order. :meth:`~WebhookDispatcher.hold` pauses deliveries and
  :meth:`~WebhookDispatcher.release` lets everything held go at once (a burst, bounded by
  ``webhook_max_in_flight``).

Counters (exact; :meth:`~WebhookDispatcher.snapshot`): ``pending`` (queued, not yet sent or
waiting for a retry), ``in_flight``, ``delivered`` (deliveries accepted), ``failed`` (tries not
accepted), ``gave_up`` (deliveries that will not be tried again after a failure), ``dropped``
(outbox full), ``duplicates`` (repeated copies queued), and the last 5,000 tries in ``attempts``
(vendor, kind, URL path only, try number, HTTP status or None, the error class after a connection
error or timeout, event id, whether it was a duplicate copy). Every delivery queued
ends up in exactly one of ``delivered`` and ``gave_up``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from .auth import is_loopback_url
from .calls import CallBatch

log = logging.getLogger(__name__)

#: tries kept in :meth:`WebhookDispatcher.snapshot` ``attempts`` (the counters stay exact)
MAX_ATTEMPTS_KEPT = 5_000
#: what a vendor's receiver must answer for a delivery to count as accepted (others: any 2xx)
ACCEPTED_STATUS: dict[str, frozenset[int]] = {"televoips": frozenset({200})}


class WebhookSettings(Protocol):
    """The settings the dispatcher reads (``SimulatorConfig`` has them all)."""

    @property
    def seed(self) -> int: ...
    @property
    def webhook_timeout(self) -> float: ...
    @property
    def webhook_max_in_flight(self) -> int: ...
    @property
    def webhook_max_queue(self) -> int: ...
    @property
    def webhook_retry_vendors(self) -> Sequence[str]: ...
    @property
    def webhook_retry_base_seconds(self) -> float: ...
    @property
    def webhook_retry_max_seconds(self) -> float: ...
    @property
    def webhook_max_tries(self) -> int: ...
    @property
    def webhook_retry_window_seconds(self) -> float: ...
    @property
    def webhook_duplicate_rate(self) -> float: ...
    @property
    def webhook_duplicate_delay_seconds(self) -> float: ...
    @property
    def webhook_delay_seconds(self) -> float: ...
    @property
    def webhook_reorder(self) -> bool: ...


@dataclass
class Delivery:
    """One HTTP request the simulator will make to a loopback URL (and its tries so far).

    :param method: ``POST`` or ``GET``.
    :param url: the loopback URL.
    :param json: a JSON body.
    :param data: a form-encoded body.
    :param headers: extra request headers (e.g. the receiver's credentials).
    :param vendor: who sends it (decides the retry policy).
    :param kind: the event kind (``message-delivered``, ``call-ended``, ...).
    :param event_id: the vendor's id of the event, for the attempt log.
    :param repeat: once accepted, send an identical copy (the duplicate fault).
    :param duplicate: this request is such a copy.
    """

    method: str
    url: str
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    vendor: str = ""
    kind: str = ""
    event_id: str = ""
    repeat: bool = False
    duplicate: bool = False
    tries: int = 0
    first_try_at: float | None = None
    generation: int = 0

    def copy(self) -> Delivery:
        """The same request, not tried yet, sent once (no further copy)."""
        return Delivery(
            self.method,
            self.url,
            self.json,
            self.data,
            dict(self.headers),
            self.vendor,
            self.kind,
            self.event_id,
            repeat=False,
            duplicate=True,
        )


@dataclass
class _Watch:
    batch: CallBatch
    on_end: Callable[[int], None]
    emitted: int = 0


def retry_delay(tries: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``tries``-th failed try: ``base * 2**(tries-1)``, at most ``cap``."""
    return max(0.0, min(float(cap), float(base) * 2 ** max(0, tries - 1)))


class WebhookDispatcher:
    """Call-end events and the outbox of webhook deliveries (thread-safe).

    :param settings_of: returns the current settings (the simulator's ``SimulatorConfig``).
    :param wall: the wall clock used for delays and retries (``time.monotonic``).
    """

    def __init__(self, settings_of: Callable[[], WebhookSettings], wall: Callable[[], float] = time.monotonic) -> None:
        self.settings_of = settings_of
        self.wall = wall
        self._lock = threading.Lock()
        self._watches: list[_Watch] = []
        self._ready: list[Delivery] = []  # due, in queue order (a list: random picks are O(1))
        self._scheduled: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._attempts: deque[dict[str, Any]] = deque(maxlen=MAX_ATTEMPTS_KEPT)
        self._generation = 0
        self._notify: Callable[[], None] | None = None
        self._reset_counters()
        self._rng_repeat = random.Random(0)
        self._rng_order = random.Random(0)

    def _reset_counters(self) -> None:
        self.queued = 0
        self.delivered = 0
        self.failed = 0
        self.gave_up = 0
        self.dropped = 0
        self.duplicates = 0
        self.in_flight = 0
        self.held = False

    # -- call ends --------------------------------------------------------------------------
    def watch(self, batch: CallBatch, on_end: Callable[[int], None]) -> None:
        """Run ``on_end(index)`` once for each call of ``batch`` when it ends."""
        with self._lock:
            self._watches.append(_Watch(batch, on_end))

    def pump(self, now: float) -> None:
        """Run the end callbacks of every call that ended by ``now``."""
        with self._lock:
            watches = list(self._watches)
        finished: list[_Watch] = []
        for watch in watches:
            done = watch.batch.done_count(now)
            while watch.emitted < done:
                index = watch.emitted
                watch.emitted += 1
                try:
                    watch.on_end(index)
                except Exception:
                    log.exception("simulator call-end callback failed")
            if watch.emitted >= len(watch.batch):
                finished.append(watch)
        if finished:
            with self._lock:
                self._watches = [w for w in self._watches if w not in finished]

    # -- the outbox -------------------------------------------------------------------------
    def deliver(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        vendor: str = "",
        kind: str = "",
        event_id: str = "",
        duplicate_rate: float | None = None,
        delay: float = 0.0,
    ) -> bool:
        """Queue an HTTP request if ``url`` is loopback; returns whether it was queued.

        :param duplicate_rate: chance that an identical copy follows once it is accepted
            (``webhook_duplicate_rate`` by default).
        :param delay: seconds added to ``webhook_delay_seconds`` before the first try.
        """
        if not is_loopback_url(url):
            return False
        settings = self.settings_of()
        rate = settings.webhook_duplicate_rate if duplicate_rate is None else duplicate_rate
        delivery = Delivery(method, url, json, data, dict(headers or {}), vendor, kind, event_id)
        due = self.wall() + max(0.0, float(settings.webhook_delay_seconds)) + max(0.0, delay)
        with self._lock:
            delivery.repeat = float(rate) > 0 and self._rng_repeat.random() < float(rate)
            return self._queue(delivery, due, settings)

    def _queue(self, delivery: Delivery, due: float, settings: WebhookSettings, *, retry: bool = False) -> bool:
        """Put ``delivery`` in the outbox (lock held); a new one beyond ``webhook_max_queue`` is dropped."""
        if not retry:
            if len(self._ready) + len(self._scheduled) >= max(1, int(settings.webhook_max_queue)):
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning(
                        "simulator webhook outbox full (%d waiting): %d deliveries dropped so far",
                        len(self._ready) + len(self._scheduled),
                        self.dropped,
                    )
                return False
            self.queued += 1
        delivery.generation = self._generation
        heapq.heappush(self._scheduled, (due, next(self._seq), delivery))
        return True

    def take(self, limit: int) -> list[Delivery]:
        """Remove and return up to ``limit`` deliveries due now (none while held); they count as in flight."""
        if limit <= 0:
            return []
        settings = self.settings_of()
        now = self.wall()
        with self._lock:
            while self._scheduled and self._scheduled[0][0] <= now:
                self._ready.append(heapq.heappop(self._scheduled)[2])
            if self.held or not self._ready:
                return []
            ready = self._ready
            count = min(limit, len(ready))
            if settings.webhook_reorder:  # as if shuffled before the take: uniform picks without replacement
                taken = []
                for _ in range(count):
                    index = self._rng_order.randrange(len(ready))
                    ready[index], ready[-1] = ready[-1], ready[index]
                    taken.append(ready.pop())
            else:
                taken = ready[:count]
                del ready[:count]
            self.in_flight += count
            return taken

    def seconds_until_due(self) -> float | None:
        """Seconds until the next scheduled delivery is due (0 if one is ready), None when none waits."""
        with self._lock:
            if self._ready and not self.held:
                return 0.0
            if not self._scheduled:
                return None
            return max(0.0, self._scheduled[0][0] - self.wall())

    def pending(self) -> int:
        """Queued deliveries (waiting for their first try or for a retry)."""
        with self._lock:
            return len(self._ready) + len(self._scheduled)

    def max_in_flight(self) -> int:
        """Requests allowed in flight at once (``webhook_max_in_flight``)."""
        return max(1, int(self.settings_of().webhook_max_in_flight))

    def hold(self) -> None:
        """Pause deliveries: everything queued waits until :meth:`release`."""
        with self._lock:
            self.held = True

    def release(self) -> None:
        """Resume deliveries: everything held goes at once (bounded by ``webhook_max_in_flight``)."""
        with self._lock:
            self.held = False
        self.notify()

    def set_notifier(self, notify: Callable[[], None] | None) -> None:
        """Install (or remove, with None) the function waking the delivery loop; called from any thread."""
        self._notify = notify

    def notify(self) -> None:
        """Wake the delivery loop now instead of at its next tick."""
        notify = self._notify
        if notify is not None:
            notify()

    async def send(self, client: Any, delivery: Delivery) -> None:
        """Make one try of ``delivery`` with a :class:`~.loopback_http.LoopbackHttpClient` (or an
        ``httpx.AsyncClient``); failures are counted, not raised."""
        settings = self.settings_of()
        status: int | None = None
        error: str | None = None
        if delivery.first_try_at is None:
            delivery.first_try_at = self.wall()
        delivery.tries += 1
        try:
            response = await client.request(
                delivery.method,
                delivery.url,
                json=delivery.json,
                data=delivery.data,
                headers=delivery.headers or None,
                timeout=max(0.01, float(settings.webhook_timeout)),
            )
            status = response.status_code
        except asyncio.CancelledError:
            with self._lock:
                if delivery.generation == self._generation:
                    self.in_flight -= 1
            raise
        except Exception as exc:
            error = type(exc).__name__
            log.debug("simulator webhook try %d to %s failed: %s", delivery.tries, urlsplit(delivery.url).path, error)
        self._finish(delivery, status, error, settings)

    def _finish(self, delivery: Delivery, status: int | None, error: str | None, settings: WebhookSettings) -> None:
        now = self.wall()
        with self._lock:
            if delivery.generation != self._generation:  # sent before a reset: forget it
                return
            self.in_flight -= 1
            self._attempts.append(
                {
                    "vendor": delivery.vendor,
                    "kind": delivery.kind,
                    "path": urlsplit(delivery.url).path or "/",
                    "try": delivery.tries,
                    "status": status,
                    "error": error,
                    "event_id": delivery.event_id,
                    "duplicate": delivery.duplicate,
                }
            )
            accepted = ACCEPTED_STATUS.get(delivery.vendor)
            ok = status is not None and (status in accepted if accepted is not None else 200 <= status < 300)
            if ok:
                self.delivered += 1
                if delivery.repeat:
                    copy = delivery.copy()
                    if self._queue(copy, now + max(0.0, float(settings.webhook_duplicate_delay_seconds)), settings):
                        self.duplicates += 1
                return
            self.failed += 1
            if delivery.vendor in settings.webhook_retry_vendors:
                wait = retry_delay(
                    delivery.tries, settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds
                )
                first = delivery.first_try_at if delivery.first_try_at is not None else now
                within = now + wait - first <= float(settings.webhook_retry_window_seconds)
                if delivery.tries < int(settings.webhook_max_tries) and within:
                    self._queue(delivery, now + wait, settings, retry=True)
                    return
            self.gave_up += 1

    def snapshot(self, attempts: int | None = None) -> dict[str, Any]:
        """The counters and the last ``attempts`` tries (all kept ones by default), JSON-ready."""
        with self._lock:
            kept = list(self._attempts)
            if attempts is not None:
                kept = kept[-attempts:] if attempts > 0 else []
            return {
                "pending": len(self._ready) + len(self._scheduled),
                "in_flight": self.in_flight,
                "queued": self.queued,
                "delivered": self.delivered,
                "failed": self.failed,
                "gave_up": self.gave_up,
                "dropped": self.dropped,
                "duplicates": self.duplicates,
                "held": self.held,
                "attempts": kept,
            }

    def reseed(self, seed: int | str) -> None:
        """Restart the duplicate and reorder decisions from ``seed``."""
        with self._lock:
            self._rng_repeat = random.Random(f"{seed}|webhooks|duplicate")
            self._rng_order = random.Random(f"{seed}|webhooks|reorder")

    def clear(self) -> None:
        """Forget watches, queued deliveries, counters and attempts; resume if held; reseed."""
        with self._lock:
            self._generation += 1
            self._watches.clear()
            self._ready.clear()
            self._scheduled.clear()
            self._attempts.clear()
            self._reset_counters()
        self.reseed(self.settings_of().seed)


async def run_delivery_loop(
    pump: Callable[[], None],
    dispatcher_of: Callable[[], WebhookDispatcher],
    timeout: Callable[[], float] | None = None,
    interval: float = 0.1,
) -> None:
    """The server's background task: pump call ends and send queued webhooks until cancelled.

    It wakes every ``interval`` seconds, when a scheduled delivery (a delay, a retry) falls due,
    when a request finishes (so a free slot is refilled at once) and when the dispatcher is
    notified (release, emit). ``timeout`` is unused (each try
    reads ``webhook_timeout``); kept for callers of the older signature.
    """
    from .loopback_http import LoopbackHttpClient

    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()
    notified = dispatcher_of()

    def notify() -> None:
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the loop is closed: the server stopped
            pass

    notified.set_notifier(notify)

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        wake.set()

    last_pump = float("-inf")
    async with LoopbackHttpClient() as client:
        try:
            while True:  # runs for the server's lifetime; cancelled at shutdown
                due = dispatcher_of().seconds_until_due()
                wait = interval if due is None else min(interval, due)
                if len(in_flight) >= dispatcher_of().max_in_flight():
                    wait = interval  # no room: a finishing request wakes the loop
                try:
                    await asyncio.wait_for(wake.wait(), max(0.001, wait))
                except asyncio.TimeoutError:
                    pass
                wake.clear()
                if time.monotonic() - last_pump >= interval:
                    last_pump = time.monotonic()
                    try:
                        pump()
                    except Exception:
                        log.exception("simulator pump failed")
                dispatcher = dispatcher_of()
                room = dispatcher.max_in_flight() - len(in_flight)
                for delivery in dispatcher.take(room):
                    task = asyncio.ensure_future(dispatcher.send(client, delivery))
                    in_flight.add(task)
                    task.add_done_callback(finished)
        finally:
            if notified._notify is notify:
                notified.set_notifier(None)
            for task in in_flight:
                task.cancel()
