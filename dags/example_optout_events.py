"""A person replies STOP → an Asset event → they are unsubscribed, suppressed, and skipped next time.

The TeleVoIPs messaging webhook points at the provider's receiver on the api-server
(``https://<airflow>/voice-webhooks/televoips_default/messages``, Basic or API-key auth set on the
connection: ``webhook_auth`` / ``webhook_secret``). An inbound "STOP" (or "Arrêt", "parar",
"baja"...) is stored as an ``opt-outs`` event and announced on the Asset
``voice://televoips/televoips_default/opt-outs``, which schedules this DAG:

1. ``opt_outs``: the opt-out events of this run (:func:`triggering_voice_events`; each event is
   read by one run of this DAG only), as numbers.
2. ``unsubscribe``: ``POST /unsubscribe`` at TeleVoIPs for each, and the suppression file updated
   (an Asset itself: other DAGs can be scheduled on it).
3. ``send_reminder``: the next SMS to the audience skips everyone in the suppression file.

Under ``airflow dags test`` (no Asset event) step 1 reads the opt-outs stored in the last day that
this DAG has not consumed yet — ``make demo`` sends a STOP through the simulator first.

Run conf (optional): ``sender`` (an owned TeleVoIPs number), ``audience`` (numbers).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, task

from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator
from airflow_provider_voice.operators.events import opt_out_numbers, triggering_voice_events, voice_event_asset
from airflow_provider_voice.operators.sms import SendSMSOperator

DEMO_DIR = Path(os.environ.get("AIRFLOW_PROVIDER_VOICE_DEMO_DIR") or Path(tempfile.gettempdir()) / "voice-demo")
#: where the suppression file lives: any ObjectStoragePath URL (shared storage on Celery/Kubernetes)
FILES = (os.environ.get("AIRFLOW_PROVIDER_VOICE_FILES") or DEMO_DIR.resolve().as_uri()).rstrip("/")
SUPPRESSION_FILE = f"{FILES}/optout_events_suppression.csv"
OPT_OUTS = voice_event_asset("televoips_default", "opt-outs")


@dag(
    dag_id="example_optout_events",
    schedule=[OPT_OUTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one writer of the suppression file at a time
    tags=["voice", "sms", "events", "example", "televoips"],
    doc_md=__doc__,
    params={
        "sender": "13214567890",
        "audience": ["+14155552670", "+14155552671", "+14155552672", "+14155552673"],
    },
)
def example_optout_events():
    @task
    def opt_outs(**context) -> list[str]:
        """The numbers of this run's opt-out events (a number without a usable form fails the task)."""
        events = triggering_voice_events(context, kinds=["opt-outs"])
        numbers = opt_out_numbers(events)
        print(f"DEMO| opt-out events read: {len(events)} ({len(numbers)} distinct numbers)")
        return numbers

    @task
    def audience(params: dict | None = None) -> list[str]:
        """The people to remind (a CRM export in real life)."""
        return list(params["audience"])

    numbers = opt_outs()

    unsubscribe = BlacklistNumbersOperator(
        task_id="unsubscribe",
        conn_id="televoips_default",
        numbers=numbers,
        owned_number="{{ params.sender }}",
        suppression_file=SUPPRESSION_FILE,
        outlets=[Asset(name="optout_events_suppression", uri=SUPPRESSION_FILE)],
    )

    reminder = SendSMSOperator(
        task_id="send_reminder",
        conn_id="televoips_default",
        recipients=audience(),
        sender="{{ params.sender }}",
        text="Your appointment is tomorrow. Reply STOP to opt out.",
        suppression=SUPPRESSION_FILE,
        suppression_missing_ok=True,
    )

    @task
    def summary(read: list[str], blocked: dict, sent: dict) -> None:
        print(
            f"DEMO| unsubscribed at TeleVoIPs: {blocked['changed']}; suppression list: {blocked.get('suppression_size')}"
        )
        print(f"DEMO| reminder: {sent['accepted']} sent, {sent['suppressed']} suppressed (of {sent['total']})")
        if sent["rejected"]:  # TeleVoIPs refuses an unsubscribed number: we tried to text one
            raise RuntimeError("the reminder texted someone who had opted out")

    unsubscribe >> reminder
    summary(numbers, unsubscribe.output, reminder.output)


example_optout_events()
