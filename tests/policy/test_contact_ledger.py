"""The contact ledger: hashed entries, one key, idempotent records, pruning, stores, errors, compaction."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from airflow_provider_voice.delivery import contact_ledger as ledger_module
from airflow_provider_voice.delivery.contact_ledger import (
    ContactLedger,
    ContactLedgerError,
    History,
    LedgerStore,
    LocalLedgerStore,
    MemoryLedgerStore,
    ObjectStorageLedgerStore,
    contact_ledger,
    ledger_store,
)
from airflow_provider_voice.errors import ValidationError, VoiceProviderError

NOW = time.time()
DAY = 86_400.0
ALICE, BOB, CAROL = "+33612345678", "+33698765432", "+14155552671"
KEY = "test-ledger-secret-0123456789"


def stored_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def object_root(protocol: str, tmp_path: Path) -> UPath:
    if protocol == "memory":
        return UPath(f"memory://ledger-tests/{uuid.uuid4().hex}")
    return UPath(f"file://{tmp_path}/objects")


@pytest.fixture(params=["memory", "local", "file-url", "object-memory", "object-file"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every kind of store: a factory so two ledgers can share one location."""
    kind = request.param
    if kind == "memory":
        store = MemoryLedgerStore()
        return lambda: store
    if kind == "local":
        return lambda: str(tmp_path / "ledger")
    if kind == "file-url":
        return lambda: f"file://{tmp_path}/ledger"
    root = object_root(kind.split("-")[1], tmp_path)
    return lambda: root


def test_every_store_records_and_reads_back(location: Any) -> None:
    writer = contact_ledger(location(), key=KEY)
    assert writer.record_contacts([ALICE, BOB, ALICE], NOW - 2 * DAY, "dag/send/run_1") == 2
    writer.record_refusals([BOB], NOW - DAY, "webhook/octopush")

    reader = contact_ledger(location(), key=KEY)
    history = reader.history([ALICE, BOB, CAROL], since=NOW - 30 * DAY)
    assert history == {
        ALICE: History(contacts=(round(NOW - 2 * DAY, 3),)),
        BOB: History(contacts=(round(NOW - 2 * DAY, 3),), refusals=(round(NOW - DAY, 3),)),
        CAROL: History(),
    }
    assert history[BOB].last_refusal == round(NOW - DAY, 3) and history[CAROL].last_contact is None

    writer.record_contacts([CAROL], NOW, "dag/send/run_2")
    assert reader.history([CAROL], since=NOW - DAY)[CAROL] == History()  # loaded once
    assert reader.refresh() > 0
    assert reader.history([CAROL], since=NOW - DAY)[CAROL].contacts == (round(NOW, 3),)
    assert reader.refresh() == 0  # nothing new: nothing read


def test_no_phone_number_in_any_stored_byte(tmp_path: Path) -> None:
    numbers = [f"+336{n:08d}" for n in range(12345670, 12345690)]
    for root, ledger in (
        (tmp_path / "local", contact_ledger(tmp_path / "local")),
        (tmp_path / "objects", contact_ledger(UPath(f"file://{tmp_path}/objects"))),
    ):
        ledger.record_contacts(numbers, NOW, "dag/task/manual__2024-05-01T10:00:00+00:00")
        ledger.record_refusals(numbers[:3], NOW, f"reply from {numbers[0]}")  # a source holding a number
        ledger.compact(NOW - DAY)
        data = stored_bytes(root)
        assert data and (root / "key").is_file()
        for number in numbers:
            national = number[3:]  # 6xxxxxxxx
            assert number.encode() not in data and national.encode() not in data and number[1:].encode() not in data
        assert b"reply from" not in data and b'"src":"h-' in data
        assert ledger.history(numbers, since=0)[numbers[0]].refusals == (round(NOW, 3),)


