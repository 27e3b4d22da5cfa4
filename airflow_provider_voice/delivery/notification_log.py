"""The notifications log: what keeps one failure from paging the same person twice.

A notifier (``SmsNotifier``, ``VoiceCallNotifier``) computes a **key** for each message it is about
to send (:func:`notification_key`: a keyed BLAKE2b hash of the failure's identity, the channel, the
number and the text; no phone number is stored), then **claims** it here before sending:

* no record, or a record older than the dedup window: the claim is written (state ``sending``) and
  the notifier sends; afterwards it **settles** the record (``sent`` with the vendor's id, or
  ``in_doubt`` when the vendor may have it: never resent within the window) or **releases** it
  (the vendor certainly did not act: a later callback may try again);
* a record inside the window (whatever its state, a ``sending`` claim of a process that died
  included): the notifier does not send.

Records are small JSON objects at ``<root>/<namespace>/<dag_id>/<key>.json`` (the namespace is
:func:`~airflow_provider_voice.delivery.checkpoint.deployment_namespace`): the DAG, task and run
ids are kept in clear for :meth:`NotificationLog.records`, never the number or the text.

Stores (:func:`notification_log` picks one from a location, like the checkpoints):

* :class:`LocalNotificationLog` — a local (or shared, NFS) directory. A claim is atomic between
  processes: the record is written to a temporary file, then hard-linked into place
  (``os.link`` fails when the record exists), so a record is never seen half-written; an expired
  record is moved aside with ``os.rename`` (one process wins) before a new claim.
* :class:`ObjectStorageNotificationLog` — an ``ObjectStoragePath`` (``s3://``, ``gs://``...):
  survives a lost worker and is shared by every worker. Object stores offer no portable
  create-if-absent, so two processes claiming the *same* key in the same instant may both send
  (a retry runs after its predecessor's callbacks, so this needs two callbacks racing).
* ``None`` location: ``[voice] notifications_path``, default ``$AIRFLOW_HOME/voice/notifications``.

Records are not removed when they expire (a later claim replaces them); :meth:`NotificationLog.prune`
deletes the old ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_provider_voice.delivery.checkpoint import deployment_namespace
from airflow_provider_voice.storage import configured_location, forget_listings, object_storage_path, resolve_location

__all__ = [
    "LocalNotificationLog",
    "NotificationLog",
    "NotificationRecord",
    "ObjectStorageNotificationLog",
    "default_notifications_location",
    "notification_key",
    "notification_log",
]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_KEY = re.compile(r"[0-9a-f]{32}")
#: states of a record
STATES = ("sending", "sent", "in_doubt")
#: what an object given as the root must do (an ``ObjectStoragePath`` and a ``Path`` do)
_STORE_NEEDS = ("exists", "iterdir", "mkdir")


def _safe(part: str) -> str:
    return _SAFE.sub(lambda m: quote(m.group(0), safe="").replace("%", "~"), part) or "_"


def notification_key(identity: Sequence[object], *, channel: str, number: str, text: str, namespace: str = "") -> str:
    """The key of one message: 32 hex characters, the same in every process of the deployment.

    BLAKE2b of ``channel``, ``number`` and ``text``, keyed with the failure's ``identity`` (DAG,
    task, run, map index, or the author's ``dedup_key``) and the deployment ``namespace``: the key
    says nothing about the number unless all of them are known.

    :param identity: what the failure is (strings and ints).
    :param channel: ``sms`` or ``call``.
    :param number: the E.164 number.
    :param text: the rendered text.
    :param namespace: the deployment namespace.
    """
    salt = hashlib.blake2b("\x1f".join((namespace, *map(str, identity))).encode(), digest_size=32).digest()
    data = "\x1f".join((channel, number, text)).encode()
    return hashlib.blake2b(data, digest_size=16, key=salt).hexdigest()


@dataclass(frozen=True)
class NotificationRecord:
    """One message in the log (no phone number, no text).

    :param key: :func:`notification_key`.
    :param state: ``sending`` (claimed, being sent), ``sent`` or ``in_doubt``.
    :param at: POSIX time of the claim (the dedup window counts from it).
    :param channel: ``sms`` or ``call``.
    :param vendor: the vendor it went to.
    :param conn_id: the connection.
    :param ref: the vendor's id of the message or call, when known.
    :param dag_id: the DAG of the failure ("" when unknown).
    :param task_id: the task ("" for a DAG-level callback).
    :param run_id: the run.
    :param map_index: the map index (-1: not mapped).
    :param owner: random id of the claiming process.
    """

    key: str
    state: str = "sending"
    at: float = 0.0
    channel: str = ""
    vendor: str = ""
    conn_id: str = ""
    ref: str | None = None
    dag_id: str = ""
    task_id: str = ""
    run_id: str = ""
    map_index: int = -1
    owner: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def live(self, window: float, now: float) -> bool:
        """Whether the record still blocks a new message (claimed less than ``window`` seconds ago)."""
        return now - self.at < window

    def settled(self, state: str, ref: str | None = None) -> NotificationRecord:
        """The record in ``state`` (``sent``, ``in_doubt``), with the vendor's id."""
        return replace(self, state=state, ref=ref if ref is not None else self.ref)

    def to_json(self) -> str:
        return json.dumps({"v": 1, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> NotificationRecord | None:
        """The record in ``text``; None when it is not one (a torn or foreign file)."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not _KEY.fullmatch(str(data.get("key", ""))):
                return None
            return cls(
                key=str(data["key"]),
                state=str(data.get("state", "sending")),
                at=float(data.get("at", 0.0)),
                channel=str(data.get("channel", "")),
                vendor=str(data.get("vendor", "")),
                conn_id=str(data.get("conn_id", "")),
                ref=None if data.get("ref") is None else str(data["ref"]),
                dag_id=str(data.get("dag_id", "")),
                task_id=str(data.get("task_id", "")),
                run_id=str(data.get("run_id", "")),
                map_index=int(data.get("map_index", -1)),
                owner=str(data.get("owner", "")),
            )
        except (ValueError, TypeError, KeyError):
            return None


class NotificationLog(ABC):
    """Where notification records live (see the module docstring).

    :param namespace: the deployment namespace (default: :func:`deployment_namespace`).
    """

    def __init__(self, *, namespace: str | None = None) -> None:
        self.namespace = _safe(deployment_namespace() if namespace is None else namespace)

    def claim(
        self, record: NotificationRecord, *, window: float, now: float | None = None
    ) -> NotificationRecord | None:
        """Claim ``record.key`` before sending: None when claimed (send it), else the record that
        blocks it (a message for this key was claimed less than ``window`` seconds ago).

        :param record: the claim (state ``sending``, ``at`` = now).
        :param window: the dedup window in seconds.
        :param now: the current POSIX time (default: now).
        """
        current = time.time() if now is None else now
        return self._claim(replace(record, at=current), window, current)

    @abstractmethod
    def _claim(self, record: NotificationRecord, window: float, now: float) -> NotificationRecord | None: ...

    @abstractmethod
    def settle(self, record: NotificationRecord) -> None:
        """Replace the claim with its final state (``sent``, ``in_doubt``)."""

    @abstractmethod
    def release(self, record: NotificationRecord) -> None:
        """Remove a claim whose message certainly was not sent (a later callback may send it)."""

    @abstractmethod
    def records(self, dag_id: str) -> list[NotificationRecord]:
        """Every record of ``dag_id``, oldest first."""

    @abstractmethod
    def prune(self, older_than: float, *, now: float | None = None) -> int:
        """Delete records claimed more than ``older_than`` seconds ago; how many were deleted."""

    def location(self) -> str:
        """Where the records are (for log lines)."""
        return ""

    def _parts(self, record: NotificationRecord) -> tuple[str, str]:
        return _safe(record.dag_id), f"{record.key}.json"


class LocalNotificationLog(NotificationLog):
    """Records in a local directory (see the module docstring for the atomic claim).

    :param root: the directory (created when missing).
    :param namespace: the deployment namespace (default: :func:`deployment_namespace`).
    """

    def __init__(self, root: str | os.PathLike[str], *, namespace: str | None = None) -> None:
        super().__init__(namespace=namespace)
        self.root = Path(root)

    def _path(self, record: NotificationRecord) -> Path:
        folder, name = self._parts(record)
        return self.root / self.namespace / folder / name

    def _temp(self, path: Path, text: str) -> Path:
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        with open(temp, "x", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def _create(self, path: Path, text: str) -> bool:
        """Write ``path`` only if it does not exist (False when it does), never half-written."""
        temp = self._temp(path, text)
        try:
            os.link(temp, path)  # fails when a record is there: the claim is atomic
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: an exclusive create (a torn one blocks, by age)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            return True
        finally:
            temp.unlink(missing_ok=True)

    def _claim(self, record: NotificationRecord, window: float, now: float) -> NotificationRecord | None:
        path = self._path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        existing: NotificationRecord | None = None
        for _ in range(5):
            if self._create(path, record.to_json()):
                return None
            existing = self._read(path)
            if existing is None:  # unreadable: judged by its age
                try:
                    age = now - path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age < window:
                    return NotificationRecord(key=record.key, state="in_doubt", at=now - age)
            elif existing.live(window, now):
                return existing
            aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.expired")
            try:
                os.rename(path, aside)  # one process moves the expired record; the others retry
            except FileNotFoundError:
                continue
            aside.unlink(missing_ok=True)
        return existing or NotificationRecord(key=record.key, state="in_doubt", at=now)

    def _read(self, path: Path) -> NotificationRecord | None:
        try:
            return NotificationRecord.from_json(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def settle(self, record: NotificationRecord) -> None:
        path = self._path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._temp(path, record.to_json()), path)

    def release(self, record: NotificationRecord) -> None:
        path = self._path(record)
        current = self._read(path)
        if current is None or current.owner == record.owner:
            path.unlink(missing_ok=True)

    def _files(self, folder: Path) -> Iterator[Path]:
        if folder.is_dir():
            yield from (p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))

    def records(self, dag_id: str) -> list[NotificationRecord]:
        found = [self._read(p) for p in self._files(self.root / self.namespace / _safe(dag_id))]
        return sorted((r for r in found if r is not None), key=lambda r: r.at)

    def prune(self, older_than: float, *, now: float | None = None) -> int:
        current = time.time() if now is None else now
        removed = 0
        base = self.root / self.namespace
        for folder in base.iterdir() if base.is_dir() else ():
            for path in self._files(folder):
                record = self._read(path)
                if record is not None and not record.live(older_than, current):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def location(self) -> str:
        return str(self.root / self.namespace)


class ObjectStorageNotificationLog(NotificationLog):
    """Records in object storage, one object per key (see the module docstring for the claim's limit).

    :param root: an ``ObjectStoragePath`` (or a URL string such as ``s3://bucket/voice/notifications``).
    :param namespace: the deployment namespace (default: :func:`deployment_namespace`).
    """

    def __init__(self, root: Any, *, namespace: str | None = None) -> None:
        super().__init__(namespace=namespace)
        if isinstance(root, str):
            root = object_storage_path(root.strip())
        self.root = root

    def _path(self, record: NotificationRecord) -> Any:
        folder, name = self._parts(record)
        return self.root / self.namespace / folder / name

    @staticmethod
    def _read(path: Any) -> NotificationRecord | None:
        try:
            return NotificationRecord.from_json(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def _write(self, path: Any, record: NotificationRecord) -> None:
        with contextlib.suppress(OSError, NotImplementedError):  # buckets have no directories
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(record.to_json(), encoding="utf-8")

    def _claim(self, record: NotificationRecord, window: float, now: float) -> NotificationRecord | None:
        path = self._path(record)
        forget_listings(path.parent)
        existing = self._read(path) if path.exists() else None
        if existing is not None and existing.live(window, now):
            return existing
        self._write(path, record)
        return None

    def settle(self, record: NotificationRecord) -> None:
        self._write(self._path(record), record)

    def release(self, record: NotificationRecord) -> None:
        path = self._path(record)
        current = self._read(path) if path.exists() else None
        if current is not None and current.owner == record.owner:
            path.unlink()

    def _files(self, folder: Any) -> list[Any]:
        forget_listings(folder)
        try:
            if not folder.exists():
                return []
            return [p for p in folder.iterdir() if p.name.endswith(".json") and not p.name.startswith(".")]
        except FileNotFoundError:
            return []

    def records(self, dag_id: str) -> list[NotificationRecord]:
        found = [self._read(p) for p in self._files(self.root / self.namespace / _safe(dag_id))]
        return sorted((r for r in found if r is not None), key=lambda r: r.at)

    def prune(self, older_than: float, *, now: float | None = None) -> int:
        current = time.time() if now is None else now
        removed = 0
        for folder in self._files_or_dirs(self.root / self.namespace):
            for path in self._files(folder):
                record = self._read(path)
                if record is not None and not record.live(older_than, current):
                    path.unlink()
                    removed += 1
        return removed

    @staticmethod
    def _files_or_dirs(folder: Any) -> list[Any]:
        forget_listings(folder)
        try:
            return [p for p in folder.iterdir() if p.is_dir()] if folder.exists() else []
        except FileNotFoundError:
            return []

    def location(self) -> str:
        return str(self.root / self.namespace)


def default_notifications_location() -> str:
    """``[voice] notifications_path`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/notifications``."""
    return configured_location("notifications_path", "notifications")


def notification_log(location: Any = None, *, namespace: str | None = None) -> NotificationLog:
    """A log for ``location``: a :class:`NotificationLog` as is; ``None`` or a blank string ->
    :func:`default_notifications_location`; a local path or ``file://`` URL ->
    :class:`LocalNotificationLog`; an object-storage URL or ``ObjectStoragePath`` ->
    :class:`ObjectStorageNotificationLog` (the rule of :mod:`airflow_provider_voice.storage`).

    :param location: the log, a path, a URL or an ``ObjectStoragePath`` (``notifications_path``).
    :param namespace: the deployment namespace (default: :func:`deployment_namespace`).
    :raises ValidationError: a ``file://`` URL naming another host, or an object that is no path.
    """
    if isinstance(location, NotificationLog):
        return location
    if location is None or (isinstance(location, str) and not location.strip()):
        location = default_notifications_location()
    root = resolve_location(location, field="notifications_path", needs=_STORE_NEEDS)
    if isinstance(root, Path):
        return LocalNotificationLog(root, namespace=namespace)
    return ObjectStorageNotificationLog(root, namespace=namespace)
