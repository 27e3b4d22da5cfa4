"""TeleVoIPs POST /messages and POST /unsubscribe: request shape, answers, refusals (MockTransport, sync + async)."""

from __future__ import annotations

import httpx
import pytest
from helpers import form

from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.api_messaging import (
    SEND_REFUSED_HINT,
    UNSUBSCRIBE_REFUSED_HINT,
    explain_televoips_rejection,
)

KEY = "tv-messaging-key-123"


def api() -> TeleVoipsApi:
    return TeleVoipsApi(messaging_key=KEY, base_urls={"default": "https://tv.test"})


def test_send_message_posts_the_spec_form_and_returns_the_uuid(make_driver):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"uuid": "8331946p24i5a159sdbs56s4d644"})

    driver = make_driver(api(), handler)
    uuid = driver.send(api().send_message("+1 321 456 7890", "(415) 555-2671", "Hello there"))
    assert uuid == "8331946p24i5a159sdbs56s4d644"
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/messages"
    assert request.headers["Authorization"] == KEY  # raw key, no Bearer
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {"from": "13214567890", "to": "14155552671", "content": "Hello there"}


def test_send_message_refusal_keeps_the_vendor_text_and_is_not_retried(make_driver):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"message": "Unable to send message"})

    driver = make_driver(api(), handler)
    with pytest.raises(VendorRejectedError) as info:
        driver.send(api().send_message("13214567890", "14155552671", "Hi"))
    assert len(calls) == 1
    assert info.value.status_code == 400 and info.value.vendor_message == "Unable to send message"
    explained = explain_televoips_rejection(info.value)
    assert str(explained).endswith(SEND_REFUSED_HINT)
    assert "owned by the account" in str(explained)
    assert explained.vendor_message == "Unable to send message"


def test_send_message_5xx_is_not_resent(make_driver):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"message": "Service Unavailable"})

    driver = make_driver(api(), handler)
    with pytest.raises(Exception, match="503"):
        driver.send(api().send_message("13214567890", "14155552671", "Hi"))
    assert len(calls) == 1


def test_send_message_without_uuid_is_malformed(make_driver):
    driver = make_driver(api(), lambda request: httpx.Response(200, json={"ok": True}))
    with pytest.raises(MalformedResponseError, match="uuid"):
        driver.send(api().send_message("13214567890", "14155552671", "Hi"))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("13214567890", "14155552671", ""), "content"),
        (("13214567890", "14155552671", "   "), "content"),
        (("13214567890", "12", "Hi"), "to"),
        (("not-a-number", "14155552671", "Hi"), "from"),
    ],
)
def test_send_message_bad_input_is_refused_before_building(args, field):
    with pytest.raises(ValidationError) as info:
        api().send_message(*args)
    assert info.value.field == field


def test_unsubscribe_posts_person_and_owned_number(make_driver):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"")

    driver = make_driver(api(), handler)
    assert driver.send(api().unsubscribe("14155552671", "13214567890")) is None
    assert form(seen[0]) == {"from": "14155552671", "to": "13214567890"}
    assert seen[0].url.path == "/unsubscribe"


def test_unsubscribe_not_owner_is_explained(make_driver):
    body = {"message": "You do not own the number you are trying to unsubscribe from"}
    driver = make_driver(api(), lambda request: httpx.Response(400, json=body))
    with pytest.raises(VendorRejectedError) as info:
        driver.send(api().unsubscribe("14155552671", "14155550000"))
    explained = explain_televoips_rejection(info.value)
    assert UNSUBSCRIBE_REFUSED_HINT in str(explained)


def test_other_rejections_are_left_alone():
    exc = VendorRejectedError("HTTP 400: Bad Request", vendor_message="Bad Request", status_code=400)
    assert explain_televoips_rejection(exc) is exc


def test_messaging_key_never_in_errors(make_driver):
    driver = make_driver(api(), lambda request: httpx.Response(401, json={"message": f"Unauthorized {KEY}"}))
    with pytest.raises(Exception) as info:
        driver.send(api().send_message("13214567890", "14155552671", "Hi"))
    assert KEY not in str(info.value)
