"""Per-vendor campaign backends against the simulator: Velip upload vs datajson, frame names, the 230
conflict, pause; Kaleyra per-recipient messages and schedule; Octopush options and summing;
the capability lookup and the status mapping."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk import BaseHook
from campaign_support import FAST_RETRY, Campaigns, as_ledger
from helpers import numbers

from airflow_provider_voice.capabilities.recipients import validate_recipients
from airflow_provider_voice.delivery import CheckpointKey, DeliveryRejectedError, MemoryCheckpointStore
from airflow_provider_voice.errors import CapabilityNotSupportedError
from airflow_provider_voice.models import Recipient
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignSpec
from airflow_provider_voice.vendors.kaleyra.campaign import KaleyraCampaigns
from airflow_provider_voice.vendors.octopush.campaign import OctopushCampaigns, estimate_status
from airflow_provider_voice.vendors.velip.campaign import VelipCampaigns, frame_name


def backend(vendor: str) -> Any:
    return BaseHook.get_hook(f"cmp_{vendor}", hook_params={"timeout": 2.0, "retry": FAST_RETRY}).campaigns()


def run(vendor: str, people: list[Any], spec: CampaignSpec, key: str = "k") -> Any:
    b = backend(vendor)
    return b.send_campaign(
        spec, validate_recipients(people, b, spec), key=CheckpointKey("b", vendor, key), store=MemoryCheckpointStore()
    )


def test_capability_lookup_picks_the_backend_by_connection_type(campaigns: Campaigns, monkeypatch):
    assert isinstance(backend("velip"), VelipCampaigns)
    assert isinstance(backend("octopush"), OctopushCampaigns)
    assert isinstance(backend("kaleyra"), KaleyraCampaigns)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CMP_TV",
        '{"conn_type": "televoips", "host": "http://127.0.0.1:9", "extra": {"reports_key": "abcd"}}',
    )
    with pytest.raises(CapabilityNotSupportedError, match="kaleyra or octopush or velip"):
        BaseHook.get_hook("cmp_tv").campaigns()


def test_velip_uploads_a_csv_above_the_threshold_and_names_frames(campaigns: Campaigns):
    people = [Recipient(number=n, name=f"P{i}", variables={"account": f"A{i}"}) for i, n in enumerate(numbers(30))]
    spec = CampaignSpec(
        name="Upload", message="Olá", voice="Ricardo",
        vendor_options={"frame_size": 20, "upload_threshold": 10, "extra_fields": {"codcli": "account"}, "vel": 30, "resends": 1},
    )  # fmt: skip
    handle = run("velip", people, spec)
    assert len(handle.campaign_ids) == 2 and handle.accepted == 30
    store = campaigns.simulator.state.velip
    first, second = (store.campaigns[cp] for cp in handle.campaign_ids)
    assert (first.name, second.name) == ("Upload", "Upload #2")
    assert first.records[0] == {
        "number": "33612300000",
        "name": "P0",
        "codcli": "A0",
        "extra1": "",
        "extra2": "",
        "extra3": "",
    }
    assert len(first.records) == 20 and len(second.records) == 10
    assert first.audio == {"text": "Olá", "voice": "Ricardo", "content": None}
    assert frame_name("n" * 50, 11) == "n" * 46 + " #12"


def test_velip_lost_checkpoint_is_a_forced_resend_not_a_made_up_success(campaigns: Campaigns):
    spec = CampaignSpec(name="Same", message="Olá")
    people = numbers(5)
    b = backend("velip")
    key = CheckpointKey("b", "velip", "conflict")
    b.send_campaign(spec, validate_recipients(people, b, spec), key=key, store=MemoryCheckpointStore())
    time.sleep(0.2)  # the first campaign has finished: Velip's name+date conflict (230) no longer applies
    # the checkpoint is gone (deleted on purpose to resend): the cp_ctid of the new try is new, so
    # nothing of the first delivery is taken for this one's — the people are called again
    again = b.send_campaign(spec, validate_recipients(people, b, spec), key=key, store=MemoryCheckpointStore())
    assert again.accepted == 5 and len(campaigns.simulator.state.velip.campaigns) == 2
    assert set(campaigns.calls("velip").values()) == {2}


def test_velip_name_conflict_with_another_delivery_is_a_refusal(campaigns: Campaigns, simulator_clock):
    spec = CampaignSpec(name="Same", message="Olá", vendor_options={"lookup_before_create": False})
    b = backend("velip")
    key = CheckpointKey("b", "velip", "conflict230")
    b.send_campaign(spec, validate_recipients(numbers(5), b, spec), key=key, store=MemoryCheckpointStore())
    conflicts = campaigns.simulator.state.faults.set("velip", "CreateCampaign")
    with pytest.raises(DeliveryRejectedError, match="230") as info:
        b.send_campaign(spec, validate_recipients(numbers(5), b, spec), key=key, store=MemoryCheckpointStore())
    assert conflicts.requests == 1  # answered 230 (the first campaign is still running on the frozen clock)
    assert info.value.report.accepted == 0 and info.value.report.rejected == 5
    assert len(campaigns.simulator.state.velip.campaigns) == 1


def test_velip_in_doubt_frame_is_found_by_its_own_cp_ctid(campaigns: Campaigns, simulator_clock):
    """The answer was garbage (performed, then a truncated body): the frame's own cp_ctid finds the campaign."""
    spec = CampaignSpec(name="Mine", message="Olá", vendor_options={"lookup_before_create": False})
    b = backend("velip")
    campaigns.simulator.state.faults.set("velip", "CreateCampaign", malformed_rate=1.0, times=1)
    handle = b.send_campaign(
        spec,
        validate_recipients(numbers(5), b, spec),
        key=CheckpointKey("b", "velip", "own"),
        store=MemoryCheckpointStore(),
        engine_options={"reconcile_delay": 0},
    )
    assert handle.accepted == 5 and len(campaigns.simulator.state.velip.campaigns) == 1
    assert max(campaigns.calls("velip").values()) == 1


