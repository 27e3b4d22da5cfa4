"""The contact ledger: who every campaign contacted (or was refused by), and when, across campaigns.

Frequency caps ("at most 4 contacts in 30 days", "12 hours between two contacts", "60 days of
quiet after a refusal or an opt-out") need to know what *other* campaigns did. Every send asks
:meth:`ContactLedger.history` before it sends and calls :meth:`ContactLedger.record_contacts` with
the recipients the vendor accepted; refusals and opt-outs go to :meth:`ContactLedger.record_refusals`.

No phone number is stored
-------------------------
An entry is keyed by a keyed hash of the E.164 number: BLAKE2b in its keyed (MAC) mode, 16 bytes,
written as 32 hex characters. The key is ``[voice] contact_ledger_key`` (a secret: Airflow reads it
from the environment as ``AIRFLOW__VOICE__CONTACT_LEDGER_KEY`` or from a secrets backend; any
length, it is stretched to 32 bytes with BLAKE2b). Without it, a random 32-byte key is created once,
in the ``key`` file (or object) of the ledger location, by a write-if-absent (local: a complete
temporary file hard-linked into place; object storage: an exclusive create), then read back, so
processes racing to create it all end up with the one that won. A WARNING then says the hashes are
only as secret as that location: whoever can read the ledger can read the key there and test
candidate numbers against it. The key never appears in a log line, a repr or an error.

Layout (under the location)::

    key                                         hex of the 32-byte key (absent with contact_ledger_key)
    key.check                                   a one-way fingerprint of the key (a WARNING when it changes)
    segments/<YYYYMMDDHH>-<writer>.jsonl        local: appended (and fsync-ed) by one writer in one UTC hour
    segments/<time_ns>-<seq>-<writer>.jsonl     object storage (and memory): one object per append
    segments/c<time_ns>-<writer>.jsonl          written whole by a compaction

One record a line, ``{"h": <hash>, "ts": <POSIX time>, "k": "contact"|"refusal", "src": <source>}``.
``src`` names the sending task instance (``str(CheckpointKey)`` gives ``dag/task/run/map_index``);
a source longer than 64 characters, with characters outside ``[A-Za-z0-9._:/~@=+-]`` or with a run of
7 digits (it might hold a phone number) is stored as its keyed hash ``h-<16 hex>`` instead.

Reading
-------
:meth:`ContactLedger.history` loads the index once per ledger object, keeping only entries at or
after ``since``; :meth:`ContactLedger.refresh` then reads what was written since (new segments, and
the new end of local segments still being appended). A later ``history`` with an earlier ``since``
loads again. Recording through the ledger object updates its own index as well.

**Memory**: the index is a ``dict`` from the 16-byte hash to a ``bytes`` of packed ``(ts: double,
source*2+kind: uint32)`` pairs: its objects take about **115 bytes per person plus 12 bytes per
entry** on 64-bit CPython, and the process's RSS grows by about twice that (allocator overhead):
``benchmarks/bench_contact_ledger.py`` measured 66 MiB of RSS (38 MiB of index objects) for 250,000
people with 750,000 entries, loaded in 2.6 s.

**Idempotency**: an entry counts once per ``(hash, kind, source)``: a task retry re-recording what
an earlier try recorded, or the duplicate left by a compaction that crashed before its deletes, is
the same entry (its latest time is kept, the conservative choice for caps). A source recording
the same person twice (a campaign redialling a no-answer) therefore counts one contact; put the
round in the source to count each.

Compaction
----------
:meth:`ContactLedger.compact` rewrites every *sealed* segment into one compacted segment without the
entries older than ``older_than`` (the longest lookback of your caps: keep the refusal pause),
writes it completely, and only then deletes the segments it read. An object segment is sealed when
it exists (objects never change); a local segment when its hour ended more than
:data:`SEAL_GRACE_SECONDS` ago and it was not written for as long, so a compaction never deletes a
file an appender is still writing (a writer would have to stall that long between opening and
writing for it to happen). A crash between the write and the deletes leaves duplicates, which the
read-time deduplication absorbs; two compactions at once do the same. Run it from a maintenance DAG
(daily, say): object storage gets one object per recorded batch.

Concurrency: no lock across workers
-----------------------------------
Appends never conflict (each writer has its own files or objects), but nothing serializes *check
then send* across workers: two campaigns checking the same person at the same instant both see the
history before either has recorded, so both may contact them (one contact over the cap, or inside
the minimum gap). A ledger object is safe to share between threads. Caps are therefore a strong
limit for campaigns that do not overlap in time and a best effort for those that do; schedule
campaigns aimed at the same people apart (or in one DAG with ``max_active_tasks``) when it matters.

Errors: a segment that cannot be read, or holds a line that is not a ledger record, raises
:class:`ContactLedgerError` naming the segment and the line; a last line without its newline (a
crash while writing, or a write in progress) is skipped with a WARNING and read again by
:meth:`ContactLedger.refresh` once complete.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import itertools
import json
import math
import os
import re
import secrets
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_voice.delivery.event_store import _create_object, _mkdirs
from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.redaction import get_logger, mask_phone, register_secret
from airflow_provider_voice.storage import (
    configured_location,
    forget_listings,
    fsync_dir,
    object_storage_path,
    open_atomic,
    resolve_location,
)

__all__ = [
    "KINDS",
    "SEAL_GRACE_SECONDS",
    "Compaction",
    "ContactLedger",
    "ContactLedgerError",
    "History",
    "LedgerStore",
    "LocalLedgerStore",
    "MemoryLedgerStore",
    "ObjectStorageLedgerStore",
    "contact_ledger",
    "default_contact_ledger_location",
    "ledger_store",
]

log = get_logger(__name__)

#: the kinds of entry: a contact the vendor accepted, a refusal or opt-out
KINDS = ("contact", "refusal")
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
#: a local segment is sealed (compactable) once its hour ended, and it was last written, this long ago
SEAL_GRACE_SECONDS = 3600.0
#: records per appended segment object / per write (a big batch is split)
RECORDS_PER_APPEND = 20_000
#: segments are read (and parsed) this many bytes at a time
BLOCK_BYTES = 4 * 2**20
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PLAIN_SOURCE = re.compile(r"[A-Za-z0-9._:/~@=+-]{1,64}")
_DIGIT_RUN = re.compile(r"[0-9]{7}")
_HASH = re.compile(r"[0-9a-fA-F]{32}")
_LOCAL_SEGMENT = re.compile(r"([0-9]{10})-[0-9a-f]+\.jsonl")
_PAIR = struct.Struct("=dI")
_NUMBER_TYPES = (float, int)
_NUMBER_PERSON = b"voice-ledger-v1"
_SOURCE_PERSON = b"voice-ledger-src"
_KEY_PERSON = b"voice-ledger-key"
_CHECK_PERSON = b"voice-ledger-chk"
#: what an object given as the location must do (an ``ObjectStoragePath`` and a ``Path`` do)
_STORE_NEEDS = ("exists", "iterdir", "mkdir")
_WARNED_KEYS: set[str] = set()


class ContactLedgerError(VoiceProviderError):
    """The contact ledger holds something it cannot read: a corrupt or unreadable segment, or key.

    :param message: what is wrong (never a key, never a number).
    :param segment: the segment (or key file) at fault, as a path or URL.
    """

    def __init__(self, message: str, *, segment: str | None = None) -> None:
        super().__init__(message)
        self.segment = segment


@dataclass(frozen=True)
class History:
    """What the ledger knows of one person since the ``since`` asked for, oldest first.

    :param contacts: POSIX times of contacts (one per sending source).
    :param refusals: POSIX times of refusals and opt-outs.
    """

    contacts: tuple[float, ...] = ()
    refusals: tuple[float, ...] = ()

    @property
    def last_contact(self) -> float | None:
        """The latest contact, or None."""
        return self.contacts[-1] if self.contacts else None

    @property
    def last_refusal(self) -> float | None:
        """The latest refusal, or None."""
        return self.refusals[-1] if self.refusals else None


@dataclass(frozen=True)
class Compaction:
    """What :meth:`ContactLedger.compact` did.

    :param segments: segments read and deleted.
    :param entries: entries kept (older ones and duplicates dropped).
    :param people: distinct people among them.
    :param written: the compacted segment written (None when nothing was left to keep).
    """

    segments: int
    entries: int
    people: int
    written: str | None


# -- stores ---------------------------------------------------------------------------------------------
class LedgerStore(ABC):
    """Where a ledger's key and segments live. Names are file names under ``segments/``.

    ``appendable``: whether a segment may grow after it was first read (local files do).
    """

    appendable = False

    @property
    @abstractmethod
    def location(self) -> str:
        """The root, as a path or URL (for messages)."""

    @abstractmethod
    def segments(self) -> list[str]:
        """The names of the segments now, sorted."""

    @abstractmethod
    def blocks(self, name: str, offset: int = 0) -> Iterator[bytes]:
        """Segment ``name`` from byte ``offset`` on, in blocks (``FileNotFoundError``: it was deleted)."""

    @abstractmethod
    def append(self, data: bytes) -> None:
        """Add complete lines ``data`` durably before returning."""

    @abstractmethod
    def write_whole(self, chunks: Iterable[bytes]) -> str:
        """Write a new compacted segment from ``chunks``, visible only once complete; its name."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete segment ``name`` (already gone: nothing to do)."""

    @abstractmethod
    def read_file(self, name: str) -> bytes | None:
        """The content of the small file ``name`` beside ``segments/`` (``key``, ``key.check``), or None."""

    @abstractmethod
    def create_file(self, name: str, data: bytes) -> None:
        """Store ``data`` as file ``name`` unless it exists already (the first writer wins)."""

    def sealed(self, name: str, now: float) -> bool:
        """Whether segment ``name`` can no longer change (a compaction may take it)."""
        return True

    def where(self, name: str) -> str:
        """Segment ``name`` as a path or URL (for messages)."""
        return f"{self.location.rstrip('/')}/segments/{name}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


