"""Contact policies on the sending operators, against the simulator under a frozen clock.

The clock (``time.time`` and the simulator's) is driven by the test: a deferral's ``DateTimeTrigger``
moves it to the trigger's moment, then the operator resumes, as the triggerer would wake it. The
simulator's ledger then says when each person was called: never outside their window, never on a
public holiday, nobody over the cap, and everybody exactly once — none dropped.
"""

from __future__ import annotations

import csv
import functools
import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from airflow.sdk.exceptions import TaskDeferred
from helpers import task_context

from airflow_provider_voice.delivery.contact_ledger import contact_ledger
from airflow_provider_voice.delivery.contact_policy import PRESETS, ContactPolicy
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.policy import ContactPolicyUnsentError
from airflow_provider_voice.operators.sms import SendSMSOperator

context = functools.partial(task_context, dag_id="policy_ops")
#: 9 number blocks (prefix: digits after it), 10 time zones (Anchorage numbers have two: the intersection applies)
BLOCKS = {"+3361234": 4, "+4474001": 5, "+4915112": 6, "+1212201": 4, "+1213201": 4, "+1907201": 4,
          "+9198123": 5, "+55119871": 5, "+8190123": 5}  # fmt: skip
CUSTOM = ContactPolicy(
    name="weekday office hours", weekdays="mon-fri", windows="09:00-12:00,14:00-18:00",
    skip_public_holidays=True, send_margin=timedelta(minutes=5),
)  # fmt: skip


def people(per_block: int) -> list[str]:
    """``per_block`` valid numbers of each block."""
    numbers: list[str] = []
    for prefix, width in BLOCKS.items():
        candidates = (f"{prefix}{i:0{width}d}" for i in range(10**width))
        block: list[str] = []
        for candidate in candidates:
            if len(block) == per_block:
                break
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
                block.append(candidate)
        assert len(block) == per_block, prefix
        numbers += block
    return numbers


@pytest.fixture
def world(voice_connections, monkeypatch, tmp_path):
    """The simulator, with one fake clock for it and for ``time.time`` (the operators' clock)."""
    clock = voice_connections.state.use_fake_clock(0)
    monkeypatch.setattr(time, "time", clock)
    monkeypatch.setenv("AIRFLOW__VOICE__CONTACT_LEDGER_PATH", str(tmp_path / "ledger"))
    monkeypatch.setenv("AIRFLOW__VOICE__CONTACT_LEDGER_KEY", "test-ledger-key-0123456789")
    voice_connections.clock = clock
    return voice_connections


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def drive(
    make: Any, ctx: dict[str, Any], clock: Any, *, retry_after: int | None = None, steps: int = 200
) -> tuple[dict[str, Any], int]:
    """Run the operator ``make()`` builds as Airflow would: at each deferral the clock jumps to the
    trigger's moment and the named method resumes. ``retry_after``: after that many deferrals the try
    is abandoned and a new try (a new operator, try 2) starts from ``execute``."""
    operator = make()
    call = functools.partial(operator.execute, ctx)
    deferrals = 0
    for _ in range(steps):
        try:
            return call(), deferrals
        except TaskDeferred as deferred:
            deferrals += 1
            moment = deferred.trigger.moment.timestamp()
            assert moment > clock(), "deferred into the past"
            clock.set(moment)
            if retry_after is not None and deferrals == retry_after:
                operator = make()
                ctx = {**ctx, "ti": type(ctx["ti"])(**{**vars(ctx["ti"]), "try_number": 2})}
                call = functools.partial(operator.execute, ctx)
            else:
                call = functools.partial(getattr(operator, deferred.method_name), ctx, None)
    raise AssertionError("the operator kept deferring")


def calls_by_number(sim: Any, vendor: str = "octopush", action: str = "call") -> dict[str, list[float]]:
    called: dict[str, list[float]] = {}
    for entry in sim.state.ledger.entries(vendor, action):
        called.setdefault("+" + entry.number.lstrip("+"), []).append(entry.at)
    return called


