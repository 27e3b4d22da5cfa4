"""Velip campaign endpoints (MakeTTSCall, CreateCampaign, GetCampaignsList, ChangeCampaign) on a mock
transport, each on the sync and the async client."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers import Script

from airflow_provider_voice.errors import ServerError, ValidationError, VendorRejectedError
from airflow_provider_voice.models import PhoneNumber, Recipient
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.api_campaigns import velip_destinations_csv

API = VelipApi(token="velip-test-token-1", base_urls={"default": "https://velip.invalid"})


def ok(**fields):
    return httpx.Response(200, json={"return": {"status": "OK", "status_code": "0", **fields}})


def test_make_tts_call_type3_joins_two_destinations(make_driver):
    rec = Script(ok(cd_id="c_88700", ctid="abc1"))
    result = make_driver(API, rec).send(
        API.make_tts_call(
            PhoneNumber.parse("+55 11 98765-4321"),
            text="Olá",
            voice="Ricardo",
            type=3,
            dest2="+5511912345678",
            ctid="abc1",
        )
    )
    assert result.cd_id == "c_88700" and result.ctid == "abc1"
    request = rec.requests[0]
    assert request.url.path == "/api/v2/MakeTTSCall" and request.headers["Authorization"] == "Bearer velip-test-token-1"
    assert json.loads(request.content) == {
        "dest": "5511987654321",
        "type": 3,
        "dest2": "5511912345678",
        "text": "Olá",
        "voice": "Ricardo",
        "ctid": "abc1",
    }


def test_make_tts_call_scheduled_has_no_cd_id(make_driver):
    rec = Script(ok(ctid="sched1"))
    result = make_driver(API, rec).send(
        API.make_tts_call("5511987654321", content="audio-9", ctid="sched1", repeat="3|10|1|2026-05-01 10:00")
    )
    assert result.cd_id is None and result.ctid == "sched1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"type": 3}, "dest2"),
        ({"type": 1}, "type"),
        ({"dest2": "5511912345678"}, "dest2"),
        ({"ctid": "has space"}, "ctid"),
        ({"ctid": "x" * 16}, "ctid"),
        ({"repeat": "tomorrow"}, "repeat"),
        ({"text": None}, "text"),
        ({"sms_text": "bye"}, "sms_action"),
    ],
)
def test_make_tts_call_rejects_bad_input_before_sending(kwargs, field):
    args = {"text": "hello", **kwargs}
    with pytest.raises(ValidationError) as info:
        API.make_tts_call("5511987654321", **args)
    assert info.value.field == field


def test_make_tts_call_refuses_a_non_number():
    with pytest.raises(ValidationError) as info:
        API.make_tts_call("+55 (11) abc", text="x")
    assert info.value.field == "dest"


def test_create_campaign_with_datajson(make_driver):
    rec = Script(ok(cp_id="5001", cp_ctid="k1", cp_destinations=2))
    people = [
        Recipient(
            number=PhoneNumber.parse("+5511987654321"),
            name="Ana",
            variables={"codcli": "42", "extra1": "x", "other": "y"},
        ),
        {"number": "5511912345678"},
    ]
    created = make_driver(API, rec).send(
        API.create_campaign(
            name="Spring",
            destinations=people,
            text="Olá",
            voice="Ricardo",
            date_start="2026-05-01",
            time_start="09:00:00",
            time_end="18:00:00",
            vel=30,
            resends=2,
            time_resends=15,
            cp_ctid="k1",
        )
    )
    assert created.cp_id == "5001" and created.cp_destinations == 2
    body = json.loads(rec.requests[0].content)
    assert body["name"] == "Spring" and body["cp_ctid"] == "k1" and body["vel"] == 30 and body["resends"] == 2
    assert body["datajson"] == [
        {"number": "5511987654321", "name": "Ana", "codcli": "42", "extra1": "x"},
        {"number": "5511912345678"},
    ]


def test_create_campaign_uploads_a_csv_for_big_lists(make_driver):
    rec = Script(ok(cp_id="5002", cp_destinations=3))
    rows = [{"number": f"55119876543{i:02d}", "name": f"P{i}"} for i in range(3)]
    make_driver(API, rec).send(API.create_campaign(name="Big", destinations=rows, upload=True, text="Oi", cp_ctid="k2"))
    request = rec.requests[0]
    assert request.headers["content-type"].startswith("multipart/form-data")
    content = request.content.decode()
    assert 'name="file"; filename="destinations.csv"' in content
    assert "number,name,codcli,extra1,extra2,extra3\n5511987654300,P0,,,,\n" in content
    assert 'name="name"\r\n\r\nBig' in content and 'name="cp_ctid"\r\n\r\nk2' in content
    assert "datajson" not in content


def test_velip_csv_rendering():
    text = velip_destinations_csv([{"number": "5511987654321", "name": "Ana, Maria", "extra3": "z"}]).decode()
    assert text == 'number,name,codcli,extra1,extra2,extra3\n5511987654321,"Ana, Maria",,,,z\n'


def test_create_campaign_is_not_resent_after_a_5xx(make_driver):
    rec = Script(httpx.Response(502, json={"return": {"status": "Bad Gateway", "status_code": "502"}}))
    with pytest.raises(ServerError):
        make_driver(API, rec).send(API.create_campaign(name="X", destinations=["5511987654321"], text="t"))
    assert len(rec.requests) == 1


def test_create_campaign_name_conflict_is_a_vendor_rejection(make_driver):
    rec = Script(
        httpx.Response(
            400,
            json={
                "return": {
                    "status": "Campaign with same name and date already exists",
                    "status_code": "230",
                    "cp_id": "5001",
                }
            },
        )
    )
    with pytest.raises(VendorRejectedError) as info:
        make_driver(API, rec).send(API.create_campaign(name="X", destinations=["5511987654321"], text="t"))
    assert info.value.vendor_code == "230"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "n" * 51}, "name"),
        ({"destinations": []}, "destinations"),
        ({"destinations": None}, "destinations"),
        ({"text": None}, "text"),
        ({"vel": 101}, "vel"),
        ({"resends": 4}, "resends"),
        ({"date_start": "01/05/2026"}, "date_start"),
        ({"time_end": "25:00:00"}, "time_end"),
        ({"destinations": ["+55 abc"]}, "destinations[0].number"),
    ],
)
def test_create_campaign_rejects_bad_input_before_sending(kwargs, field):
    args = {"name": "ok", "destinations": ["5511987654321"], "text": "t", **kwargs}
    with pytest.raises(ValidationError) as info:
        API.create_campaign(**args)
    assert info.value.field == field


def test_get_campaigns_list_is_a_retried_read(make_driver):
    campaign = {"cp_id": "5001", "cp_ctid": "k1", "name": "Spring", "cp_destinations": 10, "cp_made": 4, "cp_answered": 3,
                "cp_counts": {"OK": 3, "NA": 1}, "active": 1, "status": "running"}  # fmt: skip
    rec = Script(httpx.Response(503, json={}), ok(campaigns=[campaign]))
    found = make_driver(API, rec).send(API.get_campaigns_list(cp_ctid="k1", name="Spring"))
    assert [c.cp_id for c in found] == ["5001"] and found[0].cp_counts == {"OK": 3, "NA": 1}
    assert len(rec.requests) == 2 and rec.requests[0].method == "GET"
    assert dict(rec.requests[0].url.params) == {"cp_ctid": "k1", "name": "Spring"}


def test_change_campaign_pauses_and_is_idempotent(make_driver):
    rec = Script(httpx.Response(503, json={}), ok(cp_id="5001", active=0, status="paused"))
    changed = make_driver(API, rec).send(API.change_campaign("5001", active=False))
    assert changed.active == 0 and changed.status == "paused" and len(rec.requests) == 2
    assert json.loads(rec.requests[1].content) == {"cp_id": "5001", "active": 0}
    with pytest.raises(ValidationError):
        API.change_campaign("5001", time_start="9h")
