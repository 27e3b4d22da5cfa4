"""Running the simulator: the background server, the CLI, webhook delivery to loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from simtest_support import KALEYRA_AUTH, OCTOPUSH_AUTH, VELIP_AUTH

from airflow_provider_voice.testing import SimulatorServer, SimulatorState

REPO = Path(__file__).resolve().parents[2]


class Receiver:
    """A loopback HTTP server recording the requests it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                receiver.requests.append((self.command, self.path, self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, str, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_server_start_stop_and_urls() -> None:
    started = time.monotonic()
    with SimulatorServer(SimulatorState(seed=3)) as server:
        assert time.monotonic() - started < 5
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        assert server.base_url("velip") == f"{server.url}/velip"
        assert server.base_url("kaleyra") == f"{server.url}/kaleyra/v1/"
        assert server.base_url("kaleyra-obd") == f"{server.url}/kaleyra-obd/api/v1/"
        with pytest.raises(ValueError):
            server.base_url("twilio")
        assert httpx.get(f"{server.url}/_sim/health", trust_env=False).json()["status"] == "ok"
        server.state.faults.set("velip", "GetUserID", timeout_after_accept_rate=1.0, hang_seconds=30)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.base_url('velip')}/api/v2/GetUserID", headers=VELIP_AUTH, timeout=0.2, trust_env=False)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 8
    assert not server.running


def test_loopback_only() -> None:
    with pytest.raises(ValueError):
        SimulatorServer(host="0.0.0.0")
    with pytest.raises(ValueError):
        SimulatorServer(host="192.168.1.10")


def test_octopush_delivery_reports_are_posted_to_loopback(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    simulator.state.configure(call_seconds=0.01, octopush_webhook_url=f"{receiver.url}/dlr")
    body = {"text": "x", "recipients": [{"phone_number": f"+336{i:08d}"} for i in range(3)]}
    ticket = http.post(
        f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send", headers=OCTOPUSH_AUTH, json=body
    ).json()["ticket_number"]
    got = receiver.wait_for(3)
    assert len(got) == 3 and {m for m, _, _ in got} == {"POST"} and {p for _, p, _ in got} == {"/dlr"}
    reports = [json.loads(b) for _, _, b in got]
    assert {r["message_id"] for r in reports} == {ticket}
    assert sorted(r["number"] for r in reports) == [f"+336{i:08d}" for i in range(3)]


def test_kaleyra_callback_requested_on_loopback_only(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    simulator.state.configure(call_seconds=0.01)
    for url in (f"{receiver.url}/cb?id={{id}}&s={{status}}", "https://example.invalid/cb?id={id}"):
        http.post(
            simulator.base_url("kaleyra"),
            headers=KALEYRA_AUTH,
            data={"method": "dial.click2call", "caller": "9800000001", "receiver": "9800000002", "callback": url},
        )
    got = receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.requests) == 1 and got[0][0] == "GET" and got[0][1].startswith("/cb?id=c2c_")
    assert len(simulator.state.ledger.entries("kaleyra", "callback")) == 2
    assert simulator.state.webhooks.failed == 0


def test_control_routes_refuse_non_loopback_clients() -> None:
    import asyncio

    from airflow_provider_voice.testing import create_app

    async def get(client_host: str) -> int:
        transport = httpx.ASGITransport(app=create_app(), client=(client_host, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            return (await client.get("/_sim/ledger")).status_code

    assert asyncio.run(get("10.1.2.3")) == 403
    assert asyncio.run(get("127.0.0.1")) == 200


def _run_cli(*args: str, ready: Path, timeout: float = 15) -> tuple[subprocess.Popen[str], dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_voice.testing", "--port", "0", "--ready-file", str(ready), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"simulator CLI did not start: {proc.communicate()}")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    ready, pidfile = tmp_path / "ready.json", tmp_path / "sim.pid"
    proc, info = _run_cli("--seed", "4", "--cdr-compile-seconds", "0", "--pidfile", str(pidfile), ready=ready)
    try:
        assert int(pidfile.read_text()) == proc.pid == info["pid"]
        assert info["base_urls"]["octopush"] == f"{info['url']}/octopush"
        config = httpx.get(f"{info['url']}/_sim/config", trust_env=False).json()
        assert (config["seed"], config["cdr_compile_seconds"]) == (4, 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "velip" in out and info["url"] in out
    assert not ready.exists() and not pidfile.exists()


def test_cli_refuses_public_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_voice.testing", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert result.returncode == 2 and "loopback" in result.stderr


def test_import_does_not_load_airflow() -> None:
    code = "import sys, airflow_provider_voice.testing, airflow_provider_voice.testing.pytest_plugin; print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert result.stdout.strip() == "False", result.stderr
