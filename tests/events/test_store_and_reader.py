"""The event store (stored once, batches, claims, cursors, campaign index) and the reader
``triggering_voice_events`` (each batch once per consumer, the tail of a burst, retries)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from airflow_provider_voice.delivery.event_store import EventStore, EventStoreError, batch_time
from airflow_provider_voice.models.campaign import CampaignHandle
from airflow_provider_voice.models.events import VoiceEvent, event_asset_uri, parse_event_asset_uri
from airflow_provider_voice.operators.events import opt_out_numbers, triggering_voice_events, voice_event_asset
from airflow_provider_voice.vendors.octopush.campaign import report_status

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)


def event(n: int, kind: str = "messages-received", **fields: Any) -> VoiceEvent:
    base: dict[str, Any] = {
        "vendor": "televoips",
        "conn_id": "televoips_default",
        "kind": kind,
        "event_id": f"message-received:{n}",
        "received_at": NOW,
        "number": f"+1415555{2600 + n:04d}",
        "text": f"hello {n}",
    }
    return VoiceEvent(**(base | fields))


def accessor(*extras: dict[str, Any], uri: str) -> Any:
    """A real Task SDK accessor holding Asset events with ``extras`` on ``uri``."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    return TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult(
            asset={"name": uri, "uri": uri, "extra": {}},
            extra=extra,
            source_task_id=None,
            source_dag_id=None,
            source_run_id=None,
            source_map_index=None,
            source_aliases=[],
            timestamp=dt.datetime.now(dt.timezone.utc),
        )
        for extra in extras
    )


def ctx(run_id: str, events: Any = None) -> dict[str, Any]:
    return {"run_id": run_id, "dag_id": "consumer", "triggering_asset_events": events or {}}


def test_put_is_once_per_key_across_threads(tmp_path):
    store = EventStore(tmp_path)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(store.put(event(1)))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results.count(True) == 1 and len(results) == 16
    assert store.get("televoips", "televoips_default", "messages-received", event(1).key) == event(1)
    assert [e.event_id for e in store.put_many([event(1), event(2), event(2)])] == ["message-received:2"]


def test_no_number_in_keys_batches_or_extras(tmp_path):
    store = EventStore(tmp_path)
    (batch,) = store.add_batches(store.put_many([event(1), event(2)]))
    text = "".join(str(p) for p in tmp_path.rglob("*")) + str(batch.asset_extra())
    text += "".join(p.read_text() for p in (tmp_path / "_batches").rglob("*.json"))
    assert "1415555" not in text
    assert (
        batch.asset_extra()["count"] == 2 and batch.asset_uri == "voice://televoips/televoips_default/messages-received"
    )


def test_batches_since_and_by_id(tmp_path):
    store = EventStore(tmp_path)
    before = time.time()
    first = store.add_batches(store.put_many([event(1)]))[0]
    second = store.add_batches(store.put_many([event(2)]))[0]
    assert abs(batch_time(first.batch_id) - before) < 5
    found = store.batches_since("televoips", "televoips_default", "messages-received", before - 1)
    assert [b.batch_id for b in found] == [first.batch_id, second.batch_id]
    assert store.batch("televoips", "televoips_default", "messages-received", second.batch_id) == second
    with pytest.raises(EventStoreError):
        store.batch("televoips", "televoips_default", "messages-received", "123-nothing")
    assert [b.batch_id for b in store.pending_batches()] == [first.batch_id, second.batch_id]
    store.mark_announced(first)
    assert [b.batch_id for b in store.pending_batches()] == [second.batch_id]


def test_claims_and_cursors(tmp_path):
    store = EventStore(tmp_path)
    assert store.claim("dag_a", "b1", "run1") == "run1"
    assert store.claim("dag_a", "b1", "run1") == "run1"  # a retry of the owner
    assert store.claim("dag_a", "b1", "run2") == "run1"  # another run: skip
    assert store.claim("dag_b", "b1", "run2") == "run2"  # another consumer reads it too
    assert store.cursor("w") is None
    store.save_cursor("w", {"through": 1.5})
    store.save_cursor("w", {"through": 2.5})
    assert store.cursor("w") == {"through": 2.5}


