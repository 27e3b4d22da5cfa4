"""Held-out conformance: the vendors' own example requests and responses go through our builders and parsers.

* TeleVoIPs' spec numbers (``19876543210`` is *possible* but not in a range phonenumbers knows):
  opt-outs, blacklists and replies accept them; plain outbound sends stay strict unless relaxed;
* every example response of the Kaleyra and TeleVoIPs Postman collections is parsed (successes)
  or raised as the matching typed error (the documented error bodies);
* Kaleyra ``voice.*`` goes to the connection's own host when it is not Kaleyra's: no request ever
  reaches a production hostname the connection does not name;
* ``followup_delete`` sends every field the spec marks mandatory for ``action=delete``;
* Velip ``GetCallStatus`` reads ``calls`` inside ``return`` or beside it, and fails loudly on neither.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pendulum
import pytest
from helpers import form

from airflow_provider_voice.errors import AuthError, MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call, RetryPolicy
from airflow_provider_voice.vendors.base import VendorApi, VendorClient
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_core import KALEYRA_PRODUCTION_HOSTS
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsMessage
from airflow_provider_voice.vendors.velip import VelipApi

_SHARED_SPECS = Path(__file__).resolve().parents[3] / "shared" / "vendor-specs"
_COPY = Path(__file__).resolve().parents[2] / "docs" / "vendor-specs"  # the repository's copy of the specs
SPEC_DIR = Path(os.environ.get("VOICE_VENDOR_SPECS") or (_SHARED_SPECS if _SHARED_SPECS.exists() else _COPY))
TV = "televoips.postman.json"
KY = "kaleyra-voice.postman.json"
PRODUCTION_HOSTS = set(KALEYRA_PRODUCTION_HOSTS) | {"api.televoips.com", "vox.velip.com.br", "api.octopush.com"}


# -- the spec files ------------------------------------------------------------------------------
def collection(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    assert path.exists(), f"vendor spec {path} is missing (set VOICE_VENDOR_SPECS)"
    data = json.loads(path.read_text())
    return data.get("collection", data)


def requests_of(name: str) -> Iterator[dict[str, Any]]:
    """Every request item of a collection (folders walked)."""

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        for item in node.get("item", []):
            if "request" in item:
                yield item
            else:
                yield from walk(item)

    yield from walk(collection(name))


def request_item(name: str, request: str) -> dict[str, Any]:
    for item in requests_of(name):
        if item["name"] == request:
            return item
    raise LookupError(f"{request!r} not in {name}")


def form_fields(item: dict[str, Any]) -> dict[str, str]:
    """The enabled form fields of an example request."""
    body = item["request"].get("body") or {}
    mode = body.get("mode")
    return (
        {f["key"]: f.get("value", "") for f in body.get(mode, []) if not f.get("disabled")}
        if mode
        in (
            "formdata",
            "urlencoded",
        )
        else {}
    )


def examples(name: str, request: str) -> list[dict[str, Any]]:
    return request_item(name, request).get("response", [])


def televoips_example_numbers() -> set[str]:
    """Every phone number the TeleVoIPs collection shows: request forms, listed messages, webhooks."""
    numbers: set[str] = set()
    for item in requests_of(TV):
        for key, value in form_fields(item).items():
            if key in ("from", "to"):
                numbers.add(value)
        raw = (item["request"].get("body") or {}).get("raw")
        for text in [raw] + [r.get("body") for r in item.get("response", [])]:
            try:
                payload = json.loads(text or "")
            except ValueError:
                continue
            for row in payload if isinstance(payload, list) else [payload]:
                if isinstance(row, dict):
                    for key in ("from", "to"):
                        value = row.get(key)
                        for number in value if isinstance(value, list) else [value]:
                            if isinstance(number, str) and number.isdigit() and len(number) == 11:
                                numbers.add(number)
    return numbers


def mock_client(api: VendorApi, status: int, body: str, seen: list[httpx.Request] | None = None) -> VendorClient[Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, text=body)

    return VendorClient(
        api,
        retry=RetryPolicy(max_attempts=1),
        sleep=lambda s: None,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def send_or_run(client: VendorClient[Any], step: Any) -> Any:
    """A builder's request through the client: ``send`` for one call, ``run`` for a flow."""
    return client.send(step) if isinstance(step, Call) else client.run(step)


