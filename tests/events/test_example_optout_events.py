"""The opt-out loop end to end under ``airflow dags test``: a STOP webhook → stored opt-out →
``example_optout_events`` unsubscribes the person, updates the suppression file and the reminder
skips them (simulator ledger) — and a second run consumes nothing twice."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import airflow_cli_env, dags_test

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.plugins.receiver import WebhookReceiver, build_app, settings_from_connection

SECRET = "s3cret-webhook-password-1"


@pytest.fixture(scope="module")
def airflow_env(simulator_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-home")
    return airflow_cli_env(simulator_server, home, AIRFLOW__VOICE__EVENTS_PATH=str(home / "events"))


def stop_webhook(store: EventStore, sender: str, text: str, message_id: str) -> int:
    settings = settings_from_connection(
        "televoips_default", "televoips", {"webhook_auth": "basic", "webhook_username": "tv", "webhook_secret": SECRET}
    )
    client = TestClient(build_app(WebhookReceiver(store, lookup={"televoips_default": settings}.get), publisher=False))
    body = {
        "type": "message-received",
        "id": message_id,
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "to": ["13214567890"],
        "from": sender,
        "text": text,
        "media": [],
        "direction": "inbound",
        "segmentCount": 1,
    }
    auth = {"Authorization": "Basic " + base64.b64encode(f"tv:{SECRET}".encode()).decode()}
    return client.post("/televoips_default/messages", json=body, headers=auth).status_code


def test_stop_reply_unsubscribes_and_suppresses(airflow_env, simulator_server):
    sim = simulator_server
    sim.state.reset()
    store = EventStore(airflow_env["AIRFLOW__VOICE__EVENTS_PATH"])
    assert stop_webhook(store, "14155552671", "Arrêt !", "msg-1") == 200
    assert stop_webhook(store, "14155552671", "Arrêt !", "msg-1") == 200  # TeleVoIPs retried: one event
    assert stop_webhook(store, "14155552672", "see you tomorrow", "msg-2") == 200  # not an opt-out

    lines = dags_test(airflow_env, "example_optout_events")
    assert "opt-out events read: 1 (1 distinct numbers)" in lines, lines
    assert "unsubscribed at TeleVoIPs: 1; suppression list: 1" in lines, lines
    assert "reminder: 3 sent, 1 suppressed (of 4)" in lines, lines
    assert [e.number for e in sim.state.ledger.entries("televoips", "unsubscribe")] == ["14155552671"]
    texted = sim.state.ledger.counts("televoips", "sms")
    assert "14155552671" not in texted and texted["14155552672"] == 1

    rerun = dags_test(airflow_env, "example_optout_events")  # consumed once: nothing new to read
    assert "opt-out events read: 0 (0 distinct numbers)" in rerun, rerun
    assert "reminder: 3 sent, 1 suppressed (of 4)" in rerun, rerun
