"""CdrReportTrigger against the simulator over a real socket: success, timeout (after a final poll), errors."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import time

import pytest
from helpers import first_event, soon

from airflow_provider_voice.triggers.cdr import CdrReportTrigger


def test_serialize_round_trip_is_json_primitives():
    trigger = CdrReportTrigger(conn_id="televoips_default", poll_interval=5, deadline="2030-01-02T03:04:05+00:00")
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {"conn_id": "televoips_default", "poll_interval": 5.0, "deadline": "2030-01-02T03:04:05+00:00"}
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs) and rebuilt.deadline == trigger.deadline


async def test_success_after_202s(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=0.5)
    rule = voice_connections.state.faults.set("televoips", "/reports/cdrs")  # no faults: counts requests
    started = time.monotonic()
    payload = await first_event(CdrReportTrigger(conn_id="televoips_default", poll_interval=0.1, deadline=soon(30)))
    assert payload["status"] == "success" and "complete" in payload["message"]
    assert set(payload) >= {"id", "url", "day"} and payload["url"].endswith(f"cdrs_{payload['day']}.csv")
    assert rule.requests >= 3 and time.monotonic() - started >= 0.5  # 202 requested, 202 processing..., 201


async def test_timeout_after_a_final_poll(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    rule = voice_connections.state.faults.set("televoips", "/reports/cdrs")
    deadline = soon(0.6)
    payload = await first_event(CdrReportTrigger(conn_id="televoips_default", poll_interval=0.25, deadline=deadline))
    after = dt.datetime.now(dt.timezone.utc)
    assert payload["status"] == "timeout" and "is processing" in payload["message"]
    assert set(payload) == {"status", "message", "id", "url", "day"}
    assert after >= dt.datetime.fromisoformat(deadline)  # the last poll was made at (or after) the deadline
    assert rule.requests >= 2  # polls in the window (fewer under load) and the last one at the deadline
    assert deadline[:19] in payload["message"]
    assert not re.search(r"\b1\d{9}\b", payload["message"])  # no epoch in the message


async def test_ready_at_the_final_poll_is_success(voice_connections):
    voice_connections.state.configure(cdr_compile_seconds=0.5)
    # compiled after 0.5 s; the only polls are the first (not ready) and the final one at the deadline
    payload = await first_event(CdrReportTrigger(conn_id="televoips_default", poll_interval=10, deadline=soon(3)))
    assert payload["status"] == "success"


async def test_wrong_key_is_an_error_event_without_the_key(voice_connections):
    payload = await first_event(CdrReportTrigger(conn_id="televoips_wrong_key", poll_interval=0.1, deadline=soon(5)))
    assert payload["status"] == "error"
    assert "Access Denied" in payload["message"] and "wrong-key-for-the-demo" not in json.dumps(payload)


async def test_missing_connection_is_an_error_event(voice_connections):
    payload = await first_event(CdrReportTrigger(conn_id="no_such_connection", poll_interval=0.1))
    assert payload["status"] == "error" and "no_such_connection" in payload["message"]


def test_bad_deadline_is_refused_at_construction():
    with pytest.raises(ValueError):
        CdrReportTrigger(conn_id="c", deadline="tomorrow-ish")
