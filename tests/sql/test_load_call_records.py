"""``LoadCallRecordsOperator`` into SQLite: typed tables, one day replaced per load, bad input refused
before any write, bad rows failed or set aside, every source format."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re

import pytest
from records_support import write_cdr

from airflow_provider_voice.capabilities.export import export_records
from airflow_provider_voice.capabilities.outcome_table import OutcomeTableWriter
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.outcomes import OUTCOME_COLUMNS, RecipientOutcome
from airflow_provider_voice.operators.base import VoiceInputError
from airflow_provider_voice.operators.records_sql import LoadCallRecordsOperator
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord
from airflow_provider_voice.vendors.televoips.cdr import iter_cdr_records
from airflow_provider_voice.vendors.velip.records import VelipCallRecord

CDR_TYPES = {
    "id": "TEXT",
    "calldate": "TIMESTAMP",
    "duration": "INTEGER",
    "billsec": "INTEGER",
    "disposition": "TEXT",
    "amaflags": "INTEGER",
    "uniqueid": "TEXT",
    "src": "TEXT",
    "cnum": "TEXT",
    "load_day": "DATE",
}


def load(source, table="cdr_calls", **kwargs):
    """Build and run the operator (outside a DAG run: the context has no data interval)."""
    op = LoadCallRecordsOperator(task_id="load", source=source, conn_id="records_db", table=table, **kwargs)
    return op.execute({})


def test_100000_cdr_rows_land_typed_in_one_load(records_db, tmp_path):
    path = write_cdr(tmp_path / "cdrs_2024-05-01.csv", 100_000)
    result = load({"path": str(path), "day": "2024-05-01", "rows": 100_000})
    assert (result["rows_read"], result["rows_inserted"], result["rows_deleted"], result["rejected"]) == (
        100_000, 100_000, 0, 0,
    )  # fmt: skip
    assert result["created"] is True and result["source_format"] == "televoips_cdr" and result["dialect"] == "sqlite"
    assert result["day"] == "2024-05-01" and result["table"] == "cdr_calls" and result["seconds"] > 0
    assert records_db.count("cdr_calls", "2024-05-01") == 100_000
    types = records_db.types("cdr_calls")
    assert {name: types[name] for name in CDR_TYPES} == CDR_TYPES
    assert len(types) == 25  # the 23 documented columns (cunm as cnum), userfield, load_day
    # stored typed: integers are integers, the call date UTC ISO 8601 text, the day a date
    kinds = records_db.query(
        "SELECT typeof(duration), typeof(billsec), typeof(calldate), typeof(id), MIN(calldate), MAX(calldate), "
        "SUM(duration < billsec), COUNT(DISTINCT uniqueid) FROM cdr_calls"
    )[0]
    assert kinds[:4] == ("integer", "integer", "text", "text")
    assert kinds[4].startswith("2024-05-01 00:00:00") and kinds[5].startswith("2024-05-01 23:59")
    assert kinds[4].endswith("+00:00") and kinds[6] == 0 and kinds[7] == 100_000
    assert records_db.query("SELECT DISTINCT disposition FROM cdr_calls ORDER BY 1") == [
        ("ANSWERED",), ("BUSY",), ("CONGESTION",), ("FAILED",), ("NO ANSWER",),
    ]  # fmt: skip
    indexes = records_db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cdr_calls'")
    assert indexes == [("cdr_calls_load_day_idx",)]


def test_the_values_are_the_typed_cdr_records(records_db, cdr_file):
    path = cdr_file(300)
    load(str(path))
    stored = records_db.query("SELECT uniqueid, calldate, duration, billsec, disposition, cnum FROM cdr_calls")
    expected = [
        (r.uniqueid, r.calldate.isoformat(sep=" "), r.duration, r.billsec, str(r.disposition), r.cnum)
        for r in iter_cdr_records(path)
    ]
    assert sorted(stored) == sorted(expected) and len(stored) == 300


def test_a_rerun_replaces_the_day_and_another_day_adds_rows(records_db, cdr_file):
    first = load(str(cdr_file(1_000, "2024-05-01")))
    again = load(str(cdr_file(1_000, "2024-05-01")))
    assert (first["rows_inserted"], again["rows_inserted"], again["rows_deleted"]) == (1_000, 1_000, 1_000)
    assert records_db.count("cdr_calls") == 1_000 and again["created"] is False
    second_day = load(str(cdr_file(700, "2024-05-02")))
    assert second_day["day"] == "2024-05-02" and second_day["rows_deleted"] == 0
    assert records_db.count("cdr_calls") == 1_700
    # the first day again, from a smaller file: only that day changes
    smaller = load(str(cdr_file(400, "2024-05-01", seed=2)))
    assert smaller["rows_deleted"] == 1_000 and smaller["rows_inserted"] == 400
    assert (records_db.count("cdr_calls", "2024-05-01"), records_db.count("cdr_calls", "2024-05-02")) == (400, 700)


def test_a_bad_row_fails_the_load_and_nothing_is_written(records_db, cdr_file):
    with pytest.raises(VoiceInputError) as caught:
        load(str(cdr_file(2_000, bad=[1_500])))
    error = caught.value
    assert error.field == "source[line 1500]" and "duration: not an integer: 'not-a-number'" in error.rule
    assert "Nothing was written" in error.rule and "skip_bad_rows=True" in error.rule
    assert records_db.tables() == []  # even the CREATE TABLE was rolled back
    # with the day loaded, a bad file for it leaves it as it was
    load(str(cdr_file(500)))
    with pytest.raises(VoiceInputError):
        load(str(cdr_file(2_000, name="again.csv", bad=[1_999])), day="2024-05-01")
    assert records_db.count("cdr_calls", "2024-05-01") == 500


def test_the_error_of_a_bad_row_masks_its_phone_numbers(records_db, tmp_path):
    path = write_cdr(tmp_path / "cdrs_2024-05-01.csv", 3, bad=[3])
    bad_row = list(csv.DictReader(path.open()))[1]
    with pytest.raises(VoiceInputError) as caught:
        load(str(path))
    error = caught.value
    assert len(bad_row["src"]) == 11 and bad_row["src"] not in str(error) and bad_row["src"] not in error.value
    assert f'"src": "*********{bad_row["src"][-2:]}"' in error.value  # the caller, masked


def test_skip_bad_rows_counts_them_and_writes_the_rejects_file(records_db, cdr_file, tmp_path):
    rejects = tmp_path / "rejects" / "cdr.csv"
    path = cdr_file(1_000, bad=[10, 500, 1_001])
    result = load(str(path), skip_bad_rows=True, rejects_path=str(rejects))
    assert (result["rows_read"], result["rows_inserted"], result["rejected"]) == (1_000, 997, 3)
    assert result["rejects_path"] == rejects.as_uri() and records_db.count("cdr_calls") == 997
    written = list(csv.DictReader(rejects.open()))
    assert [int(r["line"]) for r in written] == [10, 500, 1_001]
    assert all(r["reason"] == "duration: not an integer: 'not-a-number'" for r in written)
    assert json.loads(written[0]["value"])["duration"] == "not-a-number"  # the row as given, to fix it
    # XCom: a masked sample, no full number
    assert [r["line"] for r in result["rejected_rows"]] == [10, 500, 1_001]
    src = json.loads(written[0]["value"])["src"]
    assert src not in json.dumps(result)


def test_a_file_of_bad_rows_only_fails_even_with_skip_bad_rows(records_db, cdr_file, tmp_path):
    load(str(cdr_file(50)))
    with pytest.raises(VoiceInputError, match="at least one loadable row"):
        load(str(cdr_file(2, name="all_bad.csv", bad=[2, 3])), day="2024-05-01", skip_bad_rows=True,
             rejects_path=str(tmp_path / "r.csv"))  # fmt: skip
    assert records_db.count("cdr_calls", "2024-05-01") == 50
    assert not (tmp_path / "r.csv").exists()  # the rejects of a load that was rolled back are discarded


def test_a_file_without_the_core_columns_fails_before_any_write(records_db, tmp_path):
    path = tmp_path / "cdrs_2024-05-01.csv"
    path.write_text("id,calldate,src,dst,duration,disposition\n1,2024-05-01 10:00:00,1,2,3,ANSWERED\n")
    with pytest.raises(VoiceInputError, match="fit none"):
        load(str(path))
    with pytest.raises(VoiceInputError, match=r"column\(s\) billsec"):
        load(str(path), source_format="televoips_cdr")
    assert records_db.tables() == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source_format": "excel"}, "source_format"),
        ({"file_format": "xlsx"}, "file_format"),
        ({"table": "cdr; DROP TABLE x"}, "table"),
        ({"table": "a.b.c"}, "table"),
        ({"partition_column": "load day"}, "partition_column"),
        ({"batch_size": 0}, "batch_size"),
        ({"dialect": "oracle"}, "dialect"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs, field):
    arguments = {"task_id": "load", "source": "x.csv", "conn_id": "records_db", "table": "t", **kwargs}
    with pytest.raises(ValidationError) as caught:
        LoadCallRecordsOperator(**arguments)
    assert caught.value.field == field


def test_unknown_and_unreadable_sources_fail_before_any_write(records_db, tmp_path):
    (tmp_path / "calls.xlsx").write_text("x")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "2024-05-01.jsonl").write_text("[1, 2]\n")
    cases = [
        (tmp_path / "calls.xlsx", "file_format", "suffix"),
        (tmp_path / "missing.csv", "source", "not found"),
        (tmp_path / "empty.csv", "source", "the file is empty"),
        (tmp_path / "2024-05-01.jsonl", "source", "JSONL file of objects"),
    ]
    for path, field, words in cases:
        with pytest.raises(VoiceInputError) as caught:
            load(str(path), day="2024-05-01")
        assert caught.value.field == field and words in caught.value.rule, (path.name, caught.value)
    with pytest.raises(VoiceInputError, match="with one of path, parquet_path"):
        load({"rows": 3})
    assert records_db.tables() == []


def test_an_existing_table_with_incompatible_columns_is_refused_before_any_write(records_db, cdr_file):
    records_db.query("CREATE TABLE cdr_calls (id TEXT, calldate TEXT, duration TEXT, load_day DATE)")
    records_db.query("INSERT INTO cdr_calls VALUES ('x', 'y', 'z', '2024-05-01')")
    with pytest.raises(VoiceInputError) as caught:
        load(str(cdr_file(10)))
    assert caught.value.field == "table"
    assert "calldate is TEXT, not a timestamp type" in caught.value.rule
    assert "duration is TEXT, not a integer type" in caught.value.rule and "no column billsec" in caught.value.rule
    assert records_db.query("SELECT * FROM cdr_calls") == [("x", "y", "z", "2024-05-01")]


def test_an_existing_compatible_table_with_extra_columns_is_loaded(records_db, cdr_file):
    load(str(cdr_file(5)))
    records_db.query("ALTER TABLE cdr_calls ADD COLUMN note TEXT")
    again = load(str(cdr_file(5, "2024-05-02")))
    assert again["rows_inserted"] == 5 and records_db.count("cdr_calls") == 10


def test_create_table_false_needs_the_table(records_db, cdr_file):
    with pytest.raises(VoiceInputError, match="create_table=False"):
        load(str(cdr_file(5)), create_table=False)


def test_a_connection_that_is_not_a_database_is_refused(voice_connections, cdr_file):
    op = LoadCallRecordsOperator(task_id="load", source=str(cdr_file(5)), conn_id="televoips_default", table="t")
    with pytest.raises(ValidationError, match="DbApiHook"):
        op.execute({})


def test_the_day_comes_from_the_argument_the_xcom_the_file_name_or_the_run(records_db, cdr_file, tmp_path):
    path = cdr_file(3, name="export.csv")
    assert load(str(path), day="2024-06-01")["day"] == "2024-06-01"
    assert load(str(path), day=dt.datetime(2024, 6, 2, 23, tzinfo=dt.timezone.utc))["day"] == "2024-06-02"
    assert load({"path": str(path), "from": "2024-06-03", "to": "2024-06-03"})["day"] == "2024-06-03"
    assert load(str(cdr_file(3, name="2024-06-04.csv")))["day"] == "2024-06-04"
    with pytest.raises(VoiceInputError, match="YYYY-MM-DD"):
        load(str(path))  # no day anywhere (no run either)
    with pytest.raises(VoiceInputError, match="YYYY-MM-DD"):
        load(str(path), day="tomorrow")


def test_the_source_may_be_a_rendered_xcom_or_an_asset_event(records_db, cdr_file):
    from airflow.sdk import Asset

    path = cdr_file(4, name="report.csv")
    rendered = repr({"path": str(path), "day": "2024-07-01", "rows": 4})  # "{{ ti.xcom_pull(...) }}"
    assert load(rendered)["rows_inserted"] == 4

    asset = Asset(name="cdrs", uri=path.parent.as_uri())
    event = type("Event", (), {"extra": {"path": str(path), "day": "2024-07-02"}})()
    op = LoadCallRecordsOperator(task_id="load", source=asset, conn_id="records_db", table="cdr_calls")
    assert asset in op.inlets
    result = op.execute({"triggering_asset_events": {asset: [event]}})
    assert result["source"] == path.as_uri() and result["rows_inserted"] == 4


def test_a_schema_qualified_table(records_db, cdr_file):
    result = load(str(cdr_file(3)), table="main.cdr_calls")
    assert result["table"] == "main.cdr_calls" and records_db.count("cdr_calls") == 3
    with pytest.raises(VoiceInputError, match="there is no schema 'telephony'"):
        load(str(cdr_file(3)), table="telephony.cdr_calls")


# -- the other source formats -----------------------------------------------------------------------------------


def outcome(i: int) -> RecipientOutcome:
    return RecipientOutcome(
        row_id=f"r{i}", line=i + 2, number=f"+3361234{i:04d}", name=f"N{i}", channel="voice", vendor="velip",
        outcome="answered" if i % 3 else "no_answer", vendor_status="OK" if i % 3 else "NA", attempts=1 + i % 2,
        started_at="2026-12-01T10:00:00+00:00", ended_at="2026-12-01T10:01:30.250000+00:00", duration=90.25,
        variables={"ward": "A"} if i % 2 else {}, campaign_id="c1", call_id=f"cd{i}",
    )  # fmt: skip


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_outcome_tables_are_loaded_with_their_schema_types(records_db, tmp_path, fmt):
    with OutcomeTableWriter(tmp_path / "outcomes" / "run-1") as table:
        table.add_all(outcome(i) for i in range(1_200))
    xcom = table.written.summary()
    source = xcom if fmt == "parquet" else {"csv_path": xcom["csv_path"]}
    result = load(source, table="outcomes", day="2026-12-01")
    assert result["source_format"] == "outcomes" and result["file_format"] == fmt
    assert result["rows_inserted"] == 1_200 and records_db.count("outcomes", "2026-12-01") == 1_200
    types = records_db.types("outcomes")
    expected = {"string": "TEXT", "int64": "INTEGER", "int32": "INTEGER", "float64": "REAL"}
    expected["timestamp[ms, tz=UTC]"] = "TIMESTAMP"
    assert types == {**{name: expected[kind] for name, kind, _ in OUTCOME_COLUMNS}, "load_day": "DATE"}
    row = records_db.query(
        "SELECT number, outcome, attempts, started_at, ended_at, duration, variables FROM outcomes WHERE row_id = 'r1'"
    )[0]
    assert row[:3] == ("+33612340001", "answered", 2) and row[5] == 90.25 and json.loads(row[6]) == {"ward": "A"}
    assert row[3] == "2026-12-01 10:00:00+00:00" and row[4].startswith("2026-12-01 10:01:30.25")
    assert records_db.query("SELECT COUNT(*) FROM outcomes WHERE variables IS NULL")[0][0] == 600
    again = load(source, table="outcomes", day="2026-12-01")
    assert again["rows_deleted"] == 1_200 and records_db.count("outcomes") == 1_200


def test_an_outcome_row_with_an_unknown_outcome_is_bad(records_db, tmp_path):
    path = tmp_path / "t.csv"
    with OutcomeTableWriter(path, formats="csv"):
        pass
    header = path.read_text()
    cells = {name: "" for name, _, _ in OUTCOME_COLUMNS} | {"row_id": "1", "outcome": "maybe"}
    path.write_text(header + ",".join(cells[name] for name, _, _ in OUTCOME_COLUMNS) + "\n")
    with pytest.raises(VoiceInputError, match="outcome: 'maybe' is not one of answered"):
        load(str(path), table="outcomes", day="2026-12-01")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_kaleyra_call_reports_are_loaded_in_utc(records_db, tmp_path, fmt):
    rows = [
        KaleyraCallRecord.model_validate({
            "id": f"k{i}", "uniqid": f"1714.{i}", "callfrom": f"98765{i:05d}", "callto": "9988776655",
            "start_time": "2024-05-01 19:00:00", "end_time": "2024-05-01 19:02:00" if i % 4 else "",
            "duration": str(120 + i), "billsec": str(100 + i), "credits": "1.200", "status": "ANSWER",
            "date": "2024-05-01 07:00 PM", "location": "KARNATAKA",
        })
        for i in range(40)
    ]  # fmt: skip
    written = export_records(rows, tmp_path / f"kaleyra_2024-05-01.{fmt}")
    result = load({"path": written.path, "from": "2024-05-01", "to": "2024-05-01"}, table="kaleyra_calls")
    assert result["source_format"] == "kaleyra_calls" and result["rows_inserted"] == 40
    assert records_db.types("kaleyra_calls")["start_time"] == "TIMESTAMP"
    assert records_db.types("kaleyra_calls")["credits"] == "REAL"
    first = records_db.query("SELECT start_time, end_time, duration, credits, date FROM kaleyra_calls WHERE id='k1'")
    assert first == [("2024-05-01 13:30:00+00:00", "2024-05-01 13:32:00+00:00", 121, 1.2, "2024-05-01 07:00 PM")]
    assert records_db.query("SELECT COUNT(*) FROM kaleyra_calls WHERE end_time IS NULL")[0][0] == 10


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_velip_call_exports_get_a_utc_started_at(records_db, tmp_path, fmt):
    rows = [
        VelipCallRecord(cd_id=str(1000 + i), ctid="t", cp_id="c1", cd_status="OK" if i % 2 else "NA",
                        dest=f"55119876{i:05d}", date="2024-05-01", time="09:15:00", dur=30 * (i % 2), value=0.15)
        for i in range(10)
    ]  # fmt: skip
    written = export_records(rows, tmp_path / f"velip.{fmt}")
    result = load(written.path, table="velip_calls", day="2024-05-01")
    assert result["source_format"] == "velip_calls" and result["rows_inserted"] == 10
    types = records_db.types("velip_calls")
    assert (types["started_at"], types["dur"], types["value"], types["date"]) == (
        "TIMESTAMP",
        "INTEGER",
        "REAL",
        "TEXT",
    )
    stored = records_db.query("SELECT started_at, dur FROM velip_calls WHERE cd_id = '1001'")
    assert stored == [("2024-05-01 12:15:00+00:00", 30)]  # 09:15 in Sao Paulo (UTC-3)
    assert load(written.path, table="velip_calls", day="2024-05-01", timezone="UTC")["rows_deleted"] == 10
    assert records_db.query("SELECT started_at FROM velip_calls WHERE cd_id = '1001'") == [
        ("2024-05-01 09:15:00+00:00",)
    ]


def test_a_file_of_one_format_loaded_as_another_names_the_missing_columns(records_db, cdr_file, tmp_path):
    path = cdr_file(3)
    with pytest.raises(VoiceInputError) as caught:
        load(str(path), source_format="velip_calls")
    assert re.search(r"column\(s\) cd_id, cd_status", caught.value.rule)
    as_jsonl = tmp_path / "cdrs.jsonl"
    as_jsonl.write_text("".join(json.dumps(row) + "\n" for row in csv.DictReader(path.open())))
    with pytest.raises(VoiceInputError, match="televoips_cdr files are csv"):
        load(str(as_jsonl), day="2024-05-01")
    assert records_db.tables() == []
