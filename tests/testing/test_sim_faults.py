"""Fault injection as a client sees it, over a real socket."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import httpx
import pytest
from simtest_support import KALEYRA_AUTH, OCTOPUSH_AUTH, TELEVOIPS_MESSAGING, VELIP_AUTH

from airflow_provider_voice.testing import SimulatorServer

Sender = Callable[[httpx.Client, SimulatorServer, int], httpx.Response]


def velip(http: httpx.Client, sim: SimulatorServer, i: int) -> httpx.Response:
    return http.post(
        f"{sim.base_url('velip')}/api/v2/MakeTTSCall", headers=VELIP_AUTH, json={"dest": f"55119{i:08d}", "text": "x"}
    )


def televoips(http: httpx.Client, sim: SimulatorServer, i: int) -> httpx.Response:
    return http.post(
        f"{sim.base_url('televoips')}/messages",
        headers=TELEVOIPS_MESSAGING,
        data={"from": "13214567890", "to": f"1987{i:07d}", "content": "x"},
    )


def octopush(http: httpx.Client, sim: SimulatorServer, i: int) -> httpx.Response:
    body = {"text": "x", "recipients": [{"phone_number": f"+336{i:08d}"}]}
    return http.post(f"{sim.base_url('octopush')}/v1/public/voice-campaign/send", headers=OCTOPUSH_AUTH, json=body)


def kaleyra(http: httpx.Client, sim: SimulatorServer, i: int) -> httpx.Response:
    return http.post(
        sim.base_url("kaleyra"),
        headers=KALEYRA_AUTH,
        data={"method": "voice.call", "numbers": f"98{i:08d}", "play": "1.sound"},
    )


SENDERS: dict[str, tuple[str, Sender]] = {
    "velip": ("MakeTTSCall", velip),
    "televoips": ("/messages", televoips),
    "octopush": ("/v1/public/voice-campaign/send", octopush),
    "kaleyra": ("voice.call", kaleyra),
}
ACTION = {"velip": "call", "televoips": "sms", "octopush": "call", "kaleyra": "call"}


@pytest.fixture(params=sorted(SENDERS))
def vendor(request: pytest.FixtureRequest) -> str:
    return request.param


def test_error_before_any_action(simulator: SimulatorServer, http: httpx.Client, vendor: str) -> None:
    route, send = SENDERS[vendor]
    simulator.state.faults.set(vendor, route, error_rate=1.0, error_status=503)
    r = send(http, simulator, 1)
    assert r.status_code == 503
    expected = {
        "velip": {"return": {"status": "Service Unavailable", "status_code": "503"}},
        "televoips": {"message": "Service Unavailable"},
        "octopush": {"code": 503, "message": "Service Unavailable."},
        "kaleyra": {"status": "E503", "message": "Service Unavailable"},
    }[vendor]
    assert r.json() == expected
    assert not simulator.state.ledger.entries(vendor)


@pytest.mark.parametrize("fmt", ["seconds", "http-date"])
def test_rate_limit_has_retry_after(simulator: SimulatorServer, http: httpx.Client, vendor: str, fmt: str) -> None:
    route, send = SENDERS[vendor]
    simulator.state.faults.set(vendor, route, rate_limit_rate=1.0, retry_after=7, retry_after_format=fmt)
    r = send(http, simulator, 1)
    assert r.status_code == 429
    if fmt == "seconds":
        assert r.headers["Retry-After"] == "7"
    else:
        when = email.utils.parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
        assert 5 <= when - time.time() <= 9
    assert not simulator.state.ledger.entries(vendor)


def test_reset_closes_the_connection_without_response(
    simulator: SimulatorServer, http: httpx.Client, vendor: str
) -> None:
    route, send = SENDERS[vendor]
    simulator.state.faults.set(vendor, route, reset_rate=1.0, times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        send(http, simulator, 1)
    assert not simulator.state.ledger.entries(vendor)
    assert send(http, simulator, 2).status_code == 200


def test_timeout_after_accept_records_then_hangs(simulator: SimulatorServer, vendor: str) -> None:
    route, send = SENDERS[vendor]
    simulator.state.faults.set(vendor, route, timeout_after_accept_rate=1.0, hang_seconds=1.0)
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3), trust_env=False) as client:
        with pytest.raises(httpx.ReadTimeout):
            send(client, simulator, 1)
    assert len(simulator.state.ledger.entries(vendor, ACTION[vendor])) == 1


def test_malformed_body_after_accept(simulator: SimulatorServer, http: httpx.Client, vendor: str) -> None:
    route, send = SENDERS[vendor]
    simulator.state.faults.set(vendor, route, malformed_rate=1.0)
    r = send(http, simulator, 1)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.content)
    assert len(simulator.state.ledger.entries(vendor, ACTION[vendor])) == 1


def test_latency_does_not_block_other_requests(simulator: SimulatorServer) -> None:
    simulator.state.faults.set("velip", "MakeTTSCall", latency=0.3)

    async def run() -> tuple[float, float]:
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            url = f"{simulator.base_url('velip')}/api/v2/MakeTTSCall"
            start = time.perf_counter()
            quick = asyncio.ensure_future(
                client.post(f"{simulator.base_url('velip')}/api/v2/GetUserID", headers=VELIP_AUTH)
            )
            slow = [
                client.post(url, headers=VELIP_AUTH, json={"dest": f"55119{i:08d}", "text": "x"}) for i in range(10)
            ]
            await quick
            quick_done = time.perf_counter() - start
            responses = await asyncio.gather(*slow)
            assert all(r.status_code == 200 for r in responses)
            return quick_done, time.perf_counter() - start

    quick, total = asyncio.run(run())
    assert quick < 0.25
    assert 0.3 <= total < 1.5


def test_faults_are_deterministic_under_a_seed(simulator: SimulatorServer, http: httpx.Client) -> None:
    def pattern(seed: int) -> list[int]:
        simulator.state.reset()
        simulator.state.configure(velip_httpdup_seconds=0)
        simulator.state.faults.set("velip", "MakeTTSCall", error_rate=0.3, rate_limit_rate=0.2, seed=seed)
        return [velip(http, simulator, i).status_code for i in range(40)]

    first, again, other = pattern(11), pattern(11), pattern(12)
    assert first == again
    assert first != other
    assert set(first) == {200, 429, 503}


def test_default_seed_follows_the_state_seed(simulator: SimulatorServer, http: httpx.Client) -> None:
    def pattern(state_seed: int) -> list[int]:
        simulator.state.reset(seed=state_seed)
        simulator.state.faults.set("kaleyra", "voice.call", error_rate=0.5)
        return [kaleyra(http, simulator, i).status_code for i in range(30)]

    assert pattern(1) == pattern(1) != pattern(2)


def test_route_matching_and_times(simulator: SimulatorServer, http: httpx.Client) -> None:
    faults = simulator.state.faults
    faults.set("televoips", "POST /messages", error_rate=1.0, error_status=500, times=2)
    faults.set("televoips", "*", error_rate=1.0, error_status=502)
    assert [televoips(http, simulator, i).status_code for i in range(3)] == [500, 500, 200]
    assert http.get(f"{simulator.base_url('televoips')}/messages", headers=TELEVOIPS_MESSAGING).status_code == 502
    faults.clear("televoips")
    faults.set("*", "*", error_rate=1.0, error_status=504)
    assert velip(http, simulator, 1).status_code == 504
    faults.clear()
    assert velip(http, simulator, 1).status_code == 200
    faults.set("kaleyra", "voice.groupStatus", error_rate=1.0)
    r = http.post(
        simulator.base_url("kaleyra"), headers=KALEYRA_AUTH, data={"method": "VOICE.GROUPSTATUS", "groupid": "1"}
    )
    assert r.status_code == 503
    faults.clear()
    with pytest.raises(ValueError):
        faults.set("velip", "*", error_rate=0.8, reset_rate=0.5)


def test_vendor_shaped_fault_bodies(simulator: SimulatorServer, http: httpx.Client) -> None:
    simulator.state.faults.set("kaleyra", "voice.status", error_rate=1.0, error_status=500)
    r = http.post(
        simulator.base_url("kaleyra"),
        headers=KALEYRA_AUTH,
        data={"method": "voice.status", "id": "1-1", "format": "xml"},
    )
    assert r.status_code == 500 and ET.fromstring(r.text).findtext("status") == "E500"
    simulator.state.faults.set("televoips", "/reports/cdrs", error_rate=1.0, error_status=400)
    r = http.get(f"{simulator.base_url('televoips')}/reports/cdrs")
    assert (r.status_code, r.text) == (400, "'There was a problem processing your request.'")
    simulator.state.faults.set("velip", "GetCallStatus", rate_limit_rate=1.0)
    r = http.get(f"{simulator.base_url('velip')}/api/v2/GetCallStatus.php", headers=VELIP_AUTH)
    assert r.status_code == 429 and r.json()["return"]["status_code"] == "429"
