"""Outcome tables on disk or object storage: CSV and Parquet with one documented schema.

:class:`OutcomeTableWriter` streams :class:`~airflow_provider_voice.models.outcomes.RecipientOutcome`
rows into a CSV file and a Parquet file (pyarrow) at once, in bounded memory (Parquet row groups
of :data:`ROW_GROUP` rows), each written atomically (:func:`~airflow_provider_voice.storage.open_atomic`:
a reader never sees half a table). Columns and types: :data:`~airflow_provider_voice.models.outcomes.OUTCOME_COLUMNS`.

:func:`outcome_table_paths` says where the files go: a ``.csv`` or ``.parquet`` destination names
one file and its sibling gets the other suffix; any other destination is a stem (``<stem>.csv``,
``<stem>.parquet``).

:class:`OutcomeTableRows` reads a table back (CSV or Parquet, local or object storage), keeping
only rows with given outcomes: the recipient source of a redial (``recipients=<table>``
with ``recipient_outcomes=[...]``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.outcomes import OUTCOME_COLUMNS, OUTCOMES, RecipientOutcome
from airflow_provider_voice.storage import describe_destination, open_atomic, resolve_destination, resolve_location

__all__ = [
    "FORMATS",
    "ROW_GROUP",
    "OutcomeTableRows",
    "OutcomeTableWriter",
    "WrittenTable",
    "arrow_schema",
    "outcome_table_paths",
]

#: the formats an outcome table is written in
FORMATS = ("csv", "parquet")
#: Parquet rows per row group (what the writer holds in memory)
ROW_GROUP = 10_000
_CSV_FLUSH = 256 * 1024


def arrow_schema() -> Any:
    """The Parquet schema (``pyarrow.Schema``) of :data:`OUTCOME_COLUMNS`."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "int32": pa.int32(),
        "float64": pa.float64(),
        "timestamp[ms, tz=UTC]": pa.timestamp("ms", tz="UTC"),
    }
    return pa.schema(
        [pa.field(name, types[kind], metadata={"description": meaning}) for name, kind, meaning in OUTCOME_COLUMNS],
        metadata={"airflow_provider_voice": "outcome table v1", "outcomes": ",".join(OUTCOMES)},
    )


def _formats(formats: Sequence[str] | str) -> tuple[str, ...]:
    chosen = (formats,) if isinstance(formats, str) else tuple(formats)
    if chosen == ("both",):
        chosen = FORMATS
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise ValidationError("outcomes_format", formats, "csv, parquet or both")
    return tuple(dict.fromkeys(chosen))


def outcome_table_paths(destination: Any, formats: Sequence[str] | str = FORMATS) -> dict[str, Any]:
    """``{"csv": path, "parquet": path}`` (the formats asked for) for ``destination``.

    :param destination: a local path, URL or ``ObjectStoragePath``; ``x.csv`` / ``x.parquet`` name a
        file (the other format goes beside it), anything else is a stem.
    :param formats: ``("csv", "parquet")`` (default), one of them, or ``"both"``.
    """
    chosen = _formats(formats)
    path = resolve_destination(destination)
    name = path.name
    stem_name = name
    for suffix in (".csv", ".parquet"):
        if name.lower().endswith(suffix):
            stem_name = name[: -len(suffix)]
    if not stem_name:
        raise ValidationError("outcomes_path", str(destination), "a file name or stem, not a bare suffix")
    parent = path.parent
    return {fmt: parent / f"{stem_name}.{fmt}" for fmt in chosen}


