"""Webhook parsers of every vendor (``vendors/<vendor>/events.py``) and the opt-out keywords.

The TeleVoIPs bodies are read byte for byte from the vendor's Postman collection (its "Webhooks"
folder); the Octopush, Velip and Kaleyra bodies follow PUBLIC-NOTES and the Kaleyra callback table.
Each parser must turn the vendor's body into normalized :class:`VoiceEvent` fields (kind, a stable
``event_id``, E.164 number, outcome, UTC times) and refuse anything else with
:class:`WebhookPayloadError` — never a ``KeyError``/``TypeError`` that the receiver would answer 500.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voice.delivery.optouts import DEFAULT_KEYWORDS, OptOutKeywords, derive_opt_outs, normalize_text
from airflow_provider_voice.models.campaign import OUTCOMES as CAMPAIGN_OUTCOMES
from airflow_provider_voice.models.events import EVENT_KINDS, VoiceEvent, WebhookPayloadError, WebhookRequest
from airflow_provider_voice.plugins.receiver import settings_from_connection
from airflow_provider_voice.vendors.kaleyra.events import CALLBACK_VARIABLES, callback_template, parse_call_callback
from airflow_provider_voice.vendors.octopush.events import parse_delivery_webhook, parse_stop_webhook
from airflow_provider_voice.vendors.televoips.events import parse_cdr_webhook, parse_message_webhook
from airflow_provider_voice.vendors.velip.events import parse_call_webhook

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc
RECEIVED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = RECEIVED + dt.timedelta(hours=1)
#: every outcome an event may carry: the campaign outcomes (minus "pending") and the event-only ones
EVENT_OUTCOMES = (set(CAMPAIGN_OUTCOMES) - {"pending"}) | {"delivered", "rejected", "opted_out"}
PARSERS: list[Callable[[WebhookRequest, str], list[VoiceEvent]]] = [
    parse_message_webhook,
    parse_cdr_webhook,
    parse_delivery_webhook,
    parse_stop_webhook,
    parse_call_webhook,
    parse_call_callback,
]


def request(
    body: bytes | str | Any = b"",
    *,
    content_type: str = "application/json",
    method: str = "POST",
    query: dict[str, str] | None = None,
    received_at: dt.datetime = RECEIVED,
) -> WebhookRequest:
    """A webhook request as the receiver hands it to a parser (a body that is not bytes or text is sent as JSON)."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return WebhookRequest(method, query or {}, body, content_type, received_at)


def check_normalized(event: VoiceEvent) -> None:
    """What every event must look like, whatever the vendor."""
    assert event.kind in EVENT_KINDS
    assert event.event_id
    assert event.received_at.tzinfo is not None
    if event.number is not None:
        assert event.number.startswith("+") and event.number[1:].isdigit(), event.number
    if event.outcome is not None:
        assert event.outcome in EVENT_OUTCOMES, event.outcome
    # a repr is what a log line shows: never a number or a text
    shown = repr(event).replace(f"status={event.status!r}", "")  # the vendor's status word is shown as sent
    assert "number=" not in shown and "text=" not in shown and "raw=" not in shown
    assert event.number is None or event.number[1:] not in shown


# -- TeleVoIPs: the spec's own bodies ------------------------------------------------------------
def _specs_dir() -> Path:
    for candidate in (
        Path(os.environ.get("VOICE_VENDOR_SPECS") or ROOT / "docs" / "vendor-specs"),
        ROOT.parent / "shared" / "vendor-specs",
    ):
        if (candidate / "televoips.postman.json").exists():
            return candidate
    pytest.skip("vendor-specs/televoips.postman.json not found")  # pragma: no cover
    raise AssertionError  # pragma: no cover


@pytest.fixture(scope="module")
def televoips_webhooks() -> dict[str, bytes]:
    """Raw body of each request of the Postman collection's "Webhooks" folder, by request name."""
    found: dict[str, bytes] = {}

    def walk(node: Any, inside: bool) -> None:
        if isinstance(node, dict):
            inside = inside or node.get("name") == "Webhooks"
            request_ = node.get("request")
            if inside and isinstance(request_, dict) and (request_.get("body") or {}).get("raw"):
                found[node["name"]] = request_["body"]["raw"].encode("utf-8")
            for child in node.get("item", []):
                walk(child, inside)

    walk(json.loads((_specs_dir() / "televoips.postman.json").read_text()), False)
    assert set(found) >= {
        "Incoming Message",
        "Outgoing Message Delivered",
        "Outgoing Message Failed",
        "Call Detail Record",
    }, sorted(found)
    return found


