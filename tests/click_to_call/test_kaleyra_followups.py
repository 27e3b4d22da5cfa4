"""KaleyraFollowUpOperator against the simulator: create (once), edit, delete."""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_voice.errors import ValidationError, VendorRejectedError
from airflow_provider_voice.operators.kaleyra import KaleyraFollowUpOperator


def test_create_edit_delete(voice_connections, context):
    sim = voice_connections
    when = pendulum.now("Asia/Kolkata").add(days=2).replace(hour=11, minute=30, second=0, microsecond=0)
    create = KaleyraFollowUpOperator(
        task_id="f",
        phone="9876543210",
        name="Renewal call",
        follower="9123456789",
        ontime=when,
        autocall=True,
        notes="renewal",
    )
    created = create.execute(context)
    assert created["existing"] is False and created["id"]
    stored = sim.state.kaleyra.followups[created["id"]]
    assert stored.phone == "9876543210" and stored.autocall == "1"

    again = create.execute(context)  # a retried task finds it instead of creating a second one
    assert again == {**created, "existing": True, "message": "already scheduled"}
    assert len(sim.state.ledger.entries("kaleyra", "followup_create")) == 1

    edit = KaleyraFollowUpOperator(
        task_id="e", action="edit", followup_id=created["id"], phone="9876543210", name="Renewal call",
        follower="9123456789", ontime=when.add(hours=1),
    )  # fmt: skip
    assert edit.execute(context)["id"] == created["id"]
    assert len(sim.state.ledger.entries("kaleyra", "followup_edit")) == 1

    delete = KaleyraFollowUpOperator(task_id="d", action="delete", followup_id=created["id"])
    assert delete.execute(context)["action"] == "delete"
    assert created["id"] not in sim.state.kaleyra.followups
    with pytest.raises(ValidationError, match=r"not listed by followup\.reports"):
        delete.execute(context)  # the spec's mandatory fields come from followup.reports: nothing to send
    assert len(sim.state.ledger.entries("kaleyra", "followup_delete")) == 1
    explicit = KaleyraFollowUpOperator(
        task_id="d2", action="delete", followup_id=created["id"], phone="9876543210", name="Renewal call",
        follower="9123456789", ontime=when,
    )  # fmt: skip
    with pytest.raises(VendorRejectedError, match="E120"):
        explicit.execute(context)


def test_bad_followups_fail_before_sending(voice_connections, context):
    with pytest.raises(ValidationError):
        KaleyraFollowUpOperator(
            task_id="f", phone="9876543210", name="x", follower="9123456789", ontime="next tuesday"
        ).execute(context)
    with pytest.raises(ValidationError):
        KaleyraFollowUpOperator(
            task_id="f", phone="98", name="x", follower="9123456789", ontime="02-01-2030 10-00"
        ).execute(context)
    with pytest.raises(ValidationError, match="kaleyra"):
        KaleyraFollowUpOperator(task_id="f", conn_id="velip_default", action="delete", followup_id="1").execute(context)
    with pytest.raises(ValidationError):
        KaleyraFollowUpOperator(task_id="f", action="remove")
    assert len(voice_connections.state.ledger) == 0
