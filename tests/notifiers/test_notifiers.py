"""SmsNotifier and VoiceCallNotifier called as Airflow calls them, against the simulator: one message per
failure and number, typed errors logged (never raised), a bounded time, numbers masked."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.triggers.callback import CallbackTrigger

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.notifiers import (
    SmsNotifier,
    VoiceCallNotifier,
    send_sms_notification,
    send_voice_call_notification,
    sent_notifications,
)

SENDER = "13214567890"
ONCALL = "+14155552671"
VELIP_ONCALL = "+5511987654321"
KALEYRA_ONCALL = "9876543210"


def failure(
    run_id: str = "run-1", task_id: str = "load", try_number: int = 1, dag_id: str = "nightly"
) -> dict[str, Any]:
    """The context of a task callback: the task instance, the DAG, the run."""
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=-1, try_number=try_number)
    return {"ti": ti, "dag": DAG(dag_id, schedule=None), "run_id": run_id, "exception": RuntimeError("boom")}


@pytest.fixture
def sim(voice_connections, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__VOICE__NOTIFICATIONS_PATH", str(tmp_path / "notifications"))
    voice_connections.state.configure(velip_httpdup_seconds=0)
    return voice_connections


def sms(**kwargs: Any) -> SmsNotifier:
    defaults: dict[str, Any] = {
        "conn_id": "televoips_default",
        "sender": SENDER,
        "to": ONCALL,
        "text": "{{ ti.task_id }} failed in {{ dag.dag_id }} (run {{ run_id }})",
    }
    return SmsNotifier(**{**defaults, **kwargs})


def voice(**kwargs: Any) -> VoiceCallNotifier:
    defaults: dict[str, Any] = {"conn_id": "velip_default", "to": [VELIP_ONCALL], "message": "{{ ti.task_id }} failed"}
    return VoiceCallNotifier(**{**defaults, **kwargs})


def test_one_sms_and_one_call_per_failure_whatever_the_number_of_callbacks(sim):
    notifiers = [sms(), voice()]
    for try_number in (1, 2):  # on_retry_callback, then on_failure_callback of the same failure
        for notifier in notifiers:
            notifier(failure(try_number=try_number))
    for fresh in (sms(), voice()):  # another process (a DAG callback, another worker) with the same log
        fresh(failure())
        assert [r.status for r in fresh.last_results] == ["deduplicated"]
    (text,) = sim.state.ledger.entries("televoips", "sms")
    assert text.number == "14155552671" and text.details["content"] == "load failed in nightly (run run-1)"
    (call,) = sim.state.ledger.entries("velip", "call")
    assert call.details["type"] == 0 and call.details["text"] == "load failed"
    assert notifiers[0].text.startswith("{{")  # the notifier itself stays a template (rendered on a copy)
    recorded = sent_notifications("nightly", "run-1")
    assert sorted((r["channel"], r["state"], r["vendor"]) for r in recorded) == [
        ("call", "sent", "velip"),
        ("sms", "sent", "televoips"),
    ]


def test_another_run_or_text_notifies_again_and_the_window_can_be_off(sim):
    notifier = sms()
    notifier(failure("run-1"))
    notifier(failure("run-2"))
    sms(text="other words")(failure("run-2"))
    assert len(sim.state.ledger.entries("televoips", "sms")) == 3
    no_dedup = sms(dedup_window=0)
    no_dedup(failure("run-1"))
    assert [r.status for r in no_dedup.last_results] == ["sent"]
    per_dag = sms(dedup_key="{{ dag.dag_id }}", text="the nightly DAG has trouble")
    for run_id in ("run-3", "run-4"):
        per_dag(failure(run_id))
    assert len(sim.state.ledger.entries("televoips", "sms")) == 5  # one for the two runs


def test_every_number_of_to_is_notified_once_and_a_bad_one_does_not_stop_the_others(sim, caplog):
    notifier = sms(to=f"{ONCALL}, +1 415 555 2672; 12, {ONCALL}")
    with caplog.at_level(logging.INFO, logger="airflow_provider_voice"):
        notifier(failure())
    assert sorted(r.status for r in notifier.last_results) == ["failed", "sent", "sent"]
    bad = next(r for r in notifier.last_results if r.status == "failed")
    assert bad.error_type == "ValidationError" and "ValidationError" in caplog.text
    assert sorted(sim.state.ledger.counts("televoips", "sms").values()) == [1, 1]
    assert "4155552671" not in caplog.text and "4155552672" not in caplog.text  # masked in the log


def test_a_vendor_down_is_logged_as_a_typed_error_never_raised_and_retried_later(sim, caplog):
    sim.state.faults.set("televoips", "/messages", error_rate=1.0, error_status=503)
    notifier = sms()
    with caplog.at_level(logging.ERROR, logger="airflow_provider_voice"):
        notifier(failure())  # no exception
    (result,) = notifier.last_results
    assert result.status == "failed" and result.error_type == "ServerError" and result.vendor == "televoips"
    assert "ServerError" in caplog.text and "503" in caplog.text and "4155552671" not in caplog.text
    sim.state.faults.clear()
    notifier(failure())  # the vendor never had it: the next callback of the same failure sends it
    assert [r.status for r in notifier.last_results] == ["sent"]
    assert len(sim.state.ledger.entries("televoips", "sms")) == 1


def test_refused_key_wrong_connection_and_bad_template_are_logged(sim, caplog):
    with caplog.at_level(logging.ERROR, logger="airflow_provider_voice"):
        wrong_key = voice(conn_id="kaleyra_wrong_key", to=KALEYRA_ONCALL)
        wrong_key(failure())
        wrong_type = voice(conn_id="televoips_default")
        wrong_type(failure())
        bad_to = sms(to="{{ nothing.here }}")
        bad_to(failure())
    assert [r.error_type for r in wrong_key.last_results] == ["AuthError"]
    assert [r.error_type for r in wrong_type.last_results] == ["ValidationError"]
    assert [r.status for r in bad_to.last_results] == ["failed"]
    assert "sim-kaleyra-key" not in caplog.text and "AuthError" in caplog.text
    broken_text = sms(text="{{ ti.task_id | no_such_filter }}")
    broken_text(failure())  # the page still goes out, with a plain fallback text
    (entry,) = sim.state.ledger.entries("televoips", "sms")
    assert entry.details["content"] == "Airflow alert: nightly.load failed in run run-1"
    assert not sim.state.ledger.entries("kaleyra", "call")


def test_the_notifier_keeps_to_its_time_budget(sim):
    sim.state.faults.set("velip", "MakeTTSCall", timeout_after_accept_rate=1.0, hang_seconds=4.0)
    notifier = voice(timeout=1.5)
    started = time.monotonic()
    notifier(failure())
    elapsed = time.monotonic() - started
    (result,) = notifier.last_results
    assert elapsed < 4.0, elapsed
    assert result.status == "in_doubt" and result.error_type == "RequestTimeoutError"
    notifier(failure())  # the vendor may have it: not called again within the window
    assert [r.status for r in notifier.last_results] == ["deduplicated"]


def test_a_call_in_doubt_is_not_placed_again_within_the_window(sim):
    sim.state.faults.set("kaleyra", "voice.call", malformed_rate=1.0)
    notifier = voice(conn_id="kaleyra_default", to=KALEYRA_ONCALL)
    notifier(failure())
    assert [r.status for r in notifier.last_results] == ["in_doubt"]
    sim.state.faults.clear()
    notifier(failure())
    assert [r.status for r in notifier.last_results] == ["deduplicated"]
    assert len(sim.state.ledger.entries("kaleyra", "call")) == 1


def test_velip_refuses_a_repeat_when_the_log_is_not_shared(sim, tmp_path):
    """Two workers with their own local log: Velip's ctid (the same within one window) stops the second."""
    first = voice(notifications_path=str(tmp_path / "worker-a"))
    second = voice(notifications_path=str(tmp_path / "worker-b"))
    first(failure())
    second(failure())
    assert [r.status for r in first.last_results] == ["sent"]
    assert [r.status for r in second.last_results] == ["deduplicated"]
    assert len(sim.state.ledger.entries("velip", "call")) == 1
    text_a = sms(conn_id="velip_default", sender=None, to=VELIP_ONCALL, notifications_path=str(tmp_path / "a"))
    text_b = sms(conn_id="velip_default", sender=None, to=VELIP_ONCALL, notifications_path=str(tmp_path / "b"))
    text_a(failure())
    text_b(failure())
    assert [r.status for r in text_b.last_results] == ["deduplicated"]
    assert len(sim.state.ledger.entries("velip", "sms")) == 1


