"""Issue 9, "longest functions": ``validate_recipients`` and ``SuppressionList.load`` were split into steps.

These tests pin what the split must keep exactly: which check wins when several apply (invalid rows
before "empty" before "no valid recipient"; invalid entries before "no number"), the messages, the
rejects file (moved into place, or discarded when the pass fails), and the left-out rows counted past
``keep_invalid``.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import SuppressionList
from airflow_provider_voice.errors import ValidationError

GOOD = ["+33612345601", "+33612345602"]
REFUSED = "+33612345699"


class EndsIn99:
    """Refuses numbers ending in 99 (a stand-in vendor rule)."""

    vendor = "test"

    def validate_recipient(self, spec: Any, recipient: Any, position: int) -> None:
        """Refuse numbers ending in 99.

        :param spec: unused.
        :param recipient: the recipient checked.
        :param position: its position in the source.
        """
        if str(recipient.number).endswith("99"):
            raise ValidationError(f"recipients[{position}].number", str(recipient.number), "refused by the rule")


def validate(source: Any, **kwargs: Any) -> Any:
    """``validate_recipients`` with :class:`EndsIn99`."""
    return validate_recipients(source, EndsIn99(), None, **kwargs)  # type: ignore[arg-type]


def test_an_invalid_row_fails_before_the_no_valid_recipient_check(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        validate([REFUSED, "not a number"], rejects_path=tmp_path / "rejects.csv")
    error = caught.value
    assert error.field == "recipients[row 1]"
    assert error.value == REFUSED
    assert error.vendor == "test"
    assert error.rule.startswith("2 invalid row(s): item 1: ")
    assert error.rule.endswith(
        f" (all of them in {(tmp_path / 'rejects.csv').as_uri()}). Fix them or set skip_invalid=True"
    )
    with (tmp_path / "rejects.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "value", "reason"]
    assert [row[:2] for row in rows[1:]] == [["1", REFUSED], ["2", "not a number"]]


def test_all_rows_skipped_gives_no_valid_recipient_with_the_counts() -> None:
    with pytest.raises(ValidationError) as caught:
        validate([REFUSED, REFUSED.replace("56", "57"), REFUSED], skip_invalid=True, rejects_path=False)
    error = caught.value
    assert error.field == "recipients"
    assert error.value == "<3 rows>"
    assert error.rule == "no valid recipient (3 rows read, 2 invalid, 1 duplicates)"


def test_empty_source_is_checked_after_the_left_out_rows_and_before_no_valid() -> None:
    with pytest.raises(ValidationError) as caught:
        validate([], skip_invalid=True, rejects_path=False)
    assert caught.value.value == "<0 rows>"
    assert caught.value.rule.startswith("no recipients: the source is empty")


def test_skipped_rows_are_all_counted_kept_up_to_the_limit_and_logged(tmp_path: Path, caplog: Any) -> None:
    source = [*GOOD, REFUSED, "+33612345599", "+33612345499"]
    caplog.set_level(logging.WARNING)
    result = validate(source, skip_invalid=True, keep_invalid=1, log_sample=1, rejects_path=tmp_path / "r.csv")
    assert (result.valid, result.invalid, result.rows) == (2, 3, 5)
    assert len(result.invalid_rows) == 1
    assert result.rejects_path == (tmp_path / "r.csv").as_uri()
    assert result.report.rejects_path == result.rejects_path
    assert [str(r.number) for r in result] == GOOD
    warning = [r.getMessage() for r in caplog.records if "left out (skip_invalid=True)" in r.getMessage()]
    assert len(warning) == 1
    assert "3 invalid row(s) left out" in warning[0]
    assert "first 1:" in warning[0]
    assert REFUSED not in warning[0]  # masked


def test_a_failed_pass_discards_the_partial_rejects_file(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    rows = "number\n" + REFUSED + "\n" + (GOOD[0] + "\n") * 20_000  # the refused row is written before the break
    people.write_bytes(rows.encode() + b"\xff\xfe broken\n")
    target = tmp_path / "rejects.csv"
    with pytest.raises(ValidationError) as caught:
        validate(people, skip_invalid=True, rejects_path=target)
    assert caught.value.field != "rejects_path"
    assert not target.exists()
    assert not list(tmp_path.glob("*rejects*"))


def test_suppression_invalid_entries_fail_before_the_no_number_check(tmp_path: Path) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text("0612345678\nnonsense\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        SuppressionList.load(str(path))
    error = caught.value
    assert (error.field, error.value) == ("suppression", str(path))
    assert error.rule.startswith("2 of 2 entries are not valid numbers: line 1: ")
    assert error.rule.endswith(
        ". A do-not-call list is never loaded in part: fix these entries, set "
        "default_region for national numbers, or pass skip_invalid=True"
    )


def test_suppression_all_entries_skipped_is_no_valid_number(tmp_path: Path, caplog: Any) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text("0612345678\nnonsense\n", encoding="utf-8")
    caplog.set_level(logging.WARNING)
    with pytest.raises(ValidationError) as caught:
        SuppressionList.load(str(path), skip_invalid=True)
    assert caught.value.rule.startswith("2 entries but no valid number (")
    assert any("(left out: skip_invalid=True)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("  ", "an empty path (a template that rendered to nothing?); pass None for no list"),
        ({"number": GOOD[0]}, "a list of numbers, a file path, an object-storage path or an Asset"),
        (b"+33612345601", "a list of numbers, a file path, an object-storage path or an Asset"),
        (42, "a list of numbers, a file path, an object-storage path or an Asset"),
    ],
)
def test_suppression_source_kinds_are_checked_first(source: Any, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SuppressionList.load(source, field="dnc")
    assert (caught.value.field, caught.value.rule) == ("dnc", rule)


def test_suppression_asset_reads_its_uri_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text("\n".join(GOOD) + "\n", encoding="utf-8")

    class Asset:
        """Has a ``uri`` and no ``open``, like an Airflow Asset."""

        uri = str(path)

    loaded = SuppressionList.load(Asset())
    assert (loaded.numbers, loaded.source, loaded.rows) == (frozenset(GOOD), str(path), 2)
    missing = SuppressionList.load(str(tmp_path / "absent.txt"), missing_ok=True)
    assert (missing.missing, missing.numbers) == (True, frozenset())
