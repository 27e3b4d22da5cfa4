"""Stored webhook batches → Airflow Asset events, in a real (SQLite) metadata DB.

Each test syncs DAGs scheduled on event Assets (``Asset(name=uri, uri=uri)``, ``uri`` from
:func:`event_asset_uri`) to the DB, stores events through the receiver app, and announces them with
:func:`announce_pending` / :class:`AssetEventPublisher` and the real ``_register`` (Airflow's
``asset_manager``). Connection ids are unique per test: the DB lives for the whole session.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.models.events import event_asset_uri
from airflow_provider_voice.plugins import publisher as publisher_module
from airflow_provider_voice.plugins.publisher import AssetEventPublisher, announce_pending
from airflow_provider_voice.plugins.receiver import WebhookReceiver, build_app, settings_from_connection

TOKEN = "pub-token-3e8a1f6c9b2d7e40"
USER, PASSWORD = "tv-hook", "tv-password-5c2e9a7f"
PERSONS = ["33612345678", "33698765432", "5511987654321"]
BOUNDED_SECONDS = 10.0


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def inbound(message_id: str, sender: str, text: str = "Hello") -> dict[str, Any]:
    return {
        "type": "message-received",
        "id": message_id,
        "time": "2021-08-24 12:20:17",
        "to": ["12345678901"],
        "from": sender,
        "text": text,
        "media": [],
        "direction": "inbound",
        "segmentCount": 1,
    }


def report(message_id: str, number: str, status: str = "DELIVERED") -> dict[str, Any]:
    return {"message_id": message_id, "number": "+" + number, "status": status, "delivery_date": "2026-12-01 10:00:00"}


class Webhooks:
    """A receiver app (no publisher) for two connections of one test: TeleVoIPs (Basic) and Octopush (token)."""

    def __init__(self, store: EventStore, suffix: str) -> None:
        self.tv, self.oc = f"tv_{suffix}", f"oc_{suffix}"
        table = {
            self.tv: settings_from_connection(
                self.tv,
                "televoips",
                {"webhook_auth": "basic", "webhook_username": USER, "webhook_secret": PASSWORD},
            ),
            self.oc: settings_from_connection(self.oc, "octopush", {"webhook_auth": "token", "webhook_secret": TOKEN}),
        }
        self.receiver = WebhookReceiver(store, lookup=table.get)

    def uri(self, kind: str) -> str:
        conn_id = self.oc if kind == "deliveries" else self.tv
        return event_asset_uri("octopush" if kind == "deliveries" else "televoips", conn_id, kind)

    def send_all(self, client: TestClient) -> None:
        """3 inbound messages (one STOP) + a replay, and 3 Octopush reports in 2 requests + a replay: all 200."""
        answers = [
            client.post(f"/{self.tv}/messages", json=inbound("in-1", PERSONS[0]), headers=basic()),
            client.post(f"/{self.tv}/messages", json=inbound("in-2", PERSONS[1], "STOP"), headers=basic()),
            client.post(f"/{self.tv}/messages", json=inbound("in-3", PERSONS[2]), headers=basic()),
            client.post(f"/{self.tv}/messages", json=inbound("in-1", PERSONS[0]), headers=basic()),
            client.post(f"/{self.oc}/deliveries?token={TOKEN}", json=report("sms_1", PERSONS[0])),
            client.post(
                f"/{self.oc}/deliveries?token={TOKEN}",
                json=[report("sms_1", PERSONS[1], "BUSY"), report("sms_2", PERSONS[2])],  # one batch of two
            ),
            client.post(f"/{self.oc}/deliveries?token={TOKEN}", json=report("sms_1", PERSONS[0])),
        ]
        assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]


@pytest.fixture
def suffix() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events", fsync=False)


@pytest.fixture
def webhooks(store: EventStore, suffix: str) -> Webhooks:
    return Webhooks(store, suffix)


@pytest.fixture
def receiver_client(webhooks: Webhooks) -> Iterator[TestClient]:
    with TestClient(build_app(webhooks.receiver, publisher=False)) as client:
        yield client


@pytest.fixture
def sync_dags(airflow_db: str) -> Callable[..., list[str]]:
    """``sync_dags({dag_id: [uri, ...]})``: DAGs scheduled on those Assets, written to the DB and unpaused."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG, Asset
    from airflow.utils.session import create_session
    from sqlalchemy import update

    DagBundlesManager().sync_bundles_to_db()

    def sync(schedules: dict[str, list[str]]) -> list[str]:
        bag = DagBag(collect_dags=False)
        for dag_id, uris in schedules.items():
            with DAG(dag_id, schedule=[Asset(name=uri, uri=uri) for uri in uris]) as dag:
                EmptyOperator(task_id="read_events")
            bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        with create_session() as session:
            session.execute(update(DagModel).where(DagModel.dag_id.in_(list(schedules))).values(is_paused=False))
        return list(schedules)

    return sync


