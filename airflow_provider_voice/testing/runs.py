"""Task contexts of DAG runs with and without a logical date, for testing templates and operators.

Runs triggered from the REST API or ``airflow dags trigger`` have **no logical date** in Airflow 3:
their context lacks ``ds``, ``ts``, ``logical_date`` and ``data_interval_*``; ``run_id`` and
``dag_run.run_after`` are always there. Use these helpers to check that a DAG's templates and an
operator's defaults work in both cases::

    from airflow_provider_voice.testing.runs import no_logical_date_context

    context = no_logical_date_context(run_after)
    operator.render_template_fields(context, create_template_env())
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["LOGICAL_DATE_ONLY", "no_logical_date_context", "sdk_dag_run"]

#: context keys only a run with a logical date has (airflow/sdk/execution_time/task_runner.py), and
#: keys Airflow 3 removed: templates must use ``run_id`` / ``dag_run.run_after`` instead
LOGICAL_DATE_ONLY = frozenset(
    {
        "ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz", "logical_date",
        "data_interval_start", "data_interval_end",
        "prev_data_interval_start_success", "prev_data_interval_end_success",
        "execution_date", "next_ds", "next_ds_nodash", "prev_ds", "prev_ds_nodash",
        "tomorrow_ds", "tomorrow_ds_nodash", "yesterday_ds", "yesterday_ds_nodash",
        "next_execution_date", "prev_execution_date",
    }
)  # fmt: skip


def sdk_dag_run(
    run_after: dt.datetime,
    *,
    logical_date: dt.datetime | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Any:
    """The ``dag_run`` the Task SDK puts in a task's context (the execution API's model).

    :param run_after: when the run was due (always set).
    :param logical_date: the run's logical date (None: a run from the API or ``airflow dags trigger``).
    :param start: ``data_interval_start`` (default: the logical date).
    :param end: ``data_interval_end`` (default: the logical date).
    """
    from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, DagRunType

    return DagRun(
        dag_id="d",
        run_id="manual__x",
        logical_date=logical_date,
        data_interval_start=start if start is not None else logical_date,
        data_interval_end=end if end is not None else logical_date,
        run_after=run_after,
        start_date=run_after,
        end_date=None,
        run_type=DagRunType.MANUAL,
        state=DagRunState.RUNNING,
        consumed_asset_events=[],
        partition_key=None,
    )


def no_logical_date_context(run_after: dt.datetime) -> dict[str, Any]:
    """What a task of a run without a logical date gets: ``run_id`` and ``dag_run``, no ``ds`` & co."""
    return {"run_id": "manual__x", "dag_run": sdk_dag_run(run_after)}
