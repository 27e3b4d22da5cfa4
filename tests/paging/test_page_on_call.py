"""PageOnCallOperator over the Velip simulator: who acknowledges, the SMS fallback, deferral, retries, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from helpers import first_event, task_context

from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError
from airflow_provider_voice.operators.paging import PageOnCallOperator
from airflow_provider_voice.triggers.base import deadline_after
from airflow_provider_voice.triggers.paging import PagingTrigger

ALICE, BOB, CAROL = "+5511987650001", "+5511987650002", "+5511987650003"
PEOPLE = [{"number": ALICE, "name": "Alice"}, {"number": BOB, "name": "Bob"}, CAROL]
context = functools.partial(task_context, dag_id="paging", task_id="page")


def digits(number: str) -> str:
    return number.lstrip("+")


def called(sim: Any) -> list[str]:
    return [e.number for e in sim.state.ledger.entries("velip", "call")]


def texted(sim: Any) -> list[str]:
    return [e.number for e in sim.state.ledger.entries("velip", "sms")]


def no_number_in(value: Any) -> None:
    text = json.dumps(value)
    for number in (ALICE, BOB, CAROL):
        assert digits(number)[4:] not in text, f"a phone number in clear: {text}"


def operator(tmp_path: Any, **kwargs: Any) -> PageOnCallOperator:
    options: dict[str, Any] = {
        "task_id": "page",
        "conn_id": "velip_default",
        "people": PEOPLE,
        "message": "Database down. Press 1 to take the incident.",
        "attempt_timeout": 10,
        "poll_interval": 0.05,
        "checkpoint_path": str(tmp_path / "checkpoints"),
        "deferrable": False,
    }
    return PageOnCallOperator(**{**options, **kwargs})


@pytest.fixture
def sim(voice_connections: Any) -> Any:
    voice_connections.state.configure(velip_httpdup_seconds=0, call_seconds=0.05)
    return voice_connections


def test_first_does_not_answer_second_acknowledges_third_is_never_called(sim, tmp_path):
    sim.state.configure(velip_dtmf_overrides={digits(ALICE): "no_answer", digits(BOB): "confirm"})
    before = dt.datetime.now(dt.timezone.utc)
    result = operator(tmp_path).execute(context())
    assert result["acknowledged"] is True
    assert result["acknowledged_by"] == {"index": 1, "name": "Bob", "number": "+55*********02"}
    assert dt.datetime.fromisoformat(result["acknowledged_at"]) >= before.replace(microsecond=0)
    assert [(a["index"], a["outcome"], a["vendor_status"]) for a in result["attempts"]] == [
        (0, "no_answer", "NA"),
        (1, "acknowledged", "OK"),
    ]
    assert (
        result["attempts"][1]["pressed"] == "1" and result["acknowledged_call_id"] == result["attempts"][1]["call_id"]
    )
    assert result["sms_fallback"] == {"sent": False, "reason": "someone acknowledged"}
    assert called(sim) == [digits(ALICE), digits(BOB)]  # nobody after Bob
    assert all(e.details["type"] == 2 and not e.details.get("transfer_to") for e in sim.state.ledger.entries("velip"))
    no_number_in(result)


def test_nobody_acknowledges_everyone_is_texted_once_and_a_retry_repeats_nothing(sim, tmp_path):
    sim.state.configure(
        velip_dtmf_overrides={digits(ALICE): "no_key", digits(BOB): "busy", digits(CAROL): "9"},
    )
    page = operator(tmp_path, sms_conn_id="velip_default", sms_text="Incident: nobody took it yet (${number})")
    result = page.execute(context())
    assert result["acknowledged"] is False and result["acknowledged_by"] is None
    assert [a["outcome"] for a in result["attempts"]] == ["not_acknowledged", "no_answer", "not_acknowledged"]
    fallback = result["sms_fallback"]
    assert (fallback["sent"], fallback["accepted"], fallback["recipients"]) == (True, 3, 3)
    assert len(fallback["message_ids"]) == 3
    assert sorted(texted(sim)) == sorted(digits(n) for n in (ALICE, BOB, CAROL))
    messages = [e.details["message"] for e in sim.state.ledger.entries("velip", "sms")]
    assert f"Incident: nobody took it yet ({ALICE})" in messages

    again = operator(tmp_path, sms_conn_id="velip_default", sms_text="Incident: nobody took it yet (${number})")
    retried = again.execute(context(try_number=2))
    assert retried["attempts"] == result["attempts"] and retried["sms_fallback"] == fallback
    assert called(sim) == [digits(n) for n in (ALICE, BOB, CAROL)] and len(texted(sim)) == 3
    no_number_in(retried)


def test_rounds_and_require_acknowledgement(sim, tmp_path):
    sim.state.configure(velip_dtmf_overrides={digits(ALICE): "no_answer", digits(BOB): "no_answer"})
    page = operator(tmp_path, people=[ALICE, BOB], rounds=2, require_acknowledgement=True)
    with pytest.raises(AirflowFailException, match="nobody acknowledged"):
        page.execute(context())
    assert called(sim) == [digits(ALICE), digits(BOB)] * 2


def run_trigger(deferred: TaskDeferred) -> dict[str, Any]:
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "airflow_provider_voice.triggers.paging.PagingTrigger"
    assert all(isinstance(v, (str, int, float, type(None))) for v in kwargs.values()), kwargs
    assert deferred.method_name == "execute_complete" and not deferred.kwargs
    event = asyncio.run(first_event(PagingTrigger(**kwargs)))
    no_number_in(event)
    return event


def test_deferred_escalation_step_by_step(sim, tmp_path):
    sim.state.configure(velip_dtmf_overrides={digits(ALICE): "no_answer", digits(BOB): "confirm"})
    page = operator(tmp_path, deferrable=True)
    with pytest.raises(TaskDeferred) as first:
        page.execute(context())
    assert called(sim) == [digits(ALICE)]  # one call, then the worker is free
    event = run_trigger(first.value)
    assert (event["status"], event["outcome"], event["attempt"]) == ("success", "no_answer", 1)
    with pytest.raises(TaskDeferred) as second:
        page.execute_complete(context(), event)  # as dag.test() resumes: the event only
    assert called(sim) == [digits(ALICE), digits(BOB)]
    event = run_trigger(second.value)
    assert (event["outcome"], event["pressed"], event["attempt"]) == ("acknowledged", "1", 2)
    result = page.execute_complete(context(), event)
    assert result["acknowledged_by"]["name"] == "Bob" and len(result["attempts"]) == 2
    assert called(sim) == [digits(ALICE), digits(BOB)]
    page.execute_complete(context(), event)  # a repeated event settles nothing twice
    assert called(sim) == [digits(ALICE), digits(BOB)]


def test_a_retry_mid_escalation_calls_nobody_twice(sim, tmp_path):
    sim.state.configure(velip_dtmf_overrides={digits(ALICE): "no_answer", digits(BOB): "confirm"})
    page = operator(tmp_path, deferrable=True)
    with pytest.raises(TaskDeferred) as first:
        page.execute(context())
    with pytest.raises(TaskDeferred) as second:
        page.execute_complete(context(), run_trigger(first.value))
    bob_call = second.value.trigger.call_id
    # the task fails while Bob's call is out (triggerer lost, deferral timeout...): Airflow retries it
    retry = operator(tmp_path, deferrable=True)
    with pytest.raises(TaskDeferred) as resumed:
        retry.execute(context(try_number=2))
    assert resumed.value.trigger.call_id == bob_call and resumed.value.trigger.attempt == 2  # waits for Bob's call
    assert called(sim) == [digits(ALICE), digits(BOB)]
    result = retry.execute_complete(context(try_number=2), run_trigger(resumed.value))
    assert result["acknowledged_by"]["index"] == 1
    assert called(sim) == [digits(ALICE), digits(BOB)]  # Alice and Bob once each, Carol never


def test_a_call_whose_answer_is_lost_is_found_by_its_ctid_not_placed_again(sim, tmp_path):
    sim.state.configure(velip_dtmf_overrides={digits(ALICE): "confirm"})
    sim.state.faults.set("velip", "MakeTTSCall", malformed_rate=1.0, times=1)  # placed, answer truncated
    result = operator(tmp_path).execute(context())
    assert result["acknowledged_by"]["index"] == 0 and result["attempts"][0]["call_id"]
    assert called(sim) == [digits(ALICE)]
    ctid = sim.state.ledger.entries("velip", "call")[0].details["ctid"]
    assert len(ctid) == 15 and ctid.isalnum()


def test_an_unanswered_call_times_out_and_the_next_person_is_called(sim, simulator_clock, tmp_path):
    # the simulated clock stands still: no call ever ends; each is given up after attempt_timeout
    page = operator(tmp_path, people=[ALICE, BOB], attempt_timeout=0.3, sms_conn_id="velip_default")
    result = page.execute(context())
    assert [(a["outcome"], a["vendor_status"]) for a in result["attempts"]] == [("timeout", "PD"), ("timeout", "PD")]
    assert called(sim) == [digits(ALICE), digits(BOB)] and sorted(texted(sim)) == [digits(ALICE), digits(BOB)]


def test_a_refused_call_moves_on(sim, tmp_path):
    sim.state.configure(velip_dtmf_overrides={digits(BOB): "confirm"})
    sim.state.faults.set("velip", "MakeTTSCall", error_rate=1.0, error_status=400, times=1)
    result = operator(tmp_path).execute(context())
    assert [a["outcome"] for a in result["attempts"]] == ["rejected", "acknowledged"]
    assert result["attempts"][0]["vendor_code"] == "400" and called(sim) == [digits(BOB)]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"people": []}, "people"),
        ({"people": [ALICE, "12"]}, "people[1]"),
        ({"people": [{"name": "Bob"}]}, "people[0].number"),
        ({"people": [ALICE, "+55 11 98765-0001"]}, "people[1]"),
        ({"message": "  "}, "message"),
        ({"vendor_options": {"dest2": BOB}}, "vendor_options"),
        ({"sms_text": "hello"}, "sms_text"),
        ({"sms_conn_id": "velip_default", "sms_text": "hi ${team}"}, "text"),
    ],
)
def test_bad_input_fails_before_any_request(sim, tmp_path, changes, field):
    with pytest.raises(ValidationError) as raised:
        operator(tmp_path, **changes).execute(context())
    assert isinstance(raised.value, AirflowFailException) and raised.value.field == field
    assert digits(ALICE) not in str(raised.value)  # a repeated number is shown masked
    assert len(sim.state.ledger) == 0


def test_bad_arguments_fail_at_parse_time():
    for changes in ({"attempt_timeout": 0}, {"rounds": 0}, {"poll_interval": "5"}, {"deferrable": "yes"}):
        with pytest.raises(ValidationError):
            PageOnCallOperator(task_id="p", conn_id="velip_default", people=[ALICE], message="m", **changes)


def test_kaleyra_cannot_page(sim, tmp_path):
    with pytest.raises(CapabilityNotSupportedError, match="velip") as raised:
        operator(tmp_path, conn_id="kaleyra_default").execute(context())
    assert "Kaleyra" in str(raised.value) and isinstance(raised.value, AirflowFailException)
    assert len(sim.state.ledger) == 0


def test_trigger_times_out_after_one_last_poll(sim, simulator_clock):
    from airflow_provider_voice.hooks.velip import VelipHook
    from airflow_provider_voice.models.phone import PhoneNumber
    from airflow_provider_voice.triggers.paging import paging_capability

    handle = paging_capability(VelipHook("velip_default")).page(
        PhoneNumber.parse(ALICE), "press 1", key="page1", options={}
    )
    trigger = PagingTrigger(
        conn_id="velip_default", call_id=handle.call_id, key="page1", attempt=1, poll_interval=0.05,
        deadline=deadline_after(0.3),
    )  # fmt: skip
    event = asyncio.run(first_event(trigger))
    assert (event["status"], event["outcome"], event["vendor_status"]) == ("timeout", "pending", "PD")
    no_number_in(event)
