"""SMS outcome tables: TeleVoIPs delivery reports (message-delivered / message-failed webhooks,
stored by the receiver) joined with the send; Velip (no delivery report) stays pending."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import threading
import time
from typing import Any

import pytest
from helpers import task_context

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.models.events import WebhookRequest
from airflow_provider_voice.operators.sms import SendSMSOperator
from airflow_provider_voice.testing.demo import connection_env_for
from airflow_provider_voice.testing.televoips import SMS_FAILURES, message_event
from airflow_provider_voice.vendors.televoips.events import parse_message_webhook
from airflow_provider_voice.vendors.televoips.outcomes import televoips_outcome

SENDER = "13214567890"
ctx = functools.partial(task_context, dag_id="sms_outcomes", task_id="text", run_id="r1")


@pytest.fixture
def sms_conns(simulator, monkeypatch, tmp_path):
    env = connection_env_for(
        {v: simulator.base_url(v) for v in ("velip", "televoips", "octopush", "kaleyra", "kaleyra-obd")},
        simulator.state.config,
        webhooks={"televoips": {"webhook_auth": "token", "webhook_secret": "t" * 24}},
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW__VOICE__EVENTS_PATH", str(tmp_path / "events"))
    simulator.state.configure(
        seed=11, outcome_weights={"answered": 0.6, "bad_number": 0.2, "failed": 0.1, "congestion": 0.1}
    )
    return simulator


def report_deliveries(simulator: Any, store: EventStore) -> int:
    """What TeleVoIPs' messaging webhooks bring to the receiver: one event per message the simulator sent."""
    model = simulator.state.outcome_model()
    stored = 0
    for entry in simulator.state.ledger.entries("televoips", "sms"):
        failure = SMS_FAILURES.get(model.outcome(entry.number))
        body = message_event("message-failed" if failure else "message-delivered", entry.ref,
                             "2026-12-01 10:00:00", entry.number, SENDER, error=failure)  # fmt: skip
        request = WebhookRequest(
            "POST", {}, json.dumps(body).encode(), "application/json", dt.datetime.now(dt.timezone.utc)
        )
        stored += len(store.ingest(parse_message_webhook(request, "televoips_default")).new)
    return stored


def rows(n: int) -> list[dict[str, str]]:
    return [{"number": f"+1415555{3000 + i:04d}", "id": f"c{i}", "name": f"P{i}"} for i in range(n)]


def test_televoips_sms_outcomes_from_delivery_reports(sms_conns, tmp_path):
    people = rows(40)
    operator = SendSMSOperator(
        task_id="text", conn_id="televoips_default", recipients=people, text="Hi ${name}", sender=SENDER,
        checkpoint_path=str(tmp_path / "cp"), outcomes_path=str(tmp_path / "sms"), wait_for_delivery=20,
    )  # fmt: skip
    store = EventStore(tmp_path / "events")

    def webhooks_arrive() -> None:  # the reports come in while the task waits for them
        deadline = time.monotonic() + 15
        while len(sms_conns.state.ledger.entries("televoips", "sms")) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        report_deliveries(sms_conns, store)

    thread = threading.Thread(target=webhooks_arrive, daemon=True)
    thread.start()
    result = operator.execute(ctx())
    thread.join(20)
    outcomes = result["outcomes"]
    assert outcomes["rows"] == 40 and outcomes["counts"]["pending"] == 0
    with open(outcomes["csv_path"].removeprefix("file://"), newline="") as handle:
        table = list(csv.DictReader(handle))
    model = sms_conns.state.outcome_model()
    for person, row in zip(people, table, strict=True):
        assert row["row_id"] == person["id"] and row["channel"] == "sms" and row["call_id"]
        failure = SMS_FAILURES.get(model.outcome(person["number"].lstrip("+")))
        want = televoips_outcome("message-failed", str(failure[0]), failure[1])[0] if failure else "answered"
        assert row["outcome"] == want, (row, failure)
    counts = outcomes["counts"]
    assert counts["answered"] and counts["invalid_number"] and counts["failed"]


def test_sms_outcomes_without_reports_are_pending(voice_connections, tmp_path):
    result = SendSMSOperator(
        task_id="text", conn_id="velip_default", recipients=rows(5), text="Hi", checkpoint_path=str(tmp_path / "cp"),
        outcomes_path=str(tmp_path / "velip.csv"), outcomes_format="csv",
    ).execute(ctx(run_id="velip"))  # fmt: skip
    assert result["outcomes"]["counts"]["pending"] == 5 and "parquet_path" not in result["outcomes"]
    with open(result["outcomes"]["csv_path"].removeprefix("file://"), newline="") as handle:
        assert all("no SMS delivery report" in row["detail"] for row in csv.DictReader(handle))


@pytest.mark.parametrize(
    "kind, code, text, outcome",
    [
        ("message-delivered", None, None, "answered"),
        ("message-failed", "4432", "forbidden to country", "blocked"),
        ("message-failed", "4720", "invalid destination", "invalid_number"),
        ("message-failed", "9999", "recipient opted out (STOP)", "opted_out"),
        ("message-failed", "4750", "destination rejected message", "failed"),
        ("message-queued", None, None, "pending"),
    ],
)
def test_televoips_status_table(kind, code, text, outcome):
    assert televoips_outcome(kind, code, text)[0] == outcome