def test_reader_consumes_each_batch_once_and_catches_the_tail(tmp_path):
    store = EventStore(tmp_path)
    uri = event_asset_uri("televoips", "televoips_default", "messages-received")
    b1 = store.add_batches(store.put_many([event(1), event(2)]))[0]
    b2 = store.add_batches(store.put_many([event(3)]))[0]  # its Asset event went to no run (burst tail)
    run1 = triggering_voice_events(ctx("run1", accessor({"voice_batches": [b1.batch_id]}, uri=uri)), store=store)
    assert [e.event_id for e in run1] == ["message-received:1", "message-received:2", "message-received:3"]
    # the retry of run1 reads the same events; the late Asset event's run finds nothing new
    again = triggering_voice_events(ctx("run1", accessor({"voice_batches": [b1.batch_id]}, uri=uri)), store=store)
    assert [e.event_id for e in again] == [e.event_id for e in run1]
    late = triggering_voice_events(ctx("run2", accessor({"voice_batches": [b2.batch_id]}, uri=uri)), store=store)
    assert late == []
    # a trigger's Asset event nests the payload; a duplicate announcement of a consumed batch is skipped
    b3 = store.add_batches(store.put_many([event(4)]), source="trigger-w")[0]
    trig = accessor({"from_trigger": True, "payload": {"voice_batches": [b3.batch_id]}}, uri=uri)
    assert [e.event_id for e in triggering_voice_events(ctx("run3", trig), store=store)] == ["message-received:4"]
    assert triggering_voice_events(ctx("run4", trig), store=store) == []
    # another consumer reads everything since its first Asset event
    others = triggering_voice_events(ctx("x", trig) | {"dag_id": "other"}, store=store)
    assert {e.event_id for e in others} >= {"message-received:4"}


def test_reader_without_asset_events_reads_the_given_assets_over_the_lookback(tmp_path):
    store = EventStore(tmp_path)
    store.add_batches(store.put_many([event(1, kind="opt-outs", event_id="keyword:1"), event(2)]))
    opt_outs = voice_event_asset("televoips_default", "opt-outs")
    events = triggering_voice_events(ctx("manual__1"), assets=[opt_outs], store=store)
    assert [e.kind for e in events] == ["opt-outs"] and opt_out_numbers(events) == ["+14155552601"]
    assert triggering_voice_events(ctx("manual__2"), assets=[opt_outs], store=store) == []
    assert triggering_voice_events(ctx("manual__3"), assets=[opt_outs], lookback=dt.timedelta(0), store=store) == []
    with pytest.raises(ValueError, match="event Assets to read"):  # nothing to read: an error, never "no events"
        triggering_voice_events(ctx("manual__4"), store=store)


