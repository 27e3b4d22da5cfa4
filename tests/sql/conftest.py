"""Fixtures of the call-records loads: a SQLite database behind an Airflow connection, and CDR files
made by the simulator's own row generator."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from records_support import write_cdr


class Database:
    """The SQLite file behind the ``records_db`` connection."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
            return conn.execute(sql, params).fetchall()

    def count(self, table: str, day: str | None = None) -> int:
        if not self.tables() or table not in self.tables():
            return 0
        if day is None:
            return self.query(f'SELECT COUNT(*) FROM "{table}"')[0][0]
        return self.query(f'SELECT COUNT(*) FROM "{table}" WHERE load_day = ?', day)[0][0]

    def types(self, table: str) -> dict[str, str]:
        return {row[1]: row[2] for row in self.query(f'PRAGMA table_info("{table}")')}

    def tables(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]


@pytest.fixture
def records_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """``records_db``: an Airflow connection (type sqlite) to an empty SQLite file."""
    path = tmp_path / "records.db"
    monkeypatch.setenv("AIRFLOW_CONN_RECORDS_DB", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return Database(path)


@pytest.fixture
def cdr_file(tmp_path: Path) -> Callable[..., Path]:
    """``cdr_file(rows, day="2024-05-01", name=None, bad=())`` writes a CDR CSV under ``tmp_path``."""

    def make(
        rows: int, day: str = "2024-05-01", *, name: str | None = None, seed: int = 1, bad: Iterable[int] = ()
    ) -> Path:
        return write_cdr(tmp_path / (name or f"cdrs_{day}_{rows}.csv"), rows, day, seed=seed, bad=bad)

    return make
