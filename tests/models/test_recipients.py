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


def test_recipients_built_without_revalidation_match_validated_ones(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("phone,name,id,amount\n06 12 34 56 78,Ann,a1,10\n+33612345679,,a2,\n")
    rows = [
        *RecipientSource(path, default_region="FR"),
        *RecipientSource(["+14155552671", {"to": 919876543210, "x": 1}]),
    ]
    for r in rows:
        same = Recipient(**{name: getattr(r, name) for name in r.model_fields_set})
        assert same.model_dump() == r.model_dump() and same.model_fields_set == r.model_fields_set
        assert r.line is not None and same == r
    assert (
        rows[0].variables == {"id": "a1", "amount": "10"}
        and rows[0].row_id == "a1"
        and rows[1].name is None
        and rows[3].variables == {"x": "1"}
    )


def test_validation_workers_give_the_same_rows_lines_and_errors(tmp_path):
    from airflow_provider_voice.capabilities.recipients import validate_recipients

    class Refuse99:
        vendor = "test"

        def validate_recipient(self, spec, recipient, position):
            if recipient.number.endswith("99"):
                raise ValidationError(f"recipients[{position}].number", recipient.number, "ends in 99")

    path = tmp_path / "n.csv"
    lines = ["phone,name"] + [f"+3361234{i:04d},P{i}" for i in range(120)] + ["junk,J", "+33612340003,dup"]
    path.write_text("\n".join(lines * 2) + "\n")

    def run(**kw):
        v = validate_recipients(path, Refuse99(), None, skip_invalid=True, rejects_path=tmp_path / "r.csv", **kw)
        return [(r.number, r.name, r.line) for r in v], v.valid, v.invalid, v.duplicates, v.rows, v.invalid_rows

    one = run()
    assert one == run(validation_workers=2, parallel_threshold=50)
    assert one[1:5] == (119, 4, 122, 245)  # left out: +33612340099, "junk" twice, the repeated header
    with pytest.raises(ValidationError, match="validation_workers"):
        run(validation_workers=0)


def test_the_send_reads_what_validation_kept(tmp_path):
    from airflow_provider_voice.capabilities.recipients import validate_recipients

    class NoRules:
        vendor = "test"

        def validate_recipient(self, spec, recipient, position):
            pass

    path = tmp_path / "n.txt"
    path.write_text("+33612345678\n+33612345679\n")
    validated = validate_recipients(path, NoRules(), None)
    path.write_text("+33612345670\n")  # changed after validation: the send is what was checked
    assert [r.number for r in validated] == [r.number for r in validated] == ["+33612345678", "+33612345679"]
    assert validated.spill is not None and validated.spill.nbytes > 0
    validated.close()
    with pytest.raises(ValidationError, match="1 recipients read for the send"):  # without its copy it reads
        list(validated)  # the source again: the changed file is 1 person, not the 2 validated, and says so


def test_a_send_that_reads_fewer_recipients_than_were_validated_fails(monkeypatch):
    """Without a temporary copy the send reads the source again: a one-shot iterator then yields
    nothing, and the send says so instead of sending nobody in silence."""
    from airflow_provider_voice.capabilities import recipients as validation

    class NoRules:
        vendor = "test"

        def validate_recipient(self, spec, recipient, position):
            return None

    monkeypatch.setattr(validation._Spill, "open", classmethod(lambda cls: None))  # no temporary file here
    validated = validation.validate_recipients(iter(["+33612345678", "+33612345679"]), NoRules(), None)
    assert validated.valid == 2 and validated.spill is None
    with pytest.raises(ValidationError, match="2 that passed validation"):
        list(validated)
