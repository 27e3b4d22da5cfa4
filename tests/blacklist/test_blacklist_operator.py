"""BlacklistNumbersOperator against the simulator: Kaleyra block/unblock, TeleVoIPs unsubscribe."""

from __future__ import annotations

import json

import pytest

from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError, VendorRejectedError
from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator, read_numbers, update_number_file


def test_kaleyra_block_then_unblock_updates_ledger_and_suppression_file(voice_connections, context, tmp_path):
    sim = voice_connections
    suppression = tmp_path / "optouts.csv"
    numbers = ["9988776655", "+91 98765 43210", "9988776655"]  # one duplicate
    block = BlacklistNumbersOperator(
        task_id="block", conn_id="kaleyra_default", numbers=numbers, suppression_file=str(suppression)
    )
    summary = block.execute(context)
    assert (
        summary["changed"] == 2 and summary["duplicates"] == 1 and summary["failed"] == 0 and summary["requests"] == 1
    )
    assert sorted(e.number for e in sim.state.ledger.entries("kaleyra", "block")) == ["9876543210", "9988776655"]
    assert sim.state.kaleyra.blocked == {"9876543210", "9988776655"}
    assert suppression.read_text().splitlines() == ["number", "+919988776655", "+919876543210"]
    assert json.dumps(summary)  # XCom-ready

    unblock = BlacklistNumbersOperator(
        task_id="unblock",
        conn_id="kaleyra_default",
        numbers=["9988776655"],
        action="unblock",
        suppression_file=str(suppression),
    )
    assert unblock.execute(context)["changed"] == 1
    assert [e.number for e in sim.state.ledger.entries("kaleyra", "unblock")] == ["9988776655"]
    assert sim.state.kaleyra.blocked == {"9876543210"}
    assert suppression.read_text().splitlines() == ["number", "+919876543210"]


def test_kaleyra_numbers_from_a_csv_file_and_chunking(voice_connections, context, tmp_path):
    source = tmp_path / "numbers.csv"
    source.write_text("phone,name\n" + "".join(f"98765{i:05d},p{i}\n" for i in range(250)))
    summary = BlacklistNumbersOperator(task_id="b", conn_id="kaleyra_default", numbers=str(source)).execute(context)
    assert summary["changed"] == 250 and summary["requests"] == 3  # 100 numbers per request
    assert len(voice_connections.state.ledger.entries("kaleyra", "block")) == 250


def test_invalid_numbers_fail_before_anything_is_sent(voice_connections, context):
    op = BlacklistNumbersOperator(task_id="b", conn_id="kaleyra_default", numbers=["9988776655", "12", "not a number"])
    with pytest.raises(ValidationError) as info:
        op.execute(context)
    assert "#2 '12'" in str(info.value) and "nothing was sent" in str(info.value)
    assert len(voice_connections.state.ledger) == 0


def test_invalid_numbers_can_be_skipped(voice_connections, context):
    op = BlacklistNumbersOperator(task_id="b", conn_id="kaleyra_default", numbers="9988776655,12", on_invalid="skip")
    summary = op.execute(context)
    assert summary["changed"] == 1 and summary["invalid"] == 1


def test_televoips_unsubscribe_each_number(voice_connections, context, tmp_path):
    sim = voice_connections
    op = BlacklistNumbersOperator(
        task_id="optout",
        conn_id="televoips_default",
        numbers=["(415) 555-2671", "+1 212 555 0123"],
        owned_number="13214567890",
    )
    summary = op.execute(context)
    assert summary["changed"] == 2 and summary["requests"] == 2 and summary["vendor"] == "televoips"
    assert sorted(e.number for e in sim.state.ledger.entries("televoips", "unsubscribe")) == [
        "12125550123",
        "14155552671",
    ]
    assert sim.state.televoips.unsubscribed == {"14155552671", "12125550123"}


