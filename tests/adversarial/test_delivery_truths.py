"""Never a made-up success in the delivery engine: fencing of concurrent tries, per-try and
per-deployment keys, forced resends, and the rule that a delivery with refusals is not green.

The engine tests use an in-memory fake vendor (exact per-item accounting); the integration tests
run over the simulator and take its ledger as the judge."""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from helpers import numbers, task_context

from airflow_provider_voice.capabilities.campaign import CampaignRejectedError
from airflow_provider_voice.delivery import (
    Channel,
    CheckpointKey,
    Claim,
    DeliveryEngine,
    DeliveryIncompleteError,
    DeliverySupersededError,
    Frame,
    FrameResult,
    LocalCheckpointStore,
    MemoryCheckpointStore,
    ObjectStorageCheckpointStore,
    Reconciled,
    checkpoint_store,
)
from airflow_provider_voice.delivery.checkpoint import deployment_namespace, newest_claim
from airflow_provider_voice.errors import VendorRejectedError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.transport import RetryPolicy

KEY = CheckpointKey("fence_dag", "send", "manual__2026-12-01T00:00:00+00:00")
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, max_retry_after=2.0)
POISON = "9"  # numbers ending in 9 are always refused by the fake vendor


class SharedVendor:
    """A thread-safe fake vendor: counts every accepted item and remembers frame keys."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.keys: set[str] = set()
        self.lock = threading.Lock()

    def accept(self, frame: Frame[str]) -> None:
        with self.lock:
            self.calls.update(frame.items)
            self.keys.add(frame.key)


class SlowChannel(Channel[str]):
    """One item per frame; a little latency; refuses the POISON numbers every time."""

    frame_size = 1
    name = "fenced"

    def __init__(self, vendor: SharedVendor, rng: random.Random) -> None:
        self.vendor, self.rng = vendor, rng

    async def send(self, frame: Frame[str]) -> FrameResult:
        await asyncio.sleep(self.rng.uniform(0.0, 0.004))
        if frame.items[0].endswith(POISON):
            raise VendorRejectedError("HTTP 400: blacklisted", vendor_code="400", status_code=400)
        self.vendor.accept(frame)
        return FrameResult(accepted=1, refs=[frame.key])

    async def reconcile(self, frame: Frame[str]) -> Reconciled:
        if frame.key in self.vendor.keys:
            return Reconciled.accepted(FrameResult(accepted=1, refs=[frame.key]), "found")
        return Reconciled.not_accepted("not found")


def stores(tmp_path: Any) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    return {
        "local": LocalCheckpointStore(tmp_path / "local"),
        "object": ObjectStorageCheckpointStore(ObjectStoragePath(f"file://{tmp_path}/object")),
    }


@pytest.mark.parametrize("kind", ["local", "object"])
def test_two_workers_on_one_task_instance_call_nobody_twice_and_lose_nobody(tmp_path, kind):
    """20 runs: an older try is still sending when a newer try of the same task instance starts."""
    people = numbers(120)
    poisoned = {p for p in people if p.endswith(POISON)}
    superseded_runs = 0
    for run in range(20):
        store = stores(tmp_path / str(run))[kind]
        vendor = SharedVendor()
        outcomes: dict[int, Any] = {}

        def worker(
            attempt: int,
            delay: float,
            vendor: SharedVendor = vendor,
            store: Any = store,
            run: int = run,
            outcomes: dict[int, Any] = outcomes,
        ) -> None:
            time.sleep(delay)
            engine = DeliveryEngine(
                SlowChannel(vendor, random.Random(run * 10 + attempt)),
                store=store,
                key=KEY,
                concurrency=4,
                attempt=attempt,
                reconcile_delay=0,
                max_rejected_share=1.0,
                progress_interval=60,
            )
            try:
                outcomes[attempt] = engine.run_sync(people)
            except DeliveryIncompleteError as exc:
                outcomes[attempt] = exc

        old = threading.Thread(target=worker, args=(1, 0.0))
        new = threading.Thread(target=worker, args=(2, random.Random(run).uniform(0.005, 0.08)))
        old.start(), new.start()
        old.join(30), new.join(30)
        assert not old.is_alive() and not new.is_alive()
        assert max(vendor.calls.values()) == 1, f"run {run}: somebody was called twice"
        newest = outcomes[2]
        report = newest.report if isinstance(newest, DeliveryIncompleteError) else newest
        assert not isinstance(newest, DeliverySupersededError)
        reported = set(report.in_doubt) | set(report.not_sent)
        missing = set(people) - set(vendor.calls) - poisoned
        assert missing <= reported, f"run {run}: lost without being reported: {sorted(missing)[:5]}"
        assert not set(vendor.calls) & poisoned
        if isinstance(outcomes[1], DeliverySupersededError):
            superseded_runs += 1
            assert outcomes[1].owner.attempt == 2
    assert superseded_runs > 0  # the race really happened (the older try was stopped mid-way)


def test_newest_claim_is_the_highest_try_then_the_last_written():
    claims = [Claim("a", 2), Claim("b", 1), Claim("c", 2)]
    assert newest_claim(claims).id == "c"
    assert newest_claim([Claim("x", 3), Claim("y", 1)]).id == "x"
    assert newest_claim([]) is None


def test_a_try_that_starts_after_a_newer_one_sends_nothing():
    store, vendor = MemoryCheckpointStore(), SharedVendor()
    store.claim(KEY, Claim.new(5))  # try 5 already owns the delivery
    engine = DeliveryEngine(SlowChannel(vendor, random.Random(1)), store=store, key=KEY, attempt=4, reconcile_delay=0)
    with pytest.raises(DeliverySupersededError, match="superseded by try 5"):
        engine.run_sync(numbers(5))
    assert not vendor.calls


def test_frame_keys_are_new_for_every_try_deployment_and_deleted_checkpoint():
    other_deployment = CheckpointKey(*KEY.parts()[:3], -1, namespace="staging")
    assert KEY.frame_key(0, "c1") != KEY.frame_key(0, "c2")  # another try / a deleted checkpoint
    assert KEY.frame_key(0, "c1") != other_deployment.frame_key(0, "c1")  # another deployment
    assert other_deployment.path.startswith("staging/") and not KEY.path.startswith("staging/")
    assert KEY.member_hasher()("+33612300000") == other_deployment.member_hasher()("+33612300000")  # paths differ
    assert len(KEY.frame_key(2**21, "c1")) == 15  # a later try's frame still fits Octopush's request_id


def test_a_checkpoint_from_before_namespaces_is_adopted_not_ignored(tmp_path):
    """A retry across the upgrade: the 0.1.0 checkpoint (no namespace) still says who was called."""
    store, vendor = LocalCheckpointStore(tmp_path), SharedVendor()
    legacy = CheckpointKey(*KEY.parts()[:3], -1)
    first = DeliveryEngine(SlowChannel(vendor, random.Random(1)), store=store, key=legacy, reconcile_delay=0)
    first.run_sync(numbers(6)[:3])
    upgraded = CheckpointKey(*KEY.parts()[:3], -1, namespace="d1234567")
    again = DeliveryEngine(SlowChannel(vendor, random.Random(2)), store=store, key=upgraded, reconcile_delay=0)
    report = again.run_sync(numbers(6))
    assert report.resumed == 3 and report.accepted_now == 3 and max(vendor.calls.values()) == 1


def test_deployment_namespace_comes_from_the_configuration(monkeypatch):
    monkeypatch.setenv("AIRFLOW__VOICE__NAMESPACE", "prod eu/1")
    assert deployment_namespace() == "prod-eu-1"
    monkeypatch.delenv("AIRFLOW__VOICE__NAMESPACE")
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:secret@db/airflow")
    first = deployment_namespace()
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:rotated@db/airflow")
    assert deployment_namespace() == first  # a rotated password is the same deployment
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://u:secret@other-db/airflow")
    assert deployment_namespace() != first and "secret" not in first


# -- over the simulator ------------------------------------------------------------------------


context = functools.partial(task_context, dag_id="truths")


def ledger_counts(simulator: Any, vendor: str, people: list[str]) -> dict[str, int]:
    counts = simulator.state.ledger.counts(vendor, "call")
    render = {"velip": "velip", "octopush": "octopush", "kaleyra": "kaleyra"}[vendor]
    return {p: counts.get(getattr(PhoneNumber.parse(p), render), 0) for p in people}


def campaign(vendor: str, tmp_path: Any, **kwargs: Any) -> SendVoiceCampaignOperator:
    args: dict[str, Any] = {
        "task_id": "send",
        "conn_id": f"{vendor}_default",
        "recipients": numbers(20),
        "campaign_name": "truths",
        "message": "Hello",
        "checkpoint_path": str(tmp_path / "checkpoints"),
        "request_timeout": 2.0,
        "retry_policy": FAST,
        "engine_options": {"reconcile_delay": 0.05, "backoff_initial": 0.01},
        "progress_interval": 60,
    }
    args.update(kwargs)
    return SendVoiceCampaignOperator(**args)


@pytest.mark.parametrize("vendor", ["octopush", "velip"])
def test_deleting_the_checkpoint_really_calls_people_again(voice_connections, tmp_path, vendor):
    sim = voice_connections
    people = numbers(20)
    first = campaign(vendor, tmp_path, recipients=people, campaign_name="forced 1").execute(context())
    assert first["accepted"] == 20
    retry = campaign(vendor, tmp_path, recipients=people, campaign_name="forced 1").execute(context(try_number=2))
    assert retry["resumed"] == 20 and set(ledger_counts(sim, vendor, people).values()) == {1}  # a retry: nobody twice
    key = CheckpointKey("truths", "send", "run-1", -1, deployment_namespace())
    checkpoint_store(str(tmp_path / "checkpoints")).clear(key)  # the documented way to force a resend
    time.sleep(0.1)
    again = campaign(vendor, tmp_path, recipients=people, campaign_name="forced 2").execute(context(try_number=3))
    assert again["accepted"] == 20 and again["resumed"] == 0
    assert set(ledger_counts(sim, vendor, people).values()) == {2}  # called again, as asked


def test_a_second_deployment_with_the_same_ids_is_not_mistaken_for_the_first(voice_connections, tmp_path, monkeypatch):
    sim = voice_connections
    people = numbers(15)
    shared = tmp_path / "shared-bucket"
    monkeypatch.setenv("AIRFLOW__VOICE__NAMESPACE", "prod")
    prod = campaign("octopush", tmp_path, recipients=people, checkpoint_path=str(shared)).execute(context())
    monkeypatch.setenv("AIRFLOW__VOICE__NAMESPACE", "staging")  # same DAG, task and run ids, same checkpoint bucket
    staging = campaign("octopush", tmp_path, recipients=people, checkpoint_path=str(shared)).execute(context())
    assert prod["accepted"] == staging["accepted"] == 15 and staging["resumed"] == 0
    assert set(prod["campaign_ids"]).isdisjoint(staging["campaign_ids"])  # no 409 "duplicate" taken as success
    assert set(ledger_counts(sim, "octopush", people).values()) == {2}
    assert {p.name for p in shared.iterdir()} == {"prod", "staging"}


def test_a_campaign_the_vendor_refuses_entirely_fails_without_retries(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.octopush.balance = 0.0  # every frame: 402 Not enough credit
    op = campaign("octopush", tmp_path, vendor_options={"frame_size": 5})
    with pytest.raises(CampaignRejectedError, match=r"accepted none of the 20.*Not enough credit") as info:
        op.execute(context())
    assert isinstance(info.value, AirflowFailException)  # not retried: the same request would be refused
    assert info.value.handle.accepted == 0 and info.value.report.rejected == 20
    assert len(sim.state.ledger) == 0


def test_partial_refusal_over_the_allowed_share_fails_after_the_rest_was_sent(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.octopush.balance = 0.05 * 10 + 0.001  # credit for two frames of 5
    op = campaign("octopush", tmp_path, vendor_options={"frame_size": 5}, concurrency=1)
    with pytest.raises(CampaignRejectedError, match=r"refused 10 of 20 .*max_rejected_share=0") as info:
        op.execute(context())
    assert info.value.report.accepted == 10 and sum(ledger_counts(sim, "octopush", numbers(20)).values()) == 10
    sim.state.reset()
    sim.state.octopush.balance = 0.05 * 10 + 0.001
    allowed = campaign("octopush", tmp_path, vendor_options={"frame_size": 5}, concurrency=1, max_rejected_share=0.5)
    result = allowed.execute(context(run_id="run-2"))
    assert result["accepted"] == 10 and result["rejected"] == 10  # allowed, and said


@pytest.mark.parametrize("vendor", ["velip", "octopush", "kaleyra"])
def test_a_wrong_key_fails_at_once_without_retries(voice_connections, tmp_path, vendor):
    sim = voice_connections
    with pytest.raises(DeliveryIncompleteError) as info:
        campaign(vendor, tmp_path, conn_id=f"{vendor}_wrong_key").execute(context())
    assert isinstance(info.value, AirflowFailException)  # Velip bans an IP after repeated wrong keys
    assert len(sim.state.ledger) == 0 and "wrong-key-for-the-demo" not in str(info.value)


def test_kaleyra_ok_without_calls_is_not_an_accepted_frame(voice_connections, tmp_path):
    from airflow_provider_voice.errors import MalformedResponseError
    from airflow_provider_voice.vendors.kaleyra.api_obd import KaleyraObdResult
    from airflow_provider_voice.vendors.kaleyra.campaign import KaleyraCampaignChannel

    with pytest.raises(MalformedResponseError, match="without listing any call"):
        KaleyraCampaignChannel._result(KaleyraObdResult(group_id="123", calls=[]), 10)


def test_sms_in_doubt_is_not_matched_with_another_runs_identical_message(voice_connections, tmp_path):
    """Another run texted the same person the same words just before: that is not our message."""
    from airflow_provider_voice.capabilities.sms_delivery import SmsDeliveryChannel
    from airflow_provider_voice.capabilities.sms_text import SmsText
    from airflow_provider_voice.hooks.televoips import TeleVoipsHook
    from airflow_provider_voice.models.recipients import Recipient

    sender = "13214567890"
    hook = TeleVoipsHook("televoips_default", timeout=2.0)
    hook.client.send(
        hook.api.send_message(sender, PhoneNumber.parse("+14155552600"), "Same words", default_region="US")
    )
    sms = hook.sms()
    channel = SmsDeliveryChannel(sms, SmsText("Same words"), sender=sender)
    person = Recipient(number=PhoneNumber.parse("+14155552600"))
    time.sleep(1.1)  # our (lost) send starts in a later second than theirs

    async def reconcile() -> Any:
        await channel.start()
        try:
            frame = Frame(0, "k" * 15, [person], started=time.time())
            return [await channel.reconcile(frame), await channel.reconcile(frame)]
        finally:
            await channel.stop()

    answers = asyncio.run(reconcile())
    assert all(a.verdict.value != "accepted" for a in answers), answers


@pytest.mark.parametrize("vendor", ["octopush", "velip"])
def test_two_workers_over_the_simulator_call_nobody_twice(voice_connections, tmp_path, vendor):
    """A zombie try and its successor send one campaign at once (latency + refusals): the ledger decides."""
    from airflow_provider_voice.capabilities.campaign import CampaignIncompleteError

    sim = voice_connections
    people = numbers(300)
    route = {"octopush": "/v1/public/voice-campaign/send", "velip": "CreateCampaign"}[vendor]
    for run in range(5):
        sim.state.reset()
        sim.state.faults.set(vendor, route, latency=0.02, error_rate=0.1, error_status=400, seed=run)
        outcomes: dict[int, Any] = {}

        def worker(attempt: int, delay: float, run: int = run, outcomes: dict[int, Any] = outcomes) -> None:
            time.sleep(delay)
            op = campaign(
                vendor,
                tmp_path / str(run),
                recipients=people,
                campaign_name=f"race {run}",
                vendor_options={"frame_size": 10},
                concurrency=2,
                max_rejected_share=1.0,
            )
            try:
                outcomes[attempt] = op.execute(context(run_id=f"race-{run}", try_number=attempt))
            except CampaignIncompleteError as exc:
                outcomes[attempt] = exc

        threads = [threading.Thread(target=worker, args=(1, 0.0)), threading.Thread(target=worker, args=(2, 0.15))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(t.is_alive() for t in threads)
        calls = ledger_counts(sim, vendor, people)
        assert max(calls.values()) <= 1, f"run {run}: somebody was called twice"
        newest = outcomes[2]
        report = newest.report if isinstance(newest, CampaignIncompleteError) else None
        reported = set(report.in_doubt) | set(report.not_sent) if report else set()
        refused = (report.rejected if report else newest["rejected"]) + (
            outcomes[1].report.rejected if isinstance(outcomes[1], CampaignIncompleteError) else 0
        )
        missing = [p for p, n in calls.items() if n == 0 and p not in reported]
        assert len(missing) <= refused, f"run {run}: {len(missing)} not called, {refused} refused"


def test_an_answer_covering_fewer_items_than_sent_never_counts_the_rest_as_accepted():
    """A vendor says it took 3 of a frame of 10 and nothing about the other 7: they are refused, not assumed."""

    class ShortAnswers(Channel[str]):
        frame_size = 10
        name = "short"

        async def send(self, frame: Frame[str]) -> FrameResult:
            return FrameResult(accepted=3, refs=[frame.key])

    with pytest.raises(DeliveryIncompleteError, match=r"refused 14 of 20 .*accounts for 3 of the 10") as info:
        DeliveryEngine(ShortAnswers(), store=MemoryCheckpointStore(), key=KEY, reconcile_delay=0).run_sync(numbers(20))
    assert info.value.report.accepted == 6 and info.value.report.rejected == 14

    class NothingTaken(ShortAnswers):
        async def send(self, frame: Frame[str]) -> FrameResult:
            return FrameResult(accepted=0, refs=[frame.key])  # "OK", zero contacts

    with pytest.raises(DeliveryIncompleteError, match="accepted none of the 20"):
        engine = DeliveryEngine(NothingTaken(), store=MemoryCheckpointStore(), key=KEY, max_rejected_share=1.0)
        engine.run_sync(numbers(20))


class _ListingCacheFS:
    """Builds a memory filesystem that caches listings per instance, as s3fs, gcsfs and adlfs do."""

    @staticmethod
    def make(root: str, process: str) -> Any:
        import fsspec
        from fsspec.implementations.memory import MemoryFileSystem
        from upath import UPath

        class CachingMemoryFS(MemoryFileSystem):
            protocol = ("cachingmem",)
            root_marker = "/"

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.listings: dict[Any, Any] = {}

            @classmethod
            def _strip_protocol(cls, path: str) -> str:
                return MemoryFileSystem._strip_protocol(str(path).removeprefix("cachingmem://"))

            def ls(self, path: str, detail: bool = True, **kwargs: Any) -> Any:
                key = (self._strip_protocol(path), detail)
                if key not in self.listings:
                    self.listings[key] = super().ls(path, detail=detail, **kwargs)
                return self.listings[key]

            def invalidate_cache(self, path: str | None = None) -> None:
                self.listings.clear()

        fsspec.register_implementation("cachingmem", CachingMemoryFS, clobber=True)
        return UPath(f"cachingmem://{root}", process=process)  # one filesystem (and cache) per "process"


@pytest.mark.filterwarnings("ignore:UPath 'cachingmem' filesystem not explicitly implemented")
def test_a_try_on_a_store_that_caches_listings_still_sees_the_newer_claim_of_another_process():
    """s3fs caches listings per process: the old try must still see the claim a new try wrote elsewhere.

    Measured on ``make e2e`` before the fix: with checkpoints on S3 (moto), a try re-queued while the
    old process still sent made the old one blind to the new claim, and 210 of 1,000 people were called twice.
    """
    root = f"/fence-{random.randrange(10**9)}"
    old = ObjectStorageCheckpointStore(_ListingCacheFS.make(root, "old"))
    new = ObjectStorageCheckpointStore(_ListingCacheFS.make(root, "new"))
    first = Claim.new(1)
    old.claim(KEY, first)
    assert old.owner(KEY).id == first.id  # the old process has listed the claims once
    second = Claim.new(2)
    new.claim(KEY, second)
    assert old.owner(KEY).id == second.id
    old.append_sync(KEY, [{"t": "note", "by": "old"}])
    assert {"t": "note", "by": "old"} in new.load(KEY)  # and the newer try sees what the old one wrote
