"""``make e2e``: the CDR file ``example_daily_cdr`` wrote to S3, loaded into Postgres twice (DAG
``e2e/dags/e2e_load_call_records.py``, :class:`~airflow_provider_voice.operators.records_sql.LoadCallRecordsOperator`).

Checks, on the ``voice_records`` database of the e2e Postgres: both runs succeed; the first inserts every
good row of the file (inserted + rejected = the download's rows); the table's columns have the documented
Postgres types; the rerun deletes the day's rows and inserts them again, leaving the same count.
"""

from __future__ import annotations

import time
from typing import Any

from .api import AirflowApi
from .procs import E2EError, wait_for
from .scenario import Scenario
from .stack import RECORDS_DATABASE, Stack

LOAD_DAG = "e2e_load_call_records"
LOAD_TASK = "load_cdr"
SCHEMA, TABLE = "records", "televoips_cdr"
#: the documented Postgres types of some columns (docs/operators/records_sql.md)
EXPECTED_TYPES = {
    "id": "text",
    "calldate": "timestamp with time zone",
    "duration": "bigint",
    "billsec": "bigint",
    "disposition": "text",
    "load_day": "date",
}


def records_db(stack: Stack) -> Any:
    """A psycopg (3) connection to the e2e's records database (autocommit)."""
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=stack.ports["postgres"], user="airflow", dbname=RECORDS_DATABASE,
                           autocommit=True)  # fmt: skip


def _cdr_download(api: AirflowApi, scenario: Scenario) -> dict[str, Any]:
    """The XCom of a successful ``download_cdr_report`` of ``example_daily_cdr``."""
    for run in scenario.runs:
        if run.dag_id == "example_daily_cdr" and run.state == "success":
            result = api.xcom(run.dag_id, run.run_id, "download_cdr_report")
            if isinstance(result, dict) and result.get("path") and result.get("day"):
                return result
    raise E2EError("no successful example_daily_cdr run with a download XCom (path, day) to load")


def _run_load(api: AirflowApi, conf: dict[str, Any], label: str, timeout: float = 120) -> dict[str, Any]:
    run_id = f"e2e_records_{label}_{time.strftime('%H%M%S')}"
    api.trigger(LOAD_DAG, conf=conf, logical_date=None, run_id=run_id)
    state = wait_for(f"{LOAD_DAG} {run_id}", lambda: _finished(api, run_id), timeout=timeout, interval=1)
    result = api.xcom(LOAD_DAG, run_id, LOAD_TASK)
    return {"run_id": run_id, "state": state, "result": result if isinstance(result, dict) else {}}


def _finished(api: AirflowApi, run_id: str) -> str | None:
    state = api.run(LOAD_DAG, run_id)["state"]
    return state if state in ("success", "failed") else None


def run_records_steps(stack: Stack, api: AirflowApi, scenario: Scenario) -> None:
    """Load the CDR file twice and check the table (see the module docstring)."""
    download = _cdr_download(api, scenario)
    with records_db(stack) as db:
        db.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conf = {"path": download["path"], "day": download["day"]}
    first = _run_load(api, conf, "first")
    again = _run_load(api, conf, "rerun")
    with records_db(stack) as db:
        count = db.execute(f"SELECT COUNT(*) FROM {SCHEMA}.{TABLE} WHERE load_day = %s", (download["day"],)).fetchone()
        rows = db.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (SCHEMA, TABLE),
        ).fetchall()
    stored = int(count[0]) if count else -1
    types = {name: kind for name, kind in rows}
    one, two = first["result"], again["result"]
    scenario.check(
        "call records into Postgres: the CDR file loaded",
        first["state"] == "success" and one.get("rows_inserted", 0) > 0
        and one.get("rows_inserted", 0) + one.get("rejected", 0) == download.get("rows")
        and one.get("dialect") == "postgresql" and stored == two.get("rows_inserted"),
        f"run {first['run_id']} {first['state']}: {one.get('rows_inserted')} inserted + {one.get('rejected')} rejected "
        f"of the {download.get('rows')} rows of {download['path']} (day {download['day']}) in {one.get('seconds')} s; "
        f"{stored} rows for the day in {SCHEMA}.{TABLE}",
    )  # fmt: skip
    wrong = {name: types.get(name) for name, kind in EXPECTED_TYPES.items() if types.get(name) != kind}
    scenario.check(
        "call records into Postgres: typed columns",
        not wrong and len(types) == 25,
        f"{len(types)} columns; " + (f"NOT AS DOCUMENTED: {wrong}" if wrong else f"as documented: {EXPECTED_TYPES}"),
    )
    scenario.check(
        "call records into Postgres: a rerun replaces the day (same count)",
        again["state"] == "success" and two.get("rows_deleted") == one.get("rows_inserted")
        and two.get("rows_inserted") == one.get("rows_inserted") and stored == one.get("rows_inserted"),
        f"rerun {again['run_id']} {again['state']}: {two.get('rows_deleted')} deleted, {two.get('rows_inserted')} "
        f"inserted; {stored} rows for the day after it",
    )  # fmt: skip
