"""``make e2e`` only: load a TeleVoIPs CDR file (the one ``example_daily_cdr`` wrote to S3) into Postgres.

Triggered by ``e2e/records.py`` with ``conf={"path": <the download's XCom path>, "day": <its day>}``, twice
for the same day: the second run must replace the day's rows, not add to them. The connection
``voice_records`` (``AIRFLOW_CONN_VOICE_RECORDS``, ``e2e/stack.py``) is the ``voice_records`` database of
the e2e Postgres; the table is ``records.televoips_cdr`` (schema made by the e2e).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_voice.operators.records_sql import LoadCallRecordsOperator

with DAG(
    dag_id="e2e_load_call_records",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["e2e", "voice", "televoips", "cdr", "sql"],
    doc_md=__doc__,
) as dag:
    LoadCallRecordsOperator(
        task_id="load_cdr",
        source="{{ dag_run.conf['path'] }}",
        day="{{ dag_run.conf['day'] }}",
        conn_id="voice_records",
        table="records.televoips_cdr",
        source_format="televoips_cdr",
        skip_bad_rows=True,  # the simulator's report may hold a bad line: counted and set aside, not loaded
    )
