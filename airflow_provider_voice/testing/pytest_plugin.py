"""pytest fixtures for the simulator.

Enable with ``pytest_plugins = ["airflow_provider_voice.testing.pytest_plugin"]`` in a root
``conftest.py`` (or a ``pytest11`` entry point). Fixtures:

* ``simulator_server`` (session): one :class:`~.server.SimulatorServer` for the whole run.
* ``simulator`` (function): that server with its state reset to defaults before the test, so
  each test starts with an empty ledger, no faults and the real clock. Use ``simulator.url``,
  ``simulator.base_url("velip")``, ``simulator.state``.
* ``simulator_clock`` (function): a :class:`~.clock.FakeClock` installed on the simulator;
  ``simulator_clock.advance(5)`` moves simulated time without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .clock import FakeClock
from .server import SimulatorServer


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[SimulatorServer]:
    """A simulator serving for the whole test session."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def simulator(simulator_server: SimulatorServer) -> Iterator[SimulatorServer]:
    """The session simulator with a fresh state for this test."""
    simulator_server.state.reset()
    yield simulator_server
    simulator_server.state.reset()


@pytest.fixture
def simulator_clock(simulator: SimulatorServer) -> FakeClock:
    """A fake clock driving the simulator for this test."""
    return simulator.state.use_fake_clock()