@pytest.mark.parametrize("kind", ["local", "object-memory"])
def test_the_key_is_created_once_when_processes_race(kind: str, tmp_path: Path) -> None:
    objects = object_root("memory", tmp_path)

    def store_of() -> LedgerStore:
        return LocalLedgerStore(tmp_path / "race") if kind == "local" else ObjectStorageLedgerStore(objects)

    barrier = threading.Barrier(8)
    hashes: list[str] = []

    def start() -> None:
        store = store_of()
        barrier.wait()
        hashes.append(ContactLedger(store).hash_number(ALICE))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(hashes) == 8 and len(set(hashes)) == 1
    assert ContactLedger(store_of()).hash_number(ALICE) == hashes[0]  # read back, not made again
    if kind == "local":
        assert sorted(p.name for p in (tmp_path / "race").iterdir()) == ["key", "key.check"]  # no staged copy
        assert (tmp_path / "race" / "key").stat().st_mode & 0o077 == 0


def test_the_key_never_shows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ledger = contact_ledger(tmp_path)
    key = (tmp_path / "key").read_text().strip()
    assert len(key) == 64
    assert "only as secret as that location" in caplog.text and str(tmp_path) in caplog.text
    ledger.record_contacts([ALICE], NOW, "dag/task/run")
    (tmp_path / "segments" / "2000010100-abc.jsonl").write_text(f'{{"h": "{key}"}}\n')
    with pytest.raises(ContactLedgerError) as caught:
        ledger.history([ALICE], since=0)
    configured = ContactLedger(MemoryLedgerStore(), key=KEY)
    shown = [
        repr(ledger),
        repr(ledger.store),
        str(caught.value),
        repr(caught.value.args),
        caplog.text,
        repr(configured),
    ]
    for text in shown:
        assert key not in text and KEY not in text
    assert "key from" in repr(ledger) and "contact_ledger_key" in repr(configured)
    assert ledger.hash_number(ALICE) != configured.hash_number(ALICE)


def test_a_changed_key_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryLedgerStore()
    ContactLedger(store, key=KEY).record_contacts([ALICE], NOW, "src")
    with caplog.at_level(logging.WARNING):
        ContactLedger(store, key=KEY)
        assert "written with another key" not in caplog.text
        rotated = ContactLedger(store, key="another-secret-key")
    assert "written with another key" in caplog.text and "another-secret-key" not in caplog.text
    assert rotated.history([ALICE], since=0)[ALICE] == History()  # what the warning means


def test_a_damaged_key_file_is_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("not-a-key\n")
    with pytest.raises(ContactLedgerError, match="not 64 hex characters") as caught:
        contact_ledger(tmp_path)
    assert caught.value.segment == f"{tmp_path}/key"


def test_rerecording_within_one_source_counts_once() -> None:
    ledger = ContactLedger(MemoryLedgerStore(), key=KEY)
    ledger.record_contacts([ALICE, BOB], NOW - 100, "dag/send/run_1")
    ledger.record_contacts([ALICE], NOW - 50, "dag/send/run_1")  # a retry re-records (later time)
    ledger.record_contacts([ALICE], NOW - 10, "dag/other/run_1")  # another campaign: counts
    expected = History(contacts=(round(NOW - 50, 3), round(NOW - 10, 3)))
    assert ledger.history([ALICE], since=0)[ALICE] == expected
    assert ContactLedger(ledger.store, key=KEY).history([ALICE], since=0)[ALICE] == expected  # read from storage
    assert ledger.loaded() == (2, 3)


def test_history_is_pruned_to_since_and_reloads_for_an_earlier_one() -> None:
    ledger = ContactLedger(MemoryLedgerStore(), key=KEY)
    ledger.record_contacts([ALICE], NOW - 90 * DAY, "old")
    ledger.record_refusals([ALICE], NOW - 45 * DAY, "stop")
    ledger.record_contacts([ALICE, BOB], NOW - DAY, "recent")
    assert ledger.history([ALICE], since=NOW - 30 * DAY)[ALICE] == History(contacts=(round(NOW - DAY, 3),))
    assert ledger.loaded() == (2, 2)  # entries before since are not kept in memory
    assert ledger.history([ALICE], since=NOW - 7 * DAY)[ALICE].contacts == (round(NOW - DAY, 3),)
    assert ledger.history([ALICE], since=NOW - 60 * DAY)[ALICE] == History(
        contacts=(round(NOW - DAY, 3),), refusals=(round(NOW - 45 * DAY, 3),)
    )
    assert ledger.loaded() == (2, 3)


