"""Voice campaign from a CSV on the vendor chosen by a DAG param, a deferrable wait, then a summary.

Run it on each vendor (``make demo`` does, against the simulator; connections ``velip_default``,
``octopush_default`` and ``kaleyra_default``)::

    airflow dags test example_voice_campaign -c '{"vendor": "velip"}'
    airflow dags test example_voice_campaign -c '{"vendor": "octopush"}'
    airflow dags test example_voice_campaign -c '{"vendor": "kaleyra"}'

The recipients come from ``data/campaign_recipients.csv`` next to this file (41 rows, one of them a
duplicate). ``send`` validates everything before the first request, sends in vendor-sized frames
and checkpoints each accepted frame (a retry never calls anyone twice); ``wait`` defers until every
call has ended (Octopush: until its ``estimated_duration`` has passed — it has no status endpoint);
``outcomes`` writes the outcome table — one row per recipient with ``row_id`` (the CSV's
``customer_id``), the normalized outcome (``answered``, ``no_answer``, ``busy``...), the vendor's
status, times and durations — as CSV and Parquet under ``$AIRFLOW_HOME/voice/outcomes/`` and
publishes it as an Asset; ``summarize`` logs the counts per outcome and where the table is.

Runs with or without a logical date (``airflow dags trigger``, the REST API): the campaign name is
built from ``run_id``, which every run has and no other run shares (``ts_nodash`` is undefined
without a logical date, and two runs triggered in the same second share ``run_after``: Velip would
refuse the second campaign of the same name that day). ``make e2e`` triggers it that way.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.outcomes import CollectOutcomesOperator
from airflow_provider_voice.sensors.campaign import CampaignCompletionSensor

RECIPIENTS = Path(__file__).parent / "data" / "campaign_recipients.csv"


#: ``vendor_options`` for Velip only (the other vendors take none here): Velip's window ends the day after the run
VELIP_UNTIL_TOMORROW = (
    "{{ {'date_end': (dag_run.run_after + macros.timedelta(days=1)).strftime('%Y-%m-%d')} | tojson "
    "if params.vendor == 'velip' else {} | tojson }}"
)


@dag(
    dag_id="example_voice_campaign",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "example", "campaign"],
    doc_md=__doc__,
    params={
        "vendor": Param(
            "octopush", enum=["velip", "octopush", "kaleyra"], description="which vendor sends the campaign"
        ),
        "message": Param(
            "Hello, this is a reminder of your appointment tomorrow at 10 AM. Reply to your agent to reschedule.",
            type="string",
            maxLength=1224,
        ),
    },
)
def example_voice_campaign():
    send = SendVoiceCampaignOperator(
        task_id="send",
        conn_id="{{ params.vendor }}_default",
        recipients=str(RECIPIENTS),
        # the run id makes the name unique: two runs triggered in the same second would otherwise share
        # one, and Velip refuses a second campaign of the same name on the same day (error 230)
        campaign_name="example {{ run_id }}",
        message="{{ params.message }}",
        # Velip calls within one day of its own zone (São Paulo) by default (a run after 23:00 there is
        # given the next day too): here it may always go on until the end of the next day
        vendor_options=VELIP_UNTIL_TOMORROW,
        concurrency=4,
        progress_interval=1.0,
        retries=2,
        retry_delay=pendulum.duration(seconds=5),
    )
    wait = CampaignCompletionSensor(
        task_id="wait",
        handle=send.output,
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    outcomes = CollectOutcomesOperator(
        task_id="outcomes",
        conn_id="{{ params.vendor }}_default",
        campaign=send.output,
        recipients=str(RECIPIENTS),  # the same file: each row's outcome, joined back by customer_id
        id_field="customer_id",
    )
    wait >> outcomes

    @task
    def summarize(result: dict, status: dict, table: dict) -> dict:
        counts = ", ".join(f"{k} {v}" for k, v in (status.get("counts") or {}).items() if v) or "no per-call outcomes"
        lines = [
            f"{result['vendor']} campaign {result['name']!r}: ids {', '.join(result['campaign_ids'])}",
            f"  accepted {result['accepted']}, rejected {result['rejected']}, suppressed {result['suppressed']}, "
            f"duplicates {result['duplicates']}, invalid {result['invalid']}, in doubt {result['in_doubt']}",
            f"  cost {result['cost']}" if result.get("cost") is not None else "  cost not reported",
            f"  {status['state']}: {status['done']}/{status['total']} calls ended ({counts})"
            + (" [estimate]" if status.get("estimated") else ""),
            "  outcomes: "
            + (", ".join(f"{k} {v}" for k, v in table["counts"].items() if v) or "none")
            + f" ({table['rows']} rows) -> {table.get('parquet_path') or table.get('csv_path')}",
        ]
        print("\n".join(f"DEMO| {line}" for line in lines))
        return {
            "vendor": result["vendor"],
            "accepted": result["accepted"],
            "state": status["state"],
            "counts": status.get("counts"),
            "outcomes": table["counts"],
        }

    summarize(send.output, wait.output, outcomes.output)


example_voice_campaign()