SCENARIOS = {
    # a Saturday, over the European DST change (25 October 2026) into the next week
    "custom": (CUSTOM, "2026-10-24T10:00:00"),
    # US_TCPA over the US DST change (1 November 2026)
    "US_TCPA": (PRESETS["US_TCPA"], "2026-10-31T23:00:00"),
    # FR_MARKETING over Armistice Day (Wednesday 11 November 2026: a holiday in France, Veterans Day in the US)
    "FR_MARKETING": (PRESETS["FR_MARKETING"], "2026-11-10T19:30:00"),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_nobody_is_called_outside_their_window_and_everybody_exactly_once(world, tmp_path, name):
    policy, start = SCENARIOS[name]
    numbers = people(223)  # 2,007 recipients in 10 time zones
    world.clock.set(at(start))

    def make() -> SendVoiceCampaignOperator:
        return SendVoiceCampaignOperator(
            task_id="send", conn_id="octopush_default", recipients=numbers, campaign_name=f"policy {name}",
            message="Bonjour", contact_policy=policy, contact_deadline=timedelta(days=10), deferrable=True,
            checkpoint_path=str(tmp_path / "cp"),
        )  # fmt: skip

    result, deferrals = drive(make, context(run_id=f"policy-{name}"), world.clock, retry_after=2)
    called = calls_by_number(world)
    assert sorted(called) == sorted(numbers)  # everybody, none dropped
    assert [n for n, times in called.items() if len(times) != 1] == []  # nobody twice (a retry in the middle)
    outside = [
        (n, datetime.fromtimestamp(t[0], timezone.utc).isoformat())
        for n, t in called.items()
        if not policy.is_open(policy.zones_for(n), datetime.fromtimestamp(t[0], timezone.utc),
                              country=phonenumbers.region_code_for_number(phonenumbers.parse(n)))
    ]  # fmt: skip
    assert outside == []
    assert deferrals >= 2 and result["accepted"] == len(numbers)
    assert result["contact_policy"]["beyond_deadline"] == 0 and result["contact_policy"]["held_window"] == 0
    if name == "FR_MARKETING":  # 11 November is a holiday in France and the US: nobody there that day
        for number, (t,) in called.items():
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
            if region in ("FR", "US"):
                local = datetime.fromtimestamp(t, timezone.utc).astimezone(ZoneInfo(policy.zones_for(number)[0]))
                assert local.date().isoformat() != "2026-11-11", (number, local)
    if name == "custom":  # Paris after the DST change: windows start at 08:00 UTC (09:00 CET)
        french = [min(t) for n, t in called.items() if n.startswith("+33")]
        assert min(french) == at("2026-10-26T08:00:00")


def test_the_frequency_cap_holds_across_campaigns_and_fails_saying_so(world, tmp_path):
    policy = PRESETS["FR_MARKETING"]
    numbers = people(2)[:2]  # two French numbers
    days = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06"]
    results = []
    for day, task_id in zip(days, ["a", "b", "c", "d", "e"], strict=True):
        world.clock.set(at(f"{day}T10:00:00"))  # 11:00 in Paris: open
        operator = SendVoiceCampaignOperator(
            task_id=task_id, conn_id="octopush_default", recipients=numbers, campaign_name=f"cap {task_id}",
            message="Offre", contact_policy=policy, checkpoint_path=str(tmp_path / "cp"),
        )  # fmt: skip
        if task_id != "e":
            results.append(operator.execute(context(task_id=task_id, run_id="caps")))
            continue
        with pytest.raises(ContactPolicyUnsentError) as info:  # a 5th contact within 30 days: never sent
            operator.execute(context(task_id=task_id, run_id="caps"))
    assert all(r["accepted"] == 2 for r in results)
    assert info.value.plan["beyond_deadline"] == 2 and info.value.plan["holds"] == {"max_contacts": 2}
    assert "2 recipient(s) were not contacted" in str(info.value)
    assert Counter(len(t) for t in calls_by_number(world).values()) == {4: 2}  # 4 calls each, no 5th
    skipping = SendVoiceCampaignOperator(
        task_id="f", conn_id="octopush_default", recipients=numbers, campaign_name="cap f", message="Offre",
        contact_policy=policy, over_cap="skip", checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    skipped = skipping.execute(context(task_id="f", run_id="caps"))
    assert (skipped["accepted"], skipped["contact_policy"]["skipped_cap"]) == (0, 2)


def test_a_refusal_pauses_contacts_for_60_days(world, tmp_path):
    number = people(1)[0]  # French
    world.clock.set(at("2026-11-02T10:00:00"))
    contact_ledger().record_refusals([number], at=at("2026-10-01T10:00:00"), source="earlier/campaign")
    operator = SendVoiceCampaignOperator(
        task_id="after_refusal", conn_id="octopush_default", recipients=[number], campaign_name="pause",
        message="Offre", contact_policy="FR_MARKETING", checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    with pytest.raises(ContactPolicyUnsentError) as info:
        operator.execute(context(task_id="after_refusal", run_id="pause"))
    assert info.value.plan["holds"] == {"refusal_pause": 1}
    assert calls_by_number(world) == {}


def test_a_dry_run_calls_nobody_and_its_estimate_is_what_the_send_then_costs(world, tmp_path):
    numbers = people(30)[:120]
    world.clock.set(at("2026-11-03T12:00:00"))
    common: dict[str, Any] = {
        "conn_id": "octopush_default", "recipients": numbers, "campaign_name": "estimate", "message": "Bonjour",
        "contact_policy": "US_TCPA", "checkpoint_path": str(tmp_path / "cp"),
        "price_table": {"currency": "EUR", "octopush": {"voice": {"default": 0.05}}},
    }  # fmt: skip
    planned = SendVoiceCampaignOperator(task_id="dry", dry_run=True, max_cost=100, **common).execute(
        context(task_id="dry", run_id="dry")
    )
    assert world.state.ledger.entries("octopush", "call") == []
    assert planned["dry_run"] is True and planned["max_cost"] == {"limit": 100, "ok": True}
    assert planned["estimate"]["source"] == "octopush simulation_mode"
    plan = planned["contact_policy"]
    assert plan["due"] + plan["held_window"] == len(numbers) and plan["due"] > 0 and plan["held_window"] > 0
    assert {z["recipients"] for z in plan["zones"]} >= {30} and planned["frames"] >= 1
    with pytest.raises(ValidationError) as refused:  # max_cost below the estimate: refused before any call
        SendVoiceCampaignOperator(task_id="capped", max_cost=0.01, **common).execute(
            context(task_id="capped", run_id="dry")
        )
    assert refused.value.field == "max_cost" and world.state.ledger.entries("octopush", "call") == []
    sent, _ = drive(lambda: SendVoiceCampaignOperator(task_id="real", deferrable=True, **common),
                    context(task_id="real", run_id="dry"), world.clock)  # fmt: skip
    assert sent["cost"] == pytest.approx(planned["estimate"]["total"])
    assert len(world.state.ledger.entries("octopush", "call")) == len(numbers)


def test_an_unknown_price_is_never_free(world, tmp_path):
    world.clock.set(at("2026-11-03T12:00:00"))
    operator = SendVoiceCampaignOperator(
        task_id="velip", conn_id="velip_default", recipients=people(1)[7:8], campaign_name="unpriced",
        message="Ola", max_cost=5.0, checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    with pytest.raises(ValidationError) as info:
        operator.execute(context(task_id="velip", run_id="unpriced"))
    assert info.value.field == "max_cost" and "cannot be estimated" in info.value.rule


def test_sms_are_held_until_the_recipients_window_and_sent_once(world, tmp_path):
    world.clock.set(at("2026-11-03T06:00:00"))  # 01:00 in New York, 22:00 in Los Angeles (yesterday)
    rows = [{"number": f"+1415555{2600 + i}", "tz": "America/New_York" if i % 2 else "America/Los_Angeles"}
            for i in range(10)]  # fmt: skip

    def make() -> SendSMSOperator:
        return SendSMSOperator(
            task_id="sms", conn_id="televoips_default", recipients=rows, text="Your order shipped", sender="13214567890",
            contact_policy="US_TCPA", timezone_field="tz", deferrable=True, checkpoint_path=str(tmp_path / "cp"),
        )  # fmt: skip

    result, deferrals = drive(make, context(task_id="sms", run_id="sms"), world.clock, retry_after=1)
    texted = calls_by_number(world, "televoips", "sms")
    assert sorted(texted) == sorted(r["number"] for r in rows) and all(len(t) == 1 for t in texted.values())
    for row in rows:
        local = datetime.fromtimestamp(texted[row["number"]][0], timezone.utc).astimezone(ZoneInfo(row["tz"]))
        assert 8 <= local.hour < 21, (row, local)
    assert deferrals == 2 and result["accepted"] == 10  # 08:00 New York, then 08:00 Los Angeles


def test_a_templated_policy_is_read_when_rendered(world, tmp_path):
    operator = SendVoiceCampaignOperator(
        task_id="templated", conn_id="octopush_default", recipients=people(1)[:1], campaign_name="t", message="x",
        contact_policy="{{ params.policy }}", checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    operator.contact_policy = json.dumps({"preset": "FR_MARKETING", "windows": "10:00-12:00"})  # as rendered
    assert operator.policy().windows[0].label().startswith("10:00")
    with pytest.raises(ValidationError, match="contact_policy"):
        SendVoiceCampaignOperator(
            task_id="bad", conn_id="octopush_default", recipients=["+33612340000"], campaign_name="t", message="x",
            contact_policy="NO_SUCH_PRESET",
        )  # fmt: skip


def test_velip_stops_dialing_at_each_windows_end_in_velips_zone(world, tmp_path):
    world.clock.set(at("2026-11-03T23:00:00"))  # 18:00 in New York, 15:00 in Los Angeles, 20:00 in São Paulo
    numbers = ["+12122010000", "+12122010001", "+12132010000"]
    operator = SendVoiceCampaignOperator(
        task_id="velip", conn_id="velip_default", recipients=numbers, campaign_name="windows", message="Hello",
        contact_policy="US_TCPA", checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    result = operator.execute(context(task_id="velip", run_id="velip-windows"))
    created = [world.state.velip.campaigns[cp] for cp in result["campaign_ids"]]
    windows = sorted((c.date_start, c.time_start, c.date_end, c.time_end) for c in created)
    # New York closes at 21:00 EST = 02:00 UTC = 23:00 in São Paulo; Los Angeles at 05:00 UTC, the next
    # São Paulo day: cut at 23:59:59 (Velip's daily window cannot cross midnight)
    assert windows == [
        ("2026-11-03", "20:00:00", "2026-11-03", "23:00:00"),
        ("2026-11-03", "20:00:00", "2026-11-03", "23:59:59"),
    ]
    assert result["accepted"] == 3 and len(result["campaign_ids"]) == 2


def test_a_schedule_and_a_policy_are_refused_together_before_any_call(world, tmp_path):
    world.clock.set(at("2026-11-03T12:00:00"))
    operator = SendVoiceCampaignOperator(
        task_id="scheduled", conn_id="octopush_default", recipients=people(1)[:1], campaign_name="s", message="x",
        schedule="2026-11-04T10:00:00+00:00", contact_policy="FR_MARKETING", checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    with pytest.raises(ValidationError) as info:
        operator.execute(context(task_id="scheduled", run_id="scheduled"))
    assert info.value.field == "schedule" and world.state.ledger.entries("octopush", "call") == []


def test_recipients_the_policy_held_say_so_in_the_outcome_table(world, tmp_path):
    world.clock.set(at("2026-11-03T19:00:00"))  # 11:00 in San Francisco: open
    held, texted = "+14155552601", "+14155552602"
    contact_ledger().record_refusals([held], at=at("2026-10-20T15:00:00"), source="earlier/sms")
    operator = SendSMSOperator(
        task_id="sms_table", conn_id="televoips_default", recipients=[held, texted], text="Sale", sender="13214567890",
        contact_policy="FR_MARKETING", checkpoint_path=str(tmp_path / "cp"), outcomes_path=str(tmp_path / "out.csv"),
        outcomes_format="csv",
    )  # fmt: skip
    with pytest.raises(ContactPolicyUnsentError):
        operator.execute(context(task_id="sms_table", run_id="held"))
    rows = {r["number"]: r for r in csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8"))}
    assert rows[held]["outcome"] == "not_sent" and "contact policy FR_MARKETING held them" in rows[held]["detail"]
    assert rows[texted]["outcome"] != "not_sent"
    assert list(calls_by_number(world, "televoips", "sms")) == [texted]


def test_a_window_that_closes_between_the_plan_and_the_send_holds_the_recipient(world, tmp_path, monkeypatch):
    from airflow_provider_voice.delivery.contact_plan import ContactPlanner

    world.clock.set(at("2026-11-03T11:50:00"))  # 12:50 in Paris: due (the window closes at 13:00)
    original, planned = ContactPlanner.plan, []

    def plan_then_time_passes(self, *args, **kwargs):
        plan = original(self, *args, **kwargs)
        if not planned:  # the first slice's send starts after the lunch break began
            world.clock.set(at("2026-11-03T12:10:00"))
        planned.append(plan.due)
        return plan

    monkeypatch.setattr(ContactPlanner, "plan", plan_then_time_passes)
    make = functools.partial(
        SendVoiceCampaignOperator, task_id="closing", conn_id="octopush_default", recipients=people(1)[:1],
        campaign_name="closing", message="Offre", contact_policy="FR_MARKETING", deferrable=True,
        checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    result, deferrals = drive(make, context(task_id="closing", run_id="closing"), world.clock)
    (times,) = calls_by_number(world).values()
    assert times == [at("2026-11-03T13:00:00")]  # not at 13:10 (lunch), not dropped: 14:00 in Paris
    assert (deferrals, result["accepted"], planned[0]) == (1, 1, 1)


def test_contacts_a_failed_try_did_not_record_are_recorded_by_the_retry(world, tmp_path, monkeypatch):
    from airflow_provider_voice.delivery.contact_ledger import ContactLedger

    world.clock.set(at("2026-11-03T10:00:00"))  # 11:00 in Paris
    numbers = people(2)[:2]
    original = ContactLedger.record_contacts

    def storage_down(self, *args, **kwargs):
        raise OSError("the ledger's storage is down")

    make = functools.partial(
        SendVoiceCampaignOperator, task_id="ledger_down", conn_id="octopush_default", recipients=numbers,
        campaign_name="ledger", message="Offre", contact_policy="FR_MARKETING", checkpoint_path=str(tmp_path / "cp"),
    )  # fmt: skip
    monkeypatch.setattr(ContactLedger, "record_contacts", storage_down)
    with pytest.raises(OSError):
        make().execute(context(task_id="ledger_down", run_id="ledger", try_number=1))
    monkeypatch.setattr(ContactLedger, "record_contacts", original)
    make().execute(context(task_id="ledger_down", run_id="ledger", try_number=2))
    assert {n: len(t) for n, t in calls_by_number(world).items()} == dict.fromkeys(numbers, 1)
    history = contact_ledger().history(numbers, since=at("2026-11-01T00:00:00"))
    assert {n: len(history[n].contacts) for n in numbers} == dict.fromkeys(numbers, 1)