class MemoryLedgerStore(LedgerStore):
    """Segments in a dict, one per append (tests, one-process use). Share the instance to share a ledger."""

    def __init__(self) -> None:
        self._segments: dict[str, bytes] = {}
        self._files: dict[str, bytes] = {}
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return f"memory:contact-ledger-{id(self):x}"

    def segments(self) -> list[str]:
        with self._lock:
            return sorted(self._segments)

    def blocks(self, name: str, offset: int = 0) -> Iterator[bytes]:
        with self._lock:
            if name not in self._segments:
                raise FileNotFoundError(name)
            data = self._segments[name]
        for start in range(offset, len(data), BLOCK_BYTES):
            yield data[start : start + BLOCK_BYTES]

    def append(self, data: bytes) -> None:
        with self._lock:
            self._segments[f"{next(self._sequence):012d}.jsonl"] = bytes(data)

    def write_whole(self, chunks: Iterable[bytes]) -> str:
        data = b"".join(chunks)
        with self._lock:
            name = f"c{next(self._sequence):012d}.jsonl"
            self._segments[name] = data
        return name

    def delete(self, name: str) -> None:
        with self._lock:
            self._segments.pop(name, None)

    def read_file(self, name: str) -> bytes | None:
        return self._files.get(name)

    def create_file(self, name: str, data: bytes) -> None:
        with self._lock:
            self._files.setdefault(name, bytes(data))


