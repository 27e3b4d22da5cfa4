"""Webhooks from the simulator: spec-shaped bodies, credentials, retries, duplicates, bursts, reordering."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from simtest_support import SPEC_DIR, TELEVOIPS_MESSAGING, VELIP_AUTH

from airflow_provider_voice.testing import SimulatorServer

OWNED = "13214567890"


@dataclass
class Seen:
    """One request the receiver got."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 resets connections of a burst of 20


class Receiver:
    """A loopback HTTP server recording requests; ``script[path]`` lists the statuses to answer first."""

    def __init__(self, hold_seconds: float = 0.0) -> None:
        self.seen: list[Seen] = []
        self.script: dict[str, list[int]] = {}
        self.hold_seconds = hold_seconds
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.active += 1
                    receiver.peak = max(receiver.peak, receiver.active)
                    path = urlsplit(self.path).path
                    script = receiver.script.get(path)
                    status = script.pop(0) if script else 200
                    receiver.seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                if receiver.hold_seconds:
                    time.sleep(receiver.hold_seconds)
                with receiver._lock:
                    receiver.active -= 1
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Seen]:
        """The requests seen, once there are ``count`` (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def stats(simulator: SimulatorServer, http: httpx.Client) -> dict[str, Any]:
    return http.get(f"{simulator.url}/_sim/webhooks").json()


def settled(simulator: SimulatorServer, http: httpx.Client, timeout: float = 5.0) -> dict[str, Any]:
    """The webhook counters once nothing is pending or in flight."""
    wait_until(lambda: (lambda s: s["pending"] == 0 and s["in_flight"] == 0)(stats(simulator, http)), timeout)
    return stats(simulator, http)


def emit(simulator: SimulatorServer, http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post(f"{simulator.url}/_sim/webhooks/emit", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def spec_webhook(name: str) -> Any:
    """The raw body of one of the TeleVoIPs collection's webhook examples."""
    path = SPEC_DIR / "televoips.postman.json"
    if not path.exists():
        pytest.skip(f"vendor spec {path} not available")
    data = json.loads(path.read_text())
    items = list(data.get("collection", data).get("item", []))
    while items:
        item = items.pop()
        if item.get("name") == name and "request" in item:
            return json.loads(item["request"]["body"]["raw"])
        items.extend(item.get("item", []))
    raise LookupError(name)


def send_sms(simulator: SimulatorServer, http: httpx.Client, to: str, content: str = "Hello") -> str:
    response = http.post(
        f"{simulator.base_url('televoips')}/messages",
        headers=TELEVOIPS_MESSAGING,
        data={"from": OWNED, "to": to, "content": content},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["uuid"])


def same_shape(got: dict[str, Any], spec: dict[str, Any]) -> None:
    assert list(got) == list(spec)
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in spec.items()}


