"""The generic fan-out engine with an in-memory fake channel (no HTTP): frames, concurrency,
retries, rejection, reconciliation, checkpoints, resume after a crash, suppression, progress."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import pytest
from helpers import Crash, numbers

from airflow_provider_voice.delivery import (
    Channel,
    CheckpointKey,
    DeliveryEngine,
    DeliveryIncompleteError,
    DeliveryRejectedError,
    FatalDeliveryError,
    Fate,
    Frame,
    FrameResult,
    LocalCheckpointStore,
    MemoryCheckpointStore,
    ObjectStorageCheckpointStore,
    Reconciled,
    SuppressionList,
    checkpoint_store,
)
from airflow_provider_voice.delivery.progress import ProgressReporter
from airflow_provider_voice.errors import (
    AuthError,
    MalformedResponseError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    VendorRejectedError,
)

KEY = CheckpointKey("dag", "task", "manual__2026-01-01T00:00:00+00:00", -1)


class FakeVendor:
    """A vendor that remembers every item it accepted, per frame key."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.by_key: dict[str, list[str]] = {}

    def accept(self, frame: Frame[str]) -> None:
        self.by_key[frame.key] = list(frame.items)
        self.calls.update(frame.items)


class FakeChannel(Channel[str]):
    """Scripted failures by frame index and attempt: ``script[(index, attempt)] = exception``.

    ``accept_before`` makes a failure happen *after* the vendor accepted (timeout after accept)."""

    name = "fake"

    def __init__(
        self,
        vendor: FakeVendor,
        *,
        frame_size: int = 10,
        script: dict | None = None,
        lookup: bool = True,
        delay: float = 0.0,
    ):
        self.vendor = vendor
        self.frame_size = frame_size
        self.script = script or {}
        self.lookup = lookup
        self.delay = delay
        self.attempts: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, frame: Frame[str]) -> FrameResult:
        self.attempts[frame.index] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            action = self.script.get((frame.index, self.attempts[frame.index]))
            if isinstance(action, tuple) and action[0] == "after_accept":
                self.vendor.accept(frame)
                raise action[1]
            if action is not None:
                raise action
            self.vendor.accept(frame)
            return FrameResult(accepted=len(frame), refs=[f"ref-{frame.key}"], cost=0.5, info={"n": len(frame)})
        finally:
            self.in_flight -= 1

    async def reconcile(self, frame: Frame[str]) -> Reconciled:
        if not self.lookup:
            return Reconciled.unknown("no lookup")
        if frame.key in self.vendor.by_key:
            return Reconciled.accepted(FrameResult(accepted=len(frame), refs=[f"ref-{frame.key}"]), "found by key")
        return Reconciled.not_accepted("not found")


async def no_sleep(_: float) -> None:
    return None


def engine(channel: Channel[str], store: Any = None, **kwargs: Any) -> DeliveryEngine[str]:
    kwargs.setdefault("reconcile_delay", 0)
    kwargs.setdefault("sleep", no_sleep)
    return DeliveryEngine(channel, store=store or MemoryCheckpointStore(), key=KEY, **kwargs)


def test_frames_are_sent_once_with_bounded_concurrency_and_results_summed():
    vendor = FakeVendor()
    channel = FakeChannel(vendor, frame_size=7, delay=0.005)
    report = engine(channel, concurrency=3, total=100).run_sync(numbers(100))
    assert report.accepted == report.accepted_now == 100 and report.complete
    assert report.frames_sent == 15 and report.frames == 15  # ceil(100 / 7)
    assert vendor.calls == Counter(numbers(100))
    assert 1 < channel.max_in_flight <= 3
    assert report.cost == pytest.approx(7.5)
    assert len(report.refs) == 15 and channel.started and channel.stopped
    keys = set(vendor.by_key)
    assert all(re.fullmatch(r"[0-9a-z]{15}", k) for k in keys) and len(keys) == 15


def test_frame_keys_are_stable_per_task_instance_and_differ_between_runs():
    other = CheckpointKey("dag", "task", "manual__2026-01-02T00:00:00+00:00", -1)
    assert KEY.frame_key(3) == CheckpointKey(*KEY.parts()[:3], -1).frame_key(3)
    assert KEY.frame_key(3) != other.frame_key(3) and KEY.frame_key(3) != KEY.frame_key(4)
    assert KEY.member_hasher()("+33612300000") != other.member_hasher()("+33612300000")
    with pytest.raises(ValueError):
        KEY.frame_key(36**6)


def test_not_sent_errors_are_retried_with_retry_after_then_accepted():
    vendor = FakeVendor()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    script = {
        (0, 1): RateLimitedError("429", retry_after=7.0),
        (0, 2): ServerError("503", status_code=503),
        (1, 1): TransportError("refused", may_have_been_accepted=False),
    }
    report = engine(FakeChannel(vendor, script=script), sleep=sleep, backoff_initial=0.25).run_sync(numbers(20))
    assert report.accepted == 20 and vendor.calls == Counter(numbers(20))
    assert 7.0 in waits and len(waits) == 3  # Retry-After honoured, then jittered backoff


