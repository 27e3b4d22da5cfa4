"""Connect an agent and a customer on Kaleyra and on Velip, and schedule a follow-up call.

1. ``kaleyra_health``: wait until Kaleyra's network is operational in the agent's region
   (``method=monitor``; ``E701 No incidents found`` also counts as healthy).
2. ``kaleyra_click_to_call``: ``dial.click2call`` rings the agent, then bridges the customer; the
   CRM callback URL is a template with Kaleyra's ``{caller}``/``{receiver}``/``{status}``... variables.
3. ``kaleyra_call_outcome``: a deferrable sensor on ``dial.c2cstatus`` until the call has ended.
4. ``velip_click_to_call``: Velip ``MakeTTSCall`` type 3 (the agent hears a message, then the
   customer is joined), waiting for the outcome in the triggerer.
5. ``schedule_followup`` / ``cancel_followup``: a Kaleyra follow-up tomorrow at 10:00 India time,
   then deleted again (the demo cleans up after itself).

Connections: ``kaleyra_default`` and ``velip_default`` (``make demo`` points them at the simulator).
Run conf (all optional): ``kaleyra_agent``, ``kaleyra_customer``, ``velip_agent``, ``velip_customer``.
Runs with or without a logical date: the Kaleyra ``custom`` reference is built from
``dag_run.run_after`` (every run has it), not ``ds_nodash``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_voice.operators.click_to_call import ClickToCallOperator
from airflow_provider_voice.operators.kaleyra import KaleyraFollowUpOperator
from airflow_provider_voice.sensors.click_to_call import ClickToCallSensor
from airflow_provider_voice.sensors.health import HealthStatusSensor

CRM_CALLBACK = (
    "https://crm.example.com/c2c?agent={caller}&customer={receiver}&outcome={status}"
    "&agent_leg={status1}&customer_leg={status2}&talk={billsec}&recording={recordpath}"
)


@dag(
    dag_id="example_click_to_call",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "example", "kaleyra", "velip"],
    doc_md=__doc__,
    params={
        "kaleyra_agent": "9988776655",
        "kaleyra_customer": "9876543210",
        "velip_agent": "5511987654321",
        "velip_customer": "5521998765432",
    },
)
def example_click_to_call():
    health = HealthStatusSensor(
        task_id="kaleyra_health",
        conn_id="kaleyra_default",
        regions=["KA-IN"],
        deferrable=True,
        poke_interval=1,
        timeout=120,
    )

    kaleyra_call = ClickToCallOperator(
        task_id="kaleyra_click_to_call",
        conn_id="kaleyra_default",
        agent="{{ params.kaleyra_agent }}",
        customer="{{ params.kaleyra_customer }}",
        vendor_options={"retry": 1, "custom": "demo-{{ dag_run.run_after | ds_nodash }}", "callback": CRM_CALLBACK},
    )

    outcome = ClickToCallSensor(
        task_id="kaleyra_call_outcome",
        conn_id="kaleyra_default",
        call_id=kaleyra_call.output,
        deferrable=True,
        poke_interval=1,
        timeout=300,
    )

    velip_call = ClickToCallOperator(
        task_id="velip_click_to_call",
        conn_id="velip_default",
        agent="{{ params.velip_agent }}",
        customer="{{ params.velip_customer }}",
        message="You have a callback request. Connecting you to the customer now.",
        vendor_options={"voice": "pt-BR"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )

    @task
    def followup_time() -> str:
        """Tomorrow 10:00 India time, as Kaleyra's ``dd-mm-yyyy hh-mm``."""
        tomorrow = pendulum.now("Asia/Kolkata").add(days=1).replace(hour=10, minute=0, second=0, microsecond=0)
        return tomorrow.strftime("%d-%m-%Y %H-%M")

    followup = KaleyraFollowUpOperator(
        task_id="schedule_followup",
        conn_id="kaleyra_default",
        action="create",
        phone="{{ params.kaleyra_customer }}",
        follower="{{ params.kaleyra_agent }}",
        name="Demo follow-up",
        ontime=followup_time(),
        autocall=True,
        notes="created by example_click_to_call",
    )

    cancel = KaleyraFollowUpOperator(
        task_id="cancel_followup",
        conn_id="kaleyra_default",
        action="delete",
        followup_id="{{ ti.xcom_pull(task_ids='schedule_followup')['id'] }}",
    )

    @task
    def summary(kaleyra: dict, velip: dict, scheduled: dict) -> None:
        for result in (kaleyra, velip):
            print(
                f"DEMO| {result['vendor']} click-to-call {result['call_id']}: {result['state']} "
                f"(agent {result.get('agent_status')}, customer {result.get('customer_status') or '-'})"
            )
        print(f"DEMO| Kaleyra follow-up {scheduled['id']} scheduled ({scheduled['message']}), then cancelled")

    health >> kaleyra_call
    followup >> cancel
    summary(outcome.output, velip_call.output, followup.output) << cancel


example_click_to_call()