# -- TeleVoIPs: the spec's own numbers ----------------------------------------------------------------
def test_the_spec_numbers_are_possible_but_not_all_valid():
    numbers = televoips_example_numbers()
    assert {"13214567890", "19876543210", "12345678900", "12345678901"} <= numbers
    assert not PhoneNumber.parse("19876543210", strict=False).is_valid  # why strict parsing refused it
    with pytest.raises(ValidationError, match="not a valid number"):
        PhoneNumber.parse("19876543210")
    for number in numbers:
        assert PhoneNumber.parse(number, "US", strict=False).televoips == number


def test_unsubscribe_builder_takes_the_example_request_as_is():
    api = TeleVoipsApi(messaging_key="mk-0123456789")
    example = form_fields(request_item(TV, "Unsubscribe"))
    call = api.unsubscribe(example["from"], example["to"])
    assert dict(call.data) == example and call.path == "/unsubscribe"
    for person in televoips_example_numbers():  # any number TeleVoIPs showed can be unsubscribed
        assert api.unsubscribe(person, example["to"]).data["from"] == person


def test_reply_to_every_example_inbound_message():
    api = TeleVoipsApi(messaging_key="mk-0123456789")
    for name in ("Get Messages", "Get Message"):
        for example in examples(TV, name):
            if example["code"] != 200:
                continue
            for row in json.loads(example["body"]):
                message = TeleVoipsMessage.model_validate(row)
                assert message.direction == "inbound"
                call = api.reply(message, "Thanks!")
                assert dict(call.data) == {"from": row["to"], "to": row["from"], "content": "Thanks!"}
                assert api.reply(row, "again").data["to"] == row["from"]  # the listed dict works too
    with pytest.raises(ValidationError, match="inbound"):
        api.reply({"id": "x", "direction": "outbound", "to": "13214567890", "from": "19876543210"}, "no")


def test_outbound_send_is_strict_unless_relaxed():
    api = TeleVoipsApi(messaging_key="mk-0123456789")
    example = form_fields(request_item(TV, "Send Message"))
    with pytest.raises(ValidationError, match="to"):
        api.send_message(example["from"], example["to"], example["content"])
    relaxed = api.send_message(example["from"], example["to"], example["content"], strict_numbers=False)
    assert dict(relaxed.data) == example
    lenient = PhoneNumber.parse(example["to"], strict=False)
    with pytest.raises(ValidationError):  # a lenient number does not sneak into a strict send
        api.send_message(example["from"], lenient, "x")


def test_blacklist_operator_unsubscribes_the_spec_numbers_over_the_simulator(voice_connections, context):
    from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator

    sim = voice_connections
    sim.state.configure(televoips_numbers=["13214567890", "19876543210"])
    example = form_fields(request_item(TV, "Unsubscribe"))
    result = BlacklistNumbersOperator(
        task_id="optout", conn_id="televoips_default", numbers=[example["from"]], owned_number=example["to"]
    ).execute(context)
    assert result["changed"] == 1 and result["failed"] == 0 and result["invalid"] == 0
    # the realistic case: the person who texted from 19876543210 (Get Messages) opts out
    listed = next(e for e in examples(TV, "Get Messages") if e["code"] == 200)
    inbound = json.loads(listed["body"])[0]
    assert inbound["from"] == "19876543210"
    again = BlacklistNumbersOperator(
        task_id="optout2", conn_id="televoips_default", numbers=[inbound["from"]], owned_number=inbound["to"]
    ).execute(context)
    assert again["changed"] == 1 and again["invalid"] == 0
    entries = sim.state.ledger.entries("televoips", "unsubscribe")
    assert [(e.number, e.ref) for e in entries] == [
        (example["from"], example["to"]),
        (inbound["from"], inbound["to"]),
    ]


def test_blacklist_suppression_file_keeps_possible_numbers(voice_connections, context, tmp_path):
    """The opt-out file written by the operator reads back whole (a do-not-call list is never partial)."""
    from airflow_provider_voice.delivery import SuppressionList
    from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator

    voice_connections.state.configure(televoips_numbers=["13214567890"])
    path = tmp_path / "optouts.csv"
    result = BlacklistNumbersOperator(
        task_id="optout", conn_id="televoips_default", numbers=["19876543210"], owned_number="13214567890",
        suppression_file=str(path),
    ).execute(context)  # fmt: skip
    assert result["suppression_size"] == 1
    assert "+19876543210" in SuppressionList.load(str(path)).numbers


