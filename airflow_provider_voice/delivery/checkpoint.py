"""Checkpoints: what each frame became, kept where a task retry (or a new worker) finds it.

Design
------
A delivery writes an append-only log of small JSON records, one log per *task instance*
(:class:`CheckpointKey`: ``dag_id / task_id / run_id / map_index`` — the same for every try of a
task, including a retry on another worker):

* ``intent`` — written **before** a frame's request leaves: index, idempotency key and the keyed
  hashes of its members (no phone numbers);
* ``done`` — the vendor accepted it (with the vendor's ids, counts, cost);
* ``rejected`` / ``failed`` — the vendor refused it, or it could not be sent (never accepted);
* ``doubt`` — its fate is unknown after reconciliation.

A retry loads the log: members of ``done`` frames are skipped; frames left at ``intent`` (the
worker died while the request was out) or ``doubt`` are reconciled through the vendor before
anything else is decided; members of ``rejected``/``failed`` frames may be sent again (the vendor
never accepted them). ``done`` is final: a later record never downgrades it.

Claims (fencing)
----------------
Airflow can start a task instance again while an older process of it still runs (a "zombie"
whose heartbeat was lost). Every try therefore **claims** the delivery before it reads the
checkpoint: a ``claim`` record (a random id, the try number, the time) is appended to a small
claims log beside the frames log. Claims are ordered by try number, then by their order in the
log; the newest one owns the delivery. Before each frame, a try writes the frame's ``intent``
and then reads the claims: when a newer claim exists it records the frame as ``failed``
("superseded"), sends nothing more and fails. Because the intent is written before that check
and the newer try claims before it reads the checkpoint, every frame the older try still sends
is visible to the newer try (as ``intent``, reconciled like a crash), and every frame the newer
try sends was never sent by the older one. This needs a store whose reads see completed writes
(a local disk, NFS with close-to-open consistency, S3/GCS/Azure Blob: all strongly consistent);
no lock or conditional write is needed. Frames of two tries never share an index (each try
numbers its frames from ``(try_number - 1) * 2**20`` or after the highest index recorded).

Frame keys (the vendor idempotency keys) are derived from the key, the deployment
``namespace`` **and the claim** of the try that created the frame: a new try, a deleted
checkpoint (the documented way to force a resend) or another Airflow deployment with the same
DAG/task/run ids never reuses a key, so a vendor's "duplicate" answer can only refer to this
very frame. A frame resent by reconciliation keeps the key recorded in its ``intent``.

Stores
------
* :class:`LocalCheckpointStore` — one JSONL file per task instance under a directory, appended
  and ``fsync``-ed per record batch. Survives task retries on the same machine or on a shared
  volume; **not** a lost machine unless the directory is shared.
* :class:`ObjectStorageCheckpointStore` — an ``ObjectStoragePath`` (``s3://``, ``gs://``,
  ``file://``...): each append is one small object ``<key>/<seq>.jsonl`` (object stores cannot
  append). Survives lost workers. Use it in production with several workers.
* :class:`MemoryCheckpointStore` — a dict, for tests and one-process use.

Group commit
------------
The engine writes through a :class:`CheckpointWriter`: records that frames hand it while a write
is under way are appended together by the next write, with **one** ``fsync`` (one object for the
object store), in a thread off the event loop. Each caller still waits until *its* records are
durable: a frame's ``intent`` is on disk (and the claims read after it, for fencing) before its
request leaves, and its ``done`` before it counts as accepted. A crash in between leaves exactly
what it left before: an ``intent`` without an outcome, reconciled by the next try.

:func:`checkpoint_store` picks one from a location: a path or ``file://`` URL gives the local
store, another URL or an ``ObjectStoragePath`` the object store; ``None`` reads the Airflow
option ``[voice] checkpoint_path`` (default ``$AIRFLOW_HOME/voice/checkpoints``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import os
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_provider_voice.delivery.frames import FrameResult
from airflow_provider_voice.storage import configured_location, forget_listings, object_storage_path, resolve_location

__all__ = [
    "HASH_CHARS",
    "CheckpointKey",
    "CheckpointState",
    "CheckpointStore",
    "CheckpointWriter",
    "Claim",
    "FrameState",
    "LocalCheckpointStore",
    "MemoryCheckpointStore",
    "ObjectStorageCheckpointStore",
    "checkpoint_store",
    "deployment_namespace",
    "newest_claim",
]

#: characters of one member hash in the ``m`` field (8 bytes of BLAKE2b, hex)
HASH_CHARS = 16
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _base36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        out.append(_BASE36[digit])
    return "".join(reversed(out))


@dataclass(frozen=True)
class CheckpointKey:
    """Identity of one delivery: the task instance, the same on every try.

    :param dag_id: the DAG.
    :param task_id: the task.
    :param run_id: the DAG run.
    :param map_index: the mapped-task index (-1 when not mapped).
    :param namespace: the Airflow deployment (``[voice] namespace``; see :func:`deployment_namespace`):
        two deployments with the same DAG/task/run ids never share a checkpoint or a frame key.
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    namespace: str = ""

    @classmethod
    def from_context(cls, context: Mapping[str, Any], *, namespace: str | None = None) -> CheckpointKey:
        """The key of the running task instance (Airflow ``context``), in this deployment's namespace."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            -1 if map_index is None else int(map_index),
            deployment_namespace() if namespace is None else namespace,
        )

    @property
    def path(self) -> str:
        """``[namespace/]dag_id/task_id/run_id/map_index`` with every part made file-name safe."""
        parts = ((self.namespace,) if self.namespace else ()) + self.parts()
        return "/".join(_SAFE.sub(lambda m: quote(m.group(0), safe="").replace("%", "~"), part) for part in parts)

    def parts(self) -> tuple[str, str, str, str]:
        return (self.dag_id, self.task_id, self.run_id, str(self.map_index))

    def _identity(self, claim: str = "") -> bytes:
        # without a namespace or claim the identity is the one earlier releases used (same hashes)
        tail = ((f"ns={self.namespace}",) if self.namespace else ()) + ((f"claim={claim}",) if claim else ())
        return "\x1f".join((*self.parts(), *tail)).encode()

    def tag(self, claim: str = "") -> str:
        """9 letters/digits derived from the key and a try's claim id: the prefix of its frame keys."""
        digest = hashlib.blake2b(self._identity(claim), digest_size=8).digest()
        return _base36(int.from_bytes(digest, "big"), 9)

    def frame_key(self, index: int, claim: str = "") -> str:
        """The idempotency key of frame ``index`` created by the try holding ``claim``: 15 letters/digits."""
        if not 0 <= index < 36**6:
            raise ValueError(f"frame index {index} out of range")
        return self.tag(claim) + _base36(index, 6)

    def member_hasher(self) -> Callable[[str], str]:
        """A function item-key -> 16 hex chars (BLAKE2b keyed with the task instance: no phone numbers
        stored). The namespace is not part of it (it separates paths already), so a checkpoint written
        before namespaces existed still matches (see :meth:`CheckpointStore.state_or_legacy`)."""
        salt = hashlib.blake2b("\x1f".join(self.parts()).encode(), digest_size=16).digest()
        keyed = hashlib.blake2b(digest_size=8, key=salt)  # copied per item: the key block is hashed once
        copy = keyed.copy

        def member(item_key: str) -> str:
            digest = copy()
            digest.update(item_key.encode())
            return digest.hexdigest()

        return member

    def __str__(self) -> str:
        return "/".join(self.parts())


