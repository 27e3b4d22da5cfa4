"""The ``/voice-webhooks`` receiver: size, route, auth, parse, store — and the answers vendors expect.

Most tests drive the FastAPI app in-process (``TestClient``) with a static connection lookup and a
local :class:`EventStore` in ``tmp_path``; one test runs it under uvicorn on a loopback socket,
mounted under ``/voice-webhooks`` with a parent app entering its lifespan as Airflow's api-server
does, to check what only a real server shows (chunked uploads, the access log).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import logging
import socket
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.plugins import receiver as receiver_module
from airflow_provider_voice.plugins.receiver import (
    MAX_BODY_BYTES,
    AccessLogTokenFilter,
    WebhookReceiver,
    build_app,
    install_access_log_filter,
    settings_from_connection,
)

TOKEN = "tok-9f4c2a7e5b1d8c3f6a0e"  # the path token of the token-mode connections
BASIC_USER = "televoips-hook"
BASIC_PASSWORD = "pw-7d1e9b3c5a2f8e4d"
API_KEY = "key-4b8e2d6f0a9c3e7b1d5f"
SHORT = "only-15-chars.."
EXACT = "exactly-16-chars"
SECRETS = (TOKEN, BASIC_PASSWORD, API_KEY, SHORT, EXACT)

PERSON = "33612345678"  # a French mobile: must never show in a log line
MESSAGE_RECEIVED = {
    "type": "message-received",
    "id": "070468k1476ty5292yp2b2w2fuq2",
    "time": "2021-08-24 12:20:17",
    "to": ["12345678901"],
    "from": PERSON,
    "text": "Test",
    "media": ["https://mms.televoips.com/070468k1476ty5292yp2b2w2fuq2.jpg"],
    "direction": "inbound",
    "segmentCount": 1,
}
MESSAGE_FAILED = {
    "type": "message-failed",
    "id": "292yp2b2w2fuq20y570468k1476t",
    "time": "2021-08-24 12:20:17",
    "to": [PERSON],
    "from": "12345678901",
    "text": "",
    "media": [],
    "direction": "outbound",
    "segmentCount": 1,
    "errorCode": 4432,
    "description": "forbidden to country",
}
CDRS = [
    {
        "calldate": "2021-08-25 10:04:14",
        "src": "1234567890",
        "dst": "201",
        "disposition": "NO ANSWER",
        "duration": "30",
        "billsec": "0",
        "uniqueid": "1629900254.9521335",
        "did": "3525932093",
    }
]
OCTOPUSH_REPORT = {
    "message_id": "sms_5f7c9b2a1d3e4",
    "number": "+" + PERSON,
    "status": "DELIVERED",
    "delivery_date": "2026-12-01 10:00:00",
    "call_duration": 30,
    "charged_duration": 30,
}
OCTOPUSH_STOP = {
    "message_id": "sms_5f7c9b2a1d3e4",
    "number": "+" + PERSON,
    "text": "STOP",
    "stop_date": "2026-12-01 10:05:00",
}
VELIP_CALL = {
    "cd_id": "c_88700",
    "ctid": "x1",
    "dest": "5511987654321",
    "cd_called_status": "OK",
    "date": "2026-12-01",
    "time": "10:00:00",
    "dur": "42",
    "value": "0.15",
}
KALEYRA_END = {
    "id": "c2c_1",
    "caller": "9988776655",
    "receiver": "9877665544",
    "status": "ANSWER",
    "starttime": "1764583200",
    "endtime": "1764583260",
    "duration": "60",
    "billsec": "55",
    "recordpath": "{recordpath}",
}
TELEVOIPS_OK = b'{"outcome":"success"}'


def connections() -> dict[str, Any]:
    """The static connection lookup: conn_id -> WebhookSettings (None for a non-voice connection)."""
    token = {"webhook_auth": "token", "webhook_secret": TOKEN}
    basic = {"webhook_auth": "basic", "webhook_username": BASIC_USER, "webhook_secret": BASIC_PASSWORD}
    api_key = {"webhook_auth": "api_key", "webhook_api_key_header": "X-TeleVoIPs-Key", "webhook_secret": API_KEY}
    table = {
        "tv_basic": ("televoips", basic),
        "tv_key": ("televoips", api_key),
        "tv_token": ("televoips", token),
        # the UI stores custom fields prefixed; mode in upper case, secret with spaces around
        "tv_prefixed": (
            "televoips",
            {"extra__televoips__webhook_auth": "TOKEN", "extra__televoips__webhook_secret": f"  {TOKEN} "},
        ),
        "tv_halt": ("televoips", {**token, "optout_keywords": "halt, ferma"}),
        "oc": ("octopush", token),
        "ve": ("velip", token),
        "ka": ("kaleyra", token),
        "ve_basic": ("velip", basic),  # Velip cannot send Basic credentials
        "oc_key": ("octopush", api_key),  # nor can Octopush send an API-key header
        "ka_basic": ("kaleyra", basic),
        "no_secret": ("televoips", {"webhook_auth": "token"}),
        "empty_secret": ("televoips", {"webhook_auth": "token", "webhook_secret": "   "}),
        "no_mode": ("televoips", {"webhook_secret": TOKEN}),
        "odd_mode": ("televoips", {"webhook_auth": "hmac", "webhook_secret": TOKEN}),
        "short": ("televoips", {"webhook_auth": "token", "webhook_secret": SHORT}),
        "exact16": ("televoips", {"webhook_auth": "token", "webhook_secret": EXACT}),
        "basic_no_user": ("televoips", {"webhook_auth": "basic", "webhook_secret": BASIC_PASSWORD}),
        "colon": ("televoips", {**basic, "webhook_secret": "pw:with:colons:0123"}),
        "http_conn": ("http", token),  # not one of ours
    }
    return {
        conn_id: settings_from_connection(conn_id, conn_type, extra) for conn_id, (conn_type, extra) in table.items()
    }


def basic(user: str = BASIC_USER, password: str = BASIC_PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def stored_events(root: Path) -> list[Path]:
    """Event files under the store root (not batches, markers or indexes)."""
    return [
        p
        for p in root.rglob("*.json")
        if not p.relative_to(root).parts[0].startswith("_") and not p.name.startswith(".")
    ]


class Recorder:
    """A fake publisher: records what the app does with it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def wake(self) -> None:
        self.calls.append("wake")

    def stop(self) -> None:
        self.calls.append("stop")


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events", fsync=False)


