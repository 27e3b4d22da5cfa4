"""KaleyraDialerUploadOperator against the simulator: chunks of <= 1000, exactly once across retries."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from helpers import task_context

from airflow_provider_voice.delivery import DeliveryIncompleteError
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.kaleyra import KaleyraDialerUploadOperator

ctx = functools.partial(task_context, dag_id="dialer", task_id="upload", run_id="r1")


def people(count: int) -> list[dict[str, Any]]:
    return [{"number": f"98{i:08d}", "name": f"P{i}", "amount": i} for i in range(count)]


def op(tmp_path, **kwargs: Any) -> KaleyraDialerUploadOperator:
    return KaleyraDialerUploadOperator(
        **{
            "task_id": "upload",
            "campaign": "renewals_q3",
            "checkpoint_path": str(tmp_path / "cp"),
            "progress_interval": 60,
            **kwargs,
        }
    )


def test_import_in_requests_of_at_most_1000(voice_connections, tmp_path):
    sim = voice_connections
    counter = sim.state.faults.set("kaleyra", "autodial.import")  # zero rates: counts requests
    result = op(tmp_path, recipients=people(2300)).execute(ctx())
    assert result["accepted"] == 2300 and result["requests"] == 3 and counter.requests == 3
    rows = sim.state.kaleyra.dialer["renewals_q3"]
    # requests run concurrently, so the vendor's rows are in arrival order, not the list's
    assert len(rows) == 2300 and {"number": "9800000005", "name": "P5", "amount": "5"} in rows
    assert not sim.state.ledger.duplicates("kaleyra", "dialer_add")


def test_add_mode_sends_one_number_with_meta(voice_connections, tmp_path):
    result = op(tmp_path, recipients=people(3), method="add").execute(ctx())
    assert result["accepted"] == 3 and result["requests"] == 3
    assert len(voice_connections.state.ledger.entries("kaleyra", "dialer_add")) == 3


def test_retry_does_not_add_anyone_twice(voice_connections, tmp_path):
    sim = voice_connections
    from airflow_provider_voice.testing import FaultRule

    # a seed whose first request passes and second fails: the first try adds one chunk, then stops
    seed = next(
        s
        for s in range(1000)
        if (r := FaultRule("kaleyra", error_rate=0.5, seed=s)).draw() is None and r.draw() == "error"
    )
    sim.state.faults.set("kaleyra", "autodial.import", error_rate=0.5, error_status=401, seed=seed, times=1)
    recipients = people(250)
    with pytest.raises(DeliveryIncompleteError):
        op(tmp_path, recipients=recipients, rows_per_request=100, concurrency=1).execute(ctx())
    sim.state.faults.clear()
    first = len(sim.state.ledger.entries("kaleyra", "dialer_add"))
    assert first == 100  # one chunk accepted before the failure
    retry = op(tmp_path, recipients=recipients, rows_per_request=100, concurrency=1).execute(ctx())
    assert retry["accepted"] == 250 and retry["resumed"] == first
    assert len(sim.state.ledger.entries("kaleyra", "dialer_add")) == 250
    assert not sim.state.ledger.duplicates("kaleyra", "dialer_add")


def test_bad_input_before_sending(voice_connections, tmp_path):
    with pytest.raises(ValidationError):
        op(tmp_path, recipients=[*people(2), {"number": "12"}]).execute(ctx())
    with pytest.raises(ValidationError, match="campaign"):
        op(tmp_path, campaign="bad name!", recipients=people(2)).execute(ctx())
    with pytest.raises(ValidationError):
        op(tmp_path, recipients=people(2), rows_per_request=1001)
    with pytest.raises(ValidationError, match="kaleyra"):
        op(tmp_path, conn_id="velip_default", recipients=people(1)).execute(ctx())
    assert len(voice_connections.state.ledger) == 0
