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

Stores
------
* :class:`LocalCheckpointStore` — one JSONL file per task instance under a directory, appended
  and ``fsync``-ed per record batch. Survives task retries on the same machine or on a shared
  volume; **not** a lost machine unless the directory is shared.
* :class:`ObjectStorageCheckpointStore` — an ``ObjectStoragePath`` (``s3://``, ``gs://``,
  ``file://``...): each append is one small object ``<key>/<seq>.jsonl`` (object stores cannot
  append). Survives lost workers. Use it in production with several workers.
* :class:`MemoryCheckpointStore` — a dict, for tests and one-process use.

:func:`checkpoint_store` picks one from a location: a path or ``file://`` URL gives the local
store, another URL or an ``ObjectStoragePath`` the object store; ``None`` reads the Airflow
option ``[voice] checkpoint_path`` (default ``$AIRFLOW_HOME/voice/checkpoints``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_provider_voice.delivery.frames import FrameResult

__all__ = [
    "HASH_CHARS",
    "CheckpointKey",
    "CheckpointState",
    "CheckpointStore",
    "FrameState",
    "LocalCheckpointStore",
    "MemoryCheckpointStore",
    "ObjectStorageCheckpointStore",
    "checkpoint_store",
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

    :param dag_id: the DAG. :param task_id: the task. :param run_id: the DAG run.
    :param map_index: the mapped-task index (-1 when not mapped).
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> CheckpointKey:
        """The key of the running task instance (Airflow ``context``)."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index))

    @property
    def path(self) -> str:
        """``dag_id/task_id/run_id/map_index`` with every part made file-name safe."""
        return "/".join(
            _SAFE.sub(lambda m: quote(m.group(0), safe="").replace("%", "~"), part) for part in self.parts()
        )

    def parts(self) -> tuple[str, str, str, str]:
        return (self.dag_id, self.task_id, self.run_id, str(self.map_index))

    @property
    def tag(self) -> str:
        """9 letters/digits derived from the key: the prefix of every frame key."""
        digest = hashlib.blake2b("\x1f".join(self.parts()).encode(), digest_size=8).digest()
        return _base36(int.from_bytes(digest, "big"), 9)

    def frame_key(self, index: int) -> str:
        """The idempotency key of frame ``index``: 15 letters/digits (``tag`` + base-36 index)."""
        if not 0 <= index < 36**6:
            raise ValueError(f"frame index {index} out of range")
        return self.tag + _base36(index, 6)

    def member_hasher(self) -> Any:
        """A function item-key -> 16 hex chars (BLAKE2b keyed with this key: no phone numbers stored)."""
        salt = hashlib.blake2b("\x1f".join(self.parts()).encode(), digest_size=16).digest()

        def member(item_key: str) -> str:
            return hashlib.blake2b(item_key.encode(), digest_size=8, key=salt).hexdigest()

        return member

    def __str__(self) -> str:
        return "/".join(self.parts())


@dataclass
class FrameState:
    """What the checkpoint says about one frame."""

    index: int
    key: str = ""
    members: list[str] = field(default_factory=list)
    status: str = "intent"
    result: FrameResult | None = None
    error: str = ""


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

    def location(self, key: CheckpointKey) -> str:
        """Where ``key`` is stored (for log lines)."""
        return str(key)

    def state(self, key: CheckpointKey) -> CheckpointState:
        return CheckpointState.from_records(self.load(key))


class MemoryCheckpointStore(CheckpointStore):
    """Checkpoints in a dict (tests, one-process use). Share the instance between tries."""

    def __init__(self) -> None:
        self._data: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

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

    def load(self, key: CheckpointKey) -> list[dict[str, Any]]:
        path = self._file(key)
        if not path.exists():
            return []
        return _read_jsonl(path.read_text(encoding="utf-8"))

    def append_sync(self, key: CheckpointKey, records: list[dict[str, Any]]) -> None:
        path = self._file(key)
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

    def location(self, key: CheckpointKey) -> str:
        return str(self._file(key))


class ObjectStorageCheckpointStore(CheckpointStore):
    """Checkpoints in object storage: every append is one object ``<root>/<key>/<seq>.jsonl``.

    :param root: an ``ObjectStoragePath`` (or a URL string such as ``s3://bucket/voice/checkpoints``).
    """

    _counter = itertools.count()

    def __init__(self, root: Any) -> None:
        if isinstance(root, str):
            from airflow.sdk import ObjectStoragePath

            root = ObjectStoragePath(root)
        self.root = root
        self._writer = uuid.uuid4().hex[:8]

    def _dir(self, key: CheckpointKey) -> Any:
        return self.root / key.path

    def load(self, key: CheckpointKey) -> list[dict[str, Any]]:
        folder = self._dir(key)
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
        name = f"{time.time_ns():020d}-{next(self._counter):08d}-{self._writer}.jsonl"
        folder = self._dir(key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (OSError, NotImplementedError):  # buckets have no directories
            pass
        (folder / name).write_text(
            "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records), encoding="utf-8"
        )

    def clear(self, key: CheckpointKey) -> None:
        folder = self._dir(key)
        if folder.exists():
            for path in folder.iterdir():
                path.unlink()

    def location(self, key: CheckpointKey) -> str:
        return str(self._dir(key))


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


def default_checkpoint_location() -> str:
    """``[voice] checkpoint_path`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/checkpoints``."""
    try:
        from airflow.configuration import conf

        configured = conf.get("voice", "checkpoint_path", fallback=None)
        if configured:
            return str(configured)
        home = conf.get("core", "airflow_home", fallback=None) or os.environ.get("AIRFLOW_HOME")
    except Exception:  # plain Python use without an Airflow configuration
        home = os.environ.get("AIRFLOW_HOME")
    return str(Path(home or Path.home() / "airflow") / "voice" / "checkpoints")


def checkpoint_store(location: Any = None) -> CheckpointStore:
    """A store for ``location``: a :class:`CheckpointStore` as is; a local path or ``file://`` URL ->
    :class:`LocalCheckpointStore`; any other URL or an ``ObjectStoragePath`` ->
    :class:`ObjectStorageCheckpointStore`; ``None`` -> :func:`default_checkpoint_location`."""
    if isinstance(location, CheckpointStore):
        return location
    if location is None or location == "":
        location = default_checkpoint_location()
    if isinstance(location, os.PathLike) and not hasattr(location, "protocol"):
        return LocalCheckpointStore(location)
    if isinstance(location, str):
        if location.startswith("file://"):
            return LocalCheckpointStore(location[len("file://") :])
        if "://" not in location:
            return LocalCheckpointStore(location)
    return ObjectStorageCheckpointStore(location)