def test_televoips_message_received_from_the_spec(televoips_webhooks):
    (event,) = parse_message_webhook(request(televoips_webhooks["Incoming Message"]), "tv")
    check_normalized(event)
    assert event.vendor == "televoips" and event.conn_id == "tv"
    assert event.kind == "messages-received"
    assert event.event_id == "message-received:070468k1476ty5292yp2b2w2fuq2"
    assert event.ref == "070468k1476ty5292yp2b2w2fuq2"
    assert event.number == "+12345678900"  # the sender is the person
    assert event.account_number == "+12345678901"  # "to" is the account's own number
    assert event.direction == "inbound"
    assert event.text == "Test"
    assert event.status == "message-received" and event.outcome is None
    assert event.occurred_at == dt.datetime(2021, 8, 24, 12, 20, 17, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == dt.timedelta(0)
    assert event.raw["media"] == ["https://mms.televoips.com/070468k1476ty5292yp2b2w2fuq2.jpg"]
    assert event.raw["segmentCount"] == 1
    assert derive_opt_outs([event], OptOutKeywords()) == []  # "Test" is not an opt-out


def test_televoips_message_delivered_from_the_spec(televoips_webhooks):
    (event,) = parse_message_webhook(request(televoips_webhooks["Outgoing Message Delivered"]), "tv")
    check_normalized(event)
    assert event.kind == "deliveries"
    assert event.event_id == "message-delivered:292yp2b2w2fuq20y570468k1476t:12345678900"
    assert event.number == "+12345678900"  # the recipient
    assert event.account_number == "+12345678901"
    assert event.direction == "outbound"
    assert event.outcome == "delivered" and event.status == "message-delivered"
    assert event.error_code is None and event.error_message is None
    assert event.occurred_at == dt.datetime(2021, 8, 24, 12, 20, 17, tzinfo=UTC)


def test_televoips_message_failed_from_the_spec_keeps_error_code_4432(televoips_webhooks):
    (event,) = parse_message_webhook(request(televoips_webhooks["Outgoing Message Failed"]), "tv")
    check_normalized(event)
    assert event.kind == "deliveries"
    assert event.event_id == "message-failed:292yp2b2w2fuq20y570468k1476t:12345678900"
    assert event.number == "+12345678900"
    assert event.outcome == "failed" and event.status == "message-failed"
    assert event.error_code == "4432"
    assert event.error_message == "forbidden to country"
    assert event.raw["errorCode"] == 4432  # the vendor's payload, as received


def test_televoips_delivered_then_failed_are_two_events_and_replays_are_one(televoips_webhooks):
    delivered = parse_message_webhook(request(televoips_webhooks["Outgoing Message Delivered"]), "tv")[0]
    failed = parse_message_webhook(request(televoips_webhooks["Outgoing Message Failed"]), "tv")[0]
    assert delivered.key != failed.key  # same message id, different fate: both kept
    replay = parse_message_webhook(request(televoips_webhooks["Outgoing Message Failed"], received_at=LATER), "tv")[0]
    assert replay.event_id == failed.event_id and replay.key == failed.key
    other_conn = parse_message_webhook(request(televoips_webhooks["Outgoing Message Failed"]), "tv2")[0]
    assert other_conn.key != failed.key


def test_televoips_delivery_to_several_numbers_is_one_event_each():
    body = {
        "type": "message-delivered",
        "id": "m-2",
        "time": "2021-08-24 12:20:17",
        "to": ["14155552671", "+1 (415) 555-2672", 14155552673],
        "from": "12345678901",
    }
    events = parse_message_webhook(request(body), "tv")
    assert [e.number for e in events] == ["+14155552671", "+14155552672", "+14155552673"]
    assert len({e.key for e in events}) == 3


def test_televoips_cdr_array_from_the_spec(televoips_webhooks):
    (event,) = parse_cdr_webhook(request(televoips_webhooks["Call Detail Record"]), "tv")
    check_normalized(event)
    assert event.kind == "cdrs"
    assert event.event_id == "cdr:1629900254.9521335" and event.ref == "1629900254.9521335"
    assert event.status == "NO ANSWER" and event.outcome == "no_answer"
    assert event.duration_seconds == 30.0 and event.billed_seconds == 0.0
    assert event.occurred_at == dt.datetime(2021, 8, 25, 10, 4, 14, tzinfo=UTC)
    # "dst" is the extension 201 (not a phone number): the person is the caller "src"
    assert event.number == "+11234567890"
    assert event.account_number is not None  # "did" (its reading: test_national_numbers_read_in_the_vendor_region)
    assert event.raw["recordingfile"].endswith(".wav")
    assert event.raw["clid"] == '"Test" <1234567890>'


def test_televoips_cdr_array_of_several_records_and_dispositions():
    records = [
        {"uniqueid": f"16299002{i}.1", "disposition": d, "src": "14155552671", "dst": "14155552672"}
        for i, d in enumerate(["ANSWERED", "BUSY", "FAILED", "CONGESTION", " no  answer ", "SOMETHING NEW"])
    ]
    events = parse_cdr_webhook(request(records), "tv")
    assert [e.outcome for e in events] == ["answered", "busy", "failed", "failed", "no_answer", None]
    assert events[4].status == "NO ANSWER"
    assert events[0].number == "+14155552672"  # a dialled number is the person
    assert len({e.key for e in events}) == len(records)


# -- Octopush ------------------------------------------------------------------------------------
OCTOPUSH_STATUSES = {
    "DELIVERED": "answered",  # a voice message delivered was listened to
    "NOT_DELIVERED": "no_answer",
    "NOT_DELIVERABLE": "invalid_number",
    "BUSY": "busy",
    "REFUSED": "failed",
    "BLACKLISTED_NUMBER": "blocked",
}


def octopush_report(status: str, **changes: Any) -> dict[str, Any]:
    report = {
        "message_id": "sms_5f7c9b2a1d3e4",
        "number": "+33612345678",
        "status": status,
        "delivery_date": "2026-12-01 10:15:30",
        "call_duration": 31,
        "charged_duration": 60,
    }
    report.update(changes)
    return report


@pytest.mark.parametrize("status", sorted(OCTOPUSH_STATUSES))
def test_octopush_delivery_report_for_each_status(status):
    (event,) = parse_delivery_webhook(request(octopush_report(status)), "oc")
    check_normalized(event)
    assert event.vendor == "octopush" and event.kind == "deliveries"
    assert event.status == status and event.outcome == OCTOPUSH_STATUSES[status]
    assert event.event_id == f"report:sms_5f7c9b2a1d3e4:+33612345678:{status}"
    assert event.number == "+33612345678" and event.direction == "outbound"
    assert event.ref == "sms_5f7c9b2a1d3e4"
    assert event.duration_seconds == 31.0 and event.billed_seconds == 60.0
    # Octopush dates are Paris time: 10:15:30 CET is 09:15:30 UTC
    assert event.occurred_at == dt.datetime(2026, 12, 1, 9, 15, 30, tzinfo=UTC)


def test_octopush_statuses_are_exactly_the_documented_ones():
    assert set(OCTOPUSH_STATUSES) == {
        "DELIVERED",
        "NOT_DELIVERED",
        "NOT_DELIVERABLE",
        "BUSY",
        "REFUSED",
        "BLACKLISTED_NUMBER",
    }
    outcomes = {parse_delivery_webhook(request(octopush_report(s)), "oc")[0].outcome for s in OCTOPUSH_STATUSES}
    assert len(outcomes) == len(OCTOPUSH_STATUSES)  # no two statuses collapse into one outcome


def test_octopush_stop_callback_is_an_opt_out():
    body = {
        "message_id": "sms_5f7c9b2a1d3e4",
        "number": "+33612345678",
        "text": "STOP",
        "stop_date": "2026-07-01 10:00:00",
    }
    (event,) = parse_stop_webhook(request(body), "oc")
    check_normalized(event)
    assert event.kind == "opt-outs" and event.outcome == "opted_out" and event.status == "STOP"
    assert event.number == "+33612345678" and event.direction == "inbound"
    assert event.text == "STOP"
    assert event.occurred_at == dt.datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # CEST is UTC+2
    replay = parse_stop_webhook(request(body, received_at=LATER), "oc")[0]
    assert replay.key == event.key
    again_later = parse_stop_webhook(request({**body, "stop_date": "2026-07-02 10:00:00"}), "oc")[0]
    assert again_later.key != event.key  # a second STOP another day is another event


def test_octopush_status_in_lower_case_and_numbers_without_plus_and_arrays():
    reports = [octopush_report("delivered", number="33612345678"), octopush_report("BUSY", number="+33698765432")]
    events = parse_delivery_webhook(request(reports), "oc")
    assert [(e.status, e.outcome, e.number) for e in events] == [
        ("DELIVERED", "answered", "+33612345678"),
        ("BUSY", "busy", "+33698765432"),
    ]
    # two reports for the same message and number but different status are two events
    first, second = (parse_delivery_webhook(request(octopush_report(s)), "oc")[0] for s in ("BUSY", "DELIVERED"))
    assert first.key != second.key


@pytest.mark.parametrize("status", ["READ", "STOP", "expired"])
def test_octopush_undocumented_status_is_kept_with_no_outcome(status):
    """An undocumented status is stored (outcome unknown), not refused: Octopush would retry a 400 forever."""
    (event,) = parse_delivery_webhook(request(octopush_report(status)), "oc")
    check_normalized(event)
    assert event.status == status.upper() and event.outcome is None
    assert event.event_id == f"report:sms_5f7c9b2a1d3e4:+33612345678:{status.upper()}"


def test_octopush_delivery_report_time_is_utc_across_dst():
    winter = parse_delivery_webhook(request(octopush_report("DELIVERED", delivery_date="2026-01-15 12:00:00")), "oc")
    summer = parse_delivery_webhook(request(octopush_report("DELIVERED", delivery_date="2026-08-15 12:00:00")), "oc")
    assert winter[0].occurred_at == dt.datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
    assert summer[0].occurred_at == dt.datetime(2026, 8, 15, 10, 0, tzinfo=UTC)


# -- Velip ---------------------------------------------------------------------------------------
VELIP_CALL = {
    "cd_id": "c_88700",
    "ctid": "order-42",
    "dest": "5511987654321",
    "cd_called_status": "OK",
    "date": "2026-12-01",
    "time": "10:00:00",
    "dur": "42",
    "value": "0.15",
    "cp_id": "cp_9001",
}


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", json.dumps(VELIP_CALL)),
        ("application/x-www-form-urlencoded", urllib.parse.urlencode(VELIP_CALL)),
        ("", urllib.parse.urlencode(VELIP_CALL)),  # no Content-Type: a form is still read as one
        ("text/plain", json.dumps(VELIP_CALL)),  # a JSON body with a wrong Content-Type
    ],
    ids=["json", "form", "form-no-type", "json-text-plain"],
)
def test_velip_end_of_call_as_json_and_as_form(content_type, body):
    (event,) = parse_call_webhook(request(body, content_type=content_type), "ve")
    check_normalized(event)
    assert event.vendor == "velip" and event.kind == "calls-ended"
    assert event.event_id == "call:c_88700" and event.ref == "c_88700"
    assert event.number == "+5511987654321" and event.direction == "outbound"
    assert event.status == "OK" and event.outcome == "answered"
    assert event.correlation_id == "order-42" and event.campaign_ref == "cp_9001"
    assert event.duration_seconds == 42.0 and event.cost == 0.15
    # Velip's date/time are the account's local time: kept as written, without a zone (docs/vendors/velip.md)
    assert event.occurred_at == dt.datetime(2026, 12, 1, 10, 0, 0)


