"""Waiting for a campaign: the trigger (serialize round-trip, success, timeout, error), the sensor in
poke and deferrable modes, the operator's wait_for_completion, and the example DAG via dag.test()."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
from airflow.sdk.serde import deserialize, serialize
from campaign_support import FAST_RETRY, Campaigns, as_ledger, context
from helpers import first_event, numbers, soon

from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import CheckpointKey, MemoryCheckpointStore
from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignSpec
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.sensors.campaign import CampaignCompletionSensor, parse_handle
from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger

EPOCH = re.compile(r"\b1[6-9]\d{8}(\.\d+)?\b")


def sent(vendor: str, people: list[str], **options: Any) -> dict[str, Any]:
    hook = BaseHook.get_hook(f"cmp_{vendor}", hook_params={"timeout": 2.0, "retry": FAST_RETRY})
    backend = hook.campaigns()
    spec = CampaignSpec(name="wait", message="Hello", vendor_options=options)
    handle = backend.send_campaign(
        spec,
        validate_recipients(people, backend, spec),
        key=CheckpointKey("w", vendor, str(time.time())),
        store=MemoryCheckpointStore(),
    )
    return handle.model_dump(mode="json")


def test_trigger_serializes_to_json_primitives_and_round_trips(campaigns: Campaigns):
    handle = CampaignHandle(
        vendor="velip", conn_id="cmp_velip", name="x", campaign_ids=["5001"], accepted=3
    ).model_dump(mode="json")
    trigger = CampaignCompletionTrigger(
        conn_id="cmp_velip", handle=handle, poll_interval=5, deadline=soon(60), target_answered_share=0.5,
        hook_params={"timeout": 1.5, "retry": FAST_RETRY},
    )  # fmt: skip
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_voice.triggers.campaign.CampaignCompletionTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs  # JSON primitives only (no pickles, no objects)
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["hook_params"]["retry"]["max_attempts"] == FAST_RETRY.max_attempts


@pytest.mark.parametrize("vendor", ["velip", "kaleyra"])
def test_trigger_runs_to_success_when_every_call_ended(campaigns: Campaigns, simulator_clock, vendor: str):
    handle = sent(vendor, numbers(300), frame_size=100)
    polls = campaigns.simulator.state.faults.set(
        vendor, "GetCampaignsList" if vendor == "velip" else "voice.groupstatus"
    )
    trigger = CampaignCompletionTrigger(conn_id=f"cmp_{vendor}", handle=handle, poll_interval=0.05, deadline=soon(30))

    async def finish_calls_later() -> None:
        while polls.requests < 2:  # the trigger has seen the campaign unfinished
            await asyncio.sleep(0.02)
        simulator_clock.advance(3600)

    event = asyncio.run(first_event(trigger, during=finish_calls_later))
    assert event["status"] == "success" and event["campaign_ids"] == handle["campaign_ids"]
    status = event["campaign_status"]
    assert status["finished"] and status["total"] == status["done"] == 300 and status["counts"]["pending"] == 0
    assert sum(status["counts"].values()) == 300 and status["counts"]["answered"] > 0
    assert event["handle"]["accepted"] == 300 and not EPOCH.search(event["message"])


def test_trigger_times_out_after_one_last_poll(campaigns: Campaigns, simulator_clock):
    handle = sent("velip", numbers(100))
    polls = campaigns.simulator.state.faults.set("velip", "GetCampaignsList")
    limit = soon(0.4)
    trigger = CampaignCompletionTrigger(conn_id="cmp_velip", handle=handle, poll_interval=10.0, deadline=limit)
    started = time.monotonic()
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "timeout" and time.monotonic() - started < 5
    assert polls.requests == 2  # the first poll, then one last poll at the deadline (not after a 10 s sleep)
    assert event["campaign_status"]["state"] in ("scheduled", "running") and not event["campaign_status"]["finished"]
    assert limit in event["message"] and not EPOCH.search(event["message"])


def test_trigger_reports_auth_errors_as_error_events(campaigns: Campaigns):
    handle = CampaignHandle(vendor="velip", campaign_ids=["5001"]).model_dump(mode="json")
    trigger = CampaignCompletionTrigger(conn_id="cmp_velip_bad", handle=handle, poll_interval=0.05, deadline=soon(10))
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "error" and "Session ID is not valid" in event["message"]
    assert "wrong-token" not in json.dumps(event)


def test_octopush_completion_is_estimated_from_estimated_duration(campaigns: Campaigns):
    handle = sent("octopush", numbers(40))
    assert handle["estimated_duration"] >= 1
    start = datetime.fromisoformat(handle["started_at"]).timestamp()
    trigger = CampaignCompletionTrigger(conn_id="cmp_octopush", handle=handle, poll_interval=0.2, deadline=soon(30))
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "success" and time.time() >= start + handle["estimated_duration"]
    status = event["campaign_status"]
    assert (
        status["estimated"]
        and status["finished"]
        and status["total"] == 40
        and "no status endpoint" in status["message"]
    )


def test_sensor_poke_and_reschedule_modes(campaigns: Campaigns, simulator_clock):
    handle = sent("velip", numbers(100))
    sensor = CampaignCompletionSensor(
        task_id="wait", handle=json.dumps(handle), poke_interval=0.01, timeout=5, mode="reschedule"
    )
    assert parse_handle(repr(handle)).campaign_ids == handle["campaign_ids"]  # a rendered Python repr works too
    assert sensor.poke(context()).is_done is False
    simulator_clock.advance(3600)
    done = sensor.poke(context())
    assert done.is_done and done.xcom_value["finished"] and done.xcom_value["counts"]["pending"] == 0


def test_sensor_defers_with_an_absolute_deadline_and_resumes(campaigns: Campaigns, simulator_clock):
    handle = sent("kaleyra", numbers(50))
    sensor = CampaignCompletionSensor(task_id="wait", handle=handle, deferrable=True, poke_interval=3, timeout=600)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context())
    deferred = info.value
    assert isinstance(deferred.trigger, CampaignCompletionTrigger) and deferred.method_name == "execute_complete"
    until = datetime.fromisoformat(deferred.trigger.deadline)
    assert abs((until - datetime.now(timezone.utc)).total_seconds() - 600) < 5
    assert deferred.trigger.conn_id == "cmp_kaleyra" and deferred.trigger.poll_interval == 3
    status = {"finished": True, "state": "finished"}
    assert (
        sensor.execute_complete(context(), {"status": "success", "message": "ok", "campaign_status": status}) == status
    )
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(context(), {"status": "timeout", "message": "late", "campaign_status": None})
    with pytest.raises(VoiceProviderError, match="boom"):
        sensor.execute_complete(context(), {"status": "error", "message": "boom"})
    simulator_clock.advance(3600)  # already finished: the deferrable sensor returns without deferring
    assert sensor.execute(context())["finished"] is True


def test_sensor_refuses_an_answered_share_target_on_octopush(campaigns: Campaigns):
    handle = sent("octopush", numbers(5))
    sensor = CampaignCompletionSensor(
        task_id="wait", handle=handle, target_answered_share=0.5, poke_interval=1, timeout=5
    )
    with pytest.raises(ValidationError, match="reports no per-call outcomes"):
        sensor.poke(context())


def test_answered_share_target_ends_the_wait_early(campaigns: Campaigns, simulator_clock):
    campaigns.simulator.state.configure(call_lines=10, call_seconds=10.0)
    handle = sent("velip", numbers(100))
    sensor = CampaignCompletionSensor(
        task_id="wait", handle=handle, target_answered_share=0.3, poke_interval=1, timeout=5
    )
    simulator_clock.advance(55)  # 5 of 10 slots ended: about half the calls, ~70% of them answered
    result = sensor.poke(context())
    assert result.is_done and not result.xcom_value["finished"] and result.xcom_value["counts"]["answered"] >= 30


def test_operator_wait_for_completion_blocking_and_deferrable(campaigns: Campaigns, tmp_path):
    def operator(**kwargs: Any) -> SendVoiceCampaignOperator:
        return SendVoiceCampaignOperator(
            task_id="send", conn_id="cmp_kaleyra", recipients=numbers(120), campaign_name="w", message="Hello",
            checkpoint_path=str(tmp_path), wait_for_completion=True, poll_interval=0.05, completion_timeout=30, **kwargs,
        )  # fmt: skip

    result = operator(deferrable=False).execute(context(run_id="blocking"))
    assert result["accepted"] == 120 and result["status"]["finished"] and result["status"]["total"] == 120
    with pytest.raises(TaskDeferred) as info:
        operator(deferrable=True).execute(context(run_id="deferred"))
    trigger = info.value.trigger
    assert isinstance(trigger, CampaignCompletionTrigger) and trigger.handle["accepted"] == 120
    event = asyncio.run(first_event(trigger))
    resumed = operator(deferrable=True).execute_complete(context(), event)  # dag.test() passes no defer kwargs
    assert resumed["accepted"] == 120 and resumed["status"]["finished"]


@pytest.mark.parametrize("vendor", ["velip", "octopush", "kaleyra"])
def test_example_dag_runs_on_each_vendor(voice_connections, run_dag, vendor, caplog):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    voice_connections.state.configure(call_seconds=1.0)  # calls last 1 s: the sensor has to defer
    people = [f"+1{area}55501{k:02d}" for area in ("202", "312") for k in range(20)]
    run = run_dag("example_voice_campaign", conf={"vendor": vendor})
    assert "[DAG TEST] running trigger in line" in caplog.text  # dag.test() ran CampaignCompletionTrigger in-process
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.run_id == run.run_id, XComModel.key == "return_value"
            )
        ).all()
    values = {task_id: XComModel.deserialize_value(type("X", (), {"value": value})) for task_id, value in rows}
    send, wait, summary = values["send"], values["wait"], values["summarize"]
    assert send["vendor"] == vendor and send["accepted"] == 40 and send["duplicates"] == 1 and "recipients" not in send
    assert wait["finished"] and wait["total"] == 40 and summary["accepted"] == 40
    calls = voice_connections.state.ledger.counts(vendor, "call")
    assert {as_ledger(vendor, p): 1 for p in people} == dict(calls)
