"""Call records as a typed SQL table: the layouts of the record files, their column types, the DDL per dialect.

A :class:`RecordsLayout` says what one kind of call-records file becomes in a database table: its
columns (:class:`TableColumn`: name, :data:`ColumnKind`, meaning, how a cell of the file is read),
the header columns that identify the file (auto-detection), the ones it must have, and the zone of
its date-times when the file does not say. Each vendor keeps the layout of its own files in its
folder (``vendors/<vendor>/records_table.py``); the outcome table's layout (:data:`OUTCOMES_TABLE`)
is here, beside its schema (:data:`~airflow_provider_voice.models.outcomes.OUTCOME_COLUMNS`).

Column kinds and their SQL types, per dialect (:data:`DIALECTS`; ``ansi`` for any other database):

============  ==========  ==========================  ===============  ====================
kind          sqlite      postgresql                  mysql            ansi
============  ==========  ==========================  ===============  ====================
text          TEXT        TEXT                        TEXT             VARCHAR(4000)
integer       INTEGER     BIGINT                      BIGINT           BIGINT
float         REAL        DOUBLE PRECISION            DOUBLE           DOUBLE PRECISION
timestamp     TIMESTAMP   TIMESTAMP WITH TIME ZONE    DATETIME(6)      TIMESTAMP
date          DATE        DATE                        DATE             DATE
============  ==========  ==========================  ===============  ====================

Timestamps are always written in UTC: SQLite has no date type, so they are ISO 8601 text
(``2024-05-01 13:45:00+00:00``; SQLite's date functions read it, and a ``TIMESTAMP``/``DATE``
declared type keeps such text as it is); MySQL's ``DATETIME`` gets the UTC wall time.

Cells are converted in Python, the same way for CSV, JSONL and Parquet files: text is stripped and
an empty cell is NULL; integers accept ``"36"``, ``36`` and ``36.0``; floats accept ``"1.200"``;
date-times are ISO 8601 (any other form pendulum reads), a value without a zone being in the
layout's (or the task's) zone. A cell that does not convert makes the row bad
(:class:`RowError`, naming the column).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.outcomes import OUTCOME_COLUMNS, OUTCOMES

__all__ = [
    "COLUMN_KINDS",
    "DIALECTS",
    "OUTCOMES_TABLE",
    "ColumnKind",
    "RecordsLayout",
    "RowConverter",
    "RowError",
    "SqlDialect",
    "TableColumn",
    "TableName",
    "check_identifier",
    "compatibility_problems",
    "create_table_sql",
    "detect_layout",
    "dialect_for",
    "float_column",
    "integer_column",
    "parse_float",
    "parse_integer",
    "parse_text",
    "parse_timestamp",
    "text_column",
    "timestamp_column",
    "type_family",
    "zone",
]

ColumnKind = Literal["text", "integer", "float", "timestamp", "date"]
#: every column kind, in the order the docs list them
COLUMN_KINDS: tuple[ColumnKind, ...] = ("text", "integer", "float", "timestamp", "date")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_INTEGER = re.compile(r"[+-]?\d+")
_UTC = dt.timezone.utc


class RowError(ValueError):
    """A row of a records file that cannot become a table row; the message names the column and why."""


# -- cells ------------------------------------------------------------------------------------------
def parse_text(value: Any) -> str | None:
    """A text cell: stripped, ``""`` as None; a JSON container as its JSON text; anything else as ``str``.

    :param value: the cell as read (CSV text, a JSON value, a Parquet value).
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else None
    return str(value)


def parse_integer(value: Any) -> int | None:
    """An integer cell: ``"36"``, ``36``, ``36.0`` (an integral float); ``""`` as None.

    :param value: the cell as read.
    :raises ValueError: anything else (``"3.5"``, ``"abc"``, ``True``).
    """
    if value.__class__ is str and "_" not in value:
        try:
            return int(value)  # "36", " 36 ", "+3" ("1_000", which int() takes too, is refused below)
        except ValueError:
            pass
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"not an integer: {value!r}")
    text = str(value).strip()
    if not text:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        number = float(text) if "_" not in text else math.nan
    except ValueError:
        raise ValueError(f"not an integer: {text!r}") from None
    if number.is_integer():
        return int(number)
    raise ValueError(f"not an integer: {text!r}")


