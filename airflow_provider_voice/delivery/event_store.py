"""The durable inbox of vendor events: each event stored once, announced in batches, consumed once.

Written by the webhook receiver (in the api-server) and by the event triggers (in the triggerer);
read by tasks (:func:`airflow_provider_voice.operators.events.triggering_voice_events`). All of them
must see the same folder: ``[voice] events_path`` (default ``$AIRFLOW_HOME/voice/events``; on
Celery/Kubernetes an object-storage URL such as ``s3://aws_default@bucket/voice/events``).

Layout under the root::

    <vendor>/<conn_id>/<kind>/<key[:2]>/<key>.json   one event (VoiceEvent JSON); key = event_key()
    _campaigns/<vendor>/<conn_id>/<campaign>/<person>~<outcome>~<key>
                                                     a delivery report, indexed by campaign (empty file)
    _batches/<vendor>/<conn_id>/<kind>/<YYYYMMDDHH>/<batch_id>.json
                                                     the keys one request / one poll stored anew
    _pending/<source>/<batch_id>                     a batch not yet announced as an Asset event
    _consumed/<consumer>/<batch_id>                  the run that consumed the batch (one per consumer)
    _cursors/<name>.json                             an event trigger's position in the vendor's feed

Guarantees:

* **Stored once.** :meth:`EventStore.put` writes an event only if its key is new and says whether
  it was. On a local file system the create is atomic across processes (``link`` of a complete,
  fsynced temporary file; a second writer gets ``EEXIST``). On object storage it is an exclusive
  create (S3: a conditional PUT, ``If-None-Match: *``), atomic across processes too; a store
  without one falls back to a check then a write, serialized inside one process only.
* **Durable before announced.** Events, then their batch, then the pending marker are written
  before the caller answers the vendor; the marker is removed only after the Asset event exists.
  A process that dies in between leaves the marker, and :meth:`pending_batches` finds it again.
* **Consumed once per consumer.** :meth:`claim` records which DAG run consumed a batch; a batch
  announced twice (a publish retried after a crash) is read by the first run only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import hashlib
import json
import os
import secrets
import threading
import time
import zlib
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.models.events import EVENT_KINDS, VoiceEvent, event_asset_uri
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.storage import (
    configured_location,
    forget_listings,
    fsync_dir,
    is_object_storage,
    local_path,
    object_storage_path,
)

__all__ = [
    "EventBatch",
    "EventStore",
    "EventStoreError",
    "Ingested",
    "batch_time",
    "configured_event_store",
    "new_batch_id",
]

log = get_logger(__name__)

#: an event stored without its batch is re-batched by a later delivery once it is this old (seconds):
#: younger, the request that stored it may still be writing the batch
ADOPT_AFTER_SECONDS = 10.0
#: how long a duplicate waits for the batch of the request it races (seconds), before a 503
SETTLE_SECONDS = 2.0
#: lock stripes serializing check-then-write per key inside one process (object storage)
_STRIPES = 64


class EventStoreError(VoiceProviderError):
    """The event store holds something it cannot read (a missing or corrupt event or batch)."""


@dataclass(frozen=True)
class EventBatch:
    """The events one webhook request or one poll stored anew, all of one connection and kind.

    :param batch_id: sortable id (creation time first).
    :param vendor: the vendor.
    :param conn_id: the connection.
    :param kind: the event kind (one Asset).
    :param keys: the events' keys, in arrival order.
    :param source: ``webhook`` or ``trigger:<watcher>``.
    :param created_at: POSIX time the batch was written.
    """

    batch_id: str
    vendor: str
    conn_id: str
    kind: str
    keys: tuple[str, ...]
    source: str = "webhook"
    created_at: float = field(default_factory=time.time)

    @property
    def hour(self) -> str:
        """The UTC hour folder the batch lives in (``YYYYMMDDHH``, from the id's time)."""
        return _hour_name(batch_time(self.batch_id))

    @property
    def asset_uri(self) -> str:
        """The Asset the batch is announced on."""
        return event_asset_uri(self.vendor, self.conn_id, self.kind)

    def asset_extra(self) -> dict[str, Any]:
        """The Asset event's ``extra``: ids and counts only, never a number or a text."""
        return {
            "voice_batch": self.batch_id,
            "vendor": self.vendor,
            "conn_id": self.conn_id,
            "kind": self.kind,
            "count": len(self.keys),
            "source": self.source,
        }

    def to_record(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "batch_id": self.batch_id,
            "vendor": self.vendor,
            "conn_id": self.conn_id,
            "kind": self.kind,
            "keys": list(self.keys),
            "source": self.source,
            "created_at": self.created_at,
        }

    @classmethod
    def from_record(cls, record: Any) -> EventBatch:
        """Parse :meth:`to_record` output (``EventStoreError`` when it is not one)."""
        try:
            keys = record["keys"]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise TypeError("keys")
            return cls(
                batch_id=str(record["batch_id"]),
                vendor=str(record["vendor"]),
                conn_id=str(record["conn_id"]),
                kind=str(record["kind"]),
                keys=tuple(keys),
                source=str(record.get("source") or "webhook"),
                created_at=float(record.get("created_at") or 0.0),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise EventStoreError(f"not an event batch record ({type(err).__name__}: {err})") from None


@dataclass(frozen=True)
class Ingested:
    """What :meth:`EventStore.ingest` did.

    :param new: the events stored for the first time.
    :param repeated: events that were already stored (retries, replays, duplicates).
    :param batches: the batches written (pending, to be announced).
    :param adopted: already-stored events that had lost their batch and were batched again.
    :param unsettled: already-stored events whose batch is not written yet and that are too recent
        to adopt (another request may be writing it): the caller must not acknowledge them yet.
    """

    new: list[VoiceEvent]
    repeated: int
    batches: list[EventBatch]
    adopted: int = 0
    unsettled: int = 0


def _hour_name(posix: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(posix))


def batch_time(batch_id: str) -> float:
    """The POSIX time a batch id was made (``EventStoreError`` for a malformed id)."""
    head = batch_id.split("-", 1)[0]
    if not head.isdigit():
        raise EventStoreError(f"not an event batch id: {batch_id!r}")
    return int(head) / 1e9


def new_batch_id() -> str:
    """A sortable, unique batch id: nanoseconds, then randomness."""
    return f"{time.time_ns():020d}-{secrets.token_hex(6)}"


class EventStore:
    """Events, batches, claims and cursors under one root (see the module docstring).

    :param root: a local path, a ``file://`` URL, an object-storage URL or an ``ObjectStoragePath``.
    :param fsync: fsync local writes (default True; False only for throw-away stores in tests).
    """

    def __init__(self, root: Any, *, fsync: bool = True) -> None:
        if isinstance(root, str) and is_object_storage(root.strip()):
            root = object_storage_path(root.strip())
        elif isinstance(root, (str, os.PathLike)):
            root = local_path(root, field="events_path")
        self.root = root
        self.local = isinstance(root, Path)
        self.fsync = fsync
        self._locks = [threading.Lock() for _ in range(_STRIPES)]

    def __repr__(self) -> str:
        return f"EventStore({self.location!r})"

    @property
    def location(self) -> str:
        """The root, as a path or URL (for messages)."""
        return str(self.root)

    # -- events -----------------------------------------------------------------------------
    def _event_path(self, vendor: str, conn_id: str, kind: str, key: str) -> Any:
        return self.root / vendor / conn_id / kind / key[:2] / f"{key}.json"

    def _lock(self, key: str) -> threading.Lock:
        return self._locks[zlib.crc32(key.encode()) % _STRIPES]

    def put(self, event: VoiceEvent, *, batch_id: str | None = None) -> bool:
        """Store ``event`` unless its key is already stored; True when it was new.

        :param batch_id: the batch that will announce it, recorded with the event (:meth:`ingest`),
            so a batch lost in a crash can be written again from its events.

        A delivery report naming a campaign (``campaign_ref``) is also indexed under the campaign
        (:meth:`campaign_reports`) — before the event itself, so a stored event is always indexed.
        """
        path = self._event_path(event.vendor, event.conn_id, event.kind, event.key)
        record = event.model_dump(mode="json") | ({"_batch": batch_id} if batch_id else {})
        data = json.dumps(record, separators=(",", ":")).encode("utf-8")
        with self._lock(event.key):
            if event.kind == "deliveries" and event.campaign_ref:
                self._index_report(event)
            if self.local:
                return self._create_local(path, data)
            return _create_object(path, data)

    # -- campaign reports -------------------------------------------------------------------
    def _campaign_folder(self, vendor: str, conn_id: str, campaign_ref: str) -> Any:
        return self.root / "_campaigns" / vendor / conn_id / _safe(campaign_ref)

    def _index_report(self, event: VoiceEvent) -> None:
        person = report_person(event.number or event.raw.get("number") or event.key)
        name = f"{person}~{_safe(event.outcome or 'unknown')}~{event.key[:12]}"
        record = {name: getattr(event, name) for name in REPORT_FIELDS}
        data = json.dumps(record, separators=(",", ":"), default=str).encode("utf-8")
        self._write(self._campaign_folder(event.vendor, event.conn_id, event.campaign_ref or "") / name, data)

    def campaign_report_records(
        self, vendor: str, conn_id: str, campaign_refs: Iterable[str]
    ) -> Iterable[dict[str, Any]]:
        """Every delivery report stored for the campaigns (or message ids) ``campaign_refs``, one
        small record each: ``person`` (:func:`report_person` of the number), ``campaign_ref`` and
        :data:`REPORT_FIELDS` (reports indexed by earlier releases carry ``person`` and ``outcome`` only).

        One listing per campaign and one small read per report; nothing is kept in memory beyond
        the record being yielded.
        """
        for ref in campaign_refs:
            folder = self._campaign_folder(vendor, conn_id, ref)
            forget_listings(folder)
            try:
                entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                parts = entry.name.split("~")
                if len(parts) != 3:
                    continue
                record: dict[str, Any] = {}
                try:
                    data = entry.read_bytes()
                    loaded = json.loads(data) if data else {}
                    record = loaded if isinstance(loaded, dict) else {}
                except (OSError, ValueError) as exc:
                    log.warning(
                        "delivery report index entry %s unreadable (%s): only its outcome is used", entry.name, exc
                    )
                record = {**record, "person": parts[0], "campaign_ref": ref}
                record.setdefault("outcome", None if parts[1] == "unknown" else parts[1])
                yield record

    def campaign_reports(self, vendor: str, conn_id: str, campaign_refs: Iterable[str]) -> dict[str, set[str]]:
        """Per recipient (an opaque hash) of the campaigns ``campaign_refs``, the outcomes its reports gave.

        Reads one listing per campaign, no event file.
        """
        people: dict[str, set[str]] = {}
        for ref in campaign_refs:
            folder = self._campaign_folder(vendor, conn_id, ref)
            forget_listings(folder)
            try:
                names = [p.name for p in folder.iterdir()]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                parts = name.split("~")
                if len(parts) == 3 and not name.startswith("."):
                    people.setdefault(f"{ref}/{parts[0]}", set()).add(parts[1])
        return people

    def ingest(self, events: Iterable[VoiceEvent], *, source: str = "webhook") -> Ingested:
        """Store ``events`` and write the batches that announce the new ones — the receiver's and the
        triggers' one entry point.

        Each new event records its batch id before the batch is written. An event that is already
        stored but whose batch does not exist (the process storing it died, or the batch write
        failed and the vendor retried) is given that batch again once it is
        :data:`ADOPT_AFTER_SECONDS` old — so a retry after a crash is announced, never silently
        answered "already have it"; a younger one is ``unsettled`` (the receiver answers 503, the
        vendor retries).
        """
        ids: dict[tuple[str, str, str], str] = {}
        new: list[VoiceEvent] = []
        repeats: list[VoiceEvent] = []
        for event in events:
            group = (event.vendor, event.conn_id, event.kind)
            batch_id = ids.setdefault(group, new_batch_id())
            (new if self.put(event, batch_id=batch_id) else repeats).append(event)
        batches = []
        groups: dict[tuple[str, str, str, str], list[str]] = {}
        for event in new:
            group = (event.vendor, event.conn_id, event.kind)
            groups.setdefault((*group, ids[group]), []).append(event.key)
        unsettled = 0
        for event in repeats:
            owner, stored_at = self._owner(event)
            if owner is None or owner in ids.values():
                continue
            if self._has_batch(event, owner, wait=time.time() - stored_at < ADOPT_AFTER_SECONDS):
                continue
            if time.time() - stored_at < ADOPT_AFTER_SECONDS:
                unsettled += 1  # the request storing it may still be running: ask the vendor to retry
            else:  # stored, never batched (that request died): adopt it under its own batch id
                groups.setdefault((event.vendor, event.conn_id, event.kind, owner), []).append(event.key)
        adopted = 0
        try:
            for (vendor, conn_id, kind, batch_id), keys in groups.items():
                batch = EventBatch(
                    batch_id, vendor, conn_id, kind, tuple(dict.fromkeys(keys)), source, batch_time(batch_id)
                )
                if batch_id not in ids.values():
                    adopted += len(batch.keys)
                    log.warning(
                        "%d stored event(s) of %s had no batch (an earlier write failed): batched now",
                        len(batch.keys),
                        batch.asset_uri,
                    )
                batches.append(self.write_batch(batch))
        except BaseException:
            self._discard(new)  # the caller fails: its retry must find these events new, not "already stored"
            raise
        return Ingested(new, len(repeats), batches, adopted, unsettled)

    def _discard(self, events: Iterable[VoiceEvent]) -> None:
        """Remove events this call stored (their batch could not be written)."""
        for event in events:
            path = self._event_path(event.vendor, event.conn_id, event.kind, event.key)
            with self._lock(event.key), contextlib.suppress(OSError):
                path.unlink()

    def _has_batch(self, event: VoiceEvent, batch_id: str, *, wait: bool) -> bool:
        """Whether ``batch_id`` is written; with ``wait``, give a concurrent writer up to
        :data:`SETTLE_SECONDS` to finish (a duplicate racing its original)."""
        deadline = time.monotonic() + (SETTLE_SECONDS if wait else 0.0)
        while True:
            try:
                self.batch(event.vendor, event.conn_id, event.kind, batch_id)
                return True
            except EventStoreError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)

    def _owner(self, event: VoiceEvent) -> tuple[str | None, float]:
        """The batch id recorded with a stored event (None: stored without one) and when it was received."""
        path = self._event_path(event.vendor, event.conn_id, event.kind, event.key)
        try:
            record = json.loads(path.read_bytes())
            owner = record.get("_batch")
            received = dt.datetime.fromisoformat(str(record.get("received_at"))).timestamp()
        except (FileNotFoundError, ValueError, AttributeError, TypeError):
            return None, 0.0
        return (owner if isinstance(owner, str) else None), received

    def put_many(self, events: Iterable[VoiceEvent]) -> list[VoiceEvent]:
        """Store each event; the ones that were new, in order (a repeat inside ``events`` counts once)."""
        new: list[VoiceEvent] = []
        for event in events:
            if self.put(event):
                new.append(event)
        return new

    def get(self, vendor: str, conn_id: str, kind: str, key: str) -> VoiceEvent:
        """One stored event (``EventStoreError`` if missing or unreadable)."""
        path = self._event_path(vendor, conn_id, kind, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise EventStoreError(f"event {key} of {vendor}/{conn_id}/{kind} is not in {self.location}") from None
        try:
            return VoiceEvent.model_validate_json(data)
        except PydanticValidationError as err:
            raise EventStoreError(f"event file {path} is not a stored event ({err.error_count()} errors)") from None

    def contains(self, event: VoiceEvent) -> bool:
        """Whether ``event``'s key is stored."""
        path = self._event_path(event.vendor, event.conn_id, event.kind, event.key)
        forget_listings(path.parent)
        return bool(path.exists())

    # -- batches ----------------------------------------------------------------------------
    def _batch_folder(self, vendor: str, conn_id: str, kind: str, hour: str) -> Any:
        return self.root / "_batches" / vendor / conn_id / kind / hour

    def _batch_path(self, batch: EventBatch) -> Any:
        return self._batch_folder(batch.vendor, batch.conn_id, batch.kind, batch.hour) / f"{batch.batch_id}.json"

    def add_batches(self, events: Iterable[VoiceEvent], *, source: str = "webhook") -> list[EventBatch]:
        """Group ``events`` (already stored) by connection and kind; write each group as a pending batch."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for event in events:
            groups.setdefault((event.vendor, event.conn_id, event.kind), []).append(event.key)
        batches = []
        for (vendor, conn_id, kind), keys in groups.items():
            batch_id = new_batch_id()
            batch = EventBatch(batch_id, vendor, conn_id, kind, tuple(keys), source, batch_time(batch_id))
            self.write_batch(batch)
            batches.append(batch)
        return batches

    def write_batch(self, batch: EventBatch) -> EventBatch:
        """Write a batch record, then its pending marker (under its source); the batch as written.

        A record that already exists under the same id (a concurrent retry wrote it first) is
        merged with this one, so no key is lost.
        """
        if batch.kind not in EVENT_KINDS:
            raise ValidationError("kind", batch.kind, f"one of {', '.join(EVENT_KINDS)}")
        path = self._batch_path(batch)
        with self._lock(batch.batch_id):
            try:
                existing = self._read_batch(path)
            except EventStoreError:
                existing = None
            if existing is not None:
                batch = dataclasses.replace(batch, keys=tuple(dict.fromkeys((*existing.keys, *batch.keys))))
            self._write(path, json.dumps(batch.to_record()).encode())
        self._write(
            self.root / "_pending" / _safe(batch.source) / batch.batch_id, json.dumps(batch.to_record()).encode()
        )
        return batch

    def events(self, batch: EventBatch) -> list[VoiceEvent]:
        """The events of ``batch``, in order."""
        return [self.get(batch.vendor, batch.conn_id, batch.kind, key) for key in batch.keys]

    def batches_since(
        self,
        vendor: str,
        conn_id: str,
        kind: str,
        since: float,
        *,
        until: float | None = None,
        skip: Container[str] = (),
    ) -> list[EventBatch]:
        """Every batch of one connection and kind written at or after POSIX time ``since``, oldest first.

        :param skip: batch ids not wanted, not even read (those a consumer knows it consumed); a batch
            whose id says it was made outside the window is not read either.
        """
        until = time.time() if until is None else until
        out: list[EventBatch] = []
        hour = int(since // 3600)
        while hour <= int(until // 3600):
            folder = self._batch_folder(vendor, conn_id, kind, _hour_name(hour * 3600))
            forget_listings(folder)
            try:
                paths = [p for p in folder.iterdir() if p.name.endswith(".json") and not p.name.startswith(".")]
            except (FileNotFoundError, NotADirectoryError):
                paths = []
            for path in sorted(paths, key=lambda p: p.name):
                batch_id = path.name[: -len(".json")]
                if batch_id in skip or not _may_fall_within(batch_id, since, until):
                    continue
                batch = self._read_batch(path)
                if since <= batch.created_at <= until:
                    out.append(batch)
            hour += 1
        return out

    def batch(self, vendor: str, conn_id: str, kind: str, batch_id: str) -> EventBatch:
        """One batch by id (``EventStoreError`` if missing or unreadable)."""
        hour = _hour_name(batch_time(batch_id))
        return self._read_batch(self._batch_folder(vendor, conn_id, kind, hour) / f"{_safe(batch_id)}.json")

    def _read_batch(self, path: Any) -> EventBatch:
        try:
            record = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise EventStoreError(f"event batch {path} is not in {self.location}") from None
        except ValueError:
            raise EventStoreError(f"event batch file {path} is not JSON") from None
        return EventBatch.from_record(record)

    def pending_batches(self, source: str = "webhook", *, limit: int = 10_000) -> list[EventBatch]:
        """Batches of ``source`` not yet announced, oldest first (at most ``limit``)."""
        folder = self.root / "_pending" / _safe(source)
        forget_listings(folder)
        try:
            paths = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for path in paths[:limit]:
            try:
                marker = self._read_batch(path)
                out.append(self.batch(marker.vendor, marker.conn_id, marker.kind, marker.batch_id))
            except EventStoreError as err:  # unreadable marker or record: say so, keep it for a human
                log.error("pending event batch %s cannot be read: %s", path.name, err)
        return out

    def mark_announced(self, batch: EventBatch) -> None:
        """Remove ``batch``'s pending marker (its Asset event exists)."""
        with contextlib.suppress(FileNotFoundError):
            (self.root / "_pending" / _safe(batch.source) / batch.batch_id).unlink()

    # -- consumers --------------------------------------------------------------------------
    def claim(self, consumer: str, batch_id: str, run_id: str) -> str:
        """Record that ``run_id`` of ``consumer`` consumes ``batch_id``; the run that owns it.

        The first run to claim a batch owns it for good: a retry of that run gets its own id back
        (and reads the batch again); any other run gets the owner's id and must skip the batch.
        """
        path = self.root / "_consumed" / _safe(consumer) / batch_id
        data = run_id.encode("utf-8")
        with self._lock(consumer + batch_id):
            created = self._create_local(path, data) if self.local else _create_object(path, data)
            if created:
                return run_id
            return bytes(path.read_bytes()).decode("utf-8")

    # -- cursors ----------------------------------------------------------------------------
    def cursor(self, name: str) -> dict[str, Any] | None:
        """An event trigger's saved position, or None."""
        path = self.root / "_cursors" / f"{_safe(name)}.json"
        try:
            value = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise EventStoreError(f"cursor file {path} is not JSON") from None
        if not isinstance(value, dict):
            raise EventStoreError(f"cursor file {path} does not hold an object")
        return value

    def save_cursor(self, name: str, value: dict[str, Any]) -> None:
        """Replace an event trigger's saved position (atomically)."""
        self._write(self.root / "_cursors" / f"{_safe(name)}.json", json.dumps(value).encode())

    # -- files ------------------------------------------------------------------------------
    def _temp_local(self, path: Path, data: bytes) -> Path:
        """A complete (and fsynced) temporary sibling of ``path`` holding ``data``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        with open(temp, "xb") as handle:
            handle.write(data)
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        return temp

    def _create_local(self, path: Path, data: bytes) -> bool:
        temp = self._temp_local(path, data)
        try:
            os.link(temp, path)
        except OSError as err:
            if err.errno != errno.EEXIST:
                raise
            return False
        finally:
            temp.unlink()
        if self.fsync:
            fsync_dir(path.parent)
        return True

    def _write(self, path: Any, data: bytes) -> None:
        if self.local:
            os.replace(self._temp_local(path, data), path)
            if self.fsync:
                fsync_dir(path.parent)
            return
        _mkdirs(path.parent)
        path.write_bytes(data)


def _may_fall_within(batch_id: str, since: float, until: float, slack: float = 60.0) -> bool:
    """Whether the batch ``batch_id`` may have been written in ``[since, until]`` (an id starts with its time)."""
    try:
        made = batch_time(batch_id)
    except EventStoreError:
        return True  # not one of our ids: read it to know
    return since - slack <= made <= until + slack


def _create_object(path: Any, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless something is there; True when this call created it.

    An exclusive create (``open("xb")``): on S3 one conditional PUT (``If-None-Match: *``, s3fs
    2024.12+), atomic across processes — two api-server workers storing one retried event, or two
    consumer runs claiming one batch, cannot both win — and one request instead of a HEAD, a LIST and
    a PUT. A file system without exclusive create falls back to check-then-write (serialized only
    inside this process).
    """
    forget_listings(path.parent)
    try:
        with path.open("xb") as handle:
            handle.write(data)
        return True
    except FileExistsError:
        return False
    except (ValueError, NotImplementedError, TypeError):  # no exclusive create on this file system
        pass
    if path.exists():
        return False
    _mkdirs(path.parent)
    path.write_bytes(data)
    return True


#: the event fields a campaign's report index keeps (what an outcome table needs)
REPORT_FIELDS = (
    "number", "status", "outcome", "occurred_at", "duration_seconds", "billed_seconds", "cost",
    "error_code", "error_message", "ref", "event_id",
)  # fmt: skip


def report_person(number: str) -> str:
    """The opaque key a campaign's report index files a person under (a hash of the E.164 number)."""
    return hashlib.sha256(number.encode()).hexdigest()[:16]


def _safe(name: str) -> str:
    """A name usable as one path segment."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:200] or "_"


def _mkdirs(folder: Any) -> None:
    with contextlib.suppress(OSError, NotImplementedError):  # buckets have no directories
        folder.mkdir(parents=True, exist_ok=True)


def configured_event_store() -> EventStore:
    """The store at ``[voice] events_path`` (default ``$AIRFLOW_HOME/voice/events``)."""
    return EventStore(configured_location("events_path", "events"))


def utc_now() -> dt.datetime:
    """Now, in UTC (one place, so tests can patch it)."""
    return dt.datetime.now(dt.timezone.utc)
