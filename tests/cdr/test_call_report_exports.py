"""Kaleyra call-report and Velip GetCallStatus export operators against the simulator (real socket)."""

from __future__ import annotations

import csv
import datetime as dt
import json

import httpx
import pendulum
import pytest
from airflow.sdk import Asset
from helpers import OutletEvents

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.reports import KaleyraCallReportOperator, VelipCallStatusExportOperator


def today_interval(tz: str) -> dict:
    """A context whose data interval is today (in ``tz``)."""
    start = pendulum.now(tz).start_of("day")
    return {"data_interval_start": start.in_timezone("UTC"), "data_interval_end": start.add(days=1).in_timezone("UTC")}


def place_click_to_calls(sim, count: int) -> list[str]:
    ids = []
    with httpx.Client() as http:
        for i in range(count):
            answer = http.post(
                sim.base_url("kaleyra"),
                headers={"x-api-key": sim.state.config.kaleyra_api_key},
                data={
                    "method": "dial.click2call",
                    "format": "json",
                    "caller": f"98450{i:05d}",
                    "receiver": f"99000{i:05d}",
                    "return": "1",
                },
            ).json()
            assert answer["status"] == "200", answer
            ids.append(answer["data"]["id"])
    return ids


def place_velip_calls(sim, count: int) -> None:
    with httpx.Client() as http:
        for i in range(count):
            answer = http.post(
                sim.base_url("velip") + "/api/v2/MakeTTSCall",
                headers={"Authorization": f"Bearer {sim.state.config.velip_token}"},
                json={"dest": f"55119876{i:05d}", "type": 0, "text": "hello"},
            ).json()
            assert answer["return"]["status_code"] == "0", answer


def test_kaleyra_dial_export_jsonl_paginated(voice_connections, tmp_path):
    voice_connections.state.configure(kaleyra_inbound_calls=5)
    rule = voice_connections.state.faults.set("kaleyra", "dial")  # counts requests
    context = today_interval("Asia/Kolkata")
    context["data_interval_start"] -= dt.timedelta(days=1)  # the simulator's calls are in the last hours
    context["outlet_events"] = OutletEvents()
    op = KaleyraCallReportOperator(task_id="k", destination=f"file://{tmp_path}/kaleyra/{{{{ ds }}}}.jsonl", limit=2)
    op.destination = f"file://{tmp_path}/kaleyra/dial.jsonl"  # as rendered
    result = op.execute(context)
    rows = [json.loads(line) for line in (tmp_path / "kaleyra" / "dial.jsonl").read_text().splitlines()]
    assert len(rows) == 5 == result["rows"] and rule.requests == 3  # pages of 2, 2, 1
    assert all(isinstance(r["duration"], int) and r["status"] == "ANSWER" for r in rows)
    assert len({r["id"] for r in rows}) == 5
    (asset,) = op.outlets
    assert asset == Asset(name=f"file://{tmp_path}/kaleyra", uri=f"file://{tmp_path}/kaleyra")
    assert context["outlet_events"][asset].extra["rows"] == 5
    assert result["from"] == (pendulum.now("Asia/Kolkata").date() - dt.timedelta(days=1)).isoformat()


def test_kaleyra_c2cstatus_export_csv_over_xml(voice_connections, tmp_path, monkeypatch):
    sim = voice_connections
    conn = {
        "conn_type": "kaleyra", "host": sim.base_url("kaleyra"), "password": sim.state.config.kaleyra_api_key,
        "extra": {"response_format": "xml"},
    }  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_XML", json.dumps(conn))
    ids = place_click_to_calls(sim, 3)
    op = KaleyraCallReportOperator(
        task_id="k", conn_id="kaleyra_xml", report="c2cstatus", destination=str(tmp_path / "c2c.csv"), asset=False
    )
    result = op.execute(today_interval("Asia/Kolkata"))
    read = list(csv.DictReader((tmp_path / "c2c.csv").open()))
    assert sorted(r["id"] for r in read) == sorted(ids) and result["rows"] == 3 and result["file_format"] == "csv"
    assert {"status", "status2", "callfrom", "callto"} <= set(read[0])


def test_kaleyra_c2cstatus_older_than_three_days_fails_before_any_request(voice_connections, tmp_path):
    rule = voice_connections.state.faults.set("kaleyra", "dial.c2cstatus")
    op = KaleyraCallReportOperator(task_id="k", report="c2cstatus", destination=str(tmp_path / "old.jsonl"))
    old = pendulum.datetime(2020, 1, 1, tz="UTC")
    with pytest.raises(ValidationError, match="last 3 days only"):
        op.execute({"data_interval_start": old, "data_interval_end": old.add(days=1)})
    assert rule.requests == 0 and list(tmp_path.iterdir()) == []


def test_velip_export_follows_cursor_and_survives_a_429(voice_connections, tmp_path):
    sim = voice_connections
    place_velip_calls(sim, 7)
    rule = sim.state.faults.set("velip", "GetCallStatus", rate_limit_rate=1.0, retry_after=1, times=1)
    op = VelipCallStatusExportOperator(task_id="v", destination=str(tmp_path / "velip.jsonl"), maxreg=3)
    result = op.execute(today_interval("America/Sao_Paulo"))
    rows = [json.loads(line) for line in (tmp_path / "velip.jsonl").read_text().splitlines()]
    assert result["rows"] == 7 and len({r["cd_id"] for r in rows}) == 7
    assert rule.injected == 1 and rule.requests == 4  # one 429 (slept through), then pages of 3, 3, 1


def test_explicit_dates_and_validation(voice_connections, tmp_path):
    op = VelipCallStatusExportOperator(
        task_id="v", destination=str(tmp_path / "v.csv"), date_from="2024-05-01", date_to="2024-05-02"
    )
    assert op.days({}) == (dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    with pytest.raises(ValidationError):
        VelipCallStatusExportOperator(task_id="v2", destination=str(tmp_path / "v.csv"), date_from="2024-05-01").days(
            {}
        )
    with pytest.raises(ValidationError):
        VelipCallStatusExportOperator(task_id="v3", destination="x.csv", maxreg=6000)
    with pytest.raises(ValidationError):
        KaleyraCallReportOperator(task_id="k", destination="x.csv", report="cdr")
    with pytest.raises(ValidationError):
        KaleyraCallReportOperator(task_id="k2", destination="x.txt", file_format="xlsx")