def test_televoips_not_owned_number_surfaces_the_vendor_400_clearly(voice_connections, context):
    op = BlacklistNumbersOperator(
        task_id="optout", conn_id="televoips_default", numbers=["4155552671"], owned_number="12125550199"
    )
    with pytest.raises(VendorRejectedError) as info:
        op.execute(context)
    assert "You do not own the number" in info.value.vendor_message
    assert "'to' number must be a number owned by the account" in str(info.value)
    assert len(voice_connections.state.ledger) == 0


def test_televoips_owned_numbers_extra_checks_before_sending(voice_connections, context, monkeypatch):
    conn = json.loads(voice_conns_env(voice_connections)["AIRFLOW_CONN_TELEVOIPS_DEFAULT"])
    conn["extra"]["owned_numbers"] = "13214567890, 13214567891"
    monkeypatch.setenv("AIRFLOW_CONN_TELEVOIPS_OWNED", json.dumps(conn))
    op = BlacklistNumbersOperator(
        task_id="optout", conn_id="televoips_owned", numbers=["4155552671"], owned_number="12125550199"
    )
    with pytest.raises(ValidationError) as info:
        op.execute(context)
    assert info.value.field == "owned_number" and "13214567890" in str(info.value)
    assert len(voice_connections.state.ledger) == 0  # refused before any request


def test_televoips_needs_an_owned_number_and_cannot_unblock(voice_connections, context):
    with pytest.raises(ValidationError, match="owned_number"):
        BlacklistNumbersOperator(task_id="o", conn_id="televoips_default", numbers=["4155552671"]).execute(context)
    with pytest.raises(CapabilityNotSupportedError, match="kaleyra"):
        BlacklistNumbersOperator(
            task_id="u",
            conn_id="televoips_default",
            numbers=["4155552671"],
            action="unblock",
            owned_number="13214567890",
        ).execute(context)
    assert len(voice_connections.state.ledger) == 0


def test_vendor_without_blacklist_names_the_vendors_that_have_it(voice_connections, context):
    with pytest.raises(CapabilityNotSupportedError, match="kaleyra or televoips"):
        BlacklistNumbersOperator(task_id="b", conn_id="octopush_default", numbers=["+33612345678"]).execute(context)


def test_kaleyra_refusal_fails_the_task_but_still_suppresses_the_number(voice_connections, context, tmp_path):
    voice_connections.state.faults.set("kaleyra", "block", error_rate=1.0, error_status=400, times=1)
    dnc = tmp_path / "dnc.csv"
    op = BlacklistNumbersOperator(
        task_id="b", conn_id="kaleyra_default", numbers=["9988776655"], suppression_file=str(dnc)
    )
    with pytest.raises(Exception, match=r"refused to block 1 of 1 numbers") as info:
        op.execute(context)
    assert "9988776655" not in str(info.value)  # masked
    assert "+919988776655" in dnc.read_text()  # the person asked not to be called: suppressed here anyway


def test_kaleyra_refused_chunk_is_reported_when_asked_not_to_fail(voice_connections, context):
    voice_connections.state.faults.set("kaleyra", "block", error_rate=1.0, error_status=400, times=1)
    summary = BlacklistNumbersOperator(
        task_id="b", conn_id="kaleyra_default", numbers=["9988776655"], fail_on_refusal=False
    ).execute(context)
    assert summary["failed"] == 1 and summary["changed"] == 0 and summary["refused"][0]["number"] == "+919988776655"


def test_bad_operator_arguments():
    with pytest.raises(ValidationError):
        BlacklistNumbersOperator(task_id="b", conn_id="x", numbers=[], action="delete")


def test_read_numbers_and_update_number_file(tmp_path):
    numbers, report = read_numbers(["+33612345678", "+33612345678"])
    assert numbers == ["+33612345678"] and report["duplicates"] == 1
    path = tmp_path / "s.csv"
    assert update_number_file(path, add=["+33612345678", "+14155552671"]) == 2
    assert update_number_file(path, add=["+33612345678"], remove=["+14155552671"]) == 1
    assert path.read_text() == "number\n+33612345678\n"


def voice_conns_env(sim):
    from airflow_provider_voice.testing.demo import connection_env

    return connection_env(sim)
