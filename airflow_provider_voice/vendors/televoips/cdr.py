"""TeleVoIPs call detail records: the report handle, the typed CSV row and a streaming reader.

* :class:`CdrReport`: what ``GET /reports/cdrs`` answers (``id``, ``url``, ``status`` and the HTTP
  status: 202 while the CSV is compiled, 201 when it can be downloaded).
* :class:`CdrRecord`: one CSV row with proper types (``calldate`` a pendulum ``DateTime``,
  ``duration``/``billsec`` ints, ``disposition`` a :class:`Disposition`).
* :func:`iter_cdr_records`: reads a CDR CSV (local path, ``file://``, object storage) row by row in
  constant memory; bad rows are collected with their line number instead of stopping the read.

The documented columns are in :data:`CDR_FIELDS`. The spec lists ``cunm`` while the CDR webhook
example (and Asterisk) say ``cnum``: both are accepted and read as ``cnum``; the webhook's
``userfield`` is accepted too, and any other extra column is kept on the record (``extra="allow"``).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Annotated, Any, cast

import pendulum
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError

from airflow_provider_voice.models.recipients import InvalidRow
from airflow_provider_voice.storage import READ, resolve_location

__all__ = [
    "CDR_CORE_FIELDS",
    "CDR_FIELDS",
    "CDR_FIELD_ALIASES",
    "CDR_OPTIONAL_FIELDS",
    "CdrReader",
    "CdrRecord",
    "CdrReport",
    "Disposition",
    "iter_cdr_records",
]

#: the CSV columns documented by TeleVoIPs, in their order (``cnum`` documented as ``cunm``)
CDR_FIELDS: tuple[str, ...] = (
    "id",
    "calldate",
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "did",
    "recordingfile",
    "cnum",
    "cnam",
    "outbound_cnum",
    "outbound_cnam",
    "dst_cnam",
)
#: other spellings of documented columns -> the name used here
CDR_FIELD_ALIASES: dict[str, str] = {"cunm": "cnum"}
#: columns seen in TeleVoIPs payloads but not in the CSV field list (the CDR webhook's ``userfield``)
CDR_OPTIONAL_FIELDS: frozenset[str] = frozenset({"userfield"})
#: columns without which a file is not a CDR report (a header missing one is rejected)
CDR_CORE_FIELDS: tuple[str, ...] = ("calldate", "src", "dst", "duration", "billsec", "disposition")

_REPORT_DAY = re.compile(r"cdrs_(\d{4}-\d{2}-\d{2})\.csv")


class CdrReport(BaseModel):
    """A CDR report as ``GET /reports/cdrs`` describes it.

    :param id: the report id.
    :param url: where the CSV is (``.../reports/cdrs/<id>/cdrs_<day>.csv``).
    :param status: ``requested`` or ``processing`` (HTTP 202), ``complete`` (HTTP 201).
    :param http_status: the HTTP status of the answer (202 or 201).
    """

    model_config = ConfigDict(extra="allow")

    id: str
    url: str
    status: str
    http_status: int = 0

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) else value

    @property
    def is_complete(self) -> bool:
        """True when the file can be downloaded (status ``complete`` / HTTP 201)."""
        return self.status.strip().lower() == "complete" or self.http_status == 201

    @property
    def day(self) -> str | None:
        """The day the report covers (``YYYY-MM-DD``, read from the file name), if it says."""
        match = _REPORT_DAY.search(self.url)
        return match.group(1) if match else None

    def handle(self) -> dict[str, Any]:
        """What the sensor pushes to XCom: ``{"id", "url", "day"}``."""
        return {"id": self.id, "url": self.url, "day": self.day}


class Disposition(str, enum.Enum):
    """Call outcomes seen in TeleVoIPs (Asterisk) CDRs. Any other value is kept as plain text."""

    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"
    CONGESTION = "CONGESTION"

    def __str__(self) -> str:
        return self.value


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _disposition(value: Any) -> Any:
    if isinstance(value, str):
        text = " ".join(value.strip().upper().split())
        text = {"NOANSWER": "NO ANSWER", "NO_ANSWER": "NO ANSWER"}.get(text, text)
        try:
            return Disposition(text)
        except ValueError:
            if not text:
                raise ValueError("empty disposition") from None
            return text
    return value


def _required_int(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"not an integer: {text!r}")
        return int(text)
    return value


OptText = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]


class CdrRecord(BaseModel):
    """One call detail record (a row of the TeleVoIPs CDR CSV).

    ``calldate`` is read in the zone given as ``tz`` in the validation context (UTC by default;
    TeleVoIPs does not state its zone). ``duration`` (seconds in the system) and ``billsec``
    (billed seconds) are ints; ``disposition`` is a :class:`Disposition` or, for a value not
    listed there, the text as given. ``id``/``uniqueid`` stay text: they look like floats
    (``1629900254.9521335``) but a float would lose digits. ``cnum`` is also read from ``cunm``.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: OptText = None
    calldate: dt.datetime
    clid: OptText = None
    src: OptText = None
    dst: OptText = None
    dcontext: OptText = None
    channel: OptText = None
    dstchannel: OptText = None
    lastapp: OptText = None
    lastdata: OptText = None
    duration: Annotated[int, BeforeValidator(_required_int)] = Field(ge=0)
    billsec: Annotated[int, BeforeValidator(_required_int)] = Field(ge=0)
    disposition: Annotated[Disposition | str, BeforeValidator(_disposition)]
    amaflags: OptInt = None
    accountcode: OptText = None
    uniqueid: OptText = None
    userfield: OptText = None
    did: OptText = None
    recordingfile: OptText = None
    cnum: OptText = Field(default=None, validation_alias=AliasChoices("cnum", "cunm"))
    cnam: OptText = None
    outbound_cnum: OptText = None
    outbound_cnam: OptText = None
    dst_cnam: OptText = None

    @field_validator("calldate", mode="before")
    @classmethod
    def _calldate(cls, value: Any, info: ValidationInfo) -> Any:
        tz = (info.context or {}).get("tz", "UTC")
        if isinstance(value, str):
            text = value.strip()
            if not text:
                raise ValueError("empty calldate")
            try:
                parsed = pendulum.parse(text, tz=tz, strict=False)
            except Exception:
                raise ValueError(f"not a date-time: {text!r}") from None
            if not isinstance(parsed, dt.datetime):
                raise ValueError(f"not a date-time: {text!r}")
            return parsed
        if isinstance(value, dt.datetime):
            return pendulum.instance(value, tz=tz) if value.tzinfo is None else pendulum.instance(value)
        return value

    @property
    def answered(self) -> bool:
        """True when the call was answered."""
        return self.disposition == Disposition.ANSWERED