def asset_events(uri: str) -> list[Any]:
    """The Asset events of ``uri`` in the DB (detached copies: id, extra)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.id, AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        ).all()
    return [row.extra for row in rows]


def queued_runs(dag_id: str, uri: str) -> int:
    """AssetDagRunQueue rows of ``dag_id`` for ``uri`` (the scheduler's "this DAG has a new event" marker)."""
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(AssetDagRunQueue)
            .join(AssetModel, AssetDagRunQueue.asset_id == AssetModel.id)
            .where(AssetDagRunQueue.target_dag_id == dag_id, AssetModel.uri == uri)
        )


def asset_exists(uri: str) -> bool:
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(AssetModel.id).where(AssetModel.uri == uri)) is not None


def wait_for(condition: Callable[[], bool], seconds: float = BOUNDED_SECONDS) -> float:
    """Poll ``condition`` until it holds (AssertionError after ``seconds``); the time it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def assert_no_person_in(extra: Any) -> None:
    text = json.dumps(extra)
    for person in PERSONS:
        assert person not in text
    assert "+" not in text and "Hello" not in text and "STOP" not in text


# -- announce_pending with Airflow's database ----------------------------------------------------
def test_pending_batches_become_one_asset_event_per_asset(webhooks, store, receiver_client, sync_dags, suffix):
    kinds = ("messages-received", "opt-outs", "deliveries")
    dags = {f"on_{kind.replace('-', '_')}_{suffix}": [webhooks.uri(kind)] for kind in kinds}
    sync_dags(dags)
    webhooks.send_all(receiver_client)
    pending = store.pending_batches()
    by_kind = {kind: [b for b in pending if b.kind == kind] for kind in kinds}
    assert {k: len(v) for k, v in by_kind.items()} == {"messages-received": 3, "opt-outs": 1, "deliveries": 2}

    assert announce_pending(store) == (6, 0)

    for (dag_id, (uri,)), kind in zip(dags.items(), kinds, strict=True):
        (extra,) = asset_events(uri)  # one Asset event per Asset for the whole round
        assert extra["voice_batches"] == [b.batch_id for b in by_kind[kind]]
        assert extra["count"] == sum(len(b.keys) for b in by_kind[kind])
        assert extra["count"] == (3 if kind == "deliveries" else len(by_kind[kind]))  # a batch can hold several
        assert extra["kind"] == kind
        assert extra["conn_id"] == (webhooks.oc if kind == "deliveries" else webhooks.tv)
        assert extra["vendor"] == ("octopush" if kind == "deliveries" else "televoips")
        assert_no_person_in(extra)
        assert queued_runs(dag_id, uri) == 1
    assert store.pending_batches() == []  # the markers are gone...
    assert announce_pending(store) == (0, 0)  # ...so a second round announces nothing again
    assert all(len(asset_events(uri)) == 1 for (uri,) in dags.values())
    # the events are still in the store for the DAG run to read
    (extra,) = asset_events(webhooks.uri("messages-received"))
    batch = store.batch("televoips", webhooks.tv, "messages-received", extra["voice_batches"][0])
    assert [e.number for e in store.events(batch)] == ["+" + PERSONS[0]]


def test_an_asset_no_dag_uses_keeps_its_batches_pending(webhooks, store, receiver_client, sync_dags, suffix, caplog):
    caplog.set_level(logging.WARNING)
    uri = webhooks.uri("deliveries")
    sync_dags({f"on_messages_{suffix}": [webhooks.uri("messages-received")]})  # nothing on deliveries
    webhooks.send_all(receiver_client)
    assert not asset_exists(uri)
    warned: dict[str, float] = {}

    announced, left = announce_pending(store, warned=warned)
    assert (announced, left) == (3, 3)  # 3 message batches announced; 2 delivery + 1 opt-out batches kept
    assert len(asset_events(webhooks.uri("messages-received"))) == 1
    kept = store.pending_batches()
    assert sorted(b.kind for b in kept) == ["deliveries", "deliveries", "opt-outs"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and uri in r.getMessage()]
    assert len(warnings) == 1 and "no DAG schedules on Asset" in warnings[0]
    assert all(person not in caplog.text for person in PERSONS)

    caplog.clear()
    assert announce_pending(store, warned=warned) == (0, 3)
    assert not [r for r in caplog.records if uri in r.getMessage()]  # warned once per interval, not per round

    # a DAG appears: nothing was lost, everything kept is announced in one event
    sync_dags({f"on_deliveries_{suffix}": [uri], f"on_optouts_{suffix}": [webhooks.uri("opt-outs")]})
    assert announce_pending(store, warned=warned) == (3, 0)
    (extra,) = asset_events(uri)
    assert extra["voice_batches"] == [b.batch_id for b in kept if b.kind == "deliveries"]
    assert extra["count"] == 3
    assert store.pending_batches() == []


def test_a_register_that_raises_keeps_the_markers_for_the_next_round(
    webhooks, store, receiver_client, sync_dags, suffix
):
    from airflow_provider_voice.plugins.publisher import _register

    uris = {kind: webhooks.uri(kind) for kind in ("messages-received", "opt-outs", "deliveries")}
    sync_dags({f"all_{kind.replace('-', '_')}_{suffix}": [uri] for kind, uri in uris.items()})
    webhooks.send_all(receiver_client)
    before = store.pending_batches()
    calls: list[str] = []

    def broken(uri: str, extra: dict[str, Any]) -> bool:
        calls.append(uri)
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError):
        announce_pending(store, broken)
    assert store.pending_batches() == before
    assert all(asset_events(uri) == [] for uri in uris.values())

    # fails after the first Asset: the first Asset's markers go, the others stay
    def second_fails(uri: str, extra: dict[str, Any]) -> bool:
        if calls and calls[-1] != "ok":
            calls.append("ok")
            return _register(uri, extra)
        raise RuntimeError("connection lost")

    with pytest.raises(RuntimeError):
        announce_pending(store, second_fails)
    announced_first = {uri for uri in uris.values() if asset_events(uri)}
    assert len(announced_first) == 1
    left = store.pending_batches()
    assert {b.asset_uri for b in left} == set(uris.values()) - announced_first

    # the next round announces the rest, and nothing twice
    announce_pending(store)
    assert store.pending_batches() == []
    assert all(len(asset_events(uri)) == 1 for uri in uris.values())
    counts = {uri: asset_events(uri)[0]["count"] for uri in uris.values()}
    assert counts == {uris["messages-received"]: 3, uris["opt-outs"]: 1, uris["deliveries"]: 3}


def test_large_rounds_are_split_into_bounded_events(store, sync_dags, suffix, monkeypatch):
    from airflow_provider_voice.models.events import VoiceEvent

    monkeypatch.setattr(publisher_module, "MAX_BATCHES_PER_EVENT", 4)
    conn_id = f"oc_big_{suffix}"
    uri = event_asset_uri("octopush", conn_id, "deliveries")
    sync_dags({f"big_{suffix}": [uri]})
    for i in range(10):
        event = VoiceEvent(
            vendor="octopush",
            conn_id=conn_id,
            kind="deliveries",
            event_id=f"report:{i}",
            received_at="2026-12-01T10:00:00Z",
        )
        assert store.put(event)
        store.add_batches([event])
    assert announce_pending(store) == (10, 0)
    assert [extra["count"] for extra in asset_events(uri)] == [4, 4, 2]


# -- the publisher thread ------------------------------------------------------------------------
def test_publisher_started_with_the_app_announces_after_a_webhook(webhooks, store, sync_dags, suffix):
    uri = webhooks.uri("deliveries")
    sync_dags({f"thread_{suffix}": [uri]})
    publisher = AssetEventPublisher(lambda: store, sweep_seconds=300)  # only a wake-up can make it announce soon
    with TestClient(build_app(webhooks.receiver, publisher=publisher)) as client:
        wait_for(lambda: publisher.rounds >= 1)  # the start-up round (nothing pending yet)
        assert asset_events(uri) == []
        answer = client.post(f"/{webhooks.oc}/deliveries?token={TOKEN}", json=report("sms_9", PERSONS[0]))
        assert answer.status_code == 200 and answer.content == b""
        took = wait_for(lambda: len(asset_events(uri)) == 1)
        assert took < BOUNDED_SECONDS
        wait_for(lambda: store.pending_batches() == [])
        # a replay stores nothing new: no second Asset event
        assert (
            client.post(f"/{webhooks.oc}/deliveries?token={TOKEN}", json=report("sms_9", PERSONS[0])).status_code == 200
        )
    assert publisher._thread is None  # stopped with the app
    assert len(asset_events(uri)) == 1
    assert publisher.announced == 1


def test_publisher_announces_what_an_earlier_process_left_pending_at_start(
    webhooks, store, receiver_client, sync_dags, suffix
):
    uri = webhooks.uri("messages-received")
    sync_dags({f"startup_{suffix}": [uri]})
    webhooks.send_all(receiver_client)  # stored by "an earlier process" that died before announcing
    publisher = AssetEventPublisher(lambda: store, sweep_seconds=300)
    publisher.start()
    try:
        wait_for(lambda: len(asset_events(uri)) == 1)
    finally:
        publisher.stop(timeout=BOUNDED_SECONDS)
    assert asset_events(uri)[0]["count"] == 3


def test_publisher_stop_runs_a_last_round(webhooks, store, sync_dags, suffix):
    uri = webhooks.uri("messages-received")
    sync_dags({f"last_round_{suffix}": [uri]})
    publisher = AssetEventPublisher(lambda: store, sweep_seconds=300)
    publisher.start()
    wait_for(lambda: publisher.rounds >= 1)
    with TestClient(build_app(webhooks.receiver, publisher=False)) as client:  # stores, does not wake
        assert (
            client.post(f"/{webhooks.tv}/messages", json=inbound("late-1", PERSONS[1]), headers=basic()).status_code
            == 200
        )
    assert asset_events(uri) == []
    started = time.monotonic()
    publisher.stop(timeout=BOUNDED_SECONDS)
    assert time.monotonic() - started < BOUNDED_SECONDS
    assert publisher._thread is None
    assert len(asset_events(uri)) == 1 and store.pending_batches() == []


def test_publisher_survives_a_failing_register_and_announces_on_the_next_wake(
    webhooks, store, sync_dags, suffix, caplog
):
    from airflow_provider_voice.plugins.publisher import _register

    uri = webhooks.uri("deliveries")
    sync_dags({f"flaky_{suffix}": [uri]})
    failures = [1]

    def flaky(uri_: str, extra: dict[str, Any]) -> bool:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("database is locked")
        return _register(uri_, extra)

    publisher = AssetEventPublisher(lambda: store, register=flaky, sweep_seconds=300)
    with TestClient(build_app(webhooks.receiver, publisher=publisher)) as client:
        wait_for(lambda: publisher.rounds >= 1)
        assert (
            client.post(f"/{webhooks.oc}/deliveries?token={TOKEN}", json=report("sms_7", PERSONS[2])).status_code == 200
        )
        wait_for(lambda: any("announcing voice events failed" in r.getMessage() for r in caplog.records))
        assert asset_events(uri) == [] and len(store.pending_batches()) == 1  # kept, not lost
        assert (
            client.post(f"/{webhooks.oc}/deliveries?token={TOKEN}", json=report("sms_8", PERSONS[2])).status_code == 200
        )
        wait_for(lambda: len(asset_events(uri)) == 1)
    (extra,) = asset_events(uri)
    assert extra["count"] == 2 and len(extra["voice_batches"]) == 2
    assert store.pending_batches() == []


def test_publisher_stopped_during_a_round_runs_one_more(store):
    """A batch stored while a round is running, with ``stop()`` called meanwhile, is announced before the thread ends."""
    from airflow_provider_voice.models.events import VoiceEvent

    in_round, release = threading.Event(), threading.Event()
    announced: list[list[str]] = []

    def slow(uri: str, extra: dict[str, Any]) -> bool:
        in_round.set()
        assert release.wait(BOUNDED_SECONDS)
        announced.append(extra["voice_batches"])
        return True

    def stored(event_id: str) -> str:
        event = VoiceEvent(
            vendor="octopush", conn_id="oc_x", kind="deliveries", event_id=event_id, received_at="2026-12-01T10:00:00Z"
        )
        assert store.put(event)
        (batch,) = store.add_batches([event])
        return batch.batch_id

    first = stored("report:1")
    publisher = AssetEventPublisher(lambda: store, register=slow, sweep_seconds=300)
    publisher.start()
    assert in_round.wait(BOUNDED_SECONDS)
    second = stored("report:2")  # arrives while the first round is announcing
    stopper = threading.Thread(target=publisher.stop, kwargs={"timeout": BOUNDED_SECONDS})
    stopper.start()
    wait_for(lambda: publisher._stop.is_set())
    release.set()
    stopper.join(BOUNDED_SECONDS)
    assert not stopper.is_alive()
    assert announced == [[first], [second]]
    assert store.pending_batches() == []