def test_simulator_replies_to_the_spec_number(voice_connections):
    """Over the simulator: an inbound text from the spec's number is answered (reply path)."""
    sim = voice_connections
    api = TeleVoipsApi(
        messaging_key=sim.state.config.televoips_messaging_key, base_urls={"default": sim.base_url("televoips")}
    )
    inbound = json.loads(next(e for e in examples(TV, "Get Message") if e["code"] == 200)["body"])[0]
    with VendorClient(api) as client:
        uuid = client.send(api.reply(inbound, "We got your message"))
    entry = sim.state.ledger.entries("televoips", "sms")[0]
    assert entry.number == inbound["from"] and entry.ref == uuid and entry.details["from"] == inbound["to"]


def test_kaleyra_block_accepts_possible_numbers_and_sends_stay_strict():
    api = KaleyraApi(api_key="ky-0123456789", base_urls={"default": "https://proxy.invalid/v1/"})
    seen: list[httpx.Request] = []
    with mock_client(api, 200, '{"status": "200", "message": "OK"}', seen) as client:
        client.run(api.block(["+19876543210", "9876543210"]))
        client.run(api.unblock(["+19876543210"]))
    assert [form(r)["number"] for r in seen] == ["19876543210,9876543210", "19876543210"]
    with pytest.raises(ValidationError):
        api.click2call("+19876543210", "9876543210")


# -- every example response is parsed, or raised as its typed error ---------------------------------
ONTIME = pendulum.now("Asia/Kolkata").add(days=1).strftime("%d-%m-%Y %H-%M")
KALEYRA_BUILDERS: dict[str, Callable[[KaleyraApi], Any]] = {
    "Click-to-Call": lambda a: a.click2call("9988776655", "9876543210"),
    "Click-to-Call Status": lambda a: a.c2c_status(call_id="c2c_5a7d85903dd7xxxx"),
    "Get Call Details": lambda a: a.dial(),
    "Blacklist a Number": lambda a: a.block(["9876543210"]),
    "Undo Number Blacklist": lambda a: a.unblock(["9876543210"]),
    "Create Call Follow Up": lambda a: a.followup_create("9876543210", "John", "9123456789", ONTIME),
    "Edit a Call Follow Up": lambda a: a.followup_edit("2354", "9876543210", "John", "9123456789", ONTIME),
    "Get Call Follow Up Report": lambda a: a.followup_reports(),
    "Health status API": lambda a: a.monitor(),
    "Progressive dialer upload API": lambda a: a.autodial_add("unique_name", "9876543210", {"profile": "custom1"}),
    "Progressive dialer Bulk upload API": lambda a: a.autodial_import(
        "Uniquename", [{"number": "9712345678", "customname": "customvalue"}, {"number": "8012345678"}]
    ),
    "Start OBD Call": lambda a: a.voice_call(["9876543210"], play="123.sound"),
    "OBD call using JSON data": lambda a: a.voice_json([{"to": "9876543210"}], play="123.sound"),
    "Check Obd Call Status": lambda a: a.voice_status("123456-1"),
    "Check OBD call group status": lambda a: a.voice_groupstatus("123456"),
}
#: example bodies our parsers refuse on purpose, with the reason (a change of policy must update this)
KALEYRA_REFUSED = {
    "Start OBD Call": "a bare 200 without 'data' names no call ids: it is reported as malformed, never as "
    "'every call accepted' (the calls could not be tracked)",
}


def _kaleyra_examples() -> list[tuple[str, str, int, str]]:
    return [
        (item["name"], example["name"], example["code"], example.get("body") or "")
        for item in requests_of(KY)
        for example in item.get("response", [])
    ]


@pytest.mark.parametrize(("request_name", "example", "code", "body"), _kaleyra_examples())
def test_kaleyra_example_responses_are_parsed(request_name, example, code, body):
    api = KaleyraApi(api_key="ky-0123456789", base_urls={"default": "https://proxy.invalid/v1/"})
    seen: list[httpx.Request] = []
    with mock_client(api, code, body, seen) as client:
        if request_name in KALEYRA_REFUSED:
            with pytest.raises(MalformedResponseError):
                send_or_run(client, KALEYRA_BUILDERS[request_name](api))
            return
        result = send_or_run(client, KALEYRA_BUILDERS[request_name](api))
    assert result is not None
    assert all(r.url.host == "proxy.invalid" for r in seen)


def test_every_kaleyra_request_of_the_spec_has_a_builder():
    assert {item["name"] for item in requests_of(KY)} == set(KALEYRA_BUILDERS)


