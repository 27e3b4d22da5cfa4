"""One typed way to call a vendor: the API builds the request, the client sends it.

``VendorClient`` / ``AsyncVendorClient`` bind no endpoint dynamically: ``client.get_user_id()`` does
not exist for any endpoint of any vendor; ``send`` takes one ``Call``, ``run``/``iterate`` a fresh
flow, ``stream`` one ``Call``. Anything else (a flow handed to ``send``, a call to ``run``, the
builder itself instead of its call, a flow already driven, a dict) is a ``TypeError`` raised
*before any request leaves*, naming the method to use, and never echoing the argument's content
(it may hold a credential). Every case runs on the sync and the async client from one table.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_voice.transport import Call, Emit, Flow, RetryPolicy
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi, VendorClient
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.velip import VelipApi

TOKEN = "velip-Sup3r-Secret-0123456789"
ENVELOPE = {"status": "OK", "status_code": "0"}
USER = {"return": {**ENVELOPE, "tsid": "t" * 32, "cdcs_id": "1001"}}
CALL_ROW = {"cd_id": "c_1", "ctid": "", "cp_id": "5001", "cd_status": "OK", "dest": "5511999990000",
            "date": "2024-05-01", "time": "10:00:00", "dur": 12, "value": 0.15}  # fmt: skip


def velip() -> VelipApi:
    return VelipApi(token=TOKEN, base_urls={"default": "https://velip.invalid"})


class Recorder:
    """A mock vendor: answers GetUserID / GetCallStatus / a CSV download and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("GetUserID"):
            return httpx.Response(200, json=USER)
        if request.url.path.endswith("GetCallStatus"):
            more = not self.requests[:-1]  # the first page says there is more, the second does not
            return httpx.Response(
                200,
                json={"return": {**ENVELOPE, "calls": [{**CALL_ROW, "cd_id": f"c_{len(self.requests)}"}],
                                 "pagination": {"has_more": more, "next_id": "c_1" if more else ""}}},
            )  # fmt: skip
        return httpx.Response(200, content=b"a,b\n1,2\n", headers={"content-type": "text/csv"})


def run_with(
    kind: str, api: VendorApi, action: Callable[[Any], Any], recorder: Recorder | None = None
) -> tuple[Any, Recorder]:
    """``action(client)`` on a sync or an async client (an async action's coroutine is awaited)."""
    recorder = recorder if recorder is not None else Recorder()
    if kind == "sync":
        with VendorClient(
            api, retry=RetryPolicy(max_attempts=1), http_client=httpx.Client(transport=httpx.MockTransport(recorder))
        ) as client:
            return action(client), recorder

    async def main() -> Any:
        async with AsyncVendorClient(
            api,
            retry=RetryPolicy(max_attempts=1),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        ) as client:
            result = action(client)
            return await result if inspect.isawaitable(result) else result

    return asyncio.run(main()), recorder


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def iterate_all(client: Any, flow: Any) -> Any:
    """Every item ``client.iterate(flow)`` yields (``async for`` on the async client)."""
    items = client.iterate(flow)
    return _collect(items) if isinstance(client, AsyncVendorClient) else list(items)


def read_stream(client: Any, call: Any) -> Any:
    """The body ``client.stream(call)`` yields (``async with`` on the async client)."""
    if isinstance(client, AsyncVendorClient):

        async def read() -> bytes:
            async with client.stream(call) as response:
                return b"".join([chunk async for chunk in response.aiter_bytes()])

        return read()
    with client.stream(call) as response:
        return b"".join(response.iter_bytes())


KINDS = ["sync", "async"]
ALL_APIS: list[Callable[[], VendorApi]] = [
    velip,
    lambda: KaleyraApi(api_key="ky-0123456789", base_urls={"default": "https://kaleyra.invalid/v1/"}),
    lambda: OctopushApi(api_login="me@example.invalid", api_key="ok-0123456789"),
    lambda: TeleVoipsApi(messaging_key="mk-0123456789", reports_key="rk-0123456789"),
]


