"""HealthStatusSensor / HealthStatusTrigger on Kaleyra ``monitor``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, TaskDeferred
from helpers import first_event

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.sensors.health import HealthStatusSensor
from airflow_provider_voice.triggers.base import deadline_after
from airflow_provider_voice.triggers.health import HealthStatusTrigger, evaluate_health
from airflow_provider_voice.vendors.kaleyra.api_core import KaleyraHealth, KaleyraIncident


def critical(region: str, code: str, number: str) -> dict[str, Any]:
    return {"region": region, "region_code": code, "type": "critical", "service": "outgoing", "numbers": [number]}


def test_operational_regions_are_healthy(voice_connections, context):
    result = HealthStatusSensor(
        task_id="h", conn_id="kaleyra_default", timeout=5, poke_interval=0.05, deferrable=False
    ).execute(context)
    assert result["healthy"] is True and result["incidents"] == 6 and result["not_operational"] == []


def test_no_incidents_e701_is_healthy(voice_connections, context):
    voice_connections.state.configure(kaleyra_incidents=[])
    result = HealthStatusSensor(task_id="h", conn_id="kaleyra_default", timeout=5, deferrable=False).execute(context)
    assert result["healthy"] is True and result["incidents"] == 0 and "No incidents" in result["vendor_message"]


def test_only_the_wanted_regions_count(voice_connections, context):
    voice_connections.state.configure(kaleyra_incidents=[critical("Karnataka", "KA-IN", "+918012345628")])
    ok = HealthStatusSensor(task_id="h", conn_id="kaleyra_default", regions=["ND-IN"], timeout=5, deferrable=False)
    assert ok.execute(context)["healthy"] is True
    bad = HealthStatusSensor(
        task_id="h", conn_id="kaleyra_default", regions=["ka-in"], timeout=0.2, poke_interval=0.05, deferrable=False
    )
    with pytest.raises(AirflowSensorTimeout):
        bad.execute(context)
    by_number = HealthStatusSensor(
        task_id="h",
        conn_id="kaleyra_default",
        numbers=["8012345628"],
        timeout=0.2,
        poke_interval=0.05,
        deferrable=False,
    )
    with pytest.raises(AirflowSensorTimeout):
        by_number.execute(context)


def test_plugin_not_subscribed_fails_at_once(voice_connections, context):
    voice_connections.state.configure(kaleyra_plugin_active=False)
    with pytest.raises(Exception, match="E542"):
        HealthStatusSensor(task_id="h", conn_id="kaleyra_default", timeout=5, deferrable=False).execute(context)


def test_deferred_until_the_region_recovers(voice_connections, context):
    sim = voice_connections
    sim.state.configure(kaleyra_incidents=[critical("Karnataka", "KA-IN", "+918012345628")])
    sensor = HealthStatusSensor(
        task_id="h", conn_id="kaleyra_default", regions=["Karnataka"], timeout=30, poke_interval=0.05, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    _, kwargs = deferred.value.trigger.serialize()

    async def recover_then_wait() -> dict[str, Any]:
        gen = HealthStatusTrigger(**kwargs).run()
        task = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.2)
        assert not task.done()
        sim.state.configure(
            kaleyra_incidents=[{**critical("Karnataka", "KA-IN", "+918012345628"), "type": "operational"}]
        )
        event = (await task).payload
        await gen.aclose()
        return event

    event = asyncio.run(recover_then_wait())
    assert event["status"] == "success"
    assert sensor.execute_complete(context, event)["healthy"] is True


def test_trigger_timeout_and_error_events(voice_connections):
    voice_connections.state.configure(kaleyra_incidents=[critical("Karnataka", "KA-IN", "+918012345628")])
    event = asyncio.run(
        first_event(HealthStatusTrigger(conn_id="kaleyra_default", poll_interval=0.05, deadline=deadline_after(0)))
    )
    assert event["status"] == "timeout" and "Karnataka (critical)" in event["message"]
    with pytest.raises(AirflowSensorTimeout):
        HealthStatusSensor(task_id="h", conn_id="kaleyra_default").execute_complete({}, event)
    error = asyncio.run(first_event(HealthStatusTrigger(conn_id="kaleyra_wrong_key", deadline=deadline_after(5))))
    assert error["status"] == "error"
    with pytest.raises(AirflowException):
        HealthStatusSensor(task_id="h", conn_id="kaleyra_default").execute_complete({}, error)


def test_non_kaleyra_connection_is_refused(voice_connections, context):
    with pytest.raises(ValidationError, match="kaleyra"):
        HealthStatusSensor(task_id="h", conn_id="velip_default", deferrable=False, timeout=1).execute(context)


def test_evaluate_health_matches_masked_numbers():
    health = KaleyraHealth(
        healthy=False,
        incidents=[KaleyraIncident(region="Karnataka", region_code="KA-IN", type="warning", numbers=["+9180xxxxxx28"])],
    )
    assert evaluate_health(health, numbers=["+9180xxxxxx28"])["healthy"] is False
    assert evaluate_health(health, regions=["ND-IN"])["healthy"] is True
    assert evaluate_health(health)["not_operational"][0]["type"] == "warning"