def test_retries_exhausted_fail_listing_the_items_as_not_sent():
    vendor = FakeVendor()
    script = {(1, a): ServerError("503", status_code=503) for a in range(1, 10)}
    with pytest.raises(DeliveryIncompleteError) as info:
        engine(FakeChannel(vendor, script=script), max_frame_attempts=3).run_sync(numbers(30))
    error = info.value
    assert error.not_sent == numbers(10, 10) and not error.in_doubt
    assert error.report.accepted == 20 and "not sent (safe to retry)" in str(error)
    assert "+33612300010" not in str(error)  # numbers are masked in the message


def test_rejected_frames_are_counted_and_not_retried_in_the_same_try():
    vendor = FakeVendor()
    script = {(2, 1): VendorRejectedError("HTTP 402: Not enough credit", vendor_code="402", status_code=402)}
    channel = FakeChannel(vendor, script=script)
    report = engine(channel, max_rejected_share=0.5).run_sync(numbers(30))
    assert report.accepted == 20 and report.rejected == 10 and report.complete
    assert report.rejections[0].code == "402" and channel.attempts[2] == 1


def test_any_refusal_fails_by_default_after_everything_else_was_sent():
    vendor = FakeVendor()
    script = {(2, 1): VendorRejectedError("HTTP 402: Not enough credit", vendor_code="402", status_code=402)}
    with pytest.raises(DeliveryRejectedError, match=r"refused 10 of 30 .*Not enough credit") as info:
        engine(FakeChannel(vendor, script=script)).run_sync(numbers(30))
    assert info.value.report.accepted == 20 and sum(vendor.calls.values()) == 20  # the other frames went out
    with pytest.raises(DeliveryRejectedError):  # over the allowed share
        engine(FakeChannel(FakeVendor(), script=script), max_rejected_share=0.3).run_sync(numbers(30))


def test_nothing_accepted_always_fails():
    refused = VendorRejectedError("HTTP 402: Not enough credit", vendor_code="402", status_code=402)
    script = {(f, a): refused for f in range(3) for a in range(1, 3)}
    with pytest.raises(DeliveryRejectedError, match="accepted none of the 30") as info:
        engine(FakeChannel(FakeVendor(), script=script), max_rejected_share=1.0).run_sync(numbers(30))
    assert info.value.report.accepted == 0 and info.value.report.rejected == 30


@pytest.mark.parametrize(
    "error",
    [
        RequestTimeoutError("timeout", may_have_been_accepted=True),
        TransportError("reset", may_have_been_accepted=True),
        ServerError("502", status_code=502),
        MalformedResponseError("truncated"),
    ],
)
def test_in_doubt_frame_found_by_lookup_is_accepted_not_resent(error):
    vendor = FakeVendor()
    channel = FakeChannel(vendor, script={(1, 1): ("after_accept", error)})
    report = engine(channel).run_sync(numbers(30))
    assert report.complete and report.accepted == 30
    assert max(vendor.calls.values()) == 1 and channel.attempts[1] == 1


def test_in_doubt_frame_not_found_is_resent_with_the_same_key():
    vendor = FakeVendor()
    channel = FakeChannel(vendor, script={(1, 1): TransportError("reset", may_have_been_accepted=True)})
    delivery = engine(channel)
    report = delivery.run_sync(numbers(30))
    assert report.complete and vendor.calls == Counter(numbers(30)) and channel.attempts[1] == 2
    assert sorted(vendor.by_key) == sorted({KEY.frame_key(i, delivery.claim.id) for i in range(3)})


def test_unknown_fate_is_reported_not_resent_unless_opted_in():
    vendor = FakeVendor()
    script = {(1, 1): ("after_accept", RequestTimeoutError("timeout", may_have_been_accepted=True))}
    store = MemoryCheckpointStore()
    with pytest.raises(DeliveryIncompleteError) as info:
        engine(FakeChannel(vendor, script=script, lookup=False), store).run_sync(numbers(30))
    assert info.value.in_doubt == numbers(10, 10) and info.value.report.accepted == 20
    assert max(vendor.calls.values()) == 1
    # the retry still does not resend them ...
    with pytest.raises(DeliveryIncompleteError):
        engine(FakeChannel(vendor, lookup=False), store).run_sync(numbers(30))
    assert max(vendor.calls.values()) == 1
    # ... unless the DAG author opts in (and then they may be called twice: that is the documented risk)
    report = engine(FakeChannel(vendor, lookup=False), store, resend_in_doubt=True).run_sync(numbers(30))
    assert report.complete and report.resent_in_doubt == 10 and report.resumed == 20
    assert vendor.calls["+33612300010"] == 2 and vendor.calls["+33612300000"] == 1


