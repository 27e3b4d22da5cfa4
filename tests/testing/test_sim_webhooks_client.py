"""The simulator's loopback webhook client: answer framings, keep-alive reuse, stale connections, timeouts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from airflow_provider_voice.testing.loopback_http import LoopbackHttpClient

Answerer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


def run(answer: Answerer, calls: Callable[[LoopbackHttpClient, str], Awaitable[object]]) -> tuple[object, list[bytes]]:
    """Serve ``answer`` on a loopback port and run ``calls(client, url)`` against it (bounded: 10 s)."""
    requests: list[bytes] = []

    async def main() -> object:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await answer(reader, writer, requests)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with LoopbackHttpClient() as client:
                return await asyncio.wait_for(calls(client, f"http://127.0.0.1:{port}/hook?k=v"), 10)
        finally:
            server.close()

    return asyncio.run(main()), requests


def keep_alive(*answers: bytes) -> Answerer:
    """Answer the requests of one connection with ``answers`` in turn, then close it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, requests: list[bytes]) -> None:
        for raw in answers:
            requests.append(await read_request(reader))
            writer.write(raw)
            await writer.drain()

    return answer


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuccess", 200),
        (
            b"HTTP/1.1 503 Busy\r\ntransfer-encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\ntrailer: t\r\n\r\n",
            503,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 200),
    ],
    ids=["length", "chunked", "204", "100-continue"],
)
def test_framed_answers_keep_the_connection(raw: bytes, status: int) -> None:
    async def two(client: LoopbackHttpClient, url: str) -> list[int]:
        first = await client.request("POST", url, json={"a": "é"}, headers={"X-Api-Key": "k"})
        second = await client.request("GET", url)
        return [first.status_code, second.status_code]

    statuses, requests = run(keep_alive(raw, raw), two)
    assert statuses == [status, status]
    assert len(requests) == 2  # both on one connection
    head, body = requests[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /hook?k=v HTTP/1.1\r\n") and b"\r\nx-api-key: k" in head
    assert b"content-type: application/json" in head and json.loads(body) == {"a": "é"}
    assert requests[1].startswith(b"GET /hook?k=v HTTP/1.1\r\n") and b"content-length" not in requests[1]


def test_unframed_answer_ends_with_the_connection_and_form_bodies() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, requests: list[bytes]) -> None:
        requests.append(await read_request(reader))
        writer.write(b"HTTP/1.0 500 Internal Server Error\r\n\r\nboom")
        await writer.drain()

    async def two(client: LoopbackHttpClient, url: str) -> list[int]:
        return [(await client.request("POST", url, data={"cd_id": "c_1", "dur": "3"})).status_code for _ in range(2)]

    statuses, requests = run(answer, two)
    assert statuses == [500, 500] and len(requests) == 2
    assert requests[0].endswith(b"\r\n\r\ncd_id=c_1&dur=3") and b"application/x-www-form-urlencoded" in requests[0]


def test_a_closed_idle_connection_is_replaced_without_a_failed_try() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, requests: list[bytes]) -> None:
        requests.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()  # then close: keep-alive ends on the receiver's side

    async def two(client: LoopbackHttpClient, url: str) -> list[int]:
        first = await client.request("POST", url, json={})
        await asyncio.sleep(0.05)
        return [first.status_code, (await client.request("POST", url, json={})).status_code]

    statuses, requests = run(answer, two)
    assert statuses == [200, 200] and len(requests) == 2


def test_no_answer_is_a_timeout_and_garbage_an_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, requests: list[bytes]) -> None:
        requests.append(await read_request(reader))
        await asyncio.sleep(2)

    async def once(client: LoopbackHttpClient, url: str) -> object:
        with pytest.raises(asyncio.TimeoutError):
            await client.request("POST", url, json={}, timeout=0.2)
        return None

    run(silent, once)

    async def garbage(client: LoopbackHttpClient, url: str) -> object:
        with pytest.raises(ConnectionError):
            await client.request("POST", url, json={})
        return None

    run(keep_alive(b"SSH-2.0-OpenSSH\r\n\r\n"), garbage)


def test_only_loopback_and_no_header_injection() -> None:
    async def calls(client: LoopbackHttpClient, url: str) -> object:
        with pytest.raises(ValueError):
            await client.request("POST", "http://192.0.2.1/x", json={})
        with pytest.raises(ValueError):
            await client.request("POST", url, json={}, headers={"X-Api-Key": "a\r\nX-Evil: 1"})
        return None

    run(keep_alive(), calls)
