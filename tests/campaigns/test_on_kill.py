"""``SendVoiceCampaignOperator.on_kill`` against the simulator: the remote work stops where the vendor
allows it (Velip: paused), and what keeps running is said at WARNING where it does not (Octopush,
Kaleyra); on_kill never raises, stays bounded, and the task fails with ``CampaignKilledError``.

The operator runs in a worker thread (as ``execute`` does while Airflow calls ``on_kill``); the test
holds one frame's send on a gate so the kill lands mid-send at a known point. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTimeout
from campaign_support import FAST_RETRY, Campaigns, context
from helpers import failing_midway, numbers

from airflow_provider_voice.capabilities.campaign import CampaignCancelError
from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import CheckpointKey, DeliveryEngine, Frame, FrameResult, MemoryCheckpointStore
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignSpec
from airflow_provider_voice.operators.campaign import CampaignKilledError, SendVoiceCampaignOperator
from airflow_provider_voice.vendors.velip.campaign import VelipCampaigns

ENGINE = {"reconcile_delay": 0.0, "backoff_initial": 0.02, "progress_interval": 60.0}
#: bound of every wait on another thread (never reached when the code works)
BOUND = 60.0
PEOPLE = numbers(50)  # 5 frames of 10


ORIGINAL_STATUS = VelipCampaigns.campaign_status


def operator(vendor: str, tmp_path: Any, **kwargs: Any) -> SendVoiceCampaignOperator:
    args: dict[str, Any] = {
        "task_id": "send", "conn_id": f"cmp_{vendor}", "recipients": PEOPLE, "campaign_name": "kill test",
        "message": "Hello", "vendor_options": {"frame_size": 10}, "checkpoint_path": str(tmp_path), "concurrency": 1,
        "request_timeout": 2.0, "retry_policy": FAST_RETRY, "engine_options": ENGINE, **kwargs,
    }  # fmt: skip
    return SendVoiceCampaignOperator(**args)


class InThread:
    """Runs ``execute`` in a worker thread; :meth:`result` joins it (bounded) and returns or raises."""

    def __init__(self, action: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.value = action()
            except BaseException as exc:  # re-raised in the test's thread
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def result(self) -> Any:
        self.thread.join(BOUND)
        assert not self.thread.is_alive(), "execute did not stop after on_kill"
        if self.error is not None:
            raise self.error
        return self.value


class Gate:
    """Holds the send of frame ``index`` (None: the first frame this try sends), before its request,
    until :meth:`open`; ``before`` runs first."""

    def __init__(self, index: int | None, before: Callable[[], None] | None = None) -> None:
        self.index = index
        self.before = before
        self.reached = threading.Event()
        self.opened = threading.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original_keep = SendVoiceCampaignOperator._keep_engine
        gate = self

        def keep_engine(op: SendVoiceCampaignOperator, engine: DeliveryEngine[Any]) -> None:
            original_keep(op, engine)
            send = engine.channel.send

            async def held_send(frame: Frame[Any]) -> FrameResult:
                if gate.index in (None, frame.index) and not gate.reached.is_set():
                    gate.reached.set()
                    if gate.before is not None:
                        gate.before()
                    await asyncio.to_thread(gate.opened.wait, BOUND)
                return await send(frame)

            engine.channel.send = held_send  # type: ignore[method-assign]

        monkeypatch.setattr(SendVoiceCampaignOperator, "_keep_engine", keep_engine)

    def wait(self) -> None:
        assert self.reached.wait(BOUND), "the send never reached the gated frame"

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def kill_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    yield caplog


def records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


def velip_active(campaigns: Campaigns) -> dict[str, int]:
    return {cp_id: c.active for cp_id, c in campaigns.simulator.state.velip.campaigns.items()}


def called(campaigns: Campaigns, vendor: str, people: list[str]) -> int:
    return sum(campaigns.calls_for(vendor, people).values())


# -- Velip: the campaigns are paused ----------------------------------------------------------------
def test_velip_killed_mid_send_pauses_every_accepted_campaign_and_sends_no_new_frame(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kill_log: Any
) -> None:
    gate = Gate(index=2)  # frames 0 and 1 are accepted; frame 2 is in flight when the kill comes
    gate.install(monkeypatch)
    op = operator("velip", tmp_path)
    run = InThread(lambda: op.execute(context()))
    gate.wait()
    before = velip_active(campaigns)
    assert list(before.values()) == [1, 1]  # two campaigns created, running

    op.on_kill()  # another thread, as Airflow does
    assert velip_active(campaigns) == dict.fromkeys(before, 0)  # paused by on_kill itself, during the send
    gate.open()  # frame 2 was in flight: it is accepted, then paused by execute
    with pytest.raises(CampaignKilledError) as info:
        run.result()
    error = info.value
    assert isinstance(error, AirflowFailException)  # a kill is not retried
    active = velip_active(campaigns)
    assert len(active) == 3 and set(active.values()) == {0}, active  # frames 3 and 4 never sent
    assert sorted(error.stopped) == sorted(active) and error.running == []
    assert (
        "task killed while sending" in str(error)
        and "20 recipient(s) not sent" in str(error)
        and "in doubt" not in str(error)
    )
    assert called(campaigns, "velip", PEOPLE[30:]) == 0
    assert records(kill_log, logging.WARNING, "paused with ChangeCampaign active=0")


@pytest.fixture
def status_polled(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set once a Velip status poll has been answered (the operator is then in its blocking wait)."""
    polled = threading.Event()

    def status(self: VelipCampaigns, handle: Any) -> Any:
        try:
            return ORIGINAL_STATUS(self, handle)
        finally:
            polled.set()

    monkeypatch.setattr(VelipCampaigns, "campaign_status", status)
    return polled


