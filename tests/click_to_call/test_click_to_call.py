"""Click-to-call on Kaleyra and Velip against the simulator: operator, sensor, trigger."""

from __future__ import annotations

import asyncio
import time

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from helpers import first_event

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.click_to_call import ClickToCallState
from airflow_provider_voice.operators.click_to_call import ClickToCallOperator
from airflow_provider_voice.sensors.click_to_call import ClickToCallSensor
from airflow_provider_voice.triggers.base import deadline_after
from airflow_provider_voice.triggers.click_to_call import ClickToCallTrigger
from airflow_provider_voice.vendors.kaleyra.click_to_call import kaleyra_c2c_state
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord
from airflow_provider_voice.vendors.velip.click_to_call import velip_c2c_state

CALLBACK = "https://crm.example.com/c2c?agent={caller}&customer={receiver}&outcome={status}&talk={billsec}"


def test_kaleyra_click_to_call_waits_for_the_outcome(voice_connections, context):
    sim = voice_connections
    sim.state.configure(outcome_overrides={"9988776655": "answered", "9876543210": "answered"})
    op = ClickToCallOperator(
        task_id="c2c",
        conn_id="kaleyra_default",
        agent="9988776655",
        customer="+91 98765 43210",
        vendor_options={"retry": 1, "custom": "ticket-7", "callback": CALLBACK},
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        timeout=10,
    )
    result = op.execute(context)
    assert result["state"] == "connected" and result["call_id"].startswith("c2c_")
    assert result["agent_status"] == "ANSWER" and result["customer_status"] == "ANSWER"
    legs = sim.state.ledger.entries("kaleyra", "click2call")
    assert [(e.number, e.details["leg"]) for e in legs] == [("9988776655", "caller"), ("9876543210", "receiver")]
    (callback,) = sim.state.ledger.entries("kaleyra", "callback")
    assert callback.details["url"].startswith(
        "https://crm.example.com/c2c?agent=9988776655&customer=9876543210&outcome=ANSWER"
    )


def test_kaleyra_agent_unreached_and_require_connected(voice_connections, context):
    voice_connections.state.configure(outcome_overrides={"9988776655": "no_answer"})
    op = ClickToCallOperator(
        task_id="c2c", conn_id="kaleyra_default", agent="9988776655", customer="9876543210",
        wait_for_completion=True, require_connected=True, deferrable=False, poll_interval=0.05, timeout=10,
    )  # fmt: skip
    with pytest.raises(AirflowFailException, match="agent_unreached"):
        op.execute(context)


