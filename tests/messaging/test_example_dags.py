"""``airflow dags test`` of the SMS/opt-outs and click-to-call example DAGs against the simulator.

Each DAG runs in a subprocess (as ``make demo`` does) with a fresh ``AIRFLOW_HOME`` migrated once
for this module, and the connections pointing at the session simulator.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import airflow_cli_env, dags_test


@pytest.fixture(scope="module")
def airflow_env(simulator_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return airflow_cli_env(simulator_server, tmp_path_factory.mktemp("airflow-home"))


def test_example_click_to_call(airflow_env, simulator_server):
    simulator_server.state.reset()
    lines = dags_test(airflow_env, "example_click_to_call")
    assert any(line.startswith("kaleyra click-to-call c2c_") for line in lines), lines
    assert any(line.startswith("velip click-to-call c_") for line in lines), lines
    ledger = simulator_server.state.ledger
    assert len(ledger.entries("kaleyra", "click2call")) == 2  # agent and customer, once
    assert len(ledger.entries("velip", "call")) == 2
    assert len(ledger.entries("kaleyra", "followup_create")) == 1
    assert len(ledger.entries("kaleyra", "followup_delete")) == 1


def test_example_sms_and_optouts_twice(airflow_env, simulator_server):
    sim = simulator_server
    sim.state.reset()
    lines = dags_test(airflow_env, "example_sms_and_optouts")
    assert "first SMS: 28 accepted, 2 refused, 0 suppressed (of 30)" in lines, lines
    assert "STOP replies: 2; refused by TeleVoIPs: 2" in lines, lines
    assert "blacklisted 4 numbers at TeleVoIPs and 4 at Kaleyra; suppression list: 4 numbers" in lines, lines
    assert "reminder SMS: 26 accepted, 0 refused, 4 suppressed" in lines, lines
    stop_repliers = {"14155552605", "14155552621"}
    counts = sim.state.ledger.counts("televoips", "sms")
    assert all(counts[n] == 1 for n in stop_repliers)  # texted once, then never again
    assert {e.number for e in sim.state.ledger.entries("kaleyra", "block")} == {
        "14155552605", "14155552621", "14155552610", "14155552611"
    }  # fmt: skip

    rerun = dags_test(airflow_env, "example_sms_and_optouts")  # the opt-outs are suppressed from the start
    assert "first SMS: 26 accepted, 0 refused, 4 suppressed (of 30)" in rerun, rerun
    assert "reminder SMS: 26 accepted, 0 refused, 4 suppressed" in rerun, rerun
    assert all(sim.state.ledger.counts("televoips", "sms")[n] == 1 for n in stop_repliers)