def test_resume_skips_accepted_frames_and_sends_the_rest():
    vendor = FakeVendor()
    store = MemoryCheckpointStore()
    script = {(3, a): ServerError("503", status_code=503) for a in range(1, 10)}
    with pytest.raises(DeliveryIncompleteError):
        engine(FakeChannel(vendor, script=script), store, max_frame_attempts=2).run_sync(numbers(50))
    assert sum(vendor.calls.values()) == 40
    report = engine(FakeChannel(vendor), store).run_sync(numbers(50))
    assert vendor.calls == Counter(numbers(50))
    assert report.resumed == 40 and report.accepted_now == 10 and report.accepted == 50
    assert len(report.refs) == 5  # earlier tries' ids are kept


def test_crash_after_n_frames_then_retry_reconciles_open_frames_without_duplicates():
    vendor = FakeVendor()
    store = MemoryCheckpointStore()

    class CrashingChannel(FakeChannel):
        async def send(self, frame: Frame[str]) -> FrameResult:
            result = await super().send(frame)
            if frame.index == 4:  # accepted by the vendor, then the worker dies before recording it
                raise Crash()
            return result

    with pytest.raises(Crash):
        engine(CrashingChannel(vendor, delay=0.001), store, concurrency=2).run_sync(numbers(100))
    records = store.load(KEY)
    assert any(r["t"] == "intent" and r["i"] == 4 for r in records)
    assert not any(r["t"] == "done" and r["i"] == 4 for r in records)
    report = engine(FakeChannel(vendor), store, concurrency=2).run_sync(numbers(100))
    assert vendor.calls == Counter(numbers(100))  # everyone exactly once
    assert report.accepted == 100 and report.complete


def test_fatal_error_stops_dispatch_lets_in_flight_finish_and_lists_unsent():
    vendor = FakeVendor()
    script = {(2, 1): AuthError("HTTP 401: bad key", status_code=401)}
    channel = FakeChannel(vendor, script=script, delay=0.002)
    with pytest.raises(DeliveryIncompleteError) as info:
        engine(channel, concurrency=2).run_sync(numbers(100))
    error = info.value
    sent = sum(vendor.calls.values())
    assert error.report.accepted == sent and sent + len(error.not_sent) == 100
    assert "bad key" in str(error) and isinstance(error.__cause__, AuthError)
    assert channel.stopped


def test_fatal_delivery_error_from_a_channel_stops_everything():
    vendor = FakeVendor()
    channel = FakeChannel(vendor, script={(0, 1): FatalDeliveryError("out of credit")})
    with pytest.raises(DeliveryIncompleteError, match="out of credit"):
        engine(channel, concurrency=1).run_sync(numbers(30))
    assert sum(vendor.calls.values()) == 0


def test_request_stop_sends_no_new_frame():
    vendor = FakeVendor()

    class StoppingChannel(FakeChannel):
        async def send(self, frame: Frame[str]) -> FrameResult:
            result = await super().send(frame)
            if frame.index == 1:
                runner.request_stop()
            return result

    runner = engine(StoppingChannel(vendor), concurrency=1)
    with pytest.raises(DeliveryIncompleteError) as info:
        runner.run_sync(numbers(50))
    assert sum(vendor.calls.values()) == 20 and len(info.value.not_sent) == 30


def test_suppression_removes_and_counts(tmp_path):
    vendor = FakeVendor()
    txt = tmp_path / "dnc.txt"
    txt.write_text("# do not call\n+33 6 12 30 00 01\n0612300003  # national form\nnot a number\n")
    suppression = SuppressionList.load(str(txt), default_region="FR", skip_invalid=True)  # strict by default
    assert len(suppression) == 2 and suppression.invalid == 1
    report = engine(FakeChannel(vendor), suppression=suppression, total=10).run_sync(numbers(10))
    assert report.suppressed == 2 and report.accepted == 8
    assert "+33612300001" not in vendor.calls and "+33612300003" not in vendor.calls


def test_suppression_sources_list_csv_json_and_asset(tmp_path):
    from airflow.sdk import Asset

    csv_file = tmp_path / "dnc.csv"
    csv_file.write_text("phone,reason\n+33612300001,complaint\n+33612300002,stop\n")
    json_file = tmp_path / "dnc.json"
    json_file.write_text(json.dumps(["+33612300003", {"number": "+33612300004"}]))
    assert SuppressionList.load(["+33612300001", "nope"], skip_invalid=True).numbers == {"+33612300001"}
    assert SuppressionList.load(str(csv_file)).numbers == {"+33612300001", "+33612300002"}
    assert SuppressionList.load(json_file).numbers == {"+33612300003", "+33612300004"}
    assert SuppressionList.load(Asset(name="dnc", uri=f"file://{csv_file}")).numbers == {"+33612300001", "+33612300002"}
    assert len(SuppressionList.load(None)) == 0