@pytest.fixture
def receiver(store: EventStore) -> WebhookReceiver:
    return WebhookReceiver(store, lookup=connections().get)


@pytest.fixture
def client(receiver: WebhookReceiver) -> Iterator[TestClient]:
    with TestClient(build_app(receiver, publisher=False)) as test_client:
        yield test_client


# -- 200 per auth mode, with the vendor's exact body ---------------------------------------------
@pytest.mark.parametrize(
    "path, request_kwargs, kinds",
    [
        ("/tv_basic/messages", {"json": MESSAGE_RECEIVED, "headers": basic()}, ["messages-received"]),
        ("/tv_key/messages", {"json": MESSAGE_FAILED, "headers": {"X-TeleVoIPs-Key": API_KEY}}, ["deliveries"]),
        ("/tv_key/messages", {"json": MESSAGE_FAILED, "headers": {"x-televoips-key": API_KEY}}, ["deliveries"]),
        (f"/tv_token/messages?token={TOKEN}", {"json": MESSAGE_RECEIVED}, ["messages-received"]),
        (f"/tv_prefixed/messages?token={TOKEN}", {"json": MESSAGE_RECEIVED}, ["messages-received"]),
        ("/tv_basic/cdrs", {"json": CDRS, "headers": basic()}, ["cdrs"]),
        ("/tv_key/cdrs", {"json": CDRS, "headers": {"X-TeleVoIPs-Key": API_KEY}}, ["cdrs"]),
        ("/colon/messages", {"json": MESSAGE_RECEIVED, "headers": basic(password="pw:with:colons:0123")}, None),
    ],
    ids=[
        "basic",
        "api-key",
        "api-key-lower-case-header",
        "token",
        "token-prefixed-extra",
        "cdr-basic",
        "cdr-key",
        "colon",
    ],
)
def test_televoips_answers_200_outcome_success(client, store, path, request_kwargs, kinds):
    response = client.post(path, **request_kwargs)
    assert response.status_code == 200, response.text
    assert response.content == TELEVOIPS_OK
    assert response.json() == {"outcome": "success"}
    assert response.headers["content-type"].startswith("application/json")
    if kinds is not None:
        assert [b.kind for b in store.pending_batches()] == kinds