def test_velip_json_and_form_give_the_same_event():
    as_json = parse_call_webhook(request(VELIP_CALL), "ve")[0]
    as_form = parse_call_webhook(
        request(urllib.parse.urlencode(VELIP_CALL), content_type="application/x-www-form-urlencoded"), "ve"
    )[0]
    assert as_json.model_dump(exclude={"raw"}) == as_form.model_dump(exclude={"raw"})
    assert as_json.key == as_form.key


@pytest.mark.parametrize(
    "status, outcome",
    [
        ("OK", "answered"),
        ("NA", "no_answer"),
        ("EK", "invalid_number"),
        ("IK", "invalid_number"),
        ("CK", "blocked"),
        ("BK", "blocked"),
    ],
)
def test_velip_called_status(status, outcome):
    (event,) = parse_call_webhook(request({**VELIP_CALL, "cd_called_status": status.lower()}), "ve")
    assert event.status == status and event.outcome == outcome


# -- Kaleyra -------------------------------------------------------------------------------------
#: the callback's variables (spec table "List of variables supported over callback API", plus {id})
KALEYRA_END = {
    "id": "c2c_6f1e2d",
    "caller": "9988776655",
    "receiver": "9877665544",
    "status": "ANSWER",
    "status1": "ANSWER",
    "status2": "ANSWER",
    "duration": "65",
    "billsec": "55",
    "starttime": "1764583200",
    "endtime": "1764583265",
    "recordpath": "https://recordings.kaleyra.example/c2c_6f1e2d.mp3",
    "callerid": "8049312345",
}


