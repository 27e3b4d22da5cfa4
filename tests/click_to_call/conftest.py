"""Connections to the simulator for every vendor (``<vendor>_default`` and ``<vendor>_wrong_key``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_voice.testing.demo import connection_env


@pytest.fixture
def voice_conns(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``AIRFLOW_CONN_*`` variables pointing at the (fresh) simulator; yields the simulator."""
    for name, value in connection_env(simulator).items():
        monkeypatch.setenv(name, value)
    yield simulator


@pytest.fixture
def context() -> dict[str, Any]:
    """The smallest task context the operators read."""
    return {"data_interval_start": None, "data_interval_end": None}
