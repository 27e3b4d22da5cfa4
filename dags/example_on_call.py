"""Page the on-call people when a task fails: an SMS and a phone call from the task's callbacks, then a call task.

1. ``nightly_export`` fails on its first two tries (on purpose: "the warehouse did not answer")
   and succeeds on its third. Its ``on_retry_callback`` and ``on_failure_callback`` page the
   on-call people: an SMS (``SmsNotifier``, Velip ``MakeSMS``) and a phone call that reads the
   message (``VoiceCallNotifier``, Kaleyra OBD ``voice.call``). One failure pages each person
   once, whatever the number of tries and callbacks that report it (``dedup_window``: one hour):
   the second try's ``on_retry_callback`` is deduplicated. A notifier never fails the task, and
   gives up after 10 s.
2. ``call_on_call``: ``SendVoiceCallOperator`` calls the on-call person to say the export
   recovered, and waits (deferred) until the call has ended: its XCom is the call id and the
   outcome (``answered``, ``no_answer``...), the number masked.
3. ``summary``: what was sent (from the notifications log, which keeps no number) and the call's outcome.

Connections: ``velip_default`` and ``kaleyra_default`` (``make demo`` points them at the simulator).
Run conf (optional): ``oncall_sms`` (a number Velip texts), ``oncall_phone`` (a number Kaleyra calls).
Runs with or without a logical date: the templates use ``run_id``, never ``ds``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_voice.notifiers import SmsNotifier, VoiceCallNotifier, sent_notifications
from airflow_provider_voice.operators.voice_call import SendVoiceCallOperator

ALERT = "Airflow: {{ ti.task_id }} of {{ dag.dag_id }} failed in run {{ run_id }}. Please have a look."

#: one list for both callbacks: a retry that fails for the same reason does not page again
PAGE_ON_CALL = [
    SmsNotifier(conn_id="velip_default", to="{{ params.oncall_sms }}", text=ALERT, dedup_window=timedelta(hours=1)),
    VoiceCallNotifier(
        conn_id="kaleyra_default", to="{{ params.oncall_phone }}", message=ALERT, dedup_window=timedelta(hours=1)
    ),
]


@dag(
    dag_id="example_on_call",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "sms", "example", "velip", "kaleyra", "notifications"],
    doc_md=__doc__,
    params={"oncall_sms": "+5511987654321", "oncall_phone": "9876543210"},
)
def example_on_call():
    @task(
        retries=2,
        retry_delay=timedelta(seconds=1),
        on_retry_callback=PAGE_ON_CALL,
        on_failure_callback=PAGE_ON_CALL,
    )
    def nightly_export(ti=None) -> str:
        if ti.try_number <= 2:  # the same failure twice: paged once
            raise RuntimeError("the warehouse did not answer (the first two tries fail on purpose)")
        return f"exported on try {ti.try_number}"

    recovered = SendVoiceCallOperator(
        task_id="call_on_call",
        conn_id="kaleyra_default",
        number="{{ params.oncall_phone }}",
        message="Good news: the nightly export of run {{ run_id }} recovered on its retry.",
        wait_for_outcome=True,
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )

    @task
    def summary(export: str, call: dict, dag_run=None) -> None:
        sent = sent_notifications(dag_run.dag_id, dag_run.run_id)
        pages = ", ".join(f"{r['channel']} via {r['vendor']} ({r['state']}, {r['ref']})" for r in sent) or "none"
        print(f"DEMO| nightly_export {export}; on-call paged {len(sent)} times for its failure: {pages}")
        print(
            f"DEMO| {call['vendor']} call {call['call_id']} to {call['number']}: {call['outcome']} "
            f"({call['vendor_status']})"
        )

    export = nightly_export()
    export >> recovered
    summary(export, recovered.output)


example_on_call()
