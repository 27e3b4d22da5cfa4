"""Velip GetCallStatus: request building, maxreg validation, cursor flow, 429 + Retry-After."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from airflow_provider_voice.errors import MalformedResponseError, RateLimitedError, ValidationError
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.records import VelipCallRecord

TOKEN = "velip-token-0123456789"


def api() -> VelipApi:
    return VelipApi(token=TOKEN, base_urls={"default": "https://velip.test"})


def envelope(calls, has_more=False, next_id=""):
    return {
        "return": {
            "status": "OK",
            "status_code": "0",
            "calls": calls,
            "pagination": {"has_more": has_more, "next_id": next_id},
        }
    }


def call(n: int) -> dict:
    return {
        "cd_id": f"c_{n}",
        "ctid": "",
        "cp_id": "5001",
        "cd_status": "OK",
        "dest": "5511999990000",
        "date": "2024-05-01",
        "time": "10:00:00",
        "dur": 12,
        "value": 0.15,
    }


def test_one_page_request_and_rows(make_driver):
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=envelope([call(88700), call(88701)], True, "c_88701"))

    page = make_driver(api(), handler).send(
        api().get_call_status(cp_id=5001, date_start=dt.date(2024, 5, 1), date_end="2024-05-02", maxreg=2)
    )
    (request,) = seen
    assert request.method == "GET" and request.url.path == "/api/v2/GetCallStatus"
    assert dict(request.url.params) == {
        "maxreg": "2",
        "cp_id": "5001",
        "date_start": "2024-05-01",
        "date_end": "2024-05-02",
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert [c.cd_id for c in page.calls] == ["c_88700", "c_88701"] and isinstance(page.calls[0], VelipCallRecord)
    assert page.has_more and page.next_id == "c_88701" and page.calls[0].dur == 12


@pytest.mark.parametrize("maxreg", [0, 5001, -1, True, "100"])
def test_maxreg_validated(maxreg):
    with pytest.raises(ValidationError, match="5000") as caught:
        api().get_call_status(maxreg=maxreg)
    assert caught.value.field == "maxreg"


def test_dates_validated():
    with pytest.raises(ValidationError):
        api().get_call_status(date_start="2024-05-03", date_end="2024-05-01")
    with pytest.raises(ValidationError):
        api().get_call_status(date_start="not a date")
    # an aware datetime becomes the Brazil day (UTC-3): 01:00 UTC on May 2nd is May 1st in Sao Paulo
    request = api().get_call_status(date_start=dt.datetime(2024, 5, 2, 1, 0, tzinfo=dt.timezone.utc))
    assert request.params["date_start"] == "2024-05-01"


def test_cursor_flow_follows_last_id(make_driver):
    pages = {
        None: envelope([call(1), call(2)], True, "c_2"),
        "c_2": envelope([call(3), call(4)], True, "c_4"),
        "c_4": envelope([call(5)]),
    }
    seen = []

    def handler(request):
        cursor = request.url.params.get("last_id")
        seen.append(cursor)
        return httpx.Response(200, json=pages[cursor])

    assert make_driver(api(), handler).send(api().call_status_flow(maxreg=2, cp_id="5001")) == 5
    assert seen == [None, "c_2", "c_4"]


def test_cursor_that_does_not_move_is_an_error(make_driver):
    driver = make_driver(api(), lambda r: httpx.Response(200, json=envelope([], True, "")))
    with pytest.raises(MalformedResponseError, match="cursor does not move"):
        driver.send(api().call_status_flow())


def test_429_retry_after_is_honoured(make_driver):
    answers = [
        httpx.Response(
            429, headers={"Retry-After": "7"}, json={"return": {"status": "Rate limit exceeded", "status_code": "429"}}
        ),
        httpx.Response(200, json=envelope([call(1)])),
    ]
    driver = make_driver(api(), lambda r: answers.pop(0))
    page = driver.send(api().get_call_status())
    assert [c.cd_id for c in page.calls] == ["c_1"] and driver.clock.sleeps == [7]


def test_long_retry_after_is_raised_not_slept(make_driver):
    driver = make_driver(
        api(),
        lambda r: httpx.Response(
            429,
            headers={"Retry-After": "3600"},
            json={"return": {"status": "Rate limit exceeded", "status_code": "429"}},
        ),
        retry=RetryPolicy(max_attempts=4, max_retry_after=120),
    )
    with pytest.raises(RateLimitedError) as caught:
        driver.send(api().get_call_status())
    assert caught.value.retry_after == 3600 and driver.clock.sleeps == []
