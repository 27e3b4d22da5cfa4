"""``make e2e`` only: the task the event-consumer DAGs share (not a DAG; imported from the DAGs folder)."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import task

from airflow_provider_voice.operators.events import triggering_voice_events


@task(retries=2, retry_delay=pendulum.duration(seconds=2))
def consume(**context: Any) -> dict:
    """The ids of the events this run consumed (a retry reads the same batches again).

    XCom: ``{"count", "event_ids", "refs"}`` (sorted), which ``e2e/events.py`` compares with what the
    simulator sent.
    """
    events = triggering_voice_events(context)
    return {
        "count": len(events),
        "event_ids": sorted(e.event_id for e in events),
        "refs": sorted(str(e.ref) for e in events),
    }
