"""SendVoiceCallOperator and the single-call capability against the simulator: Velip and Kaleyra,
blocking and deferred waits, one call across task retries, bad input refused before any request."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from helpers import first_event, task_context

from airflow_provider_voice.errors import CapabilityNotSupportedError, MalformedResponseError, ValidationError
from airflow_provider_voice.hooks.kaleyra import KaleyraHook
from airflow_provider_voice.hooks.octopush import OctopushHook
from airflow_provider_voice.hooks.televoips import TeleVoipsHook
from airflow_provider_voice.hooks.velip import VelipHook
from airflow_provider_voice.operators.voice_call import SendVoiceCallOperator
from airflow_provider_voice.triggers.base import deadline_after
from airflow_provider_voice.triggers.voice_call import VoiceCallTrigger

VELIP_NUMBER = "+55 11 98765-4321"
VELIP_DIGITS = "5511987654321"
KALEYRA_NUMBER = "9876543210"

ctx = functools.partial(task_context, dag_id="voice_call_dag", task_id="call", run_id="run-1")


def call_op(tmp_path: Any, **kwargs: Any) -> SendVoiceCallOperator:
    defaults: dict[str, Any] = {
        "task_id": "call",
        "conn_id": "velip_default",
        "number": VELIP_NUMBER,
        "message": "The nightly load failed. Please check the warehouse.",
        "checkpoint_path": str(tmp_path / "checkpoints"),
        "poll_interval": 0.05,
        "timeout": 20,
        "deferrable": False,
    }
    return SendVoiceCallOperator(**{**defaults, **kwargs})


def calls(sim: Any, vendor: str) -> list[Any]:
    return sim.state.ledger.entries(vendor, "call")


def test_velip_call_waits_for_the_outcome_and_masks_the_number(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.configure(outcome_overrides={VELIP_DIGITS: "answered"})
    result = call_op(tmp_path, wait_for_outcome=True, vendor_options={"voice": "pt-BR"}).execute(ctx())
    assert result["vendor"] == "velip" and result["call_id"].startswith("c_")
    assert result["outcome"] == "answered" and result["vendor_status"] == "OK" and result["duration"] > 0
    assert result["number"] == "+55*********21" and VELIP_DIGITS not in json.dumps(result)
    (entry,) = calls(sim, "velip")
    assert entry.number == VELIP_DIGITS and entry.details["type"] == 0 and entry.details["voice"] == "pt-BR"
    assert entry.details["text"] == "The nightly load failed. Please check the warehouse."
    assert entry.details["ctid"] == result["ctid"] and len(result["ctid"]) == 15


def test_kaleyra_call_deferred_through_the_trigger(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.configure(outcome_overrides={KALEYRA_NUMBER: "no_answer"})
    op = call_op(tmp_path, conn_id="kaleyra_default", number=KALEYRA_NUMBER, wait_for_outcome=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx())
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_voice.triggers.voice_call.VoiceCallTrigger"
    assert all(isinstance(v, (str, int, float, type(None))) for v in kwargs.values())
    assert KALEYRA_NUMBER not in json.dumps(kwargs) and kwargs["number"] == "+91********10"
    event = asyncio.run(first_event(VoiceCallTrigger(**kwargs)))
    assert event["status"] == "success" and event["outcome"] == "no_answer" and event["vendor_status"] == "NOANSWER"
    result = op.execute_complete(ctx(), event)
    assert result["outcome"] == "no_answer" and result["call_id"] == kwargs["call_id"]
    assert result["number"] == "+91********10" and result["group_id"]
    (entry,) = calls(sim, "kaleyra")
    assert entry.details["method"] == "voice.call" and entry.details["message"].startswith("The nightly load")
    assert entry.details["custom"]  # the call's key, for Kaleyra's reports


def test_require_answered_fails_without_retry(voice_connections, tmp_path):
    voice_connections.state.configure(outcome_overrides={VELIP_DIGITS: "no_answer"})
    with pytest.raises(AirflowFailException, match="no_answer"):
        call_op(tmp_path, wait_for_outcome=True, require_answered=True).execute(ctx())


def test_a_retry_follows_the_call_instead_of_calling_again(voice_connections, tmp_path):
    voice_connections.state.configure(velip_httpdup_seconds=0)  # two runs call one number within 10 s
    first = call_op(tmp_path).execute(ctx(try_number=1))
    again = call_op(tmp_path, wait_for_outcome=True).execute(ctx(try_number=2))
    assert again["call_id"] == first["call_id"] and again["outcome"] != "pending"
    assert len(calls(voice_connections, "velip")) == 1
    other_run = call_op(tmp_path).execute(ctx(run_id="run-2"))  # another task instance calls
    assert other_run["call_id"] != first["call_id"]


def test_velip_call_whose_answer_was_lost_is_found_by_its_ctid(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.faults.set("velip", "MakeTTSCall", malformed_rate=1.0, times=1)  # placed, answer cut in half
    with pytest.raises(MalformedResponseError):
        call_op(tmp_path).execute(ctx(try_number=1))
    result = call_op(tmp_path).execute(ctx(try_number=2))  # Airflow's retry: looks the call up, no second call
    (entry,) = calls(sim, "velip")
    assert result["call_id"] == entry.ref


def test_kaleyra_call_in_doubt_is_not_placed_again(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.faults.set("kaleyra", "voice.call", malformed_rate=1.0, times=1)
    op = functools.partial(call_op, tmp_path, conn_id="kaleyra_default", number=KALEYRA_NUMBER)
    with pytest.raises(MalformedResponseError):
        op().execute(ctx(try_number=1))
    with pytest.raises(AirflowFailException, match="not called again") as info:
        op().execute(ctx(try_number=2))
    assert KALEYRA_NUMBER not in str(info.value)
    assert len(calls(sim, "kaleyra")) == 1
    resent = op(resend_in_doubt=True).execute(ctx(try_number=3))  # the author's explicit choice
    assert resent["call_id"] and len(calls(sim, "kaleyra")) == 2


def test_velip_refusing_a_repeated_ctid_means_already_called(voice_connections, tmp_path):
    """A checkpoint lost between tries: Velip's unique ctid (code 220) still prevents a second call."""
    sim = voice_connections
    first = call_op(tmp_path, checkpoint_path=str(tmp_path / "a")).execute(ctx())
    again = call_op(tmp_path, checkpoint_path=str(tmp_path / "a-copy")).execute(ctx())
    # another checkpoint folder: the same frame key, so the same ctid; Velip refuses it and the call is found
    assert again["call_id"] == first["call_id"] and len(calls(sim, "velip")) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"number": "+55 11 1"}, "number"),
        ({"number": ["+5511987654321", "+5521998765432"]}, "number"),
        ({"number": ""}, "number"),
        ({"message": "   "}, "message"),
        ({"message": None}, "message"),
        ({"vendor_options": {"dest2": "5521998765432"}}, "vendor_options"),
        ({"conn_id": "kaleyra_default", "number": KALEYRA_NUMBER, "vendor_options": {"retries": 5}}, "retries"),
        (
            {"conn_id": "kaleyra_default", "number": KALEYRA_NUMBER, "vendor_options": '{"retries": "two"}'},
            "vendor_options",
        ),
    ],
)
def test_bad_input_fails_before_any_request(voice_connections, tmp_path, kwargs, field):
    sim = voice_connections
    counter = sim.state.faults.set("*", "*")  # counts every request
    with pytest.raises(ValidationError) as info:
        call_op(tmp_path, **kwargs).execute(ctx())
    assert isinstance(info.value, AirflowFailException)  # not retried
    assert info.value.field == field
    assert counter.requests == 0 and not sim.state.ledger.entries()
    assert "98765432" not in str(info.value) and "5511987654321" not in str(info.value)  # numbers masked


