"""run_window / previous_day: which window a task context stands for, with and without a logical date."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pendulum
import pytest

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.report_window import RunWindow, previous_day, run_window
from airflow_provider_voice.testing import runs

UTC = dt.timezone.utc
RUN_AFTER = dt.datetime(2024, 5, 2, 3, 30, tzinfo=UTC)


def sdk_dag_run(*, logical_date=None, start=None, end=None, run_after=RUN_AFTER):
    return runs.sdk_dag_run(run_after, logical_date=logical_date, start=start, end=end)


def no_logical_date_context() -> dict:
    """What a run triggered from the REST API / ``airflow dags trigger`` gets: no ds, logical_date, data_interval_*."""
    return {"run_id": "manual__x", "dag_run": sdk_dag_run()}


def test_a_run_without_a_logical_date_falls_back_to_run_after():
    window = run_window(no_logical_date_context())
    assert window.source == "run_after" and window.anchor == RUN_AFTER
    assert window.start is None and window.end is None
    assert "no logical date" in window.reason
    text = window.describe()
    assert "dag_run.run_after" in text and RUN_AFTER.isoformat() in text


def test_a_non_empty_data_interval_is_used_as_it_is():
    start, end = pendulum.datetime(2024, 5, 1), pendulum.datetime(2024, 5, 2)
    window = run_window({"data_interval_start": start, "data_interval_end": end, "dag_run": sdk_dag_run()})
    assert window == RunWindow("data_interval", start=start, end=end)
    assert window.describe() == f"the run's data interval {start.isoformat()} .. {end.isoformat()}"


@pytest.mark.parametrize("with_dag_run", [True, False], ids=["dag_run", "bare"])
def test_an_empty_interval_is_a_point_in_time_not_a_window(with_dag_run):
    point = pendulum.datetime(2024, 5, 2, 0, 0)
    context = {"data_interval_start": point, "data_interval_end": point, "logical_date": point}
    if with_dag_run:
        context["dag_run"] = sdk_dag_run(logical_date=point, start=point, end=point)
    window = run_window(context)
    assert window.source == "run_after"
    assert window.anchor == (RUN_AFTER if with_dag_run else point)
    assert "empty" in window.reason


def test_outside_a_dag_run_there_is_no_window():
    for context in ({}, {"data_interval_start": None, "data_interval_end": None}, None):
        window = run_window(context)
        assert window.source == "none" and window.anchor is None
        assert "no dag_run.run_after" in window.describe()


def test_dag_run_as_an_object_or_a_mapping_and_naive_run_after_is_utc():
    naive = dt.datetime(2024, 5, 2, 3, 30)
    for dag_run in (SimpleNamespace(run_after=naive, logical_date=None), {"run_after": naive}):
        window = run_window({"dag_run": dag_run})
        assert window.source == "run_after" and window.anchor == RUN_AFTER


def test_an_interval_ending_before_it_starts_is_refused():
    with pytest.raises(ValidationError) as err:
        run_window(
            {"data_interval_start": pendulum.datetime(2024, 5, 2), "data_interval_end": pendulum.datetime(2024, 5, 1)}
        )
    assert err.value.field == "data_interval"


@pytest.mark.parametrize(
    ("instant", "tz", "day"),
    [
        (dt.datetime(2024, 5, 2, 3, 30, tzinfo=UTC), "UTC", dt.date(2024, 5, 1)),
        # 2024-05-02 02:30 UTC is already 08:00 on the 2nd in India, still 23:30 on the 1st in Brazil
        (dt.datetime(2024, 5, 2, 2, 30, tzinfo=UTC), "Asia/Kolkata", dt.date(2024, 5, 1)),
        (dt.datetime(2024, 5, 2, 2, 30, tzinfo=UTC), "America/Sao_Paulo", dt.date(2024, 4, 30)),
        (dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC), "UTC", dt.date(2024, 2, 29)),
    ],
)
def test_previous_day_is_the_last_complete_day_in_the_vendor_zone(instant, tz, day):
    assert previous_day(instant, tz) == day
