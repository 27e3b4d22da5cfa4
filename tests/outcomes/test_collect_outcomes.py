"""Outcome collection over the simulator: the table equals the simulator's per-call outcomes,
recipient by recipient, on Velip, Kaleyra and Octopush; it joins back to the input rows."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseHook

sys.path.insert(0, str(Path(__file__).parent.parent / "campaigns"))
from campaign_support import FAST_RETRY, as_ledger, connection

from airflow_provider_voice.capabilities.outcome_table import OutcomeTableRows, OutcomeTableWriter
from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import CheckpointKey, MemoryCheckpointStore, SuppressionList
from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.models.campaign import CampaignSpec
from airflow_provider_voice.models.events import WebhookRequest
from airflow_provider_voice.models.outcomes import OUTCOMES
from airflow_provider_voice.testing.kaleyra import OBD_STATUS
from airflow_provider_voice.testing.octopush import DELIVERY_STATUS, delivery_reports
from airflow_provider_voice.testing.velip import STATUS_CODES
from airflow_provider_voice.vendors.kaleyra.outcomes import KALEYRA_OUTCOMES
from airflow_provider_voice.vendors.octopush.events import parse_delivery_webhook
from airflow_provider_voice.vendors.octopush.outcomes import OCTOPUSH_OUTCOMES
from airflow_provider_voice.vendors.velip.outcomes import VELIP_OUTCOMES

#: the simulator's generic outcome -> the vendor's status, and the provider's table for it
SIM_STATUS = {"velip": STATUS_CODES, "kaleyra": OBD_STATUS, "octopush": DELIVERY_STATUS}
TABLES = {"velip": VELIP_OUTCOMES, "kaleyra": KALEYRA_OUTCOMES, "octopush": OCTOPUSH_OUTCOMES}
#: outcomes the seed must spread the recipients over (every non-answered kind too)
WEIGHTS = {
    "answered": 0.4,
    "no_answer": 0.2,
    "busy": 0.15,
    "failed": 0.1,
    "congestion": 0.05,
    "bad_number": 0.05,
    "blocked": 0.05,
}


def people(n: int) -> list[dict[str, Any]]:
    """Rows of a patient file: national French numbers, a patient id, a name, a variable."""
    return [{"phone": f"06 12 {i // 10000:02d} {i % 10000 // 100:02d} {i % 100:02d}", "id": f"P{i:05d}",
             "name": f"Patient {i}", "ward": "B" if i % 3 else "A"} for i in range(n)]  # fmt: skip


@pytest.fixture
def backends(simulator, monkeypatch, tmp_path):
    for vendor in SIM_STATUS:
        extra = {"webhook_auth": "token", "webhook_secret": "s" * 24} if vendor == "octopush" else {}
        conn = connection(simulator, vendor)
        conn["extra"] = {**conn.get("extra", {}), **extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_OUT_{vendor.upper()}", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__VOICE__EVENTS_PATH", str(tmp_path / "events"))
    simulator.state.configure(seed=20261201, outcome_weights=WEIGHTS, call_seconds=1.0, call_lines=10_000)

    def get(vendor: str) -> Any:
        hook = BaseHook.get_hook(f"out_{vendor}", hook_params={"timeout": 10.0, "retry": FAST_RETRY})
        return hook.campaigns()

    return get


def deliver_octopush_reports(simulator, store: EventStore, tickets: list[str]) -> int:
    """What the webhook receiver does with Octopush's delivery reports: parse them, store them."""
    stored = 0
    for ticket in tickets:
        reports = delivery_reports(simulator.state, ticket)["reports"]
        request = WebhookRequest("POST", {}, json.dumps(reports).encode(), "application/json",
                                 dt.datetime.now(dt.timezone.utc))  # fmt: skip  # a batch of reports
        events = parse_delivery_webhook(request, "out_octopush")
        store.ingest(events)
        stored += len(events)
    return stored


@pytest.mark.parametrize("vendor", ["velip", "kaleyra", "octopush"])
def test_outcome_table_equals_the_simulator_recipient_by_recipient(
    backends, simulator, simulator_clock, vendor, tmp_path
):
    n = 10_000  # Kaleyra: 200 numbers a request, 50 requests
    backend = backends(vendor)
    rows = people(n)
    spec = CampaignSpec(name="outcomes", message="Rappel de rendez-vous")
    recipients = validate_recipients(rows, backend, spec, default_region="FR")
    key = CheckpointKey("outcomes_dag", f"send_{vendor}", "run-1")
    store = MemoryCheckpointStore()
    handle = backend.send_campaign(spec, recipients, key=key, store=store)
    assert handle.accepted == n
    simulator_clock.advance(3600)  # every call has ended
    if vendor == "octopush":
        assert deliver_octopush_reports(simulator, EventStore(tmp_path / "events"), handle.campaign_ids) == n

    started = time.perf_counter()
    outcomes = list(backend.collect_outcomes(handle, recipients, key=key, store=store))
    elapsed = time.perf_counter() - started
    print(f"{vendor}: {n} outcomes collected in {elapsed:.2f} s")

    model = simulator.state.outcome_model()
    mismatches = []
    for row, outcome in zip(rows, outcomes, strict=True):
        assert outcome.row_id == row["id"] and outcome.name == row["name"] and outcome.variables["ward"] == row["ward"]
        sim_status = SIM_STATUS[vendor][model.outcome(as_ledger(vendor, outcome.number))]
        expected = TABLES[vendor][sim_status]
        if (outcome.outcome, outcome.vendor_status, outcome.attempts) != (expected, sim_status, 1):
            mismatches.append((outcome, expected, sim_status))
    assert mismatches == [], mismatches[:5]
    counts = {o: sum(1 for x in outcomes if x.outcome == o) for o in OUTCOMES}
    assert counts["answered"] and counts["no_answer"] and counts["busy" if vendor != "velip" else "invalid_number"]
    assert counts["pending"] == 0 and sum(counts.values()) == n
    calls = simulator.state.ledger.counts(vendor, "call")
    assert len(calls) == n and set(calls.values()) == {1}
    assert {o.campaign_id for o in outcomes} <= set(handle.campaign_ids)
    if vendor == "velip":  # Velip says when, how long and the price
        answered = next(o for o in outcomes if o.outcome == "answered")
        assert answered.started_at and answered.ended_at > answered.started_at and answered.duration > 0
        assert answered.call_id and answered.cost is not None