@pytest.mark.parametrize(
    "method, path, request_kwargs, kind",
    [
        ("POST", f"/oc/deliveries?token={TOKEN}", {"json": OCTOPUSH_REPORT}, "deliveries"),
        ("POST", f"/oc/opt-outs?token={TOKEN}", {"json": OCTOPUSH_STOP}, "opt-outs"),
        ("POST", f"/ve/calls?token={TOKEN}", {"data": VELIP_CALL}, "calls-ended"),
        ("POST", f"/ve/calls?token={TOKEN}", {"json": VELIP_CALL}, "calls-ended"),
        # (httpx replaces a URL's query string with ``params``: the token goes in ``params`` too)
        ("GET", "/ka/calls", {"params": {**KALEYRA_END, "token": TOKEN}}, "calls-ended"),
        ("GET", "/ka/calls", {"params": {"token": TOKEN, **KALEYRA_END, "endtime": "{endtime}"}}, "calls-answered"),
        ("POST", f"/ka/calls?token={TOKEN}", {"data": KALEYRA_END}, "calls-ended"),
    ],
    ids=[
        "octopush-report",
        "octopush-stop",
        "velip-form",
        "velip-json",
        "kaleyra-end",
        "kaleyra-answer",
        "kaleyra-post",
    ],
)
def test_other_vendors_answer_200_with_an_empty_body(client, store, method, path, request_kwargs, kind):
    response = client.request(method, path, **request_kwargs)
    assert response.status_code == 200, response.text
    assert response.content == b""
    (batch,) = store.pending_batches()
    assert batch.kind == kind and len(batch.keys) == 1


def test_kaleyra_unexpanded_variables_in_the_raw_query_string(client, store):
    query = "id=c2c_9&caller=9988776655&receiver=9877665544&status=ANSWER&starttime=1764583200&endtime=1764583260"
    query += "&recordpath={recordpath}&status2=%7Bstatus2%7D"
    response = client.get(f"/ka/calls?token={TOKEN}&{query}")
    assert response.status_code == 200 and response.content == b""
    (batch,) = store.pending_batches()
    (event,) = store.events(batch)
    assert "recordpath" not in event.raw and "status2" not in event.raw
    assert "token" not in event.raw and TOKEN not in event.model_dump_json()  # the token never reaches the parser


def test_a_token_in_the_path_is_not_a_route(client, store, caplog):
    """The token travels as the ``token`` query parameter (Airflow's access log masks it there)."""
    for path in (f"/oc/deliveries/{TOKEN}", f"/ka/calls/{TOKEN}"):
        response = client.post(path, json=OCTOPUSH_REPORT)
        assert response.status_code == 404 and TOKEN not in response.text
    assert stored_events(store.root) == []
    assert TOKEN not in caplog.text


def test_a_secret_of_exactly_16_characters_is_accepted(client):
    assert client.post(f"/exact16/messages?token={EXACT}", json=MESSAGE_RECEIVED).status_code == 200


# -- 401 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, headers",
    [
        # Basic
        ("/tv_basic/messages", {}),
        ("/tv_basic/messages", basic(password="wrong-password-000")),
        ("/tv_basic/messages", basic(user="someone-else")),
        ("/tv_basic/messages", basic(password=BASIC_PASSWORD + "x")),
        ("/tv_basic/messages", {"Authorization": "Bearer " + BASIC_PASSWORD}),
        ("/tv_basic/messages", {"Authorization": BASIC_PASSWORD}),
        ("/tv_basic/messages", {"Authorization": "Basic !!!not-base64!!!"}),
        ("/tv_basic/messages", {"Authorization": "Basic " + base64.b64encode(BASIC_PASSWORD.encode()).decode()}),
        ("/tv_basic/messages", {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()}),
        (f"/tv_basic/messages?token={BASIC_PASSWORD}", {}),  # the password as a token is not Basic
        ("/basic_no_user/messages", basic(user="", password=BASIC_PASSWORD)),
        # API key header
        ("/tv_key/messages", {}),
        ("/tv_key/messages", {"X-TeleVoIPs-Key": "wrong-key-0000000000"}),
        ("/tv_key/messages", {"X-TeleVoIPs-Key": API_KEY[:-1]}),
        ("/tv_key/messages", {"X-Api-Key": API_KEY}),  # the right key in another header
        ("/tv_key/messages", {"Authorization": API_KEY}),
        (f"/tv_key/messages?token={API_KEY}", {}),
        # path token
        ("/tv_token/messages", {}),
        ("/tv_token/messages?token=wrong-token-0000000000", {}),
        (f"/tv_token/messages?token={TOKEN[:-1]}", {}),
        (f"/tv_token/messages?token={TOKEN}x", {}),
        (f"/tv_token/messages?token={TOKEN.upper()}", {}),
        ("/tv_token/messages", {"X-Api-Key": TOKEN, "Authorization": "Bearer " + TOKEN}),
        # unknown or unusable connections: refused whatever is sent
        (f"/nope/messages?token={TOKEN}", {}),
        (f"/http_conn/messages?token={TOKEN}", {}),
        (f"/no_secret/messages?token={TOKEN}", {}),
        ("/no_secret/messages/", {}),
        (f"/empty_secret/messages?token={TOKEN}", {}),
        (f"/no_mode/messages?token={TOKEN}", {}),
        (f"/odd_mode/messages?token={TOKEN}", {}),
        (f"/short/messages?token={SHORT}", {}),  # the right secret, but under 16 characters
        # a mode the vendor's route does not allow, with otherwise correct credentials
        (f"/ve_basic/calls?token={BASIC_PASSWORD}", basic()),
        (f"/oc_key/deliveries?token={API_KEY}", {"X-TeleVoIPs-Key": API_KEY}),
        (f"/ka_basic/calls?token={BASIC_PASSWORD}", basic()),
    ],
)
def test_refused_requests_are_401_and_store_nothing(client, store, path, headers):
    body = MESSAGE_RECEIVED if "/messages" in path else (VELIP_CALL if "/calls" in path else OCTOPUSH_REPORT)
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 401, (path, response.text)
    assert response.json() == {"detail": "unauthorized"}
    assert store.pending_batches() == []
    assert stored_events(store.root) == []


