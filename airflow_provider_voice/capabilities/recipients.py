"""Checking a recipient source completely before the first request.

:func:`validate_recipients` reads the whole source once (streamed, constant memory): every number
is parsed to E.164 and checked against the vendor's rules. Any invalid row fails the task with the
row and the reason — unless ``skip_invalid`` is set, in which case invalid rows are left out. An
empty source fails too, and so does a file that cannot be read as its format (see
:class:`~airflow_provider_voice.models.recipients.RecipientSource`). The returned
:class:`ValidatedRecipients` streams the recipients that passed for the send, from a temporary copy
the validation pass wrote (no second read of the source, no number parsed twice; constant memory).

**Every left-out row is accounted for.** Each invalid row (unreadable number, a vendor rule
broken, a CSV row with too many values) is written, as it is found, to a *rejects file*: CSV
``line,value,reason`` (``line`` is the file's line number, or the position in a list / JSON
array; ``value`` is the value as given, so it can be fixed). The file is written atomically to
``rejects_path``, by default ``<[voice] rejects_path or $AIRFLOW_HOME/voice/rejects>/<rejects_name>.csv``
(see :func:`default_rejects_location`). A bounded sample of the rows, with phone numbers masked, is
logged at WARNING and kept in :attr:`ValidatedRecipients.invalid_rows`; the count and the file
location are on :class:`ValidatedRecipients` for XCom (:meth:`ValidatedRecipients.rejects_summary`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import re
import secrets
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any, Generic, Protocol, TypeVar

from airflow_provider_voice.delivery.engine import validation_workers_arg
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import (
    InvalidRow,
    Recipient,
    RecipientReport,
    RecipientSource,
    mask_value,
)
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.storage import AtomicFile, configured_location, is_object_storage, local_path

__all__ = [
    "REJECT_COLUMNS",
    "RecipientCheck",
    "RejectsFile",
    "ValidatedRecipients",
    "default_rejects_location",
    "rejects_name_from_context",
    "safe_name",
    "validate_recipients",
]

log = get_logger(__name__)

#: the columns of a rejects file
REJECT_COLUMNS = ("line", "value", "reason")
_FLUSH_CHARS = 64 * 1024
#: recipients per pickled chunk of the spill (what one read of the send holds)
_SPILL_RECORDS = 1000
#: rows a source must pass before ``validation_workers`` processes start (a pool costs its start-up)
PARALLEL_THRESHOLD = 50_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")

#: what recipients are checked against: a campaign spec, an SMS text...
SpecT = TypeVar("SpecT")
SpecT_contra = TypeVar("SpecT_contra", contravariant=True)


class RecipientCheck(Protocol[SpecT_contra]):
    """The vendor rules every recipient is checked with (a campaign backend, an SMS text check...)."""

    @property
    def vendor(self) -> str:
        """The vendor name (names the errors)."""
        ...

    def validate_recipient(self, spec: SpecT_contra, recipient: Recipient, position: int) -> None:
        """Raise :class:`~airflow_provider_voice.errors.ValidationError` when ``recipient`` cannot be sent.

        :param spec: what the recipient is checked against.
        :param recipient: the recipient read from the source.
        :param position: its position in the source (from 1).
        """
        ...


class _Spill:
    """The recipients that passed validation, in order, in a temporary file read back for the send.

    Written by the validation pass (chunks of :data:`_SPILL_RECORDS` recipients, each a pickle of
    plain values: the packed number, name, variables, row id, line), so the send neither reads the
    source again nor parses a number twice, in constant memory (a chunk at a time). The file is
    anonymous where the system allows (already unlinked), and closed, so gone, by :meth:`close`,
    when this object is collected, or when the process ends. Several iterations may run at once
    (each reads at its own offsets). When the file cannot be made or written, :attr:`usable` turns
    False and the send reads the source again, as it did before.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self._file: IO[bytes] | None = handle
        self._closer = weakref.finalize(self, handle.close)
        self._records: list[Any] = []
        self._chunks: list[tuple[int, int]] = []
        self._field_sets: dict[frozenset[str], int] = {}
        self._end = 0
        self._lock = threading.Lock()

    @classmethod
    def open(cls) -> _Spill | None:
        """A new spill in the temporary directory, or None (logged) when no file can be made there."""
        try:
            return cls(tempfile.TemporaryFile(prefix="voice-recipients-"))
        except OSError as exc:
            log.warning("recipients: no temporary file (%s); the send reads the recipients again", exc)
            return None

    @property
    def usable(self) -> bool:
        return self._file is not None

    @property
    def nbytes(self) -> int:
        """Bytes written to the file."""
        return self._end

    def add(self, recipient: Recipient) -> None:
        """Append ``recipient`` (a valid one, in source order)."""
        if self._file is None:
            return
        if type(recipient) is Recipient and type(recipient.number) is PhoneNumber:
            fields_set = frozenset(recipient.model_fields_set)
            kind = self._field_sets.setdefault(fields_set, len(self._field_sets))
            values = recipient.__dict__
            record: Any = (
                values["number"]._pack(), values["name"], values["variables"], values["row_id"], values["line"], kind,
            )  # fmt: skip
        else:  # a subclass: pickled as it is
            record = recipient
        self._records.append(record)
        if len(self._records) >= _SPILL_RECORDS:
            self._write()

    def finish(self) -> None:
        """Write what is buffered: the spill is complete."""
        if self._records:
            self._write()
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def _write(self) -> None:
        records, self._records = self._records, []
        if self._file is None:
            return
        try:
            data = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
            self._file.write(data)
        except Exception as exc:  # a full disk, a recipient that cannot be pickled: read the source again
            self._fail(exc)
            return
        self._chunks.append((self._end, len(data)))
        self._end += len(data)

    def _fail(self, exc: BaseException) -> None:
        log.warning("recipients: the temporary copy failed (%s); the send reads the recipients again", exc)
        self.close()

    def _read(self, offset: int, size: int) -> bytes:
        handle = self._file
        if handle is None:
            raise RuntimeError("the validated recipients were closed")
        if hasattr(os, "pread"):
            data = os.pread(handle.fileno(), size, offset)
            while len(data) < size:
                more = os.pread(handle.fileno(), size - len(data), offset + len(data))
                if not more:
                    raise OSError(f"the recipients' temporary copy ends early ({offset + len(data)} bytes)")
                data += more
            return data
        with self._lock:  # pragma: no cover - systems without pread
            handle.seek(offset)
            data = handle.read(size)
            handle.seek(0, os.SEEK_END)
            return data

    def __iter__(self) -> Iterator[Recipient]:
        field_sets = list(self._field_sets)
        trusted, unpack = Recipient._trusted, PhoneNumber._unpack
        for offset, size in list(self._chunks):
            for record in pickle.loads(self._read(offset, size)):
                if type(record) is tuple:
                    packed, name, variables, row_id, line, kind = record
                    yield trusted(unpack(packed), name, variables, row_id, line, field_sets[kind])
                else:
                    yield record

    def close(self) -> None:
        """Delete the file."""
        self._file = None
        self._records = []
        self._closer()


