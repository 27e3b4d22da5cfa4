"""Smoke test of every simulated endpoint (Kaleyra in JSON and XML, both base URLs)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import httpx
import pytest
from simtest_support import KALEYRA_AUTH, OCTOPUSH_AUTH, TELEVOIPS_MESSAGING, TELEVOIPS_REPORTS, VELIP_AUTH

from airflow_provider_voice.testing import SimulatorServer


@pytest.mark.parametrize("suffix", ["", ".php"])
@pytest.mark.parametrize("encoding", ["json", "form", "query"])
def test_velip_every_api(simulator: SimulatorServer, http: httpx.Client, suffix: str, encoding: str) -> None:
    simulator.state.configure(velip_httpdup_seconds=0)
    base = f"{simulator.base_url('velip')}/api/v2"

    def call(api: str, **params: object) -> dict:
        url = f"{base}/{api}{suffix}"
        if encoding == "json":
            r = http.post(url, headers=VELIP_AUTH, json=params)
        elif encoding == "form":
            r = http.post(
                url, headers=VELIP_AUTH, data={k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            )
        else:
            r = http.get(
                url,
                headers=VELIP_AUTH,
                params={k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()},
            )
        assert r.status_code == 200, r.text
        body = r.json()["return"]
        assert (body["status"], body["status_code"]) == ("OK", "0")
        return body

    assert len(call("GetUserID")["tsid"]) == 32
    assert call("MakeTTSCall", dest="5511999990000", text="Hello", ctid="abc1")["cd_id"].startswith("c_")
    assert call("MakeSMS", dest="5511999990000", message="Hello")["cdls_id"].startswith("s_")
    created = call(
        "CreateCampaign",
        name="camp",
        text="Hello",
        voice="pt-BR",
        datajson=[{"number": "5511999990001"}, {"number": "5511999990002"}],
    )
    cp_id = created["cp_id"]
    assert created["cp_destinations"] == 2
    campaigns = call("GetCampaignsList", cp_id=cp_id)["campaigns"]
    assert [c["cp_id"] for c in campaigns] == [cp_id]
    assert call("ChangeCampaign", cp_id=cp_id, active="0")["cp_status"] == "paused"
    calls = call("GetCallStatus", cp_id=cp_id)
    assert [c["dest"] for c in calls["calls"]] == ["5511999990001", "5511999990002"]
    assert calls["pagination"] == {"has_more": False, "next_id": calls["calls"][-1]["cd_id"]}


def test_velip_unknown_api(simulator: SimulatorServer, http: httpx.Client) -> None:
    r = http.post(f"{simulator.base_url('velip')}/api/v2/Nope", headers=VELIP_AUTH)
    assert r.status_code == 404
    assert r.json()["return"]["status_code"] == "404"


def test_televoips_every_route(simulator: SimulatorServer, http: httpx.Client) -> None:
    base = simulator.base_url("televoips")
    simulator.state.configure(cdr_compile_seconds=0, cdr_rows=3)
    first = http.get(f"{base}/reports/cdrs", headers=TELEVOIPS_REPORTS)
    assert first.status_code == 202 and first.json()["status"] == "requested"
    done = http.get(f"{base}/reports/cdrs", headers=TELEVOIPS_REPORTS)
    assert done.status_code == 201 and done.json()["status"] == "complete"
    assert done.json()["url"].startswith(f"{base}/reports/cdrs/{done.json()['id']}/cdrs_")
    csv = http.get(done.json()["url"], headers=TELEVOIPS_REPORTS)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.splitlines()) == 4
    sent = http.post(
        f"{base}/messages",
        headers=TELEVOIPS_MESSAGING,
        data={"from": "13214567890", "to": "19876543210", "content": "Test"},
    )
    assert sent.status_code == 200
    assert http.get(f"{base}/messages", headers=TELEVOIPS_MESSAGING).json()[0]["id"] == sent.json()["uuid"]
    assert http.get(f"{base}/messages/{sent.json()['uuid']}", headers=TELEVOIPS_MESSAGING).status_code == 200
    missing = http.get(f"{base}/messages/nope", headers=TELEVOIPS_MESSAGING)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
    assert (
        http.post(
            f"{base}/unsubscribe", headers=TELEVOIPS_MESSAGING, data={"from": "19876543210", "to": "13214567890"}
        ).status_code
        == 200
    )


def test_octopush_every_route(simulator: SimulatorServer, http: httpx.Client) -> None:
    base = simulator.base_url("octopush")
    before = http.get(f"{base}/v1/public/wallet/check-balance", headers=OCTOPUSH_AUTH).json()
    assert before == {"amount": 10000.0, "unit": "euros"}
    payload = {
        "text": "Hello",
        "recipients": [{"phone_number": "+33600000001"}],
        "type": "voice_sms",
        "purpose": "alert",
        "sender": "MyCompany",
    }
    voice = http.post(f"{base}/v1/public/voice-campaign/send", headers=OCTOPUSH_AUTH, json=payload).json()
    assert voice.keys() == {
        "ticket_number",
        "number_of_contacts",
        "total_cost",
        "estimated_duration",
        "residual_credit",
    }
    assert voice["ticket_number"].startswith("voice_") and len(voice["ticket_number"]) == len("voice_5f44ebf9e47b7")
    assert (voice["number_of_contacts"], voice["total_cost"], voice["residual_credit"]) == (1, 0.05, 9999.95)
    vocal = http.post(
        f"{base}/v1/public/vocal-campaign/send", headers=OCTOPUSH_AUTH, json=payload | {"type": "vocal_sms"}
    ).json()
    assert vocal["vocal_ticket"] == vocal["ticket_number"]
    after = http.get(f"{base}/v1/public/wallet/check-balance", headers=OCTOPUSH_AUTH).json()
    assert after["amount"] == pytest.approx(9999.90)
    report = http.get(f"{simulator.url}/_sim/octopush/reports/{voice['ticket_number']}").json()
    assert [r["number"] for r in report["reports"]] == ["+33600000001"]


KALEYRA_CALLS = [
    ("dial.click2call", {"caller": "9876543210", "receiver": "9123456780", "return": "1"}, None),
    ("dial.c2cstatus", {}, "dial"),
    ("dial", {}, "dial"),
    ("block", {"number": "9876543210"}, None),
    ("block", {"number": "9876543210", "action": "delete"}, None),
    (
        "followup",
        {
            "phone": "9876543210",
            "name": "John",
            "follower": "9123456780",
            "ontime": "14-10-2030 19-00",
            "autocall": "1",
        },
        None,
    ),
    ("followup.reports", {}, "followup"),
    ("monitor", {}, "monitor"),
    ("autodial.add", {"number": "9876543210", "name": "camp", "meta": '{"a":"b"}'}, None),
    ("voice.call", {"numbers": "9876543210,9123456780", "play": "123.sound"}, "voice"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("method", "form", "item_tag"), KALEYRA_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(KALEYRA_CALLS)]
)
@pytest.mark.parametrize("transport", ["form", "multipart", "query"])
def test_kaleyra_methods(
    simulator: SimulatorServer,
    http: httpx.Client,
    fmt: str,
    method: str,
    form: dict,
    item_tag: str | None,
    transport: str,
) -> None:
    fields = {"method": method, "format": fmt, **form}
    url = simulator.base_url("kaleyra")
    if transport == "form":
        r = http.post(url, headers=KALEYRA_AUTH, data=fields)
    elif transport == "multipart":
        r = http.post(url, headers=KALEYRA_AUTH, files={k: (None, v) for k, v in fields.items()})
    else:
        r = http.get(url, headers=KALEYRA_AUTH, params=fields)
    assert r.status_code == 200, r.text
    if fmt == "json":
        body = r.json()
        assert body["status"] in ("200", "OK "), body
    else:
        root = ET.fromstring(r.text)
        assert root.tag == "api" and root.findtext("status") in ("200", "OK "), r.text
        if item_tag and method != "dial.c2cstatus" and method != "followup.reports":
            assert root.find(f"data/{item_tag}") is not None or root.find(f"data/incidents/{item_tag}") is not None, (
                r.text
            )


@pytest.mark.parametrize("base", ["kaleyra", "kaleyra-obd"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_kaleyra_obd_family_on_both_base_urls(
    simulator: SimulatorServer, http: httpx.Client, base: str, fmt: str
) -> None:
    url = simulator.base_url(base)
    started = http.post(
        url,
        headers=KALEYRA_AUTH,
        data={"method": "voice.call", "numbers": "9876543210,9123456780", "play": "1.sound", "format": "json"},
    ).json()
    group_id = started["data"]["group_id"]
    assert started["data"]["0"] == {"id": f"{group_id}-1", "mobile": "9876543210", "status": "SENT"}
    body = {"play": "1.sound", "call": [{"to": "9000000001,9000000002"}, {"to": "9000000003", "message": "hi"}]}
    by_json = http.post(
        url, headers=KALEYRA_AUTH, params={"method": "voice.json", "format": fmt}, content=json.dumps(body)
    )
    by_urlencoded = http.post(
        url,
        headers=KALEYRA_AUTH | {"content-type": "application/x-www-form-urlencoded"},
        params={"method": "voice.json", "format": fmt},
        content=httpx.QueryParams({"data": json.dumps(body)}).__str__(),
    )
    status = http.post(url, headers=KALEYRA_AUTH, data={"method": "voice.status", "id": f"{group_id}-2", "format": fmt})
    group = http.post(
        url, headers=KALEYRA_AUTH, data={"method": "voice.groupStatus", "groupid": str(group_id), "format": fmt}
    )
    for r in (by_json, by_urlencoded, status, group):
        assert r.status_code == 200
        if fmt == "json":
            assert r.json()["status"] == "200", r.text
        else:
            root = ET.fromstring(r.text)
            assert root.findtext("status") == "200" and root.find("data/voice/id") is not None, r.text
    if fmt == "xml":
        assert len(ET.fromstring(by_json.text).findall("data/voice")) == 3
        assert ET.fromstring(by_json.text).findtext("data/group_id")


def test_kaleyra_autodial_import(simulator: SimulatorServer, http: httpx.Client) -> None:
    data = [{"number": f"98765{i:05d}", "customname": "v"} for i in range(1200)]
    r = http.post(
        simulator.base_url("kaleyra"),
        headers=KALEYRA_AUTH,
        params={"method": "autodial.import", "name": "camp", "format": "json"},
        json={"data": data},
    )
    assert r.json() == {
        "status": "OK ",
        "message": "Number(s) added Successfully, Total Records(s) - 1200, Processed Records(s) - 1000",
    }
    assert len(simulator.state.ledger.entries("kaleyra", "dialer_add")) == 1000


def test_kaleyra_obd_base_rejects_other_methods(simulator: SimulatorServer, http: httpx.Client) -> None:
    r = http.post(simulator.base_url("kaleyra-obd"), headers=KALEYRA_AUTH, data={"method": "monitor"})
    assert r.json() == {"status": "E100", "message": "Invalid method"}


def test_kaleyra_api_key_alternatives(simulator: SimulatorServer, http: httpx.Client) -> None:
    url = simulator.base_url("kaleyra")
    assert (
        http.post(url, headers={"api_key": "sim-kaleyra-key"}, data={"method": "dial.c2cstatus"}).json()["status"]
        == "200"
    )
    assert http.post(url, data={"method": "dial.c2cstatus", "api_key": "sim-kaleyra-key"}).json()["status"] == "200"
    assert http.get(url, params={"method": "dial.c2cstatus", "api_key": "sim-kaleyra-key"}).json()["status"] == "200"


def test_control_routes(simulator: SimulatorServer, http: httpx.Client) -> None:
    root = f"{simulator.url}/_sim"
    assert http.get(f"{root}/health").json()["base_urls"]["velip"] == simulator.base_url("velip")
    assert http.post(f"{root}/config", json={"call_seconds": 0.5}).json()["call_seconds"] == 0.5
    assert (
        http.post(f"{root}/faults", json={"vendor": "velip", "route": "MakeTTSCall", "error_rate": 1.0}).json()[
            "rules"
        ][0]["route"]
        == "MakeTTSCall"
    )
    r = http.post(
        f"{simulator.base_url('velip')}/api/v2/MakeTTSCall",
        headers=VELIP_AUTH,
        json={"dest": "5511999990000", "text": "x"},
    )
    assert r.status_code == 503
    assert http.get(f"{root}/faults").json()["history"] == [
        {"vendor": "velip", "route": "MakeTTSCall", "method": "POST", "kind": "error"}
    ]
    assert http.post(f"{root}/faults", json={"clear": True}).json()["rules"] == []
    http.post(
        f"{simulator.base_url('velip')}/api/v2/MakeTTSCall",
        headers=VELIP_AUTH,
        json={"dest": "5511999990000", "text": "x"},
    )
    ledger = http.get(f"{root}/ledger", params={"vendor": "velip", "action": "call"}).json()
    assert ledger["counts"] == {"5511999990000": 1}
    assert http.post(f"{root}/faults", json={"vendor": "velip", "bogus": 1}).status_code == 400
    assert http.post(f"{root}/reset", json={"seed": 4}).json() == {"status": "ok"}
    assert simulator.state.config.seed == 4 and not simulator.state.ledger.entries()
    assert http.get(f"{root}/octopush/reports/nope").status_code == 404