def parse_float(value: Any) -> float | None:
    """A number cell: ``"1.200"``, ``1``, ``0.6``; ``""`` as None.

    :param value: the cell as read.
    :raises ValueError: not a finite number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        try:
            number = float(text) if "_" not in text else math.nan
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


@lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    """The zone called ``name`` (``UTC``, ``Asia/Kolkata``...).

    :param name: an IANA zone name.
    :raises ValidationError: an unknown zone (field ``timezone``).
    """
    if name.upper() == "UTC":
        return _UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "timezone", name, "an IANA time zone name (UTC, Asia/Kolkata, America/Sao_Paulo...)"
        ) from None


def parse_timestamp(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """A date-time cell as an aware UTC ``datetime``; ``""`` as None.

    ISO 8601 is read directly (``2024-05-01 13:45:00``, ``2024-05-01T13:45:00+05:30``); other forms
    through ``pendulum.parse`` (as :class:`~airflow_provider_voice.vendors.televoips.cdr.CdrRecord`
    reads ``calldate``). A value without a zone is in ``tz``.

    :param value: the cell (text, or a ``datetime`` from a Parquet file).
    :param tz: the zone of values without one.
    :raises ValueError: not a date-time.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return _timestamp_text(text, tz) if text else None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        return _timestamp_text(str(value).strip(), tz)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(_UTC)