def kaleyra_get(variables: dict[str, str]) -> WebhookRequest:
    return request(b"", method="GET", content_type="", query=variables)


def test_kaleyra_callback_template_names_every_spec_variable():
    spec_table = {"caller", "receiver", "starttime", "endtime", "duration", "billsec", "status", "status1"}
    spec_table |= {"status2", "recordpath", "callerid"}
    assert spec_table <= set(CALLBACK_VARIABLES)
    template = callback_template("https://af.example/voice-webhooks/ka/calls/tok")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(template).query))
    assert query == {name: "{" + name + "}" for name in CALLBACK_VARIABLES}


def test_kaleyra_end_of_call_get_with_every_variable():
    (event,) = parse_call_callback(kaleyra_get(KALEYRA_END), "ka")
    check_normalized(event)
    assert event.vendor == "kaleyra" and event.kind == "calls-ended"
    assert event.event_id == "calls-ended:c2c_6f1e2d" and event.ref == "c2c_6f1e2d"
    assert event.number == "+919877665544"  # the receiver (second leg), a 10-digit Indian number
    assert event.account_number == "+918049312345"  # the caller id used to dial
    assert event.status == "ANSWER" and event.outcome == "answered"
    assert event.duration_seconds == 65.0 and event.billed_seconds == 55.0
    assert event.occurred_at == dt.datetime.fromtimestamp(1764583265, tz=UTC)  # the end time, epoch -> UTC
    assert event.raw["recordpath"] == KALEYRA_END["recordpath"]
    assert event.raw["status1"] == "ANSWER" and event.raw["status2"] == "ANSWER"


