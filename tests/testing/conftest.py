"""Fixtures for the simulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_voice.testing.pytest_plugin import simulator, simulator_clock, simulator_server  # noqa: F401


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain httpx client (no environment proxies)."""
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client