@lru_cache(maxsize=8192)
def _timestamp_text(text: str, tz: dt.tzinfo) -> dt.datetime:
    """``text`` as a UTC ``datetime`` (cached: the calls of a day share their seconds)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = _pendulum_parse(text, tz)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(_UTC)


def _pendulum_parse(text: str, tz: dt.tzinfo) -> dt.datetime:
    import pendulum

    if _INTEGER.fullmatch(text):  # pendulum reads "20240501" and "1714521600" in ways no file means
        raise ValueError(f"not a date-time: {text!r}")
    try:
        parsed = pendulum.parse(text, tz=getattr(tz, "key", "UTC"), strict=False)
    except Exception:
        raise ValueError(f"not a date-time: {text!r}") from None
    if not isinstance(parsed, dt.datetime):
        raise ValueError(f"not a date-time: {text!r}")
    return parsed


# -- columns ----------------------------------------------------------------------------------------
#: how a column reads its value from a row of the file (the row's columns as read, the zone of naive date-times)
CellReader = Callable[[Mapping[str, Any], dt.tzinfo], Any]


@dataclass(frozen=True)
class TableColumn:
    """One column of a records table.

    :param name: the SQL column name.
    :param kind: its :data:`ColumnKind`.
    :param meaning: what it holds (the docs' DDL tables).
    :param read: how its value is read from a row of the file (see the ``*_column`` helpers).
    :param sources: the file columns it reads (for the header checks and the ignored-columns report).
    :param required: a row without a value here is bad.
    :param plain_text: a ``text`` column that is its one source cell stripped, nothing else (read in bulk).
    """

    name: str
    kind: ColumnKind
    meaning: str
    read: CellReader
    sources: tuple[str, ...]
    required: bool = False
    plain_text: bool = False


def _reader(source: str, parse: Callable[[Any], Any], required: bool, minimum: float | None = None) -> CellReader:
    def read(row: Mapping[str, Any], tz: dt.tzinfo) -> Any:
        value = parse(row.get(source))
        if value is None:
            if required:
                raise ValueError("empty" if source in row else "missing")
            return None
        if minimum is not None and value < minimum:
            raise ValueError(f"{value!r} is below {minimum:g}")
        return value

    return read


def text_column(
    name: str,
    meaning: str,
    *,
    source: str | None = None,
    required: bool = False,
    normalize: Callable[[str], str] | None = None,
) -> TableColumn:
    """A ``text`` column read from the file column ``source`` (default: ``name``).

    :param name: the SQL column.
    :param meaning: what it holds.
    :param source: the file column.
    :param required: a row without a value is bad.
    :param normalize: applied to a non-empty value (may raise ``ValueError``).
    """
    key = source or name
    parse: Callable[[Any], Any] = parse_text
    if normalize is not None:
        fix = normalize

        def parse(value: Any) -> Any:
            text = parse_text(value)
            return None if text is None else fix(text)

    plain = normalize is None and not required
    return TableColumn(name, "text", meaning, _reader(key, parse, required), (key,), required, plain)


def integer_column(
    name: str, meaning: str, *, source: str | None = None, required: bool = False, minimum: int | None = None
) -> TableColumn:
    """An ``integer`` column (see :func:`parse_integer`).

    :param name: the SQL column.
    :param meaning: what it holds.
    :param source: the file column (default: ``name``).
    :param required: a row without a value is bad.
    :param minimum: the smallest value allowed.
    """
    key = source or name
    return TableColumn(name, "integer", meaning, _reader(key, parse_integer, required, minimum), (key,), required)


def float_column(
    name: str, meaning: str, *, source: str | None = None, required: bool = False, minimum: float | None = None
) -> TableColumn:
    """A ``float`` column (see :func:`parse_float`).

    :param name: the SQL column.
    :param meaning: what it holds.
    :param source: the file column (default: ``name``).
    :param required: a row without a value is bad.
    :param minimum: the smallest value allowed.
    """
    key = source or name
    return TableColumn(name, "float", meaning, _reader(key, parse_float, required, minimum), (key,), required)


def timestamp_column(name: str, meaning: str, *, source: str | None = None, required: bool = False) -> TableColumn:
    """A ``timestamp`` column (UTC; see :func:`parse_timestamp`).

    :param name: the SQL column.
    :param meaning: what it holds.
    :param source: the file column (default: ``name``).
    :param required: a row without a value is bad.
    """
    key = source or name

    def read(row: Mapping[str, Any], tz: dt.tzinfo) -> Any:
        value = parse_timestamp(row.get(key), tz)
        if value is None and required:
            raise ValueError("empty" if key in row else "missing")
        return value

    return TableColumn(name, "timestamp", meaning, read, (key,), required)


# -- layouts ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordsLayout:
    """What one kind of call-records file becomes in a table.

    :param name: the ``source_format`` that names it (``televoips_cdr``, ``kaleyra_calls``...).
    :param title: what the file is, in words.
    :param columns: the table's columns, in order (the partition column is added after them).
    :param signature: header columns that, all present, identify this kind of file (auto-detection).
    :param required_columns: header columns a file of this kind must have.
    :param aliases: other spellings of header columns -> the name used here.
    :param timezone: the zone of date-times written without one.
    :param file_formats: the file formats it comes in (``csv``, ``jsonl``, ``parquet``).
    :param produced_by: the task that writes such files (for error messages and docs).
    :param check_row: a whole-row rule, run on the converted values (raises ``ValueError``).
    """

    name: str
    title: str
    columns: tuple[TableColumn, ...]
    signature: frozenset[str]
    required_columns: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    file_formats: tuple[str, ...] = ("csv",)
    produced_by: str = ""
    check_row: Callable[[Sequence[Any]], None] | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        """The table's columns (without the partition column)."""
        return tuple(c.name for c in self.columns)

    def header(self, names: Iterable[Any]) -> list[str]:
        """``names`` as this layout reads them: stripped, lower case, aliases resolved.

        :param names: the header of a file (or the keys of its first JSON object).
        """
        out = []
        for name in names:
            key = str(name).strip().lower()
            out.append(self.aliases.get(key, key))
        return out

    def sources(self) -> frozenset[str]:
        """Every file column some table column reads."""
        return frozenset(s for c in self.columns for s in c.sources)

    def missing_columns(self, header: Sequence[str]) -> list[str]:
        """The required header columns ``header`` (already through :meth:`header`) lacks.

        :param header: the normalized header.
        """
        present = set(header)
        return [name for name in self.required_columns if name not in present]

    def ignored_columns(self, header: Sequence[str]) -> list[str]:
        """Columns of ``header`` that no table column reads (reported, never silently lost).

        :param header: the normalized header.
        """
        used = self.sources()
        return [name for name in header if name not in used]

    def row_converter(
        self, header: Sequence[str], timezone: str | None = None, *, text_cells: bool = False
    ) -> RowConverter:
        """How the rows of a file with ``header`` become table rows (see :class:`RowConverter`).

        :param header: the file's header, through :meth:`header`.
        :param timezone: the zone of date-times written without one (default: :attr:`timezone`).
        :param text_cells: every cell of every row is a ``str`` with every header key present (a CSV
            file): plain text columns are then read in bulk.
        """
        return RowConverter(self, header, timezone or self.timezone, text_cells)


class RowConverter:
    """Turns rows of one file (header names -> cells) into table rows: ``convert(row) -> list``.

    The values come in :attr:`columns` order — the plain text columns first (read in bulk), then the
    others — which is the order of the ``INSERT``'s column list. Columns whose source cells the file
    does not have are left out (NULL), unless they are required (then :meth:`__call__` reports them).

    :param layout: the records layout.
    :param header: the file's header (through :meth:`RecordsLayout.header`).
    :param timezone: the zone of date-times written without one.
    :param text_cells: every row is a mapping of every header name to a ``str`` (CSV).
    """

    def __init__(self, layout: RecordsLayout, header: Sequence[str], timezone: str, text_cells: bool) -> None:
        present = set(header)
        tz = zone(timezone)
        usable = [c for c in layout.columns if c.required or all(s in present for s in c.sources)]
        bulk = [c for c in usable if c.plain_text]
        others = [c for c in usable if not c.plain_text]
        self.columns: tuple[TableColumn, ...] = (*bulk, *others)
        self.layout = layout
        self.tz = tz
        keys = [c.sources[0] for c in bulk]
        readers = [c.read for c in others]
        check = layout.check_row
        positions = {c.name: i for i, c in enumerate(self.columns)}
        self._check_order = [positions[c.name] for c in layout.columns if c.name in positions]
        if text_cells and keys:
            getter = itemgetter(*keys)
            fetch: Callable[[Mapping[str, Any]], Sequence[Any]] = (
                getter if len(keys) > 1 else (lambda row: (getter(row),))
            )

            def texts(row: Mapping[str, Any]) -> list[Any]:
                return [cell.strip() or None for cell in fetch(row)]

        else:

            def texts(row: Mapping[str, Any]) -> list[Any]:
                get = row.get
                return [parse_text(get(key)) for key in keys]

        def convert(row: Mapping[str, Any]) -> list[Any]:
            try:
                values = texts(row) + [read(row, tz) for read in readers]
            except (ValueError, TypeError, OverflowError, AttributeError, KeyError):
                raise self._why(row) from None
            if check is not None:
                try:
                    check([values[i] for i in self._check_order])
                except ValueError as exc:
                    raise RowError(str(exc)) from None
            return values

        self._convert = convert

    def __call__(self, row: Mapping[str, Any]) -> list[Any]:
        """The table row's values, in :attr:`columns` order.

        :param row: the file's row.
        :raises RowError: a cell that does not convert (the message names the column).
        """
        return self._convert(row)

    def _why(self, row: Mapping[str, Any]) -> RowError:
        """The error for a row that did not convert: the first cell that fails, and why."""
        for column in self.columns:
            try:
                column.read(row, self.tz)
            except (ValueError, TypeError, OverflowError, AttributeError, KeyError) as exc:
                return RowError(f"{column.name}: {exc}")
        return RowError("the row does not convert")


def detect_layout(
    header: Sequence[Any], layouts: Mapping[str, RecordsLayout], *, field: str = "source"
) -> RecordsLayout:
    """The one layout whose :attr:`~RecordsLayout.signature` the header has.

    :param header: the file's header as read.
    :param layouts: the candidates, by ``source_format``.
    :param field: the argument named in errors.
    :raises ValidationError: no layout, or more than one, fits (give ``source_format``).
    """
    found = [layout for layout in layouts.values() if layout.signature <= set(layout.header(header))]
    if len(found) == 1:
        return found[0]
    shown = ", ".join(str(h) for h in list(header)[:12]) + (", ..." if len(header) > 12 else "")
    if not found:
        expected = "; ".join(f"{n}: {', '.join(sorted(lay.signature))}" for n, lay in layouts.items())
        rule = f"a records file of a known layout; its columns ({shown}) fit none ({expected}): give source_format"
    else:
        rule = f"one layout; its columns fit {', '.join(lay.name for lay in found)}: give source_format"
    raise ValidationError(field, shown, rule)


# -- the outcome table ------------------------------------------------------------------------------
_OUTCOME_KIND: dict[str, ColumnKind] = {
    "string": "text",
    "int64": "integer",
    "int32": "integer",
    "float64": "float",
    "timestamp[ms, tz=UTC]": "timestamp",
}


def _outcome(text: str) -> str:
    if text not in OUTCOMES:
        raise ValueError(f"{text!r} is not one of {', '.join(OUTCOMES)}")
    return text


def _variables(text: str) -> str:
    try:
        parsed = json.loads(text)
    except ValueError:
        raise ValueError("not a JSON object") from None
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    return text


def _outcome_column(name: str, kind: str, meaning: str) -> TableColumn:
    column_kind = _OUTCOME_KIND[kind]
    if name == "outcome":
        return text_column(name, meaning, required=True, normalize=_outcome)
    if name == "variables":
        return text_column(name, meaning, normalize=_variables)
    if name == "row_id":
        return text_column(name, meaning)
    if column_kind == "integer":
        return integer_column(name, meaning, minimum=0)
    if column_kind == "float":
        return float_column(name, meaning)
    if column_kind == "timestamp":
        return timestamp_column(name, meaning)
    return text_column(name, meaning)


#: the outcome tables the campaign, SMS and outcome operators write (CSV or Parquet, :data:`OUTCOME_COLUMNS`)
OUTCOMES_TABLE = RecordsLayout(
    name="outcomes",
    title="outcome table (one row per recipient)",
    columns=tuple(_outcome_column(name, kind, meaning) for name, kind, meaning in OUTCOME_COLUMNS),
    signature=frozenset({"row_id", "number", "outcome", "vendor_status", "attempts"}),
    required_columns=tuple(name for name, _, _ in OUTCOME_COLUMNS),
    file_formats=("csv", "parquet"),
    produced_by="the outcome tables of SendVoiceCampaignOperator / SendSMSOperator / CollectOutcomesOperator",
)


# -- SQL --------------------------------------------------------------------------------------------
def check_identifier(value: Any, *, field: str) -> str:
    """``value`` if it is a plain SQL identifier (letters, digits, ``_``; not starting with a digit; ≤ 63).

    :param value: the name.
    :param field: the argument named in errors.
    :raises ValidationError: anything else (no quoting games, no SQL in a name).
    """
    text = str(value).strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _IDENTIFIER.fullmatch(text):
        raise ValidationError(field, value, "a plain SQL name: letters, digits and _, not starting with a digit, ≤ 63")
    return text


@dataclass(frozen=True)
class TableName:
    """A table, optionally in a schema (``records.cdr_calls``).

    :param name: the table.
    :param schema: its schema (Postgres schema, MySQL database, SQLite attached database), or None.
    """

    name: str
    schema: str | None = None

    @classmethod
    def parse(cls, value: Any, *, field: str = "table") -> TableName:
        """``"table"`` or ``"schema.table"``, each part a plain identifier (:func:`check_identifier`).

        :param value: the text.
        :param field: the argument named in errors.
        """
        text = value.strip() if isinstance(value, str) else value
        if not isinstance(text, str) or not text:
            raise ValidationError(field, value, "a table name: 'table' or 'schema.table'")
        parts = text.split(".")
        if len(parts) > 2:
            raise ValidationError(field, value, "'table' or 'schema.table' (one dot at most)")
        if len(parts) == 2:
            return cls(check_identifier(parts[1], field=field), check_identifier(parts[0], field=field))
        return cls(check_identifier(parts[0], field=field))

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def sql(self, dialect: SqlDialect) -> str:
        """The quoted name for ``dialect``."""
        name = dialect.quote(self.name)
        return f"{dialect.quote(self.schema)}.{name}" if self.schema else name


@dataclass(frozen=True)
class SqlDialect:
    """How the loader speaks to one kind of database.

    :param name: ``sqlite``, ``postgresql``, ``mysql`` or ``ansi`` (any other).
    :param types: SQL type per :data:`ColumnKind`.
    :param quote_char: the identifier quote.
    :param timestamps: how timestamps are sent: ``text`` (ISO 8601 UTC), ``aware`` (a UTC ``datetime``)
        or ``naive_utc`` (a ``datetime`` without zone, in UTC).
    :param dates: how dates are sent: ``text`` or ``date``.
    :param transactional_ddl: ``CREATE TABLE`` is part of the load's transaction (rolled back with it).
    :param begin: a statement that opens the transaction and takes the write lock (SQLite), if any.
    :param lock: a statement (``{table}`` filled in) that makes concurrent loads of the table wait, if any.
    """

    name: str
    types: Mapping[ColumnKind, str]
    quote_char: str = '"'
    timestamps: Literal["text", "aware", "naive_utc"] = "aware"
    dates: Literal["text", "date"] = "date"
    transactional_ddl: bool = False
    begin: str | None = None
    lock: str | None = None

    def quote(self, identifier: str) -> str:
        """``identifier`` quoted (it is a checked plain name: nothing to escape)."""
        return f"{self.quote_char}{identifier}{self.quote_char}"

    def adapter(self, kind: ColumnKind) -> Callable[[Any], Any] | None:
        """The function that turns a converted value of ``kind`` into what the driver is sent (None: as is)."""
        if kind == "timestamp":
            if self.timestamps == "text":
                return _timestamp_iso
            if self.timestamps == "naive_utc":
                return _naive_utc
        if kind == "date" and self.dates == "text":
            return _date_text
        return None


def _timestamp_iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(sep=" ")


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(_UTC).replace(tzinfo=None)


def _date_text(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


#: the dialects the loader knows (``ansi`` serves any other database)
DIALECTS: dict[str, SqlDialect] = {
    "sqlite": SqlDialect(
        "sqlite",
        {"text": "TEXT", "integer": "INTEGER", "float": "REAL", "timestamp": "TIMESTAMP", "date": "DATE"},
        timestamps="text",
        dates="text",
        transactional_ddl=True,
        begin="BEGIN IMMEDIATE",
    ),
    "postgresql": SqlDialect(
        "postgresql",
        {
            "text": "TEXT",
            "integer": "BIGINT",
            "float": "DOUBLE PRECISION",
            "timestamp": "TIMESTAMP WITH TIME ZONE",
            "date": "DATE",
        },
        transactional_ddl=True,
        lock="LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE",
    ),
    "mysql": SqlDialect(
        "mysql",
        {"text": "TEXT", "integer": "BIGINT", "float": "DOUBLE", "timestamp": "DATETIME(6)", "date": "DATE"},
        quote_char="`",
        timestamps="naive_utc",
    ),
    "ansi": SqlDialect(
        "ansi",
        {
            "text": "VARCHAR(4000)",
            "integer": "BIGINT",
            "float": "DOUBLE PRECISION",
            "timestamp": "TIMESTAMP",
            "date": "DATE",
        },
    ),
}
_DIALECT_NAMES = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def dialect_for(name: str | None) -> SqlDialect:
    """The :class:`SqlDialect` for a SQLAlchemy dialect name or an Airflow connection type.

    :param name: ``sqlite``, ``postgresql``/``postgres``, ``mysql``/``mariadb``, ``ansi``...; any
        other name (or None) gives ``ansi``.
    """
    key = (name or "").strip().lower().split("+", 1)[0]
    return DIALECTS[_DIALECT_NAMES.get(key, "ansi" if key not in DIALECTS else key)]


def type_family(declared: str | None) -> ColumnKind | None:
    """The :data:`ColumnKind` a declared SQL type belongs to (None: unknown, e.g. ``BLOB``, ``INTERVAL``).

    :param declared: a type as the database reports it (``BIGINT``, ``timestamp with time zone``, ``TEXT``...).
    """
    text = (declared or "").strip().upper()
    if not text or "INTERVAL" in text or "BLOB" in text or "BYTEA" in text or "BINARY" in text:
        return None
    if "TIMESTAMP" in text or "DATETIME" in text:
        return "timestamp"
    if text.startswith("DATE"):
        return "date"
    if "INT" in text:
        return "integer"
    if any(word in text for word in ("CHAR", "TEXT", "CLOB", "STRING")):
        return "text"
    if any(word in text for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "float"
    return None


#: column families that can hold a kind (an integer fits a NUMERIC/DOUBLE column too)
_FITS: dict[ColumnKind, frozenset[ColumnKind]] = {
    "text": frozenset({"text"}),
    "integer": frozenset({"integer", "float"}),
    "float": frozenset({"float"}),
    "timestamp": frozenset({"timestamp"}),
    "date": frozenset({"date"}),
}


def compatibility_problems(wanted: Sequence[tuple[str, ColumnKind]], existing: Mapping[str, str | None]) -> list[str]:
    """Why an existing table cannot take the load's rows (empty: it can).

    Every column the load writes must exist with a type of a fitting family (:func:`type_family`);
    a type the database did not report (``None``) is accepted. Other columns of the table are left
    alone (they must be nullable or have a default).

    :param wanted: ``(column, kind)`` the load writes.
    :param existing: the table's columns (lower case names) -> declared type.
    """
    lowered = {name.lower(): declared for name, declared in existing.items()}
    problems = []
    for name, kind in wanted:
        if name.lower() not in lowered:
            problems.append(f"no column {name} ({kind})")
            continue
        declared = lowered[name.lower()]
        if declared is None:
            continue
        family = type_family(declared)
        if family not in _FITS[kind]:
            problems.append(f"{name} is {declared}, not a {kind} type")
    return problems


def create_table_sql(dialect: SqlDialect, table: TableName, layout: RecordsLayout, partition_column: str) -> list[str]:
    """``CREATE TABLE`` (every column of ``layout`` and the partition column, ``NOT NULL``) and the
    index on the partition column.

    :param dialect: the database's dialect.
    :param table: the table.
    :param layout: the records layout.
    :param partition_column: the day column (``load_day``).
    """
    lines = [f"    {dialect.quote(c.name)} {dialect.types[c.kind]}" for c in layout.columns]
    lines.append(f"    {dialect.quote(partition_column)} {dialect.types['date']} NOT NULL")
    create = f"CREATE TABLE {table.sql(dialect)} (\n" + ",\n".join(lines) + "\n)"
    index_name = f"{table.name[: 63 - len(partition_column) - 5]}_{partition_column}_idx"
    index = f"CREATE INDEX {dialect.quote(index_name)} ON {table.sql(dialect)} ({dialect.quote(partition_column)})"
    if dialect.name == "sqlite" and table.schema:  # SQLite: the index is named in the table's database
        index = (
            f"CREATE INDEX {dialect.quote(table.schema)}.{dialect.quote(index_name)} "
            f"ON {dialect.quote(table.name)} ({dialect.quote(partition_column)})"
        )
    return [create, index]
