"""The records layouts and their SQL, without a database: cells, type families, dialects, DDL, and the
docs' tables kept equal to the code."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from airflow_provider_voice.capabilities.records_table import (
    DIALECTS,
    TableName,
    compatibility_problems,
    create_table_sql,
    detect_layout,
    dialect_for,
    parse_float,
    parse_integer,
    parse_text,
    parse_timestamp,
    type_family,
    zone,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.records_sql import RECORD_LAYOUTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "operators" / "records_sql.md"
UTC = dt.timezone.utc


def test_cells_convert_as_documented():
    assert (parse_text("  a "), parse_text(""), parse_text(None), parse_text(3), parse_text({})) == ("a", None, None,
                                                                                                      "3", None)  # fmt: skip
    assert [parse_integer(v) for v in ("36", " 36 ", 36, 36.0, "36.0", "+3", "", None)] == [36, 36, 36, 36, 36, 3,
                                                                                             None, None]  # fmt: skip
    for bad in ("3.5", "abc", True, 2.5, "1e400", "1_000"):
        with pytest.raises(ValueError, match="not an integer"):
            parse_integer(bad)
    assert [parse_float(v) for v in ("1.200", 1, 0.6, "", None)] == [1.2, 1.0, 0.6, None, None]
    for bad in ("nan", "inf", "x", False, "1_0.5"):
        with pytest.raises(ValueError):
            parse_float(bad)


def test_timestamps_are_utc_and_naive_ones_take_the_zone():
    kolkata = zone("Asia/Kolkata")
    assert parse_timestamp("2024-05-01 19:00:00", kolkata) == dt.datetime(2024, 5, 1, 13, 30, tzinfo=UTC)
    assert parse_timestamp("2024-05-01T19:00:00+02:00", kolkata) == dt.datetime(2024, 5, 1, 17, tzinfo=UTC)
    assert parse_timestamp(dt.datetime(2024, 5, 1, 19), UTC) == dt.datetime(2024, 5, 1, 19, tzinfo=UTC)
    assert parse_timestamp("May 1 2024 7:00 PM", UTC) == dt.datetime(2024, 5, 1, 19, tzinfo=UTC)  # via pendulum
    assert parse_timestamp("  ", UTC) is None and parse_timestamp(None, UTC) is None
    for bad in ("yesterday", "1714521600", "2024-13-01 00:00:00"):
        with pytest.raises(ValueError, match="not a date-time"):
            parse_timestamp(bad, UTC)
    with pytest.raises(ValidationError, match="IANA"):
        zone("Mars/Olympus")


def test_type_families_and_compatibility():
    assert [type_family(t) for t in ("BIGINT", "integer", "timestamp with time zone", "DATETIME(6)", "DATE",
                                     "character varying", "TEXT", "double precision", "NUMERIC(10,2)", "REAL",
                                     "BLOB", "interval", "")] == [
        "integer", "integer", "timestamp", "timestamp", "date", "text", "text", "float", "float", "float",
        None, None, None,
    ]  # fmt: skip
    wanted = [("a", "text"), ("n", "integer"), ("t", "timestamp"), ("x", "float")]
    assert compatibility_problems(wanted, {"A": "TEXT", "n": "NUMERIC", "t": "TIMESTAMP", "x": None}) == []
    assert compatibility_problems(wanted, {"a": "INTEGER", "n": "REAL", "x": "TEXT"}) == [
        "a is INTEGER, not a text type",
        "no column t (timestamp)",
        "x is TEXT, not a float type",
    ]


def test_dialects_by_sqlalchemy_name_or_connection_type():
    assert [dialect_for(n).name for n in ("sqlite", "postgresql+psycopg", "postgres", "mysql", "mariadb", "mssql",
                                          None, "default")] == [
        "sqlite", "postgresql", "postgresql", "mysql", "mysql", "ansi", "ansi", "ansi",
    ]  # fmt: skip
    assert TableName.parse(" records.cdr ").sql(DIALECTS["mysql"]) == "`records`.`cdr`"
    ddl = create_table_sql(DIALECTS["sqlite"], TableName("cdr", "aux"), RECORD_LAYOUTS["velip_calls"], "load_day")
    assert ddl[1] == 'CREATE INDEX "aux"."cdr_load_day_idx" ON "cdr" ("load_day")'  # SQLite names the database once


def test_detection_needs_exactly_one_layout():
    cdr = ["id", "calldate", "src", "dst", "duration", "billsec", "disposition"]
    assert detect_layout(cdr, RECORD_LAYOUTS).name == "televoips_cdr"
    assert detect_layout(["CD_ID", "cd_status", "dest"], RECORD_LAYOUTS).name == "velip_calls"
    with pytest.raises(ValidationError, match="fit televoips_cdr, velip_calls: give source_format"):
        detect_layout([*cdr, "cd_id", "cd_status", "dest"], RECORD_LAYOUTS)
    with pytest.raises(ValidationError, match="fit none"):
        detect_layout(["phone", "name"], RECORD_LAYOUTS)


def test_every_layout_has_distinct_column_names_and_readable_signature():
    for layout in RECORD_LAYOUTS.values():
        assert len(set(layout.column_names)) == len(layout.column_names), layout.name
        assert layout.signature <= layout.sources() and set(layout.required_columns) <= layout.sources(), layout.name
        assert "load_day" not in layout.column_names


def test_the_docs_show_the_code_s_ddl_and_columns():
    text = DOC.read_text(encoding="utf-8")
    for dialect in ("sqlite", "postgresql"):
        statements = create_table_sql(DIALECTS[dialect], TableName("cdr_calls"), RECORD_LAYOUTS["televoips_cdr"],
                                      "load_day")  # fmt: skip
        assert ";\n".join(statements) + ";" in text, dialect
    for kind in ("text", "integer", "float", "timestamp", "date"):
        cells = [DIALECTS[d].types[kind] for d in ("sqlite", "postgresql", "mysql", "ansi")]
        assert f"| {kind} | " + " | ".join(f"`{c}`" for c in cells) + " |" in text, kind
    for name, layout in RECORD_LAYOUTS.items():
        section = text.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        rows = re.findall(r"^\| `(\w+)` \| (\w+)", section, re.MULTILINE)
        assert rows == [(c.name, c.kind) for c in layout.columns] + [("load_day", "date")], name
