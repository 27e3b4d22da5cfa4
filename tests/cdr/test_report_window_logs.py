"""Report windows with and without a logical date: the call-report exports fall back to the last complete
vendor-zone day before ``dag_run.run_after`` and log it; the CDR download logs the day TeleVoIPs chose."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
import structlog.testing

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
from airflow_provider_voice.operators.reports import KaleyraCallReportOperator, VelipCallStatusExportOperator
from airflow_provider_voice.testing import runs

UTC = dt.timezone.utc
RUN_AFTER = dt.datetime(2024, 5, 2, 2, 30, tzinfo=UTC)  # India: 08:00 on the 2nd; Brazil: 23:30 on the 1st
EXPORTS = [
    pytest.param(KaleyraCallReportOperator, dt.date(2024, 5, 1), id="kaleyra"),
    pytest.param(VelipCallStatusExportOperator, dt.date(2024, 4, 30), id="velip"),
]


def sdk_dag_run(*, logical_date=None, run_after=RUN_AFTER):
    return runs.sdk_dag_run(run_after, logical_date=logical_date)


def no_logical_date() -> dict:
    """A run triggered from the REST API or ``airflow dags trigger``: no ds, logical_date or data_interval_*."""
    return {"run_id": "manual__x", "dag_run": sdk_dag_run()}


def logged(fn, *args):
    """``(fn(*args), [log lines])``."""
    with structlog.testing.capture_logs() as logs:
        result = fn(*args)
    return result, [entry["event"] for entry in logs]


@pytest.mark.parametrize(("operator", "day"), EXPORTS)
def test_export_without_a_logical_date_falls_back_to_the_previous_vendor_day_and_logs_it(operator, day, tmp_path):
    op = operator(task_id="export", destination=str(tmp_path / "out.jsonl"))
    days, lines = logged(op.days, no_logical_date())
    assert days == (day, day)
    (line,) = [line for line in lines if line.startswith("report window")]
    assert f"{day} .. {day} ({op.vendor_timezone})" in line
    assert "no logical date" in line and f"dag_run.run_after {RUN_AFTER.isoformat()}" in line
    assert "last complete day" in line


@pytest.mark.parametrize(("operator", "day"), EXPORTS)
def test_export_with_an_empty_interval_picks_the_same_days_as_without_a_logical_date(operator, day, tmp_path):
    op = operator(task_id="export", destination=str(tmp_path / "out.jsonl"))
    point = pendulum.instance(RUN_AFTER)
    context = {
        "logical_date": point,
        "data_interval_start": point,
        "data_interval_end": point,
        "dag_run": sdk_dag_run(logical_date=point),
    }
    days, lines = logged(op.days, context)
    assert days == op.days(no_logical_date()) == (day, day)
    assert any("data interval is empty" in line for line in lines), lines


def test_export_with_a_data_interval_logs_it(tmp_path):
    op = KaleyraCallReportOperator(task_id="export", destination=str(tmp_path / "out.jsonl"))
    start = pendulum.datetime(2024, 5, 1, tz="Asia/Kolkata")
    context = {"data_interval_start": start, "data_interval_end": start.add(days=1), "dag_run": sdk_dag_run()}
    days, lines = logged(op.days, context)
    assert days == (dt.date(2024, 5, 1), dt.date(2024, 5, 1))
    assert any("report window 2024-05-01 .. 2024-05-01" in line and "data interval" in line for line in lines)


def test_export_given_dates_win_and_one_given_side_overrides_the_fallback(tmp_path):
    both = VelipCallStatusExportOperator(
        task_id="v", destination=str(tmp_path / "v.csv"), date_from="2024-04-01", date_to="2024-04-03"
    )
    days, lines = logged(both.days, no_logical_date())
    assert days == (dt.date(2024, 4, 1), dt.date(2024, 4, 3))
    assert any("date_from/date_to as given" in line for line in lines)
    one = VelipCallStatusExportOperator(task_id="v", destination=str(tmp_path / "v.csv"), date_from="2024-04-28")
    days, lines = logged(one.days, no_logical_date())
    assert days == (dt.date(2024, 4, 28), dt.date(2024, 4, 30))
    assert any("date_from as given" in line and "dag_run.run_after" in line for line in lines)


def test_export_outside_a_dag_run_needs_both_dates(tmp_path):
    op = KaleyraCallReportOperator(task_id="k", destination=str(tmp_path / "k.csv"), date_to="2024-05-01")
    with pytest.raises(ValidationError) as err:
        op.days({"data_interval_start": None, "data_interval_end": None})
    assert err.value.field == "date_from/date_to" and "no data interval" in str(err.value)


def test_export_executes_the_fallback_window_against_the_simulator(voice_connections, tmp_path, monkeypatch):
    """The fallback days are what the request is built from (and what the XCom reports)."""
    run_after = pendulum.now("UTC")
    yesterday = run_after.in_timezone("Asia/Kolkata").date() - dt.timedelta(days=1)
    op = KaleyraCallReportOperator(task_id="k", destination=str(tmp_path / "k.jsonl"), asset=False)
    asked: list[tuple[dt.date, dt.date]] = []
    rows = op.rows
    monkeypatch.setattr(op, "rows", lambda first, last: asked.append((first, last)) or rows(first, last))
    result, lines = logged(op.execute, {"run_id": "manual__x", "dag_run": sdk_dag_run(run_after=run_after)})
    assert asked == [(yesterday, yesterday)]
    assert result["from"] == result["to"] == yesterday.isoformat()
    assert any("no logical date" in line for line in lines)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        pytest.param(no_logical_date(), "no logical date", id="no-logical-date"),
        pytest.param({}, "no dag_run.run_after", id="no-dag-run"),
    ],
)
def test_cdr_download_logs_that_televoips_picks_the_day(voice_connections, tmp_path, context, expected):
    voice_connections.state.configure(cdr_compile_seconds=0, cdr_rows=3)
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(tmp_path / "d.csv"), poll_interval=0.05, wait_timeout=10, asset=False
    )
    result, lines = logged(op.execute, context)
    (line,) = [line for line in lines if line.startswith("CDR report window")]
    assert f"day {result['day']}, chosen by TeleVoIPs" in line and expected in line


def test_cdr_download_warns_when_the_data_interval_is_another_day(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=0, cdr_rows=3)
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(tmp_path / "d.csv"), poll_interval=0.05, wait_timeout=10, asset=False
    )
    backfill = {
        "data_interval_start": pendulum.datetime(2020, 1, 1),
        "data_interval_end": pendulum.datetime(2020, 1, 2),
    }
    with structlog.testing.capture_logs() as logs:
        result = op.execute(backfill)
    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert any("2020-01-01 .. 2020-01-01" in w and f"served the report of {result['day']}" in w for w in warnings)
