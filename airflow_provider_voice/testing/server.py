"""Running the simulator: uvicorn in a background thread on a loopback port.

The HTTP protocol is uvicorn's own (httptools when installed, else h11) with one addition: each
request's ``scope["extensions"]["voice_sim.abort"]`` closes the TCP connection with a reset and
no response, which is how the ``reset`` fault is injected.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

from .auth import is_loopback_host
from .control import base_urls
from .faults import ABORT_EXTENSION
from .state import SimulatorState


def _with_abort(base: type[Any]) -> type[asyncio.Protocol]:
    class AbortableProtocol(base):
        """uvicorn's protocol, plus an abort function in every request scope."""

        app: Callable[[Any, Any, Any], Awaitable[None]]  # the ASGI app uvicorn's protocol calls

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            inner = self.app
            try:  # uvicorn given a pre-bound socket leaves Nagle on: 40 ms per response
                transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError, TypeError):
                pass

            def abort() -> None:
                sock = transport.get_extra_info("socket")
                try:  # SO_LINGER 0: the close sends a TCP RST
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except (OSError, AttributeError, TypeError):
                    pass
                transport.abort()

            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope.setdefault("extensions", {})[ABORT_EXTENSION] = abort
                await inner(scope, receive, send)

            self.app = app

    AbortableProtocol.__name__ = f"Abortable{base.__name__}"
    return AbortableProtocol


def abortable_protocol() -> type[asyncio.Protocol]:
    """The uvicorn HTTP protocol class the simulator runs with."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return _with_abort(HttpToolsProtocol)
    except ImportError:  # pragma: no cover - httptools is optional
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return _with_abort(H11Protocol)


def uvicorn_config(state: SimulatorState, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn configuration used by :class:`SimulatorServer` and the CLI."""
    from .app import create_app

    if not is_loopback_host(host):
        raise ValueError(f"the simulator binds loopback addresses only, not {host!r}")
    return uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        http=abortable_protocol(),
        loop="asyncio",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=5,
    )


class SimulatorServer:
    """The simulator on a loopback port, in a background thread.

    :param state: the :class:`~.state.SimulatorState` to serve (a fresh one by default).
    :param host: a loopback address (``127.0.0.1`` by default; never ``0.0.0.0``).
    :param port: TCP port; 0 picks a free one.
    :param startup_timeout: seconds to wait for the server to accept connections.
    :param shutdown_timeout: seconds :meth:`stop` waits before forcing the exit.
    :param log_level: uvicorn's log level (``warning``: quiet).

    Use as a context manager (``with SimulatorServer() as sim: ...``) or call :meth:`start` /
    :meth:`stop`. ``url`` is the root URL; ``base_url("velip")`` a vendor's base URL.
    """

    VENDORS = tuple(base_urls("http://x").keys())

    def __init__(
        self,
        state: SimulatorState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        log_level: str = "warning",
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the simulator binds loopback addresses only, not {host!r}")
        self.state = state if state is not None else SimulatorState()
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def base_url(self, vendor: str) -> str:
        """Base URL of ``velip`` | ``televoips`` | ``octopush`` | ``kaleyra`` | ``kaleyra-obd``."""
        urls = base_urls(self.url)
        if vendor not in urls:
            raise ValueError(f"unknown vendor {vendor!r}; expected one of {sorted(urls)}")
        return urls[vendor]

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SimulatorServer:
        """Start serving; returns once the port accepts connections."""
        if self.running:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn_config(self.state, self.host, self.port, self.log_level)
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="voice-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator server exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the simulator did not start within {self.startup_timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (bounded by ``shutdown_timeout``, then forced)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self.shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(self.shutdown_timeout)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatorServer({self.url!r}, running={self.running})"