class LocalLedgerStore(LedgerStore):
    """A local (or shared, NFS) directory: each writer appends to its own file per UTC hour, ``fsync``-ed.

    :param root: the directory (created when missing).
    :param fsync: ``fsync`` every append (default True: a crash must not lose who was called).
    """

    appendable = True

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.folder = self.root / "segments"
        self.fsync = fsync
        self._lock = threading.Lock()
        self._pid = -1
        self._writer = ""

    @property
    def location(self) -> str:
        return str(self.root)

    def segments(self) -> list[str]:
        try:
            with os.scandir(self.folder) as entries:
                return sorted(e.name for e in entries if e.name.endswith(".jsonl") and not e.name.startswith("."))
        except FileNotFoundError:
            return []

    def blocks(self, name: str, offset: int = 0) -> Iterator[bytes]:
        with open(self.folder / name, "rb") as handle:
            handle.seek(offset)
            while block := handle.read(BLOCK_BYTES):
                yield block

    def _writer_id(self) -> str:
        if self._pid != os.getpid():  # a forked child must not append to its parent's files
            self._pid, self._writer = os.getpid(), secrets.token_hex(6)
        return self._writer

    def append(self, data: bytes) -> None:
        with self._lock:
            path = self.folder / f"{time.strftime('%Y%m%d%H', time.gmtime())}-{self._writer_id()}.jsonl"
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                start = os.fstat(fd).st_size
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    if self.fsync:
                        os.fsync(fd)
                except BaseException:
                    with contextlib.suppress(OSError):  # no half line before the next append
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
        if start == 0 and self.fsync:
            fsync_dir(self.folder)

    def write_whole(self, chunks: Iterable[bytes]) -> str:
        name = f"c{time.time_ns():020d}-{self._writer_id()}.jsonl"
        with open_atomic(self.folder / name) as out:
            for chunk in chunks:
                out.write(chunk)
        return name

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def sealed(self, name: str, now: float) -> bool:
        if name.startswith("c"):
            return True
        match = _LOCAL_SEGMENT.fullmatch(name)
        if match is None:  # not written by this class: left alone
            return False
        hour_end = calendar.timegm(time.strptime(match.group(1), "%Y%m%d%H")) + 3600
        try:
            written = (self.folder / name).stat().st_mtime
        except FileNotFoundError:
            return False
        return max(hour_end, written) + SEAL_GRACE_SECONDS <= now

    def read_file(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def create_file(self, name: str, data: bytes) -> None:
        staged = self.root / f".{name}.{secrets.token_hex(4)}"
        with open_atomic(staged) as out:  # complete and fsync-ed before anyone can see it under its name
            out.write(data)
        try:
            os.chmod(staged, 0o600)
            os.link(staged, self.root / name)  # fails when a racing process linked its file first
        except FileExistsError:
            pass
        finally:
            staged.unlink(missing_ok=True)
        fsync_dir(self.root)


class ObjectStorageLedgerStore(LedgerStore):
    """Object storage (``s3://``, ``gs://``, ``file://`` through fsspec...): every append is one new object.

    :param root: an ``ObjectStoragePath`` (or a URL string such as ``s3://bucket/voice/contact_ledger``).
    """

    def __init__(self, root: Any) -> None:
        self.root = object_storage_path(root.strip()) if isinstance(root, str) else root
        self.folder = self.root / "segments"
        self._writer = secrets.token_hex(4)
        self._sequence = itertools.count()

    @property
    def location(self) -> str:
        return str(self.root)

    def segments(self) -> list[str]:
        forget_listings(self.folder)
        try:
            names = [p.name for p in self.folder.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if n.endswith(".jsonl") and not n.startswith("."))

    def blocks(self, name: str, offset: int = 0) -> Iterator[bytes]:
        with (self.folder / name).open("rb") as handle:
            if offset:
                handle.seek(offset)
            while block := handle.read(BLOCK_BYTES):
                yield bytes(block)

    def append(self, data: bytes) -> None:
        _mkdirs(self.folder)
        (self.folder / f"{time.time_ns():020d}-{next(self._sequence):06d}-{self._writer}.jsonl").write_bytes(data)

    def write_whole(self, chunks: Iterable[bytes]) -> str:
        name = f"c{time.time_ns():020d}-{self._writer}.jsonl"
        _mkdirs(self.folder)
        with (self.folder / name).open("wb") as out:  # an object appears once complete
            for chunk in chunks:
                out.write(chunk)
        return name

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / name).unlink()

    def read_file(self, name: str) -> bytes | None:
        try:
            return bytes((self.root / name).read_bytes())
        except FileNotFoundError:
            return None

    def create_file(self, name: str, data: bytes) -> None:
        _mkdirs(self.root)
        _create_object(self.root / name, data)


