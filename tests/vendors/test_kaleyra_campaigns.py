"""Kaleyra OBD methods (voice.call, voice.json, voice.status, voice.groupstatus) on a mock transport,
sync and async, with JSON and XML answers."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from helpers import Script, form

from airflow_provider_voice.errors import RequestTimeoutError, ValidationError, VendorRejectedError
from airflow_provider_voice.models import PhoneNumber
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_obd import kaleyra_schedule

URLS = {"default": "https://voice.invalid/v1/", "obd": "https://obd.invalid/api/v1/"}
JSON_API = KaleyraApi(api_key="kal-test-key-1", base_urls=URLS)
XML_API = KaleyraApi(api_key="kal-test-key-1", response_format="xml", base_urls=URLS)

JSON_GROUP = {
    "status": "200",
    "message": "OK",
    "data": {
        "0": {"id": "217691534-1", "mobile": "9988776655", "status": "SENT"},
        "1": {"id": "217691534-2", "mobile": "9756776655", "status": "SENT"},
        "group_id": 217691534,
    },
}
XML_GROUP = """<?xml version="1.0" encoding="UTF-8" ?>
<api><status>200</status><message>OK</message><data><group_id>217717940</group_id>
<voice><id>217717940-1</id><mobile>9988776655</mobile><status>SENT</status></voice>
<voice><id>217717940-2</id><mobile>9756776655</mobile><status>SENT</status></voice></data></api>"""
XML_STATUS = "<api><status>200</status><message>OK</message><data><voice><id>123456-1</id><mobile>9988776655</mobile><status>COMPLETED</status><senttime>2017-08-17 12:09:16</senttime></voice></data></api>"


def test_voice_call_goes_to_the_obd_url_as_a_form(make_driver):
    rec = Script(httpx.Response(200, json=JSON_GROUP))
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    result = make_driver(JSON_API, rec).send(
        JSON_API.voice_call(
            [PhoneNumber.parse("+919988776655"), "9756776655"], message="Your order is ready", retries=2, campaign="orders",
            scheduletime=when, delay=10, meta={"k": "v"}, custom=["a1", "a2"], callback="https://cb.invalid/?id={obdid}",
        )
    )  # fmt: skip
    assert result.group_id == "217691534" and [c.id for c in result.calls] == ["217691534-1", "217691534-2"]
    request = rec.requests[0]
    assert (
        str(request.url).startswith("https://obd.invalid/api/v1/") and request.headers["x-api-key"] == "kal-test-key-1"
    )
    fields = form(request)
    assert fields == {
        "method": "voice.call", "format": "json", "numbers": "9988776655,9756776655", "message": "Your order is ready",
        "retries": "2", "campaign": "orders", "scheduletime": str(int(when.timestamp())), "delay": "10",
        "meta": '{"k":"v"}', "custom": "a1,a2", "callback": "https://cb.invalid/?id={obdid}",
    }  # fmt: skip


def test_voice_call_is_never_resent_after_a_timeout(make_driver):
    rec = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(RequestTimeoutError) as info:
        make_driver(JSON_API, rec).send(JSON_API.voice_call(["9988776655"], play="123.sound"))
    assert info.value.may_have_been_accepted and len(rec.requests) == 1


def test_voice_json_sends_a_json_body_and_parses_xml(make_driver):
    rec = Script(httpx.Response(200, text=XML_GROUP, headers={"content-type": "text/xml"}))
    calls = [
        {"to": ["9988776655"], "message": "Hello Ana", "custom": "k1", "meta": {"param1": "v"}},
        {"to": "9756776655", "play": "1122.sound"},
    ]
    result = make_driver(XML_API, rec).send(
        XML_API.voice_json(calls, campaign="spring", retries=1, callback="https://cb.invalid")
    )
    assert result.group_id == "217717940" and [c.mobile for c in result.calls] == ["9988776655", "9756776655"]
    request = rec.requests[0]
    assert dict(request.url.params) == {"method": "voice.json", "format": "xml"}
    assert json.loads(request.content) == {
        "campaign": "spring",
        "callback": "https://cb.invalid",
        "retries": 1,
        "call": [
            {"to": "9988776655", "message": "Hello Ana", "custom": "k1", "meta": {"param1": "v"}},
            {"to": "9756776655", "play": "1122.sound"},
        ],
    }


def test_vendor_error_codes_are_rejections(make_driver):
    rec = Script(
        httpx.Response(200, json={"status": "E111", "message": "Schedule time should be at least 15 minutes from now"})
    )
    with pytest.raises(VendorRejectedError) as info:
        make_driver(JSON_API, rec).send(JSON_API.voice_call(["9988776655"], play="1.sound"))
    assert info.value.vendor_code == "E111"


@pytest.mark.parametrize("api", [JSON_API, XML_API], ids=["json", "xml"])
def test_status_methods_are_retried_reads(make_driver, api):
    body = (
        XML_STATUS
        if api is XML_API
        else json.dumps(
            {
                "status": "200",
                "message": "OK",
                "data": {
                    "0": {
                        "id": "123456-1",
                        "mobile": "9988776655",
                        "status": "COMPLETED",
                        "senttime": "2017-08-17 12:09:16",
                    }
                },
            }
        )
    )
    rec = Script(httpx.Response(503, text="busy"), httpx.Response(200, text=body))
    driver = make_driver(api, rec)
    result = driver.send(api.voice_status("123456-1", mobile="+919988776655"))
    assert result.calls[0].status == "COMPLETED" and result.calls[0].senttime == "2017-08-17 12:09:16"
    assert form(rec.requests[-1])["mobile"] == "9988776655" and len(rec.requests) == 2
    rec2 = Script(httpx.Response(200, text=body))
    group = make_driver(api, rec2).send(api.voice_groupstatus(123456, campaign="spring"))
    assert len(group.calls) == 1
    assert form(rec2.requests[0]) == {
        "method": "voice.groupstatus",
        "format": api.response_format,
        "groupid": "123456",
        "campaign": "spring",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"numbers": [f"99887{i:05d}" for i in range(201)]}, "numbers"),
        ({"numbers": []}, "numbers"),
        ({"numbers": ["12345"]}, "numbers[0]"),
        ({"retries": 3}, "retries"),
        ({"delay": 901}, "delay"),
        ({"play": None, "message": None}, "play"),
        ({"scheduletime": time.time() + 5 * 60}, "scheduletime"),
        ({"scheduletime": time.time() + 70 * 86400}, "scheduletime"),
        ({"scheduletime": "soon"}, "scheduletime"),
    ],
)
def test_voice_call_bad_input_fails_before_sending(kwargs, field):
    args = {"numbers": ["9988776655"], "play": "1.sound", **kwargs}
    with pytest.raises(ValidationError) as info:
        JSON_API.voice_call(**args)
    assert info.value.field == field


def test_schedule_rules_and_forms():
    now = 1_800_000_000.0
    assert kaleyra_schedule(now + 16 * 60, now=now) == int(now + 16 * 60)
    assert kaleyra_schedule("2027-01-15T10:00:00Z", now=now) == int(
        datetime(2027, 1, 15, 10, tzinfo=timezone.utc).timestamp()
    )
    with pytest.raises(ValidationError, match="at least 15 minutes ahead"):
        kaleyra_schedule(now + 5 * 60, now=now)
    assert kaleyra_schedule(None) is None


def test_voice_json_bad_items():
    with pytest.raises(ValidationError) as info:
        JSON_API.voice_json([{"message": "no numbers"}])
    assert info.value.field == "calls[0].to"
    with pytest.raises(ValidationError):
        JSON_API.voice_json([])
    with pytest.raises(ValidationError) as info:
        JSON_API.voice_json([{"to": ["9988776655"]}])
    assert info.value.field == "play"
