"""Header check, record counting while streaming, atomic writes and JSONL/CSV exports."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest

from airflow_provider_voice.capabilities.export import export_records
from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.storage import open_atomic
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord
from airflow_provider_voice.vendors.televoips.cdr import CDR_FIELDS
from airflow_provider_voice.vendors.televoips.cdr_download import CdrStreamScanner, check_cdr_header

# -- header ---------------------------------------------------------------------------------------


def test_documented_header_with_either_spelling():
    for spelling in ("cnum", "cunm"):
        columns = [spelling if c == "cnum" else c for c in CDR_FIELDS]
        check = check_cdr_header(columns)
        assert check.missing == () and check.unknown == () and not check.problems("strict")
    assert check_cdr_header(["CUNM"]).aliases == {"CUNM": "cnum"}


def test_userfield_and_extra_columns():
    check = check_cdr_header([*CDR_FIELDS, "userfield", "carrier", "Region"])
    assert check.unknown == ("carrier", "Region") and not check.problems("core")


def test_missing_columns_by_policy():
    check = check_cdr_header([c for c in CDR_FIELDS if c not in ("dst_cnam", "billsec")])
    assert check.missing == ("billsec", "dst_cnam") and check.missing_core == ("billsec",)
    assert check.problems("core") == ["missing column(s) billsec"]
    assert check.problems("strict") == ["missing column(s) billsec, dst_cnam"]
    assert check.problems("off") == []
    assert check_cdr_header([*CDR_FIELDS, "src"]).problems("core") == ["duplicated column(s) src"]


# -- scanner --------------------------------------------------------------------------------------


def _csv(rows: list[list[str]], terminator: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow(CDR_FIELDS)
    writer.writerows(rows)
    return out.getvalue().encode()


def _row(i: int, lastdata: str = "x") -> list[str]:
    values = {c: "" for c in CDR_FIELDS} | {
        "calldate": "2024-01-01 00:00:00",
        "duration": "1",
        "billsec": "1",
        "disposition": "ANSWERED",
    }
    values["lastdata"], values["uniqueid"], values["clid"] = lastdata, str(i), f'"Name {i}" <{i}>'
    return [values[c] for c in CDR_FIELDS]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 4096])
@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_scanner_counts_records_across_any_chunking(chunk, terminator):
    rows = [_row(i, lastdata="two\nlines" if i % 3 == 0 else 'say ""hi""') for i in range(25)]
    data = _csv(rows, terminator)
    for trailing in (True, False):
        body = data if trailing else data.rstrip(b"\r\n")
        scanner = CdrStreamScanner("strict")
        for i in range(0, len(body), chunk):
            scanner.feed(body[i : i + chunk])
        scanner.finish()
        assert scanner.rows == 25 and scanner.bytes == len(body)
        assert scanner.header is not None and scanner.header.missing == ()


def test_scanner_ignores_blank_lines_and_counts_header_only_file():
    scanner = CdrStreamScanner()
    scanner.feed(_csv([]) + b"\n\n")
    scanner.finish()
    assert scanner.rows == 0


def test_scanner_rejects_bad_header_and_empty_file():
    scanner = CdrStreamScanner("core")
    with pytest.raises(MalformedResponseError, match="missing column"):
        scanner.feed(b"<html><body>Maintenance</body></html>\n")
    with pytest.raises(MalformedResponseError, match="empty"):
        CdrStreamScanner().finish()
    scanner = CdrStreamScanner()
    with pytest.raises(MalformedResponseError, match="no header line"):
        scanner.feed(b"x" * 70_000)


def _scan(body: bytes, sizes: list[int], exact_only: bool = False) -> tuple[object, ...]:
    """Feed ``body`` in chunks of ``sizes`` (cycled); the scanner's state and its verdict."""
    scanner = CdrStreamScanner("off")
    if exact_only:
        scanner._scan_fast = lambda chunk: False  # type: ignore[method-assign]
    i = k = 0
    while i < len(body):
        scanner.feed(body[i : i + sizes[k % len(sizes)]])
        i, k = i + sizes[k % len(sizes)], k + 1
    state = (scanner.records, scanner._in_quotes, scanner._carry, bytes(scanner._tail), scanner._tail_whole)
    try:
        scanner.finish()
    except (MalformedResponseError, csv.Error) as exc:  # csv.Error: a bare CR in an unterminated last line
        return (*state, repr(exc))
    return (*state, scanner.rows)


def test_fast_scan_agrees_with_the_line_by_line_scan_on_any_input_and_chunking():
    rng = random.Random(5)
    alphabet = [b'"', b'"', b"\n", b"\n", b"\r", b",", b"a", b"bc", b'""', b"\r\n", b"\n\n"]
    for _ in range(400):
        body = b"h,i\n" + b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        sizes = [rng.randint(1, 40) for _ in range(rng.randint(1, 4))]
        assert _scan(body, sizes) == _scan(body, sizes, exact_only=True), (body, sizes)


