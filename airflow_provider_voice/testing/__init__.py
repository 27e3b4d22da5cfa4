"""Local fake vendor servers for tests, benchmarks and offline DAG runs.

One ASGI app serves Velip (``/velip``), TeleVoIPs (``/televoips``), Octopush (``/octopush``) and
Kaleyra (``/kaleyra`` and ``/kaleyra-obd``) on one loopback port, faithful to the vendor specs,
with a ledger of every call placed and message sent, and per-route fault injection::

    from airflow_provider_voice.testing import SimulatorServer

    with SimulatorServer() as sim:
        base = sim.base_url("velip")          # http://127.0.0.1:<port>/velip
        ...                                    # run the client against it
        assert not sim.state.ledger.duplicates("velip", "call")

Webhooks go to loopback URLs only, in each vendor's shape (:mod:`.webhooks`, :mod:`.emit`).
TeleVoIPs webhooks are retried like the vendor's (until a 200: up to ``webhook_max_tries`` = 20
tries within ``webhook_retry_window_seconds`` = 1 hour, exponential backoff); Velip, Octopush and
Kaleyra document no retry, so their webhooks are **best effort** (one try). ``webhook_retry_vendors``
changes that choice.

No Airflow import here: the simulator runs without Airflow configured.
"""

from __future__ import annotations

from .app import create_app
from .calls import CallBatch, Outcome, OutcomeModel, Phase
from .clock import Clock, FakeClock
from .control import base_urls
from .faults import FaultRule, Faults
from .ledger import Ledger, LedgerEntry
from .server import SimulatorServer
from .state import SimulatorConfig, SimulatorState

__all__ = [
    "CallBatch",
    "Clock",
    "FakeClock",
    "FaultRule",
    "Faults",
    "Ledger",
    "LedgerEntry",
    "Outcome",
    "OutcomeModel",
    "Phase",
    "SimulatorConfig",
    "SimulatorServer",
    "SimulatorState",
    "base_urls",
    "create_app",
]
