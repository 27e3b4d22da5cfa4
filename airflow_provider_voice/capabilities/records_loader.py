"""Load a call-records file into a SQL table, replacing one day, in one transaction (plain DB-API).

:class:`RecordFile` streams a CSV, JSONL or Parquet file (local path, URL or ``ObjectStoragePath``)
row by row: the header is read first, so a file of an unknown layout or without a required column
is refused before the database is touched. :class:`RecordsLoader` then, on one DB-API connection:

1. reads the table's columns (``PRAGMA table_info`` / ``information_schema.columns``): a table that
   exists with a missing column or a column of another type family is a
   :class:`~airflow_provider_voice.errors.ValidationError`, before any write;
2. in **one transaction**: creates the table if it does not exist (typed columns and the partition
   column, :func:`~airflow_provider_voice.capabilities.records_table.create_table_sql`; part of the
   transaction on SQLite and Postgres), makes concurrent loads of the table wait (SQLite
   ``BEGIN IMMEDIATE``, Postgres ``LOCK TABLE ... IN SHARE ROW EXCLUSIVE MODE``: readers are not
   blocked), deletes the day's rows (``WHERE load_day = :day``), inserts the file's rows in batches
   (``executemany``; on Postgres ``COPY ... FROM STDIN``, psycopg 3 or psycopg2), checks that the day now holds exactly the rows
   inserted, and commits. Any error — a bad row, a lost connection, a kill — rolls everything back:
   the day keeps the rows it had, and a rerun never duplicates.

Memory is bounded by one batch (``batch_size`` rows) and the reader's buffer, whatever the file's size.

A row that cannot be converted is never dropped silently: it fails the load (nothing written), or,
with ``skip_bad_rows``, it is counted and written to a rejects file (CSV ``line,value,reason``, the
value as given; see :mod:`~airflow_provider_voice.capabilities.recipients`). A load whose every row
is bad fails even so: it would otherwise replace the day with nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_voice.capabilities.recipients import RejectsFile
from airflow_provider_voice.capabilities.records_table import (
    RecordsLayout,
    RowConverter,
    RowError,
    SqlDialect,
    TableName,
    compatibility_problems,
    create_table_sql,
    detect_layout,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.recipients import InvalidRow, mask_value
from airflow_provider_voice.redaction import get_logger, redact
from airflow_provider_voice.storage import READ, describe_destination, resolve_location

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "FILE_FORMATS",
    "FileFormat",
    "LoadResult",
    "RecordFile",
    "RecordsLoader",
    "existing_columns",
    "file_format_of",
    "schema_exists",
]

log = get_logger(__name__)

FileFormat = Literal["csv", "jsonl", "parquet"]
#: the file formats a records file can be in
FILE_FORMATS: tuple[FileFormat, ...] = ("csv", "jsonl", "parquet")
#: rows per ``executemany`` (what the loader holds in memory)
DEFAULT_BATCH_SIZE = 5_000
_PARQUET_BATCH = 10_000
_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def file_format_of(path: Any, given: str | None = None, *, field: str = "file_format") -> FileFormat:
    """The format of a records file: ``given``, else its suffix (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``).

    :param path: the resolved location (its ``name``).
    :param given: ``csv``, ``jsonl``, ``parquet`` or None.
    :param field: the argument named in errors.
    """
    if given not in (None, ""):
        if given not in FILE_FORMATS:
            raise ValidationError(field, given, "csv, jsonl or parquet (or None: the file's suffix says)")
        return given
    name = str(getattr(path, "name", path)).lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise ValidationError(field, name, "the file's suffix is not .csv, .jsonl, .ndjson or .parquet: give file_format")


class RecordFile:
    """A records file read row by row. Use as a context manager; :attr:`header` is read on entry.

    Iterating yields ``(line, row, problem)``: ``line`` the file line the row starts on (CSV, JSONL;
    the header is line 1) or the row's position (Parquet); ``row`` the row as a mapping of header
    names to cells (or the raw value, for a row that is not one); ``problem`` None, or why the row
    is not a row (too many fields, not a JSON object).

    :param location: a local path, ``file://``/``s3://``... URL, or ``ObjectStoragePath``.
    :param file_format: ``csv``, ``jsonl`` or ``parquet`` (None: the suffix).
    :param storage_conn_id: the Airflow connection of an object-storage URL, if any.
    :param field: the argument named in errors.
    """

    def __init__(
        self,
        location: Any,
        file_format: str | None = None,
        *,
        storage_conn_id: str | None = None,
        field: str = "source",
    ) -> None:
        self.field = field
        self.path = resolve_location(location, field=field, conn_id=storage_conn_id, needs=READ)
        self.url = describe_destination(self.path)
        self.file_format = file_format_of(self.path, file_format)
        self.header: list[str] = []
        self._stack = ExitStack()
        self._rows: Iterator[tuple[int, Any, str | None]] = iter(())
        self.names: list[str] = []
        self._normalize: Callable[[str], str] = lambda key: key.strip().lower()

    def __enter__(self) -> RecordFile:
        try:
            if self.file_format == "csv":
                self._open_csv()
            elif self.file_format == "jsonl":
                self._open_jsonl()
            else:
                self._open_parquet()
        except FileNotFoundError:
            self._stack.close()
            raise ValidationError(self.field, self.url, "an existing file (it was not found)") from None
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def use_names(self, names: Sequence[str], normalize: Callable[[str], str] | None = None) -> None:
        """The keys rows are read with (the header as the layout reads it: aliases resolved).

        :param names: one name per header column.
        :param normalize: how a key the header did not have is read (JSONL rows may have other keys).
        """
        self.names = list(names)
        if normalize is not None:
            self._normalize = normalize

    def __iter__(self) -> Iterator[tuple[int, Any, str | None]]:
        return self._rows

    def _binary(self) -> Any:
        return self._stack.enter_context(self.path.open("rb"))

    def _open_csv(self) -> None:
        text = io.TextIOWrapper(self._binary(), encoding="utf-8-sig", newline="")
        self._stack.callback(text.detach)
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValidationError(self.field, self.url, f"a CSV file with a header line: {exc}") from None
        if not header or header == [""]:
            raise ValidationError(self.field, self.url, "a CSV file with a header line (the file is empty)")
        self.header = [h.strip() for h in header]
        self.names = list(self.header)
        self._rows = self._csv_rows(reader)

    def _csv_rows(self, reader: Any) -> Iterator[tuple[int, Any, str | None]]:
        width = len(self.header)
        line = reader.line_num
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValidationError(self.field, f"line {reader.line_num}", f"a readable CSV file: {exc}") from None
            start, line = line + 1, reader.line_num
            if not values or values == [""]:
                continue  # a blank line
            if len(values) != width:
                yield start, values, f"{len(values)} fields, the header has {width}"
                continue
            yield start, dict(zip(self.names, values, strict=True)), None

    def _open_jsonl(self) -> None:
        text = io.TextIOWrapper(self._binary(), encoding="utf-8-sig", newline="")
        self._stack.callback(text.detach)
        lines = enumerate(text, start=1)
        first: tuple[int, Any, str | None] | None = None
        for number, raw in lines:
            if not raw.strip():
                continue
            first = self._json_row(number, raw)
            if first[2] is not None:
                raise ValidationError(self.field, f"line {number}", f"a JSONL file of objects: {first[2]}")
            break
        if first is None:
            raise ValidationError(self.field, self.url, "a JSONL file with at least one object (the file is empty)")
        self.header = [str(k) for k in first[1]]
        self.names = list(self.header)
        self._rows = self._jsonl_rows(first, lines)

    def _json_row(self, number: int, raw: str) -> tuple[int, Any, str | None]:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return number, raw.rstrip("\n"), f"not JSON: {exc.args[0] if exc.args else exc}"
        if not isinstance(value, dict):
            return number, value, "not a JSON object"
        return number, value, None

    def _jsonl_rows(
        self, first: tuple[int, Any, str | None], lines: Iterator[tuple[int, str]]
    ) -> Iterator[tuple[int, Any, str | None]]:
        rename = self._renames()
        yield self._renamed(first, rename)
        for number, raw in lines:
            if raw.strip():
                yield self._renamed(self._json_row(number, raw), rename)

    def _renames(self) -> dict[str, str]:
        return {old: new for old, new in zip(self.header, self.names, strict=True) if old != new}

    def _renamed(self, item: tuple[int, Any, str | None], rename: Mapping[str, str]) -> tuple[int, Any, str | None]:
        number, value, problem = item
        if problem is None:
            normalize = self._normalize
            value = {rename[k] if k in rename else normalize(str(k)): v for k, v in value.items()}
        return number, value, problem

    def _open_parquet(self) -> None:
        import pyarrow.parquet as pq

        handle = self._binary()
        try:
            parquet = pq.ParquetFile(handle)
        except Exception as exc:  # pyarrow raises ArrowInvalid & co. for a file that is not Parquet
            raise ValidationError(self.field, self.url, f"a Parquet file: {exc}") from None
        self.header = list(parquet.schema_arrow.names)
        self.names = list(self.header)
        self._rows = self._parquet_rows(parquet)

    def _parquet_rows(self, parquet: Any) -> Iterator[tuple[int, Any, str | None]]:
        position = 0
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            if self.names != self.header:
                batch = batch.rename_columns(self.names)
            for row in batch.to_pylist():
                position += 1
                yield position, row, None


def existing_columns(
    cursor: Any, dialect: SqlDialect, table: TableName, placeholder: str
) -> dict[str, str | None] | None:
    """The columns of ``table`` (name -> declared type; None where the database does not say), or None
    when there is no such table.

    :param cursor: a DB-API cursor.
    :param dialect: the database's dialect.
    :param table: the table.
    :param placeholder: the driver's parameter marker (``?``, ``%s``).
    """
    if dialect.name == "sqlite":
        if table.schema:
            cursor.execute("PRAGMA database_list")
            if all(str(row[1]) != table.schema for row in cursor.fetchall()):
                return None  # no such database attached (PRAGMA "x".table_info would fail)
        where = f"{dialect.quote(table.schema)}." if table.schema else ""
        cursor.execute(f"PRAGMA {where}table_info({dialect.quote(table.name)})")
        rows = cursor.fetchall()
        return {str(r[1]): str(r[2]) for r in rows} if rows else None
    if dialect.name in ("postgresql", "mysql"):
        current = "current_schema()" if dialect.name == "postgresql" else "DATABASE()"
        schema = placeholder if table.schema else current
        params = (table.schema, table.name) if table.schema else (table.name,)
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = {placeholder} ORDER BY ordinal_position",
            params,
        )
        rows = cursor.fetchall()
        return {str(r[0]): str(r[1]) for r in rows} if rows else None
    try:
        cursor.execute(f"SELECT * FROM {table.sql(dialect)} WHERE 1 = 0")
        cursor.fetchall()
    except Exception:
        return None
    return {str(d[0]): None for d in cursor.description or ()}


def schema_exists(conn: Any, dialect: SqlDialect, schema: str, placeholder: str) -> bool:
    """Whether ``schema`` exists (SQLite: an attached database; Postgres, MySQL: ``information_schema.schemata``;
    other databases: assumed).

    :param conn: a DB-API connection.
    :param dialect: the database's dialect.
    :param schema: the schema's name.
    :param placeholder: the driver's parameter marker.
    """
    cursor = conn.cursor()
    try:
        if dialect.name == "sqlite":
            cursor.execute("PRAGMA database_list")
            return any(str(row[1]) == schema for row in cursor.fetchall())
        if dialect.name in ("postgresql", "mysql"):
            cursor.execute(f"SELECT 1 FROM information_schema.schemata WHERE schema_name = {placeholder}", (schema,))
            return cursor.fetchone() is not None
        return True
    finally:
        cursor.close()


@dataclass
class LoadResult:
    """What a load did (the operator's XCom value, see :meth:`to_dict`).

    :param table: the table (``schema.table``).
    :param day: the day replaced (``YYYY-MM-DD``).
    :param source: the file loaded (URL-like).
    :param source_format: the layout (``televoips_cdr``...).
    :param file_format: ``csv``, ``jsonl`` or ``parquet``.
    :param dialect: the SQL dialect used.
    :param rows_read: data rows read from the file.
    :param rows_inserted: rows inserted for the day.
    :param rows_deleted: rows of the day deleted first (a rerun's replaced rows).
    :param rejected: bad rows left out (``skip_bad_rows``).
    :param rejects_path: where they were written, if any.
    :param rejected_rows: the first bad rows (line, value, reason), phone numbers masked.
    :param created: whether the table was created by this load.
    :param ignored_columns: file columns no table column reads (reported, not loaded).
    :param seconds: time spent.
    """

    table: str
    day: str
    source: str
    source_format: str
    file_format: str
    dialect: str
    rows_read: int = 0
    rows_inserted: int = 0
    rows_deleted: int = 0
    rejected: int = 0
    rejects_path: str | None = None
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    created: bool = False
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Rows inserted per second."""
        return self.rows_inserted / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, phone numbers masked (XCom)."""
        return {
            "table": self.table,
            "day": self.day,
            "source": self.source,
            "source_format": self.source_format,
            "file_format": self.file_format,
            "dialect": self.dialect,
            "rows_read": self.rows_read,
            "rows_inserted": self.rows_inserted,
            "rows_deleted": self.rows_deleted,
            "rejected": self.rejected,
            "rejects_path": self.rejects_path,
            "rejected_rows": list(self.rejected_rows),
            "created": self.created,
            "ignored_columns": list(self.ignored_columns),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }


def _csv_cell(value: Any) -> Any:
    """A value for Postgres' ``COPY ... (FORMAT csv)``: NULL as an unquoted empty field, dates in ISO 8601.

    The loader never sends an empty string (an empty cell is NULL), so an empty field is always NULL.
    """
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


class RecordsLoader:
    """Load one records file into a table, replacing one day (see the module docstring).

    Use as a context manager (the file is opened, its header checked, on entry)::

        with RecordsLoader(file, layouts=..., table=TableName("cdr_calls"), day=day, dialect=dialect,
                           placeholder="?") as loader:
            loader.check_table(conn)   # ValidationError for an incompatible table (nothing written)
            result = loader.load(conn)

    :param file: the :class:`RecordFile` (not yet entered).
    :param layouts: the known layouts, by ``source_format``.
    :param source_format: the layout to use (None: detected from the header, when only one fits).
    :param table: the table.
    :param day: the day the rows are loaded for (the partition column's value).
    :param dialect: the database's dialect.
    :param placeholder: the driver's parameter marker (``?``, ``%s``).
    :param partition_column: the day column (``load_day``).
    :param timezone: the zone of naive date-times in the file (None: the layout's).
    :param batch_size: rows per ``executemany``.
    :param create_table: create a missing table (else a missing table is a ``ValidationError``).
    :param skip_bad_rows: leave bad rows out (counted, written to ``rejects``) instead of failing.
    :param rejects: where left-out rows go (with ``skip_bad_rows``).
    :param keep_rejected: how many left-out rows the result shows (masked).
    :param progress_seconds: seconds between progress lines in the log.
    """

    def __init__(
        self,
        file: RecordFile,
        *,
        layouts: Mapping[str, RecordsLayout],
        source_format: str | None,
        table: TableName,
        day: dt.date,
        dialect: SqlDialect,
        placeholder: str,
        partition_column: str = "load_day",
        timezone: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        create_table: bool = True,
        skip_bad_rows: bool = False,
        rejects: RejectsFile | None = None,
        keep_rejected: int = 20,
        progress_seconds: float = 10.0,
    ) -> None:
        if source_format not in (None, "") and source_format not in layouts:
            raise ValidationError("source_format", source_format, f"one of {', '.join(layouts)} (or None: detected)")
        self.file = file
        self.layouts = layouts
        self.source_format = source_format or None
        self.table = table
        self.day = day
        self.dialect = dialect
        self.placeholder = placeholder
        self.partition_column = partition_column
        self.timezone = timezone
        self.batch_size = batch_size
        self.create_table = create_table
        self.skip_bad_rows = skip_bad_rows
        self.rejects = rejects
        self.keep_rejected = keep_rejected
        self.progress_seconds = progress_seconds
        self.layout: RecordsLayout | None = None
        self.converter: RowConverter | None = None
        self.exists: bool | None = None
        self.ignored: list[str] = []
        self._rejected: list[InvalidRow] = []
        self._started = time.monotonic()

    # -- before any write ------------------------------------------------------------------------------
    def __enter__(self) -> RecordsLoader:
        self._started = time.monotonic()
        self.file.__enter__()
        try:
            self._check_header()
        except BaseException:
            self.file.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.__exit__(*exc)

    def _check_header(self) -> None:
        header = self.file.header
        if self.source_format is None:
            layout = detect_layout(header, self.layouts, field=self.file.field)
            log.info("records file %s: %s (detected from its columns)", self.file.url, layout.name)
        else:
            layout = self.layouts[self.source_format]
        names = layout.header(header)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError(self.file.field, self.file.url, f"a header without repeated columns: {duplicates}")
        missing = layout.missing_columns(names)
        if missing:
            raise ValidationError(
                self.file.field,
                self.file.url,
                f"a {layout.title} file with the column(s) {', '.join(missing)} (source_format={layout.name}); "
                f"its columns: {', '.join(header[:30])}",
            )
        if self.file.file_format not in layout.file_formats:
            raise ValidationError(
                "file_format", self.file.file_format, f"{layout.name} files are {' or '.join(layout.file_formats)}"
            )
        if self.partition_column in layout.column_names:
            raise ValidationError(
                "partition_column", self.partition_column, f"a name that is not a {layout.name} column"
            )
        self.file.use_names(names, lambda key: layout.header([key])[0])
        self.layout = layout
        self.converter = layout.row_converter(names, self.timezone, text_cells=self.file.file_format == "csv")
        self.ignored = layout.ignored_columns(names)
        if self.ignored:
            log.warning("records file %s: column(s) not loaded (no table column): %s", self.file.url, self.ignored)

    def wanted_columns(self) -> list[tuple[str, Any]]:
        """``(column, kind)`` the load writes: the layout's columns, then the partition column."""
        assert self.layout is not None
        return [(c.name, c.kind) for c in self.layout.columns] + [(self.partition_column, "date")]

    def check_table(self, conn: Any) -> bool:
        """Whether the table exists; a table whose columns cannot take the rows is a ``ValidationError``.

        :param conn: a DB-API connection (the one :meth:`load` uses).
        """
        cursor = conn.cursor()
        try:
            existing = existing_columns(cursor, self.dialect, self.table, self.placeholder)
        finally:
            cursor.close()
        if existing is None:
            self.exists = False
            if not self.create_table:
                raise ValidationError("table", str(self.table), "an existing table (create_table=False)")
            if self.table.schema and not schema_exists(conn, self.dialect, self.table.schema, self.placeholder):
                raise ValidationError(
                    "table", str(self.table), f"a table in an existing schema: there is no schema {self.table.schema!r}"
                )
            return False
        problems = compatibility_problems(self.wanted_columns(), existing)
        if problems:
            assert self.layout is not None
            raise ValidationError(
                "table",
                str(self.table),
                f"a table that can hold {self.layout.name} rows; it exists and {'; '.join(problems)}. "
                "Load into another table, or fix (or drop) this one",
            )
        self.exists = True
        return True

    # -- the transaction ------------------------------------------------------------------------------
    def load(self, conn: Any) -> LoadResult:
        """Replace the day's rows with the file's, in one transaction (see the module docstring).

        :param conn: a DB-API connection, not in autocommit mode.
        :returns: a :class:`LoadResult`.
        :raises ValidationError: a bad row (without ``skip_bad_rows``), or no loadable row at all.
        """
        assert self.layout is not None, "use RecordsLoader as a context manager"
        if self.exists is None:
            self.check_table(conn)
        layout, dialect = self.layout, self.dialect
        result = LoadResult(
            table=str(self.table),
            day=self.day.isoformat(),
            source=self.file.url,
            source_format=layout.name,
            file_format=self.file.file_format,
            dialect=dialect.name,
            ignored_columns=list(self.ignored),
        )
        table = self.table.sql(dialect)
        adapt_day = dialect.adapter("date")
        day_value = adapt_day(self.day) if adapt_day is not None else self.day
        assert self.converter is not None
        written = [c.name for c in self.converter.columns] + [self.partition_column]
        column_list = ", ".join(dialect.quote(name) for name in written)
        cursor = conn.cursor()
        try:
            if dialect.begin:
                cursor.execute(dialect.begin)
                if not self.exists:  # another load may have created it while this one waited for the lock
                    self.check_table(conn)
            if not self.exists:
                for statement in create_table_sql(dialect, self.table, layout, self.partition_column):
                    cursor.execute(statement)
                result.created = True
                log.info("created table %s (%s, %s)", self.table, layout.name, dialect.name)
            if dialect.lock:
                cursor.execute(dialect.lock.format(table=table))
            cursor.execute(f"DELETE FROM {table} WHERE {dialect.quote(self.partition_column)} = {self.placeholder}",
                           (day_value,))  # fmt: skip
            result.rows_deleted = max(cursor.rowcount, 0)
            insert = self._insert(cursor, table, column_list, len(written))
            last_log = time.monotonic()
            for batch in self._batches(result, day_value):
                insert(batch)
                result.rows_inserted += len(batch)
                if time.monotonic() - last_log >= self.progress_seconds:
                    last_log = time.monotonic()
                    spent = last_log - self._started
                    log.info("%s: %d rows loaded (%.0f rows/s)", self.table, result.rows_inserted,
                             result.rows_inserted / spent if spent else 0.0)  # fmt: skip
            if result.rows_read and not result.rows_inserted:
                raise ValidationError(
                    self.file.field,
                    self.file.url,
                    f"at least one loadable row: all {result.rejected} rows are bad; the day's rows were left as they were",
                )
            cursor.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {dialect.quote(self.partition_column)} = {self.placeholder}",
                (day_value,),
            )
            (count,) = cursor.fetchone()
            if int(count) != result.rows_inserted:  # another writer, or a trigger on the table
                raise RuntimeError(
                    f"{self.table}: day {result.day} holds {count} rows after inserting {result.rows_inserted}: "
                    "another process wrote the same day at the same time; the load was rolled back"
                )
            if self.rejects is not None:
                result.rejects_path = self.rejects.commit()
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception as exc:  # the connection may be gone: the database rolls back by itself
                log.warning("rollback of the load into %s failed: %s", self.table, exc)
            if self.rejects is not None:
                self.rejects.abort()
            raise
        finally:
            try:
                cursor.close()
            except Exception:  # pragma: no cover - a closed connection's cursor
                pass
        result.rejected_rows = [row.masked() for row in self._rejected[: self.keep_rejected]]
        result.seconds = time.monotonic() - self._started
        return result

    def _insert(self, cursor: Any, table: str, column_list: str, width: int) -> Callable[[list[list[Any]]], None]:
        """``insert(batch)``: ``COPY ... FROM STDIN`` on Postgres (psycopg 3 or psycopg2: the same
        transaction, far fewer round trips), else the driver's ``executemany``."""
        driver = type(cursor).__module__.split(".", 1)[0]
        copy = f"COPY {table} ({column_list}) FROM STDIN"
        if self.dialect.name == "postgresql" and driver == "psycopg" and hasattr(cursor, "copy"):

            def copy_rows(batch: list[list[Any]]) -> None:
                with cursor.copy(copy) as stream:
                    for row in batch:
                        stream.write_row(row)

            return copy_rows
        if self.dialect.name == "postgresql" and driver == "psycopg2" and hasattr(cursor, "copy_expert"):

            def copy_csv(batch: list[list[Any]]) -> None:
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
                writer.writerows([_csv_cell(v) for v in row] for row in batch)
                buffer.seek(0)
                cursor.copy_expert(f"{copy} WITH (FORMAT csv)", buffer)

            return copy_csv
        marks = ", ".join([self.placeholder] * width)
        statement = f"INSERT INTO {table} ({column_list}) VALUES ({marks})"
        return lambda batch: cursor.executemany(statement, batch)

    def _batches(self, result: LoadResult, day_value: Any) -> Iterator[list[list[Any]]]:
        assert self.converter is not None
        convert = self.converter
        adapters = [
            (index, adapt)
            for index, column in enumerate(convert.columns)
            if (adapt := self.dialect.adapter(column.kind)) is not None
        ]
        batch: list[list[Any]] = []
        for line, row, problem in self.file:
            result.rows_read += 1
            values: list[Any] = []
            if problem is None:
                try:
                    values = convert(row)
                except RowError as exc:
                    problem = str(exc)
            if problem is not None:
                self._bad(result, line, row, problem)
                continue
            for index, adapt in adapters:
                values[index] = adapt(values[index])
            values.append(day_value)
            batch.append(values)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _bad(self, result: LoadResult, line: int, row: Any, problem: str) -> None:
        where = "row" if self.file.file_format == "parquet" else "line"
        if not self.skip_bad_rows:
            raise ValidationError(
                f"{self.file.field}[{where} {line}]",
                mask_value(row, 120),
                f"{redact(problem, phones=True)}. Nothing was written (the load is rolled back); fix the file, or set "
                "skip_bad_rows=True to load the other rows and write the bad ones to a rejects file",
            )
        result.rejected += 1
        bad = InvalidRow(line=line, value=row, reason=problem)
        if len(self._rejected) < self.keep_rejected:
            self._rejected.append(bad)
        if self.rejects is not None:
            self.rejects.add(bad)