@dataclass
class WrittenTable:
    """What :class:`OutcomeTableWriter` wrote: ``files`` (format -> URL), ``rows``, ``counts`` per outcome."""

    files: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """XCom-safe: the files, the row count and the counts per outcome (no number, no name)."""
        return {
            "rows": self.rows,
            "counts": dict(self.counts),
            **{f"{fmt}_path": url for fmt, url in self.files.items()},
        }


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class OutcomeTableWriter:
    """Write an outcome table (see the module docstring). Use as a context manager::

        with OutcomeTableWriter("s3://bucket/outcomes/run-1") as table:
            for row in rows:
                table.add(row)
        table.written.files  # {"csv": "s3://...csv", "parquet": "s3://...parquet"}

    Nothing is at the destination until the block ends without an error.

    :param destination: where (see :func:`outcome_table_paths`).
    :param formats: ``("csv", "parquet")`` (default), one of them, or ``"both"``.
    """

    def __init__(self, destination: Any, *, formats: Sequence[str] | str = FORMATS) -> None:
        self.paths = outcome_table_paths(destination, formats)
        self.written = WrittenTable()
        self._counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._stack: list[Any] = []
        self._csv: Any = None
        self._csv_buffer: io.StringIO | None = None
        self._csv_writer: Any = None
        self._parquet: Any = None
        self._batch: list[dict[str, Any]] = []

    def __enter__(self) -> OutcomeTableWriter:
        import contextlib

        stack = contextlib.ExitStack()
        self._stack.append(stack)
        names = [name for name, _, _ in OUTCOME_COLUMNS]
        if "csv" in self.paths:
            self._csv = stack.enter_context(open_atomic(self.paths["csv"]))
            self._csv_buffer = io.StringIO()
            self._csv_writer = csv.DictWriter(self._csv_buffer, fieldnames=names, lineterminator="\n")
            self._csv_writer.writeheader()
        if "parquet" in self.paths:
            import pyarrow as pa
            import pyarrow.parquet as pq

            target = stack.enter_context(open_atomic(self.paths["parquet"]))
            sink = pa.PythonFile(target.handle, mode="w")
            self._parquet = pq.ParquetWriter(sink, arrow_schema(), compression="zstd")
            stack.callback(self._parquet.close)  # runs before the atomic file is committed
        return self

    def add(self, outcome: RecipientOutcome) -> None:
        """Append one row."""
        row = outcome.row()
        self._counts[outcome.outcome] = self._counts.get(outcome.outcome, 0) + 1
        self.written.rows += 1
        if self._csv_writer is not None and self._csv_buffer is not None:
            self._csv_writer.writerow(row)
            if self._csv_buffer.tell() >= _CSV_FLUSH:
                self._flush_csv()
        if self._parquet is not None:
            self._batch.append(row)
            if len(self._batch) >= ROW_GROUP:
                self._flush_parquet()

    def add_all(self, outcomes: Iterable[RecipientOutcome]) -> None:
        """Append every row of ``outcomes``."""
        for outcome in outcomes:
            self.add(outcome)

    def _flush_csv(self) -> None:
        assert self._csv_buffer is not None
        self._csv.write(self._csv_buffer.getvalue().encode("utf-8"))
        self._csv_buffer.seek(0)
        self._csv_buffer.truncate()

    def _flush_parquet(self) -> None:
        if not self._batch:
            return
        import pyarrow as pa

        rows = self._batch
        self._batch = []
        columns: dict[str, list[Any]] = {name: [] for name, _, _ in OUTCOME_COLUMNS}
        for row in rows:
            for name in columns:
                value = row[name]
                if name in ("started_at", "ended_at"):
                    value = _timestamp(value)
                elif name == "variables":
                    value = value or None
                columns[name].append(value)
        self._parquet.write_table(pa.Table.from_pydict(columns, schema=arrow_schema()))

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        stack = self._stack.pop()
        if kind is None:
            try:
                if self._csv_writer is not None:
                    self._flush_csv()
                if self._parquet is not None:
                    self._flush_parquet()
            except BaseException:
                stack.__exit__(*__import__("sys").exc_info())
                raise
        stack.__exit__(kind, value, traceback)
        if kind is None:
            self.written.files = {fmt: describe_destination(path) for fmt, path in self.paths.items()}
            self.written.counts = dict(self._counts)


