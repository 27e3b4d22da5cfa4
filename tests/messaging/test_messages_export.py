"""ExportMessagesOperator against the simulator: window from the data interval, ids, formats."""

from __future__ import annotations

import csv
import json

import pendulum
import pytest

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.messages import ExportMessagesOperator


def seed_messages(sim, count: int = 3) -> list[str]:
    from airflow_provider_voice.hooks.televoips import TeleVoipsHook

    hook = TeleVoipsHook("televoips_default")
    api, client = hook.api, hook.client
    ids = [client.send(api.send_message("13214567890", f"1415555{2670 + i}", f"hello {i}")) for i in range(count)]
    now = sim.state.now()
    sim.state.televoips.add_message(
        {"id": "inbound-1", "user_id": None, "number_id": "15125", "direction": "inbound", "to": "13214567890",
         "from": "14155552699", "content": "STOP", "time": "2026-01-01 00:00:00", "read": "0", "Media": []},
        now,
    )  # fmt: skip
    return ids


def test_export_last_90_days_as_jsonl(voice_connections, context, tmp_path):
    seed_messages(voice_connections)
    out = tmp_path / "messages.jsonl"
    result = ExportMessagesOperator(task_id="x", destination=str(out)).execute(context)
    assert result["count"] == 4 and result["start"] is None and result["directions"] == {"outbound": 3, "inbound": 1}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["content"] for r in rows} == {"hello 0", "hello 1", "hello 2", "STOP"}
    assert all("from" in r and "Media" in r for r in rows)


def test_export_uses_the_data_interval(voice_connections, tmp_path):
    seed_messages(voice_connections)
    now = pendulum.now("UTC")
    out = tmp_path / "m.csv"
    op = ExportMessagesOperator(task_id="x", destination=str(out), direction="inbound")
    result = op.execute({"data_interval_start": now.subtract(hours=1), "data_interval_end": now.add(minutes=1)})
    assert result["count"] == 1 and result["start"] == now.subtract(hours=1).format("YYYY-MM-DD HH:mm:ss")
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["content"] == "STOP" and rows[0]["direction"] == "inbound"
    old = op.execute({"data_interval_start": now.subtract(days=10), "data_interval_end": now.subtract(days=9)})
    assert old["count"] == 0


def test_export_by_ids_as_json(voice_connections, context, tmp_path):
    ids = seed_messages(voice_connections)
    out = tmp_path / "one.json"
    result = ExportMessagesOperator(task_id="x", destination=str(out), message_ids=ids[:2]).execute(context)
    assert result["count"] == 2
    assert [m["id"] for m in json.loads(out.read_text())] == ids[:2]


def test_export_needs_a_televoips_connection(voice_connections, context, tmp_path):
    with pytest.raises(ValidationError, match="televoips"):
        ExportMessagesOperator(task_id="x", conn_id="velip_default", destination=str(tmp_path / "x.json")).execute(
            context
        )
    with pytest.raises(ValidationError):
        ExportMessagesOperator(task_id="x", destination="x.json", direction="sideways")