def test_velip_killed_mid_wait_pauses_the_campaign_waited_on(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, status_polled: threading.Event, kill_log: Any
) -> None:
    polled = status_polled
    op = operator(
        "velip", tmp_path, wait_for_completion=True, deferrable=False, poll_interval=0.05, completion_timeout=BOUND * 10
    )
    run = InThread(lambda: op.execute(context()))
    assert polled.wait(BOUND)  # sent, and waiting (the frozen clock keeps every call pending)
    assert set(velip_active(campaigns).values()) == {1}

    op.on_kill()
    with pytest.raises(CampaignKilledError, match="while waiting for completion") as info:
        run.result()
    active = velip_active(campaigns)
    assert len(active) == 5 and set(active.values()) == {0}
    assert sorted(info.value.stopped) == sorted(active)
    handle = CampaignHandle(vendor="velip", campaign_ids=list(active))
    assert ORIGINAL_STATUS(VelipCampaigns(op.hook.access), handle).state == "paused"


def test_a_retry_after_a_kill_resumes_the_paused_campaigns_before_anything_else(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, status_polled: threading.Event, kill_log: Any
) -> None:
    """Never green while paused: the next try (a retry after execution_timeout, a cleared task) resumes them."""
    polled = status_polled
    op = operator("velip", tmp_path, wait_for_completion=True, deferrable=False, poll_interval=0.05)
    run = InThread(lambda: op.execute(context()))
    assert polled.wait(BOUND)
    op.on_kill()
    with pytest.raises(CampaignKilledError, match="resumes the paused campaigns first"):
        run.result()
    assert set(velip_active(campaigns).values()) == {0}

    retry = operator("velip", tmp_path).execute(context())  # same task instance, next try
    assert set(velip_active(campaigns).values()) == {1}  # calling goes on
    assert sorted(retry["resumed_campaigns"]) == sorted(velip_active(campaigns)) and retry["resumed"] == len(PEOPLE)
    assert max(campaigns.calls_for("velip", PEOPLE).values()) <= 1
    again = operator("velip", tmp_path).execute(context())
    assert again["resumed_campaigns"] == []  # resumed once, recorded in the checkpoint


