"""The HTTP client the simulator's webhooks are sent with: small, fast, loopback only.

A webhook only needs its answer's status code, and a load test needs thousands of them per
second: ``httpx`` spends about a millisecond of CPU per request, this client a small fraction of
that. It speaks HTTP/1.1 over ``asyncio`` streams to ``http://`` loopback URLs, keeps idle
connections per host and port for reuse, reads (and discards) the answer's body whatever its
framing (``Content-Length``, chunked, or until the connection closes), and resends once on a fresh
connection when a reused one turns out closed before any answer byte arrived (the receiver closed
an idle keep-alive connection: it never saw the request). ``https://`` URLs go through ``httpx``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json as jsonlib
import socket
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from .auth import is_loopback_host

#: idle connections kept per host and port
MAX_IDLE_PER_HOST = 256
USER_AGENT = "voice-simulator-webhooks"
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What a webhook try got back."""

    status_code: int


class _Stale(Exception):
    """A reused connection was closed before any byte of the answer."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def _clean(text: str, what: str) -> str:
    if "\r" in text or "\n" in text:
        raise ValueError(f"a line break in a webhook {what}")
    return text


class LoopbackHttpClient:
    """Sends webhook requests; ``await client.request(method, url, json=..., data=..., headers=..., timeout=...)``.

    :param max_idle_per_host: idle keep-alive connections kept per host and port.
    """

    def __init__(self, max_idle_per_host: int = MAX_IDLE_PER_HOST) -> None:
        self.max_idle_per_host = max_idle_per_host
        self._idle: defaultdict[tuple[str, int], list[_Connection]] = defaultdict(list)
        self._httpx: Any = None

    async def __aenter__(self) -> LoopbackHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection (and the ``httpx`` client, if one was made)."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        if self._httpx is not None:
            await self._httpx.aclose()
            self._httpx = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 2.0,
    ) -> Answer:
        """Make one request; returns its status code. Raises on connection errors, timeouts, bad answers."""
        parts = urlsplit(url)
        if parts.scheme == "https":
            return await self._via_httpx(method, url, json=json, data=data, headers=headers, timeout=timeout)
        if parts.scheme != "http" or not is_loopback_host(parts.hostname):
            raise ValueError("webhooks go to loopback http(s) URLs only")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        head, body = self._encode(method, parts, host, json=json, data=data, headers=headers or {})
        return await asyncio.wait_for(self._exchange((host, port), head + body), timeout)

    @staticmethod
    def _encode(
        method: str, parts: Any, host: str, *, json: Any, data: dict[str, str] | None, headers: dict[str, str]
    ) -> tuple[bytes, bytes]:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = f"[{host}]" if ":" in host else host
        lines = {"host": f"{authority}:{parts.port}" if parts.port else authority, "user-agent": USER_AGENT}
        lines["accept"] = "*/*"
        body = b""
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            lines["content-type"] = "application/json"
        elif data is not None:
            body = urlencode(data).encode("ascii")
            lines["content-type"] = "application/x-www-form-urlencoded"
        if body or method.upper() not in ("GET", "HEAD", "DELETE"):
            lines["content-length"] = str(len(body))
        if parts.username is not None and not any(k.lower() == "authorization" for k in headers):
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            lines["authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        for name, value in headers.items():
            lines[_clean(name, "header name").lower()] = _clean(value, "header value")
        text = f"{_clean(method.upper(), 'method')} {_clean(target, 'URL')} HTTP/1.1\r\n"
        text += "".join(f"{name}: {value}\r\n" for name, value in lines.items())
        return (text + "\r\n").encode("latin-1"), body

    async def _exchange(self, key: tuple[str, int], payload: bytes) -> Answer:
        connection = self._take_idle(key)
        if connection is not None:
            try:
                return await self._roundtrip(key, connection, payload, reused=True)
            except _Stale:
                pass  # the receiver had closed it: it never saw this request
        connection = await self._connect(key)
        return await self._roundtrip(key, connection, payload, reused=False)

    def _take_idle(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return None

    @staticmethod
    async def _connect(key: tuple[str, int]) -> _Connection:
        reader, writer = await asyncio.open_connection(key[0], key[1], limit=_MAX_HEAD)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    async def _roundtrip(
        self, key: tuple[str, int], connection: _Connection, payload: bytes, *, reused: bool
    ) -> Answer:
        reader = connection.reader
        try:
            connection.writer.write(payload)
            await connection.writer.drain()
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as err:
                    if reused and not err.partial:
                        raise _Stale from err
                    raise ConnectionError("the receiver closed the connection without an answer") from err
                status, version, fields = _parse_head(head)
                if 100 <= status < 200 and status != 101:
                    continue  # 100 Continue and other interim answers
                break
            keep = await _read_body(reader, status, fields, version)
        except (ConnectionResetError, BrokenPipeError) as err:
            connection.close()
            if reused:
                raise _Stale from err
            raise
        except BaseException:
            connection.close()
            raise
        idle = self._idle[key]
        if keep and len(idle) < self.max_idle_per_host:
            idle.append(connection)
        else:
            connection.close()
        return Answer(status)

    async def _via_httpx(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        data: dict[str, str] | None,
        headers: dict[str, str] | None,
        timeout: float,
    ) -> Answer:
        if self._httpx is None:
            import httpx

            self._httpx = httpx.AsyncClient(trust_env=False)
        response = await self._httpx.request(method, url, json=json, data=data, headers=headers, timeout=timeout)
        return Answer(response.status_code)


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            fields[name] = f"{fields[name]}, {value.strip()}" if name in fields else value.strip()
    return int(status_line[1]), status_line[0], fields


async def _read_body(reader: asyncio.StreamReader, status: int, fields: dict[str, str], version: str) -> bool:
    """Read and drop the answer's body; returns whether the connection can be reused."""
    connection = fields.get("connection", "").lower()
    keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    if status in (204, 304):  # never a body
        return keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return keep
            await reader.readexactly(size + 2)
    length = fields.get("content-length")
    if length is not None:
        await reader.readexactly(int(length.split(",")[0].strip()))
        return keep
    while await reader.read(65536):  # no framing: the body ends with the connection
        pass
    return False