def test_refusals_and_contacts_are_kept_apart() -> None:
    ledger = ContactLedger(MemoryLedgerStore(), key=KEY)
    ledger.record_refusals([BOB], NOW - 5, "dag/send/run_1")
    ledger.record_contacts([BOB], NOW - 9, "dag/send/run_1")  # same source, other kind: both kept
    assert ledger.history([BOB], since=0)[BOB] == History(contacts=(round(NOW - 9, 3),), refusals=(round(NOW - 5, 3),))


def test_inputs_are_checked_and_numbers_masked() -> None:
    ledger = ContactLedger(MemoryLedgerStore(), key=KEY)
    with pytest.raises(ValidationError) as caught:
        ledger.record_contacts(["0612345678"], NOW, "src")
    assert caught.value.field == "numbers" and "12345" not in str(caught.value)
    with pytest.raises(ValidationError, match="source"):
        ledger.record_contacts([ALICE], NOW, " ")
    with pytest.raises(ValidationError, match="at"):
        ledger.record_contacts([ALICE], float("nan"), "src")
    assert ledger.store.segments() == []
    assert ledger.stored_source("dag/task/scheduled__2024-05-01T00:00:00+00:00/-1").startswith("dag/")
    assert ledger.stored_source(f"sms {ALICE}").startswith("h-") and ledger.stored_source("x" * 65).startswith("h-")


def test_a_big_batch_is_split_into_appends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(ledger_module, "RECORDS_PER_APPEND", 3)
    ledger = contact_ledger(UPath(f"file://{tmp_path}"), key=KEY)
    numbers = [f"+3361234560{n}" for n in range(7)]
    assert ledger.record_contacts(numbers, NOW, "src") == 7
    assert len(ledger.store.segments()) == 3
    assert all(h.contacts for h in ledger.history(numbers, since=0).values())


def write_segment(root: Path, name: str, text: str) -> Path:
    path = root / "segments" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_corrupt_segment_is_a_typed_error_naming_it(tmp_path: Path) -> None:
    ledger = contact_ledger(tmp_path, key=KEY)
    ledger.record_contacts([ALICE], NOW, "src")
    good = f'{{"h":"{ledger.hash_number(BOB)}","ts":1.0,"k":"contact","src":"s"}}\n'
    path = write_segment(tmp_path, "2000010100-bad.jsonl", good + "\n{not json\n" + good)
    with pytest.raises(ContactLedgerError) as caught:
        ledger.history([ALICE], since=0)
    assert isinstance(caught.value, VoiceProviderError) and caught.value.segment == str(path)
    assert str(path) in str(caught.value) and "line 3" in str(caught.value) and "not JSON" in str(caught.value)

    path.write_text(good + '{"h":"00","ts":1.0,"k":"contact","src":"s"}\n')
    with pytest.raises(ContactLedgerError, match="line 2: not a ledger record"):
        contact_ledger(tmp_path, key=KEY).history([ALICE], since=0)
    path.write_text(good.replace('"contact"', '"called"'))
    with pytest.raises(ContactLedgerError, match="line 1: not a ledger record"):
        contact_ledger(tmp_path, key=KEY).history([ALICE], since=0)


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ledger = contact_ledger(tmp_path, key=KEY)
    ledger.record_contacts([ALICE], NOW - 10, "src")
    line = f'{{"h":"{ledger.hash_number(BOB)}","ts":{NOW},"k":"contact","src":"crashed"}}\n'
    path = write_segment(tmp_path, time.strftime("%Y%m%d%H", time.gmtime()) + "-0dead.jsonl", line[:30])
    reader = contact_ledger(tmp_path, key=KEY)
    with caplog.at_level(logging.WARNING):
        assert reader.history([ALICE, BOB], since=0) == {ALICE: History((round(NOW - 10, 3),)), BOB: History()}
    assert "incomplete line" in caplog.text and path.name in caplog.text
    with path.open("a") as handle:  # the write completes: the next refresh reads it
        handle.write(line[30:])
    reader.refresh()
    assert reader.history([BOB], since=0)[BOB].contacts == (NOW,)