@pytest.mark.parametrize("endtime", [None, "", "{endtime}", "%7Bendtime%7D", "0"], ids=repr)
def test_kaleyra_answer_callback_has_no_endtime(endtime):
    variables = {k: v for k, v in KALEYRA_END.items() if k not in ("endtime", "billsec", "status2", "recordpath")}
    if endtime is not None:
        variables["endtime"] = endtime
    (answer,) = parse_call_callback(kaleyra_get(variables), "ka")
    check_normalized(answer)
    assert answer.kind == "calls-answered"
    assert answer.event_id == "calls-answered:c2c_6f1e2d"
    assert answer.outcome is None  # the call is not over
    assert answer.occurred_at == dt.datetime.fromtimestamp(1764583200, tz=UTC)  # the start time
    (end,) = parse_call_callback(kaleyra_get(KALEYRA_END), "ka")
    assert end.key != answer.key  # the answer and the end of one call are two events


def test_kaleyra_unexpanded_variables_read_as_absent():
    variables = {**KALEYRA_END, "recordpath": "{recordpath}", "status2": "%7Bstatus2%7D", "billsec": "{billsec}"}
    (event,) = parse_call_callback(kaleyra_get(variables), "ka")
    assert "recordpath" not in event.raw and "status2" not in event.raw
    assert event.billed_seconds is None
    assert event.kind == "calls-ended"
    assert all("{" not in str(v) for v in event.raw.values())


def test_kaleyra_without_id_uses_caller_receiver_and_start():
    variables = {**KALEYRA_END, "id": "{id}"}
    (event,) = parse_call_callback(kaleyra_get(variables), "ka")
    assert event.event_id == "calls-ended:9988776655/9877665544/1764583200"
    assert event.ref is None


@pytest.mark.parametrize(
    "status, outcome",
    [
        ("NOANSWER", "no_answer"),
        ("BUSY", "busy"),
        ("FAILED", "failed"),
        ("DND", "blocked"),
        ("CHANUNAVAIL", "invalid_number"),
    ],
)
def test_kaleyra_end_status(status, outcome):
    (event,) = parse_call_callback(kaleyra_get({**KALEYRA_END, "status": status}), "ka")
    assert event.status == status and event.outcome == outcome


def test_kaleyra_post_form_and_json_equal_get():
    get = parse_call_callback(kaleyra_get(KALEYRA_END), "ka")[0]
    form = parse_call_callback(
        request(urllib.parse.urlencode(KALEYRA_END), content_type="application/x-www-form-urlencoded"), "ka"
    )[0]
    as_json = parse_call_callback(request(KALEYRA_END), "ka")[0]
    assert get.model_dump() == form.model_dump() == as_json.model_dump()