def default_contact_ledger_location() -> str:
    """``[voice] contact_ledger_path`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/contact_ledger``."""
    return configured_location("contact_ledger_path", "contact_ledger")


def ledger_store(location: Any = None) -> LedgerStore:
    """The store at ``location``: a :class:`LedgerStore` as is; a local path or ``file://`` URL ->
    :class:`LocalLedgerStore`; an object-storage URL or ``ObjectStoragePath`` ->
    :class:`ObjectStorageLedgerStore`; ``None`` or blank -> :func:`default_contact_ledger_location`.

    :param location: the store, a path, a URL or an ``ObjectStoragePath`` (``contact_ledger_path``).
    :raises ValidationError: a ``file://`` URL naming another host, or an object that is no path.
    """
    if isinstance(location, LedgerStore):
        return location
    blank = location is None or (isinstance(location, str) and not location.strip())
    root = resolve_location(
        default_contact_ledger_location() if blank else location, field="contact_ledger_path", needs=_STORE_NEEDS
    )
    return LocalLedgerStore(root) if isinstance(root, Path) else ObjectStorageLedgerStore(root)


# -- key ------------------------------------------------------------------------------------------------
def _configured_key() -> str | None:
    try:
        from airflow.configuration import conf

        value = conf.get("voice", "contact_ledger_key", fallback=None)
    except Exception:  # plain Python use without an Airflow configuration
        value = os.environ.get("AIRFLOW__VOICE__CONTACT_LEDGER_KEY")
    text = str(value or "").strip()
    return text or None


def _stretched(secret: str | bytes) -> bytes:
    data = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return hashlib.blake2b(data, digest_size=32, person=_KEY_PERSON).digest()


def _stored_key(store: LedgerStore) -> bytes:
    """The key kept at the store's location, created there (once, whoever wins a race) when absent."""
    stored = store.read_file("key")
    if stored is None:
        store.create_file("key", secrets.token_hex(32).encode("ascii") + b"\n")
        stored = store.read_file("key")
    text = (stored or b"").decode("ascii", "replace").strip()
    register_secret(text)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ContactLedgerError(
            f"the contact ledger key file {store.location.rstrip('/')}/key is not 64 hex characters: "
            "restore it (hashes written with another key no longer match anyone)",
            segment=f"{store.location.rstrip('/')}/key",
        )
    if store.location not in _WARNED_KEYS:
        _WARNED_KEYS.add(store.location)
        log.warning(
            "[voice] contact_ledger_key is not set: the contact ledger at %s hashes numbers with the key stored "
            "beside it, so its hashes are only as secret as that location (set contact_ledger_key from a "
            "secrets backend to keep the key elsewhere)",
            store.location,
        )
    return key


