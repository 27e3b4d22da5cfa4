"""Auth failures and other spec'd bodies equal the vendors' published examples."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import httpx
import pytest
from simtest_support import KALEYRA_AUTH, OCTOPUSH_AUTH, TELEVOIPS_MESSAGING, TELEVOIPS_REPORTS, spec_example

from airflow_provider_voice.testing import SimulatorServer

TV = "televoips.postman.json"
KY = "kaleyra-voice.postman.json"


def _json(text: str) -> object:
    return json.loads(text)


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}], ids=["no-key", "wrong-key"])
def test_televoips_cdr_report_access_denied(
    simulator: SimulatorServer, http: httpx.Client, headers: dict[str, str]
) -> None:
    expected = spec_example(TV, "Request CDR report", "CDR report no api key")
    r = http.get(f"{simulator.base_url('televoips')}/reports/cdrs", headers=headers)
    assert r.status_code == expected["code"] == 403
    assert r.text == expected["body"] == "'Access Denied'"


def test_televoips_cdr_report_bad_request(simulator: SimulatorServer, http: httpx.Client) -> None:
    expected = spec_example(TV, "Request CDR report", "CDR report error")
    r = http.get(
        f"{simulator.base_url('televoips')}/reports/cdrs",
        params={"date": "2020-01-01' OR 1=1"},
        headers=TELEVOIPS_REPORTS,
    )
    assert r.status_code == expected["code"] == 400
    assert r.text == expected["body"]


def test_televoips_download_forbidden_and_unauthorized(simulator: SimulatorServer, http: httpx.Client) -> None:
    url = f"{simulator.base_url('televoips')}/reports/cdrs/12cd2374dc/cdrs_2020-01-01.csv"
    forbidden = spec_example(TV, "Download CDR report file", "Download file no api key")
    unauthorized = spec_example(TV, "Download CDR report file", "Download file error")
    r = http.get(url)
    assert (r.status_code, r.json()) == (forbidden["code"], _json(forbidden["body"]))
    r = http.get(url, headers={"x-api-key": "wrong"})
    assert (r.status_code, r.json()) == (unauthorized["code"], _json(unauthorized["body"]))


@pytest.mark.parametrize(
    ("method", "path", "request_name", "example"),
    [
        ("GET", "/messages", "Get Messages", "Get Messages Unauthorized"),
        ("GET", "/messages/abc", "Get Message", "Get Messages Unauthorized"),
        ("POST", "/messages", "Send Message", "Send Message Unauthorized"),
        ("POST", "/unsubscribe", "Unsubscribe", "Unsubscribe Unauthorized"),
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "wrong"}, {"Authorization": "Bearer sim-televoips-messaging-key"}]
)
def test_televoips_messaging_unauthorized(
    simulator: SimulatorServer,
    http: httpx.Client,
    method: str,
    path: str,
    request_name: str,
    example: str,
    headers: dict[str, str],
) -> None:
    expected = spec_example(TV, request_name, example)
    r = http.request(
        method,
        f"{simulator.base_url('televoips')}{path}",
        headers=headers,
        data={"from": "13214567890", "to": "19876543210"} if method == "POST" else None,
    )
    assert (r.status_code, r.json()) == (expected["code"], _json(expected["body"]))


def test_televoips_send_and_unsubscribe_errors(simulator: SimulatorServer, http: httpx.Client) -> None:
    base = simulator.base_url("televoips")
    not_owned = spec_example(TV, "Send Message", "Send Message Unauthorized Number")
    r = http.post(
        f"{base}/messages",
        headers=TELEVOIPS_MESSAGING,
        data={"from": "15550000000", "to": "19876543210", "content": "Test"},
    )
    assert (r.status_code, r.json()) == (not_owned["code"], _json(not_owned["body"]))
    unsub_not_owned = spec_example(TV, "Unsubscribe", "Unsubscribe Unauthorized Number")
    r = http.post(f"{base}/unsubscribe", headers=TELEVOIPS_MESSAGING, data={"from": "19876543210", "to": "15550000000"})
    assert (r.status_code, r.json()) == (unsub_not_owned["code"], _json(unsub_not_owned["body"]))
    complete = spec_example(TV, "Unsubscribe", "Unsubscribe Complete")
    r = http.post(f"{base}/unsubscribe", headers=TELEVOIPS_MESSAGING, data={"from": "19876543210", "to": "13214567890"})
    assert (r.status_code, r.text) == (complete["code"], complete["body"]) == (200, "")


def test_televoips_send_message_shape(simulator: SimulatorServer, http: httpx.Client) -> None:
    example = _json(spec_example(TV, "Send Message", "Send Message Complete")["body"])
    r = http.post(
        f"{simulator.base_url('televoips')}/messages",
        headers=TELEVOIPS_MESSAGING,
        data={"from": "13214567890", "to": "19876543210", "content": "Test"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body.keys() == example.keys()
    assert len(body["uuid"]) == len(example["uuid"]) == 28
    assert body["uuid"].isalnum() and body["uuid"] == body["uuid"].lower()


def test_televoips_message_list_shape(simulator: SimulatorServer, http: httpx.Client) -> None:
    example = _json(spec_example(TV, "Get Messages", "Get Messages Complete")["body"])
    base = simulator.base_url("televoips")
    http.post(
        f"{base}/messages",
        headers=TELEVOIPS_MESSAGING,
        data={"from": "13214567890", "to": "19876543210", "content": "Test"},
    )
    listed = http.get(f"{base}/messages", headers=TELEVOIPS_MESSAGING).json()
    assert [m.keys() for m in listed] == [example[0].keys()]
    one = http.get(f"{base}/messages/{listed[0]['id']}", headers=TELEVOIPS_MESSAGING).json()
    assert one == listed


@pytest.mark.parametrize(
    "headers", [{}, {"api-login": "sim@example.com"}, {"api-login": "sim@example.com", "api-key": "nope"}]
)
@pytest.mark.parametrize("call", ["send", "balance"])
def test_octopush_unauthorized(
    simulator: SimulatorServer, http: httpx.Client, headers: dict[str, str], call: str
) -> None:
    base = simulator.base_url("octopush")
    if call == "send":
        r = http.post(
            f"{base}/v1/public/voice-campaign/send",
            headers=headers,
            json={"text": "hi", "recipients": [{"phone_number": "+33600000000"}]},
        )
    else:
        r = http.get(f"{base}/v1/public/wallet/check-balance", headers=headers)
    assert (r.status_code, r.json()) == (401, {"code": 401, "message": "Unauthorized."})
    assert not simulator.state.ledger.entries("octopush")


def test_octopush_bad_language_matches_spec(simulator: SimulatorServer, http: httpx.Client) -> None:
    payload = {"text": "hello", "recipients": [{"phone_number": "+33600000000"}], "voice_language": "xx-XX"}
    r = http.post(
        f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send", headers=OCTOPUSH_AUTH, json=payload
    )
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "message": "Payload validation error.",
        "errors": {"voice_language": {"code": 442, "message": "Voice language not supported."}},
    }


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_kaleyra_invalid_key(simulator: SimulatorServer, http: httpx.Client, headers: dict[str, str], fmt: str) -> None:
    r = http.post(simulator.base_url("kaleyra"), headers=headers, data={"method": "monitor", "format": fmt})
    assert r.status_code == 401
    if fmt == "json":
        assert r.json() == {"status": "E401", "message": "Invalid API key"}
    else:
        root = ET.fromstring(r.text)
        assert (root.tag, root.findtext("status"), root.findtext("message")) == ("api", "E401", "Invalid API key")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "nope"}, {"Authorization": "Bearer nope"}])
def test_velip_auth_failures(simulator: SimulatorServer, http: httpx.Client, headers: dict[str, str]) -> None:
    r = http.post(
        f"{simulator.base_url('velip')}/api/v2/MakeTTSCall",
        headers=headers,
        json={"dest": "5511999990000", "text": "hi"},
    )
    assert r.status_code == 401
    if not headers:
        assert r.json() == {"return": {"status": "No user or password", "status_code": "130"}}
    else:
        assert r.json() == {"return": {"status": "Session ID is not valid", "status_code": "100"}}
    assert not simulator.state.ledger.entries("velip")


def _xml_shape(text: str) -> list[str]:
    """Element paths of an XML document (tag structure, no text)."""
    root = ET.fromstring(text[text.index("<") :] if not text.lstrip().startswith("<") else text.strip())
    paths: list[str] = []

    def walk(node: ET.Element, prefix: str) -> None:
        path = f"{prefix}/{node.tag}"
        if path not in paths:
            paths.append(path)
        for child in node:
            walk(child, path)

    walk(root, "")
    return sorted(paths)


@pytest.mark.parametrize(
    ("request_name", "form"),
    [
        ("Blacklist a Number", {"method": "block", "number": "9876543210"}),
        ("Undo Number Blacklist", {"method": "block", "number": "9876543210", "action": "delete"}),
        ("Health status API", {"method": "monitor"}),
        (
            "Progressive dialer upload API",
            {"method": "autodial.add", "number": "9876543210", "name": "unique_name", "meta": '{"profile":"custom1"}'},
        ),
        (
            "Create Call Follow Up",
            {
                "method": "followup",
                "phone": "9876543210",
                "name": "John",
                "follower": "9123456780",
                "ontime": "14-10-2030 19-00",
            },
        ),
    ],
)
def test_kaleyra_json_and_xml_shapes_match_examples(
    simulator: SimulatorServer, http: httpx.Client, request_name: str, form: dict[str, str]
) -> None:
    json_example = _json(spec_example(KY, request_name, "JSON")["body"])
    xml_example = spec_example(KY, request_name, "XML")["body"]
    got = http.post(simulator.base_url("kaleyra"), headers=KALEYRA_AUTH, data=form | {"format": "json"}).json()
    assert got.keys() == json_example.keys()
    assert got["status"] == json_example["status"]
    if isinstance(json_example.get("data"), dict):
        assert got["data"].keys() == json_example["data"].keys()
    got_xml = http.post(simulator.base_url("kaleyra"), headers=KALEYRA_AUTH, data=form | {"format": "xml"}).text
    assert _xml_shape(got_xml) == _xml_shape(xml_example)
