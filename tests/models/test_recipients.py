"""RecipientSource: lists, CSV, JSON, JSONL; duplicates and invalid rows counted, never dropped silently."""

from __future__ import annotations

import json

import pytest

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models import Recipient, RecipientSource


def test_list_dedupes_and_reports():
    source = RecipientSource(["+33612345678", "06 12 34 56 78", "junk", 919876543210], default_region="FR")
    numbers = [r.number for r in source]
    assert numbers == ["+33612345678", "+919876543210"]
    assert source.report.summary() == {"rows": 4, "valid": 2, "duplicates": 1, "invalid": 1}
    assert source.report.invalid[0].line == 3 and source.report.invalid[0].value == "junk"


def test_csv_streams_with_variables_and_line_numbers(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "name,phone,amount\nAnn,+33612345678,10\nBob,not-a-number,20\nCid,+33612345679,30\nAnn2,+33612345678,5\n"
    )
    source = RecipientSource(str(path))
    rows = source.collect()
    assert [r.name for r in rows] == ["Ann", "Cid"]
    assert rows[0].variables == {"amount": "10"}
    assert source.report.duplicates == 1
    assert [(bad.line, bad.value) for bad in source.report.invalid] == [(3, "not-a-number")]


def test_csv_without_number_column_is_an_error_naming_the_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("who,amount\nAnn,1\n")
    with pytest.raises(ValidationError, match="no phone-number column in the header") as info:
        RecipientSource(path).collect()
    assert info.value.field == "recipients" and info.value.value == str(path)


def test_json_and_jsonl(tmp_path):
    (tmp_path / "a.json").write_text(
        json.dumps({"recipients": [{"number": "+14155552671", "name": "Z"}, "+14155552672"]})
    )
    (tmp_path / "b.jsonl").write_text('{"msisdn": "9876543210"}\n[1]\n\n{"msisdn": "9876543211"}\n')
    assert len(RecipientSource(tmp_path / "a.json").collect()) == 2
    source = RecipientSource(tmp_path / "b.jsonl", default_region="IN")
    assert [r.number.kaleyra for r in source] == ["9876543210", "9876543211"]
    assert source.report.invalid_count == 1 and source.report.invalid[0].line == 2
    (tmp_path / "c.jsonl").write_text('{"msisdn": "9876543210"}\nnot json\n')
    with pytest.raises(ValidationError, match="line 2 is not JSON"):
        RecipientSource(tmp_path / "c.jsonl", default_region="IN").collect()


def test_object_with_open_method(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("number\n+14155552671\n")

    class Storage:  # stands for ObjectStoragePath: anything with .open() and a path
        def __init__(self, p):
            self.p, self.path = p, str(p)

        def open(self, mode):
            return open(self.p, mode)

    assert [r.number for r in RecipientSource(Storage(path))] == ["+14155552671"]


def test_recipient_objects_pass_through():
    r = Recipient(number="+14155552671", variables={"x": "1"})
    assert RecipientSource([r]).collect() == [r]


@pytest.mark.parametrize("bad", [None, {"number": "+1"}, "people.txt", 12])
def test_bad_sources_are_clear(bad):
    with pytest.raises(ValidationError):
        RecipientSource(bad).collect()


def test_missing_file(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        RecipientSource(str(tmp_path / "nope.csv")).collect()