def _check_key(store: LedgerStore, key: bytes) -> None:
    """Warn when the ledger was written with another key: its entries no longer match anyone.

    ``key.check`` (written by the first ledger that opens the location) holds a one-way fingerprint
    of the key, never the key.
    """
    fingerprint = hashlib.blake2b(key, digest_size=8, person=_CHECK_PERSON).hexdigest().encode("ascii")
    stored = store.read_file("key.check")
    if stored is None:
        store.create_file("key.check", fingerprint + b"\n")
        stored = store.read_file("key.check")
    if (stored or b"").strip() != fingerprint:
        log.warning(
            "the contact ledger at %s was written with another key (key.check differs): the entries recorded "
            "before the key changed match no one, so frequency caps and refusal pauses restart for those "
            "people; restore the previous [voice] contact_ledger_key (or key file) unless the change was meant",
            store.location,
        )


# -- the index ------------------------------------------------------------------------------------------
class _Index:
    """hash (16 bytes) -> ``bytes`` of packed ``(ts, source*2 + kind)`` pairs, entries at or after ``since``."""

    __slots__ = ("entries", "since", "source_ids", "sources")

    def __init__(self, since: float) -> None:
        self.since = since
        self.entries: dict[bytes, bytes] = {}
        self.source_ids: dict[str, int] = {}
        self.sources: list[str] = []

    def _source_id(self, source: str) -> int:
        source_id = self.source_ids.get(source)
        if source_id is None:
            source_id = self.source_ids[source] = len(self.sources)
            self.sources.append(source)
        return source_id

    def add(self, digest: bytes, ts: float, kind: int, source: str) -> None:
        if ts >= self.since:
            self._put(digest, ts, self._source_id(source) * 2 + kind)

    def add_records(self, records: Iterable[Any]) -> None:
        """Add parsed ledger records (``TypeError``/``KeyError``/``ValueError`` at one that is not one).

        The loop of :meth:`add` with its lookups hoisted: a million records are read at each load.
        """
        since, entries, source_ids, pack, kinds = self.since, self.entries, self.source_ids, _PAIR.pack, _KIND_CODE
        fromhex, isfinite, numbers = bytes.fromhex, math.isfinite, _NUMBER_TYPES
        for record in records:
            ts, digest, source, kind = record["ts"], fromhex(record["h"]), record["src"], kinds[record["k"]]
            if ts.__class__ not in numbers or not isfinite(ts) or len(digest) != 16 or source.__class__ is not str:
                raise TypeError("not a ledger record")
            if ts < since:
                continue
            source_id = source_ids.get(source)
            code = (self._source_id(source) if source_id is None else source_id) * 2 + kind
            packed = entries.get(digest)
            if packed is None:
                entries[digest] = pack(float(ts), code)
            else:
                self._put(digest, float(ts), code, packed)

    def _put(self, digest: bytes, ts: float, code: int, packed: bytes | None = None) -> None:
        packed = self.entries.get(digest) if packed is None else packed
        if packed is None:
            self.entries[digest] = _PAIR.pack(ts, code)
            return
        for position, (seen, seen_code) in enumerate(_PAIR.iter_unpack(packed)):
            if seen_code == code:  # the same entry again (a retry, a compaction's copy): latest time wins
                if ts > seen:
                    start = position * _PAIR.size
                    self.entries[digest] = packed[:start] + _PAIR.pack(ts, code) + packed[start + _PAIR.size :]
                return
        self.entries[digest] = packed + _PAIR.pack(ts, code)

    def history(self, digest: bytes, since: float) -> History:
        packed = self.entries.get(digest)
        if packed is None:
            return _NOTHING
        times: tuple[list[float], list[float]] = ([], [])
        for ts, code in _PAIR.iter_unpack(packed):
            if ts >= since:
                times[code & 1].append(ts)
        return History(tuple(sorted(times[0])), tuple(sorted(times[1])))

    def count(self) -> int:
        return sum(len(packed) for packed in self.entries.values()) // _PAIR.size

    def merge(self, other: _Index) -> None:
        for digest, packed in other.entries.items():
            for ts, code in _PAIR.iter_unpack(packed):
                self.add(digest, ts, code & 1, other.sources[code >> 1])

    def lines(self, per_chunk: int = RECORDS_PER_APPEND) -> Iterator[bytes]:
        """The entries as ledger records, in chunks of about ``per_chunk`` lines."""
        tails = [[_tail(kind, source) for kind in KINDS] for source in self.sources]
        chunk: list[bytes] = []
        for digest, packed in self.entries.items():
            head = b'{"h":"' + digest.hex().encode("ascii") + b'","ts":'
            for ts, code in _PAIR.iter_unpack(packed):
                chunk.append(head + repr(ts).encode("ascii") + tails[code >> 1][code & 1])
            if len(chunk) >= per_chunk:
                yield b"".join(chunk)
                chunk = []
        if chunk:
            yield b"".join(chunk)


