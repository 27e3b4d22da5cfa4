"""``make e2e`` only: the pull path — an ``AssetWatcher`` polling TeleVoIPs for inbound messages.

The Asset ``voice://televoips/televoips_pull/messages-received`` has a watcher whose
:class:`~airflow_provider_voice.triggers.events.VoiceEventTrigger` runs in the triggerer, polls
``GET /messages`` of the ``televoips_pull`` connection every 2 s, stores the new inbound messages
in the event store and fires; each run of this DAG reads them with :func:`triggering_voice_events`
and pushes ``{"count", "event_ids", "refs"}`` (sorted) to XCom. The e2e kills the triggerer with
``kill -9`` while messages arrive and checks each is read by exactly one run (``e2e/events.py``).
``make e2e`` links this file into the DAGs folder only when the provider has
``airflow_provider_voice/triggers/events.py``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetWatcher, dag
from e2e_consume import consume

from airflow_provider_voice.operators.events import voice_event_asset
from airflow_provider_voice.triggers.events import VoiceEventTrigger

PULLED = voice_event_asset(
    "televoips_pull",
    "messages-received",
    watchers=[
        AssetWatcher(
            name="e2e_pull",
            trigger=VoiceEventTrigger(conn_id="televoips_pull", kind="messages-received", poll_interval=2),
        )
    ],
)


@dag(
    dag_id="e2e_events_watcher",
    schedule=[PULLED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "events", "e2e"],
)
def e2e_events_watcher():
    consume()


e2e_events_watcher()
