"""Octopush Voice-SMS send on a mock transport (sync and async): every spec field, request_id
idempotency, the 409 duplicate answer, the 400 field error map and validation before sending."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers import Script

from airflow_provider_voice.errors import ServerError, ValidationError, VendorRejectedError
from airflow_provider_voice.models import PhoneNumber, Recipient
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.octopush.api_campaigns import duplicate_ticket

API = OctopushApi(
    api_login="me@example.com", api_key="octo-test-key-1", base_urls={"default": "https://octopush.invalid"}
)
TICKET = {
    "ticket_number": "voice_5f44ebf9e47b7",
    "number_of_contacts": 2,
    "total_cost": 0.1,
    "estimated_duration": 30,
    "residual_credit": 149.9,
}


def test_send_with_every_field(make_driver):
    rec = Script(httpx.Response(200, json=TICKET))
    people = [
        Recipient(number=PhoneNumber.parse("+33612345678"), variables={"first": "Ana", "param2": "10h"}),
        {"phone_number": "+33612345679", "param1": "Bob"},
    ]
    ticket = make_driver(API, rec).send(
        API.send_voice_sms(
            text="Bonjour", recipients=people, sender="Clinic42", send_at="2026-10-03T07:42:39-07:00", purpose="wholesale",
            voice_gender="female", voice_language="fr-FR", auto_delete_optout_contacts=True, get_back_pressed_keys=False,
            simulation_mode=True, request_id="abc123", params={"param1": "first"},
        )
    )  # fmt: skip
    assert (
        ticket.ticket_number == "voice_5f44ebf9e47b7"
        and ticket.number_of_contacts == 2
        and ticket.residual_credit == 149.9
    )
    request = rec.requests[0]
    assert request.url.path == "/v1/public/voice-campaign/send"
    assert request.headers["api-login"] == "me@example.com" and request.headers["api-key"] == "octo-test-key-1"
    assert json.loads(request.content) == {
        "text": "Bonjour",
        "recipients": [
            {"phone_number": "+33612345678", "param1": "Ana", "param2": "10h"},
            {"phone_number": "+33612345679"},
        ],
        "type": "voice_sms",
        "purpose": "wholesale",
        "sender": "Clinic42",
        "send_at": "2026-10-03T07:42:39-07:00",
        "voice_gender": "female",
        "voice_language": "fr-FR",
        "auto_delete_optout_contacts": True,
        "get_back_pressed_keys": False,
        "simulation_mode": True,
        "request_id": "abc123",
    }


def test_request_id_makes_the_send_retryable_with_the_same_id(make_driver):
    rec = Script(httpx.Response(502, json={"code": 502, "message": "Bad Gateway."}), httpx.Response(200, json=TICKET))
    make_driver(API, rec).send(API.send_voice_sms(text="x", recipients=["+33612345678"], request_id="frame-1"))
    assert len(rec.requests) == 2
    assert [json.loads(r.content)["request_id"] for r in rec.requests] == ["frame-1", "frame-1"]


def test_without_request_id_a_5xx_is_not_resent(make_driver):
    rec = Script(httpx.Response(502, json={"code": 502, "message": "Bad Gateway."}))
    with pytest.raises(ServerError):
        make_driver(API, rec).send(API.send_voice_sms(text="x", recipients=["+33612345678"]))
    assert len(rec.requests) == 1


def test_duplicate_request_id_names_the_first_ticket(make_driver):
    rec = Script(
        httpx.Response(409, json={"code": 409, "message": "Duplicate request_id.", "ticket_number": "voice_first"})
    )
    with pytest.raises(VendorRejectedError) as info:
        make_driver(API, rec).send(API.send_voice_sms(text="x", recipients=["+33612345678"], request_id="frame-1"))
    duplicate = duplicate_ticket(info.value)
    assert duplicate is not None and duplicate.duplicate and duplicate.ticket_number == "voice_first"
    assert duplicate_ticket(VendorRejectedError("no", status_code=400, endpoint="voice-campaign/send")) is None


def test_field_errors_are_surfaced(make_driver):
    body = {
        "code": 400,
        "message": "Payload validation error.",
        "errors": {"voice_language": {"code": 442, "message": "Voice language not supported."}},
    }
    rec = Script(httpx.Response(400, json=body))
    with pytest.raises(VendorRejectedError) as info:
        make_driver(API, rec).send(API.send_voice_sms(text="x", recipients=["+33612345678"]))
    error = info.value
    assert error.field_errors == {"voice_language": {"code": 442, "message": "Voice language not supported."}}
    assert "voice_language: Voice language not supported. (code 442)" in str(error)


def test_the_older_vocal_ticket_answer_is_read():
    response = httpx.Response(200, json={"vocal_ticket": "vocal_1", "number_of_contacts": 1})
    call = API.send_voice_sms(text="x", recipients=["+33612345678"])
    assert call.parse(response).ticket_number == "vocal_1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text": "x" * 1225}, "text"),
        ({"text": ""}, "text"),
        ({"sender": "ab"}, "sender"),
        ({"sender": "with space"}, "sender"),
        ({"voice_language": "xx-XX"}, "voice_language"),
        ({"voice_gender": "robot"}, "voice_gender"),
        ({"purpose": "spam"}, "purpose"),
        ({"type": "sms"}, "type"),
        ({"request_id": "r" * 21}, "request_id"),
        ({"send_at": "next monday"}, "send_at"),
        ({"recipients": []}, "recipients"),
        ({"recipients": ["+336123456"] * 0 + [f"+3361234{i:04d}" for i in range(501)]}, "recipients"),
        ({"recipients": ["0612345678"]}, "recipients[0].phone_number"),
    ],
)
def test_bad_input_fails_before_any_request(kwargs, field):
    args = {"text": "hello", "recipients": ["+33612345678"], **kwargs}
    with pytest.raises(ValidationError) as info:
        API.send_voice_sms(**args)
    assert info.value.field == field


def test_exactly_1224_characters_and_500_recipients_are_accepted():
    call = API.send_voice_sms(text="x" * 1224, recipients=[f"+3361234{i:04d}" for i in range(500)])
    assert len(call.json["recipients"]) == 500 and call.idempotent is False
