"""Shared fixtures: a sync/async driver table so every core test runs on both clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from airflow_provider_voice.transport import AsyncHttp, Dialect, RetryPolicy, SyncHttp


@dataclass
class FakeClock:
    """Records requested sleeps instead of sleeping."""

    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@dataclass
class Driver:
    """Sends calls through the sync or the async client with the same interface."""

    kind: str
    dialect: Dialect
    handler: Callable[[httpx.Request], httpx.Response]
    clock: FakeClock
    retry: RetryPolicy

    def send(self, call: Any) -> Any:
        if self.kind == "sync":
            http = SyncHttp(
                self.dialect, retry=self.retry, sleep=self.clock.sleep,
                http_client=httpx.Client(transport=httpx.MockTransport(self.handler)),
            )
            try:
                return http.execute(call)
            finally:
                http.close()

        async def run() -> Any:
            http = AsyncHttp(
                self.dialect, retry=self.retry, sleep=self.clock.asleep,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handler)),
            )
            try:
                return await http.execute(call)
            finally:
                await http.aclose()

        return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def make_driver(request: pytest.FixtureRequest) -> Callable[..., Driver]:
    """``make_driver(dialect, handler, retry=None)`` -> a :class:`Driver` for the parametrized kind."""

    def build(dialect: Dialect, handler: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy | None = None) -> Driver:
        return Driver(request.param, dialect, handler, FakeClock(), retry or RetryPolicy(max_attempts=4))

    return build
