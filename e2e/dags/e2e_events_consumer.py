"""``make e2e`` only: a consumer of the TeleVoIPs ``messages-received`` events of ``televoips_default``.

Scheduled on the event Asset ``voice://televoips/televoips_default/messages-received``, which the
webhook receiver on the api-server announces. Each run reads its events with
:func:`triggering_voice_events` and pushes ``{"count", "event_ids", "refs"}`` (sorted) to XCom; the
e2e checks that every event the simulator sent was read by exactly one run (``e2e/events.py``).

``max_active_runs=2``: two runs at a time claim batches side by side (the exactly-once claim is
exercised), while Asset events arriving meanwhile wait and start one later run between them
(Airflow defers asset-triggered runs at ``max_active_runs``) instead of a queue of runs that each
re-read the whole burst.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag
from e2e_consume import consume

from airflow_provider_voice.operators.events import voice_event_asset

MESSAGES = voice_event_asset("televoips_default", "messages-received")


@dag(
    dag_id="e2e_events_consumer",
    schedule=[MESSAGES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    tags=["voice", "events", "e2e"],
)
def e2e_events_consumer():
    consume()


e2e_events_consumer()
