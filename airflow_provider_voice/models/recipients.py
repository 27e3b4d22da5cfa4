"""Recipients and the streaming recipient source (list, CSV, TXT, JSON, JSONL, object storage).

Nothing read is lost without a trace. Every physical line of a file is the header, a blank (or
``#`` comment) line, or part of exactly one row; every row becomes a recipient, a counted
duplicate, or an :class:`InvalidRow` (line, value, reason). A file that cannot be read as what
it claims to be is a :class:`~airflow_provider_voice.errors.ValidationError` naming the argument
(``recipients``/``suppression``), the path and the problem, never a raw ``UnicodeDecodeError``,
``_csv.Error``, ``JSONDecodeError`` or ``IsADirectoryError``:

* missing, a directory, empty (0 bytes or only blank lines), not text in ``encoding``;
* CSV: a quote that is never closed, a quoted value running over several lines (it swallows the
  rows after it; opt in with ``multiline_values=True`` for real multi-line values), a value over
  the CSV field limit, text after a closing quote, NUL bytes; a header without a number column;
* JSON: not valid JSON (line and column), not a list; JSONL: a line that is not JSON (its line).

CSV files are sniffed: the delimiter (``,`` ``;`` tab ``|``) from the first lines, a header or
none (a first row holding a phone-like value is data), the number column by name (``number``,
``phone``, ``msisdn``, ``mobile``, ``tel``..., ``Phone Number``, ``mobile_no``) or the only column.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import multiprocessing
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.number_set import NumberSet
from airflow_provider_voice.models.phone import InvalidPhoneNumber, PhoneNumber
from airflow_provider_voice.models.text_source import MissingSourceError, TextSource
from airflow_provider_voice.redaction import get_logger, redact, redact_value

__all__ = ["InvalidRow", "MissingSourceError", "Recipient", "RecipientReport", "RecipientSource", "mask_value"]

log = get_logger(__name__)
#: a column name or record key (a CSV header cell, a JSON object key)
NameT = TypeVar("NameT")

#: column/key names recognised as the phone number when ``number_field`` is not given (in this order)
NUMBER_FIELDS = ("number", "phone", "phone_number", "msisdn", "mobile", "dest", "to")
#: words that make a column name a phone-number column ("Phone Number", "mobile_no", "Téléphone"...)
NUMBER_WORDS = frozenset(
    {
        "phone", "phonenumber", "msisdn", "mobile", "mobilenumber", "mobilephone", "tel", "telephone",
        "telefon", "telefone", "telefono", "cell", "cellphone", "gsm", "numero", "e164",
    }
)  # fmt: skip
FILE_FORMATS = ("csv", "txt", "json", "jsonl")
#: CSV delimiters tried by the sniffer, in order of preference
DELIMITERS = (",", ";", "\t", "|")
#: lines read to sniff a CSV delimiter
SNIFF_LINES = 20
#: rows read ahead at a time when a process pool parses the numbers (``workers``)
PARALLEL_CHUNK = 5000
#: the ISO regions phone numbers exist for (``region_field`` values)
_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_PHONE_LIKE = re.compile(r"^\s*(?:tel:)?\s*\+?[\d\s().\-/]+\s*$", re.IGNORECASE)


def mask_value(value: Any, limit: int = 60) -> str:
    """``value`` for a log line or XCom: phone-like runs masked (``+33*******04``), at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = redact(text, phones=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: the fields of :class:`Recipient`, in order
FIELDS = ("number", "name", "variables", "row_id", "line")
#: the fields a plain number's recipient is built with (``Recipient(number=..., row_id=..., line=...)``)
_NUMBER_ONLY = frozenset({"number", "row_id", "line"})


class Recipient(BaseModel):
    """One person to reach: a valid number, an optional name and per-recipient variables.

    ``variables`` fill vendor template slots (Octopush ``param1..5``, Velip ``extra1..3``,
    Kaleyra ``meta``), ``{placeholders}`` of personalised messages and SMS text templates.
    ``row_id`` and ``line`` say which input row the recipient came from (outcome tables join
    back to the source by them); :class:`RecipientSource` fills them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: PhoneNumber
    name: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    row_id: str | None = None
    line: int | None = None

    @classmethod
    def _trusted(
        cls,
        number: PhoneNumber,
        name: str | None,
        variables: dict[str, str],
        row_id: str | None,
        line: int | None,
        fields_set: frozenset[str] = frozenset(FIELDS),
    ) -> Recipient:
        """A recipient from values already of the fields' types (a checked number, ``str``/``int``/``dict[str, str]``).

        What ``Recipient(number=..., ...)`` builds, without validating again what the caller has just
        checked: :class:`RecipientSource` parses the number itself and builds the other values as
        ``str``. ``fields_set`` names the fields given (``model_fields_set``), as the constructor would.
        """
        recipient = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(
            recipient,
            "__dict__",
            {"number": number, "name": name, "variables": variables, "row_id": row_id, "line": line},
        )
        setattr_(recipient, "__pydantic_fields_set__", set(fields_set))
        setattr_(recipient, "__pydantic_extra__", None)
        setattr_(recipient, "__pydantic_private__", None)
        return recipient

    def _identity(self) -> tuple[Any, ...]:
        return (self.number, self.name, tuple(sorted(self.variables.items())))

    def __eq__(self, other: object) -> bool:  # where a row came from is not who the person is
        if not isinstance(other, Recipient):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


@dataclass(frozen=True)
class InvalidRow:
    """A row that could not become a recipient: where (1-based line of a file, or position in a list), what, and why."""

    line: int
    value: Any
    reason: str

    def masked(self) -> dict[str, Any]:
        """``{"line", "value", "reason"}`` with phone numbers masked (for logs and XCom)."""
        return {"line": self.line, "value": mask_value(self.value), "reason": mask_value(self.reason, 200)}


@dataclass
class RecipientReport:
    """Counts of a recipient source after iteration: nothing is dropped without being counted.

    :param rows: data rows read (a file's header and blank lines are not rows).
    :param valid: rows that became a recipient (not counting duplicates).
    :param duplicates: rows repeating an earlier number.
    :param invalid: the first ``keep_invalid`` invalid rows (line, value, reason).
    :param invalid_count: all invalid rows.
    :param lines: physical lines read (files only).
    :param blank: blank lines (and ``#`` comment lines of ``.txt`` files) skipped.
    :param header_line: the line of the CSV header, when the file has one.
    :param layout: how a file was read (format, delimiter, header, number column), for logs.
    :param position: ``"line"`` (files) or ``"item"`` (lists, JSON arrays): what ``InvalidRow.line`` counts.
    :param last_line: the line/position of the last recipient yielded.
    :param rejects_path: where the invalid rows were written, when a caller wrote them.
    """

    rows: int = 0
    valid: int = 0
    duplicates: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    invalid_count: int = 0
    lines: int = 0
    blank: int = 0
    header_line: int | None = None
    layout: str = ""
    position: str = "item"
    last_line: int = 0
    rejects_path: str | None = None

    @property
    def invalid_rows(self) -> list[InvalidRow]:
        """The kept invalid rows (same as :attr:`invalid`)."""
        return self.invalid

    def summary(self) -> dict[str, int]:
        """``{"rows", "valid", "duplicates", "invalid"}``."""
        return {"rows": self.rows, "valid": self.valid, "duplicates": self.duplicates, "invalid": self.invalid_count}


class _Row(NamedTuple):
    """A CSV row: its cells by column name, the number column, the name column."""

    data: Mapping[str, str]
    number_key: str
    name_key: str | None


@dataclass(frozen=True)
class _BadRow:
    """A row that is invalid before its number is even read (e.g. more cells than the header)."""

    value: Any
    reason: str


class RecipientSource:
    """Stream recipients from a list, a CSV/TXT/JSON/JSONL file or an object-storage path.

    Numbers are parsed to E.164 (with ``default_region`` for national forms), duplicates are
    skipped and counted (an exact :class:`~airflow_provider_voice.models.number_set.NumberSet`:
    16 bytes a number at most), invalid rows are skipped and reported with their line number in
    :attr:`report` (``invalid`` keeps the first ``keep_invalid`` of them; ``on_invalid`` sees
    every one). A file that cannot be read as its format is a :class:`ValidationError` (see the
    module docstring). Files are streamed (CSV, TXT, JSONL; a ``.json`` document is read whole).
    Iterating twice re-reads the source.

    :param source: a list/iterable of numbers, dicts or :class:`Recipient`; a local path
        (``str``/``Path``); an ``ObjectStoragePath`` or any object with ``.open()``; a
        ``scheme://`` URL (opened through Airflow's ``ObjectStoragePath``).
    :param default_region: ISO region for numbers written without a country code (``"IN"``, ``"FR"``).
    :param number_field: column or key holding the number (auto-detected from its name, e.g.
        ``number``, ``phone``, ``msisdn``, ``mobile``, ``tel``, or the only column, when omitted);
        headerless CSV columns are called ``column1``, ``column2``...
    :param name_field: column or key holding the person's name.
    :param file_format: ``csv``, ``txt`` (one number per line, ``#`` comments), ``json`` or
        ``jsonl``; guessed from the suffix (``.csv``/``.tsv``, ``.txt``, ``.json``, ``.jsonl``/``.ndjson``) when omitted.
    :param deduplicate: skip repeated numbers (default True).
    :param keep_invalid: how many invalid rows :attr:`report` keeps (all are counted).
    :param encoding: text encoding of a file (default ``utf-8-sig``: UTF-8 with or without BOM).
    :param delimiter: CSV delimiter (sniffed among ``,`` ``;`` tab ``|`` when omitted).
    :param header: whether a CSV file has a header row (detected when omitted).
    :param multiline_values: accept quoted CSV values spanning several lines (default False: such
        a value is reported as an error, as it usually is a stray quote swallowing rows).
    :param field: the argument name used in errors (``"recipients"``, ``"suppression"``...).
    :param on_invalid: called with every :class:`InvalidRow` as it is found (e.g. to write a rejects file).
    :param strict_numbers: numbers must be valid (default, for sends); False accepts any *possible*
        number (opt-outs, blacklists, suppression lists: see :class:`PhoneNumber`).
    :param region_field: column or key holding each row's ISO region (``FR``, ``BR``...) for a
        mixed-country file: a national number is read in its row's region; a blank cell falls back
        to ``default_region``; a value that is not a region makes the row invalid.
    :param id_field: column or key holding the row's id, copied to :attr:`Recipient.row_id`
        (default: a ``row_id`` or ``id`` column when there is one, else the line / position).
    :param workers: processes parsing the numbers (default 1: this process only). With more, the
        rows after the first ``parallel_threshold`` are read ahead in chunks of :data:`PARALLEL_CHUNK`
        whose numbers ``workers`` processes (``ProcessPoolExecutor``, spawned) parse meanwhile; every
        row is still checked here, in order, with its line (the results are the same, only sooner).
    :param parallel_threshold: rows read in this process before the pool starts (a pool costs its
        start-up, about a second: it pays off on long sources only).
    """

    def __init__(
        self,
        source: Any,
        *,
        default_region: str | None = None,
        number_field: str | None = None,
        name_field: str = "name",
        file_format: str | None = None,
        deduplicate: bool = True,
        keep_invalid: int = 1000,
        encoding: str = "utf-8-sig",
        delimiter: str | None = None,
        header: bool | None = None,
        multiline_values: bool = False,
        field: str = "recipients",
        on_invalid: Callable[[InvalidRow], None] | None = None,
        strict_numbers: bool = True,
        region_field: str | None = None,
        id_field: str | None = None,
        workers: int = 1,
        parallel_threshold: int = 50_000,
    ) -> None:
        if source is None:
            raise ValidationError(field, source, "give a list of numbers, a file path or an object-storage path")
        if file_format is not None and file_format not in FILE_FORMATS:
            raise ValidationError("file_format", file_format, f"one of {', '.join(FILE_FORMATS)}")
        if delimiter is not None:
            delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
            if len(delimiter) != 1 or delimiter in '"\r\n':
                raise ValidationError("delimiter", delimiter, "one character, e.g. ',', ';', '\\t' or '|'")
        self.source = source
        self.default_region = default_region
        self.number_field = number_field
        self.name_field = name_field
        self.file_format = file_format
        self.deduplicate = deduplicate
        self.keep_invalid = keep_invalid
        self.encoding = encoding
        self.delimiter = delimiter
        self.header = header
        self.multiline_values = multiline_values
        self.field = field
        self.on_invalid = on_invalid
        self.strict_numbers = strict_numbers
        self.region_field = region_field or None
        self.id_field = id_field or None
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValidationError("validation_workers", workers, "a whole number of processes, 1 or more")
        self.workers = workers
        self.parallel_threshold = parallel_threshold
        self.report = RecipientReport()
        self._content_seen = False
        #: numbers parsed by the pool for the rows being checked: (value, region) -> packed number or reason
        self._ahead: dict[tuple[Any, str | None], Any] | None = None

    # -- iteration ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Recipient]:
        self.report = report = RecipientReport()
        seen = NumberSet()  # 8 bytes a slot: 16 MiB for a million numbers, where a set[str] takes ~90
        deduplicate = self.deduplicate
        rows = self._rows() if self.workers == 1 else self._parsed_ahead(self._rows())
        for line, raw in rows:
            report.rows += 1
            if isinstance(raw, _BadRow):
                self._invalid(line, raw.value, raw.reason)
                continue
            try:
                recipient = self._recipient(raw, line)
            except _Refused as refused:  # what InvalidPhoneNumber would say, without building it
                self._invalid(line, redact_value(refused.value), self._number_reason(refused.value, refused.reason))
                continue
            except (InvalidPhoneNumber, ValidationError) as exc:
                self._invalid(line, getattr(exc, "value", raw), self._reason(exc))
                continue
            if deduplicate:
                if not seen.add(str.__str__(recipient.number)):
                    report.duplicates += 1
                    continue
            report.valid += 1
            report.last_line = line
            yield recipient

    def _number(self, value: Any, region: str | None) -> PhoneNumber:
        """``PhoneNumber.parse(value, region)`` at the source's level; the pool's parse when it made it."""
        ahead = self._ahead
        if ahead is not None and (isinstance(value, str) or type(value) is int):
            found = ahead.get((value, region))
            if found is not None:
                if isinstance(found, tuple):
                    return PhoneNumber._unpack(found)
                raise _Refused(value, found)
        number = PhoneNumber._parse_or_reason(value, region, self.strict_numbers)
        if not isinstance(number, PhoneNumber):
            raise _Refused(value.e164 if isinstance(value, PhoneNumber) else value, number)
        return number

    def _number_key(self, raw: Any) -> tuple[Any, str | None] | None:
        """What :meth:`_recipient` will parse for ``raw`` (its number value and region), or None (nothing, or an error first)."""
        try:
            if isinstance(raw, _Row):
                value: Any = raw.data.get(raw.number_key) or ""
                region = self._region(raw.data)
            elif isinstance(raw, Mapping):
                key = self.number_field if self.number_field else number_column(list(raw))
                value = raw.get(key) if key is not None else None
                region = self._region(raw)
            else:
                value, region = raw, self.default_region
        except ValidationError:
            return None
        if isinstance(value, str) or type(value) is int:
            return value, region
        return None

    def _parsed_ahead(self, rows: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """``rows``: the first ``parallel_threshold`` as they come, the rest read ahead in chunks whose
        numbers a process pool parses (into :attr:`_ahead`) before the chunk's rows are yielded, in order.

        An error reading the source is raised after the rows read before it are yielded, as without
        the pool; a pool that fails (a process that cannot start or dies) leaves the parsing to this process.
        """
        yield from itertools.islice(rows, self.parallel_threshold)
        failure: BaseException | None = None
        done = broken = False
        pending: deque[tuple[list[tuple[int, Any]], Future[list[Any]], list[tuple[Any, str | None]]]] = deque()
        # spawned, not forked: a task process has threads (and their locks) a fork would copy mid-use
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            while True:
                while not done and not broken and len(pending) < 2 * self.workers:
                    chunk: list[tuple[int, Any]] = []
                    try:
                        chunk.extend(itertools.islice(rows, PARALLEL_CHUNK))
                    except BaseException as exc:  # raised once the rows read before it are checked
                        failure, done = exc, True
                    if not chunk:
                        done = True
                        break
                    keys = list(dict.fromkeys(k for k in map(self._number_key, (raw for _, raw in chunk)) if k))
                    pending.append((chunk, pool.submit(_parse_numbers, keys, self.strict_numbers), keys))
                if not pending:
                    break
                chunk, future, keys = pending.popleft()
                try:
                    self._ahead = dict(zip(keys, future.result(), strict=True))
                except Exception as exc:  # the numbers are parsed here instead
                    if not broken:
                        log.warning("%s: the validation pool failed (%s); parsing in this process", self.field, exc)
                    broken, self._ahead = True, None
                yield from chunk
            if broken and not done:
                yield from rows
        finally:
            self._ahead = None
            pool.shutdown(wait=True, cancel_futures=True)
        if failure is not None:
            raise failure

    def collect(self) -> list[Recipient]:
        """Read the whole source into a list (the report is filled)."""
        return list(self)

    def _invalid(self, line: int, value: Any, reason: str) -> None:
        report = self.report
        row = InvalidRow(line, value, reason)
        report.invalid_count += 1
        if len(report.invalid) < self.keep_invalid:
            report.invalid.append(row)
        if self.on_invalid is not None:
            self.on_invalid(row)

    def _reason(self, exc: Exception) -> str:
        """The rule broken, with a hint for national numbers read without ``default_region``."""
        rule = str(getattr(exc, "rule", None) or exc)
        if isinstance(exc, InvalidPhoneNumber):
            return self._number_reason(exc.value, rule)
        return rule

    def _number_reason(self, value: Any, reason: str) -> str:
        """Why the number ``value`` is refused (``InvalidPhoneNumber``'s rule), with the ``default_region`` hint."""
        rule = _redacted_reason(reason)
        if not self.default_region and "country code" in rule:
            text = str(value).strip() if isinstance(value, (str, int)) else ""
            if text and not text.startswith("+"):
                return (
                    "national format (no +country code): set default_region (e.g. default_region='FR') "
                    "or write the number as +<country code><number>"
                )
        return rule

    def _recipient(self, raw: Any, line: int) -> Recipient:
        if isinstance(raw, Recipient):
            if raw.row_id is not None and raw.line is not None:
                return raw
            return raw.model_copy(update={"row_id": raw.row_id or str(line), "line": raw.line or line})
        if isinstance(raw, _Row):
            return self._from_row(raw, line)
        if isinstance(raw, Mapping):
            return self._from_mapping(raw, line)
        number = self._number(raw, self.default_region)
        return Recipient._trusted(number, None, {}, str(line), line, _NUMBER_ONLY)

    def _region(self, data: Mapping[str, Any]) -> str | None:
        """The row's region (``region_field``), else ``default_region``; a value that is not a region is an error."""
        if self.region_field is None:
            return self.default_region
        value = data.get(self.region_field)
        text = "" if value is None else str(value).strip().upper()
        if not text:
            return self.default_region
        if text not in _REGIONS:
            raise ValidationError(
                self.region_field, value, "an ISO 3166 region code with phone numbers (FR, BR, IN, US...)"
            )
        return text

    def _row_id(self, data: Mapping[str, Any], line: int) -> str:
        key = self.id_field or next((k for k in ("row_id", "id") if k in data), None)
        value = data.get(key) if key is not None else None
        if value in (None, ""):
            if self.id_field is not None:
                raise ValidationError(self.id_field, None, f"row has no {self.id_field} value (id_field)")
            return str(line)
        return str(value).strip()

    def _from_row(self, row: _Row, line: int) -> Recipient:
        value = row.data.get(row.number_key) or ""
        if "\n" in value or "\r" in value:
            raise ValidationError("number", value, f"the {row.number_key!r} value spans several lines (a stray quote?)")
        if not value:
            raise ValidationError("number", value, f"no number in column {row.number_key!r}")
        number = self._number(value, self._region(row.data))
        name = row.data.get(row.name_key) if row.name_key else None
        left_out = (row.number_key, row.name_key, "row_id")
        variables = {k: v for k, v in row.data.items() if v != "" and k not in left_out}
        return Recipient._trusted(number, name or None, variables, self._row_id(row.data, line), line)

    def _from_mapping(self, raw: Mapping[str, Any], line: int) -> Recipient:
        key = self.number_field if self.number_field else number_column(list(raw))
        if key is None or raw.get(key) in (None, ""):
            wanted = self.number_field or " or ".join(NUMBER_FIELDS)
            raise ValidationError("number", dict(raw), f"row has no {wanted} value")
        number = self._number(raw[key], self._region(raw))
        name = raw.get(self.name_field) or None
        nested = raw.get("variables")
        variables = {str(k): str(v) for k, v in nested.items()} if isinstance(nested, Mapping) else {}
        for k, v in raw.items():
            if k not in (key, self.name_field, "variables", "row_id") and v not in (None, ""):
                variables[str(k)] = str(v)
        return Recipient._trusted(number, None if name is None else str(name), variables, self._row_id(raw, line), line)

    # -- reading ----------------------------------------------------------------------------
    def _rows(self) -> Iterator[tuple[int, Any]]:
        source = self.source
        if isinstance(source, (str, Path)) or hasattr(source, "open"):
            yield from self._file_rows(source)
        elif isinstance(source, Mapping):
            raise ValidationError(self.field, "<mapping>", "give a list of numbers/rows, not a single mapping")
        elif isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
            self.report.position = "item"
            yield from enumerate(source, start=1)
        else:
            raise ValidationError(self.field, source, "give a list of numbers, a file path or an object-storage path")

    def _file_rows(self, source: Any) -> Iterator[tuple[int, Any]]:
        text_source = TextSource(source, field=self.field, encoding=self.encoding)
        text_source.check()  # missing / a directory: said before the suffix is looked at
        fmt = self.file_format or _guess_format(text_source.name, self.field)
        report = self.report
        report.position = "item" if fmt == "json" else "line"
        self._content_seen = False
        if fmt == "json":
            yield from self._json_rows(text_source)
            return
        with text_source.lines() as lines:
            if fmt == "csv":
                rows = self._csv_rows(lines, text_source)
            elif fmt == "txt":
                rows = self._txt_rows(lines)
            else:
                rows = self._jsonl_rows(lines, text_source)
            yield from rows
        if not self._content_seen:
            if text_source.bytes_read == 0:
                raise text_source.error("file is empty (0 bytes)")
            raise text_source.error(f"file holds no data ({report.lines} blank line(s))")

    def _txt_rows(self, lines: Iterator[str]) -> Iterator[tuple[int, Any]]:
        report = self.report
        report.layout = "text, one number per line"
        first = True
        for number, line in enumerate(lines, start=1):
            report.lines = number
            self._content_seen = self._content_seen or bool(line.strip())
            value = line.split("#", 1)[0].strip()
            if not value:
                report.blank += 1
                continue
            if first and number_rank(value) is not None and not _PHONE_LIKE.match(value):
                report.header_line = number  # a "number" / "phone" title line
                first = False
                continue
            first = False
            yield number, value

    def _jsonl_rows(self, lines: Iterator[str], text_source: TextSource) -> Iterator[tuple[int, Any]]:
        report = self.report
        report.layout = "JSON lines"
        for number, line in enumerate(lines, start=1):
            report.lines = number
            if not line.strip():
                report.blank += 1
                continue
            self._content_seen = True
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise text_source.error(f"line {number} is not JSON ({exc.msg} at column {exc.colno})") from None
            yield number, item

    def _json_rows(self, text_source: TextSource) -> Iterator[tuple[int, Any]]:
        text = text_source.read_text()
        if not text.strip():
            raise text_source.error("file is empty (0 bytes)" if text_source.bytes_read == 0 else "file holds no data")
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = exc.msg.removesuffix(" at")
            raise text_source.error(f"not valid JSON: {problem} at line {exc.lineno}, column {exc.colno}") from None
        items = payload
        if isinstance(payload, dict):
            items = next((payload[k] for k in ("recipients", "numbers", "data") if k in payload), None)
        if not isinstance(items, list):
            raise text_source.error('a JSON file must hold a list (or {"recipients": [...]})')
        self.report.layout = "JSON list"
        self.report.lines = text.count("\n") + (not text.endswith("\n"))
        yield from enumerate(items, start=1)

    def _csv_rows(self, lines: Iterator[str], text_source: TextSource) -> Iterator[tuple[int, Any]]:
        report = self.report
        sample = list(itertools.islice(lines, SNIFF_LINES))
        delimiter = self.delimiter or sniff_delimiter(sample)
        reader = csv.reader(itertools.chain(sample, lines), delimiter=delimiter, strict=True)
        columns: list[str] | None = None
        number_key = name_key = ""
        previous = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise text_source.error(_csv_problem(exc, previous + 1, reader.line_num)) from None
            start, end = previous + 1, reader.line_num
            previous = report.lines = end
            if not values or all(not v.strip() for v in values):
                report.blank += end - start + 1
                continue
            self._content_seen = True
            if end > start and not self.multiline_values:
                raise text_source.error(
                    f"line {start}: a quoted value opened on this line runs over {end - start + 1} lines "
                    f"(to line {end}), swallowing what may be rows; close the quote, double a quote inside a "
                    'value ("") or remove it (multiline_values=True accepts values spanning lines)'
                )
            if columns is None:
                columns, has_header = self._csv_layout(values, text_source)
                number_key = self._csv_number_key(columns, values, has_header, text_source)
                name_key = next((c for c in columns if c.lower() == self.name_field.lower() and c != number_key), "")
                report.layout = (
                    f"CSV, delimiter {delimiter!r}, "
                    + (f"header on line {start}" if has_header else "no header")
                    + f", number column {number_key!r}"
                )
                log.info("%s %s: %s", self.field, text_source.name, report.layout)
                if has_header:
                    report.header_line = start
                    continue
            if len(values) > len(columns) and any(v.strip() for v in values[len(columns) :]):
                yield (
                    start,
                    _BadRow(
                        delimiter.join(values),
                        f"{len(values)} values, the header has {len(columns)} (an unquoted {delimiter!r} inside a value?)",
                    ),
                )
                continue
            yield start, _Row(dict(zip(columns, (v.strip() for v in values), strict=False)), number_key, name_key)

    def _csv_layout(self, first: list[str], text_source: TextSource) -> tuple[list[str], bool]:
        """The column names and whether ``first`` is a header row."""
        cells = [v.strip() for v in first]
        if self.header is not None:
            has_header = self.header
        elif self.number_field and self.number_field in cells:
            has_header = True
        elif any(number_rank(c) is not None for c in cells):
            has_header = True
        else:
            has_header = not any(_looks_like_phone(c) for c in cells)
        if has_header:
            columns: list[str] = []
            for i, cell in enumerate(cells, start=1):
                name = cell or f"column{i}"
                columns.append(name if name not in columns else f"{name}_{i}")  # a repeated name: keep both values
            return columns, True
        return [f"column{i}" for i in range(1, len(cells) + 1)], False

    def _csv_number_key(self, columns: list[str], first: list[str], has_header: bool, text_source: TextSource) -> str:
        if self.number_field:
            if self.number_field not in columns:
                raise text_source.error(f"no column {self.number_field!r} (columns: {', '.join(columns)})")
            return self.number_field
        if len(columns) == 1:
            return columns[0]
        if has_header:
            found = number_column(columns)
            if found is None:
                raise text_source.error(
                    f"no phone-number column in the header ({', '.join(columns)}): name one number, phone, "
                    "msisdn, mobile or tel, or pass number_field="
                )
            return found
        phone_like = [i for i, v in enumerate(first) if _looks_like_phone(v)]
        if len(phone_like) > 1:
            raise text_source.error(
                f"no header, and columns {', '.join(columns[i] for i in phone_like)} all hold phone numbers: "
                "add a header row naming the number column, or pass number_field="
            )
        return columns[phone_like[0]]


class _Refused(Exception):
    """A number :meth:`RecipientSource._number` refuses: the value and the reason (an :class:`InvalidPhoneNumber`'s)."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


@functools.lru_cache(maxsize=256)
def _redacted_reason(reason: str) -> str:
    """``reason`` as :class:`ValidationError` keeps its rule (redacted); the reasons are a few fixed texts."""
    return str(redact_value(reason) or reason)


def _parse_numbers(keys: list[tuple[Any, str | None]], strict: bool) -> list[Any]:
    """In a pool process: each ``(value, region)`` parsed, as :meth:`PhoneNumber._pack` values or the reason it is not a number."""
    out: list[Any] = []
    for value, region in keys:
        try:
            out.append(PhoneNumber.parse(value, region, strict=strict)._pack())
        except InvalidPhoneNumber as exc:
            out.append(exc.reason)
    return out


def number_rank(name: str) -> int | None:
    """How surely column ``name`` holds the phone number (lower is surer), or None when it does not."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().strip().lower()
    if plain in NUMBER_FIELDS:
        return NUMBER_FIELDS.index(plain)
    words = {w for w in re.split(r"[^a-z0-9]+", plain) if w}
    if words & NUMBER_WORDS or re.sub(r"[^a-z0-9]+", "", plain) in NUMBER_WORDS:
        return 100
    if "number" in words:
        return 200
    return None


def number_column(names: Sequence[NameT]) -> NameT | None:
    """The name among ``names`` most surely holding the phone number (first on ties), or None.

    :param names: column names or record keys (only strings are ranked).
    """
    ranked = [(rank, i) for i, n in enumerate(names) if isinstance(n, str) and (rank := number_rank(n)) is not None]
    return names[min(ranked)[1]] if ranked else None


def sniff_delimiter(lines: Sequence[str]) -> str:
    """The CSV delimiter among :data:`DELIMITERS` that splits the first line and most lines alike (``,`` when none).

    Ties go to the delimiter whose first line holds a number-column name or a phone-like value.
    """
    sample = [line for line in lines if line.strip()]
    best, best_score = ",", (0, False, 0)
    for delimiter in DELIMITERS:
        counts = []
        for line in sample:
            try:
                counts.append(len(next(csv.reader([line], delimiter=delimiter))))
            except (csv.Error, StopIteration):
                counts.append(0)
        if not counts or counts[0] < 2:
            continue
        first = [cell.strip() for cell in next(csv.reader([sample[0]], delimiter=delimiter))]
        names_the_number = any(number_rank(c) is not None or _looks_like_phone(c) for c in first)
        score = (sum(c == counts[0] for c in counts), names_the_number, counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_like_phone(value: str) -> bool:
    return bool(_PHONE_LIKE.match(value)) and 6 <= sum(ch.isdigit() for ch in value) <= 17


def _csv_problem(exc: csv.Error, start: int, end: int) -> str:
    message = str(exc)
    if "field larger than field limit" in message:
        return (
            f"line {start}: a value is longer than the CSV limit of {csv.field_size_limit():,} characters "
            "(often a quote opened there and never closed)"
        )
    if "unexpected end of data" in message:
        return (
            f"line {start}: a quote opened on this line is never closed (the file ends inside it, at line {end}): "
            f"{max(0, end - start)} later line(s) would be lost"
        )
    if "expected after" in message:
        return (
            f"line {end}: text after a closing quote ({message}): quote the whole value, or double the quote inside it"
        )
    if "NUL" in message:
        return f"line {end} contains a NUL byte (a binary file, or UTF-16 text: pass encoding='utf-16')"
    return f"line {end}: not valid CSV ({message})"


def _guess_format(name: str, field: str = "recipients") -> str:
    lowered = name.lower()
    suffixes = ((".csv", "csv"), (".tsv", "csv"), (".txt", "txt"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"))  # fmt: skip
    for suffix, fmt in suffixes:
        if lowered.endswith(suffix):
            return fmt
    raise ValidationError(
        field, name, "file must end in .csv, .tsv, .txt, .json, .jsonl or .ndjson (or pass file_format)"
    )
