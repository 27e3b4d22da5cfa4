"""Kaleyra behaviour: OBD limits and tracking, click-to-call, follow-ups, monitor, errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from simtest_support import KALEYRA_AUTH

from airflow_provider_voice.testing import FakeClock, SimulatorServer

IST = timezone(timedelta(hours=5, minutes=30))


def call(simulator: SimulatorServer, http: httpx.Client, method: str, **fields: object) -> dict:
    r = http.post(
        simulator.base_url("kaleyra"),
        headers=KALEYRA_AUTH,
        data={"method": method, **{k: str(v) for k, v in fields.items()}},
    )
    assert r.status_code == 200, r.text
    return r.json()


def numbers(n: int) -> str:
    return ",".join(f"98{i:08d}" for i in range(n))


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"numbers": numbers(201), "play": "1.sound"}, "E110"),
        ({"numbers": numbers(2)}, "E101"),
        ({"play": "1.sound"}, "E101"),
        ({"numbers": "12345", "play": "1.sound"}, "E102"),
        ({"numbers": numbers(1), "play": "1.sound", "retries": 3}, "E102"),
        ({"numbers": numbers(1), "play": "1.sound", "delay": 901}, "E102"),
        ({"numbers": numbers(1), "play": "1.sound", "scheduletime": "soon"}, "E113"),
        ({"numbers": numbers(1), "play": "1.sound", "group": "nope"}, "E102"),
    ],
)
def test_voice_call_validation(simulator: SimulatorServer, http: httpx.Client, fields: dict, code: str) -> None:
    body = call(simulator, http, "voice.call", **fields)
    assert body["status"] == code and body["message"]
    assert not simulator.state.ledger.entries("kaleyra")


def test_voice_call_accepts_200_numbers(simulator: SimulatorServer, http: httpx.Client) -> None:
    data = call(simulator, http, "voice.call", numbers=numbers(200), message="Hello")["data"]
    assert len([k for k in data if k.isdigit()]) == 200
    assert len(simulator.state.ledger.entries("kaleyra", "call")) == 200


def test_schedule_window(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    now = simulator_clock()
    too_soon = call(simulator, http, "voice.call", numbers=numbers(1), play="1.sound", scheduletime=int(now + 14 * 60))
    assert too_soon["status"] == "E111"
    too_late = call(
        simulator, http, "voice.call", numbers=numbers(1), play="1.sound", scheduletime=int(now + 62 * 86400)
    )
    assert too_late["status"] == "E112"
    ok_epoch = call(simulator, http, "voice.call", numbers=numbers(1), play="1.sound", scheduletime=int(now + 16 * 60))
    local = datetime.fromtimestamp(now + 3600, IST)
    ok_iso = call(
        simulator,
        http,
        "voice.call",
        numbers=numbers(1),
        play="1.sound",
        scheduletime=local.strftime("%Y-%m-%d %H:%M:%S"),
    )
    ok_indian = call(
        simulator,
        http,
        "voice.call",
        numbers=numbers(1),
        play="1.sound",
        scheduletime=local.strftime("%d/%m/%Y %I:%M %p"),
    )
    assert [b["status"] for b in (ok_epoch, ok_iso, ok_indian)] == ["200", "200", "200"]
    group = ok_iso["data"]["group_id"]
    simulator_clock.advance(1800)
    assert call(simulator, http, "voice.groupstatus", groupid=group)["data"]["0"]["status"] == "SENT"
    simulator_clock.advance(3600)
    assert call(simulator, http, "voice.groupstatus", groupid=group)["data"]["0"]["status"] != "SENT"


def test_obd_status_tracking(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    simulator.state.configure(call_seconds=1.0, call_lines=2)
    started = call(
        simulator,
        http,
        "voice.call",
        numbers="9800000001,9800000002,9800000003",
        play="1.sound",
        campaign="promo",
        custom="a,b,c",
    )
    group = started["data"]["group_id"]
    assert [started["data"][str(i)]["id"] for i in range(3)] == [f"{group}-{i}" for i in (1, 2, 3)]
    simulator_clock.advance(1.0)
    statuses = call(simulator, http, "voice.groupStatus", groupid=group, campaign="promo")["data"]
    assert statuses["2"]["status"] == "SENT" and statuses["0"]["status"] != "SENT"
    assert set(statuses["0"]) == {"id", "mobile", "status", "senttime"}
    simulator_clock.advance(1.0)
    one = call(simulator, http, "voice.status", id=f"{group}-3")["data"]
    assert list(one) == ["0"] and one["0"]["status"] in {
        "COMPLETED",
        "NOANSWER",
        "BUSY",
        "FAILED",
        "CONGESTION",
        "CHANUNAVAIL",
        "DND",
    }
    assert (
        call(simulator, http, "voice.status", id=str(group), mobile="9800000002")["data"]["0"]["mobile"] == "9800000002"
    )
    assert call(simulator, http, "voice.status", id=f"{group}-9")["status"] == "E120"
    assert call(simulator, http, "voice.status", id="123")["status"] == "E120"
    assert call(simulator, http, "voice.groupstatus", groupid=group, campaign="other")["status"] == "E120"
    assert call(simulator, http, "voice.status")["status"] == "E101"
    assert [e.details["custom"] for e in simulator.state.ledger.entries("kaleyra", "call")] == ["a", "b", "c"]


def test_voice_json_forms(simulator: SimulatorServer, http: httpx.Client) -> None:
    url = simulator.base_url("kaleyra-obd")
    body = {
        "play": "123.sound",
        "campaign": "c",
        "call": [{"to": "9800000001,9800000002", "custom": "ABC12"}, {"to": "9800000003", "message": "hi"}],
    }
    raw = http.post(
        url, headers=KALEYRA_AUTH, params={"method": "voice.json", "format": "json"}, content=json.dumps(body)
    ).json()
    encoded = http.post(
        url,
        headers=KALEYRA_AUTH | {"content-type": "application/x-www-form-urlencoded"},
        params={"method": "voice.json"},
        content=httpx.QueryParams({"x": json.dumps(body)}).__str__()[2:],
    ).json()
    assert raw["status"] == encoded["status"] == "200"
    assert [raw["data"][str(i)]["mobile"] for i in range(3)] == ["9800000001", "9800000002", "9800000003"]
    bad = http.post(
        url, headers=KALEYRA_AUTH, params={"method": "voice.json"}, content=json.dumps({"play": "1.sound"})
    ).json()
    assert bad["status"] == "E101"
    no_play = http.post(
        url, headers=KALEYRA_AUTH, params={"method": "voice.json"}, content=json.dumps({"call": [{"to": "9800000001"}]})
    ).json()
    assert no_play["status"] == "E101"


def test_groups_expand_numbers(simulator: SimulatorServer, http: httpx.Client) -> None:
    simulator.state.configure(kaleyra_groups={"4477": ["9800000001", "9800000002"], "vip": ["9800000009"]})
    assert (
        len([k for k in call(simulator, http, "voice.call", group="4477", play="1.sound")["data"] if k.isdigit()]) == 2
    )
    assert call(simulator, http, "voice.call", group="vip", play="1.sound")["data"]["0"]["mobile"] == "9800000009"


def test_click_to_call_lifecycle_and_callback(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    simulator.state.configure(call_seconds=2.0)
    template = "https://example.invalid/cb/?from={caller}&to={receiver}&s={status}&s1={status1}&s2={status2}&d={duration}&b={billsec}&id={id}&cid={callerid}&st={starttime}&et={endtime}&r={recordpath}"
    no_id = call(simulator, http, "dial.click2call", caller="9800000001", receiver="9800000002")
    assert no_id == {"status": "200", "message": "OK"}
    started = call(
        simulator,
        http,
        "dial.click2call",
        caller="9800000001-9800000003",
        receiver="9800000002^9800000004",
        callback=template,
        **{"return": 1},
    )
    c2c_id = started["data"]["id"]
    assert c2c_id.startswith("c2c_") and len(c2c_id) == 20
    legs = [(e.number, e.details["leg"]) for e in simulator.state.ledger.entries("kaleyra", "click2call", ref=c2c_id)]
    assert legs == [
        ("9800000001", "caller"),
        ("9800000003", "caller"),
        ("9800000002", "receiver"),
        ("9800000004", "receiver"),
    ]
    ringing = call(simulator, http, "dial.c2cstatus", id=c2c_id)["data"]
    assert [(r["status"], r["end_time"]) for r in ringing] == [("INPROGRESS", "")]
    simulator_clock.advance(2.0)
    (row,) = call(simulator, http, "dial.c2cstatus", id=c2c_id)["data"]
    assert row["status"] in {"ANSWER", "BUSY", "NOANSWER", "FAILED", "CONGESTION"} and row["end_time"]
    (callback,) = simulator.state.ledger.entries("kaleyra", "callback")
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback.details["url"]).query, keep_blank_values=True).items()}
    assert query["id"] == c2c_id and query["s1"] == row["status"] and query["s2"] == row["status2"]
    assert query["from"] == row["callfrom"] and query["cid"] == simulator.state.config.kaleyra_caller_id
    assert int(query["et"]) - int(query["st"]) == 2
    simulator_clock.advance(4 * 86400)
    assert call(simulator, http, "dial.c2cstatus")["data"] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"receiver": "9800000002"},
        {"caller": "9800000001"},
        {"caller": "98", "receiver": "9800000002"},
        {"caller": "9800000001", "receiver": "9800000002", "retry": 3},
    ],
)
def test_click_to_call_validation(simulator: SimulatorServer, http: httpx.Client, fields: dict) -> None:
    assert call(simulator, http, "dial.click2call", **fields)["status"] in {"E101", "E102"}


def test_click_to_call_ivr_receiver(simulator: SimulatorServer, http: httpx.Client) -> None:
    assert call(simulator, http, "dial.click2call", caller="9800000001", receiver="ivr:1234")["status"] == "200"
    assert [e.details["leg"] for e in simulator.state.ledger.entries("kaleyra", "click2call")] == ["caller"]


def test_followups(simulator: SimulatorServer, http: httpx.Client) -> None:
    created = call(
        simulator,
        http,
        "followup",
        phone="9800000001",
        name="John",
        follower="9800000009",
        ontime="14-10-2030 19-00",
        notes="call back",
    )
    fid = created["data"]["id"]
    assert fid == "2351"
    assert (
        call(
            simulator,
            http,
            "followup",
            phone="9800000001",
            name="John",
            follower="9800000009",
            ontime="31-02-2030 19-00",
        )["status"]
        == "E102"
    )
    assert (
        call(simulator, http, "followup", name="John", follower="9800000009", ontime="14-10-2030 19-00")["status"]
        == "E101"
    )
    edited = call(
        simulator,
        http,
        "followup",
        id=fid,
        phone="9800000002",
        name="Jane",
        follower="9800000009",
        ontime="15-10-2030 07-30",
    )
    assert edited == {"status": "200", "message": "Follow-up updated successfully", "data": {"id": fid}}
    report = call(simulator, http, "followup.reports", follower="9800000009")["data"]
    assert report == [
        {
            "id": fid,
            "phone": "9800000002",
            "name": "Jane",
            "follower": "9800000009",
            "note": "call back",
            "ontime": "15-10-2030 07:30:00 AM",
        }
    ]
    assert call(simulator, http, "followup.reports", fromdate="2030/10/16")["data"] == []
    assert call(simulator, http, "followup.reports", fromdate="15/10/2030", todate="15/10/2030")["data"][0]["id"] == fid
    assert call(simulator, http, "followup", id=fid, action="delete")["status"] == "E101"  # spec: fields mandatory
    mandatory = {"phone": "9800000002", "name": "Jane", "follower": "9800000009", "ontime": "15-10-2030 07-30"}
    deleted = call(simulator, http, "followup", id=fid, action="delete", **mandatory)
    assert deleted["message"] == "Follow-up deleted successfully"
    assert call(simulator, http, "followup", id=fid, action="delete", **mandatory)["status"] == "E120"
    assert [e.action for e in simulator.state.ledger.entries("kaleyra")] == [
        "followup_create",
        "followup_edit",
        "followup_delete",
    ]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_monitor_errors(simulator: SimulatorServer, http: httpx.Client, fmt: str) -> None:
    def status() -> tuple[str, str]:
        r = http.post(simulator.base_url("kaleyra"), headers=KALEYRA_AUTH, data={"method": "monitor", "format": fmt})
        assert r.status_code == 200
        if fmt == "json":
            return r.json()["status"], r.json()["message"]
        root = ET.fromstring(r.text)
        return root.findtext("status") or "", root.findtext("message") or ""

    assert status() == ("200", "OK")
    simulator.state.configure(kaleyra_incidents=[])
    assert status() == ("E701", "No incidents found")
    simulator.state.configure(kaleyra_plugin_active=False)
    assert status() == ("E542", "User Plugin not found or inactive")


def test_block_unblock_and_unknown_method(simulator: SimulatorServer, http: httpx.Client) -> None:
    call(simulator, http, "block", number="9800000001,9800000002")
    call(simulator, http, "block", number="9800000001", action="delete")
    assert simulator.state.kaleyra.blocked == {"9800000002"}
    assert [(e.action, e.number) for e in simulator.state.ledger.entries("kaleyra")] == [
        ("block", "9800000001"),
        ("block", "9800000002"),
        ("unblock", "9800000001"),
    ]
    assert call(simulator, http, "nope") == {"status": "E100", "message": "Invalid method"}
    assert call(simulator, http, "block")["status"] == "E101"


def test_dial_listing_and_pagination(simulator: SimulatorServer, http: httpx.Client) -> None:
    simulator.state.configure(kaleyra_inbound_calls=5)
    everything = call(simulator, http, "dial")["data"]
    assert len(everything) == 5 and {
        "id",
        "uniqid",
        "parent_id",
        "callfrom",
        "callto",
        "start_time",
        "status",
        "caller_id",
    } <= set(everything[0])
    assert call(simulator, http, "dial", limit=2, page=3)["data"] == everything[4:]
    assert call(simulator, http, "dial", fromdate="2001/01/01", todate="01/01/2001")["data"] == []
    assert call(simulator, http, "dial", fromdate="yesterday")["status"] == "E102"


def test_xml_escapes_values(simulator: SimulatorServer, http: httpx.Client) -> None:
    call(
        simulator,
        http,
        "followup",
        phone="9800000001",
        name="<Tom & Jerry>",
        follower="9800000009",
        ontime="14-10-2030 19-00",
    )
    r = http.post(
        simulator.base_url("kaleyra"), headers=KALEYRA_AUTH, data={"method": "followup.reports", "format": "xml"}
    )
    assert ET.fromstring(r.text).findtext("data/followup/name") == "<Tom & Jerry>"
