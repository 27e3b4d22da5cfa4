"""Velip behaviour: auth tokens, validation codes, campaigns over simulated time, paging, limits."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from simtest_support import VELIP_AUTH

from airflow_provider_voice.testing import FakeClock, SimulatorServer

BRT = timezone(timedelta(hours=-3))


def api(
    simulator: SimulatorServer,
    http: httpx.Client,
    api_name: str,
    /,
    headers: dict[str, str] | None = None,
    **params: object,
) -> httpx.Response:
    return http.post(
        f"{simulator.base_url('velip')}/api/v2/{api_name}",
        headers=VELIP_AUTH if headers is None else headers,
        json=params,
    )


def ret(response: httpx.Response) -> dict:
    return response.json()["return"]


def numbers(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"number": f"55119{start + i:08d}", "name": f"n{i}"} for i in range(n)]


def test_tsid_lifecycle(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    tsid = ret(api(simulator, http, "GetUserID"))["tsid"]
    assert (
        ret(api(simulator, http, "MakeSMS", headers={"Authorization": tsid}, dest="5511999990000", message="a"))[
            "status_code"
        ]
        == "0"
    )
    assert (
        ret(api(simulator, http, "MakeSMS", headers={}, tsid=tsid, dest="5511999990000", message="b"))["status_code"]
        == "0"
    )
    refused = api(simulator, http, "GetUserID", headers={"Authorization": f"Bearer {tsid}"})
    assert (refused.status_code, ret(refused)["status_code"]) == (401, "100")
    simulator_clock.advance(3601)
    expired = api(
        simulator, http, "MakeSMS", headers={"Authorization": f"Bearer {tsid}"}, dest="5511999990000", message="c"
    )
    assert (expired.status_code, ret(expired)) == (401, {"status": "Session ID expired", "status_code": "101"})


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"dest": "+5511999990000", "text": "x"}, "203"),
        ({"dest": "123", "text": "x"}, "203"),
        ({"dest": "5511999990000"}, "201"),
        ({"dest": "5511999990000", "text": "x", "ctid": "has space"}, "202"),
        ({"dest": "5511999990000", "text": "x", "ctid": "a" * 16}, "202"),
        ({"dest": "5511999990000", "text": "x", "type": 3}, "203"),
        ({"dest": "5511999990000", "text": "x", "repeat": "garbage"}, "202"),
    ],
)
def test_make_tts_call_validation(simulator: SimulatorServer, http: httpx.Client, params: dict, code: str) -> None:
    r = api(simulator, http, "MakeTTSCall", **params)
    assert r.status_code == 400
    assert ret(r)["status_code"] == code
    assert isinstance(ret(r)["status_code"], str)
    assert not simulator.state.ledger.entries("velip")


def test_duplicate_ctid_and_destination(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    first = ret(api(simulator, http, "MakeTTSCall", dest="5511999990000", text="x", ctid="order42"))
    assert first["cd_id"] == "c_88700" and first["ctid"] == "order42"
    dup = api(simulator, http, "MakeTTSCall", dest="5511999990001", text="x", ctid="order42")
    assert (dup.status_code, ret(dup)["status_code"], ret(dup)["status"]) == (400, "220", "Duplicate ctid")
    again = api(simulator, http, "MakeTTSCall", dest="5511999990000", text="x", ctid="order43")
    assert ret(again)["status_code"] == "244"
    simulator_clock.advance(10.5)
    assert (
        ret(api(simulator, http, "MakeTTSCall", dest="5511999990000", text="x", ctid="order43"))["status_code"] == "0"
    )
    assert simulator.state.ledger.counts("velip", "call") == Counter({"5511999990000": 2})


def test_type3_calls_both_legs_and_query_wins(simulator: SimulatorServer, http: httpx.Client) -> None:
    url = f"{simulator.base_url('velip')}/api/v2/MakeTTSCall"
    r = http.post(
        url,
        headers=VELIP_AUTH,
        params={"dest": "5511000000002"},
        json={"dest": "5511000000001", "dest2": "5511000000003", "type": 3, "text": "x"},
    )
    assert ret(r)["status_code"] == "0"
    assert [e.number for e in simulator.state.ledger.entries("velip", "call")] == ["5511000000002", "5511000000003"]


def test_scheduled_call_is_tracked_by_ctid(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    when = datetime.fromtimestamp(simulator_clock() + 7200, BRT).strftime("%Y-%m-%d %H:%M")
    accepted = ret(
        api(simulator, http, "MakeTTSCall", dest="5511999990000", text="x", ctid="later1", repeat=f"3|10|20:00|{when}")
    )
    assert "cd_id" not in accepted and accepted["ctid"] == "later1"
    calls = ret(api(simulator, http, "GetCallStatus", ctid="later1"))["calls"]
    assert [(c["ctid"], c["cd_status"]) for c in calls] == [("later1", "PD")]
    simulator_clock.advance(7300)
    assert ret(api(simulator, http, "GetCallStatus", ctid="later1"))["calls"][0]["cd_status"] in {
        "OK",
        "NA",
        "EK",
        "IK",
        "CK",
        "BK",
    }


def test_campaign_progresses_with_the_clock(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    simulator.state.configure(call_seconds=1.0, call_lines=50)
    cp_id = ret(
        api(
            simulator,
            http,
            "CreateCampaign",
            name="promo",
            text="Hi",
            voice="Ricardo",
            datajson=numbers(120),
            cp_ctid="batch-7",
        )
    )["cp_id"]

    def view() -> dict:
        return ret(api(simulator, http, "GetCampaignsList", cp_ctid="batch-7"))["campaigns"][0]

    assert (view()["cp_made"], view()["status"]) == (0, "running")
    simulator_clock.advance(1.0)
    assert view()["cp_made"] == 50
    api(simulator, http, "ChangeCampaign", cp_id=cp_id, active=0)
    simulator_clock.advance(10)
    assert (view()["cp_made"], view()["status"], view()["active"]) == (50, "paused", 0)
    api(simulator, http, "ChangeCampaign", cp_id=cp_id, active=1)
    simulator_clock.advance(2.0)
    final = view()
    assert (final["cp_made"], final["status"], final["cp_destinations"]) == (120, "finished", 120)
    assert sum(final["cp_counts"].values()) == 120 and final["cp_answered"] == final["cp_counts"]["OK"]
    statuses = Counter(c["cd_status"] for c in ret(api(simulator, http, "GetCallStatus", cp_id=cp_id))["calls"])
    assert {k: v for k, v in final["cp_counts"].items() if v} == dict(statuses)
    assert not simulator.state.ledger.duplicates("velip", "call")
    assert len(simulator.state.ledger.entries("velip", "call", ref=None)) == 120
    assert [e.action for e in simulator.state.ledger.entries("velip") if e.action != "call"] == [
        "campaign_create",
        "campaign_change",
        "campaign_change",
    ]


def test_campaign_validation(simulator: SimulatorServer, http: httpx.Client) -> None:
    good = {"name": "c1", "text": "x", "datajson": numbers(2)}
    assert ret(api(simulator, http, "CreateCampaign", **good))["status_code"] == "0"
    dup = api(simulator, http, "CreateCampaign", **good)
    assert (dup.status_code, ret(dup)["status_code"]) == (400, "230")
    cases = [
        ({"name": "x" * 51}, "202"),
        ({"name": "c2", "datajson": [{"number": "+551100000000"}]}, "203"),
        ({"name": "c2", "text": None}, "201"),
        ({"name": "c2", "resends": 4}, "202"),
        ({"name": "c2", "vel": "0"}, "202"),
        ({"name": "c2", "date_start": "2030-13-01"}, "202"),
        ({"name": "c2", "datajson": "not json"}, "202"),
        ({"name": "c2", "datajson": []}, "202"),
    ]
    for override, code in cases:
        r = api(simulator, http, "CreateCampaign", **(good | override))
        assert ret(r)["status_code"] == code, (override, r.text)
    simulator.state.configure(velip_max_destinations=3)
    assert (
        ret(api(simulator, http, "CreateCampaign", **(good | {"name": "big", "datajson": numbers(4)})))["status_code"]
        == "202"
    )


def test_campaign_destinations_from_string_file_and_clone(simulator: SimulatorServer, http: httpx.Client) -> None:
    url = f"{simulator.base_url('velip')}/api/v2/CreateCampaign"
    as_string = ret(api(simulator, http, "CreateCampaign", name="s", text="x", datajson=json.dumps(numbers(2))))
    csv_file = "number;name;codcli\n5511000000011;Ana;1\n5511000000012;Bia;2\n"
    from_csv = http.post(
        url, headers=VELIP_AUTH, data={"name": "csv", "text": "x"}, files={"file": ("list.csv", csv_file, "text/csv")}
    ).json()["return"]
    no_header = http.post(
        url,
        headers=VELIP_AUTH,
        data={"name": "csv2", "text": "x"},
        files={"file": ("l.csv", "5511000000021,Ana\n5511000000022,Bia\n")},
    ).json()["return"]
    from_json = http.post(
        url,
        headers=VELIP_AUTH,
        data={"name": "js", "text": "x"},
        files={"file": ("l.json", json.dumps(numbers(3, 30)), "application/json")},
    ).json()["return"]
    clone = ret(api(simulator, http, "CreateCampaign", name="clone", cp_id=from_csv["cp_id"]))
    assert [r["cp_destinations"] for r in (as_string, from_csv, no_header, from_json, clone)] == [2, 2, 2, 3, 2]
    cloned = ret(api(simulator, http, "GetCallStatus", cp_id=clone["cp_id"]))["calls"]
    assert [c["dest"] for c in cloned] == ["5511000000011", "5511000000012"]


def test_scheduled_campaign(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    tomorrow = datetime.fromtimestamp(simulator_clock() + 86400, BRT)
    cp_id = ret(
        api(
            simulator,
            http,
            "CreateCampaign",
            name="t",
            text="x",
            datajson=numbers(3),
            date_start=tomorrow.strftime("%Y-%m-%d"),
            time_start="09:00:00",
        )
    )["cp_id"]
    assert ret(api(simulator, http, "GetCampaignsList", cp_id=cp_id))["campaigns"][0]["status"] == "scheduled"
    simulator_clock.advance(2 * 86400)
    assert ret(api(simulator, http, "GetCampaignsList", cp_id=cp_id))["campaigns"][0]["status"] == "finished"


def test_call_status_pagination(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    cp_id = ret(api(simulator, http, "CreateCampaign", name="p", text="x", datajson=numbers(25)))["cp_id"]
    api(simulator, http, "MakeTTSCall", dest="5511999990000", text="x")
    seen: list[str] = []
    last_id = ""
    pages = 0
    while True:
        page = ret(api(simulator, http, "GetCallStatus", cp_id=cp_id, maxreg=10, last_id=last_id))
        seen += [c["cd_id"] for c in page["calls"]]
        pages += 1
        if not page["pagination"]["has_more"]:
            break
        last_id = page["pagination"]["next_id"]
        assert pages < 10
    assert pages == 3 and len(seen) == len(set(seen)) == 25
    assert len(ret(api(simulator, http, "GetCallStatus"))["calls"]) == 26
    assert [c["cd_id"] for c in ret(api(simulator, http, "GetCallStatus", cd_id=seen[3]))["calls"]] == [seen[3]]


def test_call_status_rate_limit(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    simulator.state.configure(velip_list_requests_per_hour=3)
    for _ in range(3):
        assert api(simulator, http, "GetCallStatus").status_code == 200
    limited = api(simulator, http, "GetCallStatus")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) == 3600
    assert ret(limited)["status_code"] == "429"
    assert api(simulator, http, "GetCampaignsList").status_code == 200
    simulator_clock.advance(3600)
    assert api(simulator, http, "GetCallStatus").status_code == 200


def test_rurl_webhook_is_recorded_when_the_call_ends(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    simulator.state.configure(call_seconds=1.0)
    cd_id = ret(
        api(
            simulator,
            http,
            "MakeTTSCall",
            dest="5511999990000",
            text="x",
            ctid="w1",
            rurl="https://example.invalid/hook?secret=s",
        )
    )["cd_id"]
    assert not simulator.state.ledger.entries("velip", "callback")
    simulator_clock.advance(1.0)
    (callback,) = simulator.state.ledger.entries("velip", "callback")
    assert (callback.ref, callback.number, callback.details["url"]) == (
        cd_id,
        "5511999990000",
        "https://example.invalid/hook?secret=s",
    )
    assert callback.details["payload"]["cd_called_status"] in {"OK", "NA", "EK", "IK", "BK"}
    assert simulator.state.webhooks.pending() == 0
