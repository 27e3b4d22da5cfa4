"""Outcome tables on their own: schema, atomic writes, reading back, and bad tables refused clearly."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from airflow_provider_voice.capabilities.outcome_table import (
    OutcomeTableRows,
    OutcomeTableWriter,
    arrow_schema,
    outcome_table_paths,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.outcomes import OUTCOME_COLUMNS, RecipientOutcome, combine_attempts


def row(i: int, outcome: str = "answered") -> RecipientOutcome:
    return RecipientOutcome(row_id=f"r{i}", line=i, number=f"+3361234{i:04d}", name=f"N{i}", outcome=outcome,
                            variables={"ward": "A"}, started_at="2026-12-01T10:00:00+00:00", duration=3.5)  # fmt: skip


def test_paths_from_a_stem_or_a_file(tmp_path):
    assert {k: v.name for k, v in outcome_table_paths(tmp_path / "t").items()} == {
        "csv": "t.csv",
        "parquet": "t.parquet",
    }
    assert {k: v.name for k, v in outcome_table_paths(tmp_path / "t.parquet", "csv").items()} == {"csv": "t.csv"}
    with pytest.raises(ValidationError, match="csv, parquet or both"):
        outcome_table_paths(tmp_path / "t", "xlsx")


def test_parquet_has_the_documented_schema_and_round_trips(tmp_path):
    with OutcomeTableWriter(tmp_path / "t") as table:
        table.add_all(row(i, "no_answer" if i % 3 else "answered") for i in range(25_000))
    schema = pq.read_schema(tmp_path / "t.parquet")
    assert schema.names == [name for name, _, _ in OUTCOME_COLUMNS]
    assert schema.equals(arrow_schema(), check_metadata=False)
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_rows == 25_000
    back = list(OutcomeTableRows(tmp_path / "t.parquet").outcome_rows())
    assert back[7] == row(7, "no_answer") and back[7].started_at == "2026-12-01T10:00:00+00:00"
    assert table.written.counts["answered"] == 8334 and table.written.rows == 25_000


def test_nothing_is_left_at_the_destination_when_writing_fails(tmp_path):
    with pytest.raises(RuntimeError), OutcomeTableWriter(tmp_path / "t") as table:
        table.add(row(1))
        raise RuntimeError("the vendor stopped answering")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("t.csv", "number,outcome\n+33612345678,answered\n", "no column"),
        ("t.parquet", "not parquet at all", "not a Parquet file"),
        ("t.txt", "x", ".csv or .parquet"),
    ],
)
def test_a_file_that_is_not_an_outcome_table_is_refused(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ValidationError, match=problem):
        list(OutcomeTableRows(path))


def test_an_edited_row_with_an_unknown_outcome_names_its_line(tmp_path):
    with OutcomeTableWriter(tmp_path / "t", formats="csv") as table:
        table.add_all([row(1), row(2)])
    text = (tmp_path / "t.csv").read_text().replace(",answered,", ",called,", 1)
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(ValidationError, match="row 2"):
        list(OutcomeTableRows(tmp_path / "t.csv"))


@pytest.mark.parametrize(
    "attempts, outcome",
    [
        ([], "pending"),
        (["no_answer", "answered"], "answered"),
        (["busy", "no_answer"], "no_answer"),
        (["no_answer", "pending"], "pending"),
        (["answered", "failed"], "answered"),
    ],
)
def test_attempts_combine(attempts, outcome):
    assert combine_attempts(attempts) == outcome


def test_repr_masks_the_number():
    assert "+33612340001" not in repr(row(1)) and "r1" in repr(row(1))
