"""A misbehaving vendor: a raw HTTP/1.1 server on 127.0.0.1 whose every answer is wrong in one way.

Written on plain asyncio streams (not an ASGI framework) so that it can break HTTP itself: cut a
body short of its ``Content-Length``, drip headers one byte at a time, stall, reset, send a gzip
bomb. It runs its own event loop in a daemon thread; every request is answered then the
connection is closed (``Connection: close``).

The request path picks the answer: ``/<vendor>/<mode>/<anything>``, so a vendor API whose base URL
is :meth:`BadVendorServer.base_url` gets the ``mode`` answer on every endpoint. :data:`MODES` lists
the modes; some are vendor-aware (the vendor's success envelope with nothing in it, or with every
field of the wrong type). Every loop is bounded: a drip stops after :attr:`BadVendorServer.drip_limit`
bytes, a stall after :attr:`BadVendorServer.stall_seconds`, a huge body after its size, and all of
them as soon as the client goes away.
"""

from __future__ import annotations

import asyncio
import functools
import json
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

__all__ = ["BODY_MODES", "MODES", "SLOW_MODES", "BadVendorServer"]

#: a realistic success of each vendor (used to make *truncated* versions of it)
SUCCESS = {
    "velip": {
        "return": {
            "status": "OK",
            "status_code": "0",
            "cd_id": "c_88700",
            "cp_id": "5001",
            "cdls_id": "s_70001",
            "tsid": "0123456789abcdef0123456789abcdef",
            "campaigns": [],
            "calls": [],
        }
    },
    "kaleyra": {"status": "200", "message": "OK", "data": {"id": "c2c_5a7d85903dd70001", "group_id": 217691534}},
    "televoips": {"id": "12cd2374dc", "url": "/reports/cdrs/12cd2374dc/cdrs_2026-01-01.csv", "uuid": "8331946p24"},
    "octopush": {"ticket_number": "voice_5f44ebf9e47b7", "number_of_contacts": 1, "amount": 12.5, "unit": "euros"},
}
#: the vendor's success envelope carrying nothing (class "success made up from a body")
ENVELOPE = {
    "velip": {"return": {"status": "OK", "status_code": "0"}},
    "kaleyra": {"status": "200", "message": "OK"},
    "televoips": {"message": "OK"},
    "octopush": {"code": 200, "message": "OK"},
}
#: envelopes that look like a success but are not the vendor's (status words of another method)
ODD_ENVELOPE = {
    "velip": {"return": {"status": "OK"}},  # no status_code
    "kaleyra": {"status": "OK ", "message": "OK"},  # the dialer's status, on every method
    "televoips": {"status": "complete"},
    "octopush": {"ticket_number": "", "number_of_contacts": 0},
}
#: every field a parser reads, with a wrong type
WRONG_TYPES = {
    "velip": {
        "return": {
            "status": "OK",
            "status_code": "0",
            "cd_id": {"x": 1},
            "cp_id": [1],
            "cdls_id": {"a": 1},
            "tsid": 5,
            "campaigns": "many",
            "calls": 7,
            "pagination": [1],
            "cp_destinations": "lots",
        }
    },
    "kaleyra": {
        "status": "200",
        "message": "OK",
        "data": {
            "id": {"x": 1},
            "group_id": [1],
            "incidents": "none",
            "0": {"id": [], "status": {}, "mobile": 5},
            "dial": 7,
            "followup": "x",
        },
    },
    "televoips": {"id": [], "url": 5, "status": {}, "uuid": 12, "Media": "x"},
    "octopush": {"ticket_number": 5, "number_of_contacts": "many", "amount": "lots", "unit": []},
}

DEEP = 100_000
HUGE_BYTES = 200 * 1024 * 1024
BOMB_MIB = 1024  # 1 GiB of zeros once inflated


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@functools.cache
def _bomb_parts(wbits: int) -> tuple[bytes, bytes, bytes]:
    """(first segment, repeated segment, end) of a compressed stream of ``BOMB_MIB`` MiB of zeros.

    Each MiB is compressed with a full flush, which resets the compressor: every segment after the
    first is byte-identical, so the bomb is served by repeating one ~1 KB segment (no CPU per case).
    """
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = b"\x03\x00"  # a final, empty fixed-Huffman block
    if wbits > 16:  # gzip trailer: CRC-32 and size of the whole input
        crc = 0
        for _ in range(BOMB_MIB):
            crc = zlib.crc32(zeros, crc)
        end += struct.pack("<II", crc, (BOMB_MIB << 20) & 0xFFFFFFFF)
    return first, again, end


