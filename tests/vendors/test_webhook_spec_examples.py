"""Every webhook request in the TeleVoIPs Postman collection (its "Webhooks" folder), sent as the
vendor sends it to the receiver, is accepted with the spec's example answer and stored as events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.plugins.receiver import WebhookReceiver, build_app, settings_from_connection

ROOT = Path(__file__).resolve().parents[2]
SECRET = "spec-webhook-password-123"
ROUTES = {"Messaging": "messages", "Call Detail Records": "cdrs"}


def _spec() -> dict[str, Any]:
    for candidate in (ROOT / "docs" / "vendor-specs", ROOT.parent / "shared" / "vendor-specs"):
        path = candidate / "televoips.postman.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    raise AssertionError("televoips.postman.json not found")


def webhook_requests() -> list[tuple[str, str, dict[str, Any]]]:
    found = []

    def walk(items: list[dict[str, Any]], path: list[str]) -> None:
        for item in items:
            if "item" in item:
                walk(item["item"], [*path, item["name"]])
            elif path[:1] == ["Webhooks"]:
                found.append((path[-1], item["name"], item))

    walk(_spec()["item"], [])
    return found


REQUESTS = webhook_requests()


def test_the_collection_has_the_four_webhooks():
    assert sorted(name for _, name, _ in REQUESTS) == [
        "Call Detail Record",
        "Incoming Message",
        "Outgoing Message Delivered",
        "Outgoing Message Failed",
    ]


@pytest.mark.parametrize(("folder", "name", "item"), REQUESTS, ids=[name for _, name, _ in REQUESTS])
def test_spec_webhook_is_accepted_and_stored(tmp_path, folder, name, item):
    store = EventStore(tmp_path)
    settings = settings_from_connection(
        "tv", "televoips", {"webhook_auth": "basic", "webhook_username": "tv", "webhook_secret": SECRET}
    )
    client = TestClient(build_app(WebhookReceiver(store, lookup={"tv": settings}.get), publisher=False))
    request = item["request"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"tv:{SECRET}".encode()).decode()}
    raw = request["body"]["raw"].encode("utf-8")
    answer = client.request(
        request["method"], f"/tv/{ROUTES[folder]}", content=raw, headers=auth | {"Content-Type": "application/json"}
    )
    expected = json.loads(item["response"][0]["body"])
    assert answer.status_code == int(item["response"][0].get("code") or 200)
    assert answer.json() == expected
    body = json.loads(raw)
    events = [e for b in store.pending_batches() for e in store.events(b)]
    if folder == "Call Detail Records":
        assert [e.ref for e in events] == [r["uniqueid"] for r in body] and {e.kind for e in events} == {"cdrs"}
        assert events[0].status == "NO ANSWER" and events[0].outcome == "no_answer"
    else:
        kind = {"message-received": "messages-received"}.get(body["type"], "deliveries")
        assert [e.kind for e in events] == [kind]
        assert events[0].ref == body["id"] and events[0].raw == body
    # the same request again (TeleVoIPs retries until it gets a 200): answered the same, stored once
    again = client.request(
        request["method"], f"/tv/{ROUTES[folder]}", content=raw, headers=auth | {"Content-Type": "application/json"}
    )
    assert again.status_code == answer.status_code and again.json() == expected
    assert sum(len(b.keys) for b in store.pending_batches()) == len(events)
