"""The operators' outcome tables and the redial: SendVoiceCampaignOperator(wait_for_completion=True,
outcomes_path=...), redial rounds (faults, a retry in the middle), recipient_outcomes, and
CollectOutcomesOperator for a campaign sent earlier."""

from __future__ import annotations

import asyncio
import csv
import functools
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred
from helpers import OutletEvents, first_event, task_context

from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.models.outcomes import OUTCOMES
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.outcomes import CollectOutcomesOperator, RedialPolicy, round_key
from airflow_provider_voice.testing.kaleyra import OBD_STATUS
from airflow_provider_voice.testing.velip import STATUS_CODES
from airflow_provider_voice.vendors.kaleyra.outcomes import KALEYRA_OUTCOMES
from airflow_provider_voice.vendors.velip.outcomes import VELIP_OUTCOMES

context = functools.partial(task_context, dag_id="outcome_ops")
WEIGHTS = {"answered": 0.4, "no_answer": 0.25, "busy": 0.15, "failed": 0.1, "bad_number": 0.05, "blocked": 0.05}


def rows(n: int) -> list[dict[str, Any]]:
    return [{"number": f"+5511987{i:06d}", "patient": f"P{i}", "name": f"N{i}"} for i in range(n)]


@pytest.fixture
def conns(simulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_OUT_VELIP", json.dumps(
        {"conn_type": "velip", "host": simulator.base_url("velip"), "password": "sim-velip-token"}))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_OUT_KALEYRA", json.dumps(
        {"conn_type": "kaleyra", "host": simulator.base_url("kaleyra"), "password": "sim-kaleyra-key",
         "extra": {"obd_base_url": simulator.base_url("kaleyra-obd")}}))  # fmt: skip
    simulator.state.configure(seed=7, outcome_weights=WEIGHTS, call_seconds=0.05, call_lines=100_000)
    return simulator


def drive(operator: Any, ctx: dict[str, Any], *, steps: int = 30) -> dict[str, Any]:
    """Run ``operator`` like ``airflow dags test``: each deferral's trigger runs here, then the
    method it names is called with the event and without the defer kwargs (dag.test drops them)."""
    call = functools.partial(operator.execute, ctx)
    for _ in range(steps):
        try:
            return call()
        except TaskDeferred as deferred:
            event = asyncio.run(first_event(deferred.trigger, timeout=30))
            call = functools.partial(getattr(operator, deferred.method_name), ctx, event)
    raise AssertionError("the operator kept deferring")


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path.removeprefix("file://"), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def expected(simulator: Any, vendor: str, number: str) -> tuple[str, str]:
    """(outcome, vendor status) the simulator's seeded model gives ``number``."""
    sim = simulator.state.outcome_model().outcome(number.lstrip("+"))
    status = (STATUS_CODES if vendor == "velip" else OBD_STATUS)[sim]
    return (VELIP_OUTCOMES if vendor == "velip" else KALEYRA_OUTCOMES)[status], status


@pytest.mark.parametrize("deferrable", [False, True])
def test_wait_for_completion_writes_the_outcome_table(conns, tmp_path, deferrable):
    ctx = context(run_id=f"table-{deferrable}", outlet_events=OutletEvents())
    operator = SendVoiceCampaignOperator(
        task_id="send", conn_id="out_velip", recipients=rows(200), campaign_name="table", message="Oi",
        checkpoint_path=str(tmp_path / "cp"), wait_for_completion=True, deferrable=deferrable, poll_interval=0.05,
        outcomes_path=str(tmp_path / "out" / "campaign"), id_field="patient",
    )  # fmt: skip
    result = drive(operator, ctx)
    outcomes = result["outcomes"]
    assert (
        outcomes["rows"] == 200
        and sum(outcomes["counts"].values()) == 200
        and list(outcomes["counts"]) == list(OUTCOMES)
    )
    assert outcomes["counts"]["pending"] == 0 and outcomes["counts"]["answered"] > 0
    assert "+5511" not in json.dumps(result)  # XCom: counts and paths, never a number
    table = read_csv(outcomes["csv_path"])
    assert [r["row_id"] for r in table] == [f"P{i}" for i in range(200)]  # joins back by row id, 0 orphans
    for row in table:
        assert (row["outcome"], row["vendor_status"]) == expected(conns, "velip", row["number"])
        assert json.loads(row["variables"])["patient"] == row["row_id"]
    assert Path(outcomes["parquet_path"].removeprefix("file://")).stat().st_size > 0
    asset = operator.outcome_asset
    assert asset is not None and asset in operator.outlets
    assert ctx["outlet_events"][asset].extra["counts"] == outcomes["counts"]


def test_outcomes_path_without_waiting_is_refused_at_parse_time(tmp_path):
    with pytest.raises(ValidationError, match="wait_for_completion"):
        SendVoiceCampaignOperator(task_id="s", conn_id="x", recipients=["+33612345678"], campaign_name="c",
                                  message="m", outcomes_path=str(tmp_path / "t"))  # fmt: skip


