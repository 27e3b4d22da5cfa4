"""ExportMessagesOperator's window with and without a logical date: the fallback is pinned to
``dag_run.run_after`` (the 90 days before it) and the task log says which window was used and why."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
import structlog.testing

from airflow_provider_voice.operators.messages import FALLBACK_LOOKBACK, ExportMessagesOperator
from airflow_provider_voice.testing import runs

DAY = 86400.0


def sdk_dag_run(run_after: dt.datetime, logical_date: dt.datetime | None = None):
    return runs.sdk_dag_run(run_after, logical_date=logical_date)


def window_lines(logs: list[dict]) -> list[str]:
    return [entry["event"] for entry in logs if entry["event"].startswith("message window")]


def add_inbound(sim, message_id: str, at: float) -> None:
    sim.state.televoips.add_message(
        {"id": message_id, "user_id": None, "number_id": "15125", "direction": "inbound", "to": "13214567890",
         "from": "14155552699", "content": "STOP", "time": "2026-01-01 00:00:00", "read": "0", "Media": []},
        at,
    )  # fmt: skip


def test_without_a_logical_date_the_window_is_the_90_days_before_run_after(tmp_path):
    run_after = dt.datetime(2024, 5, 2, 12, 0, tzinfo=dt.timezone.utc)
    op = ExportMessagesOperator(task_id="x", destination=str(tmp_path / "m.jsonl"))
    with structlog.testing.capture_logs() as logs:
        start, end = op.window({"run_id": "manual__x", "dag_run": sdk_dag_run(run_after)})
    assert (start, end) == (run_after - FALLBACK_LOOKBACK, None)
    (line,) = window_lines(logs)
    assert start.isoformat() in line and "the time of the request" in line
    assert "no logical date" in line and f"dag_run.run_after {run_after.isoformat()}" in line and "90 days" in line


def test_an_empty_interval_gives_the_same_window_as_no_logical_date(tmp_path):
    run_after = dt.datetime(2024, 5, 2, 12, 0, tzinfo=dt.timezone.utc)
    point = pendulum.instance(run_after)
    op = ExportMessagesOperator(task_id="x", destination=str(tmp_path / "m.jsonl"))
    manual = {
        "logical_date": point,
        "data_interval_start": point,
        "data_interval_end": point,
        "dag_run": sdk_dag_run(run_after, logical_date=point),
    }
    with structlog.testing.capture_logs() as logs:
        assert op.window(manual) == op.window({"dag_run": sdk_dag_run(run_after)})
    assert "data interval is empty" in window_lines(logs)[0]


@pytest.mark.parametrize(
    ("kwargs", "context", "reason"),
    [
        pytest.param({}, {"data_interval_start": None, "data_interval_end": None}, "no dag_run", id="no-dag-run"),
        pytest.param(
            {"use_data_interval": False},
            {"dag_run": sdk_dag_run(dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc))},
            "use_data_interval=False",
            id="opted-out",
        ),
    ],
)
def test_no_window_is_sent_only_outside_a_run_or_when_opted_out_and_the_log_says_so(kwargs, context, reason, tmp_path):
    op = ExportMessagesOperator(task_id="x", destination=str(tmp_path / "m.jsonl"), **kwargs)
    with structlog.testing.capture_logs() as logs:
        assert op.window(context) == (None, None)
    (line,) = window_lines(logs)
    assert reason in line and "TeleVoIPs returns the last 90 days" in line


def test_the_fallback_is_pinned_to_run_after_not_to_now(voice_connections, tmp_path):
    """A run that started 10 days ago exports from 100 days ago: a message 95 days old is in it,
    one 105 days old is not (the vendor's own default, the last 90 days from now, has neither)."""
    sim = voice_connections
    now = sim.state.now()
    add_inbound(sim, "recent", now - 1 * DAY)
    add_inbound(sim, "old", now - 95 * DAY)
    add_inbound(sim, "too-old", now - 105 * DAY)
    run_after = pendulum.from_timestamp(now - 10 * DAY)
    out = tmp_path / "m.jsonl"
    op = ExportMessagesOperator(task_id="x", destination=str(out), direction="inbound")
    with structlog.testing.capture_logs() as logs:
        result = op.execute({"run_id": "manual__x", "dag_run": sdk_dag_run(run_after)})
    assert result["count"] == 2 and result["end"] is None
    assert result["start"] == (run_after - FALLBACK_LOOKBACK).in_timezone("UTC").format("YYYY-MM-DD HH:mm:ss")
    assert sorted(line.split('"id": "')[1].split('"')[0] for line in out.read_text().splitlines()) == ["old", "recent"]
    assert any("no logical date" in line for line in window_lines(logs))