@pytest.mark.parametrize("kind", ["local", "object", "memory"])
def test_checkpoint_stores_round_trip_and_survive_a_new_instance(tmp_path, kind):
    def make():
        if kind == "local":
            return LocalCheckpointStore(tmp_path / "cp")
        if kind == "object":
            return ObjectStorageCheckpointStore(f"file://{tmp_path}/objects")
        return shared

    shared = MemoryCheckpointStore()
    vendor = FakeVendor()
    script = {(1, a): ServerError("503", status_code=503) for a in range(1, 10)}
    with pytest.raises(DeliveryIncompleteError):
        engine(FakeChannel(vendor, script=script), make(), max_frame_attempts=1).run_sync(numbers(30))
    store = make()  # a new process would build a new store
    state = store.state(KEY)
    assert {i: f.status for i, f in state.frames.items()} == {0: "done", 1: "failed", 2: "done"}
    assert all(len(m) == 16 for m in state.frames[0].members)
    assert "+336" not in json.dumps(store.load(KEY))  # no phone numbers in checkpoints
    report = engine(FakeChannel(vendor), store).run_sync(numbers(30))
    assert report.resumed == 20 and vendor.calls == Counter(numbers(30))
    store.clear(KEY)
    assert store.load(KEY) == []


def test_local_store_ignores_a_torn_last_line(tmp_path):
    store = LocalCheckpointStore(tmp_path)
    store.append_sync(
        KEY, [{"t": "intent", "i": 0, "k": "k", "m": "a" * 16}, {"t": "done", "i": 0, "r": {"accepted": 1}}]
    )
    path = tmp_path / f"{KEY.path}.jsonl"
    path.write_text(path.read_text() + '{"t": "done", "i": 1, "r"')
    state = store.state(KEY)
    assert state.frames[0].status == "done" and 1 not in state.frames


def test_checkpoint_store_factory(tmp_path, monkeypatch):
    assert isinstance(checkpoint_store(str(tmp_path)), LocalCheckpointStore)
    assert isinstance(checkpoint_store(f"file://{tmp_path}"), LocalCheckpointStore)
    assert isinstance(checkpoint_store(f"memory://{tmp_path}/x"), ObjectStorageCheckpointStore)
    memory = MemoryCheckpointStore()
    assert checkpoint_store(memory) is memory
    monkeypatch.setenv("AIRFLOW__VOICE__CHECKPOINT_PATH", str(tmp_path / "configured"))
    default = checkpoint_store(None)
    assert isinstance(default, LocalCheckpointStore) and default.root == tmp_path / "configured"


def test_checkpoint_key_path_is_file_name_safe():
    key = CheckpointKey("my dag", "send/voice", "scheduled__2026-01-01T00:00:00+00:00", 3)
    assert (
        key.path.count("/") == 3
    )  # the task id's "/" is escaped and " " not in key.path and ":" not in key.path and "+" not in key.path


def test_progress_lines_show_sent_total_rate_and_eta():
    now = [100.0]
    progress = ProgressReporter("octopush voice campaign 'x'", 1000, interval=5.0, clock=lambda: now[0])
    now[0] = 102.0
    progress.advance(200)
    now[0] = 103.0
    progress.advance(200)  # within the interval: not logged
    now[0] = 108.0
    progress.advance(100)
    progress.finish()
    assert (
        next(iter(progress.lines))
        == "octopush voice campaign 'x': 200/1,000 recipients (20.0%), 1 frames, 100 recipients/s, ETA 8 s, elapsed 2 s"
    )
    assert list(progress.lines)[1].startswith(
        "octopush voice campaign 'x': 500/1,000 recipients (50.0%), 3 frames, 62 recipients/s, ETA 8 s"
    )
    assert len(progress.lines) == 2


def test_classification_table():
    channel = FakeChannel(FakeVendor())
    assert channel.classify(RateLimitedError("429", retry_after=1)) == (Fate.NOT_SENT, False)
    assert channel.classify(ServerError("503", status_code=503)) == (Fate.NOT_SENT, False)
    assert channel.classify(ServerError("504", status_code=504)) == (Fate.IN_DOUBT, False)
    assert channel.classify(TransportError("x", may_have_been_accepted=False)) == (Fate.NOT_SENT, False)
    assert channel.classify(RequestTimeoutError("x", may_have_been_accepted=True)) == (Fate.IN_DOUBT, False)
    assert channel.classify(VendorRejectedError("400")) == (Fate.REJECTED, False)
    assert channel.classify(AuthError("401")) == (Fate.NOT_SENT, True)
    assert channel.classify(KeyError("bug")) == (Fate.IN_DOUBT, True)
