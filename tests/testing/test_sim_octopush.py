"""Octopush behaviour: validation, idempotent request_id, credit, delivery reports."""

from __future__ import annotations

import httpx
import pytest
from simtest_support import OCTOPUSH_AUTH

from airflow_provider_voice.testing import FakeClock, SimulatorServer


def send(simulator: SimulatorServer, http: httpx.Client, **payload: object) -> httpx.Response:
    body = {"text": "Hello", "recipients": [{"phone_number": "+33600000001"}], "type": "voice_sms"} | payload
    return http.post(
        f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send", headers=OCTOPUSH_AUTH, json=body
    )


def recipients(n: int) -> list[dict[str, str]]:
    return [{"phone_number": f"+336{i:08d}", "param1": f"p{i}"} for i in range(n)]


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ({"text": ""}, "text", 410),
        ({"text": "x" * 1225}, "text", 411),
        ({"recipients": []}, "recipients", 420),
        ({"recipients": recipients(501)}, "recipients", 421),
        ({"recipients": [{"phone_number": "hello"}]}, "recipients", 422),
        ({"sender": "ab"}, "sender", 430),
        ({"sender": "abcdefghijkl"}, "sender", 430),
        ({"sender": "with space"}, "sender", 430),
        ({"voice_gender": "robot"}, "voice_gender", 441),
        ({"voice_language": "fr-CA"}, "voice_language", 442),
        ({"purpose": "spam"}, "purpose", 450),
        ({"type": "sms"}, "type", 451),
        ({"send_at": "tomorrow"}, "send_at", 460),
        ({"request_id": "x" * 21}, "request_id", 470),
        ({"simulation_mode": "maybe"}, "simulation_mode", 480),
    ],
)
def test_validation_errors(
    simulator: SimulatorServer, http: httpx.Client, payload: dict, field: str, code: int
) -> None:
    r = send(simulator, http, **payload)
    assert r.status_code == 400
    body = r.json()
    assert (body["code"], body["message"]) == (400, "Payload validation error.")
    assert body["errors"][field]["code"] == code
    assert not simulator.state.ledger.entries("octopush")


def test_all_bad_fields_are_reported_together(simulator: SimulatorServer, http: httpx.Client) -> None:
    errors = send(simulator, http, text="", sender="x", voice_language="xx").json()["errors"]
    assert set(errors) == {"text", "sender", "voice_language"}


def test_limits_are_inclusive(simulator: SimulatorServer, http: httpx.Client) -> None:
    r = send(
        simulator,
        http,
        text="x" * 1224,
        recipients=recipients(500),
        sender="ABCDEFGHIJK",
        voice_language="en-GB",
        voice_gender="male",
        purpose="wholesale",
    )
    assert r.status_code == 200, r.text
    assert r.json()["number_of_contacts"] == 500 and r.json()["total_cost"] == 25.0


def test_duplicate_request_id_returns_the_first_ticket_and_sends_nothing(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    first = send(simulator, http, recipients=recipients(3), request_id="frame-0001").json()
    again = send(simulator, http, recipients=recipients(3), request_id="frame-0001")
    assert again.status_code == 409
    assert again.json() == {"code": 409, "message": "Duplicate request_id.", "ticket_number": first["ticket_number"]}
    assert len(simulator.state.ledger.entries("octopush", "call")) == 3
    assert http.get(f"{simulator.base_url('octopush')}/v1/public/wallet/check-balance", headers=OCTOPUSH_AUTH).json()[
        "amount"
    ] == pytest.approx(10000 - 0.15)
    simulator_clock.advance(24 * 3600 + 1)
    assert send(simulator, http, recipients=recipients(3), request_id="frame-0001").status_code == 200


def test_simulation_mode_records_and_charges_nothing(simulator: SimulatorServer, http: httpx.Client) -> None:
    r = send(simulator, http, recipients=recipients(4), simulation_mode=True, request_id="sim-1")
    assert r.status_code == 200 and r.json()["residual_credit"] == 10000.0
    assert not simulator.state.ledger.entries("octopush")
    assert send(simulator, http, recipients=recipients(4), request_id="sim-1").status_code == 200


def test_not_enough_credit(simulator: SimulatorServer, http: httpx.Client) -> None:
    simulator.state.configure(octopush_balance=0.1)
    r = send(simulator, http, recipients=recipients(3))
    assert (r.status_code, r.json()) == (402, {"code": 402, "message": "Not enough credit."})
    assert not simulator.state.ledger.entries("octopush")


def test_delivery_reports_over_time(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    simulator.state.configure(call_seconds=1.0, call_lines=10, octopush_webhook_url="https://example.invalid/dlr")
    ticket = send(simulator, http, recipients=recipients(25)).json()
    assert ticket["estimated_duration"] == 3
    reports_url = f"{simulator.url}/_sim/octopush/reports/{ticket['ticket_number']}"
    pending = http.get(reports_url).json()
    assert pending["counts"] == {"PENDING": 25} and not pending["finished"]
    simulator_clock.advance(1.0)
    assert http.get(reports_url).json()["counts"].get("PENDING") == 15
    simulator_clock.advance(2.0)
    final = http.get(reports_url).json()
    assert final["finished"] and "PENDING" not in final["counts"] and sum(final["counts"].values()) == 25
    assert set(final["counts"]) <= {"DELIVERED", "NOT_DELIVERED", "BUSY", "NOT_DELIVERABLE", "BLACKLISTED_NUMBER"}
    first = final["reports"][0]
    assert set(first) == {"message_id", "number", "status", "delivery_date", "call_duration", "charged_duration"}
    callbacks = simulator.state.ledger.entries("octopush", "callback")
    assert len(callbacks) == 25 and {c.details["payload"]["status"] for c in callbacks} == set(final["counts"])


def test_vocal_endpoint_and_scheduled_send(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    from datetime import datetime, timezone

    when = datetime.fromtimestamp(simulator_clock() + 600, timezone.utc).isoformat().replace("+00:00", "Z")
    r = http.post(
        f"{simulator.base_url('octopush')}/v1/public/vocal-campaign/send",
        headers=OCTOPUSH_AUTH,
        json={"text": "Hi", "recipients": recipients(2), "type": "vocal_sms", "send_at": when},
    )
    body = r.json()
    assert body["vocal_ticket"] == body["ticket_number"] and body["estimated_duration"] >= 600
    entries = simulator.state.ledger.entries("octopush", "call")
    assert [e.details["param1"] for e in entries] == ["p0", "p1"]
    assert {e.details["endpoint"] for e in entries} == {"/v1/public/vocal-campaign/send"}