def test_block_of_plain_rows_is_counted_without_the_line_by_line_scan():
    rows = [_row(i, lastdata='say ""hi"", PJSIP/1,30') for i in range(2000)]
    body = _csv(rows)
    scanner = CdrStreamScanner()
    scanner._scan_exact = None  # type: ignore[assignment,method-assign]  # the fast scan must do it all
    for i in range(0, len(body), 1 << 16):  # chunk ends fall inside quoted fields too
        scanner.feed(body[i : i + (1 << 16)])
    scanner.finish()
    assert scanner.rows == 2000
    # a quoted newline or a blank line in a block: that block is scanned line by line, still exact
    multiline = _csv([*rows[:10], _row(10, lastdata="two\nlines"), *rows[11:20]]) + b"\n"
    for body in (multiline, multiline.replace(b"\n", b"\r\n")):
        scanner = CdrStreamScanner()
        scanner.feed(body)
        scanner.finish()
        assert scanner.rows == 20 == len(list(csv.reader(io.StringIO(body.decode())))) - 2  # header, blank


def test_large_local_write_starts_writeback_and_keeps_every_byte(tmp_path, monkeypatch):
    import os

    calls: list[tuple[int, int]] = []
    real = os.posix_fadvise
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, off, n, advice: (calls.append((off, n)), real(fd, off, n, advice))
    )
    block = bytes(range(256)) * 4096  # 1 MiB
    dest = tmp_path / "big.csv"
    with open_atomic(dest) as target:
        for _ in range(20):
            target.write(block)
    assert dest.read_bytes() == block * 20
    assert calls == [(0, 8 << 20), (0, 16 << 20)]  # every 8 MiB: the range since the kick before last


# -- atomic writes --------------------------------------------------------------------------------


def test_atomic_write_appears_only_when_complete(tmp_path):
    dest = tmp_path / "a" / "b.csv"
    with open_atomic(dest) as target:
        target.write(b"hello ")
        assert not dest.exists()  # nothing visible while writing
        (temp,) = list(dest.parent.iterdir())
        assert temp.name.startswith(".b.csv.") and temp.name.endswith(".part")
        target.write(b"world")
    assert dest.read_bytes() == b"hello world" and target.committed and target.bytes_written == 11
    assert list(dest.parent.iterdir()) == [dest]


def test_failed_write_leaves_nothing_and_keeps_previous_file(tmp_path):
    dest = tmp_path / "b.csv"
    with pytest.raises(RuntimeError), open_atomic(dest) as target:
        target.write(b"partial")
        raise RuntimeError("network went away")
    assert list(tmp_path.iterdir()) == []
    dest.write_bytes(b"yesterday's complete file")
    with pytest.raises(KeyboardInterrupt), open_atomic(dest) as target:
        target.write(b"partial")
        raise KeyboardInterrupt
    assert dest.read_bytes() == b"yesterday's complete file" and list(tmp_path.iterdir()) == [dest]


def test_atomic_write_through_object_storage_path(tmp_path):
    from airflow.sdk import ObjectStoragePath

    dest = ObjectStoragePath(f"file://{tmp_path}/osp/c.csv")
    with open_atomic(dest) as target:
        target.write(b"data")
        assert not dest.exists()
    assert dest.read_bytes() == b"data" and target.url == f"file://{tmp_path}/osp/c.csv"
    with pytest.raises(ValueError), open_atomic(ObjectStoragePath(f"file://{tmp_path}/osp/d.csv")) as target:
        target.write(b"half")
        raise ValueError("boom")
    assert sorted(p.name for p in (tmp_path / "osp").iterdir()) == ["c.csv"]


def test_destination_validation():
    with pytest.raises(ValidationError):
        with open_atomic("   "):
            pass
    with pytest.raises(ValidationError):
        with open_atomic(42):
            pass


# -- exports ----------------------------------------------------------------------------------------


def test_export_jsonl_keeps_everything(tmp_path):
    rows = [KaleyraCallRecord.model_validate({"id": "a", "duration": "3", "new_field": "z"}), {"id": "b", "other": 1}]
    result = export_records(rows, tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert (
        result.rows == 2 and result.file_format == "jsonl" and result.bytes == (tmp_path / "out.jsonl").stat().st_size
    )
    assert lines[0]["duration"] == 3 and lines[0]["new_field"] == "z" and lines[1] == {"id": "b", "other": 1}


def test_export_csv_columns_and_late_fields(tmp_path):
    rows = [
        KaleyraCallRecord.model_validate({"id": "a", "duration": "3", "first_extra": "1"}),
        KaleyraCallRecord.model_validate({"id": "b", "late_extra": "2"}),
    ]
    result = export_records(rows, f"file://{tmp_path}/out.csv")
    read = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [r["id"] for r in read] == ["a", "b"] and read[0]["duration"] == "3" and read[1]["duration"] == ""
    assert result.columns[-1] == "first_extra" and result.dropped_columns == ["late_extra"]


def test_export_failure_mid_stream_leaves_nothing(tmp_path):
    def rows():
        yield {"id": "a"}
        raise ConnectionError("page 2 failed")

    with pytest.raises(ConnectionError):
        export_records(rows(), tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_export_format_from_suffix():
    with pytest.raises(ValidationError, match=r"\.jsonl"):
        export_records([], "/tmp/out.parquet")


def test_object_storage_url_whose_filesystem_package_is_missing_is_bad_input(monkeypatch):
    """s3:// without s3fs: a ValidationError naming the field and the package, not a later ImportError."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_voice.storage import resolve_location

    def missing(self):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(ObjectStoragePath, "fs", property(missing))
    with pytest.raises(ValidationError) as caught:
        resolve_location("s3://aws_default@bucket/checkpoints", field="checkpoint_path")
    assert caught.value.field == "checkpoint_path"
    assert "s3:// needs a package this worker lacks (Install s3fs to access S3)" in str(caught.value)
