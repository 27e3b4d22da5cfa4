"""Daily TeleVoIPs call records: wait for the CDR report, stream it to storage, summarize it.

1. ``wait_for_cdr_report`` (:class:`CdrReportSensor`, deferrable): asks TeleVoIPs for the report
   of the previous day (202 while compiled) and waits in the triggerer until it answers 201.
2. ``download_cdr_report`` (:class:`DownloadCdrReportOperator`): streams the CSV to
   ``<folder>/<day>.csv`` (the day the report covers, from the sensor's XCom) through ``ObjectStoragePath`` (local ``file://`` here; an
   ``s3://``/``gs://`` URL works the same with the matching provider), atomically, and publishes
   the folder as an Asset, so downstream DAGs can be scheduled on it.
3. ``summarize_calls``: reads the file back as typed :class:`CdrRecord` rows and counts calls and
   billed seconds by disposition (bad rows are counted, not fatal).

Connection: ``televoips_default`` (reports key). Storage folder: ``$AIRFLOW_PROVIDER_VOICE_DEMO_DIR/cdrs``
(default ``/tmp/airflow-provider-voice-demo/cdrs``). Against the simulator
(``$AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL`` set, as ``make demo`` does) the report is polled every
second instead of every 5 minutes. No network access at parse time.

Runs with or without a logical date (``airflow dags trigger``, the REST API): nothing here reads
``ds`` or the data interval; TeleVoIPs picks the day (always its previous day) and the download
logs that day next to the run's own window.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
from airflow_provider_voice.sensors.cdr import CdrReportSensor

DEMO_DIR = os.environ.get("AIRFLOW_PROVIDER_VOICE_DEMO_DIR", "/tmp/airflow-provider-voice-demo")
#: where the files go: any ObjectStoragePath URL. A local folder only works when every task runs on one
#: machine; on Celery/Kubernetes workers use shared storage (``make e2e``: ``s3://aws_default@voice-e2e/files``)
FILES = (os.environ.get("AIRFLOW_PROVIDER_VOICE_FILES") or f"file://{os.path.abspath(DEMO_DIR)}").rstrip("/")
CDR_FOLDER = f"{FILES}/cdrs"


def _place(url: str) -> str:
    """An Asset URI names the place, not the connection: ``s3://aws_default@bucket/x`` -> ``s3://bucket/x``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


#: downstream DAGs can use ``schedule=[CDR_ASSET]``
CDR_ASSET = Asset(name="televoips_daily_cdrs", uri=_place(CDR_FOLDER))
POLL_SECONDS = 1.0 if os.environ.get("AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL") else 300.0

with DAG(
    dag_id="example_daily_cdr",
    description="Daily TeleVoIPs CDR report -> object storage -> summary by disposition",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["example", "voice", "televoips", "cdr"],
    doc_md=__doc__,
) as dag:
    wait_for_cdr_report = CdrReportSensor(
        task_id="wait_for_cdr_report",
        conn_id="televoips_default",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=6 * 3600,
    )

    download_cdr_report = DownloadCdrReportOperator(
        task_id="download_cdr_report",
        conn_id="televoips_default",
        report=wait_for_cdr_report.output,
        # named after the day the report covers (TeleVoIPs serves the previous day's report)
        destination=CDR_FOLDER + "/{{ ti.xcom_pull(task_ids='wait_for_cdr_report')['day'] }}.csv",
        asset=CDR_ASSET,
    )

    @task
    def summarize_calls(download: dict[str, Any]) -> dict[str, Any]:
        """Calls and billed seconds by disposition, read back as typed CdrRecord rows."""
        from airflow.sdk import ObjectStoragePath

        from airflow_provider_voice.vendors.televoips.cdr import iter_cdr_records

        reader = iter_cdr_records(ObjectStoragePath(download["path"]))
        by_disposition: dict[str, dict[str, int]] = {}
        for record in reader:
            entry = by_disposition.setdefault(str(record.disposition), {"calls": 0, "billsec": 0})
            entry["calls"] += 1
            entry["billsec"] += record.billsec
        summary = {
            "day": download.get("day"),
            "path": download["path"],
            "rows": reader.rows,
            "valid": reader.valid,
            "invalid": reader.invalid_count,
            "invalid_lines": [bad.line for bad in reader.invalid[:10]],
            "by_disposition": dict(sorted(by_disposition.items())),
        }
        print(
            f"DEMO| CDR report of {summary['day']}: {reader.rows} rows, {download['bytes']} bytes -> {download['path']}"
        )
        for name, entry in summary["by_disposition"].items():
            print(f"DEMO|   {name:<11} {entry['calls']:>6} calls {entry['billsec']:>8} billed seconds")
        if reader.invalid_count:
            print(f"DEMO|   {reader.invalid_count} bad row(s), first at line(s) {summary['invalid_lines']}")
        return summary

    summarize_calls(download_cdr_report.output)
