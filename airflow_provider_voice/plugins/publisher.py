"""Announce stored webhook events as Airflow Asset events (in the api-server, after the 200).

:class:`AssetEventPublisher` is a daemon thread started with the receiver app. It wakes when the
receiver stores new batches (or every :data:`SWEEP_SECONDS`), gathers the pending batches of each
event Asset, and creates **one** Asset event per Asset per round, with an ``extra`` holding ids and
counts only (``voice_batches``, ``count``, ``vendor``, ``conn_id``, ``kind``) — never a number or
a text. The batches' pending markers are removed only after the database transaction commits, so
a process that dies in between announces them again on its next start (a consumer reads a batch
once: :func:`airflow_provider_voice.operators.events.triggering_voice_events`).

An Asset that no DAG uses has no row in Airflow's database: its batches stay pending (stored,
not lost) and are announced once a DAG schedules on the Asset; a WARNING says so every
:data:`UNUSED_WARNING_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_voice.delivery.event_store import EventBatch, EventStore
from airflow_provider_voice.redaction import get_logger

__all__ = ["AssetEventPublisher", "announce_pending"]

log = get_logger(__name__)

SWEEP_SECONDS = 5.0
UNUSED_WARNING_SECONDS = 600.0
#: batches announced in one Asset event at most (larger rounds make several events)
MAX_BATCHES_PER_EVENT = 500


def _group(batches: list[EventBatch]) -> dict[str, list[EventBatch]]:
    groups: dict[str, list[EventBatch]] = {}
    for batch in batches:
        groups.setdefault(batch.asset_uri, []).append(batch)
    return groups


def announcement_extra(batches: list[EventBatch]) -> dict[str, Any]:
    """The ``extra`` of one Asset event announcing ``batches`` (all of one Asset)."""
    first = batches[0]
    return {
        "voice_batches": [b.batch_id for b in batches],
        "count": sum(len(b.keys) for b in batches),
        "vendor": first.vendor,
        "conn_id": first.conn_id,
        "kind": first.kind,
    }


def _register(uri: str, extra: dict[str, Any]) -> bool:
    """One Asset event on the active Asset ``uri`` (committed); False when no such Asset exists."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        model = session.scalar(select(AssetModel).where(AssetModel.uri == uri, AssetModel.active.has()).limit(1))
        if model is None:
            return False
        event = asset_manager.register_asset_change(asset=model, extra=extra, session=session)
        return event is not None


def announce_pending(
    store: EventStore,
    register: Callable[[str, dict[str, Any]], bool] = _register,
    *,
    warned: dict[str, float] | None = None,
) -> tuple[int, int]:
    """Announce every pending webhook batch of ``store``; ``(batches announced, batches left pending)``."""
    pending = store.pending_batches("webhook")
    announced = left = 0
    warned = warned if warned is not None else {}
    for uri, batches in _group(pending).items():
        for start in range(0, len(batches), MAX_BATCHES_PER_EVENT):
            chunk = batches[start : start + MAX_BATCHES_PER_EVENT]
            if not register(uri, announcement_extra(chunk)):
                left += len(chunk)
                if time.monotonic() - warned.get(uri, -UNUSED_WARNING_SECONDS) >= UNUSED_WARNING_SECONDS:
                    warned[uri] = time.monotonic()
                    log.warning(
                        "no DAG schedules on Asset %s: %d event(s) are stored in %s and will be announced "
                        "once one does",
                        uri,
                        sum(len(b.keys) for b in batches),
                        store.location,
                    )
                break
            for batch in chunk:
                store.mark_announced(batch)
            announced += len(chunk)
    return announced, left


class AssetEventPublisher:
    """The background thread announcing pending batches (see the module docstring).

    :param store: a callable returning the event store (resolved in the thread, on first use).
    :param register: how one Asset event is created (default: Airflow's database).
    :param sweep_seconds: the longest wait between two rounds.
    """

    def __init__(
        self,
        store: Callable[[], EventStore],
        register: Callable[[str, dict[str, Any]], bool] = _register,
        *,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self._store = store
        self._register = register
        self._sweep = sweep_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: dict[str, float] = {}
        self.rounds = 0
        self.announced = 0

    def start(self) -> None:
        """Start the thread (a first round announces what an earlier process left pending)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="voice-asset-event-publisher", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Ask for a round now (called by the receiver after storing)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current round, run a last one, and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> tuple[int, int]:
        """One round; ``(announced, left pending)``."""
        announced, left = announce_pending(self._store(), self._register, warned=self._warned)
        self.rounds += 1
        self.announced += announced
        return announced, left

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            self._wake.clear()
            try:
                self.run_once()
            except Exception as err:  # database or storage down: the batches stay pending
                log.error(
                    "announcing voice events failed (%s: %s); retrying in %.0f s", type(err).__name__, err, self._sweep
                )
            if stopping:
                return
            self._wake.wait(self._sweep)
            time.sleep(0.05)  # gather a burst into one round