class OutcomeTableRows:
    """The rows of an outcome table (CSV or Parquet) as recipient mappings, optionally only those
    with given outcomes — a recipient source (``RecipientSource(OutcomeTableRows(...))``).

    Each row becomes ``{"number", "name", "row_id", "variables": {...}}``: a redial keeps the
    original row ids and variables, so its own table joins back to the first input.

    :param source: the table: a ``.csv`` / ``.parquet`` path, URL or ``ObjectStoragePath``.
    :param outcomes: keep only rows with these outcomes (None: every row).
    :param field: the argument name in errors.
    """

    def __init__(self, source: Any, *, outcomes: Sequence[str] | None = None, field: str = "recipients") -> None:
        self.source = source
        self.outcomes = None if outcomes is None else frozenset(outcomes)
        self.field = field
        self.read = 0
        self.kept = 0
        self.counts: dict[str, int] = {}

    def _path(self) -> Any:
        return resolve_location(self.source, field=self.field)

    def _format(self, path: Any) -> str:
        name = str(getattr(path, "name", path)).lower()
        if name.endswith(".parquet"):
            return "parquet"
        if name.endswith(".csv"):
            return "csv"
        raise ValidationError(self.field, str(self.source), "an outcome table is a .csv or .parquet file")

    def outcome_rows(self) -> Iterator[RecipientOutcome]:
        """Every row of the table as a :class:`RecipientOutcome` (the outcome filter applied)."""
        path = self._path()
        fmt = self._format(path)
        self.read = self.kept = 0
        self.counts = {}
        rows = self._parquet_rows(path) if fmt == "parquet" else self._csv_rows(path)
        for line, row in rows:
            try:
                outcome = RecipientOutcome.from_row(row)
            except (ValueError, TypeError) as exc:
                raise ValidationError(
                    self.field, f"row {line}", f"not an outcome table row ({describe_destination(path)}): {_why(exc)}"
                ) from None
            self.read += 1
            self.counts[outcome.outcome] = self.counts.get(outcome.outcome, 0) + 1
            if self.outcomes is not None and outcome.outcome not in self.outcomes:
                continue
            self.kept += 1
            yield outcome

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for outcome in self.outcome_rows():
            row: dict[str, Any] = {"number": outcome.number, "row_id": outcome.row_id}
            if outcome.name is not None:
                row["name"] = outcome.name
            if outcome.variables:
                row["variables"] = dict(outcome.variables)
            yield row

    def _csv_rows(self, path: Any) -> Iterator[tuple[int, dict[str, Any]]]:
        opener = path.open("r", encoding="utf-8", newline="") if isinstance(path, Path) else None
        if opener is None:
            raw = path.open("rb")
            opener = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        with opener as handle:
            reader = csv.DictReader(handle)
            missing = [name for name, _, _ in OUTCOME_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise ValidationError(
                    self.field, describe_destination(path), f"not an outcome table: no column(s) {', '.join(missing)}"
                )
            yield from enumerate(reader, start=2)

    def _parquet_rows(self, path: Any) -> Iterator[tuple[int, dict[str, Any]]]:
        import pyarrow.parquet as pq

        with path.open("rb") as handle:
            try:
                parquet = pq.ParquetFile(handle)
            except Exception as exc:  # pyarrow raises ArrowInvalid & co. for a file that is not Parquet
                raise ValidationError(self.field, describe_destination(path), f"not a Parquet file: {exc}") from None
            names = parquet.schema_arrow.names
            missing = [name for name, _, _ in OUTCOME_COLUMNS if name not in names]
            if missing:
                raise ValidationError(
                    self.field, describe_destination(path), f"not an outcome table: no column(s) {', '.join(missing)}"
                )
            line = 0
            for batch in parquet.iter_batches(batch_size=ROW_GROUP):
                for row in batch.to_pylist():
                    line += 1
                    yield line, row


def _why(exc: BaseException) -> str:
    """A pydantic error as ``column: message (got value)``; any other error as its text."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = dict(errors()[0])
        where = ".".join(str(p) for p in first.get("loc", ())) or "row"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return f"{where}: {message}"
    return str(exc)
