"""Call people only when the law allows it, in their own time zone: dry run, then a send that waits.

1. ``dry_run`` plans a marketing campaign under ``FR_MARKETING`` (Code de la consommation
   D.223-9: Monday-Friday, 10:00-13:00 and 14:00-20:00 in the called person's time zone, not on
   public holidays, at most 4 calls per 30 days, 60 days after a refusal) over French, American,
   Indian and Brazilian numbers: nobody is called; its XCom gives the counts (due now, held until
   their window opens), the schedule per time zone, the frames and Octopush's own price for the
   send (``simulation_mode``).
2. ``window`` builds a policy whose window opens ``window_delay`` seconds (default 15) after it
   ran (a stand-in for "09:00 tomorrow" that a demo can wait for).
3. ``send`` sends under it: everybody is outside the window, so the task defers (a
   ``DateTimeTrigger`` in the triggerer; no worker held), wakes when it opens and calls them —
   each exactly once, whatever the retries and deferrals (the checkpoint).
4. ``report`` prints both plans.

Run it against the simulator (``make demo`` does)::

    airflow dags test example_quiet_hours
"""

from __future__ import annotations

import json
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator

#: France, the US (New York, Los Angeles), India and Brazil: five time zones
PEOPLE = [
    {"number": "+33612345601", "name": "Camille"},
    {"number": "+33612345602", "name": "Louis"},
    {"number": "+12125550143", "name": "Ava"},
    {"number": "+13105550172", "name": "Noah"},
    {"number": "+919812345603", "name": "Priya"},
    {"number": "+5511987650004", "name": "João"},
]
#: the demo's prices (Octopush prices its campaigns itself: the table gives the currency)
PRICES = {"currency": "EUR", "octopush": {"voice": {"default": 0.05}}}


@dag(
    dag_id="example_quiet_hours",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "example", "campaign", "compliance", "octopush"],
    doc_md=__doc__,
    params={"window_delay": Param(15, type="integer", minimum=1, description="seconds until the window opens")},
)
def example_quiet_hours():
    dry_run = SendVoiceCampaignOperator(
        task_id="dry_run",
        conn_id="octopush_default",
        recipients=PEOPLE,
        campaign_name="spring offer {{ run_id[-30:] }}",
        message="Hello {name}, our spring offer starts today.",
        contact_policy="FR_MARKETING",
        dry_run=True,
        price_table=PRICES,
        max_cost=10.0,
    )

    @task
    def window(params=None) -> dict:
        """A policy whose only window opens ``window_delay`` seconds from now, for 10 minutes (UTC)."""
        start = pendulum.now("UTC").add(seconds=int(params["window_delay"]))
        end = start.add(minutes=10)
        if end.date() != start.date():  # a window never crosses midnight: two windows
            spans = [f"{start:HH:mm:ss}-24:00", f"00:00-{end:HH:mm:ss}"]
        else:
            spans = [f"{start:HH:mm:ss}-{end:HH:mm:ss}"]
        policy = {"name": "demo window", "windows": spans, "send_margin": 5}
        return {"policy": json.dumps(policy), "opens_at": start.isoformat()}

    send = SendVoiceCampaignOperator(
        task_id="send",
        conn_id="octopush_default",
        recipients=[{**person, "tz": "UTC"} for person in PEOPLE],
        timezone_field="tz",  # the window is in UTC for everybody here; by default, the number's zone
        campaign_name="reminder {{ run_id[-30:] }}",
        message="Hello {name}, this is your reminder.",
        contact_policy="{{ ti.xcom_pull(task_ids='window')['policy'] }}",
        contact_deadline=timedelta(hours=1),
        deferrable=True,
    )

    @task
    def report(planned: dict, sent: dict) -> None:
        plan = planned["contact_policy"]
        print(
            f"DEMO| dry run under {plan['policy']}: {plan['due']} due now, {plan['held_window']} held until their "
            f"window opens (next {plan['next_wake']}), nobody called; {planned['frames']} frame(s), estimated cost "
            f"{planned['estimate']['total']} {planned['estimate']['currency']} ({planned['estimate']['source']})"
        )
        for zone in plan["zones"]:
            print(
                f"DEMO|   {'+'.join(zone['zones'])}: {zone['recipients']} recipients, next window {zone['next_open']}"
            )
        last = sent["contact_policy"]
        print(
            f"DEMO| send under {last['policy']!r}: {sent['accepted']} called once the window opened "
            f"({last['held_window']} still held, {last['beyond_deadline']} beyond the deadline)"
        )

    window() >> send
    report(dry_run.output, send.output)


example_quiet_hours()
