"""The opt-out loop end to end under ``airflow dags test``: a STOP webhook → stored opt-out →
``example_optout_events`` unsubscribes the person, updates the suppression file and the reminder
skips them (simulator ledger) — and a second run consumes nothing twice."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.plugins.receiver import WebhookReceiver, build_app, settings_from_connection
from airflow_provider_voice.testing.demo import connection_env

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SECRET = "s3cret-webhook-password-1"


@pytest.fixture(scope="module")
def airflow_env(simulator_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__VOICE__EVENTS_PATH": str(home / "events"),
            "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": str(home / "demo"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(connection_env(simulator_server))
    done = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return env


def dags_test(env: dict[str, str], dag_id: str) -> list[str]:
    done = subprocess.run([AIRFLOW, "dags", "test", dag_id], env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return [line.split("DEMO|", 1)[1].strip() for line in output.splitlines() if "DEMO|" in line]


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