TELEVOIPS_BUILDERS: dict[str, Callable[[TeleVoipsApi], Any]] = {
    "Request CDR report": lambda a: a.request_cdr_report(),
    "Get Messages": lambda a: a.list_messages(),
    "Get Message": lambda a: a.get_message("123456789abcdefghijk"),
    "Send Message": lambda a: a.send_message("13214567890", "19876543210", "Test", strict_numbers=False),
    "Unsubscribe": lambda a: a.unsubscribe("13214567890", "19876543210"),
}


def _televoips_examples() -> list[tuple[str, str, int, str]]:
    return [
        (item["name"], example["name"], example["code"], example.get("body") or "")
        for item in requests_of(TV)
        if item["name"] in TELEVOIPS_BUILDERS
        for example in item.get("response", [])
    ]


@pytest.mark.parametrize(("request_name", "example", "code", "body"), _televoips_examples())
def test_televoips_example_responses_are_parsed_or_typed(request_name, example, code, body):
    api = TeleVoipsApi(
        reports_key="rk-0123456789", messaging_key="mk-0123456789", base_urls={"default": "https://tv.invalid"}
    )
    with mock_client(api, code, body) as client:
        build = TELEVOIPS_BUILDERS[request_name](api)
        if code in (401, 403):
            with pytest.raises(AuthError):
                client.send(build)
        elif code >= 400:
            with pytest.raises(VendorRejectedError) as info:
                client.send(build)
            assert info.value.vendor_message == body.strip().strip("'\"") or json.loads(body)["message"]
        else:
            result = client.send(build)
            if request_name.startswith("Get Message"):
                assert [m.id for m in result] == [row["id"] for row in json.loads(body)]
            elif request_name == "Send Message":
                assert result == json.loads(body)["uuid"]
            elif request_name == "Request CDR report":
                assert result.status == json.loads(body)["status"]


# -- Kaleyra voice.* on the connection's own host ---------------------------------------------------
@pytest.mark.parametrize("host", ["https://kaleyra-proxy.corp.invalid/v1/", "http://127.0.0.1:9/kaleyra/v1"])
def test_kaleyra_voice_methods_follow_a_custom_base_url(host):
    api = KaleyraApi(api_key="ky-0123456789", base_urls={"default": host})
    assert api.base_urls["obd"] == api.base_urls["default"] == host
    body = json.dumps(
        {
            "status": "200",
            "message": "OK",
            "data": {"0": {"id": "1-1", "mobile": "9876543210", "status": "SENT"}, "group_id": 1},
        }
    )
    seen: list[httpx.Request] = []
    with mock_client(api, 200, body, seen) as client:
        client.send(api.voice_call(["9876543210"], play="1.sound"))
        client.send(api.voice_json([{"to": "9876543210"}], play="1.sound"))
        client.send(api.voice_status("1-1"))
        client.send(api.voice_groupstatus("1"))
    assert len(seen) == 4
    assert {str(r.url).split("?")[0].rstrip("/") for r in seen} == {host.rstrip("/")}
    assert not {r.url.host for r in seen} & PRODUCTION_HOSTS


def test_kaleyra_production_base_url_keeps_the_obd_host():
    assert KaleyraApi(api_key="k-12345").base_urls["obd"] == "https://obd.kaleyra.com/api/v1/"
    explicit = KaleyraApi(api_key="k-12345", base_urls={"default": "https://api-voice.kaleyra.com/v1/"})
    assert explicit.base_urls["obd"] == "https://obd.kaleyra.com/api/v1/"
    both = KaleyraApi(
        api_key="k-12345", base_urls={"default": "https://a.invalid/v1/", "obd": "https://b.invalid/obd/"}
    )
    assert both.base_urls["obd"] == "https://b.invalid/obd/"


