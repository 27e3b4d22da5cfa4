"""Streaming download of a TeleVoIPs CDR CSV: constant memory, atomic, header checked, rows counted.

:func:`download_cdr_report` (and its asyncio twin :func:`adownload_cdr_report`) opens the report
file with the client's ``stream`` (``client.stream(api.cdr_file_call(report))``), writes each chunk as it arrives to a temporary file next to
the destination (:func:`~airflow_provider_voice.storage.open_atomic`) and moves it into
place only when the whole body has arrived and its header was accepted. Memory does not grow
with the file: the network chunks are gathered into blocks of about 1 MiB, each scanned and
written at once, and only one block is held at a time.

While streaming, :class:`CdrStreamScanner` reads the header line (checked against the documented
columns with :func:`check_cdr_header`) and counts CSV records without parsing every field
(newlines inside quoted fields are not counted as row ends): a block is reduced to its quotes and
newlines with ``bytes.translate`` and its newlines counted with ``bytes.count``, and only a block
holding a quoted newline or a blank line is scanned line by line.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import asdict, dataclass, field
from itertools import repeat
from typing import Any, Literal, Protocol

import httpx

from airflow_provider_voice.errors import MalformedResponseError
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.storage import AtomicFile, open_atomic
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.televoips.api_reports import TeleVoipsReportEndpoints
from airflow_provider_voice.vendors.televoips.cdr import (
    CDR_CORE_FIELDS,
    CDR_FIELD_ALIASES,
    CDR_FIELDS,
    CDR_OPTIONAL_FIELDS,
    CdrReport,
)

__all__ = [
    "AsyncStreamingClient",
    "CdrDownloadResult",
    "CdrHeaderCheck",
    "CdrStreamScanner",
    "HeaderPolicy",
    "StreamingClient",
    "adownload_cdr_report",
    "check_cdr_header",
    "download_cdr_report",
]

log = get_logger(__name__)

#: ``strict``: any missing documented column fails; ``core`` (default): only a missing core column
#: (calldate, src, dst, duration, billsec, disposition) fails; ``off``: no check. Unknown columns
#: never fail: they are reported (log + result).
HeaderPolicy = Literal["strict", "core", "off"]


class StreamingClient(Protocol):
    """What a download needs of a client: ``stream(call)`` (a :class:`~airflow_provider_voice.vendors.base.VendorClient`)."""

    def stream(self, call: Call[object]) -> AbstractContextManager[httpx.Response]:
        """Open ``call`` as a stream (the response after a 2xx status, its body unread).

        :param call: the download call.
        """
        ...


class AsyncStreamingClient(Protocol):
    """Asyncio twin of :class:`StreamingClient` (an :class:`~airflow_provider_voice.vendors.base.AsyncVendorClient`)."""

    def stream(self, call: Call[object]) -> AbstractAsyncContextManager[httpx.Response]:
        """Open ``call`` as a stream (the response after a 2xx status, its body unread).

        :param call: the download call.
        """
        ...


_QUOTE = 34  # ord('"')
_CR = 13  # ord("\r")
_is_odd = (1).__and__
#: ``bytes.translate`` deletion table keeping only what record ends depend on: ``"``, ``\n``, ``\r``
_NOT_SHAPE = bytes(b for b in range(256) if b not in b'"\n\r')
_MAX_HEADER_BYTES = 64 * 1024
#: bytes scanned and written at a time (network chunks gathered)
_BLOCK_BYTES = 1 << 20
_PROGRESS_EVERY_SECONDS = 15.0


@dataclass(frozen=True)
class CdrHeaderCheck:
    """The CSV header compared with TeleVoIPs' documented CDR fields.

    :param columns: the header as found.
    :param missing: documented columns absent.
    :param unknown: columns that are neither documented nor known extras (``userfield``).
    :param aliases: other spellings used (``{"cunm": "cnum"}``).
    :param duplicates: columns that appear more than once.
    """

    columns: tuple[str, ...]
    missing: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    duplicates: tuple[str, ...] = ()

    @property
    def missing_core(self) -> tuple[str, ...]:
        """Missing columns without which the file is not a CDR report."""
        return tuple(name for name in self.missing if name in CDR_CORE_FIELDS)

    def problems(self, policy: HeaderPolicy) -> list[str]:
        """What fails the check under ``policy`` (empty when the header is accepted)."""
        if policy == "off":
            return []
        out = []
        missing = self.missing if policy == "strict" else self.missing_core
        if missing:
            out.append(f"missing column(s) {', '.join(missing)}")
        if self.duplicates:
            out.append(f"duplicated column(s) {', '.join(self.duplicates)}")
        return out


def check_cdr_header(columns: Iterable[str]) -> CdrHeaderCheck:
    """Compare a CDR CSV header with the documented fields (see :data:`~airflow_provider_voice.vendors.televoips.cdr.CDR_FIELDS`).

    ``cnum`` and ``cunm`` are the same column; ``userfield`` is a known extra; other columns are
    reported as ``unknown``. Comparison ignores case and surrounding spaces.
    """
    found = tuple(c.strip() for c in columns)
    normalized: list[str] = []
    aliases: dict[str, str] = {}
    for name in found:
        low = name.lower()
        canonical = CDR_FIELD_ALIASES.get(low, low)
        if canonical != low:
            aliases[name] = canonical
        normalized.append(canonical)
    seen: set[str] = set()
    duplicates = []
    for name in normalized:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.add(name)
    known = set(CDR_FIELDS) | CDR_OPTIONAL_FIELDS
    return CdrHeaderCheck(
        columns=found,
        missing=tuple(name for name in CDR_FIELDS if name not in seen),
        unknown=tuple(orig for orig, name in zip(found, normalized, strict=True) if name not in known),
        aliases=aliases,
        duplicates=tuple(duplicates),
    )


class CdrStreamScanner:
    """Reads the header and counts CSV records of a byte stream fed chunk by chunk.

    Only the header line is parsed; the rest is scanned for record ends: a ``\\n`` outside a
    quoted field ends a record (quote state is tracked with the parity of ``"`` characters, which
    also handles ``""`` escapes), blank lines are not records, and a last line without a final
    newline still counts.

    :param policy: the header policy (see :data:`HeaderPolicy`); a rejected header raises
        :class:`MalformedResponseError` as soon as the header line has arrived.
    """

    def __init__(self, policy: HeaderPolicy = "core") -> None:
        self.policy = policy
        self.header: CdrHeaderCheck | None = None
        self.records = 0  # header included
        self.bytes = 0
        self._in_quotes = False
        self._carry = False  # the current (unterminated) record has content
        self._head = bytearray()
        self._tail = bytearray()  # the bytes after the last newline (bounded), to check a last line without one
        self._tail_whole = True  # the tail starts a record (the last newline was outside a quoted field)

    @property
    def rows(self) -> int:
        """Data rows (records after the header)."""
        return max(0, self.records - 1)

    def feed(self, chunk: bytes) -> None:
        """Scan the next chunk (any size; large chunks, about 1 MiB, are the cheapest per byte)."""
        if not chunk:
            return
        self.bytes += len(chunk)
        if self.header is None:
            self._head += chunk
            newline = self._head.find(b"\n")
            if newline >= 0:
                self._read_header(bytes(self._head[:newline]))
                self._head = bytearray()
            elif len(self._head) > _MAX_HEADER_BYTES:
                raise MalformedResponseError(
                    f"no header line in the first {_MAX_HEADER_BYTES} bytes: not a CSV file",
                    vendor="televoips",
                    endpoint="GET /reports/cdrs/{id}/{file}",
                )
        if not self._scan_fast(chunk):
            self._scan_exact(chunk)

    def _scan_fast(self, chunk: bytes) -> bool:
        """Count the chunk's records with a few C-level passes; False (nothing changed) when the
        chunk needs :meth:`_scan_exact`: a newline inside a quoted field, or a blank line.

        The chunk is reduced to its quotes, newlines and CRs (``translate``); there, every newline
        ends a record when the text before the first one closes any quote left open by the previous
        chunk and every whole line between two newlines has an even number of quotes (removing
        ``""`` pairs leaves no quote); the quotes after the last newline give the state carried on.
        """
        shape = chunk.translate(None, _NOT_SHAPE)
        first = shape.find(b"\n")
        if first < 0:  # no record ends here: the record goes on
            self._in_quotes ^= bool(shape.count(_QUOTE) & 1)
            self._carry = True
            if len(self._tail) <= _MAX_HEADER_BYTES:
                self._tail += chunk[: _MAX_HEADER_BYTES + 1 - len(self._tail)]
            return True
        if self._in_quotes is not bool(shape.count(_QUOTE, 0, first) & 1):
            return False  # the first newline is inside a quoted field
        last = shape.rfind(b"\n")
        lines = shape[first:last]
        if _CR in lines:
            lines = lines.translate(None, b"\r")
        if _QUOTE in lines.replace(b'""', b""):
            return False  # a line with an odd number of quotes: a quoted field spans lines
        if (b"\n\n" in shape or b"\n\r\n" in shape) and (b"\n\n" in chunk or b"\n\r\n" in chunk):
            return False  # a blank line (not a record)
        if not self._carry and (chunk[:1] == b"\n" or chunk[:2] == b"\r\n"):
            return False  # a blank line right after the previous chunk's last record
        self.records += shape.count(b"\n")
        self._in_quotes = bool(shape.count(_QUOTE, last) & 1)
        end = chunk.rfind(b"\n") + 1
        self._tail, self._tail_whole = bytearray(chunk[end : end + _MAX_HEADER_BYTES + 1]), True
        self._carry = end < len(chunk)
        return True

    def _scan_exact(self, chunk: bytes) -> None:
        """Count the chunk's records line by line (quoted newlines, blank lines)."""
        pieces = chunk.split(b"\n")
        in_quotes, carry, count = self._in_quotes, self._carry, 0
        ended = pieces[:-1]  # pieces followed by a newline
        if ended:
            first = ended[0]  # the end of the line carried from the previous chunk
            if first.count(_QUOTE) & 1:
                in_quotes = not in_quotes
            if in_quotes:
                carry = True
            else:
                if carry or (first and first != b"\r"):
                    count += 1
                carry = False
            middle = ended[1:]
            if middle and not in_quotes and not any(map(_is_odd, map(bytes.count, middle, repeat(b'"')))):
                # fast path (C-level): whole lines with an even number of quotes: each newline ends a record
                count += len(middle) - middle.count(b"") - middle.count(b"\r")
                carry = False
            else:
                for piece in middle:
                    if piece.count(_QUOTE) & 1:
                        in_quotes = not in_quotes
                    if in_quotes:
                        carry = True
                        continue
                    if carry or (piece and piece != b"\r"):
                        count += 1
                    carry = False
        last = pieces[-1]
        if ended:
            self._tail, self._tail_whole = bytearray(last[: _MAX_HEADER_BYTES + 1]), not in_quotes
        elif len(self._tail) <= _MAX_HEADER_BYTES:
            self._tail += chunk[: _MAX_HEADER_BYTES + 1 - len(self._tail)]
        if last:
            if last.count(_QUOTE) & 1:
                in_quotes = not in_quotes
            carry = True
        self._in_quotes, self._carry = in_quotes, carry
        self.records += count

    def finish(self) -> None:
        """End of stream: count an unterminated last record; reject an empty file and one cut
        inside a record (a quoted field never closed, or a last line shorter than the header)."""
        if self.header is None:
            if self._head.strip():
                self._read_header(bytes(self._head))
            else:
                raise MalformedResponseError(
                    "the CDR file is empty (no header line)",
                    vendor="televoips",
                    endpoint="GET /reports/cdrs/{id}/{file}",
                )
        if self._in_quotes:
            raise MalformedResponseError(
                f"the CDR file ends inside a quoted field (after {self.rows} complete rows): it is truncated "
                "or broken, and the rows after the opening quote would be lost",
                vendor="televoips",
                endpoint="GET /reports/cdrs/{id}/{file}",
            )
        if self._carry:
            self._check_last_line()
            self.records += 1
            self._carry = False

    def _check_last_line(self) -> None:
        """A last line without a final newline must have every column: otherwise the download was cut."""
        if self.header is None or not self._tail_whole or len(self._tail) > _MAX_HEADER_BYTES:
            return
        text = self._tail.decode("utf-8", errors="replace").rstrip("\r")
        fields = next(csv.reader([text]), [])
        if len(fields) < len(self.header.columns):
            raise MalformedResponseError(
                f"the CDR file's last line has {len(fields)} of {len(self.header.columns)} columns and no final "
                f"newline (after {self.rows} complete rows): the download was cut short",
                vendor="televoips",
                endpoint="GET /reports/cdrs/{id}/{file}",
            )

    def _read_header(self, line: bytes) -> None:
        text = line.decode("utf-8-sig", errors="replace").rstrip("\r")
        columns = next(csv.reader([text]), [])
        self.header = check_cdr_header(columns)
        problems = self.header.problems(self.policy)
        if problems:
            raise MalformedResponseError(
                f"not a TeleVoIPs CDR file: {'; '.join(problems)} (header: {', '.join(self.header.columns)[:300]})",
                vendor="televoips",
                endpoint="GET /reports/cdrs/{id}/{file}",
            )
        if self.header.unknown:
            log.warning("CDR file has undocumented column(s): %s (kept)", ", ".join(self.header.unknown))
        if self.header.missing:
            log.info("CDR file lacks documented column(s): %s", ", ".join(self.header.missing))


