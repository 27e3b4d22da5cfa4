"""Campaigns over a real socket against the simulator: 2,000 recipients under injected faults, a task
killed mid-way then retried, a worker dying after the vendor accepted a frame, bad input refused
before any request. The simulator's ledger is the judge: nobody is called twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from airflow.sdk import BaseHook
from campaign_support import FAST_RETRY, SEND_ROUTES, VENDORS, Campaigns, as_ledger, context
from helpers import Crash, failing_midway, numbers

from airflow_provider_voice.capabilities.campaign import CampaignIncompleteError
from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import CheckpointKey, DeliveryEngine, Frame, FrameResult, MemoryCheckpointStore
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.campaign import CampaignSpec
from airflow_provider_voice.operators.campaign import CampaignInputError, SendVoiceCampaignOperator

ENGINE = {"reconcile_delay": 0.1, "backoff_initial": 0.05, "progress_interval": 60.0}
#: fault seed under which every fault kind (5xx, 429, timeout after accept, reset) fires on every vendor
FAULT_SEED = 5


def backend_for(vendor: str) -> Any:
    hook = BaseHook.get_hook(f"cmp_{vendor}", hook_params={"timeout": 0.5, "retry": FAST_RETRY})
    return hook.campaigns()


def send(vendor: str, people: list[str], *, key: CheckpointKey, store: Any, frame_size: int = 50, **kwargs: Any) -> Any:
    backend = backend_for(vendor)
    spec = CampaignSpec(name="faults", message="Hello from the test", vendor_options={"frame_size": frame_size})
    recipients = validate_recipients(people, backend, spec)
    return backend.send_campaign(spec, recipients, key=key, store=store, concurrency=8, engine_options=ENGINE, **kwargs)


@pytest.mark.parametrize("vendor", VENDORS)
def test_2000_recipients_under_faults_each_called_once_or_reported_in_doubt(campaigns: Campaigns, vendor: str):
    state = campaigns.simulator.state
    state.faults.set(
        vendor, SEND_ROUTES[vendor], error_rate=0.10, rate_limit_rate=0.05, timeout_after_accept_rate=0.02, reset_rate=0.01,
        retry_after=1, hang_seconds=1.0, seed=FAULT_SEED,
    )  # fmt: skip
    people = numbers(2000)
    key, store = CheckpointKey("faults", vendor, "run-1"), MemoryCheckpointStore()
    in_doubt: list[str] = []
    try:
        handle = send(vendor, people, key=key, store=store)
    except CampaignIncompleteError as exc:
        handle, in_doubt = exc.handle, exc.in_doubt
        assert not exc.not_sent
    injected = Counter(f.kind for f in state.faults.history)
    assert {"error", "rate_limit", "timeout_after_accept", "reset"} <= set(injected), injected

    calls = campaigns.calls_for(vendor, people)
    assert max(calls.values()) == 1, "somebody was called twice"
    doubt = set(in_doubt)
    assert all(calls[p] == 1 for p in people if p not in doubt), "a recipient outside the in-doubt list was not called"
    assert handle.accepted == len(people) - len(doubt) and handle.in_doubt == len(doubt)
    assert sum(calls.values()) == handle.accepted + sum(calls[p] for p in doubt)
    if vendor in ("velip", "octopush"):
        assert not doubt, "Velip (cp_ctid lookup) and Octopush (request_id) reconcile every in-doubt frame"
    else:  # Kaleyra cannot look a lost request up: its in-doubt frames are reported, whole frames of 50
        assert len(doubt) % 50 == 0

    # Airflow's retry of the same task instance: nothing accepted is sent again, in-doubt stays unresent
    before = Counter(campaigns.calls(vendor))
    state.faults.clear()
    try:
        again = send(vendor, people, key=key, store=store)
        assert not doubt and again.resumed == 2000 and again.accepted == 2000
    except CampaignIncompleteError as exc:
        assert set(exc.in_doubt) == doubt and exc.handle.resumed == 2000 - len(doubt)
    assert campaigns.calls(vendor) == before


def test_kaleyra_in_doubt_recipients_are_resent_only_on_explicit_opt_in(campaigns: Campaigns):
    state = campaigns.simulator.state
    state.faults.set("kaleyra", "voice.json", timeout_after_accept_rate=0.15, reset_rate=0.1, hang_seconds=1.0, seed=3)
    people = numbers(600)
    key, store = CheckpointKey("optin", "kaleyra", "run-1"), MemoryCheckpointStore()
    with pytest.raises(CampaignIncompleteError) as info:
        send("kaleyra", people, key=key, store=store)
    doubt = set(info.value.in_doubt)
    first = campaigns.calls_for("kaleyra", people)
    called_in_doubt = {p for p in doubt if first[p] == 1}
    assert doubt and called_in_doubt and called_in_doubt != doubt  # both kinds: accepted-then-timeout and reset
    state.faults.clear()
    handle = send("kaleyra", people, key=key, store=store, resend_in_doubt=True)
    assert handle.accepted == 600 and handle.in_doubt == 0
    calls = campaigns.calls_for("kaleyra", people)
    assert all(calls[p] >= 1 for p in people)
    assert {p for p in people if calls[p] == 2} == called_in_doubt  # the documented risk of the opt-in, nobody else


@pytest.mark.parametrize("vendor", VENDORS)
def test_task_killed_midway_then_retried_calls_nobody_twice(campaigns: Campaigns, vendor: str, tmp_path):
    people = numbers(1000)

    def operator(recipients: Any) -> SendVoiceCampaignOperator:
        return SendVoiceCampaignOperator(
            task_id="send", conn_id=f"cmp_{vendor}", recipients=recipients, campaign_name="retry test", message="Hello",
            vendor_options={"frame_size": 100}, checkpoint_path=str(tmp_path / "checkpoints"), concurrency=2,
            request_timeout=2.0, retry_policy=FAST_RETRY, engine_options=ENGINE,
        )  # fmt: skip

    with pytest.raises(OSError, match="lost its recipients"), failing_midway(limit=450):
        operator(people).execute(context())
    first = campaigns.calls_for(vendor, people)
    assert 0 < sum(first.values()) < 1000 and max(first.values()) == 1
    assert all(first[p] == 1 for p in people[:400])  # the frames read before the failure were sent and recorded

    result = operator(people).execute(context())  # Airflow's retry: a new operator object, same task instance
    calls = campaigns.calls_for(vendor, people)
    assert all(n == 1 for n in calls.values())
    assert result["accepted"] == 1000 and result["resumed"] == sum(first.values()) and result["in_doubt"] == 0
    assert result["vendor"] == vendor and "recipients" not in result


@pytest.mark.parametrize("vendor", VENDORS)
def test_worker_dies_after_the_vendor_accepted_a_frame(campaigns: Campaigns, vendor: str, tmp_path, monkeypatch):
    people = numbers(600)
    crashed: list[list[str]] = []

    def keep_engine(self: SendVoiceCampaignOperator, engine: DeliveryEngine[Any]) -> None:
        original = engine.channel.send

        async def send_then_die(frame: Frame[Any]) -> FrameResult:
            result = await original(frame)
            if frame.index == 3 and not crashed:
                crashed.append([str(r.number) for r in frame.items])
                raise Crash()
            return result

        engine.channel.send = send_then_die  # type: ignore[method-assign]

    def operator() -> SendVoiceCampaignOperator:
        return SendVoiceCampaignOperator(
            task_id="send", conn_id=f"cmp_{vendor}", recipients=people, campaign_name="crash test", message="Hello",
            vendor_options={"frame_size": 100}, checkpoint_path=str(tmp_path), concurrency=2, request_timeout=2.0,
            retry_policy=FAST_RETRY, engine_options=ENGINE,
        )  # fmt: skip

    with monkeypatch.context() as patch:
        patch.setattr(SendVoiceCampaignOperator, "_keep_engine", keep_engine)
        with pytest.raises(Crash):
            operator().execute(context())
    lost = crashed[0]
    assert all(campaigns.calls_for(vendor, lost)[p] == 1 for p in lost)  # the vendor has them; the checkpoint does not

    doubt: set[str] = set()
    if vendor in ("velip", "octopush"):
        result = operator().execute(context())
        assert result["accepted"] == 600 and result["in_doubt"] == 0
    else:
        with pytest.raises(CampaignIncompleteError) as info:
            operator().execute(context())
        doubt = set(info.value.in_doubt)
        # the frame that died, plus any frame that was in flight beside it (concurrency 2): reported, not resent
        assert set(lost) <= doubt and len(doubt) in (100, 200)
        assert "in doubt" in str(info.value)
    calls = campaigns.calls_for(vendor, people)
    assert max(calls.values()) == 1, "somebody was called twice"
    assert all(calls[p] == 1 for p in people if p not in doubt)


BAD_INPUT = [
    ("velip", {"recipients": ["+33612300000", "12", "+33 6 12 30 00 02"]}, "recipients[row 2]", "not a phone number"),
    ("octopush", {"recipients": ["+33612300000", "+999 123"]}, "recipients[row 2]", "country code"),
    ("kaleyra", {"recipients": ["+33612300000", "hello"]}, "recipients[row 2]", "not a phone number"),
    ("octopush", {"message": "x" * 1225}, "message", "1 to 1224 characters (got 1225)"),
    ("octopush", {"vendor_options": {"sender": "ab"}}, "vendor_options.sender", "3 to 11 letters or digits"),
    ("octopush", {"language": "xx-XX"}, "language", "one of en-US"),
    ("octopush", {"vendor_options": {"voice_language": "tlh-KL"}}, "vendor_options.voice_language", "one of en-US"),
    ("kaleyra", {"schedule": "+5min"}, "schedule", "at least 16 minutes ahead"),
    ("velip", {"recipients": []}, "recipients", "no valid recipient"),
    ("octopush", {"recipients": []}, "recipients", "no valid recipient"),
    ("kaleyra", {"recipients": []}, "recipients", "no valid recipient"),
    ("velip", {"campaign_name": "n" * 51}, "name", "at most 50 characters"),
    ("velip", {"vendor_options": {"frame_sise": 10}}, "vendor_options.frame_sise", "unknown velip option"),
    ("kaleyra", {"vendor_options": {"retries": 3}}, "vendor_options.retries", "less than or equal to 2"),
    ("octopush", {"audio": "123.sound", "message": None}, "audio", "text only"),
]


@pytest.mark.parametrize(("vendor", "change", "field", "rule"), BAD_INPUT, ids=[f"{v}-{f}" for v, _, f, _ in BAD_INPUT])
def test_bad_input_fails_before_any_request(
    campaigns: Campaigns, vendor: str, change: dict[str, Any], field: str, rule: str, tmp_path
):
    import datetime as dt

    counter = campaigns.simulator.state.faults.set(vendor, "*")  # counts every request to the vendor
    if change.get("schedule") == "+5min":
        change = {**change, "schedule": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).isoformat()}
    args: dict[str, Any] = {
        "task_id": "send", "conn_id": f"cmp_{vendor}", "recipients": numbers(3), "campaign_name": "bad", "message": "Hello",
        "checkpoint_path": str(tmp_path), **change,
    }  # fmt: skip
    with pytest.raises(ValidationError) as info:
        SendVoiceCampaignOperator(**args).execute(context())
    error = info.value
    assert isinstance(error, CampaignInputError)  # also an AirflowFailException: bad input is not retried
    assert error.field == field and rule in error.rule, (error.field, error.rule)
    assert counter.requests == 0 and len(campaigns.simulator.state.ledger) == 0


def test_suppression_and_skip_invalid_are_counted(campaigns: Campaigns, tmp_path):
    people = numbers(30)
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("\n".join(people[:5]) + "\n")
    result = SendVoiceCampaignOperator(
        task_id="send", conn_id="cmp_octopush", recipients=[*people, "bad", people[0]], campaign_name="s", message="Hello",
        suppression=str(dnc), skip_invalid=True, checkpoint_path=str(tmp_path / "cp"),
    ).execute(context())  # fmt: skip
    assert (result["accepted"], result["suppressed"], result["invalid"], result["duplicates"]) == (25, 5, 1, 1)
    assert result["cost"] == pytest.approx(25 * 0.05) and result["campaign_ids"][0].startswith("voice_")
    calls = campaigns.calls("octopush")
    assert sum(calls.values()) == 25 and all(as_ledger("octopush", p) not in calls for p in people[:5])


def test_wrong_key_stops_at_the_first_frame_with_the_vendor_reason(campaigns: Campaigns, tmp_path):
    with pytest.raises(CampaignIncompleteError) as info:
        SendVoiceCampaignOperator(
            task_id="send", conn_id="cmp_velip_bad", recipients=numbers(10), campaign_name="k", message="Hello",
            checkpoint_path=str(tmp_path),
        ).execute(context())  # fmt: skip
    assert "Session ID is not valid" in str(info.value) and len(info.value.not_sent) == 10
    assert "wrong-token" not in str(info.value)
    assert len(campaigns.simulator.state.ledger) == 0