@pytest.mark.parametrize(
    "vendor, number, expected",
    [
        ("kaleyra", "9123456789", "+919123456789"),
        ("kaleyra", "8123456789", "+918123456789"),
        ("kaleyra", "9712345678", "+919712345678"),
        ("kaleyra", "9212345678", "+919212345678"),
        ("televoips", "3525932093", "+13525932093"),  # the spec CDR's "did"
        ("televoips", "8123456789", "+18123456789"),
    ],
)
def test_national_numbers_read_in_the_vendor_region(vendor, number, expected):
    if vendor == "kaleyra":
        (event,) = parse_call_callback(kaleyra_get({**KALEYRA_END, "receiver": number}), "ka")
        assert event.number == expected
    else:
        (event,) = parse_cdr_webhook(request([{"uniqueid": "1.1", "src": number, "did": number}]), "tv")
        assert event.number == expected and event.account_number == expected


# -- malformed bodies: WebhookPayloadError, never anything else --------------------------------
GOOD_MESSAGE = {"type": "message-failed", "id": "m-1", "to": ["12345678900"], "from": "12345678901"}


@pytest.mark.parametrize(
    "parser, body",
    [
        # wrong JSON type
        (parse_message_webhook, []),
        (parse_message_webhook, [GOOD_MESSAGE]),
        (parse_message_webhook, b'"message-received"'),
        (parse_message_webhook, b"null"),
        (parse_message_webhook, b"42"),
        # not JSON, not UTF-8, empty
        (parse_message_webhook, b"type=message-received&id=1"),
        (parse_message_webhook, b'{"type": "message-received", "id": '),
        (parse_message_webhook, b"\xff\xfe{}"),
        (parse_message_webhook, b""),
        # missing or unusable fields
        (parse_message_webhook, {k: v for k, v in GOOD_MESSAGE.items() if k != "id"}),
        (parse_message_webhook, {**GOOD_MESSAGE, "id": ""}),
        (parse_message_webhook, {**GOOD_MESSAGE, "id": {"value": "m-1"}}),
        (parse_message_webhook, {**GOOD_MESSAGE, "id": True}),
        (parse_message_webhook, {k: v for k, v in GOOD_MESSAGE.items() if k != "type"}),
        (parse_message_webhook, {**GOOD_MESSAGE, "type": "message-read"}),
        (parse_message_webhook, {**GOOD_MESSAGE, "type": ["message-failed"]}),
        (parse_message_webhook, {**GOOD_MESSAGE, "errorCode": {"code": 4432}}),
        # "to" not a list of numbers
        (parse_message_webhook, {**GOOD_MESSAGE, "to": [{"number": "12345678900"}]}),
        (parse_message_webhook, {**GOOD_MESSAGE, "to": [["12345678900"]]}),
        (parse_message_webhook, {**GOOD_MESSAGE, "to": [True]}),
        (parse_message_webhook, {**GOOD_MESSAGE, "to": {"0": "12345678900"}}),
        (parse_message_webhook, {**GOOD_MESSAGE, "to": False}),
        (parse_message_webhook, {**GOOD_MESSAGE, "to": []}),  # a delivery report to nobody
        (parse_message_webhook, {**GOOD_MESSAGE, "to": None}),
        # CDR array with a non-object, or records without an id
        (parse_cdr_webhook, [{"uniqueid": "1.1"}, 3]),
        (parse_cdr_webhook, [{"uniqueid": "1.1"}, None]),
        (parse_cdr_webhook, [[{"uniqueid": "1.1"}]]),
        (parse_cdr_webhook, b'"1.1"'),
        (parse_cdr_webhook, [{"src": "1234567890"}]),
        (parse_cdr_webhook, [{"uniqueid": {"id": 1}}]),
        (parse_cdr_webhook, [{"uniqueid": "1.1", "duration": "thirty"}]),
        (parse_cdr_webhook, [{"uniqueid": "1.1", "billsec": [0]}]),
        # Octopush: unknown status, missing fields, wrong shapes
        (parse_delivery_webhook, octopush_report("")),
        (parse_delivery_webhook, octopush_report(["DELIVERED"])),
        (parse_delivery_webhook, {k: v for k, v in octopush_report("BUSY").items() if k != "message_id"}),
        (parse_delivery_webhook, {k: v for k, v in octopush_report("BUSY").items() if k != "number"}),
        (parse_delivery_webhook, octopush_report("BUSY", call_duration="long")),
        (parse_delivery_webhook, []),
        (parse_delivery_webhook, [octopush_report("BUSY"), "x"]),
        (parse_stop_webhook, {"message_id": "m", "text": "STOP"}),
        (parse_stop_webhook, {"number": {"e164": "+33612345678"}}),
        (parse_stop_webhook, 7),
        # Velip
        (parse_call_webhook, {k: v for k, v in VELIP_CALL.items() if k != "cd_id"}),
        (parse_call_webhook, {**VELIP_CALL, "dur": "a while"}),
        (parse_call_webhook, {**VELIP_CALL, "cd_id": ["c_1"]}),
        (parse_call_webhook, [VELIP_CALL]),
        (parse_call_webhook, b"cd_id=%zz&&=="),
        # Kaleyra (a POST body that is not an object of text values)
        (parse_call_callback, [KALEYRA_END]),
        (parse_call_callback, {**KALEYRA_END, "duration": "sixty"}),
        (parse_call_callback, {**KALEYRA_END, "receiver": ["9877665544"]}),
        (parse_call_callback, {"status": "ANSWER"}),  # no id, nor caller/receiver/starttime
    ],
)
def test_malformed_bodies_are_webhook_payload_errors(parser, body):
    content_type = "" if isinstance(body, bytes) and not body.startswith(b'"') else "application/json"
    with pytest.raises(WebhookPayloadError) as info:
        parser(request(body, content_type=content_type), "c")
    message = str(info.value)
    assert message
    for number in ("12345678900", "33612345678", "5511987654321", "9877665544"):
        assert number not in message  # the reason never quotes a number


