"""Load call records (TeleVoIPs CDRs, Kaleyra / Velip call reports, outcome tables) into any SQL database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import Asset, BaseHook

from airflow_provider_voice.capabilities.recipients import RejectsFile, rejects_name_from_context
from airflow_provider_voice.capabilities.records_loader import (
    DEFAULT_BATCH_SIZE,
    FILE_FORMATS,
    LoadResult,
    RecordFile,
    RecordsLoader,
)
from airflow_provider_voice.capabilities.records_table import (
    OUTCOMES_TABLE,
    RecordsLayout,
    SqlDialect,
    TableName,
    check_identifier,
    dialect_for,
    zone,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.report_window import run_window
from airflow_provider_voice.operators.base import VoiceOperator, input_errors, rendered_mapping
from airflow_provider_voice.vendors.kaleyra import KALEYRA_CALLS_TABLE
from airflow_provider_voice.vendors.televoips import CDR_TABLE
from airflow_provider_voice.vendors.velip import VELIP_CALLS_TABLE

__all__ = ["RECORD_LAYOUTS", "LoadCallRecordsOperator"]

#: every ``source_format`` the operator loads, and its table layout (one line per kind of file)
RECORD_LAYOUTS: dict[str, RecordsLayout] = {
    layout.name: layout for layout in (CDR_TABLE, KALEYRA_CALLS_TABLE, VELIP_CALLS_TABLE, OUTCOMES_TABLE)
}
#: keys of an upstream task's XCom that name the file, in the order they are tried
_PATH_KEYS = ("path", "parquet_path", "csv_path")
_DIALECT_ARGS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "ansi")
_DAY = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


class LoadCallRecordsOperator(VoiceOperator):
    """Loads a call-records file into a table of any ``common.sql`` database, replacing one day.

    The file — a TeleVoIPs CDR CSV (:class:`~airflow_provider_voice.operators.cdr.DownloadCdrReportOperator`),
    a Kaleyra or Velip call-report export (CSV or JSONL, :mod:`~airflow_provider_voice.operators.reports`) or an
    outcome table (CSV or Parquet) — is streamed in batches of ``batch_size`` rows into a typed table
    (created when missing: timestamps, integers, floats, text, and the partition column ``load_day``; the
    DDL per dialect is in ``docs/operators/records_sql.md``). A rerun for the same day deletes that day's rows
    and inserts the file's in **one transaction**: it never duplicates, and a failed load leaves the day as it
    was. The database is reached as common-sql's operators do: ``BaseHook.get_connection(conn_id).get_hook()``
    (any ``DbApiHook``: SQLite, Postgres, MySQL...); the dialect (column types, quoting, locking) comes from
    the hook's SQLAlchemy dialect name, else the connection type.

    Checked before any write (a :class:`~airflow_provider_voice.errors.ValidationError`, not retried): the
    source, its format (``source_format`` or detected from the header when only one layout fits), its
    required columns, the table name, and an existing table's columns (each column loaded must exist with a
    type of the same family). A row that does not convert fails the load (nothing written), or with
    ``skip_bad_rows=True`` is counted and written to a rejects file (CSV ``line,value,reason``).

    :param source: the file: a local path, ``file://``/``s3://``... URL, ``ObjectStoragePath``, the upstream
        task's XCom (a mapping with ``path``, or ``parquet_path``/``csv_path`` for outcome tables: e.g.
        ``DownloadCdrReportOperator(...).output``), or an ``Asset`` (the file named by the ``path`` in the
        extra of the asset event that triggered the run, else of its latest event, else the Asset's URI).
        Templated.
    :param conn_id: the database connection (any type whose hook is a common-sql ``DbApiHook``). Templated.
    :param table: ``table`` or ``schema.table`` (plain names: letters, digits, ``_``). Templated.
    :param source_format: ``televoips_cdr``, ``kaleyra_calls``, ``velip_calls`` or ``outcomes``; None: detected
        from the file's columns (an error when no layout, or several, fit). Templated.
    :param day: the day the rows are loaded as (``YYYY-MM-DD``, a date or datetime). Templated. None: the
        ``day`` of the source XCom (or its ``from`` when ``from == to``), else a ``YYYY-MM-DD`` in the file
        name, else the first day of the run's data interval, else the UTC day of ``dag_run.run_after``.
    :param file_format: ``csv``, ``jsonl`` or ``parquet``; None: the file's suffix.
    :param partition_column: the day column (default ``load_day``; ``DATE``, ``NOT NULL``, indexed).
    :param timezone: the zone of date-times written without one (default: the layout's, UTC for TeleVoIPs
        and outcome tables, ``Asia/Kolkata`` for Kaleyra, ``America/Sao_Paulo`` for Velip). Templated.
    :param skip_bad_rows: leave bad rows out, count them and write them to the rejects file, instead of failing.
        A file whose every row is bad fails even so (it would replace the day with nothing).
    :param rejects_path: the rejects file (with ``skip_bad_rows``); default
        ``<[voice] rejects_path or $AIRFLOW_HOME/voice/rejects>/<dag_id>/<run_id>/<task_id>-records.csv``.
        Templated.
    :param batch_size: rows per ``executemany`` (1-100,000; default 5,000): what the task holds in memory.
    :param create_table: create the table when it does not exist (default); False: a missing table is an error.
    :param dialect: force the SQL dialect (``sqlite``, ``postgresql``, ``mysql``, ``ansi``); None: the hook's.
    :param storage_conn_id: the object-storage connection for a ``s3://``... source, if any.
    :param db_hook_params: keyword arguments of the database hook (``conn.get_hook(hook_params=...)``).

    Returns (XCom): ``{"table", "day", "source", "source_format", "file_format", "dialect", "rows_read",
    "rows_inserted", "rows_deleted", "rejected", "rejects_path", "rejected_rows", "created",
    "ignored_columns", "seconds", "rows_per_second"}`` (``rows_deleted``: the day's rows replaced;
    ``rejected_rows``: the first bad rows with phone numbers masked).
    """

    template_fields: Sequence[str] = (
        "source",
        "conn_id",
        "table",
        "source_format",
        "day",
        "timezone",
        "rejects_path",
    )
    template_fields_renderers = {"source": "json"}
    ui_color = "#eaf5e9"

    def __init__(
        self,
        *,
        source: Any,
        conn_id: str,
        table: str,
        source_format: str | None = None,
        day: Any = None,
        file_format: str | None = None,
        partition_column: str = "load_day",
        timezone: str | None = None,
        skip_bad_rows: bool = False,
        rejects_path: Any = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        create_table: bool = True,
        dialect: str | None = None,
        storage_conn_id: str | None = None,
        db_hook_params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if source_format not in (None, "") and not _templated(source_format) and source_format not in RECORD_LAYOUTS:
            raise ValidationError("source_format", source_format, f"one of {', '.join(RECORD_LAYOUTS)} (or None)")
        if file_format not in (None, *FILE_FORMATS):
            raise ValidationError("file_format", file_format, "csv, jsonl or parquet (or None: the file's suffix)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 100_000:
            raise ValidationError("batch_size", batch_size, "an integer from 1 to 100000")
        if not isinstance(skip_bad_rows, bool):
            raise ValidationError("skip_bad_rows", skip_bad_rows, "True or False")
        if dialect is not None and dialect not in _DIALECT_ARGS:
            raise ValidationError("dialect", dialect, f"one of {', '.join(_DIALECT_ARGS)} (or None: the hook's)")
        check_identifier(partition_column, field="partition_column")
        if not _templated(table):
            TableName.parse(table)
        if isinstance(source, Asset):
            kwargs["inlets"] = [*(kwargs.get("inlets") or []), source]
        super().__init__(**kwargs)
        self.source = source
        self.conn_id = conn_id
        self.table = table
        self.source_format = source_format
        self.day = day
        self.file_format = file_format
        self.partition_column = partition_column
        self.timezone = timezone
        self.skip_bad_rows = skip_bad_rows
        self.rejects_path = rejects_path
        self.batch_size = batch_size
        self.create_table = create_table
        self.dialect = dialect
        self.storage_conn_id = storage_conn_id
        self.db_hook_params = dict(db_hook_params or {})

    # -- the database -------------------------------------------------------------------------------
    @cached_property
    def db_hook(self) -> Any:
        """The connection's ``DbApiHook`` (built at execute time, as common-sql's operators do)."""
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        connection = BaseHook.get_connection(str(self.conn_id))
        hook = connection.get_hook(hook_params=self.db_hook_params or None)
        if not isinstance(hook, DbApiHook):
            raise ValidationError(
                "conn_id",
                str(self.conn_id),
                f"a SQL database connection (its hook a common.sql DbApiHook); type {connection.conn_type!r} "
                f"gives {type(hook).__name__}",
            )
        return hook

    def sql_dialect(self, hook: Any) -> SqlDialect:
        """``dialect`` as given, else the hook's SQLAlchemy dialect name, else the connection type."""
        if self.dialect:
            return dialect_for(self.dialect)
        name = None
        try:
            name = hook.dialect_name
        except Exception:  # a hook without a SQLAlchemy URL
            name = None
        if name in (None, "", "default"):
            name = getattr(getattr(hook, "connection", None), "conn_type", None)
        chosen = dialect_for(name)
        if chosen.name == "ansi":
            self.log.warning("SQL dialect %r is not one the loader knows: ANSI types and statements are used", name)
        return chosen

    # -- the source and the day ----------------------------------------------------------------------
    def source_location(self, context: Any) -> tuple[Any, Mapping[str, Any]]:
        """The file to read, and the mapping it came from (an XCom; empty otherwise)."""
        value = self.source
        if isinstance(value, Asset):
            return self._asset_file(value, context)
        value = rendered_mapping(value, field="source", rule="a path, a URL or an XCom mapping with 'path'")
        if isinstance(value, Mapping):
            for key in _PATH_KEYS:
                if value.get(key):
                    return value[key], value
            nested = value.get("outcomes")
            if isinstance(nested, Mapping):
                for key in _PATH_KEYS:
                    if nested.get(key):
                        return nested[key], value
            raise ValidationError("source", sorted(value), f"an XCom mapping with one of {', '.join(_PATH_KEYS)}")
        if value in (None, ""):
            raise ValidationError("source", value, "a path, URL, ObjectStoragePath, XCom mapping or Asset")
        return value, {}

    def _asset_file(self, asset: Asset, context: Any) -> tuple[Any, Mapping[str, Any]]:
        """The file an Asset stands for, and the event extra that named it: the ``path`` of the triggering
        event's extra, else of the latest event, else the Asset's URI."""
        for events in (_mapping_get(context, "triggering_asset_events"), _mapping_get(context, "inlet_events")):
            found = _events_for(events, asset)
            for event in reversed(found):
                extra = getattr(event, "extra", None) or {}
                if isinstance(extra, Mapping) and extra.get("path"):
                    return extra["path"], extra
        return asset.uri, {}

    def load_day(self, context: Any, origin: Mapping[str, Any], location: Any) -> tuple[dt.date, str]:
        """The day the rows are loaded as, and why (see ``day``)."""
        if self.day not in (None, ""):
            return _as_date(self.day, "day"), "day as given"
        if origin.get("day"):
            return _as_date(origin["day"], "source.day"), "the source XCom's day"
        if origin.get("from") and origin.get("from") == origin.get("to"):
            return _as_date(origin["from"], "source.from"), "the source XCom's from/to"
        name = str(getattr(location, "name", "") or str(location).rstrip("/").rsplit("/", 1)[-1])
        match = _DAY.search(name)
        if match:
            return _as_date(match.group(1), "source"), f"the file name {name}"
        window = run_window(context or {})
        if window.source == "data_interval" and window.start is not None:
            return window.start.astimezone(dt.timezone.utc).date(), window.describe()
        if window.anchor is not None:
            return window.anchor.astimezone(dt.timezone.utc).date(), window.describe()
        raise ValidationError("day", None, "a day (YYYY-MM-DD): the source, its name and the run give none")

    # -- execute ------------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        with input_errors():
            location, origin = self.source_location(context)
            day, why = self.load_day(context, origin, location)
            table = TableName.parse(self.table)
            if self.timezone:
                zone(str(self.timezone))
            file = RecordFile(location, self.file_format, storage_conn_id=self.storage_conn_id)
            rejects = (
                RejectsFile(self.rejects_path, rejects_name_from_context(context, suffix="-records"), "records")
                if self.skip_bad_rows
                else None
            )
        self.log.info("loading %s into %s for %s %s (%s)", file.url, table, self.partition_column, day, why)
        hook = self.db_hook
        dialect = self.sql_dialect(hook)
        with input_errors():
            loader = RecordsLoader(
                file,
                layouts=RECORD_LAYOUTS,
                source_format=self.source_format or None,
                table=table,
                day=day,
                dialect=dialect,
                placeholder=hook.placeholder,
                partition_column=self.partition_column,
                timezone=self.timezone or None,
                batch_size=self.batch_size,
                create_table=self.create_table,
                skip_bad_rows=self.skip_bad_rows,
                rejects=rejects,
            )
            loader.__enter__()
        try:
            result = self._load(hook, loader)
        finally:
            loader.__exit__(None, None, None)
        self._log_result(result)
        return result.to_dict()

    def _load(self, hook: Any, loader: RecordsLoader) -> LoadResult:
        conn = hook.get_conn()
        try:
            if getattr(hook, "supports_autocommit", False):
                hook.set_autocommit(conn, False)
            with input_errors():  # bad input (an incompatible table, a bad row) is not retried
                loader.check_table(conn)
                return loader.load(conn)
        finally:
            try:
                conn.close()
            except Exception as exc:  # pragma: no cover - a connection already gone
                self.log.warning("closing the database connection failed: %s", exc)

    def _log_result(self, result: LoadResult) -> None:
        self.log.info(
            "%s day %s: %d rows inserted, %d replaced, %d rejected, of %d read, in %.1f s (%.0f rows/s)%s",
            result.table, result.day, result.rows_inserted, result.rows_deleted, result.rejected, result.rows_read,
            result.seconds, result.rows_per_second, " (table created)" if result.created else "",
        )  # fmt: skip
        if result.rejected:
            sample = "; ".join(f"line {r['line']}: {r['reason']}" for r in result.rejected_rows[:5])
            self.log.warning(
                "%d bad row(s) left out (skip_bad_rows=True), all of them in %s; first: %s",
                result.rejected, result.rejects_path, sample,
            )  # fmt: skip


def _mapping_get(context: Any, key: str) -> Any:
    try:
        return context[key] if context is not None and key in context else None
    except Exception:  # a lazy context entry that cannot be read outside a run
        return None


def _events_for(events: Any, asset: Asset) -> list[Any]:
    """The events of ``asset`` in a ``triggering_asset_events`` / ``inlet_events`` accessor (empty when none)."""
    if events is None:
        return []
    try:
        found = events[asset]
    except Exception:  # no event of it, or an accessor keyed otherwise
        found = None
    if found is None and isinstance(events, Mapping):
        found = next((v for k, v in events.items() if getattr(k, "uri", k) == asset.uri), None)
    try:
        return list(found or [])
    except TypeError:
        return []


def _as_date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.timezone.utc) if value.tzinfo else value).date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return _as_date(dt.datetime.fromisoformat(text), field)
    except ValueError:
        raise ValidationError(field, value, "a day as YYYY-MM-DD (a date or datetime)") from None