@dataclass(frozen=True)
class Claim:
    """One try's claim on a delivery (see "Claims (fencing)" in the module docstring).

    :param id: random id of the claiming process (12 hex characters).
    :param attempt: the Airflow try number (claims are ordered by it first).
    :param at: POSIX time of the claim.
    """

    id: str
    attempt: int = 1
    at: float = 0.0

    @classmethod
    def new(cls, attempt: int = 1) -> Claim:
        """A fresh claim for try ``attempt``."""
        return cls(uuid.uuid4().hex[:12], max(1, int(attempt)), time.time())

    def to_record(self) -> dict[str, Any]:
        return {"t": "claim", "c": self.id, "a": self.attempt, "ts": round(self.at, 3)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Claim | None:
        try:
            return cls(str(record["c"]), int(record.get("a", 1)), float(record.get("ts", 0.0)))
        except (KeyError, TypeError, ValueError):
            return None


def newest_claim(claims: Iterable[Claim]) -> Claim | None:
    """The claim that owns the delivery: the highest try number, then the last written."""
    best: tuple[int, int] | None = None
    owner: Claim | None = None
    for position, claim in enumerate(claims):
        rank = (claim.attempt, position)
        if best is None or rank > best:
            best, owner = rank, claim
    return owner


#: frames of try ``n`` are numbered from ``(n - 1) << FRAMES_PER_TRY_BITS`` (two tries never share an index)
FRAMES_PER_TRY_BITS = 20


@dataclass
class FrameState:
    """What the checkpoint says about one frame.

    :param index: the frame's index.
    :param key: its idempotency key.
    :param members: keyed hashes of its items.
    :param status: ``intent`` | ``done`` | ``rejected`` | ``failed`` | ``doubt``.
    :param result: the vendor's answer when ``done``.
    :param error: the reason recorded with ``rejected`` / ``failed`` / ``doubt``.
    :param started: POSIX time the intent was written (None in checkpoints of earlier releases).
    """

    index: int
    key: str = ""
    members: list[str] = field(default_factory=list)
    status: str = "intent"
    result: FrameResult | None = None
    error: str = ""
    started: float | None = None


@dataclass
class CheckpointState:
    """The parsed checkpoint of one delivery."""

    frames: dict[int, FrameState] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> CheckpointState:
        state = cls()
        for record in records:
            kind, index = record.get("t"), record.get("i")
            if kind is None or index is None:
                continue
            frame = state.frames.setdefault(int(index), FrameState(int(index)))
            if kind == "intent":
                frame.key = str(record.get("k", frame.key))
                members = str(record.get("m", ""))
                frame.members = [members[i : i + HASH_CHARS] for i in range(0, len(members), HASH_CHARS)]
                if isinstance(record.get("ts"), (int, float)):
                    frame.started = float(record["ts"])
                if frame.status != "done":
                    frame.status = "intent"
                continue
            if frame.status == "done":  # final
                continue
            frame.status = str(kind)
            if kind == "done":
                frame.result = FrameResult.from_checkpoint(int(index), record.get("r", {}))
            frame.error = str(record.get("e", ""))
        return state

    @property
    def next_index(self) -> int:
        return max(self.frames, default=-1) + 1

    def first_index(self, attempt: int) -> int:
        """Where try ``attempt`` numbers its new frames: after every recorded frame, and in its own range."""
        return max(self.next_index, (max(1, attempt) - 1) << FRAMES_PER_TRY_BITS)

    def with_status(self, *statuses: str) -> list[FrameState]:
        return [f for f in self.frames.values() if f.status in statuses]

    def accepted_members(self) -> set[str]:
        return {m for f in self.with_status("done") for m in f.members}

    def results(self) -> list[FrameResult]:
        return [f.result for f in self.with_status("done") if f.result is not None]


def encode_members(members: Iterable[str]) -> str:
    return "".join(members)


class CheckpointStore(ABC):
    """Where delivery checkpoints live. ``load`` reads a key's records; ``append`` adds records durably."""

    @abstractmethod
    def load(self, key: CheckpointKey) -> list[dict[str, Any]]:
        """Every record of ``key`` in the order written (empty when none)."""

    @abstractmethod
    def append_sync(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        """Write ``records`` durably before returning."""

    async def append(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        """Async :meth:`append_sync` (runs in a thread so slow storage does not stall the sends)."""
        await asyncio.to_thread(self.append_sync, key, records)

    @abstractmethod
    def clear(self, key: CheckpointKey) -> None:
        """Forget ``key`` (the next delivery with it starts from scratch)."""

    @abstractmethod
    def load_claims(self, key: CheckpointKey) -> list[dict[str, Any]]:
        """Every claim record of ``key`` in the order written (empty when none)."""

    @abstractmethod
    def append_claim(self, key: CheckpointKey, record: dict[str, Any]) -> None:
        """Write one claim record durably before returning."""

    def claim(self, key: CheckpointKey, claim: Claim) -> None:
        """Record ``claim`` (call it before reading the checkpoint: see "Claims" in the module docstring)."""
        self.append_claim(key, claim.to_record())

    def claims(self, key: CheckpointKey) -> list[Claim]:
        """The claims of ``key`` in the order written."""
        return [c for c in (Claim.from_record(r) for r in self.load_claims(key)) if c is not None]

    def owner(self, key: CheckpointKey) -> Claim | None:
        """The claim that owns ``key`` now (:func:`newest_claim`)."""
        return newest_claim(self.claims(key))

    def location(self, key: CheckpointKey) -> str:
        """Where ``key`` is stored (for log lines)."""
        return str(key)

    def state(self, key: CheckpointKey) -> CheckpointState:
        return CheckpointState.from_records(self.load(key))

    def state_or_legacy(self, key: CheckpointKey) -> CheckpointState:
        """:meth:`state`; when ``key`` has a namespace and nothing is recorded under it yet, the
        checkpoint a release without namespaces wrote for the same task instance is adopted (its
        records are copied under ``key`` first), so a retry across the upgrade calls nobody twice."""
        records = self.load(key)
        if not records and key.namespace:
            legacy = [r for r in self.load(dataclasses.replace(key, namespace="")) if r.get("t") != "claim"]
            if legacy:
                self.append_sync(key, legacy)
                records = self.load(key)
        return CheckpointState.from_records(records)


class CheckpointWriter:
    """Group commit of one delivery's records (see "Group commit" in the module docstring).

    Concurrent :meth:`write` calls made while a commit is under way are appended together by the
    next commit: one :meth:`CheckpointStore.append_sync` (one ``fsync``) in a thread, followed,
    when any of them asked, by one read of the claims (:meth:`CheckpointStore.owner`) — made
    *after* the records are durable, which is what fencing needs. A store with an async
    ``append`` of its own (:class:`MemoryCheckpointStore`) is called through it instead.

    :param store: the checkpoint store.
    :param key: the delivery.
    """

    def __init__(self, store: CheckpointStore, key: CheckpointKey) -> None:
        self.store = store
        self.key = key
        self._pending: list[tuple[list[dict[str, Any]], bool, asyncio.Future[Claim | None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._own_append = type(store).append is not CheckpointStore.append
        #: commits made, records written, seconds spent committing (what the benchmark's profile shows)
        self.commits = 0
        self.records = 0
        self.seconds = 0.0

    async def write(self, records: list[dict[str, Any]], *, owner: bool = False) -> Claim | None:
        """Append ``records`` durably (with whatever other frames hand in meanwhile); return once they are.

        :param records: the records.
        :param owner: also read the claims once the records are durable, and return the owner.
        :returns: the claim owning the delivery when ``owner`` (None: no claim recorded), else None.
        :raises Exception: what the store raised (every caller of the failed commit gets it).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Claim | None] = loop.create_future()
        self._pending.append((records, owner, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            records = [record for group, _, _ in batch for record in group]
            want_owner = any(asks for _, asks, _ in batch)
            try:
                claim = await self._commit(records, want_owner)
            except BaseException as exc:  # every caller of this commit sees the failure
                for _, _, done in batch:
                    if not done.done():
                        if isinstance(exc, asyncio.CancelledError):
                            done.cancel()
                        else:
                            done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(claim)

    async def _commit(self, records: list[dict[str, Any]], want_owner: bool) -> Claim | None:
        started = time.perf_counter()
        try:
            if self._own_append:
                await self.store.append(self.key, records)
                return await asyncio.to_thread(self.store.owner, self.key) if want_owner else None
            return await asyncio.to_thread(self._commit_sync, records, want_owner)
        finally:
            self.commits += 1
            self.records += len(records)
            self.seconds += time.perf_counter() - started

    def _commit_sync(self, records: list[dict[str, Any]], want_owner: bool) -> Claim | None:
        self.store.append_sync(self.key, records)  # durable first ...
        return self.store.owner(self.key) if want_owner else None  # ... then the claims (fencing)


class MemoryCheckpointStore(CheckpointStore):
    """Checkpoints in a dict (tests, one-process use). Share the instance between tries."""

    def __init__(self) -> None:
        self._data: dict[str, list[dict[str, Any]]] = {}
        self._claims: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def load_claims(self, key: CheckpointKey) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._claims.get(key.path, [])]

    def append_claim(self, key: CheckpointKey, record: dict[str, Any]) -> None:
        with self._lock:
            self._claims.setdefault(key.path, []).append(json.loads(json.dumps(record)))

    def load(self, key: CheckpointKey) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._data.get(key.path, [])]

    def append_sync(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._data.setdefault(key.path, []).extend(json.loads(json.dumps(records)))

    async def append(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        self.append_sync(key, records)

    def clear(self, key: CheckpointKey) -> None:
        with self._lock:
            self._data.pop(key.path, None)
            self._claims.pop(key.path, None)

    def location(self, key: CheckpointKey) -> str:
        return f"memory:{key.path}"


class LocalCheckpointStore(CheckpointStore):
    """One JSONL file per task instance under ``root``; each append is flushed and ``fsync``-ed.

    :param root: the directory (created when missing).
    :param fsync: call ``os.fsync`` after each append (default True: a crash right after a frame
        was accepted must not lose its record).
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self._lock = threading.Lock()

    def _file(self, key: CheckpointKey) -> Path:
        return self.root / f"{key.path}.jsonl"

    def _claims_file(self, key: CheckpointKey) -> Path:
        return self.root / f"{key.path}.claims.jsonl"

    def load(self, key: CheckpointKey) -> list[dict[str, Any]]:
        return _read_local(self._file(key))

    def load_claims(self, key: CheckpointKey) -> list[dict[str, Any]]:
        return _read_local(self._claims_file(key))

    def append_claim(self, key: CheckpointKey, record: dict[str, Any]) -> None:
        self._append(self._claims_file(key), [record])

    def append_sync(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        self._append(self._file(key), records)

    def _append(self, path: Path, records: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())

    def clear(self, key: CheckpointKey) -> None:
        self._file(key).unlink(missing_ok=True)
        self._claims_file(key).unlink(missing_ok=True)

    def location(self, key: CheckpointKey) -> str:
        return str(self._file(key))


class ObjectStorageCheckpointStore(CheckpointStore):
    """Checkpoints in object storage: every append is one object ``<root>/<key>/<seq>.jsonl``.

    :param root: an ``ObjectStoragePath`` (or a URL string such as ``s3://bucket/voice/checkpoints``).
    """

    _counter = itertools.count()

    def __init__(self, root: Any) -> None:
        if isinstance(root, str):  # asked for object storage by name: even a file:// URL goes through it
            root = object_storage_path(root.strip())
        self.root = root
        self._writer = uuid.uuid4().hex[:8]

    def _dir(self, key: CheckpointKey) -> Any:
        return self.root / key.path

    def load(self, key: CheckpointKey) -> list[dict[str, Any]]:
        return self._load_folder(self._dir(key))

    def load_claims(self, key: CheckpointKey) -> list[dict[str, Any]]:
        return self._load_folder(self._dir(key) / "claims")

    def append_claim(self, key: CheckpointKey, record: dict[str, Any]) -> None:
        self._write(self._dir(key) / "claims", [record])

    def _load_folder(self, folder: Any) -> list[dict[str, Any]]:
        forget_listings(folder)
        try:
            if not folder.exists():
                return []
            names = [p for p in folder.iterdir() if p.name.endswith(".jsonl")]
        except FileNotFoundError:
            return []
        records: list[dict[str, Any]] = []
        for path in sorted(names, key=lambda p: p.name):
            records.extend(_read_jsonl(path.read_text(encoding="utf-8")))
        return records

    def append_sync(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        self._write(self._dir(key), records)

    def _write(self, folder: Any, records: list[dict[str, Any]]) -> None:
        name = f"{time.time_ns():020d}-{next(self._counter):08d}-{self._writer}.jsonl"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (OSError, NotImplementedError):  # buckets have no directories
            pass
        (folder / name).write_text(
            "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records), encoding="utf-8"
        )

    def clear(self, key: CheckpointKey) -> None:
        for folder in (self._dir(key) / "claims", self._dir(key)):
            if folder.exists():
                for path in folder.iterdir():
                    if path.name.endswith(".jsonl"):
                        path.unlink()

    def location(self, key: CheckpointKey) -> str:
        return str(self._dir(key))


def _read_local(path: Path) -> list[dict[str, Any]]:
    try:
        return _read_jsonl(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []


def _read_jsonl(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line (crash while writing): its frame stays "intent"
            continue
    return records


_NAMESPACE_CACHE: dict[str, str] = {}
#: what an object given as a checkpoint root must do (an ``ObjectStoragePath`` and a ``Path`` do)
_STORE_NEEDS = ("exists", "iterdir", "mkdir")


def deployment_namespace() -> str:
    """The namespace of this Airflow deployment in checkpoint paths and frame keys.

    ``[voice] namespace`` when set (any short name: ``prod-eu``); otherwise 8 characters derived
    from the metadata database URL without its password (``[database] sql_alchemy_conn``), so two
    deployments sharing a checkpoint bucket or a vendor account never mistake each other's
    deliveries, and every worker of one deployment agrees. Empty outside Airflow.
    """
    try:
        from airflow.configuration import conf

        configured = conf.get("voice", "namespace", fallback=None)
        if configured:
            return _SAFE.sub("-", str(configured).strip())[:40]
        url = conf.get("database", "sql_alchemy_conn", fallback=None) or ""
    except Exception:  # plain Python use without an Airflow configuration
        return ""
    if not url:
        return ""
    if url not in _NAMESPACE_CACHE:
        without_password = re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", url)
        _NAMESPACE_CACHE[url] = "d" + hashlib.blake2b(without_password.encode(), digest_size=8).hexdigest()[:7]
    return _NAMESPACE_CACHE[url]


def default_checkpoint_location() -> str:
    """``[voice] checkpoint_path`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/checkpoints``."""
    return configured_location("checkpoint_path", "checkpoints")


def checkpoint_store(location: Any = None) -> CheckpointStore:
    """A store for ``location``: a :class:`CheckpointStore` as is; ``None`` or a blank string ->
    :func:`default_checkpoint_location`; then, by the one rule of :mod:`airflow_provider_voice.storage`,
    a local path or ``file://`` URL -> :class:`LocalCheckpointStore` and an object-storage URL or
    ``ObjectStoragePath`` -> :class:`ObjectStorageCheckpointStore`.

    :param location: the store, a path, a URL or an ``ObjectStoragePath`` (``checkpoint_path``).
    :raises ValidationError: a ``file://`` URL naming another host, or an object that is no path.
    """
    if isinstance(location, CheckpointStore):
        return location
    if location is None or (isinstance(location, str) and not location.strip()):
        location = default_checkpoint_location()
    root = resolve_location(location, field="checkpoint_path", needs=_STORE_NEEDS)
    if isinstance(root, Path):
        return LocalCheckpointStore(root)
    return ObjectStorageCheckpointStore(root)