_NOTHING = History()


def _tail(kind: str, source: str) -> bytes:
    return f',"k":"{kind}","src":{json.dumps(source)}}}\n'.encode()


def _record_error(where: str, line: int, reason: str) -> ContactLedgerError:
    return ContactLedgerError(f"contact ledger segment {where}, line {line}: {reason}", segment=where)


def _parse_lines(index: _Index, body: bytes, where: str, first_line: int) -> None:
    """Add the records of ``body`` (complete lines; line ``first_line + 1`` first) to ``index``."""
    try:
        try:
            records = json.loads(b"[" + body.rstrip(b"\n").replace(b"\n", b",") + b"]")
        except ValueError:  # blank lines (an edited segment), or a bad line: found below
            records = json.loads(b"[" + b",".join(line for line in body.split(b"\n") if line.strip()) + b"]")
        index.add_records(records)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _located_error(body, where, first_line) from None


def _is_record(record: Any) -> bool:
    fields = record if isinstance(record, dict) else {}
    ts, digest = fields.get("ts"), fields.get("h")
    return (
        isinstance(digest, str)
        and _HASH.fullmatch(digest) is not None
        and isinstance(ts, (float, int))
        and not isinstance(ts, bool)
        and math.isfinite(ts)
        and fields.get("k") in _KIND_CODE
        and type(fields.get("src")) is str
    )


