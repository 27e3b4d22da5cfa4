"""Fixtures for the simulator's own tests.

``simulator``, ``simulator_server`` and ``simulator_clock`` come from
``airflow_provider_voice.testing.pytest_plugin`` (enabled by ``-p`` in pyproject's addopts; loaded
here too if a run does not enable it).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

PLUGIN = "airflow_provider_voice.testing.pytest_plugin"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain httpx client (no environment proxies)."""
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client
