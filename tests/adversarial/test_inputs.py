"""Issue 8, classes 1 and 2: recipient and suppression-list loading is never silent.

Class 1 — a suppression list never loads as silently empty or partial: sniffed CSV delimiters,
header or none, national numbers without ``default_region`` named as such, a missing path is an
error on SMS too (``suppression_missing_ok`` opts in, with a WARNING).

Class 2 — no row vanishes: quotes that swallow rows, undecodable bytes, oversized fields, broken
JSON/JSONL, directories, missing and empty files are ``ValidationError`` (field = the argument,
value = the path, rule = what is wrong, with the line); ``skip_invalid=True`` writes every left-out
row to a rejects file (``line,value,reason``) and logs a masked sample.

The last tests run the SMS and campaign operators against the simulator: its ledger shows that
nobody on a semicolon-separated suppression list is texted or called.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from helpers import task_context

from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import SuppressionList
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models import RecipientSource
from airflow_provider_voice.models.phone import PhoneNumber

FR = [f"+336123456{i:02d}" for i in range(100)]
US = [f"+1415555{2600 + i:04d}" for i in range(100)]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


class VendorCheck:
    """A vendor rule for :func:`validate_recipients`: numbers ending in 99 are refused."""

    vendor = "test"

    def validate_recipient(self, spec: Any, recipient: Any, position: int) -> None:
        if str(recipient.number).endswith("99"):
            raise ValidationError(f"recipients[{position}].number", str(recipient.number), "refused by the vendor rule")


def validate(source: Any, **kwargs: Any) -> Any:
    return validate_recipients(source, VendorCheck(), None, **kwargs)  # type: ignore[arg-type]


def read_rejects(location: str) -> list[dict[str, str]]:
    path = Path(location.removeprefix("file://"))
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------------------------
# class 1: suppression lists never load silently empty or partial
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
@pytest.mark.parametrize(
    "header",
    ["number{d}name", "Phone Number{d}Name", "msisdn{d}reason", "Mobile{d}comment", "tel{d}x", "id{d}Téléphone", None],
)
def test_suppression_csv_any_delimiter_and_number_column_loads_every_number(tmp_path, delimiter, header):
    wanted = FR[:3]
    if header is None:  # headerless: the column holding phone numbers
        lines = [f"{n}{delimiter}someone, with a comma" for n in wanted]
    elif header.startswith("id"):
        lines = [header.format(d=delimiter)] + [f"{i}{delimiter}{n}" for i, n in enumerate(wanted)]
    else:
        lines = [header.format(d=delimiter)] + [f"{n}{delimiter}stop" for n in wanted]
    path = write(tmp_path, "dnc.csv", "\n".join(lines) + "\n")
    assert SuppressionList.load(str(path)).numbers == set(wanted)


@pytest.mark.parametrize("content", ["+33612345600\n+33612345601\n", "Contacts\n+33612345600\n+33612345601\n"])
def test_suppression_single_column_with_or_without_header(tmp_path, content):
    assert SuppressionList.load(write(tmp_path, "dnc.csv", content)).numbers == {FR[0], FR[1]}


def test_semicolon_suppression_csv_is_not_empty_anymore(tmp_path):
    path = write(tmp_path, "dnc.csv", "number;name\n+33612345600;Ann\n+33612345601;Bob\n06 12 34 56 02;Cid\n")
    loaded = SuppressionList.load(str(path), default_region="FR")
    assert loaded.numbers == {FR[0], FR[1], FR[2]} and loaded.invalid == 0


@pytest.mark.parametrize("suffix", ["txt", "csv"])
def test_national_numbers_without_region_are_an_error_naming_file_line_and_fix(tmp_path, suffix):
    path = write(tmp_path, f"dnc.{suffix}", "# opt-outs\n0612345600\n\n06 12 34 56 01\n")
    with pytest.raises(ValidationError) as info:
        SuppressionList.load(str(path))
    error = info.value
    assert error.field == "suppression" and error.value == str(path)
    assert "line 2" in error.rule and "line 4" in error.rule and "set default_region" in error.rule
    assert "0612345600" not in str(error)  # numbers are masked in the message; the line says which one
    assert SuppressionList.load(str(path), default_region="FR").numbers == {FR[0], FR[1]}


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("dnc.txt", "+33612345600\nnot a number\n+33612345601\n", "line 2"),
        ("dnc.csv", "number\n+33612345600\n+33612345601\njunk\n", "line 4"),
        ("dnc.json", json.dumps(["+33612345600", "+1 555"]), "item 2"),
        ("dnc.jsonl", '"+33612345600"\n{"phone": "12"}\n', "line 2"),
    ],
)
def test_one_bad_entry_fails_the_whole_suppression_list(tmp_path, name, content, line):
    path = write(tmp_path, name, content)
    with pytest.raises(ValidationError, match="never loaded in part") as info:
        SuppressionList.load(path)
    assert info.value.field == "suppression" and line in info.value.rule
    kept = SuppressionList.load(path, skip_invalid=True)  # explicit opt-in: the rest loads, the bad entry logged
    assert FR[0] in kept and kept.invalid == 1 and kept.invalid_rows[0].reason


def test_inline_suppression_list_with_a_bad_entry_is_an_error():
    with pytest.raises(ValidationError, match="item 2"):
        SuppressionList.load(["+33612345600", "nope"])


@pytest.mark.parametrize(
    ("name", "content"),
    [("dnc.csv", "name,reason\nAnn,stop\n"), ("dnc.json", json.dumps({"numbers": ["x", "y"]}))],
)
def test_suppression_with_content_but_no_number_is_an_error(tmp_path, name, content):
    path = write(tmp_path, name, content)
    with pytest.raises(ValidationError) as info:
        SuppressionList.load(path, skip_invalid=True)
    assert info.value.field == "suppression" and info.value.value == str(path)


@pytest.mark.parametrize(
    ("name", "content"), [("dnc.csv", "number\n"), ("dnc.txt", "# nobody yet\n"), ("dnc.json", "[]")]
)
def test_explicitly_empty_suppression_list_loads_with_a_warning(tmp_path, caplog, name, content):
    with caplog.at_level(logging.WARNING):
        assert len(SuppressionList.load(write(tmp_path, name, content))) == 0
    assert any("holds no numbers" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_missing_suppression_path_is_an_error_unless_missing_ok(tmp_path, caplog):
    missing = str(tmp_path / "optuots.csv")  # a typo
    with pytest.raises(ValidationError, match="does not exist") as info:
        SuppressionList.load(missing)
    assert info.value.field == "suppression" and info.value.value == missing
    with caplog.at_level(logging.WARNING):
        loaded = SuppressionList.load(missing, missing_ok=True)
    assert loaded.missing and len(loaded) == 0
    assert any("nothing is suppressed" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    with pytest.raises(ValidationError, match="empty path"):
        SuppressionList.load("   ")  # a template that rendered to nothing


def test_sms_mistyped_suppression_path_fails_before_anything_is_sent(voice_connections, tmp_path):
    from airflow_provider_voice.operators.sms import SendSMSOperator

    op = SendSMSOperator(
        task_id="send_sms", conn_id="televoips_default", sender="13214567890", text="Hi",
        recipients=US[:3], suppression=str(tmp_path / "optuots.csv"), checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    with pytest.raises(ValidationError, match="does not exist") as info:
        op.execute(sms_context())
    assert info.value.field == "suppression"
    assert len(voice_connections.state.ledger) == 0


# ---------------------------------------------------------------------------------------------
# class 2: no row vanishes; every unreadable file is a ValidationError with the line
# ---------------------------------------------------------------------------------------------
def rows_csv(count: int, *, broken_at: int | None = None, close_after: int | None = None, final_newline=True) -> str:
    """``count`` data rows; the row ``broken_at`` (0-based) opens a quote, closed ``close_after`` rows later."""
    lines = ["number,name"]
    for i in range(count):
        name = f"P{i}"
        if i == broken_at:
            name = '"' + name
        if broken_at is not None and close_after is not None and i == broken_at + close_after:
            name += '"'
        lines.append(f"{FR[i]},{name}")
    return "\n".join(lines) + ("\n" if final_newline else "")


@pytest.mark.parametrize(
    ("broken_at", "close_after", "final_newline", "line", "words"),
    [
        (0, None, True, "line 2", "never closed"),  # start: swallows everything after
        (4, None, True, "line 6", "never closed"),  # middle (the reported +33612345604,"Dan case)
        (4, 3, True, "line 6", "runs over 4 lines"),  # middle, closed further down: rows 5-7 swallowed
        (9, None, False, "line 11", "never closed"),  # end: the last line, no final newline
        (9, None, True, "line 11", "never closed"),  # end, with a final newline
    ],
)
@pytest.mark.parametrize("kind", ["recipients", "suppression"])
def test_quote_that_swallows_rows_is_an_error_with_its_line(
    tmp_path, kind, broken_at, close_after, final_newline, line, words
):
    path = write(
        tmp_path, "people.csv", rows_csv(10, broken_at=broken_at, close_after=close_after, final_newline=final_newline)
    )
    with pytest.raises(ValidationError) as info:
        if kind == "recipients":
            validate(str(path), skip_invalid=True)  # even when invalid rows may be skipped
        else:
            SuppressionList.load(str(path), skip_invalid=True)
    error = info.value
    assert error.field == kind and error.value == str(path)
    assert error.rule.startswith(line) and words in error.rule


def test_731_rows_behind_a_stray_quote_are_not_lost(tmp_path):
    path = write(tmp_path, "big.csv", rows_csv(100, broken_at=5))
    with pytest.raises(ValidationError, match=r"line 7: a quote opened on this line is never closed.*line 101"):
        RecipientSource(path).collect()


def test_text_after_a_closing_quote_is_an_error(tmp_path):
    path = write(tmp_path, "people.csv", 'number,name\n+33612345600,"Ann"ette\n')
    with pytest.raises(ValidationError, match="line 2: text after a closing quote"):
        RecipientSource(path).collect()


def test_multiline_values_are_accepted_only_on_request(tmp_path):
    path = write(
        tmp_path, "people.csv", 'number,name,address\n+33612345600,Ann,"1 rue X\n75001 Paris"\n+33612345601,Bob,\n'
    )
    with pytest.raises(ValidationError, match="runs over 2 lines"):
        RecipientSource(path).collect()
    source = RecipientSource(path, multiline_values=True)
    people = source.collect()
    assert [p.number for p in people] == FR[:2] and people[0].variables["address"] == "1 rue X\n75001 Paris"
    assert source.report.lines == 4 and source.report.rows == 2


@pytest.mark.parametrize("kind", ["recipients", "suppression"])
def test_latin1_file_is_a_clear_error_suggesting_encoding(tmp_path, kind):
    path = write(tmp_path, "people.csv", "number,name\n+33612345600,Ann\n+33612345601,Zoé\n".encode("latin-1"))
    with pytest.raises(ValidationError) as info:
        RecipientSource(path, field=kind).collect() if kind == "recipients" else SuppressionList.load(path)
    error = info.value
    assert error.field == kind and error.value == str(path)
    assert (
        "line 3" in error.rule and "0xe9" in error.rule and "byte offset 44" in error.rule and "encoding=" in error.rule
    )
    people = RecipientSource(path, encoding="latin-1").collect()
    assert people[1].name == "Zoé"
    assert len(SuppressionList.load(path, encoding="latin-1")) == 2


def test_latin1_byte_far_into_a_large_file_names_its_line(tmp_path):
    body = "".join(f"+336123{i:05d},P{i}\n" for i in range(20_000))  # > several read chunks
    path = write(tmp_path, "people.csv", ("number,name\n" + body + "+33612345600,Zoé\n").encode("latin-1"))
    with pytest.raises(ValidationError, match=r"line 20002: not UTF-8 text \(byte 0xe9"):
        RecipientSource(path).collect()


@pytest.mark.parametrize("encoding", [None, "utf-8", "utf-8-sig"])
def test_utf8_bom_is_dropped(tmp_path, encoding):
    path = write(tmp_path, "people.csv", "\ufeffnumber;name\n+33612345600;Zoé\n".encode())
    source = RecipientSource(path, **({"encoding": encoding} if encoding else {}))
    assert [(p.number, p.name) for p in source] == [(FR[0], "Zoé")]


def test_utf16_file_is_named_as_such(tmp_path):
    path = write(tmp_path, "people.csv", "number,name\n+33612345600,Ann\n".encode("utf-16"))
    with pytest.raises(ValidationError, match="encoding='utf-16'"):
        RecipientSource(path).collect()
    assert [p.number for p in RecipientSource(path, encoding="utf-16")] == [FR[0]]


def test_unknown_encoding_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError) as info:
        RecipientSource(write(tmp_path, "a.csv", "number\n+33612345600\n"), encoding="latin-9000").collect()
    assert info.value.field == "encoding"


@pytest.mark.parametrize("kind", ["recipients", "suppression"])
def test_field_over_the_csv_limit_is_an_error(tmp_path, kind):
    path = write(tmp_path, "people.csv", "number,notes\n+33612345600,ok\n+33612345601," + "x" * 200_000 + "\n")
    with pytest.raises(ValidationError, match="line 3: a value is longer than the CSV limit") as info:
        RecipientSource(path, field=kind).collect() if kind == "recipients" else SuppressionList.load(path)
    assert info.value.field == kind


def test_binary_file_without_line_ends_is_an_error(tmp_path):
    path = write(tmp_path, "people.csv", "number\n" + "1" * (5 * 1024 * 1024))
    with pytest.raises(ValidationError, match="line 2 is longer than"):
        RecipientSource(path).collect()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('[\n  "+33612345600",\n  "+33612345601"\n', "not valid JSON: .* at line 4"),
        ('{"recipients": [1, 2,]}', "not valid JSON: .* at line 1, column 22"),
        ('{"people": []}', "must hold a list"),
        ('"+33612345600"', "must hold a list"),
    ],
)
def test_broken_json_is_an_error_with_line_and_column(tmp_path, content, match):
    path = write(tmp_path, "people.json", content)
    with pytest.raises(ValidationError, match=match) as info:
        validate(str(path))
    assert info.value.field == "recipients" and info.value.value == str(path)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('{"number": "+33612345600"}\n{"number": "+33612345601"\n{"number": "+33612345602"}\n', 2),
        ('{"number": "+33612345600"}\n\n{"number": "+336', 3),  # a torn last line
        ("+33612345600\n", 1),  # a bare number is not JSON
    ],
)
@pytest.mark.parametrize("kind", ["recipients", "suppression"])
def test_jsonl_bad_line_is_an_error_with_its_line(tmp_path, kind, content, line):
    path = write(tmp_path, "people.jsonl", content)
    with pytest.raises(ValidationError, match=f"line {line} is not JSON") as info:
        validate(str(path), skip_invalid=True) if kind == "recipients" else SuppressionList.load(path)
    assert info.value.field == kind and info.value.value == str(path)


@pytest.mark.parametrize("kind", ["recipients", "suppression"])
@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("directory", "is a directory"),
        ("directory_no_suffix", "is a directory"),
        ("missing", "does not exist"),
        ("empty", r"empty \(0 bytes\)"),
        ("empty_json", r"empty \(0 bytes\)"),
        ("blank_lines", "holds no data"),
    ],
)
def test_unreadable_paths_are_validation_errors(tmp_path, kind, setup, match):
    path = {
        "directory": tmp_path / "people.csv",
        "directory_no_suffix": tmp_path / "people",
        "missing": tmp_path / "nope.csv",
        "empty": tmp_path / "people.csv",
        "empty_json": tmp_path / "people.json",
        "blank_lines": tmp_path / "people.jsonl",
    }[setup]
    if setup.startswith("directory"):
        path.mkdir()
    elif setup.startswith("empty"):
        path.write_bytes(b"")
    elif setup == "blank_lines":
        path.write_text("\n  \n\n")
    for given in (str(path), path, f"file://{path}"):
        with pytest.raises(ValidationError, match=match) as info:
            validate(given) if kind == "recipients" else SuppressionList.load(given)
        assert info.value.field == kind and info.value.value == str(path)


def test_row_with_more_values_than_the_header_is_reported(tmp_path):
    path = write(tmp_path, "people.csv", "number,name\n+33612345600,Ann\n+33612345601,Smith, John\n+33612345602,Cid,\n")
    source = RecipientSource(path)
    assert [p.number for p in source] == [FR[0], FR[2]]  # a trailing empty value is harmless
    assert [(r.line, r.reason) for r in source.report.invalid] == [
        (3, "3 values, the header has 2 (an unquoted ',' inside a value?)")
    ]


def test_every_physical_line_is_accounted_for(tmp_path):
    content = "\r\n".join(
        ["number;name", "+33612345600;Ann", "", "junk;Bob", ";", "+33612345600;Dup", "+33612345601;Cid"]
    )
    source = RecipientSource(write(tmp_path, "people.csv", content + "\r\n"))
    assert [p.number for p in source] == [FR[0], FR[1]]
    report = source.report
    assert report.lines == 7 and report.header_line == 1 and report.blank == 2
    assert report.rows == 4 and report.valid + report.duplicates + report.invalid_count == report.rows
    assert [(r.line, r.value) for r in report.invalid] == [(4, "junk")]


def test_old_mac_line_ends_are_lines(tmp_path):
    source = RecipientSource(write(tmp_path, "people.csv", "number,name\r+33612345600,Ann\rjunk,Bob\r"))
    assert [p.number for p in source] == [FR[0]] and source.report.invalid[0].line == 3


def test_files_are_streamed(tmp_path):
    path = write(tmp_path, "people.csv", "number\n" + "".join(f"+336123{i:05d}\n" for i in range(100_000)))

    class Counting:  # an object-storage path: anything with .open()
        def __init__(self) -> None:
            self.path, self.handle = str(path), None

        def open(self, mode: str) -> Any:
            self.handle = open(path, mode)
            return self.handle

    storage = Counting()
    people = iter(RecipientSource(storage))
    assert next(people).number == "+33612300000"
    assert storage.handle.tell() < path.stat().st_size / 10  # only the first chunk(s) read so far
    assert sum(1 for _ in people) == 99_999


# ---------------------------------------------------------------------------------------------
# skip_invalid: every left-out row in a rejects file, a masked sample in the log
# ---------------------------------------------------------------------------------------------
def test_skip_invalid_writes_every_rejected_row_with_its_line(tmp_path, caplog):
    content = "phone,name\n+33612345600,Ann\n0612345601,Bob\n+33612345602,Cid\nhello,Dan\n+33612345699,Eve\n"
    rejects = tmp_path / "out" / "rejects.csv"
    with caplog.at_level(logging.WARNING):
        result = validate(str(write(tmp_path, "people.csv", content)), skip_invalid=True, rejects_path=str(rejects))
    assert [str(p.number) for p in result] == [FR[0], FR[2]]
    assert result.valid == 2 and result.invalid == 3 and result.rejects_path == rejects.as_uri()
    assert read_rejects(result.rejects_path) == [
        {"line": "3", "value": "0612345601", "reason": result.invalid_rows[0].reason},
        {"line": "5", "value": "hello", "reason": "not a phone number"},
        {"line": "6", "value": "+33612345699", "reason": "recipients[3].number: refused by the vendor rule"},
    ]
    assert "set default_region" in result.invalid_rows[0].reason
    summary = result.rejects_summary()
    assert summary["invalid"] == 3 and summary["rejects_path"] == rejects.as_uri()
    assert [r["line"] for r in summary["invalid_rows"]] == [3, 5, 6]
    assert "0612345601" not in json.dumps(summary) and "+33612345699" not in json.dumps(summary)  # masked for XCom
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "3 invalid row(s) left out" in logged and str(rejects.as_uri()) in logged and "line 3" in logged
    assert "0612345601" not in logged


def test_skip_invalid_default_rejects_location(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__VOICE__REJECTS_PATH", str(tmp_path / "rejects"))
    result = validate(["+33612345600", "nope"], skip_invalid=True, rejects_name="dag/run:1/task")
    assert result.rejects_path == (tmp_path / "rejects" / "dag" / "run_1" / "task.csv").as_uri()
    assert read_rejects(result.rejects_path) == [{"line": "2", "value": "nope", "reason": "not a phone number"}]
    assert validate(["+33612345600"], skip_invalid=True).rejects_path is None  # nothing rejected: no file


def test_strict_failure_names_the_rows_and_the_rejects_file(tmp_path):
    rejects = tmp_path / "rejects.csv"
    people = write(
        tmp_path, "people.csv", "number\n" + "\n".join([FR[0], "x1", FR[1], *(f"bad{i}" for i in range(10))]) + "\n"
    )
    with pytest.raises(ValidationError) as info:
        validate(people, rejects_path=rejects)
    assert info.value.field == "recipients[row 3]" and "11 invalid row(s): line 3: 'x1'" in info.value.rule
    assert "... 6 more" in info.value.rule and rejects.as_uri() in info.value.rule
    assert len(read_rejects(rejects.as_uri())) == 11


def test_rejects_file_is_not_left_half_written_when_the_file_is_broken(tmp_path):
    rejects = tmp_path / "rejects.csv"
    people = write(tmp_path, "people.csv", f'number,name\nbad,Ann\n{FR[0]},"Bob\n')
    with pytest.raises(ValidationError, match="never closed"):
        validate(people, skip_invalid=True, rejects_path=rejects)
    assert not rejects.exists() and list(tmp_path.iterdir()) == [people]


def test_second_pass_does_not_write_the_rejects_again(tmp_path):
    rejects = tmp_path / "rejects.csv"
    result = validate(["+33612345600", "nope", "+33612345699"], skip_invalid=True, rejects_path=rejects)
    assert [str(p.number) for p in result] == [FR[0]] and [str(p.number) for p in result] == [FR[0]]
    assert len(read_rejects(rejects.as_uri())) == 2


# ---------------------------------------------------------------------------------------------
# integration over the simulator: the ledger is the judge
# ---------------------------------------------------------------------------------------------
sms_context = functools.partial(
    task_context, dag_id="adv_dag", task_id="send_sms", run_id="run1", data_interval_start=None, data_interval_end=None
)


def test_nobody_on_a_semicolon_suppression_list_is_texted(voice_connections, tmp_path):
    from airflow_provider_voice.operators.sms import SendSMSOperator

    people = US[:8]
    dnc = write(tmp_path, "optouts.csv", "Numéro de téléphone;motif\n" + "".join(f"{n};STOP\n" for n in people[:3]))
    result = SendSMSOperator(
        task_id="send_sms", conn_id="televoips_default", sender="13214567890", text="Hi",
        recipients=people, suppression=str(dnc), checkpoint_path=str(tmp_path / "cp"),
    ).execute(sms_context())  # fmt: skip
    texted = voice_connections.state.ledger.counts("televoips", "sms")
    assert result["suppressed"] == 3 and result["accepted"] == 5
    assert all(PhoneNumber.parse(n).televoips not in texted for n in people[:3])
    assert all(texted[PhoneNumber.parse(n).televoips] == 1 for n in people[3:])


def test_nobody_on_a_national_txt_suppression_list_is_called(voice_connections, tmp_path):
    from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator

    people = FR[:6]
    dnc = write(tmp_path, "dnc.txt", "# do not call\n06 12 34 56 00\n0612345601\n")
    operator = dict(
        task_id="send", conn_id="octopush_default", recipients=people, campaign_name="dnc", message="Hello",
        suppression=str(dnc), checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    with pytest.raises(ValidationError, match="set default_region"):
        SendVoiceCampaignOperator(**operator).execute(sms_context(task_id="send"))
    assert len(voice_connections.state.ledger) == 0  # refused before anything was sent
    result = SendVoiceCampaignOperator(**operator, default_region="FR").execute(sms_context(task_id="send"))
    called = voice_connections.state.ledger.counts("octopush", "call")
    assert result["suppressed"] == 2 and result["accepted"] == 4
    assert all(PhoneNumber.parse(n).octopush not in called for n in people[:2])
    assert all(called[PhoneNumber.parse(n).octopush] == 1 for n in people[2:])


def test_skip_invalid_sms_run_writes_a_rejects_file_with_line_numbers(voice_connections, tmp_path, monkeypatch):
    from airflow_provider_voice.operators.sms import SendSMSOperator

    monkeypatch.setenv("AIRFLOW__VOICE__REJECTS_PATH", str(tmp_path / "rejects"))
    rows = ["phone;name", f"{US[0]};Ann", "555-NOPE;Bob", f"{US[1]};Cid", "", "+1 202;Dan", f"{US[2]};Eve"]
    source = write(tmp_path, "people.csv", "\n".join(rows) + "\n")
    result = SendSMSOperator(
        task_id="send_sms", conn_id="televoips_default", sender="13214567890", text="Hi ${name}",
        recipients=str(source), skip_invalid=True, checkpoint_path=str(tmp_path / "cp"),
    ).execute(sms_context())  # fmt: skip
    assert result["accepted"] == 3 and result["invalid"] == 2
    assert len(voice_connections.state.ledger.counts("televoips", "sms")) == 3
    written = sorted((tmp_path / "rejects").rglob("*.csv"))
    assert len(written) == 1
    rejected = read_rejects(written[0].as_uri())
    assert [(r["line"], r["value"]) for r in rejected] == [("3", "555-NOPE"), ("6", "+1 202")]
    assert all(r["reason"] for r in rejected)


def test_mask_helpers_keep_reasons_readable():
    row = validate(["+33612345600", "0612345601"], skip_invalid=True, rejects_path=False).invalid_rows[0]
    assert row.masked()["value"].endswith("01") and "0612345601" not in row.masked()["value"]
    assert "default_region" in row.masked()["reason"]
