"""Call-records load benchmark: 100,000 TeleVoIPs CDR rows into SQLite (and Postgres when one can be started).

Setup (not measured): a CDR CSV of ``--rows`` calls over one day, made with the simulator's own row
generator (``testing/televoips.py``: ``CDR_HEADER``, ``_cdr_row``), about 250 bytes a row.

Measured, each a wall time and rows/s:

* **convert only** — the file read and every row converted to its typed values
  (``RecordFile`` + ``RowConverter``), no database: the Python side's ceiling.
* **SQLite, first load** — ``LoadCallRecordsOperator.execute`` on an ``AIRFLOW_CONN_*`` connection of type
  ``sqlite`` (``apache-airflow-providers-sqlite``): the table is created, 5,000-row ``executemany``
  batches, one transaction.
* **SQLite, rerun** — the same file for the same day: the day's 100,000 rows deleted, then inserted again.
* **Postgres, first load / rerun** (``--postgres auto``, the default: when ``psycopg`` (3) and the
  PostgreSQL server binaries are installed, e.g. ``.venv-e2e/bin/python benchmarks/bench_load_records.py``):
  a throw-away cluster on 127.0.0.1 started as ``make e2e`` starts it (``e2e/stack.py``, ``fsync=off``), loaded
  through ``RecordsLoader`` on a psycopg connection (``COPY ... FROM STDIN`` batches). Skipped, and said so,
  otherwise.

Figures are printed, never asserted. About 20 s on 2 cores. Run: ``python benchmarks/bench_load_records.py
[--rows 100000] [--postgres auto|off]``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import glob
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAY = "2024-05-01"


def write_cdr(path: Path, rows: int) -> None:
    """A CDR CSV of ``rows`` calls spread over :data:`DAY`, from the simulator's generator."""
    from airflow_provider_voice.testing.televoips import CDR_HEADER, _cdr_row

    rng = random.Random(f"bench|{DAY}")
    start = int(dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.timezone.utc).timestamp())
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CDR_HEADER)
        for index in range(rows):
            stamp = start + index * 86_400 // rows
            calldate = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            writer.writerow(_cdr_row(rng, index, calldate, stamp))


def line(label: str, rows: int, seconds: float) -> str:
    """One figure: label, rows, seconds, rows/s."""
    return f"  {label:<28} {rows:>9,} rows {seconds:>7.2f} s {rows / seconds if seconds else 0:>10,.0f} rows/s"


def convert_only(path: Path) -> tuple[int, float]:
    """Read and convert every row, no database."""
    from airflow_provider_voice.capabilities.records_loader import RecordFile
    from airflow_provider_voice.vendors.televoips import CDR_TABLE

    started = time.perf_counter()
    count = 0
    with RecordFile(str(path)) as records:
        names = CDR_TABLE.header(records.header)
        records.use_names(names)
        convert = CDR_TABLE.row_converter(names, text_cells=True)
        for _, row, _ in records:
            convert(row)
            count += 1
    return count, time.perf_counter() - started


def sqlite_loads(path: Path, work: Path) -> list[tuple[str, int, float]]:
    """First load and rerun into SQLite: through the operator (``apache-airflow-providers-sqlite``
    installed), else through ``RecordsLoader`` on a ``sqlite3`` connection (said in the label)."""
    if importlib.util.find_spec("airflow.providers.sqlite") is None:
        import sqlite3

        return [
            (f"{label} (sqlite3, no hook)", *_loader_run(sqlite3.connect(work / "bench.db"), "sqlite", "?", path))
            for label in ("SQLite, first load", "SQLite, rerun (replace)")
        ]
    os.environ["AIRFLOW_CONN_BENCH_RECORDS"] = json.dumps({"conn_type": "sqlite", "host": str(work / "bench.db")})
    from airflow_provider_voice.operators.records_sql import LoadCallRecordsOperator

    figures = []
    for label in ("SQLite, first load", "SQLite, rerun (replace)"):
        op = LoadCallRecordsOperator(task_id="bench", source=str(path), day=DAY, conn_id="bench_records", table="cdr")
        started = time.perf_counter()
        result = op.execute({})
        figures.append((label, int(result["rows_inserted"]), time.perf_counter() - started))
        if label.endswith("(replace)") and result["rows_deleted"] != result["rows_inserted"]:
            print(f"  (unexpected: {result['rows_deleted']} deleted, {result['rows_inserted']} inserted)")
    return figures


def _loader_run(conn: Any, dialect: str, placeholder: str, path: Path) -> tuple[int, float]:
    """One load of ``path`` through ``RecordsLoader`` on ``conn``: (rows inserted, seconds)."""
    from airflow_provider_voice.capabilities.records_loader import RecordFile, RecordsLoader
    from airflow_provider_voice.capabilities.records_table import TableName, dialect_for
    from airflow_provider_voice.operators.records_sql import RECORD_LAYOUTS

    started = time.perf_counter()
    loader = RecordsLoader(
        RecordFile(str(path)),
        layouts=RECORD_LAYOUTS,
        source_format="televoips_cdr",
        table=TableName("cdr"),
        day=dt.date.fromisoformat(DAY),
        dialect=dialect_for(dialect),
        placeholder=placeholder,
    )
    with loader:
        result = loader.load(conn)
    return result.rows_inserted, time.perf_counter() - started


def postgres_loads(path: Path, work: Path) -> list[tuple[str, int, float]] | str:
    """First load and rerun into a throw-away Postgres (see the module docstring); or why not."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg (3) is not installed in this environment (it is in .venv-e2e)"
    if not glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        return "no PostgreSQL server binaries (bash e2e/system-packages.sh installs them)"
    sys.path.insert(0, str(REPO))
    import psycopg

    from e2e.stack import Stack

    (work / "pg" / "logs").mkdir(parents=True)
    stack = Stack(work / "pg")
    figures: list[tuple[str, int, float]] = []
    try:
        stack.start_postgres()
        conn = psycopg.connect(host="127.0.0.1", port=stack.ports["postgres"], user="airflow", dbname="airflow")
        try:
            for label in ("Postgres, first load", "Postgres, rerun (replace)"):
                figures.append((label, *_loader_run(conn, "postgresql", "%s", path)))
        finally:
            conn.close()
    finally:
        stack.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="CDR rows in the file (default 100000)")
    parser.add_argument("--postgres", choices=("auto", "off"), default="auto", help="also load into Postgres")
    args = parser.parse_args(argv)
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-records-home-"))
    with tempfile.TemporaryDirectory(prefix="bench-records-") as folder:
        work = Path(folder)
        path = work / f"cdrs_{DAY}.csv"
        started = time.perf_counter()
        write_cdr(path, args.rows)
        print(
            f"bench_load_records: {args.rows:,} TeleVoIPs CDR rows, {path.stat().st_size / 1e6:.1f} MB CSV "
            f"(generated in {time.perf_counter() - started:.1f} s, not measured); {os.cpu_count()} cores"
        )
        rows, seconds = convert_only(path)
        print(line("convert only (no database)", rows, seconds))
        for label, count, spent in sqlite_loads(path, work):
            print(line(label, count, spent))
        if args.postgres == "off":
            print("  Postgres: off (--postgres off)")
        else:
            outcome = postgres_loads(path, work)
            if isinstance(outcome, str):
                print(f"  Postgres: skipped: {outcome}")
            else:
                for label, count, spent in outcome:
                    print(line(label, count, spent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