def test_octopush_without_webhooks_is_pending_never_answered(simulator, simulator_clock, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_OUT_OCTO", json.dumps(connection(simulator, "octopush")))
    monkeypatch.setenv("AIRFLOW__VOICE__EVENTS_PATH", str(tmp_path / "events"))
    backend = BaseHook.get_hook("out_octo").campaigns()
    spec = CampaignSpec(name="o", message="Bonjour")
    recipients = validate_recipients(people(30), backend, spec, default_region="FR")
    key, store = CheckpointKey("d", "t", "r"), MemoryCheckpointStore()
    handle = backend.send_campaign(spec, recipients, key=key, store=store)
    simulator_clock.advance(3600)
    outcomes = list(backend.collect_outcomes(handle, recipients, key=key, store=store))
    assert {o.outcome for o in outcomes} == {"pending"}
    assert all("webhook" in (o.detail or "") for o in outcomes)


def test_suppressed_rejected_and_not_sent_rows_are_in_the_table(backends, simulator, simulator_clock, tmp_path):
    backend = backends("velip")
    rows = people(12)
    spec = CampaignSpec(name="mixed", message="Bonjour", vendor_options={"frame_size": 4})
    recipients = validate_recipients(rows, backend, spec, default_region="FR")
    suppression = SuppressionList.load(["+33612000000", "+33612000001"], default_region="FR")
    key, store = CheckpointKey("d", "mixed", "r"), MemoryCheckpointStore()
    simulator.state.faults.set(
        "velip", "CreateCampaign", error_rate=1.0, error_status=400, times=1
    )  # one frame refused
    with pytest.raises(Exception):  # noqa: B017 - the refusal fails the send (max_rejected_share 0)
        backend.send_campaign(spec, recipients, key=key, store=store, suppression=suppression)
    simulator_clock.advance(3600)
    handle = store_handle(backend, key, store)
    outcomes = {
        o.row_id: o for o in backend.collect_outcomes(handle, recipients, key=key, store=store, suppression=suppression)
    }
    assert outcomes["P00000"].outcome == outcomes["P00001"].outcome == "suppressed"
    refused = [o for o in outcomes.values() if o.outcome == "rejected"]
    assert len(refused) == 4 and all(o.detail for o in refused)
    called = [o for o in outcomes.values() if o.outcome not in ("suppressed", "rejected")]
    assert len(called) == 6 and all(o.attempts == 1 for o in called)


def store_handle(backend: Any, key: CheckpointKey, store: MemoryCheckpointStore) -> Any:
    """The handle of what the checkpoint says was accepted (the send failed, so it returned none)."""
    from airflow_provider_voice.models.campaign import CampaignHandle

    state = store.state(key)
    refs = [ref for result in state.results() for ref in result.refs]
    return CampaignHandle(vendor=backend.vendor, campaign_ids=refs, accepted=sum(r.accepted for r in state.results()))


def test_written_table_reads_back_as_recipients_with_an_outcome_filter(backends, simulator, simulator_clock, tmp_path):
    backend = backends("kaleyra")
    rows = people(300)
    spec = CampaignSpec(name="k", message="Hello")
    recipients = validate_recipients(rows, backend, spec, default_region="FR")
    key, store = CheckpointKey("d", "k", "r"), MemoryCheckpointStore()
    handle = backend.send_campaign(spec, recipients, key=key, store=store)
    simulator_clock.advance(3600)
    with OutcomeTableWriter(tmp_path / "out" / "table") as table:
        table.add_all(backend.collect_outcomes(handle, recipients, key=key, store=store))
    written = table.written
    assert written.rows == 300 and sum(written.counts.values()) == 300
    assert set(written.files) == {"csv", "parquet"}
    for suffix in ("csv", "parquet"):
        unreached = OutcomeTableRows(tmp_path / "out" / f"table.{suffix}", outcomes=["no_answer", "busy"])
        again = list(unreached)
        assert len(again) == written.counts["no_answer"] + written.counts["busy"] > 0
        assert all(r["row_id"].startswith("P") and r["variables"]["ward"] in "AB" for r in again)
        redial = validate_recipients(unreached, backend, spec)
        assert redial.valid == len(again)