def test_velip_cancel_pauses_and_status_says_paused(campaigns: Campaigns, simulator_clock):
    b = backend("velip")
    handle = run("velip", numbers(10), CampaignSpec(name="Pause", message="x"))
    assert b.cancel(handle) == handle.campaign_ids
    status = b.campaign_status(handle)
    assert status.state == "paused" and not status.finished


def test_velip_schedule_becomes_local_dates(campaigns: Campaigns):
    when = datetime(2030, 3, 1, 15, 30, tzinfo=timezone.utc)
    handle = run(
        "velip",
        numbers(3),
        CampaignSpec(name="Later", message="x", schedule=when, vendor_options={"time_end": "20:00:00"}),
    )
    campaign = campaigns.simulator.state.velip.campaigns[handle.campaign_ids[0]]
    assert (campaign.date_start, campaign.time_start, campaign.time_end) == ("2030-03-01", "12:30:00", "20:00:00")
    assert backend("velip").campaign_status(handle).state == "scheduled"


def test_kaleyra_personalised_messages_and_schedule(campaigns: Campaigns):
    people = [
        {"number": n, "name": name, "slot": "10h"} for n, name in zip(numbers(3), ["Ana", "Bo", "Ana"], strict=True)
    ]
    when = datetime.now(timezone.utc) + timedelta(hours=2)
    handle = run(
        "kaleyra",
        people,
        CampaignSpec(
            name="Remind", message="Hello {name}, see you at {slot}", schedule=when, vendor_options={"retries": 1}
        ),
    )
    entries = campaigns.simulator.state.ledger.entries("kaleyra", "call")
    messages = {e.number: e.details["message"] for e in entries}
    assert messages == {
        as_ledger("kaleyra", numbers(3)[0]): "Hello Ana, see you at 10h",
        as_ledger("kaleyra", numbers(3)[1]): "Hello Bo, see you at 10h",
        as_ledger("kaleyra", numbers(3)[2]): "Hello Ana, see you at 10h",
    }
    groups = campaigns.simulator.state.kaleyra.groups
    assert {groups[int(g)].batch.start_at for g in handle.campaign_ids} == {int(when.timestamp())}
    assert {e.details["campaign"] for e in entries} == {"Remind"} and {e.details["retries"] for e in entries} == {1}
    status = backend("kaleyra").campaign_status(handle)
    assert status.counts["pending"] == 3 and not status.finished


def test_kaleyra_voice_call_method_and_missing_variable(campaigns: Campaigns):
    handle = run(
        "kaleyra", numbers(5), CampaignSpec(name="Call", audio="123.sound", vendor_options={"method": "voice.call"})
    )
    assert handle.accepted == 5 and len(handle.campaign_ids) == 1
    assert {e.details["method"] for e in campaigns.simulator.state.ledger.entries("kaleyra", "call")} == {"voice.call"}
    spec = CampaignSpec(name="x", message="Hi {first}")
    with pytest.raises(Exception, match=r"message needs \{first\}"):
        validate_recipients([{"number": numbers(1)[0]}], backend("kaleyra"), spec)


def test_octopush_options_reach_the_vendor_and_answers_are_summed(campaigns: Campaigns):
    people = [Recipient(number=n, variables={"first": f"N{i}"}) for i, n in enumerate(numbers(1200))]
    spec = CampaignSpec(
        name="O", message="Bonjour", language="fr-FR", voice="female",
        vendor_options={"sender": "Clinic42", "purpose": "wholesale", "params": {"param1": "first"}, "get_back_pressed_keys": True},
    )  # fmt: skip
    handle = run("octopush", people, spec)
    assert handle.accepted == 1200 and len(handle.campaign_ids) == 3  # 500 + 500 + 200
    assert (
        handle.cost == pytest.approx(60.0)
        and handle.extra["tickets"] == 3
        and handle.extra["residual_credit"] == pytest.approx(10_000 - 60)
    )
    tickets = campaigns.simulator.state.octopush.tickets
    payload = tickets[handle.campaign_ids[0]].payload
    assert {k: payload[k] for k in ("sender", "purpose", "voice_language", "voice_gender", "get_back_pressed_keys")} == {
        "sender": "Clinic42", "purpose": "wholesale", "voice_language": "fr-FR", "voice_gender": "female", "get_back_pressed_keys": True,
    }  # fmt: skip
    assert payload["recipients"][1] == {"phone_number": "+33612300001", "param1": "N1"}
    assert len(payload["request_id"]) == 15


def test_octopush_estimate_is_a_lower_bound_from_the_send_time():
    start = time.time()
    handle = CampaignHandle(
        vendor="octopush",
        accepted=10,
        estimated_duration=60,
        started_at=datetime.fromtimestamp(start, timezone.utc).isoformat(),
    )
    running = estimate_status(handle, start + 30)
    assert running.state == "running" and not running.finished and "about 30 s to go" in running.message
    done = estimate_status(handle, start + 61)
    assert done.finished and done.estimated and done.done == 10
    scheduled = handle.model_copy(update={"schedule": datetime.fromtimestamp(start + 600, timezone.utc).isoformat()})
    assert estimate_status(scheduled, start + 61).state == "scheduled"