def test_velip_kill_from_a_signal_handler_on_the_sending_thread(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's SIGTERM handler calls on_kill on the main thread, inside execute's event loop."""
    holder: dict[str, SendVoiceCampaignOperator] = {}
    gate = Gate(index=1, before=lambda: holder["op"].on_kill())
    gate.opened.set()  # nothing to hold: on_kill runs right there, in the loop's thread
    gate.install(monkeypatch)
    op = holder["op"] = operator("velip", tmp_path)
    with pytest.raises(CampaignKilledError) as info:
        op.execute(context())
    active = velip_active(campaigns)
    assert len(active) == 2 and set(active.values()) == {0}  # frame 0 paused by on_kill, frame 1 by execute
    assert sorted(info.value.stopped) == sorted(active)


def test_velip_real_sigterm_on_the_main_thread(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Airflow's task runner does: a SIGTERM handler calls on_kill on the main thread, which is
    running execute's event loop; the handler returns and execute goes on (Airflow does not raise)."""
    op = operator("velip", tmp_path)
    handled = threading.Event()
    gate = Gate(index=2, before=lambda: os.kill(os.getpid(), signal.SIGTERM))
    gate.install(monkeypatch)

    def on_term(signum: int, frame: Any) -> None:
        op.on_kill()
        handled.set()
        gate.open()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with pytest.raises(CampaignKilledError) as info:
            op.execute(context())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert handled.is_set()
    active = velip_active(campaigns)
    assert len(active) == 3 and set(active.values()) == {0}
    assert sorted(info.value.stopped) == sorted(active)


def test_velip_on_kill_twice_pauses_each_campaign_once(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = campaigns.simulator.state.faults.set("velip", "ChangeCampaign")  # counts the requests
    gate = Gate(index=2)
    gate.install(monkeypatch)
    op = operator("velip", tmp_path)
    run = InThread(lambda: op.execute(context()))
    gate.wait()
    op.on_kill()
    op.on_kill()  # Airflow may call it again (a second SIGTERM): nothing new to stop
    assert changes.requests == 2
    gate.open()
    with pytest.raises(CampaignKilledError) as info:
        run.result()
    assert changes.requests == 3 and len(info.value.stopped) == 3  # + the frame that was in flight


def test_velip_kill_of_a_retry_also_pauses_the_campaigns_of_earlier_tries(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(OSError, match="lost its recipients"), failing_midway(limit=20):
        operator("velip", tmp_path, recipients=PEOPLE).execute(context())
    earlier = velip_active(campaigns)
    assert len(earlier) == 2 and set(earlier.values()) == {1}  # try 1 left two running campaigns

    holder: dict[str, SendVoiceCampaignOperator] = {}
    gate = Gate(index=None, before=lambda: holder["op"].on_kill())  # the retry is killed at its first frame
    gate.opened.set()
    gate.install(monkeypatch)
    op = holder["op"] = operator("velip", tmp_path)
    with pytest.raises(CampaignKilledError) as info:
        op.execute(context())
    active = velip_active(campaigns)
    assert len(active) == 3 and set(active.values()) == {0}  # try 1's two, and the retry's frame in flight
    assert set(earlier) <= set(info.value.stopped) and sorted(info.value.stopped) == sorted(active)


def test_velip_kill_after_an_execution_timeout_pauses_what_was_accepted(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``execution_timeout``: Airflow raises AirflowTaskTimeout in execute, then calls on_kill."""

    def timeout() -> None:
        raise AirflowTaskTimeout()

    Gate(index=1, before=timeout).install(monkeypatch)
    op = operator("velip", tmp_path)
    with pytest.raises(AirflowTaskTimeout):
        op.execute(context())
    assert set(velip_active(campaigns).values()) == {1}
    op.on_kill()
    active = velip_active(campaigns)
    assert len(active) == 1 and set(active.values()) == {0}


def test_velip_failing_cancel_is_logged_as_a_typed_error_never_raised(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kill_log: Any
) -> None:
    gate = Gate(index=1)
    gate.install(monkeypatch)
    op = operator("velip", tmp_path)
    run = InThread(lambda: op.execute(context()))
    gate.wait()
    campaigns.simulator.state.faults.set("velip", "ChangeCampaign", error_rate=1.0, error_status=500)
    op.on_kill()  # returns: the failure is logged
    errors = records(kill_log, logging.ERROR, "on_kill: could not stop velip campaigns")
    assert errors and "CampaignCancelError" in errors[0] and "ServerError" in errors[0]
    campaigns.simulator.state.faults.clear()
    gate.open()
    with pytest.raises(CampaignKilledError) as info:
        run.result()
    active = velip_active(campaigns)
    first, second = list(active)
    assert active == {first: 1, second: 0}  # the cancel that failed left frame 0 running; frame 1 was paused
    assert info.value.running == [first] and info.value.stopped == [second]
    assert f"keep running on velip: {first}" in str(info.value)


def test_velip_cancel_that_hangs_is_bounded(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kill_log: Any
) -> None:
    release = threading.Event()

    def hang(self: VelipCampaigns, handle: Any, *, timeout: float | None = None) -> list[str]:
        release.wait(BOUND)
        return []

    gate = Gate(index=1)
    gate.install(monkeypatch)
    op = operator("velip", tmp_path, cancel_timeout=0.1)
    run = InThread(lambda: op.execute(context()))
    gate.wait()
    monkeypatch.setattr(VelipCampaigns, "cancel", hang)
    try:
        op.on_kill()  # returns after cancel_timeout (+0.5 s), not when the cancel ends
        assert records(kill_log, logging.ERROR, "did not finish within 0.1 s: they may keep running")
    finally:
        release.set()
        gate.open()
    with pytest.raises(CampaignKilledError) as info:
        run.result()
    assert len(info.value.running) == 2  # frame 0 (cancel timed out) and frame 1 (the hung cancel again)


def test_velip_cancel_tries_every_campaign_and_names_those_not_paused(campaigns: Campaigns, simulator_clock: Any):
    backend: VelipCampaigns = operator("velip", "unused").hook.campaigns()
    spec = CampaignSpec(name="two", message="x", vendor_options={"frame_size": 5})
    sent = backend.send_campaign(
        spec, validate_recipients(numbers(10), backend, spec), key=CheckpointKey("k", "velip", "r"),
        store=MemoryCheckpointStore(),
    )  # fmt: skip
    first, second = sent.campaign_ids
    with pytest.raises(CampaignCancelError) as info:
        backend.cancel({"vendor": "velip", "campaign_ids": [first, "999999", second]}, timeout=BOUND)
    assert info.value.cancelled == [first, second] and list(info.value.failed) == ["999999"]
    assert "Campaign not found" in str(info.value)
    assert velip_active(campaigns) == {first: 0, second: 0}


# -- Octopush and Kaleyra: nothing can be stopped, and the log says what keeps running ----------------
@pytest.mark.parametrize("vendor", ["octopush", "kaleyra"])
def test_kill_on_a_vendor_that_cannot_cancel_warns_with_the_ids_that_keep_running(
    campaigns: Campaigns, vendor: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, kill_log: Any
) -> None:
    gate = Gate(index=2)
    gate.install(monkeypatch)
    op = operator(vendor, tmp_path)
    run = InThread(lambda: op.execute(context()))
    gate.wait()
    op.on_kill()
    warnings = records(kill_log, logging.WARNING, f"{vendor} cannot stop a campaign once accepted")
    assert len(warnings) == 1
    gate.open()
    with pytest.raises(CampaignKilledError) as info:
        run.result()
    running = info.value.running
    assert len(running) == 3 and info.value.stopped == []  # frames 0, 1 (at the kill) and 2 (in flight)
    warnings = records(kill_log, logging.WARNING, f"{vendor} cannot stop a campaign once accepted")
    assert len(warnings) == 2  # on_kill: the two accepted; execute: the one that was in flight
    assert all(ref in warnings[0] for ref in running[:2]) and running[2] in warnings[1]
    assert f"keep running on {vendor}: " + ", ".join(running) in str(info.value)
    assert called(campaigns, vendor, PEOPLE[:30]) == 30 and called(campaigns, vendor, PEOPLE[30:]) == 0


# -- the edges -------------------------------------------------------------------------------------
def test_kill_before_the_first_frame_sends_nothing(
    campaigns: Campaigns, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_keep = SendVoiceCampaignOperator._keep_engine

    def keep_engine(op: SendVoiceCampaignOperator, engine: DeliveryEngine[Any]) -> None:
        op.on_kill()  # killed while the recipients were read: the engine exists, nothing is sent yet
        original_keep(op, engine)

    monkeypatch.setattr(SendVoiceCampaignOperator, "_keep_engine", keep_engine)
    with pytest.raises(CampaignKilledError, match="the vendor had accepted nothing") as info:
        operator("octopush", tmp_path).execute(context())
    assert info.value.stopped == info.value.running == []
    assert len(campaigns.simulator.state.ledger) == 0


def test_kill_after_the_task_finished_stops_nothing(
    campaigns: Campaigns, simulator_clock: Any, tmp_path: Any, kill_log: Any
) -> None:
    op = operator("velip", tmp_path)
    result = op.execute(context())
    op.on_kill()  # a late SIGTERM: the task succeeded, its campaigns must keep running
    assert set(velip_active(campaigns).values()) == {1} and len(result["campaign_ids"]) == 5
    assert records(kill_log, logging.INFO, "nothing to stop")


def test_on_kill_before_execute_does_nothing(campaigns: Campaigns, tmp_path: Any, kill_log: Any) -> None:
    operator("velip", tmp_path).on_kill()
    assert records(kill_log, logging.INFO, "nothing to stop")


@pytest.mark.parametrize("value", [0, -1.0, True, "4"])
def test_cancel_timeout_is_checked_at_dag_parse(value: Any) -> None:
    with pytest.raises(ValidationError, match="cancel_timeout"):
        operator("velip", "unused", cancel_timeout=value)