def test_a_dag_callback_without_a_task_instance(sim):
    notifier = sms(text="Airflow alert: {{ dag.dag_id }}{% if ti is defined and ti %}.{{ ti.task_id }}{% endif %}")
    notifier({"dag": DAG("nightly", schedule=None), "run_id": "run-9", "reason": "task_failure"})
    assert [r.status for r in notifier.last_results] == ["sent"]
    default_text = SmsNotifier(conn_id="televoips_default", sender=SENDER, to=ONCALL)
    default_text({"dag": DAG("nightly", schedule=None), "run_id": "run-9"})
    texts = [e.details["content"] for e in sim.state.ledger.entries("televoips", "sms")]
    assert texts == ["Airflow alert: nightly", "Airflow alert: nightly failed in run run-9"]


def test_function_forms_and_arguments_checked_at_parse_time():
    assert send_sms_notification is SmsNotifier and send_voice_call_notification is VoiceCallNotifier
    notifier = send_voice_call_notification(conn_id="kaleyra_default", to=KALEYRA_ONCALL, message="x")
    assert isinstance(notifier, VoiceCallNotifier) and notifier.template_fields[:3] == ("conn_id", "to", "message")
    with pytest.raises(ValidationError, match="dedup_window"):
        sms(dedup_window=-1)
    with pytest.raises(ValidationError, match="timeout"):
        voice(timeout=0)


