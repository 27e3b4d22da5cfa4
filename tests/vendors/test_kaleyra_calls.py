"""Kaleyra call operations: click2call, block/unblock, follow-ups, progressive dialer (MockTransport, sync + async)."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pendulum
import pytest
from helpers import form

from airflow_provider_voice.errors import ValidationError, VendorRejectedError
from airflow_provider_voice.transport import SyncHttp
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_calls import (
    AUTODIAL_IMPORT_MAX,
    KaleyraBlockChunk,
    KaleyraCallbackTemplate,
    format_followup_time,
)

KEY = "kaleyra-key-0123456789"
SPEC_CALLBACK_ENCODED = (
    "http%3A%2F%2Fcallback-dot-com%2Fcallback%2F%3Ffrom%3D%7Bcaller%7D%26to%3D%7Breceiver%7D"
    "%26duration%3D%7Bduration%7D%26status%3D%7Bstatus1%7D"
)
SPEC_CALLBACK = "http://callback-dot-com/callback/?from={caller}&to={receiver}&duration={duration}&status={status1}"


def api(fmt: str = "json") -> KaleyraApi:
    return KaleyraApi(api_key=KEY, response_format=fmt, base_urls={"default": "https://kaleyra.test/v1/"})


def ok(data=None, message: str = "OK", status: str = "200") -> httpx.Response:
    body = {"status": status, "message": message}
    if data is not None:
        body["data"] = data
    return httpx.Response(200, json=body)


# -- click2call ---------------------------------------------------------------------------------
def test_click2call_sends_documented_fields_and_returns_id(make_driver):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"id": "c2c_5a7d85903dd7abcd"})

    result = make_driver(api(), handler).send(
        api().click2call(
            ["9988776655", "+91 98765 43210"],
            ["9123456789", "9812345678"],
            retry=2,
            delay=30,
            caller_id="8067000000",
            custom="order-42",
            meta={"ticket": 42},
            callback=SPEC_CALLBACK,
        )
    )
    assert result.call_id == "c2c_5a7d85903dd7abcd"
    (request,) = seen
    assert request.headers["x-api-key"] == KEY
    fields = form(request)
    assert fields["method"] == "dial.click2call"
    assert fields["caller"] == "9988776655-9876543210"
    assert fields["receiver"] == "9123456789^9812345678"
    assert fields["return"] == "1"
    assert fields["retry"] == "2" and fields["delay"] == "30"
    assert fields["caller_id"] == "8067000000" and fields["custom"] == "order-42"
    assert json.loads(fields["meta"]) == {"ticket": 42}
    # the callback travels URL-encoded exactly as the spec shows it
    assert f"callback={SPEC_CALLBACK_ENCODED}" in request.content.decode()


def test_click2call_xml_answer_id_is_trimmed(make_driver):
    xml = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<api>\n <status>200</status>\n <message>OK</message>\n'
        " <data>\n  <id> c2c_57XXXXXXXXXXXX</id>\n </data>\n</api>"
    )
    result = make_driver(api("xml"), lambda r: httpx.Response(200, text=xml)).send(
        api("xml").click2call("9988776655", "ivr:1234")
    )
    assert result.call_id == "c2c_57XXXXXXXXXXXX"


def test_click2call_is_never_resent_after_a_5xx(make_driver):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, text="bad gateway")

    with pytest.raises(Exception, match="502"):
        make_driver(api(), handler).send(api().click2call("9988776655", "9123456789"))
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"retry": 3}, "retry"),
        ({"retry": -1}, "retry"),
        ({"delay": -5}, "delay"),
        ({"custom": "has space"}, "custom"),
        ({"meta": "not a dict"}, "meta"),
        ({"callback": "ftp://x/{caller}"}, "callback"),
        ({"callback": "https://x/?a={unknown}"}, "callback"),
        ({"callback": "https://x/?a={caller"}, "callback"),
        ({"caller_id": "12"}, "caller_id"),
    ],
)
def test_click2call_bad_input(kwargs, field):
    with pytest.raises(ValidationError) as info:
        api().click2call("9988776655", "9123456789", **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("caller", "receiver", "field"),
    [("12", "9123456789", "caller"), ("9988776655", "ivr:abc", "receiver"), ([], "9123456789", "caller")],
)
def test_click2call_bad_numbers(caller, receiver, field):
    with pytest.raises(ValidationError) as info:
        api().click2call(caller, receiver)
    assert info.value.field == field


def test_callback_template_accepts_encoded_form_and_renders():
    template = KaleyraCallbackTemplate(SPEC_CALLBACK_ENCODED)
    assert template.url == SPEC_CALLBACK
    assert template.encoded == SPEC_CALLBACK_ENCODED
    assert template.variables == ("caller", "receiver", "duration", "status1")
    rendered = template.render(
        {"caller": "9988776655", "receiver": "9123456789", "duration": 10, "status1": "NO ANSWER"}
    )
    assert rendered == "http://callback-dot-com/callback/?from=9988776655&to=9123456789&duration=10&status=NO%20ANSWER"


# -- block / unblock ----------------------------------------------------------------------------
def test_block_chunks_comma_separated_numbers(make_driver):
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(form(request))
        return ok()

    numbers = [f"98765{i:05d}" for i in range(5)] + ["9876500000"]  # one duplicate
    result = make_driver(api(), handler).send(api().block(numbers, chunk_size=2))
    assert [f["number"] for f in seen] == ["9876500000,9876500001", "9876500002,9876500003", "9876500004"]
    assert all(f["method"] == "block" and "action" not in f for f in seen)
    assert result.requests == 3 and len(result.numbers) == 5 and result.action == "block"


def test_unblock_sends_action_delete(make_driver):
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(form(request))
        return ok()

    result = make_driver(api(), handler).send(api().unblock(["9876500000"]))
    assert seen == [{"method": "block", "format": "json", "number": "9876500000", "action": "delete"}]
    assert result.action == "unblock"


def test_block_progress_is_emitted_per_chunk_and_stops_at_a_refusal():
    answers = iter([ok(), httpx.Response(200, json={"status": "E102", "message": "Invalid parameter: number"})])
    http = SyncHttp(api(), http_client=httpx.Client(transport=httpx.MockTransport(lambda r: next(answers))))
    done: list[KaleyraBlockChunk] = []
    with pytest.raises(VendorRejectedError) as info:
        for chunk in http.iterate(api().block(["9876500000", "9876500001", "9876500002"], chunk_size=2)):
            done.append(chunk)
    assert [c.numbers for c in done] == [["9876500000", "9876500001"]]
    assert info.value.vendor_code == "E102"


def test_block_is_retried_after_a_5xx(make_driver):
    answers = iter([httpx.Response(503, text="busy"), ok()])
    result = make_driver(api(), lambda r: next(answers)).send(api().block("9876500000"))
    assert result.requests == 1


def test_block_validates_every_number_before_sending():
    with pytest.raises(ValidationError) as info:
        api().block(["9876500000", "nope"])
    assert info.value.field == "numbers[1]"
    with pytest.raises(ValidationError):
        api().block([])
    with pytest.raises(ValidationError):
        api().block(["9876500000"], chunk_size=0)


# -- follow-ups ---------------------------------------------------------------------------------
def test_followup_create_edit_delete(make_driver):
    seen: list[dict[str, str]] = []
    answers = iter(
        [
            ok({"id": "2354"}),
            ok({"id": "2354"}, "Follow-up updated successfully"),
            ok({"id": "2354"}, "Follow-up deleted successfully"),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(form(request))
        return next(answers)

    when = pendulum.datetime(2026, 3, 14, 13, 30, tz="UTC")  # 19:00 in India
    driver = make_driver(api(), handler)
    assert (
        driver.send(
            api().followup_create("9876543210", "John Doe", "9123456789", when, autocall=True, notes="call back")
        )
        == "2354"
    )
    assert driver.send(api().followup_edit("2354", "9876543210", "John", "9123456789", "15-03-2026 10-00")) == "2354"
    driver.send(api().followup_delete("2354", "9876543210", "John", "9123456789", "15-03-2026 10-00"))
    create, edit, delete = seen
    assert create == {
        "method": "followup",
        "format": "json",
        "phone": "9876543210",
        "name": "John Doe",
        "follower": "9123456789",
        "ontime": "14-03-2026 19-00",
        "autocall": "1",
        "notes": "call back",
    }
    assert edit["id"] == "2354" and edit["ontime"] == "15-03-2026 10-00" and edit["autocall"] == "0"
    assert delete == {  # the spec marks phone, name, follower and ontime mandatory for action=delete too
        "method": "followup",
        "format": "json",
        "id": "2354",
        "action": "delete",
        "phone": "9876543210",
        "name": "John",
        "follower": "9123456789",
        "ontime": "15-03-2026 10-00",
        "autocall": "0",
    }


def test_followup_time_forms():
    assert format_followup_time(dt.datetime(2026, 1, 2, 9, 5)) == "02-01-2026 09-05"  # naive = India time
    assert format_followup_time("2026-01-02T03:35:00Z") == "02-01-2026 09-05"
    assert format_followup_time("02-01-2026 09-05") == "02-01-2026 09-05"
    for bad in ("32-01-2026 09-05", "tomorrow", 12):
        with pytest.raises(ValidationError):
            format_followup_time(bad)


def test_followup_bad_input():
    with pytest.raises(ValidationError, match="name"):
        api().followup_create("9876543210", " ", "9123456789", "02-01-2026 09-05")
    with pytest.raises(ValidationError, match="follower"):
        api().followup_create("9876543210", "x", "1", "02-01-2026 09-05")
    with pytest.raises(ValidationError):
        api().followup_delete("", "9876543210", "John", "9123456789", "15-03-2026 10-00")
    with pytest.raises(ValidationError, match="phone, name, follower, ontime"):
        api().followup_delete("2354")


# -- progressive dialer -------------------------------------------------------------------------
def test_autodial_add_and_import(make_driver):
    seen: list[httpx.Request] = []
    message = "Number(s) added Successfully, Total Records(s) - 2, Processed Records(s) - 2"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "OK ", "message": message})

    driver = make_driver(api(), handler)
    added = driver.send(api().autodial_add("unique_name", "9876543210", {"profile": "custom1"}))
    imported = driver.send(
        api().autodial_import(
            "unique_name", [{"number": "9876543210", "customname": "A"}, {"number": "8012345678", "amount": 10}]
        )
    )
    assert added.total == 2 and imported.processed == 2
    add, imp = seen
    assert form(add)["method"] == "autodial.add" and json.loads(form(add)["meta"]) == {"profile": "custom1"}
    assert imp.url.params["method"] == "autodial.import" and imp.url.params["name"] == "unique_name"
    assert json.loads(imp.content) == {
        "data": [{"number": "9876543210", "customname": "A"}, {"number": "8012345678", "amount": "10"}]
    }


def test_autodial_import_more_than_1000_rows_is_refused_before_sending():
    rows = [{"number": f"98765{i:05d}"} for i in range(AUTODIAL_IMPORT_MAX + 1)]
    with pytest.raises(ValidationError) as info:
        api().autodial_import("camp", rows)
    assert info.value.field == "rows" and "1000" in info.value.rule
    api().autodial_import("camp", rows[:AUTODIAL_IMPORT_MAX])  # exactly 1000 is fine


@pytest.mark.parametrize(
    ("name", "rows"),
    [("bad name!", [{"number": "9876543210"}]), ("camp", []), ("camp", [{"name": "x"}]), ("camp", "9876543210")],
)
def test_autodial_import_bad_input(name, rows):
    with pytest.raises(ValidationError):
        api().autodial_import(name, rows)