@dataclass
class CdrDownloadResult:
    """What a CDR download produced (also the operator's XCom value, see :meth:`to_dict`).

    :param path: the destination (``file:///...``, ``s3://...``).
    :param bytes: bytes written.
    :param rows: CSV data rows (header excluded).
    :param report_id: the report id.
    :param day: the day the report covers (``YYYY-MM-DD``).
    :param columns: the header.
    :param unknown_columns: undocumented columns (kept in the file).
    :param missing_columns: documented columns absent from the header.
    :param seconds: download time.
    :param mb_per_s: throughput (MB = 10^6 bytes).
    """

    path: str
    bytes: int
    rows: int
    report_id: str | None
    day: str | None
    columns: list[str]
    unknown_columns: list[str]
    missing_columns: list[str]
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (for XCom and Asset event extras)."""
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


class _Progress:
    def __init__(self, url: str) -> None:
        self.url = url
        self.started = time.monotonic()
        self.next_at = self.started + _PROGRESS_EVERY_SECONDS

    def tick(self, done: int) -> None:
        now = time.monotonic()
        if now >= self.next_at:
            self.next_at = now + _PROGRESS_EVERY_SECONDS
            log.info("CDR download: %.1f MB so far (%.1f MB/s)", done / 1e6, done / 1e6 / max(now - self.started, 1e-9))


class _Sink:
    """Gathers the network's chunks (about 32-64 KiB each) into blocks of :data:`_BLOCK_BYTES`, and
    hands each block to the scanner, then to the file: one scan and one write per MiB instead of
    per chunk. Memory stays one block (plus its join). Until the header is checked every chunk is
    scanned at once, so a file that is not a CDR report is refused at its first line."""

    def __init__(self, scanner: CdrStreamScanner, target: AtomicFile) -> None:
        self.scanner = scanner
        self.target = target
        self.progress = _Progress(target.url)
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if self.scanner.header is None:
            self.flush()
            self._write(chunk)
            return
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.size >= _BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            block = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            self.parts.clear()
            self.size = 0
            self._write(block)

    def _write(self, block: bytes) -> None:
        self.scanner.feed(block)
        self.target.write(block)
        self.progress.tick(self.target.bytes_written)


def _result(
    report: CdrReport | str, target: AtomicFile, scanner: CdrStreamScanner, seconds: float
) -> CdrDownloadResult:
    header = scanner.header
    return CdrDownloadResult(
        path=target.url,
        bytes=target.bytes_written,
        rows=scanner.rows,
        report_id=report.id if isinstance(report, CdrReport) else None,
        day=report.day if isinstance(report, CdrReport) else CdrReport(id="-", url=str(report), status="complete").day,
        columns=list(header.columns) if header else [],
        unknown_columns=list(header.unknown) if header else [],
        missing_columns=list(header.missing) if header else [],
        seconds=seconds,
    )


def download_cdr_report(
    client: StreamingClient,
    api: TeleVoipsReportEndpoints,
    report: CdrReport | str,
    destination: Any,
    *,
    header_policy: HeaderPolicy = "core",
    chunk_size: int | None = None,
) -> CdrDownloadResult:
    """Stream a complete report's CSV to ``destination`` atomically, in constant memory.

    :param client: the blocking client (``hook.client``).
    :param api: the TeleVoIPs API (``hook.api``), which builds the download call.
    :param report: a complete :class:`CdrReport` or the file URL.
    :param destination: local path, ``file://``/``s3://``... URL or ``ObjectStoragePath``.
    :param header_policy: see :data:`HeaderPolicy`.
    :param chunk_size: bytes per read (None: as the network delivers them).
    :returns: a :class:`CdrDownloadResult`. On any error (HTTP, network, rejected header,
        interruption) nothing is left at the destination and the error propagates.
    """
    call = api.cdr_file_call(report)
    scanner = CdrStreamScanner(header_policy)
    started = time.monotonic()
    with open_atomic(destination) as target:
        sink = _Sink(scanner, target)
        with client.stream(call) as response:
            for chunk in response.iter_bytes(chunk_size):
                sink.add(chunk)
        sink.flush()
        scanner.finish()
    result = _result(report, target, scanner, time.monotonic() - started)
    log.info(
        "CDR report saved to %s: %d rows, %.1f MB in %.1f s",
        result.path,
        result.rows,
        result.bytes / 1e6,
        result.seconds,
    )
    return result


async def adownload_cdr_report(
    client: AsyncStreamingClient,
    api: TeleVoipsReportEndpoints,
    report: CdrReport | str,
    destination: Any,
    *,
    header_policy: HeaderPolicy = "core",
    chunk_size: int | None = None,
) -> CdrDownloadResult:
    """Asyncio twin of :func:`download_cdr_report` (the file writes themselves are blocking)."""
    call = api.cdr_file_call(report)
    scanner = CdrStreamScanner(header_policy)
    started = time.monotonic()
    with open_atomic(destination) as target:
        sink = _Sink(scanner, target)
        async with client.stream(call) as response:
            async for chunk in response.aiter_bytes(chunk_size):
                sink.add(chunk)
        sink.flush()
        scanner.finish()
    return _result(report, target, scanner, time.monotonic() - started)
