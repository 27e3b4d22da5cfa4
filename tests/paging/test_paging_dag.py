"""The DAG of docs/operators/paging.md runs with ``dag.test()`` against the simulator (deferred, no logical date)."""

from __future__ import annotations

from typing import Any

from test_docs_examples import doc_dag_block, load_dags


def test_doc_dag_pages_until_bob_acknowledges(voice_connections: Any, run_dag: Any, tmp_path: Any) -> None:
    sim = voice_connections
    sim.state.configure(
        velip_dtmf_overrides={"5511987650001": "no_answer", "5511987650002": "confirm"},
        call_seconds=0,  # calls end at once: the trigger's first poll sees the outcome (the example polls every 15 s)
    )
    bag = load_dags(doc_dag_block("on_call_escalation"), tmp_path)
    dag = bag.dags["on_call_escalation"]
    run = run_dag(dag, logical_date=None)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success" and set(states.values()) == {"success"}, states
    (page,) = [ti for ti in run.get_task_instances() if ti.task_id == "page"]
    result = page.xcom_pull(task_ids="page")
    assert result["acknowledged_by"] == {"index": 1, "name": "Bob", "number": "+55*********02"}
    assert [e.number for e in sim.state.ledger.entries("velip", "call")] == ["5511987650001", "5511987650002"]
    assert sim.state.ledger.entries("velip", "sms") == []