async def _bomb(wbits: int) -> AsyncIterator[bytes]:
    first, again, end = _bomb_parts(wbits)
    yield first
    for _ in range(BOMB_MIB - 1):
        yield again
    yield end


async def _huge() -> AsyncIterator[bytes]:
    """A 200 MB JSON array of zeros, produced 64 KiB at a time."""
    chunk = b"0," * 32768
    yield b"["
    for _ in range(HUGE_BYTES // len(chunk)):
        yield chunk
    yield b"0]"


@functools.cache
def _nested_object() -> bytes:
    return b'{"a":' * DEEP + b"1" + b"}" * DEEP


@functools.cache
def _nested_list() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


@functools.cache
def _nested_xml() -> bytes:
    return b"<api><status>200</status><data>" + b"<a>" * DEEP + b"x" + b"</a>" * DEEP + b"</data></api>"


XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE api [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
    + b"]><api><status>200</status><message>&j;</message></api>"
)


class Answer:
    """How one mode answers: a status, headers, a body (bytes or an async iterator) and how to send it."""

    def __init__(
        self,
        body: bytes | Callable[[], AsyncIterator[bytes]] = b"",
        *,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        chunked: bool = False,
        declared_length: int | None = None,
        drip_body: bool = False,
        drip_head: bool = False,
        stall: bool = False,
        reset: bool = False,
    ) -> None:
        self.body = body
        self.status = status
        self.headers = {"Content-Type": content_type, **(headers or {})}
        self.chunked = chunked
        self.declared_length = declared_length
        self.drip_body = drip_body
        self.drip_head = drip_head
        self.stall = stall
        self.reset = reset


def _modes() -> dict[str, Callable[[str], Answer]]:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    return {
        # broken HTTP
        "truncated": lambda v: Answer(_json(SUCCESS[v])[:25], declared_length=len(_json(SUCCESS[v])) + 40),
        "reset": lambda v: Answer(reset=True),
        # bodies of the wrong kind
        "truncated-json": lambda v: Answer(_json(SUCCESS[v])[: len(_json(SUCCESS[v])) // 2]),
        "html": lambda v: Answer(page, content_type="text/html"),
        "html-500": lambda v: Answer(page, status=500, content_type="text/html"),
        "redirect": lambda v: Answer(b"", status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"}),
        "empty": lambda v: Answer(b""),
        "object": lambda v: Answer(b"{}"),
        "list": lambda v: Answer(b"[]"),
        "null": lambda v: Answer(b"null"),
        "string": lambda v: Answer(b'"OK"'),
        "number": lambda v: Answer(b"200"),
        "envelope": lambda v: Answer(_json(ENVELOPE[v])),
        "odd-envelope": lambda v: Answer(_json(ODD_ENVELOPE[v])),
        "wrong-types": lambda v: Answer(_json(WRONG_TYPES[v])),
        "wrong-types-list": lambda v: Answer(b'[{"id": {"a": 1}, "to": [1]}, 5, "x"]'),
        "non-utf8": lambda v: Answer(b'\xff\xfe{"status": "\xc3\x28"}'),
        "deep": lambda v: Answer(_nested_object()),
        "deep-list": lambda v: Answer(_nested_list()),
        "deep-xml": lambda v: Answer(_nested_xml(), content_type="text/xml"),
        "xml-bomb": lambda v: Answer(XML_BOMB, content_type="text/xml"),
        "xml-unclosed": lambda v: Answer(b"<api><status>200</status><message>OK", content_type="text/xml"),
        # too much
        "huge": lambda v: Answer(_huge, chunked=True),
        "huge-length": lambda v: Answer(_huge, declared_length=HUGE_BYTES + 3),
        "gzip-bomb": lambda v: Answer(
            lambda: _bomb(16 + zlib.MAX_WBITS), chunked=True, headers={"Content-Encoding": "gzip"}
        ),
        "deflate-bomb": lambda v: Answer(
            lambda: _bomb(zlib.MAX_WBITS), chunked=True, headers={"Content-Encoding": "deflate"}
        ),
        "bad-gzip": lambda v: Answer(b"this is not gzip data at all", headers={"Content-Encoding": "gzip"}),
        "brotli": lambda v: Answer(b"\x1b\x03\x00\xf8", headers={"Content-Encoding": "br"}),
        # too slow
        "slow-loris": lambda v: Answer(_json(SUCCESS[v]) * 200, drip_body=True),
        "slow-headers": lambda v: Answer(_json(SUCCESS[v]), drip_head=True),
        "stall": lambda v: Answer(stall=True),
    }


MODES: dict[str, Callable[[str], Answer]] = _modes()
#: modes that take (up to) a deadline to fail
SLOW_MODES = frozenset({"slow-loris", "slow-headers", "stall"})
#: modes whose damage is in the body (HTTP itself is fine)
BODY_MODES = frozenset(MODES) - SLOW_MODES - {"truncated", "reset"}


class BadVendorServer:
    """The misbehaving vendor on a loopback port, in a background thread.

    :param drip_interval: seconds between two dripped bytes (slow modes).
    :param drip_limit: most bytes dripped before the server gives up (bounds every drip).
    :param stall_seconds: how long ``stall`` keeps a connection open without answering.
    """

    def __init__(self, *, drip_interval: float = 0.5, drip_limit: int = 40, stall_seconds: float = 20.0) -> None:
        self.drip_interval = drip_interval
        self.drip_limit = drip_limit
        self.stall_seconds = stall_seconds
        self.port = 0
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def base_url(self, vendor: str, mode: str) -> str:
        """The base URL making every endpoint of ``vendor`` answer in ``mode``."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        return f"http://127.0.0.1:{self.port}/{vendor}/{mode}"

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> BadVendorServer:
        for wbits in (16 + zlib.MAX_WBITS, zlib.MAX_WBITS):
            _bomb_parts(wbits)  # built once, before any request
        self._thread = threading.Thread(target=self._run, name="bad-vendor", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the bad vendor server did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def serve() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        loop.run_until_complete(serve())
        try:
            loop.run_forever()
        finally:
            loop.close()

    def stop(self) -> None:
        """Stop serving (open connections are cancelled)."""
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> BadVendorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one connection ---------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            vendor, mode = await self._read_request(reader)
            self.requests += 1
            await self._answer(MODES[mode](vendor), reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, KeyError, ValueError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        _method, target, _version = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(min(length, 64 * 1024 * 1024))
        parts = target.split("?", 1)[0].strip("/").split("/")
        return parts[0], parts[1]

    async def _answer(self, answer: Answer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if answer.reset:
            writer.transport.abort()
            return
        if answer.stall:
            try:  # until the client goes away (EOF) or stall_seconds
                await asyncio.wait_for(reader.read(1), self.stall_seconds)
            except asyncio.TimeoutError:
                pass
            return
        headers = dict(answer.headers, Connection="close")
        body = answer.body
        if answer.chunked:
            headers["Transfer-Encoding"] = "chunked"
        elif answer.declared_length is not None:
            headers["Content-Length"] = str(answer.declared_length)
        else:
            assert isinstance(body, bytes)
            headers["Content-Length"] = str(len(body))
        reason = {200: "OK", 302: "Found", 500: "Internal Server Error"}.get(answer.status, "OK")
        head = f"HTTP/1.1 {answer.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head_bytes = head.encode("latin-1") + b"\r\n"
        if answer.drip_head:
            await self._drip(head_bytes, writer)
            return
        writer.write(head_bytes)
        await writer.drain()
        if answer.drip_body:
            assert isinstance(body, bytes)
            await self._drip(body, writer)
            return
        if isinstance(body, bytes):
            writer.write(body)
            await writer.drain()
            return
        async for chunk in body():
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if answer.chunked else chunk)
            await writer.drain()  # raises once the client has gone away
        if answer.chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def _drip(self, data: bytes, writer: asyncio.StreamWriter) -> None:
        for index in range(min(len(data), self.drip_limit)):
            if writer.is_closing():
                return
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(self.drip_interval)
