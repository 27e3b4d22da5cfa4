"""The notifications log: one claim per key and window, across threads and stores; no number on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from airflow_provider_voice.delivery.notification_log import (
    LocalNotificationLog,
    NotificationRecord,
    ObjectStorageNotificationLog,
    notification_key,
    notification_log,
)

NUMBER = "+33612345678"


def key(text: str = "load failed", number: str = NUMBER, run_id: str = "run-1") -> str:
    return notification_key(("dag", "task", run_id, -1), channel="sms", number=number, text=text, namespace="ns")


def record(k: str, **kwargs: object) -> NotificationRecord:
    return NotificationRecord(key=k, dag_id="dag", task_id="task", run_id="run-1", channel="sms", **kwargs)  # type: ignore[arg-type]


def test_keys_are_stable_and_tell_failures_numbers_and_texts_apart():
    assert key() == key() and len(key()) == 32
    assert len({key(), key(text="other"), key(number="+33698765432"), key(run_id="run-2")}) == 4
    assert key() != notification_key(("dag", "task", "run-1", -1), channel="call", number=NUMBER, text="load failed")


@pytest.fixture(params=["local", "object"])
def log(request, tmp_path):
    if request.param == "local":
        return LocalNotificationLog(tmp_path / "log", namespace="ns")
    return ObjectStorageNotificationLog(f"file://{tmp_path}/log", namespace="ns")


def test_a_claim_blocks_the_key_for_the_window_then_expires(log):
    k = key()
    assert log.claim(record(k), window=60, now=1000.0) is None
    blocking = log.claim(record(k), window=60, now=1030.0)
    assert blocking is not None and blocking.state == "sending" and blocking.at == 1000.0
    log.settle(blocking.settled("sent", "s_1"))
    assert log.claim(record(k), window=60, now=1059.0).ref == "s_1"
    assert log.claim(record(k), window=60, now=1061.0) is None  # the window is over: a new claim
    assert log.claim(record(key(text="another text")), window=60, now=1061.0) is None


def test_a_released_claim_can_be_claimed_again_and_records_are_listed(log):
    claim = record(key())
    assert log.claim(claim, window=60, now=1000.0) is None
    log.release(claim)
    assert log.claim(record(key()), window=60, now=1001.0) is None
    listed = log.records("dag")
    assert [r.key for r in listed] == [key()] and listed[0].run_id == "run-1"
    assert log.prune(30, now=1100.0) == 1 and log.records("dag") == []


def test_no_number_and_no_text_on_disk(tmp_path):
    log = LocalNotificationLog(tmp_path, namespace="ns")
    claim = record(key())
    log.claim(claim, window=60)
    log.settle(claim.settled("sent", "s_1"))
    written = "".join(p.read_text() for p in Path(tmp_path).rglob("*") if p.is_file())
    assert written and "612345678" not in written and "load failed" not in written


def test_only_one_of_many_concurrent_claims_wins(tmp_path):
    log = LocalNotificationLog(tmp_path, namespace="ns")
    winners: list[int] = []
    barrier = threading.Barrier(16)

    def claim(i: int) -> None:
        barrier.wait()
        if LocalNotificationLog(tmp_path, namespace="ns").claim(record(key()), window=60) is None:
            winners.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(winners) == 1
    assert len(log.records("dag")) == 1


def test_an_unreadable_record_blocks_until_it_is_old(tmp_path):
    log = LocalNotificationLog(tmp_path, namespace="ns")
    k = key()
    path = tmp_path / "ns" / "dag" / f"{k}.json"
    path.parent.mkdir(parents=True)
    path.write_text("{torn")
    blocking = log.claim(record(k), window=3600)
    assert blocking is not None and blocking.state == "in_doubt"
    assert log.claim(record(k), window=0.000001) is None  # older than the window: replaced


def test_the_default_location_follows_the_voice_option(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__VOICE__NOTIFICATIONS_PATH", str(tmp_path / "configured"))
    store = notification_log()
    assert isinstance(store, LocalNotificationLog) and store.root == tmp_path / "configured"
    assert isinstance(notification_log(tmp_path.as_uri()), LocalNotificationLog)  # file:// is local
    monkeypatch.delenv("AIRFLOW__VOICE__NOTIFICATIONS_PATH")
    assert str(notification_log().root).endswith("voice/notifications")  # type: ignore[attr-defined]