def test_settings_from_connection():
    assert settings_from_connection("h", "http", {"webhook_secret": TOKEN}) is None
    prefixed = connections()["tv_prefixed"]
    assert prefixed.auth == "token" and prefixed.secret == TOKEN  # lower-cased mode, stripped secret
    assert connections()["empty_secret"].secret is None
    assert connections()["tv_key"].api_key_header == "X-TeleVoIPs-Key"
    assert connections()["tv_token"].api_key_header == "X-Api-Key"  # the default header name
    for settings in connections().values():
        if settings is not None:
            assert all(secret not in repr(settings) for secret in SECRETS)


# -- 413 -------------------------------------------------------------------------------------------
def test_body_over_max_with_content_length_is_413(client, store):
    big = b"[" + b" " * MAX_BODY_BYTES + b"]"
    response = client.post("/tv_basic/cdrs", content=big, headers={**basic(), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["detail"]
    # the size is checked first: a stranger's big body is refused before any lookup or auth
    assert client.post("/nope/cdrs", content=big).status_code == 413
    assert stored_events(store.root) == []


async def test_a_declared_content_length_over_max_is_refused_before_reading(receiver):
    """A sender announcing 1 GB is answered 413 without a single body chunk being read."""
    app = build_app(receiver, publisher=False)
    reads: list[str] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append("body")
        return {"type": "http.request", "body": b" " * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/tv_basic/cdrs",
        "raw_path": b"/tv_basic/cdrs",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-length", str(10**9).encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert reads == []


def test_body_of_exactly_max_bytes_is_read(client, store):
    body = json.dumps(CDRS).encode()
    body = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"]"
    assert len(body) == MAX_BODY_BYTES
    response = client.post("/tv_basic/cdrs", content=body, headers={**basic(), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert len(stored_events(store.root)) == 1


def test_chunked_body_over_max_without_content_length_is_413(client, store):
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            sent.append(65536)
            yield b" " * 65536
        yield b"]"

    request = client.build_request("POST", "/tv_basic/cdrs", content=chunks(), headers=basic())
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    response = client.send(request)
    assert response.status_code == 413
    assert stored_events(store.root) == []


# -- 400, 404, 405 -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, body",
    [
        ("/tv_basic/messages", b'{"type": "message-received", "from": "+33612345678", "to": ["33612345678"'),
        ("/tv_basic/messages", b'{"type": "message-read", "from": "+33612345678", "text": "call +33612345678"}'),
        ("/tv_basic/messages", b'["+33612345678"]'),
        ("/tv_basic/messages", b'{"type": "message-delivered", "id": "m", "to": [{"n": "+33612345678"}]}'),
        ("/tv_basic/cdrs", b'[{"uniqueid": "1.1", "src": "+33612345678"}, "+33612345678"]'),
        ("/tv_basic/messages", b"\xff\xfe+33612345678"),
    ],
)
def test_garbage_is_400_and_no_phone_number_is_logged(client, store, caplog, path, body):
    caplog.set_level(logging.DEBUG)
    response = client.post(path, content=body, headers={**basic(), "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("not a televoips ")
    assert PERSON not in response.text
    refusals = [r for r in caplog.records if "refused (400)" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
    assert PERSON not in caplog.text
    for record in caplog.records:
        assert PERSON not in record.getMessage()
    assert stored_events(store.root) == [] and store.pending_batches() == []


def test_unknown_route_is_404(client):
    assert client.post(f"/tv_token/unknown?token={TOKEN}", json=MESSAGE_RECEIVED).status_code == 404
    assert client.post(f"/oc/calls?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 404  # a route of another vendor
    assert client.post(f"/tv_token/messages/more?token={TOKEN}", json=MESSAGE_RECEIVED).status_code == 404
    assert client.post("/tv_token", json=MESSAGE_RECEIVED).status_code == 404
    assert client.get("/").status_code == 404


def test_wrong_method_is_405(client, store):
    assert client.get(f"/tv_token/messages?token={TOKEN}").status_code == 405  # TeleVoIPs only POSTs
    assert client.get("/oc/deliveries", params={**OCTOPUSH_REPORT, "token": TOKEN}).status_code == 405
    assert client.get("/ve/calls", params={**VELIP_CALL, "token": TOKEN}).status_code == 405
    for method in ("PUT", "DELETE", "PATCH"):
        assert client.request(method, f"/ka/calls?token={TOKEN}", json=KALEYRA_END).status_code == 405
    assert store.pending_batches() == []


# -- stored once -----------------------------------------------------------------------------------
def test_replaying_one_event_20_times_stores_it_once(client, store):
    answers = [client.post("/tv_basic/messages", json=MESSAGE_FAILED, headers=basic()) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert all(a.content == TELEVOIPS_OK for a in answers)
    assert len(stored_events(store.root)) == 1
    (batch,) = store.pending_batches()
    assert len(batch.keys) == 1


def test_replay_wakes_the_publisher_only_for_new_events(store):
    recorder = Recorder()
    app = build_app(WebhookReceiver(store, lookup=connections().get), publisher=recorder)
    with TestClient(app) as test_client:
        assert recorder.calls == ["start"]
        for _ in range(3):
            assert test_client.post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 200
        assert (
            test_client.post(f"/oc/deliveries?token={TOKEN}", json={**OCTOPUSH_REPORT, "status": "BUSY"}).status_code
            == 200
        )
    assert recorder.calls == ["start", "wake", "wake", "stop"]


class RacingStore(EventStore):
    """Holds every ``put`` of an event at a barrier so that the writers race for real."""

    def __init__(self, root: Path, barrier: threading.Barrier) -> None:
        super().__init__(root, fsync=False)
        self.barrier = barrier

    def put(self, event: Any, *, batch_id: str | None = None) -> bool:
        if event.kind == "deliveries":
            self.barrier.wait()
        return super().put(event, batch_id=batch_id)


def test_concurrent_duplicates_from_threads_store_one_event(tmp_path):
    """Eight threads, through two receivers (two api-server workers) on one folder, send one report at once."""
    threads_count = 8
    barrier = threading.Barrier(threads_count, timeout=15)
    root = tmp_path / "events"
    stores = [RacingStore(root, barrier), RacingStore(root, barrier)]
    apps = [build_app(WebhookReceiver(s, lookup=connections().get), publisher=False) for s in stores]
    results: list[int] = []
    lock = threading.Lock()
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        clients = [first, second]

        def send(index: int) -> None:
            response = clients[index % 2].post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT)
            with lock:
                results.append(response.status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)
    assert results == [200] * threads_count
    assert len(stored_events(root)) == 1
    pending = stores[0].pending_batches()
    assert len(pending) == 1 and len(pending[0].keys) == 1


# -- opt-outs --------------------------------------------------------------------------------------
def test_an_inbound_stop_stores_an_opt_out_too(client, store):
    stop = {**MESSAGE_RECEIVED, "id": "in-stop-1", "text": "Stop!"}
    for _ in range(3):
        assert client.post("/tv_basic/messages", json=stop, headers=basic()).status_code == 200
    batches = {b.kind: b for b in store.pending_batches()}
    assert set(batches) == {"messages-received", "opt-outs"}
    (opt_out,) = store.events(batches["opt-outs"])
    (message,) = store.events(batches["messages-received"])
    assert opt_out.outcome == "opted_out" and opt_out.number == message.number == "+" + PERSON
    assert opt_out.event_id == "keyword:message-received:in-stop-1"
    assert len(stored_events(store.root)) == 2
    # not every message is an opt-out
    assert (
        client.post(
            "/tv_basic/messages", json={**stop, "id": "in-2", "text": "please stop calling at 8am"}, headers=basic()
        ).status_code
        == 200
    )
    assert sorted(b.kind for b in store.pending_batches()) == ["messages-received", "messages-received", "opt-outs"]


def test_the_connection_keywords_decide_what_is_an_opt_out(client, store):
    assert (
        client.post(
            f"/tv_halt/messages?token={TOKEN}", json={**MESSAGE_RECEIVED, "id": "a", "text": "STOP"}
        ).status_code
        == 200
    )
    assert [b.kind for b in store.pending_batches()] == ["messages-received"]
    assert (
        client.post(
            f"/tv_halt/messages?token={TOKEN}", json={**MESSAGE_RECEIVED, "id": "b", "text": "Halt."}
        ).status_code
        == 200
    )
    assert sorted(b.kind for b in store.pending_batches()) == ["messages-received", "messages-received", "opt-outs"]


# -- storage failures ------------------------------------------------------------------------------
class FailingStore(EventStore):
    """A store whose ``put`` or ``write_batch`` fails the first ``failures`` times."""

    def __init__(self, root: Path, where: str, failures: int = 1) -> None:
        super().__init__(root, fsync=False)
        self.where = where
        self.failures = failures

    def _maybe_fail(self, where: str) -> None:
        if self.where == where and self.failures > 0:
            self.failures -= 1
            raise OSError(errno.ENOSPC, f"No space left on device: {self.root}/{TOKEN}")

    def put(self, event: Any, *, batch_id: str | None = None) -> bool:
        self._maybe_fail("put")
        return super().put(event, batch_id=batch_id)

    def write_batch(self, batch: Any) -> Any:
        self._maybe_fail("batch")
        return super().write_batch(batch)


@pytest.mark.parametrize("where", ["put", "batch"])
def test_a_storage_failure_is_503_never_200(tmp_path, caplog, where):
    store = FailingStore(tmp_path / "events", where)
    with TestClient(build_app(WebhookReceiver(store, lookup=connections().get), publisher=False)) as test_client:
        response = test_client.post("/tv_basic/messages", json=MESSAGE_FAILED, headers=basic())
        assert response.status_code == 503
        assert response.json() == {"detail": "event store unavailable; retry later"}
        assert TOKEN not in response.text and "No space" not in response.text
        assert store.pending_batches() == []
        assert any(r.levelno == logging.ERROR and "(503)" in r.getMessage() for r in caplog.records)
        # the vendor retries once the store is back
        retry = test_client.post("/tv_basic/messages", json=MESSAGE_FAILED, headers=basic())
        assert retry.status_code == 200 and retry.content == TELEVOIPS_OK
    assert len(stored_events(store.root)) == 1
    assert TOKEN not in caplog.text


def test_after_a_failed_batch_write_the_retry_is_still_announced(tmp_path):
    store = FailingStore(tmp_path / "events", "batch")
    with TestClient(build_app(WebhookReceiver(store, lookup=connections().get), publisher=False)) as test_client:
        assert test_client.post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 503
        assert test_client.post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 200
    (batch,) = store.pending_batches()
    assert len(batch.keys) == 1


# -- secrets ---------------------------------------------------------------------------------------
def test_secrets_never_in_responses_or_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/tv_basic/messages", {"json": MESSAGE_RECEIVED, "headers": basic()}),
        ("POST", "/tv_basic/messages", {"json": MESSAGE_RECEIVED, "headers": basic(password=TOKEN)}),
        (
            "POST",
            "/tv_key/messages",
            {"content": b"{not json " + API_KEY.encode(), "headers": {"X-TeleVoIPs-Key": API_KEY}},
        ),
        ("POST", f"/tv_token/messages?token={TOKEN}", {"content": TOKEN.encode()}),
        ("POST", f"/tv_token/nowhere?token={TOKEN}", {"json": MESSAGE_RECEIVED}),
        ("GET", f"/tv_token/messages?token={TOKEN}", {}),
        ("POST", f"/short/messages?token={SHORT}", {"json": MESSAGE_RECEIVED}),
        ("POST", f"/ve_basic/calls?token={BASIC_PASSWORD}", {"data": VELIP_CALL, "headers": basic()}),
        (
            "POST",
            f"/oc_key/deliveries?token={API_KEY}",
            {"json": OCTOPUSH_REPORT, "headers": {"X-TeleVoIPs-Key": API_KEY}},
        ),
        ("POST", f"/no_secret/messages?token={TOKEN}", {"json": MESSAGE_RECEIVED}),
        ("GET", "/ka/calls", {"params": {**KALEYRA_END, "recordpath": f"https://x.example/{TOKEN}", "token": TOKEN}}),
    ]
    statuses = []
    for method, path, kwargs in requests:
        response = client.request(method, path, **kwargs)
        statuses.append(response.status_code)
        shown = response.text + json.dumps(dict(response.headers))
        assert all(secret not in shown for secret in SECRETS), (path, response.text)
    assert statuses == [200, 401, 400, 400, 404, 405, 401, 401, 401, 401, 200]
    assert caplog.records  # the refusals were logged...
    for secret in SECRETS:
        assert secret not in caplog.text  # ...without a secret
        assert all(secret not in r.getMessage() for r in caplog.records)


# -- the access log --------------------------------------------------------------------------------
def uvicorn_access_record(path: str) -> logging.LogRecord:
    """An access-log record exactly as uvicorn's protocols make it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:51234", "POST", path, "1.1", 200),
        None,
    )


@pytest.mark.parametrize(
    "path, shown",
    [
        (f"/voice-webhooks/oc/deliveries?token={TOKEN}", "/voice-webhooks/oc/deliveries?token=***"),
        (
            f"/voice-webhooks/ka/calls?id=c2c_1&token={TOKEN}&status=ANSWER",
            "/voice-webhooks/ka/calls?id=c2c_1&token=***&status=ANSWER",
        ),
        (f"/api/root/voice-webhooks/ve/calls?token={TOKEN}", "/api/root/voice-webhooks/ve/calls?token=***"),
        ("/voice-webhooks/tv_basic/messages", "/voice-webhooks/tv_basic/messages"),  # nothing to mask
        ("/voice-webhooks/ka/calls?id=c2c_1&status=ANSWER", "/voice-webhooks/ka/calls?id=c2c_1&status=ANSWER"),
        ("/api/v2/dags?limit=10", "/api/v2/dags?limit=10"),
    ],
)
def test_access_log_filter_masks_the_token_in_a_uvicorn_record(path, shown):
    record = uvicorn_access_record(path)
    assert AccessLogTokenFilter().filter(record) is True  # masks, never drops
    message = record.getMessage()
    assert TOKEN not in message
    assert message == f'127.0.0.1:51234 - "POST {shown} HTTP/1.1" 200'


def test_access_log_filter_masks_a_preformatted_line():
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        f'10.0.0.1 "POST /voice-webhooks/oc/deliveries?token={TOKEN} HTTP/1.1" 200',
        None,
        None,
    )
    AccessLogTokenFilter().filter(record)
    assert TOKEN not in record.getMessage() and "/voice-webhooks/oc/deliveries?token=*** " in record.getMessage()


@pytest.fixture
def no_access_log_filter() -> Iterator[None]:
    """The access loggers without the token filter (another test's app may have installed it), restored after."""
    loggers = [logging.getLogger(name) for name in receiver_module.ACCESS_LOGGERS]
    saved = [list(logger.filters) for logger in loggers]
    for logger in loggers:
        for existing in [f for f in logger.filters if isinstance(f, AccessLogTokenFilter)]:
            logger.removeFilter(existing)
    yield
    for logger, filters in zip(loggers, saved, strict=True):
        logger.filters[:] = filters


def test_the_app_installs_the_access_log_filter_once(store, no_access_log_filter):
    with TestClient(build_app(WebhookReceiver(store, lookup=connections().get), publisher=False)):
        pass
    install_access_log_filter()
    for name in receiver_module.ACCESS_LOGGERS:
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, AccessLogTokenFilter)]
        assert len(filters) == 1, name


# -- connection cache ----------------------------------------------------------------------------
def test_connection_lookups_are_cached_for_their_ttl(store):
    now = [1000.0]
    looked_up: list[str] = []
    table = connections()

    def lookup(conn_id: str) -> Any:
        looked_up.append(conn_id)
        return table.get(conn_id)

    receiver = WebhookReceiver(store, lookup=lookup, clock=lambda: now[0])
    with TestClient(build_app(receiver, publisher=False)) as test_client:
        for _ in range(5):
            assert test_client.post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 200
            assert test_client.post(f"/stranger/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 401
        assert looked_up == ["oc", "stranger"]
        # a changed secret applies once the cached settings expire
        table["oc"] = settings_from_connection(
            "oc", "octopush", {"webhook_auth": "token", "webhook_secret": "new-" + TOKEN}
        )
        now[0] += receiver_module.CONNECTION_TTL_SECONDS - 1
        assert test_client.post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 200
        now[0] += 2
        assert test_client.post(f"/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT).status_code == 401
        assert test_client.post(f"/oc/deliveries?token=new-{TOKEN}", json=OCTOPUSH_REPORT).status_code == 200
        # a connection created after a stranger's probe is found once the "unknown" entry expires
        table["stranger"] = table["oc"]
        now[0] += receiver_module.UNKNOWN_TTL_SECONDS + 1
        assert test_client.post(f"/stranger/deliveries?token=new-{TOKEN}", json=OCTOPUSH_REPORT).status_code == 200


# -- over a real socket ----------------------------------------------------------------------------
@contextlib.contextmanager
def serve_on_loopback(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL; bounded shutdown."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=True, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def test_over_a_real_loopback_socket_mounted_like_the_api_server(store, caplog, no_access_log_filter):
    caplog.set_level(logging.INFO)
    recorder = Recorder()
    webhooks = build_app(WebhookReceiver(store, lookup=connections().get), publisher=recorder)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:  # what airflow.api_fastapi.app.lifespan does
        async with contextlib.AsyncExitStack() as stack:
            for route in app.routes:
                if isinstance(route, Mount) and isinstance(route.app, FastAPI):
                    await stack.enter_async_context(route.app.router.lifespan_context(route.app))
            yield

    api_server = FastAPI(lifespan=lifespan)
    api_server.mount("/voice-webhooks", webhooks)

    class Keep(logging.Handler):  # uvicorn's access logger, whatever an earlier test did to propagation
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    kept = Keep()
    access_logger = logging.getLogger("uvicorn.access")
    saved = (access_logger.level, access_logger.disabled)
    access_logger.setLevel(logging.INFO)
    access_logger.disabled = False
    access_logger.addHandler(kept)
    try:
        with serve_on_loopback(api_server) as url, httpx.Client(base_url=url, timeout=10) as http:
            send_the_requests(http)
    finally:
        access_logger.removeHandler(kept)
        access_logger.setLevel(saved[0])
        access_logger.disabled = saved[1]
    check_what_was_seen(recorder, store, [kept.format(r) for r in kept.records], caplog)


def send_the_requests(http: httpx.Client) -> None:
    def oversized() -> Iterator[bytes]:
        yield b"["
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b" " * 65536
        yield b"]"

    answers = [http.post(f"/voice-webhooks/oc/deliveries?token={TOKEN}", json=OCTOPUSH_REPORT) for _ in range(3)]
    assert [(a.status_code, a.content) for a in answers] == [(200, b"")] * 3
    tv = http.post("/voice-webhooks/tv_key/messages", json=MESSAGE_FAILED, headers={"X-TeleVoIPs-Key": API_KEY})
    assert tv.status_code == 200 and tv.content == TELEVOIPS_OK
    query = urllib.parse.urlencode(KALEYRA_END)
    assert http.get(f"/voice-webhooks/ka/calls?{query}&token={TOKEN}").status_code == 200
    assert http.post(f"/voice-webhooks/oc/deliveries?token={TOKEN[:-1]}", json=OCTOPUSH_REPORT).status_code == 401
    chunked = http.post("/voice-webhooks/tv_basic/cdrs", content=oversized(), headers=basic())
    assert chunked.status_code == 413
    declared = http.post("/voice-webhooks/tv_basic/cdrs", content=b" " * (MAX_BODY_BYTES + 1), headers=basic())
    assert declared.status_code == 413


def check_what_was_seen(recorder: Any, store: Any, access: list[str], caplog: Any) -> None:
    assert recorder.calls[0] == "start" and recorder.calls[-1] == "stop"
    assert recorder.calls.count("wake") == 3  # Octopush report, TeleVoIPs failure, Kaleyra end; not the replays
    assert sorted(b.kind for b in store.pending_batches()) == ["calls-ended", "deliveries", "deliveries"]
    assert len(access) == 8, access
    assert all(TOKEN not in line and TOKEN[:-1] not in line for line in access)
    assert sum("/voice-webhooks/oc/deliveries?token=*** " in line for line in access) == 4
    assert any("/voice-webhooks/ka/calls?" in line and line.endswith('&token=*** HTTP/1.1" 200') for line in access)
    for secret in SECRETS:
        assert secret not in caplog.text
