"""dag.test() of dags/example_connections.py against the simulator."""

from __future__ import annotations


def test_example_connections_dag_succeeds(voice_connections, run_dag, capsys):
    run = run_dag("example_connections")
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert len([k for k in states if k[0] == "check"]) == 4
    out = capsys.readouterr().out
    assert "DEMO|   kaleyra    OK" in out and "refused [velip:GetUserID] HTTP 401: Session ID is not valid" in out
