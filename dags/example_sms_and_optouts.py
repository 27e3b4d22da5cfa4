"""Send SMS, collect failures and STOP replies, blacklist them, and show them suppressed next time.

1. ``crm_optouts``: people who told an agent to stop are unsubscribed at TeleVoIPs
   (``POST /unsubscribe``); TeleVoIPs now refuses to text them.
2. ``send_sms``: an appointment SMS to the audience through TeleVoIPs (``POST /messages``), each
   person exactly once (checkpointed), personalized with ``${name}``; people in the suppression
   file are skipped. Refused recipients are reported per recipient.
3. ``inbound_messages``: the account's inbound messages (``GET /messages``) exported to a file;
   ``optouts`` picks the STOP replies and adds the recipients TeleVoIPs refused.
4. ``blacklist_televoips`` / ``blacklist_kaleyra``: those numbers are unsubscribed at TeleVoIPs,
   blocked at Kaleyra (so voice campaigns skip them too) and written to the suppression file.
5. ``send_reminder``: a second SMS to the same audience: the blacklisted people are suppressed.
   Re-running the DAG shows them suppressed from the first send on.

Connections: ``televoips_default`` (messaging key) and ``kaleyra_default``. Run conf (optional):
``sender`` (an owned TeleVoIPs number), ``audience_size``, ``crm_optouts`` (numbers),
``suppression_file`` (path or URL of the CSV kept in sync).

Runs with or without a logical date (``airflow dags trigger``, the REST API): the templates use
``run_id`` and ``dag_run.run_after``, never ``ds``; without a data interval ``inbound_messages``
exports the 90 days before ``dag_run.run_after`` and says so in its log.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator
from airflow_provider_voice.operators.messages import ExportMessagesOperator
from airflow_provider_voice.operators.sms import SendSMSOperator

DEMO_DIR = Path(os.environ.get("AIRFLOW_PROVIDER_VOICE_DEMO_DIR") or Path(tempfile.gettempdir()) / "voice-demo")
#: where the files of the DAG live (results, inbound export, suppression list): any ObjectStoragePath URL.
#: A local folder only works when every task runs on one machine; on Celery/Kubernetes workers use
#: shared storage (``make e2e`` sets ``s3://aws_default@voice-e2e/files``).
FILES = (os.environ.get("AIRFLOW_PROVIDER_VOICE_FILES") or DEMO_DIR.resolve().as_uri()).rstrip("/")
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun")


@dag(
    dag_id="example_sms_and_optouts",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "sms", "example", "televoips", "kaleyra"],
    doc_md=__doc__,
    params={
        "sender": "13214567890",
        "audience_size": 30,
        "crm_optouts": ["+14155552610", "+14155552611"],
        "suppression_file": f"{FILES}/sms_optouts.csv",
    },
)
def example_sms_and_optouts():
    @task
    def audience(params: dict | None = None) -> list[dict]:
        """The people to text (a CRM export in real life)."""
        size = int(params["audience_size"])
        return [
            {"number": f"+1415555{2600 + i:04d}", "name": FIRST_NAMES[i % len(FIRST_NAMES)], "branch": "Main St."}
            for i in range(size)
        ]

    people = audience()

    crm_optouts = BlacklistNumbersOperator(
        task_id="crm_optouts",
        conn_id="televoips_default",
        numbers="{{ params.crm_optouts | join(',') }}",
        owned_number="{{ params.sender }}",
    )

    send = SendSMSOperator(
        task_id="send_sms",
        conn_id="televoips_default",
        recipients=people,
        sender="{{ params.sender }}",
        # dag_run.run_after is set in every run; {{ ds }} is not when the run has no logical date
        text="Hi ${name}, your appointment at our ${branch} office is confirmed for {{ dag_run.run_after | ds }}. "
        "Reply STOP to opt out.",
        suppression="{{ params.suppression_file }}",
        suppression_missing_ok=True,  # the opt-out file is created by blacklist_televoips on the first run
        max_rejected_share=0.2,  # people who unsubscribed at TeleVoIPs are refused: collected below
        results_path=FILES + "/sms_results_{{ run_id | replace(':', '_') | replace('+', '_') }}.csv",
    )

    inbound = ExportMessagesOperator(
        task_id="inbound_messages",
        conn_id="televoips_default",
        destination=FILES + "/inbound_{{ run_id | replace(':', '_') | replace('+', '_') }}.jsonl",
        direction="inbound",
    )

    @task
    def optouts(sent: dict, exported: dict) -> list[str]:
        """STOP replies from the inbound export, plus the recipients TeleVoIPs refused."""
        from airflow.sdk import ObjectStoragePath

        stops = []
        with ObjectStoragePath(exported["destination"]).open("r", encoding="utf-8") as handle:
            for line in handle:
                message = json.loads(line)
                if (message.get("content") or "").strip().upper() in STOP_WORDS:
                    stops.append("+" + "".join(ch for ch in str(message.get("from")) if ch.isdigit()))
        refused = list(sent.get("failed_numbers") or [])
        print(f"DEMO| STOP replies: {len(set(stops))}; refused by TeleVoIPs: {len(refused)}")
        return sorted(set(stops) | set(refused))

    numbers = optouts(send.output, inbound.output)

    blacklist_televoips = BlacklistNumbersOperator(
        task_id="blacklist_televoips",
        conn_id="televoips_default",
        numbers=numbers,
        owned_number="{{ params.sender }}",
        suppression_file="{{ params.suppression_file }}",
    )

    blacklist_kaleyra = BlacklistNumbersOperator(
        task_id="blacklist_kaleyra",
        conn_id="kaleyra_default",
        numbers=numbers,
    )

    reminder = SendSMSOperator(
        task_id="send_reminder",
        conn_id="televoips_default",
        recipients=people,
        sender="{{ params.sender }}",
        text="Reminder for ${name}: your appointment is on {{ dag_run.run_after | ds }}. Reply STOP to opt out.",
        suppression="{{ params.suppression_file }}",
    )

    @task
    def summary(first: dict, televoips: dict, kaleyra: dict, second: dict) -> None:
        print(
            f"DEMO| first SMS: {first['accepted']} accepted, {first['rejected']} refused, "
            f"{first['suppressed']} suppressed (of {first['total']})"
        )
        print(
            f"DEMO| blacklisted {televoips['changed']} numbers at TeleVoIPs and {kaleyra['changed']} at Kaleyra; "
            f"suppression list: {televoips.get('suppression_size')} numbers"
        )
        print(
            f"DEMO| reminder SMS: {second['accepted']} accepted, {second['rejected']} refused, "
            f"{second['suppressed']} suppressed"
        )
        if second["rejected"]:
            raise RuntimeError("the reminder texted someone who had opted out")

    crm_optouts >> send
    send >> inbound
    [blacklist_televoips, blacklist_kaleyra] >> reminder
    summary(send.output, blacklist_televoips.output, blacklist_kaleyra.output, reminder.output)


example_sms_and_optouts()
