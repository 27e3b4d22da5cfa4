"""The notifiers as task and DAG callbacks under ``dag.test()``, against the simulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_provider_voice.notifiers import SmsNotifier, VoiceCallNotifier, send_sms_notification
from airflow_provider_voice.operators.voice_call import SendVoiceCallOperator

SENDER = "13214567890"
ONCALL = "+14155552671"
VELIP_ONCALL = "+5511987654321"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@pytest.fixture
def sim(voice_connections, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__VOICE__NOTIFICATIONS_PATH", str(tmp_path / "notifications"))
    monkeypatch.setenv("AIRFLOW__VOICE__CHECKPOINT_PATH", str(tmp_path / "checkpoints"))
    voice_connections.state.configure(velip_httpdup_seconds=0, call_seconds=0.05)
    return voice_connections


def pagers(**sms_kwargs: Any) -> list[Any]:
    return [
        SmsNotifier(
            conn_id="televoips_default",
            sender=SENDER,
            to=ONCALL,
            text="{{ ti.task_id }} failed in {{ dag.dag_id }} ({{ run_id }})",
            **sms_kwargs,
        ),
        VoiceCallNotifier(conn_id="velip_default", to=VELIP_ONCALL, message="Task {{ ti.task_id }} failed."),
    ]


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_a_failing_task_pages_once_across_its_retry_and_the_dag_callback(sim, run_dag):
    task_pagers = pagers()
    with DAG(
        "notifier_retry",
        schedule=None,
        start_date=START,
        catchup=False,
        on_failure_callback=pagers(),  # the DAG callback names the same failure: deduplicated
    ) as dag:

        @task(
            retries=1,
            retry_delay=dt.timedelta(seconds=0),
            on_retry_callback=task_pagers,
            on_failure_callback=task_pagers,
        )
        def load() -> None:
            raise RuntimeError("the warehouse is down")

        load()

    run = run_dag(dag, logical_date=None)
    assert run.state == "failed" and states(run) == {"load": "failed"}
    (text,) = sim.state.ledger.entries("televoips", "sms")
    assert text.details["content"] == f"load failed in notifier_retry ({run.run_id})"
    (call,) = sim.state.ledger.entries("velip", "call")
    assert call.details["text"] == "Task load failed."
    assert [r.status for r in task_pagers[0].last_results] == ["deduplicated"]  # the second try's failure


def test_a_notifier_whose_vendor_is_down_leaves_the_task_state_alone(sim, run_dag):
    sim.state.faults.set("televoips", "/messages", error_rate=1.0, error_status=503)
    sim.state.faults.set("velip", "MakeTTSCall", error_rate=1.0, error_status=503)
    failing_pagers, success_pagers = (
        pagers(),
        [send_sms_notification(conn_id="televoips_default", sender=SENDER, to=ONCALL)],
    )
    with DAG("notifier_vendor_down", schedule=None, start_date=START, catchup=False) as dag:

        @task(on_failure_callback=failing_pagers)
        def broken() -> None:
            raise RuntimeError("boom")

        @task(on_success_callback=success_pagers)
        def fine() -> str:
            return "ok"

        broken()
        fine()

    run = run_dag(dag, logical_date=None)
    assert states(run) == {"broken": "failed", "fine": "success"}
    for notifier in (*failing_pagers, *success_pagers):
        (result,) = notifier.last_results
        assert result.status == "failed" and result.error_type == "ServerError"
    assert not sim.state.ledger.entries()


def test_send_voice_call_operator_deferred_in_a_dag(sim, run_dag):
    sim.state.configure(outcome_overrides={"9876543210": "answered"})
    with DAG("voice_call_operator", schedule=None, start_date=START, catchup=False) as dag:
        SendVoiceCallOperator(
            task_id="call",
            conn_id="kaleyra_default",
            number="{{ params.number }}",
            message="Run {{ run_id }} needs you.",
            wait_for_outcome=True,
            deferrable=True,
            poll_interval=0.1,
            timeout=60,
            params={"number": "9876543210"},
        )
    run = run_dag(dag, logical_date=None)
    assert states(run) == {"call": "success"}
    (ti,) = run.get_task_instances()
    result = ti.xcom_pull(task_ids="call")
    assert result["outcome"] == "answered" and result["number"] == "+91********10"
    (entry,) = sim.state.ledger.entries("kaleyra", "call")
    assert entry.details["message"] == f"Run {run.run_id} needs you."