def test_kaleyra_deferred_wait_runs_through_the_trigger(voice_connections, context):
    voice_connections.state.configure(outcome_overrides={"9988776655": "answered", "9876543210": "busy"})
    op = ClickToCallOperator(
        task_id="c2c", conn_id="kaleyra_default", agent="9988776655", customer="9876543210",
        wait_for_completion=True, deferrable=True, poll_interval=0.05, timeout=10,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_voice.triggers.click_to_call.ClickToCallTrigger"
    assert all(isinstance(v, (str, int, float, type(None))) for v in kwargs.values())
    event = asyncio.run(first_event(ClickToCallTrigger(**kwargs)))
    assert event["status"] == "success" and event["state"] == "customer_unreached"
    result = op.execute_complete(context, event)
    assert result["customer_status"] == "BUSY" and result["call_id"] == kwargs["call_id"]


def test_trigger_times_out_after_one_last_poll(voice_connections):
    voice_connections.state.use_fake_clock()  # the simulated call never progresses
    from airflow_provider_voice.hooks.kaleyra import KaleyraHook

    hook = KaleyraHook("kaleyra_default")
    handle = hook.click_to_call().connect("9988776655", "9876543210")
    event = asyncio.run(
        first_event(
            ClickToCallTrigger(
                conn_id="kaleyra_default",
                call_id=handle.call_id,
                poll_interval=0.05,
                deadline=deadline_after(1),
            )
        )
    )  # first_event gives up (and fails the test) after 20 s: the trigger must end by itself at its deadline
    assert event["status"] == "timeout" and event["state"] == "pending"
    assert "polls" in event["message"] and str(int(time.time()))[:6] not in event["message"]  # no epoch in messages


def test_trigger_reports_errors(voice_connections):
    event = asyncio.run(
        first_event(ClickToCallTrigger(conn_id="kaleyra_wrong_key", call_id="c2c_x", deadline=deadline_after(5)))
    )
    assert event["status"] == "error" and "sim-kaleyra-key" not in event["message"]


def test_sensor_pokes_kaleyra_call_from_the_operator_xcom(voice_connections, context):
    from airflow_provider_voice.hooks.kaleyra import KaleyraHook

    handle = KaleyraHook("kaleyra_default").click_to_call().connect("9988776655", "9876543210")
    sensor = ClickToCallSensor(
        task_id="s",
        conn_id="kaleyra_default",
        call_id=handle.to_xcom(),
        poke_interval=0.05,
        timeout=10,
        deferrable=False,
    )
    result = sensor.execute(context)
    assert result["call_id"] == handle.call_id and result["state"] in {s.value for s in ClickToCallState} - {"pending"}


def test_velip_click_to_call_type_3(voice_connections, context):
    sim = voice_connections
    sim.state.configure(outcome_overrides={"5511987654321": "answered"})
    op = ClickToCallOperator(
        task_id="c2c", conn_id="velip_default", agent="+55 11 98765-4321", customer="+55 21 99876-5432",
        message="Connecting you to your customer", vendor_options={"ctid": "lead42"},
        wait_for_completion=True, deferrable=False, poll_interval=0.05, timeout=10,
    )  # fmt: skip
    result = op.execute(context)
    assert result["vendor"] == "velip" and result["call_id"].startswith("c_") and result["state"] == "connected"
    numbers = [e.number for e in sim.state.ledger.entries("velip", "call")]
    assert numbers == ["5511987654321", "5521998765432"]  # both legs, one call


def test_velip_needs_a_message_and_one_customer(voice_connections, context):
    with pytest.raises(ValidationError, match="message"):
        ClickToCallOperator(
            task_id="c", conn_id="velip_default", agent="5511987654321", customer="5521998765432"
        ).execute(context)
    with pytest.raises(ValidationError):
        ClickToCallOperator(
            task_id="c",
            conn_id="velip_default",
            agent="5511987654321",
            customer=["5521998765432", "5521998765433"],
            message="hi",
        ).execute(context)
    assert len(voice_connections.state.ledger) == 0


def test_bad_kaleyra_options_fail_before_sending(voice_connections, context):
    for options in ({"retry": 5}, {"callback": "https://x/?a={nope}"}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            ClickToCallOperator(
                task_id="c",
                conn_id="kaleyra_default",
                agent="9988776655",
                customer="9876543210",
                vendor_options=options,
            ).execute(context)
    with pytest.raises(ValidationError, match="message"):
        ClickToCallOperator(
            task_id="c", conn_id="kaleyra_default", agent="9988776655", customer="9876543210", message="hello"
        ).execute(context)
    assert len(voice_connections.state.ledger) == 0


def test_click_to_call_not_available_on_octopush(voice_connections, context):
    from airflow_provider_voice.errors import CapabilityNotSupportedError

    with pytest.raises(CapabilityNotSupportedError, match="kaleyra or velip"):
        ClickToCallOperator(
            task_id="c", conn_id="octopush_default", agent="+33612345678", customer="+33612345679"
        ).execute(context)


@pytest.mark.parametrize(
    ("status", "status2", "end", "state"),
    [
        ("INPROGRESS", None, None, "pending"),
        ("ANSWER", "ANSWER", "x", "connected"),
        ("ANSWER", None, None, "pending"),
        ("ANSWER", "NOANSWER", "x", "customer_unreached"),
        ("NOANSWER", "CANCEL", "x", "agent_unreached"),
        ("FAILED_LEG1", None, "x", "agent_unreached"),
        ("WEIRD", None, "x", "failed"),
    ],
)
def test_kaleyra_state_mapping(status, status2, end, state):
    assert kaleyra_c2c_state(KaleyraCallRecord(status=status, status2=status2, end_time=end)).value == state


def test_velip_state_mapping():
    assert velip_c2c_state("OK") is ClickToCallState.CONNECTED
    assert velip_c2c_state("NA") is ClickToCallState.AGENT_UNREACHED
    assert velip_c2c_state("BK") is ClickToCallState.FAILED
    assert velip_c2c_state("PD") is ClickToCallState.PENDING
