"""``make e2e`` only: a campaign of 1,000+ recipients in small frames, killed with ``kill -9`` mid-send.

Airflow's own retry then resumes it from the checkpoint (on S3 in the e2e); the simulator's ledger
must show every recipient called exactly once. Params: ``vendor``, ``recipients`` (a CSV path),
``vendor_options`` (e.g. ``{"frame_size": 100}``).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag

from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator


@dag(
    dag_id="e2e_fault_campaign",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["voice", "e2e"],
    params={"vendor": "octopush", "recipients": "", "vendor_options": {"frame_size": 100}},
)
def e2e_fault_campaign():
    SendVoiceCampaignOperator(
        task_id="send",
        conn_id="{{ params.vendor }}_default",
        recipients="{{ params.recipients }}",
        campaign_name="e2e fault {{ run_id }}",
        message="This is a test call from the e2e fault run.",
        vendor_options="{{ params.vendor_options | tojson }}",
        concurrency=2,
        retries=3,
        retry_delay=pendulum.duration(seconds=2),
    )


e2e_fault_campaign()