@pytest.mark.parametrize(
    "redial, field",
    [
        ({"outcomes": ["answered"], "max_attempts": 2}, "redial.outcomes"),
        ({"outcomes": ["nobody"], "max_attempts": 2}, "redial.outcomes"),
        ({"max_attempts": 1}, "redial.max_attempts"),
        ({"max_attempts": 2, "after": -5}, "redial.after"),
        ({"max_attempts": 2, "every": 5}, "redial.every"),
    ],
)
def test_bad_redial_policies_name_the_field(redial, field):
    with pytest.raises(ValidationError) as info:
        RedialPolicy.from_arg(redial)
    assert info.value.field == field


@pytest.mark.parametrize("vendor", ["velip", "kaleyra"])
def test_redial_three_rounds_with_faults_and_a_retry_in_the_middle(conns, tmp_path, vendor):
    """Round 1, then the unreached again 1 s after each round, 3 rounds in all. Round 2's sends
    fail half-way (the task fails); the retry (try 2) resumes: nobody twice within a round, the
    unreached called once per round, the answered never again."""
    people = rows(120)
    frame = {"frame_size": 10}

    def operator() -> SendVoiceCampaignOperator:
        return SendVoiceCampaignOperator(
            task_id="redial", conn_id=f"out_{vendor}", recipients=people, campaign_name="redial", message="Oi",
            checkpoint_path=str(tmp_path / "cp"), deferrable=True, poll_interval=0.05, vendor_options=frame,
            redial={"outcomes": ["no_answer", "busy"], "after": timedelta(seconds=1), "max_attempts": 3},
            outcomes_path=str(tmp_path / "out" / "redial"), engine_options={"max_frame_attempts": 2, "reconcile_delay": 0.01},
            retry_policy=None,
        )  # fmt: skip

    first = operator()
    ctx1 = context(run_id=f"redial-{vendor}", try_number=1, task_id="redial")
    send_route = "CreateCampaign" if vendor == "velip" else "voice.json"
    call = functools.partial(first.execute, ctx1)
    failed = False
    for _ in range(20):
        try:
            call()
            break
        except TaskDeferred as deferred:
            if deferred.method_name == "execute_redial":  # between round 1 and 2: round 2 meets refusals
                conns.state.faults.set(vendor, send_route, error_rate=0.5, error_status=400, seed=3)
            event = asyncio.run(first_event(deferred.trigger, timeout=30))
            call = functools.partial(getattr(first, deferred.method_name), ctx1, event)
        except VoiceProviderError:
            failed = True  # round 2 could not be sent completely: the try fails
            break
    assert failed, "round 2 should have failed part-way"
    conns.state.faults.clear()
    assert len(conns.state.ledger.entries(vendor, "call")) > len(people)  # some of round 2 was accepted

    retry = operator()
    result = drive(retry, context(run_id=f"redial-{vendor}", try_number=2, task_id="redial"))

    assert [r["round"] for r in result["rounds"]] == [1, 2, 3]
    calls = Counter(e.number for e in conns.state.ledger.entries(vendor, "call"))
    by_campaign = Counter((e.number, e.ref) for e in conns.state.ledger.entries(vendor, "call"))
    assert max(by_campaign.values()) == 1  # nobody twice in one campaign
    unreached = answered = 0
    for person in people:
        outcome, _ = expected(conns, vendor, person["number"])
        ledger_number = person["number"].lstrip("+")
        if outcome in ("no_answer", "busy"):
            unreached += 1
            assert calls[ledger_number] == 3, person  # once per round
        else:
            answered += outcome == "answered"
            assert calls[ledger_number] == 1, person  # never called again
    assert unreached and answered
    final = result["outcomes"]
    assert final["rows"] == 120 and sum(final["counts"].values()) == 120
    table = {r["row_id"]: r for r in read_csv(final["csv_path"])}
    assert set(table) == {str(i) for i in range(1, 121)}  # round 1's row ids (list positions): no orphan
    redialed = [r for r in table.values() if r["outcome"] in ("no_answer", "busy")]
    assert redialed and all(r["round"] == "3" and r["attempts"] == "3" for r in redialed)


def test_recipient_outcomes_reads_a_table_and_skips_when_nobody_is_left(conns, tmp_path):
    ctx = context(run_id="reuse")
    sent = drive(SendVoiceCampaignOperator(
        task_id="send", conn_id="out_kaleyra", recipients=rows(60), campaign_name="first", message="Hi",
        checkpoint_path=str(tmp_path / "cp"), wait_for_completion=True, poll_interval=0.05,
        outcomes_path=str(tmp_path / "t.parquet"), deferrable=False,
    ), ctx)  # fmt: skip
    unreached = sent["outcomes"]["counts"]["no_answer"] + sent["outcomes"]["counts"]["busy"]
    assert unreached > 0
    again = SendVoiceCampaignOperator(
        task_id="again", conn_id="out_kaleyra", recipients=str(tmp_path / "t.parquet"),
        recipient_outcomes=["no_answer", "busy"], campaign_name="again", message="Hi",
        checkpoint_path=str(tmp_path / "cp"),
    ).execute(context(run_id="reuse", task_id="again"))  # fmt: skip
    assert again["accepted"] == unreached
    with pytest.raises(AirflowSkipException, match="no recipient with outcome opted_out"):
        SendVoiceCampaignOperator(
            task_id="none", conn_id="out_kaleyra", recipients=str(tmp_path / "t.csv"), recipient_outcomes=["opted_out"],
            campaign_name="none", message="Hi", checkpoint_path=str(tmp_path / "cp"),
        ).execute(context(run_id="reuse", task_id="none"))  # fmt: skip
    with pytest.raises(ValidationError, match="no recipients"):  # an explicit empty list still fails
        SendVoiceCampaignOperator(
            task_id="empty", conn_id="out_kaleyra", recipients=[], campaign_name="e", message="Hi",
            checkpoint_path=str(tmp_path / "cp"),
        ).execute(context(run_id="reuse", task_id="empty"))  # fmt: skip