@dataclass
class ValidatedRecipients(Generic[SpecT]):
    """A recipient source that passed validation.

    :param source: the :class:`RecipientSource` (read again by :meth:`__iter__` only without a ``spill``).
    :param backend: the vendor check applied to every recipient.
    :param spec: what the check validates against (campaign spec, SMS text).
    :param valid: recipients that will be sent (before suppression).
    :param invalid: rows left out (only with ``skip_invalid``): unreadable, or refused by the vendor check.
    :param duplicates: repeated numbers left out.
    :param rows: rows read.
    :param skip_invalid: whether invalid rows were allowed (and left out).
    :param invalid_rows: the first ``keep_invalid`` left-out rows (line, value as given, reason), in file order.
    :param rejects_path: where every left-out row was written (URL-like string), or None when none was.
    :param report: the source's report of the validation pass (lines, blank lines, layout...).
    :param spill: the recipients that passed, as the validation pass wrote them (a temporary file);
        :meth:`__iter__` reads it back instead of parsing the source again. None: the source is read
        again and each recipient checked again (``skip_invalid``).
    """

    source: RecipientSource
    backend: RecipientCheck[SpecT]
    spec: SpecT
    valid: int
    invalid: int
    duplicates: int
    rows: int
    skip_invalid: bool = False
    invalid_rows: list[InvalidRow] = field(default_factory=list)
    rejects_path: str | None = None
    report: RecipientReport | None = None
    spill: _Spill | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[Recipient]:
        """The recipients to send, in source order: the ``valid`` ones (read from the spill when there is one).

        :raises ValidationError: once read to the end, when that gave another count than ``valid``
            (a source read again that changed, or a one-shot iterator): never a send of fewer people
            than were validated without saying so.
        """
        read = 0
        if self.spill is not None:
            for recipient in self.spill:
                read += 1
                yield recipient
        else:
            for position, recipient in enumerate(self.source, start=1):
                if self.skip_invalid:
                    try:
                        self.backend.validate_recipient(self.spec, recipient, position)
                    except ValidationError:
                        continue  # reported (and written to the rejects file) by validate_recipients
                read += 1
                yield recipient
        if read != self.valid:
            raise ValidationError(
                self.source.field,
                f"{read} recipients read for the send",
                f"the {self.valid} that passed validation: the source changed between validation and the send "
                "(or cannot be read twice); nothing past the first frames read was sent",
                vendor=self.backend.vendor,
            )

    def close(self) -> None:
        """Delete the spill now (it is deleted anyway when this object is collected, or the process ends)."""
        if self.spill is not None:
            self.spill.close()
            self.spill = None

    def invalid_sample(self, limit: int = 20) -> list[dict[str, Any]]:
        """The first ``limit`` left-out rows as ``{"line", "value", "reason"}``, phone numbers masked (XCom-safe)."""
        return [row.masked() for row in self.invalid_rows[:limit]]

    def rejects_summary(self, limit: int = 20) -> dict[str, Any]:
        """``{"invalid", "rejects_path", "invalid_rows"}`` for XCom (masked sample of ``limit`` rows)."""
        return {"invalid": self.invalid, "rejects_path": self.rejects_path, "invalid_rows": self.invalid_sample(limit)}


