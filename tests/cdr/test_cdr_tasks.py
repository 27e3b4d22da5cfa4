"""CdrReportSensor and DownloadCdrReportOperator run directly (no scheduler) against the simulator."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException, TaskDeferred
from helpers import OutletEvents

from airflow_provider_voice.errors import AuthError, ValidationError
from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator, default_asset_for
from airflow_provider_voice.sensors.cdr import CdrReportSensor
from airflow_provider_voice.triggers.cdr import CdrReportTrigger
from airflow_provider_voice.vendors.televoips.api_reports import CdrReportNotReadyError


def test_sensor_poke_mode_returns_report_handle(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=0.3)
    sensor = CdrReportSensor(task_id="wait", poke_interval=0.1, timeout=10, mode="poke", deferrable=False)
    handle = sensor.execute({})
    assert set(handle) == {"id", "url", "day"} and handle["url"].endswith(f"cdrs_{handle['day']}.csv")


def test_sensor_poke_mode_times_out(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    sensor = CdrReportSensor(task_id="wait", poke_interval=0.1, timeout=0.3, mode="poke", deferrable=False)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute({})


def test_sensor_refuses_other_vendors(voice_connections):
    with pytest.raises(ValidationError, match="televoips"):
        CdrReportSensor(task_id="wait", conn_id="kaleyra_default", deferrable=False).execute({})


def test_sensor_wrong_key_fails_fast(voice_connections):
    sensor = CdrReportSensor(
        task_id="wait", conn_id="televoips_wrong_key", poke_interval=0.1, timeout=10, deferrable=False
    )
    with pytest.raises(AuthError, match="Access Denied"):
        sensor.execute({})


def test_sensor_defers_with_a_deadline(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    sensor = CdrReportSensor(task_id="wait", poke_interval=30, timeout=600, deferrable=True)
    before = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CdrReportTrigger) and trigger.poll_interval == 30
    deadline = dt.datetime.fromisoformat(trigger.deadline)
    assert before + dt.timedelta(seconds=599) <= deadline <= before + dt.timedelta(seconds=602)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout > dt.timedelta(seconds=600)  # Airflow's guard leaves the trigger its final poll


def test_sensor_deferrable_but_already_complete_does_not_defer(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=0)
    sensor = CdrReportSensor(task_id="wait", poke_interval=0.1, deferrable=True)
    with pytest.raises(TaskDeferred):
        sensor.execute({})  # the first request of the day answers 202 requested
    assert sensor.execute({})["id"]  # now 201 complete: returned without deferring


def test_sensor_execute_complete_events():
    sensor = CdrReportSensor(task_id="wait", deferrable=True)
    event = {"status": "success", "message": "ok", "id": "a", "url": "u", "day": "2024-01-01"}
    assert sensor.execute_complete({}, event) == {"id": "a", "url": "u", "day": "2024-01-01"}
    with pytest.raises(AirflowSensorTimeout, match="deadline"):
        sensor.execute_complete({}, {"status": "timeout", "message": "still processing at the deadline"})
    with pytest.raises(AirflowException, match="Access Denied"):
        sensor.execute_complete({}, {"status": "error", "message": "HTTP 403: Access Denied"})
    soft = CdrReportSensor(task_id="wait2", soft_fail=True)
    with pytest.raises(AirflowSkipException):  # soft_fail turns the timeout into a skip (BaseSensorOperator)
        soft.resume_execution("execute_complete", {"event": {"status": "timeout", "message": "late"}}, {})


def test_operator_requests_waits_and_downloads(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=0.3, cdr_rows=25)
    dest = tmp_path / "cdrs" / "day.csv"
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(dest), poll_interval=0.1, wait_timeout=10, deferrable=False
    )
    events = OutletEvents()
    result = op.execute({"outlet_events": events})
    assert result["rows"] == 25 and result["bytes"] == dest.stat().st_size and result["path"] == dest.as_uri()
    (asset,) = op.outlets
    assert asset == Asset(name=dest.as_uri(), uri=dest.as_uri())
    assert events[asset].extra == {
        "path": dest.as_uri(),
        "bytes": result["bytes"],
        "rows": 25,
        "day": result["day"],
        "report_id": result["report_id"],
    }


def test_operator_with_sensor_xcom_and_object_storage(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=0, cdr_rows=7)
    sensor = CdrReportSensor(task_id="wait", poke_interval=0.05, timeout=5, deferrable=False)
    handle = sensor.execute({})
    url = f"file://{tmp_path}/osp/out.csv"
    for report in (handle, str(handle), handle["url"]):  # XComArg value, rendered template, bare url
        op = DownloadCdrReportOperator(task_id="dl", destination=url, report=report, asset=False)
        assert op.outlets == []
        result = op.execute({})
        assert result["rows"] == 7 and result["path"] == url
    assert sorted(p.name for p in (tmp_path / "osp").iterdir()) == ["out.csv"]


def test_operator_defers_when_not_ready_then_downloads_on_event(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=3600, cdr_rows=3)
    dest = tmp_path / "d.csv"
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(dest), deferrable=True, poll_interval=5, wait_timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert isinstance(deferred.value.trigger, CdrReportTrigger) and not dest.exists()
    voice_connections.state.configure(cdr_compile_seconds=0)
    handle = CdrReportSensor(task_id="w", deferrable=False, poke_interval=0.05, timeout=5).execute({})
    result = op.execute_complete({}, {"status": "success", "message": "ok", **handle})
    assert result["rows"] == 3 and dest.exists()
    with pytest.raises(AirflowException, match="deadline"):
        op.execute_complete({}, {"status": "timeout", "message": "still processing at the deadline"})


def test_operator_blocking_wait_times_out(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(tmp_path / "x.csv"), poll_interval=0.1, wait_timeout=0.3, deferrable=False
    )
    with pytest.raises(CdrReportNotReadyError, match="still processing"):
        op.execute({})
    assert list(tmp_path.iterdir()) == []


def test_operator_arguments_and_template_fields():
    op = DownloadCdrReportOperator(task_id="dl", destination="s3://bucket/cdrs/{{ ds }}.csv")
    assert set(op.template_fields) == {"destination", "conn_id", "report"}
    assert op.outlets == [Asset(name="s3://bucket/cdrs", uri="s3://bucket/cdrs")]
    assert DownloadCdrReportOperator(task_id="a", destination="/x/y.csv", asset="file:///lake/cdrs").outlets == [
        Asset(name="file:///lake/cdrs", uri="file:///lake/cdrs")
    ]
    with pytest.raises(ValidationError):
        DownloadCdrReportOperator(task_id="b", destination="/x.csv", header_policy="loose")
    with pytest.raises(TypeError):
        DownloadCdrReportOperator("positional", task_id="c")  # keyword-only
    assert default_asset_for("{{ var.value.where }}") is None