def age(path: Path, hours: float) -> Path:
    """Make a local segment look ``hours`` old (its name's hour and its mtime); its new path."""
    old = time.time() - hours * 3600
    target = path.with_name(time.strftime("%Y%m%d%H", time.gmtime(old)) + path.name[10:])
    path.rename(target)
    os.utime(target, (old, old))
    return target


def test_compaction_keeps_what_is_needed_and_drops_the_old(tmp_path: Path) -> None:
    ledger = contact_ledger(tmp_path, key=KEY)
    ledger.record_contacts([ALICE, BOB], NOW - 100 * DAY, "very-old")
    ledger.record_refusals([BOB], NOW - 50 * DAY, "stop")
    ledger.record_contacts([ALICE], NOW - 3 * DAY, "run_1")
    ledger.record_contacts([ALICE], NOW - 2 * DAY, "run_1")  # a retry: one entry
    (segment,) = (tmp_path / "segments").iterdir()
    sealed = age(segment, 3)
    store = ledger.store
    current = contact_ledger(store, key=KEY)
    current.record_contacts([CAROL], NOW, "run_2")  # this hour's segment: an appender may still write it
    before = contact_ledger(tmp_path, key=KEY).history([ALICE, BOB, CAROL], since=NOW - 60 * DAY)

    done = contact_ledger(tmp_path, key=KEY).compact(NOW - 60 * DAY)
    assert (done.segments, done.entries, done.people) == (1, 2, 2) and done.written
    names = store.segments()
    assert len(names) == 2 and done.written in names and sealed.name not in names
    assert contact_ledger(tmp_path, key=KEY).history([ALICE, BOB, CAROL], since=NOW - 60 * DAY) == before
    assert contact_ledger(tmp_path, key=KEY).history([ALICE], since=0)[ALICE].contacts == (round(NOW - 2 * DAY, 3),)
    assert ledger.compact(NOW - 60 * DAY).segments == 1  # the compacted one again; the current one never
    with pytest.raises(ValidationError):
        ledger.compact(NOW + DAY)


def test_compaction_interrupted_before_its_deletes_counts_nothing_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryLedgerStore()
    ledger = ContactLedger(store, key=KEY)
    ledger.record_contacts([ALICE], NOW - 1, "run_1")
    ledger.record_refusals([ALICE], NOW, "stop")
    monkeypatch.setattr(store, "delete", lambda name: None)  # the compaction "crashes" after writing
    reader = ContactLedger(store, key=KEY)
    reader.history([ALICE], since=0)
    assert ledger.compact(0.0).segments == 2 and len(store.segments()) == 3
    expected = History(contacts=(round(NOW - 1, 3),), refusals=(round(NOW, 3),))
    assert ContactLedger(store, key=KEY).history([ALICE], since=0)[ALICE] == expected
    reader.refresh()
    assert reader.history([ALICE], since=0)[ALICE] == expected and reader.loaded() == (1, 2)


def test_the_factory_picks_the_store(tmp_path: Path) -> None:
    assert isinstance(ledger_store(tmp_path), LocalLedgerStore)
    assert isinstance(ledger_store(f"file://{tmp_path}"), LocalLedgerStore)
    assert isinstance(ledger_store(UPath(f"memory://ledger-tests/{uuid.uuid4().hex}")), ObjectStorageLedgerStore)
    memory = MemoryLedgerStore()
    assert ledger_store(memory) is memory
    ledger = contact_ledger(memory, key=KEY)
    assert contact_ledger(ledger) is ledger
    with pytest.raises(ValidationError):
        ledger_store("file://elsewhere/ledger")


def test_the_airflow_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW__VOICE__CONTACT_LEDGER_PATH", str(tmp_path / "configured"))
    monkeypatch.setenv("AIRFLOW__VOICE__CONTACT_LEDGER_KEY", KEY)
    with caplog.at_level(logging.WARNING):
        ledger = contact_ledger()
        ledger.record_contacts([ALICE], NOW, "src")
    assert ledger.store.location == str(tmp_path / "configured") and "contact_ledger_key" in repr(ledger)
    assert not (tmp_path / "configured" / "key").exists() and "only as secret" not in caplog.text
    assert ledger.hash_number(ALICE) == ContactLedger(MemoryLedgerStore(), key=KEY).hash_number(ALICE)
