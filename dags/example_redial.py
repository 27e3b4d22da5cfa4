"""Call a list of people with their own name in the message, then call the unreached again.

``send`` calls everybody with a personalised voice campaign (``{name}`` is each person's name from
``data/campaign_recipients.csv``; recipients whose text is the same share a request), waits until
every call has ended (deferred to the triggerer), writes the outcome table, and calls the people
who did not answer or were busy again ``after`` later, up to ``max_attempts`` rounds in all. Each
round is its own exactly-once delivery: a retry of the task in the middle calls nobody twice in a
round, and answered people are never called again. ``report`` logs the counts per round and the
final table (one row per person, their latest outcome, every attempt counted).

Run it against the simulator (``make demo`` does)::

    airflow dags test example_redial -c '{"vendor": "velip"}'

A later DAG can text the people still unreached: ``SendSMSOperator(recipients=<the table>,
recipient_outcomes=["no_answer", "busy"], ...)`` (skipped when nobody is left).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator

RECIPIENTS = Path(__file__).parent / "data" / "campaign_recipients.csv"


#: ``vendor_options`` for Velip only (the other vendors take none here): Velip's window ends the day after the run
VELIP_UNTIL_TOMORROW = (
    "{{ {'date_end': (dag_run.run_after + macros.timedelta(days=1)).strftime('%Y-%m-%d')} | tojson "
    "if params.vendor == 'velip' else {} | tojson }}"
)


@dag(
    dag_id="example_redial",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "example", "campaign", "redial"],
    doc_md=__doc__,
    params={
        "vendor": Param("velip", enum=["velip", "octopush", "kaleyra"], description="which vendor calls"),
    },
)
def example_redial():
    send = SendVoiceCampaignOperator(
        task_id="send",
        conn_id="{{ params.vendor }}_default",
        recipients=str(RECIPIENTS),
        id_field="customer_id",
        campaign_name="redial {{ run_id[-40:] }}",  # Velip names: at most 50 characters
        message="Hello {name}, this is a reminder of your appointment tomorrow at 10 AM.",
        # Velip calls within one day of its own zone (São Paulo) by default (a run after 23:00 there is
        # given the next day too): here it may always go on until the end of the next day
        vendor_options=VELIP_UNTIL_TOMORROW,
        redial={"outcomes": ["no_answer", "busy"], "after": timedelta(seconds=3), "max_attempts": 3},
        deferrable=True,
        poll_interval=1.0,
        completion_timeout=timedelta(minutes=15),
        concurrency=4,
        progress_interval=1.0,
        retries=2,
        retry_delay=pendulum.duration(seconds=5),
    )

    @task
    def report(result: dict) -> dict:
        lines = [f"{result['vendor']} campaign {result['name']!r}: {len(result['rounds'])} round(s)"]
        for done in result["rounds"]:
            counts = ", ".join(f"{k} {v}" for k, v in done["counts"].items() if v)
            lines.append(f"  round {done['round']}: {done['accepted']} called ({counts})")
        final = result["outcomes"]
        counts = ", ".join(f"{k} {v}" for k, v in final["counts"].items() if v)
        lines.append(f"  final: {final['rows']} people ({counts}) -> {final.get('parquet_path') or final['csv_path']}")
        texts = result.get("extra", {}).get("distinct_texts")
        if texts:
            lines.append(f"  {texts} distinct personalised texts in round 1")
        print("\n".join(f"DEMO| {line}" for line in lines))
        return {"rounds": len(result["rounds"]), "final": final["counts"]}

    report(send.output)


example_redial()