def _located_error(body: bytes, where: str, first_line: int) -> ContactLedgerError:
    """The error naming the first line of ``body`` that is not a ledger record."""
    for number, line in enumerate(body.split(b"\n"), start=first_line + 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return _record_error(where, number, "not JSON (a corrupt segment: restore it or move it away)")
        if not _is_record(record):
            return _record_error(where, number, 'not a ledger record {"h", "ts", "k", "src"}')
    return ContactLedgerError(f"contact ledger segment {where} cannot be read", segment=where)


# -- the ledger -----------------------------------------------------------------------------------------
class ContactLedger:
    """Who was contacted or refused, and when, across campaigns (see the module docstring).

    Thread-safe. Nothing is read before the first :meth:`history` (the key is read, or created, at once).

    :param store: a :class:`LedgerStore`, or a location for :func:`ledger_store` (None: the configured one).
    :param key: the hashing secret; default ``[voice] contact_ledger_key``, else the key file at the location.
    """

    def __init__(self, store: LedgerStore | Any = None, *, key: str | bytes | None = None) -> None:
        self.store = ledger_store(store)
        secret = key if key is not None else _configured_key()
        if secret:
            if isinstance(secret, str):
                register_secret(secret)
            raw, self.key_origin = _stretched(secret), "contact_ledger_key"
        else:
            raw, self.key_origin = _stored_key(self.store), "the key file at the location"
        _check_key(self.store, raw)
        self._numbers = hashlib.blake2b(key=raw, digest_size=16, person=_NUMBER_PERSON)
        self._sources = hashlib.blake2b(key=raw, digest_size=8, person=_SOURCE_PERSON)
        self._lock = threading.RLock()
        self._index: _Index | None = None
        self._offsets: dict[str, int] = {}
        self._finished: set[str] = set()
        self._torn: set[tuple[str, int]] = set()

    def __repr__(self) -> str:
        return f"ContactLedger({self.store.location!r}, key from {self.key_origin})"

    # -- hashing --------------------------------------------------------------------------------------
    def _digest(self, e164: str) -> bytes:
        mac = self._numbers.copy()
        mac.update(e164.encode("ascii"))
        return mac.digest()

    def hash_number(self, number: Any) -> str:
        """The stored hash of ``number`` (32 hex characters).

        :param number: an E.164 string or a :class:`~airflow_provider_voice.models.PhoneNumber`.
        :raises ValidationError: ``number`` is not an E.164 number.
        """
        return self._digest(_e164(number)).hex()

    def stored_source(self, source: str) -> str:
        """``source`` as it is written in records: as is when short and plain, else ``h-<keyed hash>``.

        :param source: the sending task instance (``dag/task/run/map_index``...).
        :raises ValidationError: an empty source.
        """
        text = str(source).strip()
        if not text:
            raise ValidationError("source", source, "the id of the sending task instance (dag/task/run)")
        if _PLAIN_SOURCE.fullmatch(text) and not _DIGIT_RUN.search(text):
            return text
        mac = self._sources.copy()
        mac.update(text.encode("utf-8"))
        return "h-" + mac.hexdigest()

    # -- writing --------------------------------------------------------------------------------------
    def record_contacts(self, numbers: Iterable[Any], at: float, source: str) -> int:
        """Record that ``source`` contacted ``numbers`` at ``at`` (after the vendor accepted them).

        :param numbers: E.164 strings or ``PhoneNumber`` objects (a repeat counts once).
        :param at: POSIX time of the contact.
        :param source: the sending task instance, the same on every try (``str(CheckpointKey)``).
        :returns: how many distinct numbers were recorded.
        :raises ValidationError: a number that is not E.164, a time that is not finite, an empty source.
        """
        return self._record("contact", numbers, at, source)

    def record_refusals(self, numbers: Iterable[Any], at: float, source: str) -> int:
        """Record that ``numbers`` refused or opted out at ``at`` (see :meth:`record_contacts`).

        :param numbers: E.164 strings or ``PhoneNumber`` objects.
        :param at: POSIX time of the refusal.
        :param source: where it was learnt (the task instance, the webhook...).
        :returns: how many distinct numbers were recorded.
        """
        return self._record("refusal", numbers, at, source)

    def _record(self, kind: str, numbers: Iterable[Any], at: float, source: str) -> int:
        ts = _finite(at, "at")
        src = self.stored_source(source)
        digests = [self._digest(e164) for e164 in dict.fromkeys(_e164(n) for n in numbers)]
        head, tail = b'{"h":"', b'","ts":' + repr(ts).encode("ascii") + _tail(kind, src)
        for start in range(0, len(digests), RECORDS_PER_APPEND):
            chunk = digests[start : start + RECORDS_PER_APPEND]
            self.store.append(b"".join(head + d.hex().encode("ascii") + tail for d in chunk))
        with self._lock:
            if self._index is not None:
                code = _KIND_CODE[kind]
                for digest in digests:
                    self._index.add(digest, ts, code, src)
        return len(digests)

    # -- reading --------------------------------------------------------------------------------------
    def history(self, numbers: Iterable[Any], *, since: float) -> dict[str, History]:
        """What the ledger knows of each of ``numbers`` at or after ``since``.

        The first call loads the index (entries since ``since``); later calls use it (call
        :meth:`refresh` to see what other processes wrote since), unless they ask for an earlier ``since``.

        :param numbers: E.164 strings or ``PhoneNumber`` objects.
        :param since: POSIX time: older entries are not returned (nor kept in memory).
        :returns: a :class:`History` for every number, keyed by its E.164 form (empty when unknown).
        :raises ValidationError: a number that is not E.164.
        :raises ContactLedgerError: a segment cannot be read.
        """
        since = _finite(since, "since")
        wanted = [_e164(n) for n in numbers]
        with self._lock:
            if self._index is None or since < self._index.since:
                self._load(since)
            index = self._index
            assert index is not None
            return {e164: index.history(self._digest(e164), since) for e164 in wanted}

    def refresh(self) -> int:
        """Read what was written since the index was loaded (new segments, the new end of local ones).

        :returns: how many bytes were read (0 before the first :meth:`history`: there is no index yet).
        """
        with self._lock:
            if self._index is None:
                return 0
            return self._catch_up(self._index, self._offsets, self._finished)

    def loaded(self) -> tuple[int, int]:
        """``(people, entries)`` in the loaded index (``(0, 0)`` before the first :meth:`history`)."""
        with self._lock:
            return (0, 0) if self._index is None else (len(self._index.entries), self._index.count())

    def _load(self, since: float) -> None:
        self._index = None
        index, offsets, finished = _Index(since), dict[str, int](), set[str]()
        self._catch_up(index, offsets, finished)
        self._index, self._offsets, self._finished = index, offsets, finished

    def _catch_up(self, index: _Index, offsets: dict[str, int], finished: set[str]) -> int:
        read = 0
        for _ in range(5):  # a segment deleted between the listing and its read: compacted, listed next time
            names = self.store.segments()
            present = set(names)
            for gone in [n for n in offsets if n not in present]:
                offsets.pop(gone)
                finished.discard(gone)
            try:
                for name in names:
                    if name not in finished:
                        read += self._read_segment(index, name, offsets, finished)
                return read
            except FileNotFoundError:
                continue
        raise ContactLedgerError(
            f"contact ledger segments at {self.store.location} kept disappearing while read "
            "(compactions running in a loop?)",
            segment=self.store.location,
        )

    def _read_segment(self, index: _Index, name: str, offsets: dict[str, int], finished: set[str]) -> int:
        now = time.time()
        offset = offsets.get(name, 0)
        consumed, total = self._ingest(index, name, offset)
        offsets[name] = offset + consumed
        if not self.store.appendable or (consumed == total and self.store.sealed(name, now)):
            finished.add(name)
        return total

    def _ingest(self, index: _Index, name: str, offset: int) -> tuple[int, int]:
        """Add the complete lines of segment ``name`` from byte ``offset`` on to ``index``.

        :returns: ``(bytes consumed, bytes read)``; they differ by an incomplete last line.
        """
        where = self.store.where(name)
        consumed = total = lines = 0
        carry = b""
        try:
            for block in self.store.blocks(name, offset):
                total += len(block)
                data = carry + block if carry else block
                end = data.rfind(b"\n") + 1
                if end:
                    _parse_lines(index, data[:end], where, lines)
                    lines += data.count(b"\n", 0, end)
                    consumed += end
                carry = data[end:]
        except FileNotFoundError:
            raise
        except OSError as err:
            raise ContactLedgerError(
                f"contact ledger segment {where} cannot be read ({type(err).__name__}: {err.strerror or err})",
                segment=where,
            ) from None
        if carry.strip() and (where, offset + consumed) not in self._torn:
            self._torn.add((where, offset + consumed))
            log.warning(
                "contact ledger segment %s ends with an incomplete line (%d bytes: a crash while writing, or a "
                "write in progress): skipped",
                where,
                len(carry),
            )
        return consumed, total

    # -- compaction -----------------------------------------------------------------------------------
    def compact(self, older_than: float) -> Compaction:
        """Rewrite the sealed segments into one, without entries older than ``older_than`` (or repeated).

        Safe while other processes append and read (see the module docstring). A corrupt segment
        stops it before anything is written or deleted.

        :param older_than: POSIX time; entries before it are dropped (give the longest lookback).
        :returns: what was done.
        :raises ValidationError: ``older_than`` is not finite or in the future.
        :raises ContactLedgerError: a segment cannot be read.
        """
        older_than = _finite(older_than, "older_than")
        now = time.time()
        if older_than > now:
            raise ValidationError("older_than", older_than, "a time in the past (entries before it are dropped)")
        kept = _Index(older_than)
        covered = []
        for name in self.store.segments():
            if not self.store.sealed(name, now):
                continue
            try:
                self._ingest(kept, name, 0)
            except FileNotFoundError:  # another compaction took it (and wrote it out first)
                continue
            covered.append(name)
        if not covered:
            return Compaction(0, 0, 0, None)
        written = self.store.write_whole(kept.lines()) if kept.entries else None
        for name in covered:
            self.store.delete(name)
        with self._lock:
            for name in covered:
                self._offsets.pop(name, None)
                self._finished.discard(name)
            if self._index is not None and written is not None:
                self._index.merge(kept)  # what the new segment holds is known: never read it back
                self._finished.add(written)
        log.info(
            "contact ledger %s compacted: %d segments -> %s (%d entries of %d people kept)",
            self.store.location,
            len(covered),
            written or "nothing",
            kept.count(),
            len(kept.entries),
        )
        return Compaction(len(covered), kept.count(), len(kept.entries), written)


def _e164(number: Any) -> str:
    text = str(getattr(number, "e164", number)).strip()
    if _E164.fullmatch(text) is None:
        raise ValidationError("numbers", mask_phone(text), "an E.164 number: + then 7 to 15 digits (normalize first)")
    return text


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ValidationError(name, value, "a POSIX time in seconds")
    return round(number, 3)


def contact_ledger(location: Any = None, *, key: str | bytes | None = None) -> ContactLedger:
    """The contact ledger at ``location`` (a :class:`ContactLedger` is returned as is).

    :param location: a :class:`LedgerStore`, a path, a ``file://``/``s3://``... URL or an
        ``ObjectStoragePath``; None or blank: ``[voice] contact_ledger_path``, else
        ``$AIRFLOW_HOME/voice/contact_ledger``.
    :param key: the hashing secret (default ``[voice] contact_ledger_key``, else the key file).
    :raises ValidationError: a location that is no path or URL.
    :raises ContactLedgerError: the key file at the location is damaged.
    """
    if isinstance(location, ContactLedger):
        return location
    return ContactLedger(ledger_store(location), key=key)