def test_kaleyra_get_without_any_variable_is_a_payload_error():
    with pytest.raises(WebhookPayloadError):
        parse_call_callback(kaleyra_get({}), "ka")
    with pytest.raises(WebhookPayloadError):
        parse_call_callback(kaleyra_get({"id": "{id}", "caller": "{caller}"}), "ka")


_ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, 1e308, "", " ", "{x}", "nan", "1e999", [], [1], {}, {"a": 1}, "\x00"]
_ODD_VALUES += ["2021-13-45 99:99:99", "99999999999999999999", "+33612345678"]
_BASES = {
    parse_message_webhook: GOOD_MESSAGE,
    parse_cdr_webhook: {"uniqueid": "1.1", "src": "1234567890", "dst": "201", "calldate": "2021-08-25 10:04:14"},
    parse_delivery_webhook: octopush_report("DELIVERED"),
    parse_stop_webhook: {
        "message_id": "m",
        "number": "+33612345678",
        "text": "STOP",
        "stop_date": "2026-12-01 10:00:00",
    },
    parse_call_webhook: VELIP_CALL,
    parse_call_callback: KALEYRA_END,
}


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
def test_any_odd_value_in_any_field_is_parsed_or_refused_cleanly(parser):
    """Each field of a good body replaced by odd values (and the body wrapped in arrays): events or a 400."""
    base = _BASES[parser]
    names = sorted({*base, "type", "id", "time", "to", "from", "text", "status", "number", "endtime", "starttime"})
    tried = 0
    for name in names:
        for value in _ODD_VALUES:
            for body in ({**base, name: value}, [{**base, name: value}], [{**base, name: value}, 1]):
                tried += 1
                try:
                    events = parser(request(body), "c")
                except WebhookPayloadError:
                    continue
                for event in events:
                    check_normalized(event)
                    event.model_dump_json()  # storable
    for raw in (b"", b"null", b"[]", b"[[]]", b"{", b"\xff", b"a=b&c", b"=&=", b"%zz", b"NaN", b'{"a": 1e999}'):
        for content_type in ("application/json", "application/x-www-form-urlencoded", "", "text/plain"):
            for method, query in (("POST", {}), ("GET", {"id": "{id}", "starttime": "-5", "endtime": "1e999"})):
                tried += 1
                try:
                    parser(request(raw, content_type=content_type, method=method, query=query), "c")
                except WebhookPayloadError:
                    pass
    assert tried > 500