def test_collect_outcomes_operator_for_a_campaign_sent_earlier(conns, simulator_clock, tmp_path):
    people = rows(90)
    sent = SendVoiceCampaignOperator(
        task_id="send", conn_id="out_velip", recipients=people, campaign_name="later", message="Oi",
        checkpoint_path=str(tmp_path / "cp"),
    ).execute(context(run_id="later"))  # fmt: skip
    assert sent["checkpoint"]["task_id"] == "send"
    collect = CollectOutcomesOperator(
        task_id="collect", conn_id="out_velip", campaign=json.dumps(sent), recipients=people,
        checkpoint_path=str(tmp_path / "cp"), outcomes_path=str(tmp_path / "later.csv"), outcomes_format="csv",
    )  # fmt: skip
    early = collect.execute(context(run_id="later", task_id="collect"))
    assert early["counts"]["pending"] == 90 and "parquet_path" not in early  # nothing ended yet: never "answered"
    simulator_clock.advance(3600)
    done = collect.execute(context(run_id="later", task_id="collect"))
    assert done["counts"]["pending"] == 0 and done["rows"] == 90
    for row in read_csv(done["csv_path"]):
        assert (row["outcome"], row["vendor_status"]) == expected(conns, "velip", row["number"])
    with pytest.raises(ValidationError, match="the campaign was sent on velip"):
        CollectOutcomesOperator(task_id="c2", conn_id="out_kaleyra", campaign=sent, recipients=people,
                                checkpoint_path=str(tmp_path / "cp")).execute(context(run_id="later", task_id="c2"))  # fmt: skip


def test_round_keys_are_distinct_deliveries():
    from airflow_provider_voice.delivery import CheckpointKey

    key = CheckpointKey("d", "t", "r", -1, "ns")
    assert round_key(key, 1) == key
    assert {round_key(key, n).path for n in (1, 2, 3)} == {key.path, round_key(key, 2).path, round_key(key, 3).path}
    assert len({round_key(key, n).frame_key(0, "c") for n in (1, 2, 3)}) == 3


def test_outcome_assets_name_the_place_not_the_connection(tmp_path):
    from airflow.sdk import Asset

    from airflow_provider_voice.operators.outcomes import OutcomeOutput

    assert OutcomeOutput.asset_for("s3://aws_default@lake/outcomes/{{ run_id }}", None).uri == "s3://lake/outcomes"
    assert OutcomeOutput.asset_for(str(tmp_path / "t.csv"), None).uri == (tmp_path / "t.csv").as_uri()
    assert OutcomeOutput.asset_for(str(tmp_path / "t.csv"), False) is None
    named = Asset(name="who-was-reached", uri="s3://lake/who")
    assert OutcomeOutput.asset_for(None, named) is named


def test_redial_without_per_call_outcomes_is_refused_before_any_call(simulator, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_OUT_OCTO", json.dumps(
        {"conn_type": "octopush", "host": simulator.base_url("octopush"), "login": "sim@example.com",
         "password": "sim-octopush-key"}))  # fmt: skip
    operator = SendVoiceCampaignOperator(
        task_id="r", conn_id="out_octo", recipients=rows(5), campaign_name="r", message="Oi",
        checkpoint_path=str(tmp_path / "cp"), redial={"max_attempts": 2},
    )  # fmt: skip
    with pytest.raises(ValidationError, match="webhook_auth") as info:
        operator.execute(context(run_id="no-outcomes", task_id="r"))
    assert info.value.field == "redial"
    assert simulator.state.ledger.entries("octopush", "call") == []


def test_a_handle_rendered_as_a_python_repr_is_read():
    from airflow_provider_voice.operators.outcomes import campaign_handle_arg

    handle = {"vendor": "velip", "campaign_ids": ["5001"], "checkpoint": None}
    assert campaign_handle_arg(str(handle)).campaign_ids == ["5001"]  # "{{ ti.xcom_pull(...) }}" renders a repr
    assert campaign_handle_arg(json.dumps(handle)).vendor == "velip"
    with pytest.raises(ValidationError, match="send task's XCom"):
        campaign_handle_arg("{not a mapping")
