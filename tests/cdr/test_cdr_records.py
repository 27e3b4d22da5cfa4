"""CdrRecord typing and the streaming iter_cdr_records reader (bad rows reported by line number)."""

from __future__ import annotations

import io

import pendulum
import pytest

from airflow_provider_voice.vendors.televoips.cdr import CDR_FIELDS, CdrRecord, CdrReport, Disposition, iter_cdr_records

HEADER = ",".join("cunm" if c == "cnum" else c for c in CDR_FIELDS)  # the spec's spelling


def row(
    uid: str, *, calldate="2021-08-25 10:04:14", duration="30", billsec="0", disposition="NO ANSWER", lastdata='"x,30"'
) -> str:
    return (
        f'{uid},{calldate},"""Test"" <1234567890>",1234567890,201,ext-local,PJSIP/a,PJSIP/b,Dial,{lastdata},'
        f"{duration},{billsec},{disposition},3,,{uid},3525932093,rec.wav,1234567890,Test,,,"
    )


def test_record_types_from_webhook_example():
    record = CdrRecord.model_validate(
        {
            "calldate": "2021-08-25 10:04:14", "clid": '"Test" <1234567890>', "src": "1234567890", "dst": "201",
            "duration": "30", "billsec": "0", "disposition": "NO ANSWER", "amaflags": "3", "accountcode": "",
            "uniqueid": "1629900254.9521335", "userfield": "", "did": "3525932093", "cnum": "1234567890",
            "cnam": "Test", "outbound_cnum": "", "outbound_cnam": "", "dst_cnam": "",
        }
    )  # fmt: skip
    assert isinstance(record.calldate, pendulum.DateTime)
    assert record.calldate == pendulum.datetime(2021, 8, 25, 10, 4, 14, tz="UTC")
    assert (record.duration, record.billsec, record.amaflags) == (30, 0, 3)
    assert record.disposition is Disposition.NO_ANSWER and not record.answered
    assert record.uniqueid == "1629900254.9521335"  # text: a float would lose digits
    assert record.accountcode is None and record.userfield is None


def test_calldate_zone_from_context_and_cunm_alias():
    record = CdrRecord.model_validate(
        {"calldate": "2021-08-25 10:04:14", "duration": "1", "billsec": "1", "disposition": "answered", "cunm": "555"},
        context={"tz": "America/New_York"},
    )
    assert record.calldate.in_timezone("UTC").hour == 14
    assert record.cnum == "555" and record.disposition is Disposition.ANSWERED


def test_unknown_disposition_is_kept_as_text():
    record = CdrRecord.model_validate(
        {"calldate": "2021-08-25 10:04:14", "duration": "1", "billsec": "0", "disposition": "CANCEL"}
    )
    assert record.disposition == "CANCEL" and not isinstance(record.disposition, Disposition)


def test_reader_yields_good_rows_and_reports_bad_ones_by_line(tmp_path):
    lines = [
        HEADER + ",userfield,extra_col",
        row("1.1") + ",,x",
        row("1.2", duration="abc") + ",,x",  # line 3: bad duration
        row("1.3", disposition="ANSWERED", billsec="12") + ",,x",
        row("1.4", calldate="not a date") + ",,x",  # line 5
        "1.5,short,row",  # line 6: wrong field count
        "",
        row("1.6", lastdata='"multi\nline"') + ",,x",  # lines 8-9: a quoted newline
        row("1.7", billsec="-1") + ",,x",  # line 10: negative billsec
        row("1.8", disposition="BUSY") + ",,x",
    ]
    path = tmp_path / "cdrs.csv"
    path.write_text("\n".join(lines) + "\n")
    reader = iter_cdr_records(path)
    records = list(reader)
    assert [r.uniqueid for r in records] == ["1.1", "1.3", "1.6", "1.8"]
    assert records[2].lastdata == "multi\nline"
    assert records[0].model_extra == {"extra_col": "x"}
    bad = {r.line: r.reason for r in reader.invalid}
    assert sorted(bad) == [3, 5, 6, 10]
    assert "duration" in bad[3] and "not an integer" in bad[3]
    assert "calldate" in bad[5] and "3 fields" in bad[6] and "billsec" in bad[10]
    assert reader.summary() == {"rows": 8, "valid": 4, "invalid": 4}
    assert reader.columns[18] == "cnum"  # cunm read as cnum


def test_reader_accepts_file_url_and_open_files(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(HEADER + "\n" + row("9.9") + "\n")
    assert [r.uniqueid for r in iter_cdr_records(f"file://{path}")] == ["9.9"]
    assert [r.uniqueid for r in iter_cdr_records(io.StringIO(path.read_text()))] == ["9.9"]
    handle = io.BytesIO(path.read_bytes())
    assert [r.uniqueid for r in iter_cdr_records(handle)] == ["9.9"]
    assert not handle.closed


def test_reader_through_object_storage_path(tmp_path):
    from airflow.sdk import ObjectStoragePath

    path = tmp_path / "o.csv"
    path.write_text(HEADER + "\n" + row("7.7") + "\n")
    assert [r.uniqueid for r in iter_cdr_records(ObjectStoragePath(f"file://{path}"))] == ["7.7"]


def test_keep_invalid_bounds_memory_but_counts_all(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "\n" + "\n".join(row(str(i), duration="x") for i in range(50)) + "\n")
    reader = iter_cdr_records(path, keep_invalid=5)
    assert list(reader) == []
    assert len(reader.invalid) == 5 and reader.invalid_count == 50 and reader.invalid[0].line == 2


@pytest.mark.parametrize(
    ("url", "day"),
    [
        ("https://api.televoips.com/reports/cdrs/12cd2374dc/cdrs_2024-05-01.csv", "2024-05-01"),
        ("https://x/y.csv", None),
    ],
)
def test_report_day_from_url(url, day):
    report = CdrReport(id="12cd2374dc", url=url, status="complete", http_status=201)
    assert report.day == day and report.is_complete
