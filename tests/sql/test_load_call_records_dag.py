"""``dag.test()`` against the simulator: the CDR report downloaded, then loaded into SQLite from the download's
XCom (no logical date: the day is the one the report covers), bad rows set aside."""

from __future__ import annotations

import pendulum


def test_download_then_load_in_a_dag_run_without_a_logical_date(voice_connections, records_db, run_dag, tmp_path):
    from airflow.sdk import DAG

    from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
    from airflow_provider_voice.operators.records_sql import LoadCallRecordsOperator

    voice_connections.state.configure(cdr_compile_seconds=0.0, cdr_rows=250, cdr_bad_line=7)
    with DAG("records_sql_cdr", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        download = DownloadCdrReportOperator(
            task_id="download",
            conn_id="televoips_default",
            destination=str(tmp_path / "cdrs" / "{{ run_id | replace(':', '_') }}.csv"),
            deferrable=False,
            poll_interval=0.2,
            asset=False,
        )
        LoadCallRecordsOperator(
            task_id="load",
            source=download.output,
            conn_id="records_db",
            table="cdr_calls",
            skip_bad_rows=True,
            rejects_path=str(tmp_path / "rejects" / "{{ run_id | replace(':', '_') }}.csv"),
        )
    run = run_dag(dag, logical_date=None)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    loaded = next(ti for ti in run.get_task_instances() if ti.task_id == "load").xcom_pull(task_ids="load")
    report = next(ti for ti in run.get_task_instances() if ti.task_id == "download").xcom_pull(task_ids="download")
    assert (loaded["rows_read"], loaded["rows_inserted"], loaded["rejected"], loaded["rows_deleted"]) == (
        250,
        249,
        1,
        0,
    )
    assert loaded["day"] == report["day"] and loaded["source"] == report["path"]
    assert loaded["rejected_rows"][0]["line"] == 7 and loaded["rejects_path"].endswith(".csv")
    assert records_db.count("cdr_calls", report["day"]) == 249