@pytest.fixture
def kaleyra_host_only(simulator, monkeypatch):
    """A Kaleyra connection naming only the simulator's host (no obd_base_url)."""
    conn = {
        "conn_type": "kaleyra",
        "host": simulator.base_url("kaleyra"),
        "password": simulator.state.config.kaleyra_api_key,
    }
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_HOST_ONLY", json.dumps(conn))
    sent: list[httpx.Request] = []
    original = httpx.Client.send

    def recording(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        sent.append(request)
        assert request.url.host not in PRODUCTION_HOSTS, f"request to production host {request.url}"
        return original(self, request, **kwargs)

    original_async = httpx.AsyncClient.send

    async def arecording(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        sent.append(request)
        assert request.url.host not in PRODUCTION_HOSTS, f"request to production host {request.url}"
        return await original_async(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", recording)
    monkeypatch.setattr(httpx.AsyncClient, "send", arecording)
    return simulator, sent


def test_kaleyra_hook_sends_voice_to_the_simulator_host(kaleyra_host_only):
    from airflow_provider_voice.hooks.kaleyra import KaleyraHook

    sim, sent = kaleyra_host_only
    hook = KaleyraHook("kaleyra_host_only")
    assert hook.api.base_urls["obd"] == sim.base_url("kaleyra")
    result = hook.client.send(hook.api.voice_call(["9876543210", "9876543211"], play="123.sound"))
    status = hook.client.send(hook.api.voice_groupstatus(result.group_id))
    assert {c.mobile for c in status.calls} == {"9876543210", "9876543211"}
    assert sorted(e.number for e in sim.state.ledger.entries("kaleyra", "call")) == ["9876543210", "9876543211"]
    assert sent and all(r.url.host == "127.0.0.1" for r in sent)


def test_kaleyra_campaign_operator_with_a_host_only_connection(kaleyra_host_only, tmp_path):
    from types import SimpleNamespace

    from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator

    sim, sent = kaleyra_host_only
    ti = SimpleNamespace(dag_id="d", task_id="send", run_id="r1", map_index=-1, try_number=1)
    result = SendVoiceCampaignOperator(
        task_id="send", conn_id="kaleyra_host_only", recipients=["+919876543210", "+919876543211"],
        campaign_name="conformance", message="Hello", checkpoint_path=str(tmp_path), wait_for_completion=False,
    ).execute({"ti": ti, "run_id": "r1", "data_interval_start": None, "data_interval_end": None})  # fmt: skip
    assert result["accepted"] == 2
    assert len(sim.state.ledger.entries("kaleyra", "call")) == 2
    assert sent and all(r.url.host == "127.0.0.1" for r in sent)


def test_kaleyra_hook_refuses_custom_host_with_production_obd(simulator, monkeypatch):
    from airflow_provider_voice.hooks.kaleyra import KaleyraHook

    conn = {
        "conn_type": "kaleyra",
        "host": simulator.base_url("kaleyra"),
        "password": "k-12345",
        "extra": {"obd_base_url": "https://obd.kaleyra.com/api/v1/"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_KALEYRA_MIXED", json.dumps(conn))
    with pytest.raises(ValidationError, match="obd_base_url"):
        _ = KaleyraHook("kaleyra_mixed").api


def test_kaleyra_connection_form_has_no_production_obd_default():
    from airflow_provider_voice.vendors.registry import CONNECTION_TYPES

    assert CONNECTION_TYPES["kaleyra"].extra_fields["obd_base_url"].default is None


def test_simulator_serves_voice_methods_on_its_main_kaleyra_host(simulator):
    with httpx.Client(trust_env=False) as http:
        answer = http.post(
            simulator.base_url("kaleyra"),
            headers={"x-api-key": simulator.state.config.kaleyra_api_key},
            data={"method": "voice.call", "numbers": "9876543210", "play": "1.sound", "format": "json"},
        ).json()
    assert answer["status"] == "200" and answer["data"]["group_id"]


# -- followup_delete carries the spec's mandatory fields ---------------------------------------------
def test_followup_delete_sends_the_mandatory_fields():
    api = KaleyraApi(api_key="ky-0123456789", base_urls={"default": "https://proxy.invalid/v1/"})
    edit = request_item(KY, "Edit a Call Follow Up")
    mandatory = set(form_fields(edit)) - {"format"}  # method, phone, name, follower, ontime, autocall, id
    call = api.followup_delete("2360", "9876543210", "John", "9123456789", ONTIME)
    assert mandatory | {"action"} <= set(call.data)
    assert call.data["action"] == "delete" and call.data["id"] == "2360" and call.data["method"] == "followup"
    with pytest.raises(ValidationError, match="phone, name, follower, ontime"):
        api.followup_delete("2360")
    with pytest.raises(ValidationError, match="ontime"):
        api.followup_delete("2360", "9876543210", "John", "9123456789")


def test_followup_delete_operator_over_the_simulator_fills_the_fields(voice_connections, context):
    from airflow_provider_voice.operators.kaleyra import KaleyraFollowUpOperator

    sim = voice_connections
    when = pendulum.now("Asia/Kolkata").add(days=3).replace(hour=10, minute=15, second=0, microsecond=0)
    created = KaleyraFollowUpOperator(
        task_id="c", phone="9876543210", name="Renewal", follower="9123456789", ontime=when
    ).execute(context)
    seen: list[dict[str, str]] = []
    original = httpx.Client.send

    def recording(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        seen.append(form(request))
        return original(self, request, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.Client, "send", recording)
        KaleyraFollowUpOperator(task_id="d", action="delete", followup_id=created["id"]).execute(context)
    delete = [f for f in seen if f.get("action") == "delete"]
    assert len(delete) == 1
    expected = {
        "method": "followup", "action": "delete", "id": created["id"], "phone": "9876543210", "name": "Renewal",
        "follower": "9123456789", "ontime": when.strftime("%d-%m-%Y %H-%M"),
    }  # fmt: skip
    assert expected.items() <= delete[0].items()
    assert created["id"] not in sim.state.kaleyra.followups


# -- Velip GetCallStatus: calls inside return, beside it, or neither -----------------------------------
CALL = {"cd_id": "c_88700", "ctid": "a1", "cp_id": "", "cd_status": "OK", "dest": "5511987654321",
        "date": "2026-12-01", "time": "10:00:00", "dur": 12, "value": 0.15}  # fmt: skip
ENVELOPE = {"status": "OK", "status_code": "0"}


def _velip_page(body: dict[str, Any]) -> Any:
    api = VelipApi(token="velip-0123456789", base_urls={"default": "https://velip.invalid"})
    with mock_client(api, 200, json.dumps(body)) as client:
        return client.send(api.get_call_status(cp_id="5001"))


@pytest.mark.parametrize(
    "body",
    [
        {"return": {**ENVELOPE, "calls": [CALL], "pagination": {"has_more": True, "next_id": "c_88700"}}},
        {"return": ENVELOPE, "calls": [CALL], "pagination": {"has_more": True, "next_id": "c_88700"}},
        {"return": {**ENVELOPE, "calls": [CALL]}, "pagination": {"has_more": "true", "next_id": "c_88700"}},
        {"return": {**ENVELOPE, "calls": {"0": CALL}, "pagination": {"has_more": 1, "next_id": "c_88700"}}},
    ],
    ids=["inside", "beside", "calls-inside-pagination-beside", "php-object"],
)
def test_velip_call_status_reads_calls_inside_or_beside_return(body):
    page = _velip_page(body)
    assert [c.cd_id for c in page.calls] == ["c_88700"] and page.has_more and page.next_id == "c_88700"


@pytest.mark.parametrize("calls", [[], None, {}])
def test_velip_call_status_empty_page_is_empty(calls):
    page = _velip_page({"return": ENVELOPE, "calls": calls})
    assert page.calls == [] and not page.has_more


@pytest.mark.parametrize(
    "body",
    [
        {"return": ENVELOPE},
        {"return": {**ENVELOPE, "rows": [CALL]}},
        {"return": ENVELOPE, "data": {"calls": [CALL]}},
        {"return": {**ENVELOPE, "calls": [CALL]}, "calls": []},
        {"return": {**ENVELOPE, "calls": "c_88700"}},
        {"return": {**ENVELOPE, "calls": [CALL], "pagination": "more"}},
    ],
    ids=["neither", "other-key", "nested-elsewhere", "conflicting", "not-a-list", "bad-pagination"],
)
def test_velip_call_status_without_calls_fails_loudly(body):
    with pytest.raises(MalformedResponseError, match="GetCallStatus"):
        _velip_page(body)


def test_velip_call_status_flow_never_ends_silently_on_a_shapeless_page():
    api = VelipApi(token="velip-0123456789", base_urls={"default": "https://velip.invalid"})
    pages = iter([
        {"return": ENVELOPE, "calls": [CALL], "pagination": {"has_more": True, "next_id": "c_88700"}},
        {"return": ENVELOPE},
    ])  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=next(pages))

    client = VendorClient(api, http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    rows: list[Any] = []
    with pytest.raises(MalformedResponseError):
        for row in client.iterate(api.call_status_flow(cp_id="5001")):
            rows.append(row)
    assert [r.cd_id for r in rows] == ["c_88700"]


def test_velip_call_status_over_the_simulator(simulator):
    api = VelipApi(token=simulator.state.config.velip_token, base_urls={"default": simulator.base_url("velip")})
    with VendorClient(api) as client:
        made = client.send(api.make_tts_call("5511987654321", text="Olá"))
        page = client.send(api.get_call_status(cd_id=made.cd_id))
    assert [c.cd_id for c in page.calls] == [made.cd_id]
