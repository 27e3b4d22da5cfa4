"""Personalised campaign messages (``{name}``, ``{number}``, recipient variables) on every campaign vendor,
over the simulator on real loopback sockets. The ledger is the judge: each person heard their own text,
exactly once; recipients with the same text share frames, so the frames (Velip campaigns, Octopush
requests) are counted; a retry after a failure mid-send calls nobody twice; a missing variable or an
over-long rendered text fails before any request."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk import BaseHook
from campaign_support import FAST_RETRY, SEND_ROUTES, Campaigns, as_ledger, context
from helpers import Crash, failing_midway, numbers

from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import CheckpointKey, DeliveryEngine, Frame, FrameResult, MemoryCheckpointStore
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models import Recipient
from airflow_provider_voice.models.campaign import CampaignSpec
from airflow_provider_voice.operators.campaign import CampaignInputError, SendVoiceCampaignOperator

ENGINE = {"reconcile_delay": 0.1, "backoff_initial": 0.05, "progress_interval": 60.0}
GREETING = "Bonjour {name}, votre rendez-vous est confirmé."
#: the vendors that read one text per request: frames are cut by text
ONE_TEXT_VENDORS = ("velip", "octopush")
#: the ledger detail holding what a person heard, per vendor
HEARD = {"velip": "text", "octopush": "text", "kaleyra": "message"}
SLOTS = ("lundi 9h", "mardi 14h", "jeudi 17h30")


def velip_window() -> dict[str, Any]:
    """A Velip calling window of three days (the default, start time to 23:59:59 today, may be too short late in the day)."""
    last = datetime.now(ZoneInfo("America/Sao_Paulo")).date() + timedelta(days=2)
    return {"date_end": last.isoformat()}


def vendor_options(vendor: str, **options: Any) -> dict[str, Any]:
    return {**(velip_window() if vendor == "velip" else {}), **options}


def people_with_names(n: int) -> list[dict[str, str]]:
    return [{"number": number, "name": f"Personne {i:04d}"} for i, number in enumerate(numbers(n))]


def greeting(name: str) -> str:
    return GREETING.replace("{name}", name)


def heard(campaigns: Campaigns, vendor: str) -> dict[str, list[str]]:
    """Ledger number -> the texts read to it (one per call)."""
    texts: dict[str, list[str]] = {}
    for entry in campaigns.simulator.state.ledger.entries(vendor, "call"):
        texts.setdefault(entry.number, []).append(entry.details[HEARD[vendor]])
    return texts


def frames_sent(campaigns: Campaigns, vendor: str) -> int:
    """The frames the vendor accepted: Velip campaigns created, Octopush tickets, Kaleyra groups."""
    state = campaigns.simulator.state
    if vendor == "velip":
        return len(state.ledger.entries("velip", "campaign_create"))
    if vendor == "octopush":
        return len(state.octopush.tickets)
    return len({e.details["group_id"] for e in state.ledger.entries("kaleyra", "call")})


def operator(vendor: str, tmp_path: Any, recipients: Any, **kwargs: Any) -> SendVoiceCampaignOperator:
    args: dict[str, Any] = {
        "task_id": "send", "conn_id": f"cmp_{vendor}", "recipients": recipients, "campaign_name": "Rappel",
        "message": GREETING, "vendor_options": vendor_options(vendor), "checkpoint_path": str(tmp_path / "checkpoints"),
        "concurrency": 8, "request_timeout": 2.0, "retry_policy": FAST_RETRY, "engine_options": ENGINE, **kwargs,
    }  # fmt: skip
    return SendVoiceCampaignOperator(**args)


def backend(vendor: str) -> Any:
    return BaseHook.get_hook(f"cmp_{vendor}", hook_params={"timeout": 2.0, "retry": FAST_RETRY}).campaigns()


def send(vendor: str, people: list[Any], spec: CampaignSpec, **kwargs: Any) -> Any:
    b = backend(vendor)
    return b.send_campaign(
        spec,
        validate_recipients(people, b, spec),
        key=CheckpointKey("personalised", vendor, "run-1"),
        store=kwargs.pop("store", MemoryCheckpointStore()),
        concurrency=8,
        engine_options=ENGINE,
        **kwargs,
    )


def assert_each_heard_their_own_name_once(campaigns: Campaigns, vendor: str, people: list[dict[str, str]]) -> None:
    texts = heard(campaigns, vendor)
    expected = {as_ledger(vendor, p["number"]): greeting(p["name"]) for p in people}
    assert set(texts) == set(expected), "somebody was not called, or somebody else was"
    twice = {n: t for n, t in texts.items() if len(t) != 1}
    assert not twice, f"{len(twice)} people were called more than once"
    wrong = {n for n, (text,) in texts.items() if text != expected[n]}
    assert not wrong, f"{len(wrong)} people heard someone else's text"


@pytest.mark.parametrize("vendor", ONE_TEXT_VENDORS)
def test_1000_people_each_hear_their_own_name_exactly_once(campaigns: Campaigns, vendor: str, tmp_path, caplog):
    people = people_with_names(1000)
    with caplog.at_level(logging.INFO, logger="airflow_provider_voice"):
        result = operator(vendor, tmp_path, people).execute(context())
    assert_each_heard_their_own_name_once(campaigns, vendor, people)
    # 1,000 distinct texts: one frame each (a Velip campaign, an Octopush request)
    assert frames_sent(campaigns, vendor) == 1000 and len(result["campaign_ids"]) == 1000
    assert result["accepted"] == 1000 and result["extra"]["distinct_texts"] == 1000
    assert "Personne" not in json.dumps(result)  # XCom carries counts and digests' count, never the names
    assert any("1,000 distinct texts in 1,000 frames" in r.getMessage() for r in caplog.records)
    if vendor == "velip":  # each campaign reads its own text, to the one person it holds
        for campaign in campaigns.simulator.state.velip.campaigns.values():
            (record,) = campaign.records
            assert campaign.audio["text"] == greeting(record["name"])
        names = [c.name for c in campaigns.simulator.state.velip.campaigns.values()]
        assert len(set(names)) == 1000 and "Rappel" in names and "Rappel #1000" in names


@pytest.mark.parametrize(
    ("vendor", "frame_size", "expected"),
    [
        ("octopush", None, 3 * math.ceil(334 / 500)),  # 3 requests
        ("octopush", 100, math.ceil(334 / 100) + 2 * math.ceil(333 / 100)),  # 12
        ("velip", None, 3),  # one campaign per text
        ("velip", 150, math.ceil(334 / 150) + 2 * math.ceil(333 / 150)),  # 9
        ("kaleyra", None, math.ceil(1000 / 200)),  # Kaleyra frames mix texts (one call[] item per text): 5
    ],
)
def test_1000_people_three_texts_share_frames(campaigns: Campaigns, vendor: str, frame_size: int | None, expected: int):
    state = campaigns.simulator.state
    people = [Recipient(number=n, variables={"slot": SLOTS[i % 3]}) for i, n in enumerate(numbers(1000))]
    options = vendor_options(vendor, **({"frame_size": frame_size} if frame_size else {}))
    spec = CampaignSpec(name="Créneaux", message="Votre créneau : {slot}.", vendor_options=options)
    counter = state.faults.set(vendor, SEND_ROUTES[vendor])  # counts the send requests
    handle = send(vendor, people, spec)
    assert handle.accepted == 1000 and handle.extra["distinct_texts"] == 3
    assert frames_sent(campaigns, vendor) == expected and counter.requests == expected
    texts = heard(campaigns, vendor)
    assert all(texts[as_ledger(vendor, str(p.number))] == [f"Votre créneau : {p.variables['slot']}."] for p in people)
    if vendor in ONE_TEXT_VENDORS:
        per_text = Counter(t for (t,) in texts.values())
        assert sorted(per_text.values()) == [333, 333, 334]


@pytest.mark.parametrize("vendor", ["velip", "octopush", "kaleyra"])
def test_a_message_without_placeholders_is_one_distinct_text_and_frames_as_before(campaigns: Campaigns, vendor: str):
    spec = CampaignSpec(name="Plain", message="Bonjour à tous", vendor_options=vendor_options(vendor, frame_size=4))
    handle = send(vendor, numbers(10), spec)
    assert handle.accepted == 10 and handle.extra["distinct_texts"] == 1
    assert frames_sent(campaigns, vendor) == 3  # 4 + 4 + 2, in source order
    assert {t for texts in heard(campaigns, vendor).values() for t in texts} == {"Bonjour à tous"}


def test_an_audio_campaign_reports_no_text(campaigns: Campaigns):
    spec = CampaignSpec(name="Audio", audio="5001", message="ignored {name}", vendor_options=velip_window())
    handle = send("velip", numbers(5), spec)
    assert handle.accepted == 5 and "distinct_texts" not in handle.extra
    assert {e.details["content"] for e in campaigns.simulator.state.ledger.entries("velip", "call")} == {"5001"}


@pytest.mark.parametrize("vendor", ONE_TEXT_VENDORS)
def test_task_killed_midway_then_retried_calls_nobody_twice(campaigns: Campaigns, vendor: str, tmp_path):
    people = people_with_names(1000)
    with pytest.raises(OSError, match="lost its recipients"), failing_midway(limit=450):
        operator(vendor, tmp_path, people).execute(context())
    first = Counter(campaigns.calls(vendor))
    assert 300 < sum(first.values()) <= 450 and max(first.values()) == 1  # frames cut before the failure went out

    result = operator(vendor, tmp_path, people).execute(context())  # Airflow's retry: same task instance
    assert_each_heard_their_own_name_once(campaigns, vendor, people)
    assert result["accepted"] == 1000 and result["resumed"] == sum(first.values()) and result["in_doubt"] == 0
    assert result["extra"]["distinct_texts"] == 1000  # earlier try's frames included


@pytest.mark.parametrize("vendor", ONE_TEXT_VENDORS)
def test_worker_dies_after_the_vendor_accepted_a_personalised_frame(
    campaigns: Campaigns, vendor: str, tmp_path, monkeypatch
):
    people = [{**p, "slot": SLOTS[i % 3]} for i, p in enumerate(people_with_names(300))]
    message = "Bonjour {name}, créneau {slot}."
    crashed: list[str] = []

    def keep_engine(self: SendVoiceCampaignOperator, engine: DeliveryEngine[Any]) -> None:
        original = engine.channel.send

        async def send_then_die(frame: Frame[Any]) -> FrameResult:
            result = await original(frame)
            if frame.index == 3 and not crashed:
                crashed.extend(str(r.number) for r in frame.items)
                raise Crash()
            return result

        engine.channel.send = send_then_die  # type: ignore[method-assign]

    with monkeypatch.context() as patch:
        patch.setattr(SendVoiceCampaignOperator, "_keep_engine", keep_engine)
        with pytest.raises(Crash):
            operator(vendor, tmp_path, people, message=message, concurrency=2).execute(context())
    assert crashed and all(campaigns.calls_for(vendor, crashed)[p] == 1 for p in crashed)

    result = operator(vendor, tmp_path, people, message=message, concurrency=2).execute(context())
    assert result["accepted"] == 300 and result["in_doubt"] == 0  # reconciled (cp_ctid / request_id)
    texts = heard(campaigns, vendor)
    for p in people:
        assert texts[as_ledger(vendor, p["number"])] == [f"Bonjour {p['name']}, créneau {p['slot']}."]


@pytest.mark.parametrize("vendor", ONE_TEXT_VENDORS)
def test_faults_mid_send_then_a_retry_call_nobody_twice(campaigns: Campaigns, vendor: str):
    state = campaigns.simulator.state
    state.faults.set(
        vendor, SEND_ROUTES[vendor], error_rate=0.10, rate_limit_rate=0.05, timeout_after_accept_rate=0.03,
        reset_rate=0.02, retry_after=1, hang_seconds=1.0, seed=5,
    )  # fmt: skip
    people = people_with_names(400)
    recipients = [Recipient(number=p["number"], name=p["name"]) for p in people]
    spec = CampaignSpec(name="Fautes", message=GREETING, vendor_options=vendor_options(vendor))
    store = MemoryCheckpointStore()
    b = BaseHook.get_hook(f"cmp_{vendor}", hook_params={"timeout": 0.5, "retry": FAST_RETRY}).campaigns()
    key = CheckpointKey("personalised", vendor, "faults")
    handle = b.send_campaign(
        spec, validate_recipients(recipients, b, spec), key=key, store=store, concurrency=8, engine_options=ENGINE
    )
    injected = Counter(f.kind for f in state.faults.history)
    assert {"timeout_after_accept", "reset"} & set(injected), injected
    assert handle.accepted == 400 and handle.in_doubt == 0  # every in-doubt frame reconciled
    assert_each_heard_their_own_name_once(campaigns, vendor, people)

    state.faults.clear()
    before = Counter(campaigns.calls(vendor))
    again = b.send_campaign(
        spec, validate_recipients(recipients, b, spec), key=key, store=store, concurrency=8, engine_options=ENGINE
    )
    assert again.resumed == 400 and campaigns.calls(vendor) == before


@pytest.mark.parametrize("vendor", ["velip", "octopush", "kaleyra"])
def test_a_missing_variable_fails_before_any_request(campaigns: Campaigns, vendor: str, tmp_path):
    counter = campaigns.simulator.state.faults.set(vendor, "*")  # counts every request to the vendor
    people = [{"number": n, "slot": "lundi"} for n in numbers(3)]
    del people[1]["slot"]
    with pytest.raises(ValidationError) as info:
        operator(vendor, tmp_path, people, message="Votre créneau : {slot}").execute(context())
    error = info.value
    assert isinstance(error, CampaignInputError)  # bad input: not retried by Airflow
    assert error.field == "recipients[row 2]" and "recipients[2].variables: message needs {slot}" in error.rule
    assert counter.requests == 0 and len(campaigns.simulator.state.ledger) == 0


def test_octopush_rendered_text_over_1224_characters_fails_before_any_request(campaigns: Campaigns, tmp_path):
    counter = campaigns.simulator.state.faults.set("octopush", "*")
    template = "x" * 1200 + " {name}"  # 1,207 characters with a name of 6; the template alone is not the text
    people = [
        {"number": numbers(3)[0], "name": "Céline"},
        {"number": numbers(3)[1], "name": "Maximilienne-Eléonore de Saint-Exupéry"},  # 1,239 once filled
        {"number": numbers(3)[2], "name": "Ana"},
    ]
    with pytest.raises(ValidationError) as info:
        operator("octopush", tmp_path, people, message=template).execute(context())
    error = info.value
    assert error.field == "recipients[row 2]"
    assert "recipients[2].message: 1 to 1224 characters (got 1239)" in error.rule
    assert counter.requests == 0 and len(campaigns.simulator.state.ledger) == 0

    spec = CampaignSpec(name="Long", message=template)
    with pytest.raises(ValidationError) as direct:
        backend("octopush").validate_recipient(spec, Recipient(number=people[1]["number"], name=people[1]["name"]), 2)
    # the error shows the length, not the text (which holds the name)
    assert direct.value.field == "recipients[2].message" and "Exupéry" not in str(direct.value)
    backend("octopush").validate(spec)  # the template itself is not checked against 1224: its rendered texts are


def test_skip_invalid_leaves_out_who_lacks_a_variable_and_calls_the_others(campaigns: Campaigns, tmp_path):
    people = [{"number": n, "name": f"P{i}", "slot": SLOTS[i % 3]} for i, n in enumerate(numbers(30))]
    for person in people[::10]:
        del person["slot"]
    result = operator(
        "octopush", tmp_path, people, message="{name}: {slot}", skip_invalid=True, rejects_path=str(tmp_path / "rej")
    ).execute(context())
    assert result["accepted"] == 27 and result["invalid"] == 3 and result["extra"]["distinct_texts"] == 27
    texts = heard(campaigns, "octopush")
    assert len(texts) == 27 and all(as_ledger("octopush", p["number"]) not in texts for p in people[::10])