# -- opt-out keywords ----------------------------------------------------------------------------
@pytest.mark.parametrize("language", sorted(DEFAULT_KEYWORDS))
def test_default_keywords_of_each_language_match(language):
    keywords = OptOutKeywords()
    for word in DEFAULT_KEYWORDS[language]:
        assert keywords.matches(word), word
        assert keywords.matches(word.lower()), word
        assert keywords.matches(f"  {word.title()} ! "), word


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop.",
        "stop!!!",
        " Stop ",
        "STOP\n",
        "\uff33\uff34\uff2f\uff30",  # STOP in full-width letters
        "Stop 🛑",
        "arrêt",
        "ARRET",
        "Arrêter.",
        "désinscription",
        "DESINSCRIPTION",
        "Désabonner",
        "stop sms",
        "Opt-out",
        "opt out",
        "OPT_OUT",
        "optout",
        "Unsubscribe!",
        "cancelar",
        "Descadastrar",
        "sair",
        "Darse de baja.",
        "baja",
        "STOP please",
        "Stop all",
        "stop, thanks",
    ],
)
def test_opt_out_messages(text):
    assert OptOutKeywords().matches(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "🛑",
        "...",
        "STOPPED",
        "unstoppable",
        "bajar",
        "please stop",
        "I want to stop",
        "Don't stop sending me the reminders",
        "Stop sending me all those messages please",  # starts with a keyword but is a sentence
        "Stop, the meeting moved to 5pm, see you there",
        "End of the month works for me",
        "Cancel my 3pm appointment and book Thursday",
        "Test",
        "yes",
    ],
)
def test_not_opt_out_messages(text):
    assert not OptOutKeywords().matches(text)


def test_normalize_text():
    assert normalize_text(" Désinscription, SVP ! ") == "DESINSCRIPTION SVP"
    assert normalize_text("opt-out") == "OPT OUT"
    assert normalize_text("\uff33\uff34\uff2f\uff30🛑") == "STOP"  # full-width letters


def test_custom_keywords_from_a_comma_string_replace_the_defaults():
    keywords = OptOutKeywords.parse(" halt, Ferma ,,  NÃO QUERO ")
    assert keywords.matches("HALT") and keywords.matches("ferma!") and keywords.matches("nao quero")
    assert keywords.matches("Halt please")
    assert not keywords.matches("STOP")  # the defaults are replaced
    assert not keywords.matches("halt all of these messages now please")
    assert OptOutKeywords.parse(["halt", " "]).matches("halt")
    for empty in (None, "", " , ,", []):
        assert OptOutKeywords.parse(empty) == OptOutKeywords()  # nothing given: the defaults
    assert OptOutKeywords(("stop",), max_words=1).matches("stop") and not OptOutKeywords(
        ("stop",), max_words=1
    ).matches("stop please")


@pytest.mark.parametrize("name", ["optout_keywords", "extra__televoips__optout_keywords"])
def test_connection_optout_keywords(name):
    settings = settings_from_connection("tv", "televoips", {name: "halt,ferma"})
    assert settings is not None
    assert settings.keywords.matches("Halt!") and not settings.keywords.matches("stop")
    default = settings_from_connection("tv", "televoips", {})
    assert default is not None and default.keywords.matches("stop")


def test_derive_opt_outs_from_an_inbound_stop():
    body = {
        "type": "message-received",
        "id": "in-1",
        "time": "2021-08-24 12:20:17",
        "to": ["12345678901"],
        "from": "33612345678",
        "text": "Arrêt !",
    }
    (message,) = parse_message_webhook(request(body), "tv")
    (opt_out,) = derive_opt_outs([message], OptOutKeywords())
    check_normalized(opt_out)
    assert opt_out.kind == "opt-outs" and opt_out.outcome == "opted_out"
    assert opt_out.event_id == "keyword:message-received:in-1"
    assert opt_out.number == message.number == "+33612345678"
    assert opt_out.status == "ARRET" and opt_out.text == "Arrêt !"
    assert opt_out.occurred_at == message.occurred_at
    replay = derive_opt_outs(parse_message_webhook(request(body, received_at=LATER), "tv"), OptOutKeywords())
    assert [e.key for e in replay] == [opt_out.key]
    # only inbound messages: an outbound message saying "STOP", or an opt-out itself, makes no (second) opt-out
    delivered = message.model_copy(update={"kind": "deliveries", "direction": "outbound", "text": "STOP"})
    octopush_stop = {"message_id": "m", "number": "+33612345678", "text": "STOP", "stop_date": "2026-12-01 10:00:00"}
    stop_events = parse_stop_webhook(request(octopush_stop), "oc")
    assert derive_opt_outs([delivered, *stop_events], OptOutKeywords()) == []


def test_kaleyra_a_nested_value_is_refused_not_dropped():
    """A JSON callback whose variable is an object is not the vendor's shape: a 400, never a silently empty field."""
    body = {**KALEYRA_END, "receiver": {"number": "9877665544"}}
    with pytest.raises(WebhookPayloadError, match="receiver"):
        parse_call_callback(request(body), "ka")