def test_a_vendor_without_single_calls_names_the_ones_that_have_it(voice_connections, tmp_path):
    with pytest.raises(CapabilityNotSupportedError) as info:
        call_op(tmp_path, conn_id="televoips_default").execute(ctx())
    assert isinstance(info.value, AirflowFailException) and str(info.value).endswith("kaleyra or velip")
    for hook in (TeleVoipsHook("televoips_default"), OctopushHook("octopush_default")):
        with pytest.raises(CapabilityNotSupportedError):
            hook.voice_call()
    assert VelipHook("velip_default").voice_call().vendor == "velip"
    assert KaleyraHook("kaleyra_default").voice_call().vendor == "kaleyra"
    assert not voice_connections.state.ledger.entries()


def test_arguments_are_checked_when_the_dag_is_parsed():
    with pytest.raises(ValidationError, match="poll_interval"):
        SendVoiceCallOperator(task_id="c", conn_id="velip_default", number="1", message="x", poll_interval=0)


def test_trigger_reports_a_refused_key_and_times_out_after_one_last_poll(voice_connections):
    event = asyncio.run(
        first_event(VoiceCallTrigger(conn_id="kaleyra_wrong_key", call_id="1-1", deadline=deadline_after(5)))
    )
    assert event["status"] == "error" and event["error_kind"] == "auth" and "sim-kaleyra-key" not in event["message"]
    voice_connections.state.use_fake_clock()  # the call never ends
    handle = VelipHook("velip_default").voice_call().place(VELIP_NUMBER, "Hello", key="trigger-timeout")
    event = asyncio.run(
        first_event(
            VoiceCallTrigger(
                conn_id="velip_default", call_id=handle.call_id, poll_interval=0.05, deadline=deadline_after(1)
            )
        )
    )
    assert event["status"] == "timeout" and event["outcome"] == "pending" and "polls" in event["message"]
