"""Velip MakeSMS: request shape, cdls_id, refusals, validation (MockTransport, sync + async)."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.vendors.velip import VelipApi

TOKEN = "velip-token-abcdef"


def api() -> VelipApi:
    return VelipApi(token=TOKEN, base_urls={"default": "https://velip.test"})


def test_make_sms_sends_dest_message_ctid(make_driver):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"return": {"status": "OK", "status_code": "0", "cdls_id": "s_70001"}})

    driver = make_driver(api(), handler)
    assert driver.send(api().make_sms("+55 11 98765-4321", "Olá!", ctid="order42")) == "s_70001"
    (request,) = seen
    assert request.url.path == "/api/v2/MakeSMS"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {"dest": "5511987654321", "message": "Olá!", "ctid": "order42"}


def test_make_sms_without_ctid_omits_it(make_driver):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"return": {"status": "OK", "status_code": "0", "cdls_id": 70002}})

    assert make_driver(api(), handler).send(api().make_sms("5511987654321", "hi")) == "70002"
    assert "ctid" not in json.loads(seen[0].content)


def test_make_sms_vendor_code_is_typed(make_driver):
    body = {"return": {"status": "Duplicate ctid", "status_code": "220"}}
    driver = make_driver(api(), lambda request: httpx.Response(400, json=body))
    with pytest.raises(VendorRejectedError) as info:
        driver.send(api().make_sms("5511987654321", "hi", ctid="dup1"))
    assert info.value.vendor_code == "220"


def test_make_sms_answer_without_id_is_malformed(make_driver):
    body = {"return": {"status": "OK", "status_code": "0"}}
    with pytest.raises(MalformedResponseError):
        make_driver(api(), lambda request: httpx.Response(200, json=body)).send(api().make_sms("5511987654321", "hi"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dest": "5511987654321", "message": ""}, "message"),
        ({"dest": "123", "message": "hi"}, "dest"),
        ({"dest": "5511987654321", "message": "hi", "ctid": "has space"}, "ctid"),
        ({"dest": "5511987654321", "message": "hi", "ctid": "x" * 16}, "ctid"),
    ],
)
def test_make_sms_bad_input(kwargs, field):
    with pytest.raises(ValidationError) as info:
        api().make_sms(**kwargs)
    assert info.value.field == field
