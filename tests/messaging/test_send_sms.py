"""SendSMSOperator against the simulator: TeleVoIPs and Velip, exactly once across faults and task retries."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from helpers import task_context

from airflow_provider_voice.delivery import DeliveryIncompleteError, DeliveryRejectedError
from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError, VendorRejectedError
from airflow_provider_voice.operators.sms import SendSMSOperator
from airflow_provider_voice.testing.demo import connection_env

SENDER = "13214567890"


def us_numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1415555{2600 + start + i:04d}" for i in range(count)]


ctx = functools.partial(
    task_context, dag_id="sms_dag", task_id="send_sms", run_id="run1", data_interval_start=None, data_interval_end=None
)


def sms_op(tmp_path, **kwargs: Any) -> SendSMSOperator:
    defaults: dict[str, Any] = {
        "task_id": "send_sms",
        "conn_id": "televoips_default",
        "sender": SENDER,
        "text": "Hi ${name}, see you on ${day}.",
        "checkpoint_path": str(tmp_path / "checkpoints"),
        "progress_interval": 60,
    }
    return SendSMSOperator(**{**defaults, **kwargs})


def rows(count: int) -> list[dict[str, str]]:
    return [{"number": n, "name": f"P{i}", "day": "Monday"} for i, n in enumerate(us_numbers(count))]


def texted(sim, vendor: str = "televoips") -> dict[str, int]:
    return dict(sim.state.ledger.counts(vendor, "sms"))


def test_televoips_sms_to_a_csv_file_with_per_recipient_text(voice_connections, tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("phone,name,day\n" + "".join(f"{n},P{i},Monday\n" for i, n in enumerate(us_numbers(25))))
    results = tmp_path / "results.csv"
    result = sms_op(tmp_path, recipients=str(source), results_path=str(results)).execute(ctx())
    assert result["accepted"] == 25 and result["rejected"] == 0 and result["total"] == 25
    counts = texted(voice_connections)
    assert len(counts) == 25 and set(counts.values()) == {1}
    entry = voice_connections.state.ledger.entries("televoips", "sms", number="14155552603")[0]
    assert entry.details["content"] == "Hi P3, see you on Monday." and entry.details["from"] == SENDER
    lines = results.read_text().splitlines()
    assert lines[0] == "number,status,message_id,error,vendor_code" and len(lines) == 26
    assert all(",sent," in line for line in lines[1:])
    assert json.dumps(result)


def test_small_sends_push_per_recipient_results_to_xcom(voice_connections, tmp_path):
    result = sms_op(tmp_path, recipients=rows(3)).execute(ctx())
    assert [r["status"] for r in result["results"]] == ["sent"] * 3
    assert all(len(r["message_id"]) == 28 for r in result["results"])


def test_velip_sms_with_ctid_from_the_frame_key(voice_connections, tmp_path):
    numbers = [f"55119876543{i:02d}" for i in range(5)]
    result = sms_op(tmp_path, conn_id="velip_default", sender=None, recipients=numbers, text="Olá ${number}").execute(
        ctx()
    )
    assert result["accepted"] == 5
    entries = voice_connections.state.ledger.entries("velip", "sms")
    assert sorted(e.number for e in entries) == sorted(numbers)
    ctids = [e.details["ctid"] for e in entries]
    assert len(set(ctids)) == 5 and all(len(c) == 15 and c.isalnum() for c in ctids)
    assert entries[0].details["message"] == f"Olá +{entries[0].number}"


def test_faults_on_send_never_text_twice_and_in_doubt_messages_are_looked_up(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.faults.set(
        "televoips", "POST /messages",
        error_rate=0.15, error_status=503, timeout_after_accept_rate=0.15, hang_seconds=0.6, reset_rate=0.1, seed=11,
    )  # fmt: skip
    conn = json.loads(connection_env(sim)["AIRFLOW_CONN_TELEVOIPS_DEFAULT"])
    op = sms_op(tmp_path, recipients=rows(40), concurrency=6)
    from airflow_provider_voice.hooks.televoips import TeleVoipsHook

    op.hook = TeleVoipsHook("televoips_default", timeout=0.3)  # shorter than the hang: real in-doubt sends
    assert conn["conn_type"] == "televoips"
    result = op.execute(ctx())
    history = {f.kind for f in sim.state.faults.history}
    assert {"error", "timeout_after_accept", "reset"} <= history
    counts = texted(sim)
    assert not sim.state.ledger.duplicates("televoips", "sms")
    assert len(counts) == 40 and result["accepted"] == 40 and result["in_doubt"] == 0


def test_task_retry_resumes_without_texting_anyone_twice(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.faults.set("televoips", "POST /messages", error_rate=0.1, error_status=401, seed=5)
    recipients = rows(30)
    with pytest.raises(DeliveryIncompleteError) as first_try:
        sms_op(tmp_path, recipients=recipients, concurrency=4).execute(ctx())
    sent_first = texted(sim)
    assert first_try.value.not_sent and 0 < len(sent_first) < 30
    sim.state.faults.clear()
    retry = sms_op(tmp_path, recipients=recipients, concurrency=4).execute(ctx())  # same task instance
    assert retry["resumed"] == len(sent_first) and retry["accepted"] == 30
    assert retry["accepted_now"] == 30 - len(sent_first)
    counts = texted(sim)
    assert len(counts) == 30 and set(counts.values()) == {1}
    again = sms_op(tmp_path, recipients=recipients).execute(ctx())  # a third try has nothing left to do
    assert again["accepted_now"] == 0 and again["resumed"] == 30
    assert set(texted(sim).values()) == {1}


def test_in_doubt_without_a_lookup_is_reported_not_resent(voice_connections, tmp_path):
    sim = voice_connections
    sim.state.faults.set("velip", "MakeSMS", timeout_after_accept_rate=1.0, hang_seconds=0.6, times=1)
    from airflow_provider_voice.hooks.velip import VelipHook

    op = sms_op(
        tmp_path,
        conn_id="velip_default",
        sender=None,
        recipients=["5511987654300", "5511987654301"],
        text="Olá",
        concurrency=1,
    )
    op.hook = VelipHook("velip_default", timeout=0.3)
    with pytest.raises(DeliveryIncompleteError) as info:
        op.execute(ctx())
    assert len(info.value.in_doubt) == 1
    assert set(texted(sim, "velip").values()) == {1}  # accepted once by Velip, never resent
    op2 = sms_op(
        tmp_path, conn_id="velip_default", sender=None, recipients=["5511987654300", "5511987654301"], text="Olá"
    )
    with pytest.raises(DeliveryIncompleteError):  # the retry still does not resend it
        op2.execute(ctx())
    assert set(texted(sim, "velip").values()) == {1}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recipients": ["+14155552600", "12"]}, "invalid"),
        ({"recipients": ["+14155552600"], "text": "  "}, "text"),
        ({"recipients": [{"number": "+14155552600", "name": "A"}], "text": "Hi ${name} ${missing}"}, "missing"),
        ({"recipients": ["+14155552600"], "text": "costs $5"}, "text"),
        ({"recipients": ["+14155552600"], "sender": None}, "sender"),
        ({"recipients": ["+14155552600"], "sender": "not a number"}, "sender"),
        ({"recipients": []}, "no valid recipient"),
    ],
)
def test_bad_input_fails_before_sending(voice_connections, tmp_path, kwargs, match):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(ValidationError, match=match) as info:
        sms_op(tmp_path, **{"text": "Hello", **kwargs}).execute(ctx())
    assert isinstance(info.value, AirflowFailException)  # no Airflow retries for bad input
    assert len(voice_connections.state.ledger) == 0


def test_sender_checked_against_owned_numbers_before_sending(voice_connections, tmp_path, monkeypatch):
    conn = json.loads(connection_env(voice_connections)["AIRFLOW_CONN_TELEVOIPS_DEFAULT"])
    conn["extra"]["owned_numbers"] = ["13214567890", "13214567891"]
    monkeypatch.setenv("AIRFLOW_CONN_TELEVOIPS_OWNED", json.dumps(conn))
    with pytest.raises(ValidationError, match="owned_numbers") as info:
        sms_op(tmp_path, conn_id="televoips_owned", sender="12125550100", recipients=rows(5)).execute(ctx())
    assert info.value.field == "sender"
    assert len(voice_connections.state.ledger) == 0
    ok = sms_op(tmp_path, conn_id="televoips_owned", sender="+1 321 456 7891", recipients=rows(2)).execute(ctx())
    assert ok["accepted"] == 2


def test_sender_not_owned_without_the_list_stops_early_with_the_vendor_reason(voice_connections, tmp_path):
    with pytest.raises(DeliveryIncompleteError) as info:
        sms_op(tmp_path, sender="12125550100", recipients=rows(40), abort_after_rejections=5, concurrency=2).execute(
            ctx()
        )
    message = str(info.value)
    assert "Unable to send message" in message and "owned by the account" in message
    assert info.value.report.rejected < 40 and len(info.value.not_sent) > 0
    assert len(voice_connections.state.ledger) == 0  # nobody texted
    assert isinstance(info.value, AirflowFailException)  # a retry would be refused the same way: not retried


def test_unsubscribed_recipient_is_refused_and_reported(voice_connections, tmp_path):
    from airflow_provider_voice.hooks.televoips import TeleVoipsHook

    hook = TeleVoipsHook("televoips_default")
    hook.client.send(hook.api.unsubscribe("+14155552601", SENDER))
    result = sms_op(tmp_path, recipients=rows(3), max_rejected_share=0.5).execute(ctx())
    assert result["accepted"] == 2 and result["rejected"] == 1 and result["failed_numbers"] == ["+14155552601"]
    refused = next(r for r in result["results"] if r["status"] == "rejected")
    assert "Unable to send message" in refused["error"]
    # by default any refusal fails the task (not retried), after the others were texted
    with pytest.raises(DeliveryRejectedError, match="refused 1 of 3") as info:
        sms_op(tmp_path, task_id="again", recipients=rows(3)).execute(ctx(task_id="again"))
    assert isinstance(info.value, AirflowFailException) and info.value.report.accepted == 2
    with pytest.raises(DeliveryRejectedError, match="refused 1"):
        sms_op(tmp_path, task_id="again2", recipients=rows(3), fail_on_rejected=True).execute(ctx(task_id="again2"))


def test_suppression_list_and_missing_file(voice_connections, tmp_path):
    suppression = tmp_path / "optouts.csv"
    op = sms_op(tmp_path, recipients=rows(4), suppression=str(suppression), suppression_missing_ok=True)
    first = op.execute(ctx(run_id="r1"))
    assert first["suppressed"] == 0 and first["accepted"] == 4  # the file does not exist yet
    suppression.write_text("number\n+14155552600\n+14155552602\n")
    second = op.execute(ctx(run_id="r2"))
    assert second["suppressed"] == 2 and second["accepted"] == 2
    statuses = {r["number"]: r["status"] for r in second["results"]}
    assert statuses["+14155552600"] == "suppressed" and statuses["+14155552601"] == "sent"
    inline = sms_op(tmp_path, recipients=rows(4), suppression=["+14155552603"]).execute(ctx(run_id="r3"))
    assert inline["suppressed"] == 1


def test_sms_not_available_on_kaleyra(voice_connections, tmp_path):
    with pytest.raises(CapabilityNotSupportedError, match="televoips or velip"):
        sms_op(tmp_path, conn_id="kaleyra_default", recipients=rows(1)).execute(ctx())


def test_velip_refuses_a_sender(voice_connections, tmp_path):
    with pytest.raises(ValidationError, match="sender"):
        sms_op(tmp_path, conn_id="velip_default", sender="5511987654321", recipients=["5511987654300"]).execute(ctx())


def test_vendor_rejection_type_is_kept():
    assert issubclass(VendorRejectedError, Exception)