class CdrReader:
    """Iterates the :class:`CdrRecord` rows of a CDR CSV in constant memory; see :func:`iter_cdr_records`.

    After (or during) iteration: :attr:`rows` rows read, :attr:`valid` records yielded,
    :attr:`invalid` the bad rows (line number in the file, the raw row, the reason; the first
    ``keep_invalid`` of them), :attr:`invalid_count` all of them, :attr:`columns` the header.
    """

    def __init__(self, source: Any, *, tz: str = "UTC", keep_invalid: int = 1000, encoding: str = "utf-8-sig") -> None:
        self.source = source
        self.tz = tz
        self.keep_invalid = keep_invalid
        self.encoding = encoding
        self.columns: list[str] = []
        self.rows = 0
        self.valid = 0
        self.invalid: list[InvalidRow] = []
        self.invalid_count = 0

    def __iter__(self) -> Iterator[CdrRecord]:
        self.rows = self.valid = self.invalid_count = 0
        self.invalid = []
        context = {"tz": self.tz}
        with _open_text(self.source, self.encoding) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return
            self.columns = [CDR_FIELD_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in header]
            width = len(self.columns)
            line = reader.line_num
            for values in reader:
                start, line = line + 1, reader.line_num
                if not values or values == [""]:
                    continue  # blank line
                self.rows += 1
                if len(values) != width:
                    self._bad(start, values, f"{len(values)} fields, the header has {width}")
                    continue
                row = dict(zip(self.columns, values, strict=True))
                try:
                    record = CdrRecord.model_validate(row, context=context)
                except PydanticValidationError as exc:
                    self._bad(start, row, _reason(exc))
                    continue
                self.valid += 1
                yield record

    def _bad(self, line: int, value: Any, reason: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < self.keep_invalid:
            self.invalid.append(InvalidRow(line=line, value=value, reason=reason))

    def summary(self) -> dict[str, int]:
        """``{"rows", "valid", "invalid"}``."""
        return {"rows": self.rows, "valid": self.valid, "invalid": self.invalid_count}


def iter_cdr_records(source: Any, *, tz: str = "UTC", keep_invalid: int = 1000) -> CdrReader:
    """Stream :class:`CdrRecord` rows from a CDR CSV, collecting bad rows instead of failing.

    :param source: a local path (``str``/``Path``, ``file://`` URL), an ``ObjectStoragePath`` (or
        anything with ``.open("rb")``), a ``scheme://`` URL (opened with Airflow's
        ``ObjectStoragePath``), or an open text/binary file; paths and URLs are told apart by
        the rule of :mod:`airflow_provider_voice.storage`. Anything else is a ``ValidationError``
        (field ``source``) when the reader is iterated.
    :param tz: zone of ``calldate`` (TeleVoIPs does not state it; UTC by default).
    :param keep_invalid: how many bad rows to keep in :attr:`CdrReader.invalid` (all are counted).
    :returns: a :class:`CdrReader`: iterate it for records, then read ``.invalid`` (line numbers
        are file lines, the header being line 1) and ``.summary()``.
    """
    return CdrReader(source, tz=tz, keep_invalid=keep_invalid)


def _reason(exc: PydanticValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "row"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


class _Borrowed(io.TextIOWrapper):
    """A text wrapper over a caller's binary file that does not close it."""

    def close(self) -> None:
        if not self.closed:
            self.detach()


def _open_text(source: Any, encoding: str) -> AbstractContextManager[Iterable[str]]:
    """The lines of ``source`` as a context manager (a caller's open file is left open)."""
    if isinstance(source, io.TextIOBase):
        return _NoClose(source)
    if isinstance(source, (io.BufferedIOBase, io.RawIOBase)):
        binary = cast("IO[bytes]", source)  # an open binary file (typeshed's io bases are not IO[bytes])
        return _Borrowed(binary, encoding=encoding, newline="")
    target = resolve_location(source, field="source", needs=READ)  # the provider's one path/URL rule
    if isinstance(target, Path):
        return target.open("r", encoding=encoding, newline="")
    return io.TextIOWrapper(target.open("rb"), encoding=encoding, newline="")


class _NoClose:
    """Context manager over a caller's text file that leaves it open."""

    def __init__(self, handle: io.TextIOBase) -> None:
        self.handle = handle

    def __enter__(self) -> io.TextIOBase:
        return self.handle

    def __exit__(self, *exc: object) -> None:
        return None
