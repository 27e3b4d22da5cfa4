"""``dag.test()`` of dags/example_daily_cdr.py against the simulator: the deferrable sensor's trigger
runs in-process, the file lands in the folder, and the Asset event is recorded in the metadata DB."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture
def demo_env(voice_connections, monkeypatch):
    # the session-wide demo folder (tests/conftest.py): the Asset URI must be the same in every parse
    demo_dir = Path(os.environ["AIRFLOW_PROVIDER_VOICE_DEMO_DIR"])
    shutil.rmtree(demo_dir / "cdrs", ignore_errors=True)
    monkeypatch.setenv("AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL", voice_connections.url)
    voice_connections.state.configure(cdr_compile_seconds=1.5, cdr_rows=300, cdr_bad_line=10)
    return demo_dir


def test_example_daily_cdr(demo_env, run_dag):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    run = run_dag("example_daily_cdr")
    assert run.state == "success"
    folder_uri = Path(demo_env, "cdrs").absolute().as_uri()
    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == folder_uri, AssetEvent.source_run_id == run.run_id)
        ).all()
        assert len(events) == 1
        event = events[0]
        assert event.source_dag_id == "example_daily_cdr" and event.source_task_id == "download_cdr_report"
        assert event.extra["rows"] == 300 and event.extra["path"].startswith(folder_uri + "/")
        summary = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == "example_daily_cdr",
                XComModel.task_id == "summarize_calls",
                XComModel.run_id == run.run_id,
                XComModel.key == "return_value",
            )
        )
    written = Path(event.extra["path"].removeprefix("file://"))
    assert written.exists() and written.stat().st_size == event.extra["bytes"]
    assert [p.name for p in written.parent.iterdir()] == [written.name]  # no temporary file left
    assert written.name == f"{event.extra['day']}.csv"  # named after the day the report covers
    assert summary["rows"] == 300 and summary["invalid"] == 1 and summary["invalid_lines"] == [10]
    assert sum(v["calls"] for v in summary["by_disposition"].values()) == 299
