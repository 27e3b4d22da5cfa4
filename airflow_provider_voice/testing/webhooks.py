"""Events at the end of simulated calls, and best-effort webhook delivery to loopback URLs.

Vendors :meth:`~WebhookDispatcher.watch` a :class:`~.calls.CallBatch` with a callback run once
per call when it ends (the simulator records the callback URL in the ledger there).
:meth:`~WebhookDispatcher.pump` runs those callbacks up to the clock; the server calls it on every
request, before every ledger read and every 0.1 s. HTTP deliveries are only ever made to loopback
URLs, from the server's event loop, with a short timeout, at most ``max_in_flight`` at a time, and
at most ``max_queue`` waiting (older ones are dropped).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .auth import is_loopback_url
from .calls import CallBatch

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    """One HTTP request the simulator will make to a loopback URL."""

    method: str
    url: str
    json: Any = None
    data: dict[str, str] | None = None


@dataclass
class _Watch:
    batch: CallBatch
    on_end: Callable[[int], None]
    emitted: int = 0


@dataclass
class WebhookDispatcher:
    """Call-end events and the outbox of webhook deliveries."""

    max_queue: int = 10_000
    max_in_flight: int = 20
    delivered: int = 0
    failed: int = 0
    _watches: list[_Watch] = field(default_factory=list)
    _outbox: deque[Delivery] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

    def deliver(self, method: str, url: str, *, json: Any = None, data: dict[str, str] | None = None) -> bool:
        """Queue an HTTP request if ``url`` is loopback; returns whether it was queued."""
        if not is_loopback_url(url):
            return False
        with self._lock:
            if len(self._outbox) >= self.max_queue:
                self._outbox.popleft()
            self._outbox.append(Delivery(method, url, json, data))
        return True

    def take(self, limit: int) -> list[Delivery]:
        """Remove and return up to ``limit`` queued deliveries."""
        with self._lock:
            count = min(limit, len(self._outbox))
            return [self._outbox.popleft() for _ in range(count)]

    def pending(self) -> int:
        """Queued deliveries."""
        with self._lock:
            return len(self._outbox)

    async def send(self, client: Any, delivery: Delivery) -> None:
        """Make one delivery with an ``httpx.AsyncClient``; failures are counted, not raised."""
        try:
            await client.request(delivery.method, delivery.url, json=delivery.json, data=delivery.data)
            self.delivered += 1
        except Exception:
            self.failed += 1

    def clear(self) -> None:
        """Forget watches and queued deliveries."""
        with self._lock:
            self._watches.clear()
            self._outbox.clear()


async def run_delivery_loop(
    pump: Callable[[], None],
    dispatcher_of: Callable[[], WebhookDispatcher],
    timeout: Callable[[], float],
    interval: float = 0.1,
) -> None:
    """The server's background task: pump call ends and send queued webhooks until cancelled."""
    import httpx

    in_flight: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=timeout(), trust_env=False) as client:
        try:
            while True:  # runs for the server's lifetime; cancelled at shutdown
                await asyncio.sleep(interval)
                try:
                    pump()
                except Exception:
                    log.exception("simulator pump failed")
                dispatcher = dispatcher_of()
                room = dispatcher.max_in_flight - len(in_flight)
                for delivery in dispatcher.take(max(0, room)):
                    task = asyncio.ensure_future(dispatcher.send(client, delivery))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
        finally:
            for task in in_flight:
                task.cancel()