def test_opt_out_without_a_usable_number_fails_loudly(tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    unusable = event(1, kind="opt-outs", event_id="keyword:1", number=None, ref="m-1")
    with pytest.raises(AirflowFailException, match="m-1"):
        opt_out_numbers([unusable, event(2, kind="opt-outs", event_id="keyword:2")])
    assert opt_out_numbers([unusable, event(2, kind="opt-outs", event_id="k2")], on_unusable="log") == ["+14155552602"]


def test_asset_helpers():
    asset = voice_event_asset("octopush_default", "deliveries")
    assert asset.uri == asset.name == "voice://octopush/octopush_default/deliveries"
    assert parse_event_asset_uri(asset.uri) == ("octopush", "octopush_default", "deliveries")
    assert parse_event_asset_uri("s3://bucket/x") is None
    with pytest.raises(ValueError, match="vendor"):
        voice_event_asset("my_conn", "deliveries")
    with pytest.raises(ValueError, match="kind"):
        voice_event_asset("velip_default", "replies")


def test_octopush_status_from_reports(tmp_path):
    store = EventStore(tmp_path)

    def report(n: int, status: str, outcome: str, ticket: str = "T1") -> VoiceEvent:
        return VoiceEvent(
            vendor="octopush",
            conn_id="octopush_default",
            kind="deliveries",
            event_id=f"report:{ticket}:{n}:{status}",
            received_at=NOW,
            number=f"+3361234{n:04d}",
            status=status,
            outcome=outcome,
            campaign_ref=ticket,
        )

    store.put_many([report(1, "DELIVERED", "answered"), report(2, "BUSY", "busy"), report(2, "BUSY", "busy")])
    store.put_many([report(3, "NOT_DELIVERED", "no_answer"), report(3, "DELIVERED", "answered")])
    handle = CampaignHandle(
        vendor="octopush", campaign_ids=["T1"], accepted=4, started_at=NOW.isoformat(), estimated_duration=60
    )
    running = report_status(handle, NOW.timestamp() + 10, store, "octopush_default")
    assert (running.finished, running.estimated, running.done, running.total) == (False, False, 3, 4)
    assert running.counts == {"answered": 2, "busy": 1, "pending": 1}
    overdue = report_status(handle, NOW.timestamp() + 4000, store, "octopush_default")
    assert overdue.finished and "1 recipient(s) still without a report" in overdue.message
    store.put(report(4, "BLACKLISTED_NUMBER", "blocked"))
    done = report_status(handle, NOW.timestamp() + 20, store, "octopush_default")
    assert done.finished and done.counts == {"answered": 2, "busy": 1, "blocked": 1}
    assert "[estimate]" not in done.summary() and "answered share 50.0%" in done.summary()


def test_an_event_stored_by_a_request_that_died_is_batched_by_the_retry(tmp_path, monkeypatch):
    from airflow_provider_voice.delivery import event_store

    store = EventStore(tmp_path)
    old = event(1, received_at=NOW)  # stored long ago, by a request that died before its batch
    assert store.put(old, batch_id=f"{int(NOW.timestamp()) * 10**9:020d}-deadbeef0000")
    done = store.ingest([old, event(2)])
    assert [e.event_id for e in done.new] == ["message-received:2"] and done.repeated == 1 and done.adopted == 1
    kinds = sorted((b.batch_id.endswith("deadbeef0000"), len(b.keys)) for b in store.pending_batches())
    assert kinds == [(False, 1), (True, 1)]
    # a stored event younger than ADOPT_AFTER_SECONDS whose batch is missing is unsettled (the vendor retries)
    monkeypatch.setattr(event_store, "SETTLE_SECONDS", 0.05)
    young = event(3, received_at=dt.datetime.now(dt.timezone.utc))
    store.put(young, batch_id=f"{time.time_ns():020d}-cafe00000000")
    assert store.ingest([young]).unsettled == 1
    # a batch that cannot be written leaves nothing "already stored" behind: the retry is new
    store.write_batch = lambda batch: (_ for _ in ()).throw(OSError("disk full"))  # type: ignore[method-assign]
    with pytest.raises(OSError):
        store.ingest([event(4)])
    assert not store.contains(event(4))


def test_object_storage_store_is_exclusive_per_key_and_claim():
    """The same guarantees on object storage (fsspec memory://, exclusive create or its fallback)."""
    import uuid

    from upath import UPath

    store = EventStore(UPath(f"memory://voice-tests/{uuid.uuid4().hex}/events"))
    assert not store.local
    assert store.put(event(1)) is True and store.put(event(1)) is False
    done = store.ingest([event(1), event(2)])
    assert [e.event_id for e in done.new] == ["message-received:2"] and done.repeated == 1
    assert store.claim("dag", "b1", "run1") == "run1" and store.claim("dag", "b1", "run2") == "run1"
    (batch,) = store.pending_batches()
    assert [e.event_id for e in store.events(batch)] == ["message-received:2"]