def default_rejects_location() -> str:
    """``[voice] rejects_path`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/rejects`` (a directory)."""
    return configured_location("rejects_path", "rejects")


def rejects_name_from_context(context: Any, *, suffix: str = "") -> str:
    """A rejects-file name for a task instance: ``<dag_id>/<run_id>/<task_id>[.<map_index>][<suffix>]``.

    :param context: the Airflow task context (its ``ti``), or None.
    :param suffix: appended to the task part (e.g. ``"-recipients"``).
    """
    ti = (context or {}).get("ti") if isinstance(context, dict) else getattr(context, "ti", None)
    if ti is None:
        return _default_name("recipients") + suffix
    task = str(getattr(ti, "task_id", "task"))
    map_index = getattr(ti, "map_index", -1)
    if isinstance(map_index, int) and map_index >= 0:
        task = f"{task}.{map_index}"
    return "/".join([str(getattr(ti, "dag_id", "dag")), str(getattr(ti, "run_id", "run")), task + suffix])


def _default_name(field_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{field_name}-{stamp}-{secrets.token_hex(3)}"


def safe_name(name: str) -> str:
    """``name`` (may hold ``/``) made safe as a relative file path: unusual characters become ``_``."""
    return _safe_name(name)


def _safe_name(name: str) -> str:
    parts = [_UNSAFE.sub("_", part).strip("._") or "_" for part in str(name).replace("\\", "/").split("/") if part]
    return "/".join(parts) or "rejects"


class _RejectsFile:
    """The rejects CSV, opened (atomically) at the first rejected row and streamed."""

    def __init__(self, destination: Any, name: str | None, field_name: str) -> None:
        self.destination = destination
        self.name = name
        self.field_name = field_name
        self._context: AbstractContextManager[AtomicFile] | None = None
        self._handle: AtomicFile | None = None
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")

    @property
    def enabled(self) -> bool:
        return self.destination is not False

    def target(self) -> Any:
        """The destination file: ``rejects_path`` as given, else the default location + name."""
        if self.destination not in (None, ""):
            return self.destination
        name = _safe_name(self.name or _default_name(self.field_name))
        location = default_rejects_location()
        if is_object_storage(location):
            return f"{location.rstrip('/')}/{name}.csv"
        return local_path(location, field="[voice] rejects_path") / f"{name}.csv"

    def add(self, row: InvalidRow) -> None:
        if not self.enabled:
            return
        if self._handle is None:
            from airflow_provider_voice.storage import open_atomic

            target = self.target()
            try:
                self._context = open_atomic(target)
                self._handle = self._context.__enter__()
            except (OSError, ValidationError) as exc:
                self._context = None
                raise ValidationError("rejects_path", str(target), f"cannot be written: {exc}") from None
            self._writer.writerow(REJECT_COLUMNS)
        value = row.value if isinstance(row.value, str) else json.dumps(row.value, default=str, ensure_ascii=False)
        self._writer.writerow([row.line, value, row.reason])
        if self._buffer.tell() >= _FLUSH_CHARS:
            self._flush()

    def _flush(self) -> None:
        if self._handle is None:  # pragma: no cover - only called once the file is open
            return
        self._handle.write(self._buffer.getvalue().encode("utf-8"))
        self._buffer.seek(0)
        self._buffer.truncate()

    def commit(self) -> str | None:
        """Move the file into place; its location, or None when no row was rejected."""
        if self._handle is None or self._context is None:
            return None
        self._flush()
        self._context.__exit__(None, None, None)
        return str(self._handle.url)

    def abort(self) -> None:
        """Discard the partial file (the validation failed for another reason)."""
        if self._context is not None:
            error = RuntimeError("recipient validation failed")
            try:
                self._context.__exit__(RuntimeError, error, None)
            except Exception as exc:  # pragma: no cover - cleanup must not hide the first error
                log.warning("could not discard the partial rejects file: %s", exc)
            self._context = self._handle = None


#: the rejects CSV writer (``line,value,reason``), for other readers that leave rows out (call-records loads)
RejectsFile = _RejectsFile


def _describe(rows: list[InvalidRow], total: int, position: str, location: str | None) -> str:
    shown = "; ".join(f"{position} {r.line}: {mask_value(r.value)!r} ({r.reason})" for r in rows[:5])
    more = f"; ... {total - 5} more" if total > 5 else ""
    where = f" (all of them in {location})" if location else ""
    return f"{total} invalid row(s): {shown}{more}{where}. Fix them or set skip_invalid=True"


@dataclass
class _LeftOut:
    """The rows one validation pass leaves out: all counted, the first ``keep`` kept, each written to the rejects file.

    :param rejects: the rejects file every left-out row is written to.
    :param keep: how many left-out rows are kept in :attr:`kept`.
    """

    rejects: _RejectsFile
    keep: int
    kept: list[InvalidRow] = field(default_factory=list)
    counted: int = 0

    def record(self, row: InvalidRow) -> None:
        """Count ``row``, keep it while fewer than ``keep`` are kept, and write it to the rejects file.

        :param row: the left-out row (line, value as given, reason).
        """
        self.counted += 1
        if len(self.kept) < self.keep:
            self.kept.append(row)
        self.rejects.add(row)


def _check_every_row(
    source: RecipientSource,
    backend: RecipientCheck[SpecT],
    spec: SpecT,
    left_out: _LeftOut,
    spill: _Spill | None = None,
) -> int:
    """The validation pass: read ``source`` once, check each recipient with ``backend``; the count of valid ones.

    A recipient the vendor check refuses is recorded in ``left_out``; any failure discards the partial
    rejects file (and the spill) before it propagates. Each valid recipient is written to ``spill``
    for the send. Afterwards the source stops recording its own invalid rows (without a usable spill
    the send re-reads it: they are recorded already).

    :param source: the recipient source (its ``on_invalid`` records into ``left_out``).
    :param backend: the vendor check.
    :param spec: what the check validates against.
    :param left_out: where refused rows are recorded.
    :param spill: where the valid recipients are written, or None.
    """
    valid = 0
    keep = spill.add if spill is not None else None
    check = backend.validate_recipient
    try:
        for position, recipient in enumerate(source, start=1):
            try:
                check(spec, recipient, position)
            except ValidationError as exc:
                left_out.record(InvalidRow(source.report.last_line, str(recipient.number), f"{exc.field}: {exc.rule}"))
                continue
            valid += 1
            if keep is not None:
                keep(recipient)
        if spill is not None:
            spill.finish()
    except BaseException:
        left_out.rejects.abort()
        if spill is not None:
            spill.close()
        raise
    finally:
        source.on_invalid = None  # the send re-reads the source: its rows are recorded already
    return valid


def _fail_or_warn_on_left_out(
    left_out: _LeftOut,
    report: RecipientReport,
    *,
    skip_invalid: bool,
    log_sample: int,
    field: str,
    vendor: str,
) -> None:
    """Fail on the first left-out row (unless ``skip_invalid``), else log a masked sample at WARNING.

    :param left_out: the rows left out by the validation pass.
    :param report: the source's report (its ``position`` word and ``rejects_path``).
    :param skip_invalid: whether invalid rows may be left out.
    :param log_sample: how many left-out rows are logged.
    :param field: the argument name in errors and logs.
    :param vendor: the vendor named in the error.
    :raises ValidationError: a row was left out and ``skip_invalid`` is False.
    """
    counted, kept, location = left_out.counted, left_out.kept, report.rejects_path
    if counted and not skip_invalid:
        first = kept[0]
        raise ValidationError(
            f"{field}[row {first.line}]",
            first.value,
            _describe(kept, counted, report.position, location),
            vendor=vendor,
        )
    if counted:
        sample = "; ".join(
            f"{report.position} {r['line']}: {r['value']!r} ({r['reason']})"
            for r in (k.masked() for k in kept[:log_sample])
        )
        log.warning(
            "%s: %d invalid row(s) left out (skip_invalid=True), %s; first %d: %s",
            field,
            counted,
            f"all of them in {location}" if location else "rejects file not written (rejects_path=False)",
            min(log_sample, counted),
            sample,
        )


def _require_a_valid_recipient(report: RecipientReport, valid: int, invalid: int, *, field: str, vendor: str) -> None:
    """Fail when the source is empty, or when none of its rows is valid.

    :param report: the source's report (rows, duplicates, ``rejects_path``).
    :param valid: recipients that passed the check.
    :param invalid: rows left out.
    :param field: the argument name in errors.
    :param vendor: the vendor named in the error.
    :raises ValidationError: no row at all, or no valid recipient.
    """
    location = report.rejects_path
    if report.rows == 0:
        raise ValidationError(
            field,
            "<0 rows>",
            "no recipients: the source is empty (an empty list, file, or an XCom that pulled nothing?), "
            "so there is no valid recipient to send to",
            vendor=vendor,
        )
    if valid == 0:
        raise ValidationError(
            field,
            f"<{report.rows} rows>",
            f"no valid recipient ({report.rows} rows read, {invalid} invalid, {report.duplicates} duplicates)"
            + (f"; invalid rows in {location}" if location else ""),
            vendor=vendor,
        )


def _conclude(
    source: RecipientSource,
    backend: RecipientCheck[SpecT],
    spec: SpecT,
    valid: int,
    left_out: _LeftOut,
    *,
    skip_invalid: bool,
    log_sample: int,
    field: str,
    spill: _Spill | None = None,
) -> ValidatedRecipients[SpecT]:
    """After the validation pass: move the rejects file into place, fail or warn, and build the result.

    :param source: the source that was read (read again by the result for the send).
    :param backend: the vendor check applied.
    :param spec: what the check validated against.
    :param valid: recipients that passed the check.
    :param left_out: the rows left out by the pass.
    :param skip_invalid: whether invalid rows may be left out.
    :param log_sample: how many left-out rows are logged.
    :param field: the argument name in errors and logs.
    :param spill: the recipients that passed, written by the pass (None: the result reads the source again).
    :raises ValidationError: see :func:`_fail_or_warn_on_left_out` and :func:`_require_a_valid_recipient`.
    """
    location = left_out.rejects.commit()
    report = source.report
    report.rejects_path = location
    try:
        _fail_or_warn_on_left_out(
            left_out, report, skip_invalid=skip_invalid, log_sample=log_sample, field=field, vendor=backend.vendor
        )
        _require_a_valid_recipient(report, valid, left_out.counted, field=field, vendor=backend.vendor)
    except BaseException:
        if spill is not None:
            spill.close()
        raise
    return ValidatedRecipients(
        source=source,
        backend=backend,
        spec=spec,
        valid=valid,
        invalid=left_out.counted,
        duplicates=report.duplicates,
        rows=report.rows,
        skip_invalid=skip_invalid,
        invalid_rows=left_out.kept,
        rejects_path=location,
        report=report,
        spill=spill,
    )


def validate_recipients(
    recipients: Any,
    backend: RecipientCheck[SpecT],
    spec: SpecT,
    *,
    default_region: str | None = None,
    number_field: str | None = None,
    name_field: str = "name",
    file_format: str | None = None,
    skip_invalid: bool = False,
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
    header: bool | None = None,
    multiline_values: bool = False,
    rejects_path: Any = None,
    rejects_name: str | None = None,
    keep_invalid: int = 100,
    log_sample: int = 10,
    field: str = "recipients",
    region_field: str | None = None,
    id_field: str | None = None,
    validation_workers: int = 1,
    parallel_threshold: int = PARALLEL_THRESHOLD,
) -> ValidatedRecipients[SpecT]:
    """Read ``recipients`` once and check every row; see the module docstring.

    :param recipients: a list (numbers, dicts, ``Recipient``), a CSV/TXT/JSON/JSONL path or an
        ``ObjectStoragePath`` (see :class:`RecipientSource`).
    :param backend: has ``vendor`` and ``validate_recipient(spec, recipient, position)``.
    :param spec: passed to ``backend.validate_recipient``.
    :param default_region: ISO region of numbers written without a country code.
    :param number_field: column/key of the number (auto-detected when omitted).
    :param name_field: column/key of the person's name.
    :param file_format: ``csv``, ``txt``, ``json`` or ``jsonl`` (guessed from the suffix when omitted).
    :param skip_invalid: leave invalid rows out (each one written to the rejects file) instead of failing.
    :param encoding: text encoding of a file (default ``utf-8-sig``).
    :param delimiter: CSV delimiter (sniffed among ``,`` ``;`` tab ``|`` when omitted).
    :param header: whether a CSV has a header row (detected when omitted).
    :param multiline_values: accept quoted CSV values spanning lines (default: an error).
    :param rejects_path: the rejects file (local path, ``file://``/``s3://``... URL or
        ``ObjectStoragePath``); None: ``<default_rejects_location()>/<rejects_name>.csv``; False: not written.
    :param rejects_name: the default file's name without ``.csv`` (may hold ``/``; see
        :func:`rejects_name_from_context`); default ``<field>-<UTC time>-<random>``.
    :param keep_invalid: how many left-out rows :attr:`ValidatedRecipients.invalid_rows` keeps (all are counted and written).
    :param log_sample: how many left-out rows are logged (masked) with ``skip_invalid``.
    :param field: the argument name in errors (``"recipients"``).
    :param region_field: column/key of each row's ISO region (mixed-country files; see :class:`RecipientSource`).
    :param id_field: column/key of each row's id (default ``row_id``/``id``, else the line).
    :param validation_workers: processes parsing the numbers (default 1: none besides this one). With
        2 or more, a source longer than ``parallel_threshold`` rows has the numbers of its later rows
        parsed ahead by that many spawned processes, in chunks; rows are still checked here in order,
        with the same lines, errors, rejects file and counts.
    :param parallel_threshold: rows checked in this process before the pool starts (default 50,000).
    :returns: a :class:`ValidatedRecipients` (counts, left-out sample, rejects location).
    :raises ValidationError: naming the first invalid row(s) and the rule (and the rejects file
        listing all of them), an unreadable file, or the empty source.
    """
    validation_workers_arg(validation_workers)
    left_out = _LeftOut(_RejectsFile(rejects_path, rejects_name, field), keep_invalid)
    source = RecipientSource(
        recipients,
        default_region=default_region,
        number_field=number_field,
        name_field=name_field,
        file_format=file_format,
        keep_invalid=keep_invalid,
        encoding=encoding,
        delimiter=delimiter,
        header=header,
        multiline_values=multiline_values,
        field=field,
        on_invalid=left_out.record,
        region_field=region_field,
        id_field=id_field,
        workers=validation_workers,
        parallel_threshold=parallel_threshold,
    )
    spill = _Spill.open()
    valid = _check_every_row(source, backend, spec, left_out, spill)
    return _conclude(
        source,
        backend,
        spec,
        valid,
        left_out,
        skip_invalid=skip_invalid,
        log_sample=log_sample,
        field=field,
        spill=spill if spill is not None and spill.usable else None,
    )
