"""Velip ``MakeTTSCall`` type 2 (DTMF confirmation) in the simulator: outcomes, the pressed key, webhook."""

from __future__ import annotations

import httpx
import pytest
from simtest_support import VELIP_AUTH

from airflow_provider_voice.testing import FakeClock, SimulatorServer

ALICE, BOB, CAROL, DAVE = "5511987650001", "5511987650002", "5511987650003", "5511987650004"


def api(simulator: SimulatorServer, http: httpx.Client, name: str, /, **params: object) -> httpx.Response:
    return http.post(f"{simulator.base_url('velip')}/api/v2/{name}", headers=VELIP_AUTH, json=params)


def page(simulator: SimulatorServer, http: httpx.Client, dest: str, **params: object) -> str:
    answer = api(simulator, http, "MakeTTSCall", dest=dest, type=2, text="Incident: press 1", **params)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["return"]["cd_id"])


def row(simulator: SimulatorServer, http: httpx.Client, cd_id: str) -> dict:
    answer = http.get(
        f"{simulator.base_url('velip')}/api/v2/GetCallStatus", headers=VELIP_AUTH, params={"cd_id": cd_id}
    )
    (call,) = answer.json()["return"]["calls"]
    return call


def test_confirmation_calls_report_the_key_once_ended(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    simulator.state.configure(
        velip_dtmf_overrides={ALICE: "confirm", BOB: "no_key", CAROL: "no_answer", DAVE: "9"},
        velip_httpdup_seconds=0,
    )
    ids = {number: page(simulator, http, number) for number in (ALICE, BOB, CAROL, DAVE)}
    pending = row(simulator, http, ids[ALICE])
    assert (pending["cd_status"], pending["dtmf"], pending["confirmed"]) == ("PD", "", 0)
    simulator_clock.advance(1)
    seen = {number: row(simulator, http, cd_id) for number, cd_id in ids.items()}
    assert {n: (r["cd_status"], r["dtmf"], r["confirmed"]) for n, r in seen.items()} == {
        ALICE: ("OK", "1", 1),
        BOB: ("OK", "", 0),
        CAROL: ("NA", "", 0),
        DAVE: ("OK", "9", 0),  # a key, but not the confirmation key
    }
    assert seen[ALICE]["dur"] > 0 and seen[CAROL]["dur"] == 0
    assert [e.number for e in simulator.state.ledger.entries("velip", "call")] == [ALICE, BOB, CAROL, DAVE]
    assert all(e.details["type"] == 2 for e in simulator.state.ledger.entries("velip", "call"))


def test_unlisted_numbers_confirm_by_the_seeded_rate_and_other_types_have_no_dtmf_fields(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    simulator.state.configure(outcome_overrides={ALICE: "answered", BOB: "answered"}, velip_dtmf_confirm_rate=1.0)
    confirmed = page(simulator, http, ALICE)
    simulator.state.configure(velip_dtmf_confirm_rate=0.0, velip_dtmf_confirm_key="#")
    silent = page(simulator, http, BOB)
    played = api(simulator, http, "MakeTTSCall", dest=CAROL, type=0, text="hello").json()["return"]["cd_id"]
    simulator_clock.advance(1)
    assert (row(simulator, http, confirmed)["dtmf"], row(simulator, http, confirmed)["confirmed"]) == ("1", 1)
    assert (row(simulator, http, silent)["dtmf"], row(simulator, http, silent)["confirmed"]) == ("", 0)
    assert "dtmf" not in row(simulator, http, played) and "confirmed" not in row(simulator, http, played)


def test_the_end_of_call_webhook_carries_the_key(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    simulator.state.configure(
        velip_dtmf_overrides={ALICE: "confirm"}, velip_webhook_url="http://127.0.0.1:9/velip-hook"
    )  # nothing listens there: the payload is read from the ledger
    cd_id = page(simulator, http, ALICE, ctid="page1")
    simulator_clock.advance(1)
    (callback,) = simulator.state.ledger.entries("velip", "callback")
    payload = callback.details["payload"]
    assert (payload["cd_id"], payload["ctid"], payload["cd_called_status"]) == (cd_id, "page1", "OK")
    assert (payload["dtmf"], payload["confirmed"]) == ("1", 1)


def test_type_2_takes_an_optional_transfer_destination(simulator: SimulatorServer, http: httpx.Client) -> None:
    page(simulator, http, ALICE, dest2=BOB)
    (call,) = simulator.state.ledger.entries("velip", "call")  # one leg: the transfer is not dialled
    assert call.number == ALICE and call.details["transfer_to"] == BOB
    refused = api(simulator, http, "MakeTTSCall", dest=CAROL, type=2, text="x", dest2="12")
    assert (refused.status_code, refused.json()["return"]["status_code"]) == (400, "203")


@pytest.mark.parametrize(
    "settings",
    [
        {"velip_dtmf_overrides": {ALICE: "maybe"}},
        {"velip_dtmf_overrides": [ALICE]},
        {"velip_dtmf_confirm_key": "12"},
        {"velip_dtmf_confirm_rate": 1.5},
    ],
)
def test_bad_dtmf_settings_are_refused(simulator: SimulatorServer, settings: dict) -> None:
    with pytest.raises(ValueError):
        simulator.state.configure(**settings)
