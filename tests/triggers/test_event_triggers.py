"""VoiceEventTrigger (the AssetWatcher pull path) against the simulator over a real socket.

``run()`` is driven directly with asyncio, with a temporary event store (``events_path``) and the
shortest poll interval (1 s); each wait is bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.errors import AuthError
from airflow_provider_voice.models.events import VoiceEvent, WebhookRequest, event_asset_uri
from airflow_provider_voice.testing.televoips import message_event
from airflow_provider_voice.triggers.events import EVENT_SOURCES, VoiceEventTrigger
from airflow_provider_voice.vendors.base import VendorClient
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.events import parse_call_callback
from airflow_provider_voice.vendors.televoips.events import parse_message_webhook
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.events import parse_call_webhook

OWNED = "13214567890"  # a number the simulated TeleVoIPs account owns
PEOPLE = ("15557654321", "15557654322", "15557654323")


def ago(seconds: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)).isoformat()


class Run:
    """One triggerer running ``trigger.run()``: take its events one by one, then stop it."""

    def __init__(self, trigger: VoiceEventTrigger) -> None:
        self.events: AsyncIterator[Any] = trigger.run()

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        event = await asyncio.wait_for(self.events.__anext__(), timeout)
        payload: dict[str, Any] = event.payload
        return payload

    async def quiet_for(self, seconds: float) -> None:
        """No event for ``seconds`` (more than one poll)."""
        with pytest.raises(asyncio.TimeoutError):
            await self.next(timeout=seconds)

    async def stop(self) -> None:
        await self.events.aclose()  # type: ignore[attr-defined]


def inbound(simulator: Any, person: str, text: str, count: int = 1) -> list[str]:
    """Inbound TeleVoIPs messages (``POST /_sim/televoips/inbound``); their ids."""
    answer = httpx.post(
        f"{simulator.url}/_sim/televoips/inbound", json={"from": person, "to": OWNED, "text": text, "count": count}
    )
    answer.raise_for_status()
    ids: list[str] = answer.json()["event_ids"]
    return ids


def stored(store: EventStore, payload: dict[str, Any]) -> list[VoiceEvent]:
    batches = [store.batch(payload["vendor"], payload["conn_id"], payload["kind"], b) for b in payload["voice_batches"]]
    return [event for batch in batches for event in store.events(batch)]


def televoips_trigger(tmp_path: Path, kind: str = "messages-received", **kwargs: Any) -> VoiceEventTrigger:
    return VoiceEventTrigger(
        conn_id="televoips_default", kind=kind, poll_interval=1, start=ago(5), events_path=str(tmp_path), **kwargs
    )


async def test_a_new_inbound_message_is_one_trigger_event_and_one_stored_event(voice_connections, tmp_path):
    stop_id = inbound(voice_connections, PEOPLE[0], "STOP")[0]
    hello_id = inbound(voice_connections, PEOPLE[1], "Hello, is the office open on Monday?")[0]
    store = EventStore(tmp_path)

    run = Run(televoips_trigger(tmp_path))
    try:
        payload = await run.next()
        await run.quiet_for(1.3)  # the next polls find nothing new
    finally:
        await run.stop()
    assert payload == {
        "voice_batches": payload["voice_batches"],
        "count": 2,
        "vendor": "televoips",
        "conn_id": "televoips_default",
        "kind": "messages-received",
        "watcher": "televoips_default-messages-received",
    }
    assert len(payload["voice_batches"]) == 1 and not any(p in json.dumps(payload) for p in PEOPLE)
    events = stored(store, payload)
    assert {e.event_id for e in events} == {f"message-received:{stop_id}", f"message-received:{hello_id}"}
    by_id = {e.ref: e for e in events}
    assert by_id[stop_id].number == "+" + PEOPLE[0] and by_id[stop_id].text == "STOP"
    assert by_id[stop_id].account_number == "+" + OWNED and by_id[stop_id].direction == "inbound"
    # the webhook of the same message is the same event (same key): stored once whichever comes first
    body = message_event("message-received", stop_id, "2026-01-01 00:00:00", OWNED, PEOPLE[0], text="STOP")
    request = WebhookRequest(
        "POST", {}, json.dumps(body).encode(), "application/json", dt.datetime.now(dt.timezone.utc)
    )
    assert parse_message_webhook(request, "televoips_default")[0].key == by_id[stop_id].key

    # the opt-outs watcher of the same connection: only the STOP, as an opt-out
    run = Run(televoips_trigger(tmp_path, kind="opt-outs"))
    try:
        optouts = await run.next()
    finally:
        await run.stop()
    assert optouts["kind"] == "opt-outs" and optouts["count"] == 1
    assert optouts["watcher"] == "televoips_default-opt-outs"
    (optout,) = stored(store, optouts)
    assert optout.kind == "opt-outs" and optout.number == "+" + PEOPLE[0] and optout.outcome == "opted_out"
    assert optout.event_id == f"keyword:message-received:{stop_id}"
    assert optout.asset_uri == event_asset_uri("televoips", "televoips_default", "opt-outs")


async def test_a_triggerer_restart_loses_nothing_and_repeats_nothing(voice_connections, tmp_path):
    store = EventStore(tmp_path)
    first_id = inbound(voice_connections, PEOPLE[0], "STOP")[0]
    run = Run(televoips_trigger(tmp_path, watcher="inbound"))
    try:
        first = await run.next()
    finally:
        await run.stop()  # the triggerer dies before the next round: the batch is still pending
    (pending,) = store.pending_batches("trigger-inbound")
    assert first["voice_batches"] == [pending.batch_id] and first["count"] == 1

    later_ids = inbound(voice_connections, PEOPLE[2], "Call me back", count=2)
    run = Run(televoips_trigger(tmp_path, watcher="inbound"))  # the same kwargs: the same watcher
    try:
        again = await run.next()  # its pending batch first
        new = await run.next()  # then only the messages that arrived since
        await run.quiet_for(1.3)  # and the pending batch is not announced a second time
    finally:
        await run.stop()
    assert again["voice_batches"] == first["voice_batches"] and again["count"] == 1
    assert new["count"] == 2 and set(new["voice_batches"]).isdisjoint(first["voice_batches"])
    assert pending.batch_id not in {b.batch_id for b in store.pending_batches("trigger-inbound")}
    keys = [e.key for e in stored(store, first) + stored(store, new)]
    assert len(keys) == len(set(keys)) == 3  # none twice
    assert {e.ref for e in stored(store, first) + stored(store, new)} == {first_id, *later_ids}  # none lost
    cursor = store.cursor("inbound")
    assert cursor is not None and cursor["vendor"] == "televoips" and cursor["kind"] == "messages-received"
    assert set(cursor["position"]["ids"]) >= set(later_ids)  # the boundary second's ids are kept


async def test_a_vendor_error_is_logged_and_polled_again(voice_connections, tmp_path):
    rule = voice_connections.state.faults.set("televoips", "/messages", malformed_rate=1.0, times=1)
    message_id = inbound(voice_connections, PEOPLE[0], "STOP")[0]
    run = Run(televoips_trigger(tmp_path))
    try:
        payload = await run.next()
    finally:
        await run.stop()
    assert rule.injected == 1 and payload["count"] == 1
    assert stored(EventStore(tmp_path), payload)[0].ref == message_id


async def test_a_refused_key_stops_the_trigger(voice_connections, tmp_path):
    trigger = VoiceEventTrigger(
        conn_id="televoips_wrong_key",
        kind="messages-received",
        poll_interval=1,
        vendor="televoips",
        events_path=str(tmp_path),
    )
    run = Run(trigger)
    try:
        with pytest.raises(AuthError) as caught:
            await run.next()
    finally:
        await run.stop()
    assert "wrong-key-for-the-demo" not in str(caught.value)


async def test_velip_ended_calls_follow_the_get_call_status_cursor(voice_connections, tmp_path):
    state = voice_connections.state
    state.configure(velip_list_requests_per_hour=100_000)
    api = VelipApi(token=state.config.velip_token, base_urls={"default": voice_connections.base_url("velip")})
    brazil = dt.timezone(dt.timedelta(hours=-3))
    later = (dt.datetime.now(brazil) + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    with VendorClient(api) as client:
        scheduled = client.send(api.make_tts_call("5511987650000", text="Later", repeat=f"1|10||{later}"))
        placed = [client.send(api.make_tts_call(f"551198765000{i}", text="Olá")).cd_id for i in (1, 2)]
    assert scheduled.cd_id is None  # it is pending (PD) for two hours, and comes first in cd_id order
    store = EventStore(tmp_path)

    run = Run(
        VoiceEventTrigger(
            conn_id="velip_default", kind="calls-ended", poll_interval=1, start=ago(5), events_path=str(tmp_path)
        )
    )
    try:
        events: list[VoiceEvent] = []
        while len(events) < 2:
            payload = await run.next()
            assert payload["vendor"] == "velip" and payload["kind"] == "calls-ended"
            events += stored(store, payload)
        assert sorted(e.event_id for e in events) == sorted(f"call:{cd}" for cd in placed)
        cursor = store.cursor("velip_default-calls-ended")
        assert cursor is not None
        # the pending call holds the cursor before it; the calls after it are remembered as done
        assert cursor["position"]["last_id"] is None and set(cursor["position"]["done"]) == set(placed)
        with VendorClient(api) as client:
            third = client.send(api.make_tts_call("5511987650003", text="Olá")).cd_id
        payload = await run.next()
    finally:
        await run.stop()
    (event,) = stored(store, payload)  # only the new call: the two before it are not announced again
    assert event.event_id == f"call:{third}" and event.status in ("OK", "NA", "EK", "IK", "CK", "BK")
    assert event.outcome is not None and event.number == "+5511987650003"
    webhook = WebhookRequest(
        "POST", {}, json.dumps({"cd_id": third, "cd_called_status": event.status}).encode(), "application/json",
        dt.datetime.now(dt.timezone.utc),
    )  # fmt: skip
    assert parse_call_webhook(webhook, "velip_default")[0].key == event.key


async def test_kaleyra_ended_click_to_calls_from_the_c2c_log(voice_connections, tmp_path):
    state = voice_connections.state
    api = KaleyraApi(api_key=state.config.kaleyra_api_key, base_urls={"default": voice_connections.base_url("kaleyra")})
    with VendorClient(api) as client:
        placed = [client.send(api.click2call("9988776655", f"987654321{i}")).call_id for i in (1, 2)]
    store = EventStore(tmp_path)
    trigger = VoiceEventTrigger(
        conn_id="kaleyra_default", kind="calls-ended", poll_interval=1, start=ago(5), events_path=str(tmp_path)
    )
    run = Run(trigger)
    try:
        events: list[VoiceEvent] = []
        while len(events) < 2:
            events += stored(store, await run.next())
    finally:
        await run.stop()
    assert sorted(e.event_id for e in events) == sorted(f"calls-ended:{c}" for c in placed)
    assert {e.number for e in events} == {"+919876543211", "+919876543212"}
    assert all(e.status and e.occurred_at is not None and e.occurred_at.tzinfo for e in events)
    callback = WebhookRequest(
        "GET", {"id": str(placed[0]), "endtime": "1700000000"}, b"", "", dt.datetime.now(dt.timezone.utc)
    )
    assert parse_call_callback(callback, "kaleyra_default")[0].key in {e.key for e in events}


def test_serialize_round_trip_is_exactly_the_arguments():
    kwargs: dict[str, Any] = {
        "conn_id": "televoips_default",
        "kind": "opt-outs",
        "poll_interval": 30.0,
        "watcher": "stops",
        "start": "2026-01-02T03:04:05+00:00",
        "optout_keywords": ["STOP", "ARRÊT"],
        "vendor": "televoips",
        "events_path": "/tmp/voice-events",
    }
    classpath, serialized = VoiceEventTrigger(**kwargs).serialize()
    assert serialized == kwargs and json.loads(json.dumps(serialized)) == serialized
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**serialized)
    assert rebuilt.serialize() == (classpath, kwargs)
    default = VoiceEventTrigger(conn_id="velip_default", kind="calls-ended")
    assert default.serialize()[1] == {
        "conn_id": "velip_default",
        "kind": "calls-ended",
        "poll_interval": 60.0,
        "watcher": None,
        "start": None,
        "optout_keywords": None,
        "vendor": None,
        "events_path": None,
    }
    assert (
        default.watcher_name == "velip_default-calls-ended"
        and default.source_name == "trigger-velip_default-calls-ended"
    )


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"conn_id": "velip_default", "kind": "messages-received"}, "velip messages-received"),
        ({"conn_id": "octopush_default", "kind": "deliveries"}, "octopush deliveries"),
        ({"conn_id": "mine", "kind": "calls-ended", "vendor": "televoips"}, "televoips calls-ended"),
        ({"conn_id": "mine", "kind": "cdrs"}, "cdrs"),
    ],
)
def test_an_unsupported_pair_is_refused_at_construction_naming_the_supported_ones(kwargs, names):
    with pytest.raises(ValueError) as caught:
        VoiceEventTrigger(**kwargs)
    message = str(caught.value)
    assert names in message
    assert all(f"{vendor} {kind}" in message for vendor, kind in EVENT_SOURCES)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poll_interval": 0.5},
        {"poll_interval": True},
        {"start": "soon"},
        {"watcher": ""},
        {"optout_keywords": ["STOP"]},  # only for opt-outs
        {"vendor": "acme"},
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs):
    with pytest.raises(ValueError):
        VoiceEventTrigger(**{"conn_id": "televoips_default", "kind": "messages-received", **kwargs})