# -- TeleVoIPs bodies and credentials -------------------------------------------------------------
def test_televoips_message_webhooks_have_the_spec_shapes_and_basic_auth(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    delivered, failed, stopper = "15550000001", "15550000002", "15550000003"
    simulator.state.configure(
        televoips_webhook_url=f"{receiver.url}/tv/events",
        televoips_webhook_auth={"type": "basic", "username": "hook-user", "password": "hook-pass"},
        outcome_overrides={delivered: "answered", failed: "bad_number", stopper: "blocked"},
    )
    ids = [send_sms(simulator, http, n, content="x" * 200) for n in (delivered, failed, stopper)]
    seen = receiver.wait_for(4)
    assert len(seen) == 4
    expected_auth = "Basic " + base64.b64encode(b"hook-user:hook-pass").decode()
    assert {(s.method, s.path, s.headers["authorization"]) for s in seen} == {("POST", "/tv/events", expected_auth)}
    assert all(s.headers["content-type"] == "application/json" for s in seen)
    bodies = {(b["type"], b["id"]): b for b in (s.json() for s in seen)}

    ok = bodies["message-delivered", ids[0]]
    same_shape(ok, spec_webhook("Outgoing Message Delivered"))
    assert (ok["to"], ok["from"], ok["direction"], ok["text"], ok["media"]) == ([delivered], OWNED, "outbound", "", [])
    assert ok["segmentCount"] == 2  # 200 GSM-7 characters
    assert time.strptime(ok["time"], "%Y-%m-%d %H:%M:%S")

    bad = bodies["message-failed", ids[1]]
    same_shape(bad, spec_webhook("Outgoing Message Failed"))
    assert (bad["to"], bad["errorCode"], bad["description"]) == ([failed], 4720, "invalid destination")

    assert ("message-delivered", ids[2]) in bodies  # blocked people get the message, then answer STOP
    (stop,) = [b for (kind, _), b in bodies.items() if kind == "message-received"]
    same_shape(stop, spec_webhook("Incoming Message"))
    assert (stop["to"], stop["from"], stop["text"], stop["direction"], stop["media"]) == (
        [OWNED],
        stopper,
        "STOP",
        "inbound",
        [],
    )
    listed = http.get(f"{simulator.base_url('televoips')}/messages", headers=TELEVOIPS_MESSAGING).json()
    assert stop["id"] in {m["id"] for m in listed if m["direction"] == "inbound"}
    assert len(simulator.state.ledger.entries("televoips", "callback")) == 4


def test_inbound_control_route_lists_and_posts_messages(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    simulator.state.configure(televoips_webhook_url=f"{receiver.url}/in")
    answer = http.post(
        f"{simulator.url}/_sim/televoips/inbound", json={"from": "15557654321", "to": OWNED, "text": "STOP", "count": 3}
    ).json()
    assert answer["emitted"] == 3 and answer["deliveries"] == 3 and len(set(answer["event_ids"])) == 3
    seen = receiver.wait_for(3)
    assert sorted(s.json()["id"] for s in seen) == sorted(answer["event_ids"])
    assert {(s.json()["type"], s.json()["text"], s.json()["from"]) for s in seen} == {
        ("message-received", "STOP", "15557654321")
    }
    listed = http.get(f"{simulator.base_url('televoips')}/messages", headers=TELEVOIPS_MESSAGING).json()
    assert set(answer["event_ids"]) <= {m["id"] for m in listed}
    for bad in ({"from": "15557654321", "to": "19999999999"}, {"from": "12", "to": OWNED}, {"from": "15557654321", "to": OWNED, "count": 0}):  # fmt: skip
        assert http.post(f"{simulator.url}/_sim/televoips/inbound", json=bad).status_code == 400


def test_cdr_webhook_is_an_array_of_spec_records_with_api_key(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    simulator.state.configure(
        televoips_cdr_webhook_url=f"{receiver.url}/cdr",
        televoips_webhook_auth={"type": "api_key", "header": "X-Api-Key", "value": "cdr-key-123"},
    )
    answer = emit(simulator, http, vendor="televoips", kind="cdr", count=7, cdr_batch=3)
    assert answer["emitted"] == 7 and answer["deliveries"] == 3 and len(set(answer["event_ids"])) == 7
    seen = receiver.wait_for(3)
    assert len(seen) == 3 and all(s.headers["x-api-key"] == "cdr-key-123" for s in seen)
    assert all("authorization" not in s.headers for s in seen)
    arrays = [s.json() for s in seen]
    assert sorted(len(a) for a in arrays) == [1, 3, 3]
    (spec,) = spec_webhook("Call Detail Record")
    rows = [row for array in arrays for row in array]
    for row in rows:
        same_shape(row, spec)
        assert row["disposition"] in {"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"}
        assert int(row["duration"]) >= int(row["billsec"]) >= 0
    assert sorted(r["uniqueid"] for r in rows) == sorted(answer["event_ids"])


# -- retries ----------------------------------------------------------------------------------------
def test_televoips_retries_until_a_200(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(
        televoips_webhook_url=f"{receiver.url}/flaky", webhook_retry_base_seconds=0.05, webhook_retry_max_seconds=0.1
    )
    receiver.script["/flaky"] = [500, 500]
    (event_id,) = emit(simulator, http, vendor="televoips", kind="message-delivered")["event_ids"]
    seen = receiver.wait_for(3)
    time.sleep(0.3)  # no fourth try
    assert len(receiver.seen) == 3 and {s.json()["id"] for s in seen} == {event_id}
    assert seen[1].at - seen[0].at >= 0.04 and seen[2].at - seen[1].at >= 0.08  # backoff doubles
    state = settled(simulator, http)
    assert (state["delivered"], state["failed"], state["gave_up"]) == (1, 2, 0)
    assert [(a["try"], a["status"]) for a in state["attempts"]] == [(1, 500), (2, 500), (3, 200)]


def test_televoips_gives_up_after_max_tries(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(
        televoips_webhook_url=f"{receiver.url}/down",
        webhook_retry_base_seconds=0.01,
        webhook_retry_max_seconds=0.02,
        webhook_max_tries=5,
    )
    receiver.script["/down"] = [500] * 100
    emit(simulator, http, vendor="televoips", kind="message-failed", count=2)
    assert wait_until(lambda: stats(simulator, http)["gave_up"] == 2)
    time.sleep(0.2)
    state = stats(simulator, http)
    assert len(receiver.seen) == 10 and (state["delivered"], state["failed"], state["pending"]) == (0, 10, 0)
    assert max(a["try"] for a in state["attempts"]) == 5


def test_retry_window_and_connection_errors(simulator: SimulatorServer, http: httpx.Client) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/nobody"
    simulator.state.configure(
        televoips_webhook_url=closed,
        webhook_retry_base_seconds=0.05,
        webhook_retry_max_seconds=0.05,
        webhook_retry_window_seconds=0.12,
    )
    emit(simulator, http, vendor="televoips", kind="message-received")
    assert wait_until(lambda: stats(simulator, http)["gave_up"] == 1)
    attempts = stats(simulator, http)["attempts"]
    assert 2 <= len(attempts) <= 4 and {a["status"] for a in attempts} == {None}  # the window ends it first


def test_other_vendors_are_best_effort(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(
        octopush_webhook_url=f"{receiver.url}/dlr", webhook_retry_base_seconds=0.01, webhook_retry_max_seconds=0.02
    )
    receiver.script["/dlr"] = [503] * 10
    emit(simulator, http, vendor="octopush", kind="delivery", count=3)
    state = settled(simulator, http)
    assert len(receiver.seen) == 3 and (state["failed"], state["gave_up"]) == (3, 3)
    simulator.state.configure(webhook_retry_vendors=["octopush"])
    emit(simulator, http, vendor="octopush", kind="delivery")
    assert wait_until(lambda: stats(simulator, http)["delivered"] == 1)


# -- faults -----------------------------------------------------------------------------------------
def test_duplicate_rate_one_sends_every_event_twice(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    simulator.state.configure(televoips_webhook_url=f"{receiver.url}/dup", webhook_duplicate_rate=1.0)
    ids = [send_sms(simulator, http, f"1555000{i:04d}") for i in range(5)]
    seen = receiver.wait_for(10)
    time.sleep(0.2)
    assert len(receiver.seen) == 10
    by_id: dict[str, list[bytes]] = {}
    for s in seen:
        by_id.setdefault(s.json()["id"], []).append(s.body)
    assert sorted(by_id) == sorted(ids) and all(len(b) == 2 and b[0] == b[1] for b in by_id.values())
    state = settled(simulator, http)
    assert state["duplicates"] == 5 and sum(a["duplicate"] for a in state["attempts"]) == 5


def test_emit_200_with_duplicates(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(
        octopush_stop_webhook_url=f"{receiver.url}/stop", octopush_webhook_url=f"{receiver.url}/dlr"
    )
    answer = emit(simulator, http, vendor="octopush", kind="stop", count=200, duplicate_rate=0.1, burst=True)
    assert answer["emitted"] == 200 and len(set(answer["event_ids"])) == 200
    extra = answer["deliveries"] - 200
    assert 8 <= extra <= 35
    seen = receiver.wait_for(answer["deliveries"], timeout=10)
    time.sleep(0.2)
    assert len(receiver.seen) == answer["deliveries"]
    bodies = [s.json() for s in seen]
    assert {s.path for s in seen} == {"/stop"}
    assert {b["message_id"] for b in bodies} == set(answer["event_ids"])
    assert all(set(b) == {"message_id", "number", "text", "stop_date"} for b in bodies)
    assert all(b["number"].startswith("+33") and len(b["number"]) == 12 for b in bodies)
    assert settled(simulator, http)["delivered"] == answer["deliveries"]


def test_hold_then_release_is_a_bounded_burst(simulator: SimulatorServer, http: httpx.Client) -> None:
    slow = Receiver(hold_seconds=0.05)
    try:
        simulator.state.configure(velip_webhook_url=f"{slow.url}/velip", webhook_max_in_flight=5)
        assert http.post(f"{simulator.url}/_sim/webhooks/hold").json()["held"] is True
        answer = emit(simulator, http, vendor="velip", kind="call-ended", count=30, interval=0)
        time.sleep(0.4)
        assert slow.seen == [] and stats(simulator, http)["pending"] == 30
        assert http.post(f"{simulator.url}/_sim/webhooks/release").json() == {"held": False, "pending": 30}
        seen = slow.wait_for(30)
        assert len(seen) == 30 and slow.peak == 5
        assert sorted(s.json()["cd_id"] for s in seen) == sorted(answer["event_ids"])
    finally:
        slow.close()


def test_reorder_changes_the_arrival_order(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(kaleyra_webhook_url=f"{receiver.url}/k", webhook_max_in_flight=1)
    in_order = emit(simulator, http, vendor="kaleyra", kind="call-ended", count=20, burst=True)["event_ids"]
    assert [s.query["id"][0] for s in receiver.wait_for(20)] == in_order
    receiver.seen.clear()
    simulator.state.configure(webhook_reorder=True)
    shuffled = emit(simulator, http, vendor="kaleyra", kind="call-ended", count=20, burst=True)["event_ids"]
    got = [s.query["id"][0] for s in receiver.wait_for(20)]
    assert sorted(got) == sorted(shuffled) and got != shuffled


def test_delay_before_the_first_try(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(televoips_webhook_url=f"{receiver.url}/late", webhook_delay_seconds=0.4)
    started = time.monotonic()
    emit(simulator, http, vendor="televoips", kind="message-delivered")
    (seen,) = receiver.wait_for(1)
    assert seen.at - started >= 0.4


def test_full_outbox_counts_drops(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.state.configure(televoips_webhook_url=f"{receiver.url}/full", webhook_max_queue=10)
    http.post(f"{simulator.url}/_sim/webhooks/hold")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_voice.testing.webhooks"):
        answer = emit(simulator, http, vendor="televoips", kind="message-delivered", count=15)
    assert (answer["deliveries"], answer["dropped"]) == (10, 5)
    assert stats(simulator, http)["dropped"] == 5 and "dropped" in caplog.text
    http.post(f"{simulator.url}/_sim/reset")
    state = stats(simulator, http)
    assert (state["pending"], state["dropped"], state["held"], state["attempts"]) == (0, 0, False, [])
    time.sleep(0.2)
    assert receiver.seen == []


# -- other vendors' shapes, and no secrets in the attempt log ----------------------------------------
def test_velip_form_webhook_and_kaleyra_query(
    simulator: SimulatorServer, http: httpx.Client, receiver: Receiver
) -> None:
    simulator.state.configure(call_seconds=0.01, velip_webhook_format="form")
    made = http.post(
        f"{simulator.base_url('velip')}/api/v2/MakeTTSCall",
        headers=VELIP_AUTH,
        json={"dest": "5511999990000", "text": "hi", "ctid": "f1", "rurl": f"{receiver.url}/v?secret=s1"},
    ).json()["return"]
    (seen,) = receiver.wait_for(1)
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(seen.body.decode(), keep_blank_values=True).items()}
    assert set(form) == {"cd_id", "ctid", "cp_id", "dest", "cd_called_status", "date", "time", "dur", "value"}
    assert (form["cd_id"], form["ctid"], form["dest"]) == (made["cd_id"], "f1", "5511999990000")

    receiver.seen.clear()
    answer = emit(simulator, http, vendor="kaleyra", kind="call-ended", count=2, url=f"{receiver.url}/kcb?token=t0")
    seen_k = receiver.wait_for(2)
    names = {"id", "caller", "receiver", "status", "status1", "status2", "duration", "billsec", "starttime", "endtime", "recordpath", "callerid"}  # fmt: skip
    for s in seen_k:
        assert s.method == "GET" and s.path == "/kcb" and set(s.query) == names | {"token"}
        assert s.query["token"] == ["t0"] and int(s.query["endtime"][0]) >= int(s.query["starttime"][0])
    assert sorted(s.query["id"][0] for s in seen_k) == sorted(answer["event_ids"])


def test_attempt_log_has_no_credentials(simulator: SimulatorServer, http: httpx.Client, receiver: Receiver) -> None:
    simulator.state.configure(
        televoips_webhook_url=f"{receiver.url}/hook?token=query-secret",
        televoips_webhook_auth={"type": "basic", "username": "user-secret", "password": "pass-secret"},
        velip_webhook_url=f"{receiver.url.replace('http://', 'http://u:userinfo-secret@')}/velip?key=velip-secret",
    )
    emit(simulator, http, vendor="televoips", kind="message-delivered", count=2)
    emit(simulator, http, vendor="velip", kind="call-ended")
    receiver.wait_for(3)
    text = json.dumps(settled(simulator, http))
    for secret in ("query-secret", "user-secret", "pass-secret", "userinfo-secret", "velip-secret", "Basic"):
        assert secret not in text
    assert {a["path"] for a in stats(simulator, http)["attempts"]} == {"/hook", "/velip"}


def test_bad_requests(simulator: SimulatorServer, http: httpx.Client) -> None:
    url = f"{simulator.url}/_sim/webhooks/emit"
    for body in (
        {"vendor": "twilio", "kind": "x"},
        {"vendor": "velip", "kind": "stop"},
        {"vendor": "velip", "kind": "call-ended"},  # no URL configured
        {"vendor": "velip", "kind": "call-ended", "url": "https://example.invalid/x"},
        {"vendor": "velip", "kind": "call-ended", "url": "http://127.0.0.1:9/x", "count": 0},
    ):
        assert http.post(url, json=body).status_code == 400, body
    for settings in ({"televoips_webhook_auth": {"type": "digest"}}, {"velip_webhook_format": "xml"}):
        assert http.post(f"{simulator.url}/_sim/config", json=settings).status_code == 400