# -- no dynamic binding ------------------------------------------------------------------------
@pytest.mark.parametrize("client_class", [VendorClient, AsyncVendorClient])
@pytest.mark.parametrize("make_api", ALL_APIS, ids=["velip", "kaleyra", "octopush", "televoips"])
def test_no_endpoint_is_bound_on_the_client(client_class, make_api):
    api = make_api()
    client = client_class(api)
    try:
        assert api.endpoints(), "the API lists its endpoints"
        for name in api.endpoints():
            assert not hasattr(client, name), f"{client_class.__name__}.{name} is bound: use client.send(api.{name}())"
        assert not hasattr(client, "http")  # no second, raw way to send
        assert not hasattr(client_class, "__getattr__")
    finally:
        _close(client)


def _close(client: Any) -> None:
    if isinstance(client, AsyncVendorClient):
        asyncio.run(client.aclose())
    else:
        client.close()


# -- the one way, typed, on both clients --------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_send_returns_the_calls_parsed_result(kind):
    api = velip()
    user, recorder = run_with(kind, api, lambda c: c.send(api.get_user_id()))
    assert user.cdcs_id == "1001" and len(recorder.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_iterate_yields_every_emitted_item_and_run_returns_the_flows_value(kind):
    api = velip()
    rows, recorder = run_with(kind, api, lambda c: iterate_all(c, api.call_status_flow(cp_id="5001")))
    assert [r.cd_id for r in rows] == ["c_1", "c_2"] and len(recorder.requests) == 2
    count, recorder = run_with(kind, api, lambda c: c.run(api.call_status_flow(cp_id="5001")))
    assert count == 2 and len(recorder.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_stream_yields_the_unread_download(kind):
    api = velip()
    download = Call(endpoint="download", method="GET", path="/file.csv", parse=lambda r: r)
    body, recorder = run_with(kind, api, lambda c: read_stream(c, download))
    assert body == b"a,b\n1,2\n" and len(recorder.requests) == 1


# -- the wrong kind of argument: TypeError, nothing sent ----------------------------------------
def _flow() -> Flow[int]:
    return velip().call_status_flow(cp_id="5001")


def _started_flow() -> Flow[int]:
    def flow() -> Flow[int]:
        yield Emit([1])
        return 1

    started = flow()
    next(started)
    return started


def _finished_flow() -> Flow[int]:
    def flow() -> Flow[int]:
        return 1
        yield  # pragma: no cover - makes it a generator

    finished = flow()
    with pytest.raises(StopIteration):
        next(finished)
    return finished


WRONG: list[tuple[str, str, Callable[[], Any], str]] = [
    ("send", "flow", _flow, "client.run"),
    ("stream", "flow", _flow, "client.run"),
    ("send", "builder", lambda: velip().get_user_id, "call it first"),
    ("send", "dict", lambda: {"token": TOKEN, "url": "/api/v2/GetUserID"}, "a dict"),
    ("send", "none", lambda: None, "NoneType"),
    ("run", "call", lambda: velip().get_user_id(), "client.send"),
    ("iterate", "call", lambda: velip().get_user_id(), "client.send"),
    ("run", "builder", lambda: velip().call_status_flow, "call it first"),
    ("run", "list", lambda: [velip().get_user_id()], "a list"),
    ("iterate", "started", _started_flow, "already started"),
    ("run", "finished", _finished_flow, "already started"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("method", "what", "make", "hint"), WRONG, ids=[f"{m}-{w}" for m, w, _, _ in WRONG])
def test_wrong_argument_is_a_type_error_before_anything_is_sent(kind, method, what, make, hint):
    argument = make()

    def act(client: Any) -> Any:
        if method == "iterate":
            return iterate_all(client, argument)
        if method == "stream":
            return read_stream(client, argument)
        return getattr(client, method)(argument)

    recorder = Recorder()
    with pytest.raises(TypeError) as info:
        run_with(kind, velip(), act, recorder)
    message = str(info.value)
    assert hint in message and f"client.{method}()" in message
    assert TOKEN not in message  # the argument's content is never shown
    assert recorder.requests == []
    if inspect.isgenerator(argument) and what == "flow":
        assert inspect.getgeneratorstate(argument) == inspect.GEN_CREATED  # the flow was not driven either


@pytest.mark.parametrize("client_class", [VendorClient, AsyncVendorClient])
def test_iterate_refuses_a_call_when_called_not_at_first_item(client_class):
    """The check is eager: ``client.iterate(call)`` fails on the line that wrote it, not later."""
    client = client_class(velip())
    try:
        with pytest.raises(TypeError, match=r"client\.send"):
            client.iterate(velip().get_user_id())
    finally:
        _close(client)