# -- awaited in an event loop, as the triggerer runs a Deadline Alert's AsyncCallback --------------------
def deadline_context(run_id: str = "scheduled__2026-12-01") -> dict[str, Any]:
    """What the scheduler gives a missed deadline's callback (``Deadline.handle_miss``)."""
    return {
        "dag_run": {"dag_id": "nightly", "dag_run_id": run_id, "state": "running"},
        "deadline": {"id": "0199", "deadline_time": "2026-12-01T06:00:00+00:00"},
    }


async def run_trigger(path: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    trigger = CallbackTrigger(callback_path=path, callback_kwargs=kwargs)
    return [event.payload async for event in trigger.run()]


def test_a_deadline_alert_sends_one_sms_and_one_call_through_the_callback_trigger(sim):
    context = deadline_context()
    sms_kwargs = {"conn_id": "televoips_default", "sender": SENDER, "to": ONCALL,
                  "text": "{{ dag_run.dag_id }} late (run {{ dag_run.dag_run_id }})"}  # fmt: skip
    call_kwargs = {"conn_id": "velip_default", "to": VELIP_ONCALL, "message": "{{ dag_run.dag_id }} is late"}

    async def main() -> list[list[dict[str, Any]]]:
        runs = []
        for _ in range(2):  # the same deadline handled twice (a triggerer restart): one message each
            runs.append(
                await run_trigger(
                    "airflow_provider_voice.notifiers.SmsNotifier", {**sms_kwargs, "context": dict(context)}
                )
            )
            runs.append(
                await run_trigger(
                    "airflow_provider_voice.notifiers.VoiceCallNotifier", {**call_kwargs, "context": dict(context)}
                )
            )
        return runs

    runs = asyncio.run(main())
    assert [[e["state"] for e in events] for events in runs] == [["running", "success"]] * 4
    (text,) = sim.state.ledger.entries("televoips", "sms")
    assert text.details["content"] == "nightly late (run scheduled__2026-12-01)"
    (call,) = sim.state.ledger.entries("velip", "call")
    assert call.details["text"] == "nightly is late"


def test_awaiting_a_notifier_does_not_block_the_event_loop_and_never_raises(sim):
    sim.state.faults.set("televoips", "/messages", error_rate=1.0, error_status=503, latency=0.5)  # slow, then down

    async def main() -> tuple[SmsNotifier, int]:
        ticks = 0
        notifier = SmsNotifier(conn_id="televoips_default", sender=SENDER, to=ONCALL, text="{{ dag_run.dag_id }} late",
                               timeout=2, context=deadline_context())  # fmt: skip

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        await notifier
        elapsed = time.monotonic() - started
        ticker.cancel()
        assert elapsed < 10  # bounded by the notifier's own budget (a generous margin for a loaded machine)
        return notifier, ticks

    notifier, ticks = asyncio.run(main())
    assert ticks >= 5  # the loop kept running while the notifier waited on the vendor
    (result,) = notifier.last_results
    assert (result.status, result.error_type) == ("failed", "ServerError")
    assert sim.state.ledger.entries("televoips", "sms") == []
