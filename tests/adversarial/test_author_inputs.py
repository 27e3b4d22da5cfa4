"""What a real DAG author passes to the sending operators, and what each task then does.

Every case either fails loudly before any request (a ``ValidationError`` naming the field, the
value and the rule, and an ``AirflowFailException`` so Airflow does not retry bad input), or ends
green saying exactly what it did not do. The simulator ledger is the judge of who was called.
"""

from __future__ import annotations

import functools
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from helpers import task_context

from airflow_provider_voice.delivery import DeliveryEngine, MemoryCheckpointStore
from airflow_provider_voice.delivery.engine import TUNING_OPTIONS, engine_options_arg
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.kaleyra import KaleyraDialerUploadOperator
from airflow_provider_voice.operators.sms import SendSMSOperator
from airflow_provider_voice.transport import RetryPolicy

FAST = RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.05, max_retry_after=1.0)
VOICE = ["velip", "octopush", "kaleyra"]
#: a number each task kind accepts, and how the simulator ledger spells it
NUMBERS = {"campaign": "+33612345601", "sms": "+14155552601", "dialer": "+919876543210"}


#: a minimal task context (the operators read only ``ti``)
context = functools.partial(task_context, dag_id="author")


def task(kind: str, tmp_path: Any, vendor: str = "octopush", **kwargs: Any) -> Any:
    """A sending task of ``kind`` (campaign on ``vendor``, TeleVoIPs SMS, Kaleyra dialer upload)."""
    common: dict[str, Any] = {
        "task_id": "send",
        "checkpoint_path": str(tmp_path / "cp"),
        "progress_interval": 60,
        "recipients": [NUMBERS[kind]],
    }
    if kind == "campaign":
        common.update(
            conn_id=f"{vendor}_default", campaign_name="author", message="Hello", request_timeout=2.0, retry_policy=FAST
        )
        return SendVoiceCampaignOperator(**{**common, **kwargs})
    if kind == "sms":
        common.update(conn_id="televoips_default", sender="13214567890", text="Hi")
        return SendSMSOperator(**{**common, **kwargs})
    common.update(conn_id="kaleyra_default", campaign="author_list")
    return KaleyraDialerUploadOperator(**{**common, **kwargs})


KINDS = [("campaign", v) for v in VOICE] + [("sms", "televoips"), ("dialer", "kaleyra")]


@pytest.mark.parametrize(("kind", "vendor"), KINDS)
@pytest.mark.parametrize("empty", [[], (), "CSV_HEADER_ONLY"], ids=["list", "tuple", "csv-header-only"])
def test_an_empty_recipient_source_says_no_recipients_and_is_not_retried(
    voice_connections, tmp_path, kind, vendor, empty
):
    if empty == "CSV_HEADER_ONLY":
        empty = tmp_path / "people.csv"
        empty.write_text("number,name\n")
        empty = str(empty)
    with pytest.raises(ValidationError, match="no recipients") as info:
        task(kind, tmp_path, vendor, recipients=empty).execute(context())
    assert info.value.field == "recipients" and isinstance(info.value, AirflowFailException)
    assert len(voice_connections.state.ledger) == 0


@pytest.mark.parametrize(("kind", "vendor"), KINDS)
@pytest.mark.parametrize("duplicated", [False, True], ids=["once", "every-number-twice"])
def test_everyone_suppressed_is_green_but_said_in_a_warning_and_xcom(
    voice_connections, tmp_path, caplog, kind, vendor, duplicated
):
    number = NUMBERS[kind]
    people = [number, number] if duplicated else [number]
    caplog.set_level(logging.WARNING)
    result = task(kind, tmp_path, vendor, recipients=people, suppression=[number]).execute(context())
    assert result["accepted"] == 0 and result["suppressed"] == 1
    assert result["duplicates"] == (1 if duplicated else 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("all 1 recipients are on the suppression list: nobody was contacted" in m for m in warnings), warnings
    assert len(voice_connections.state.ledger) == 0


@pytest.mark.parametrize(("kind", "vendor"), KINDS)
@pytest.mark.parametrize("concurrency", [0, -3, "4", 2.5, True])
def test_a_concurrency_that_is_not_a_positive_integer_fails_at_dag_parse(tmp_path, kind, vendor, concurrency):
    with pytest.raises(ValidationError) as info:
        task(kind, tmp_path, vendor, concurrency=concurrency)
    assert info.value.field == "concurrency" and info.value.value == concurrency


@pytest.mark.parametrize("concurrency", [0, -1])
def test_the_engine_itself_refuses_a_concurrency_below_one_with_a_typed_error(concurrency):
    from airflow_provider_voice.delivery import CheckpointKey

    channel: Any = SimpleNamespace(name="x")
    with pytest.raises(ValidationError, match="concurrency"):
        DeliveryEngine(
            channel, store=MemoryCheckpointStore(), key=CheckpointKey("d", "t", "r"), concurrency=concurrency
        )
    with pytest.raises(ValidationError, match="max_rejected_share"):
        DeliveryEngine(channel, store=MemoryCheckpointStore(), key=CheckpointKey("d", "t", "r"), max_rejected_share=2)


@pytest.mark.parametrize(
    "options",
    [
        {"bogus": 1},
        {"reconcile_dealy": 0.1},  # a typo
        {"concurrency": 4},  # an operator argument, not an engine option (was "multiple values")
        {"reconcile_delay": "soon"},
        {"backoff_initial": -1},
        "reconcile_delay=0",
    ],
)
def test_engine_options_with_unknown_keys_or_bad_values_fail_at_dag_parse(tmp_path, options):
    with pytest.raises(ValidationError, match="engine_options") as info:
        task("campaign", tmp_path, engine_options=options)
    assert "known:" in info.value.rule or isinstance(options, str) or "number" in info.value.rule


def test_engine_options_accept_every_documented_tuning_option():
    async def no_sleep(_: float) -> None:
        return None

    options = {name: 1 for name in TUNING_OPTIONS if name != "sleep"} | {"sleep": no_sleep}
    assert engine_options_arg(options) == options and engine_options_arg(None) == {}


@pytest.mark.parametrize("vendor", VOICE)
def test_unknown_engine_options_given_to_a_backend_directly_are_a_validation_error(voice_connections, vendor):
    from airflow.sdk import BaseHook

    from airflow_provider_voice.capabilities.recipients import validate_recipients
    from airflow_provider_voice.delivery import CheckpointKey
    from airflow_provider_voice.models.campaign import CampaignSpec

    backend = BaseHook.get_hook(f"{vendor}_default").campaigns()
    spec = CampaignSpec(name="direct", message="Hello")
    people = validate_recipients([NUMBERS["campaign"]], backend, spec, rejects_path=False)
    with pytest.raises(ValidationError, match=r"engine_options\.bogus"):
        backend.send_campaign(spec, people, key=CheckpointKey("d", "t", "r"), engine_options={"bogus": 1})
    assert len(voice_connections.state.ledger) == 0


@pytest.mark.parametrize("vendor", VOICE)
@pytest.mark.parametrize("name", ["", "   ", "\n\t"])
def test_a_campaign_name_that_renders_blank_fails_before_any_request(voice_connections, tmp_path, vendor, name):
    sim = voice_connections
    with pytest.raises(ValidationError) as info:
        task("campaign", tmp_path, vendor, campaign_name=name).execute(context())
    assert info.value.field == "campaign_name" and isinstance(info.value, AirflowFailException)
    assert len(sim.state.ledger) == 0


def test_mapped_tasks_of_one_run_have_their_own_checkpoints(voice_connections, tmp_path):
    sim = voice_connections
    first, second = "+33612345601", "+33612345602"
    a = task("campaign", tmp_path, recipients=[first]).execute(context(map_index=0))
    b = task("campaign", tmp_path, recipients=[first, second]).execute(context(map_index=1))
    assert a["accepted"] == 1 and b["accepted"] == 2 and b["resumed"] == 0  # map 1 did not resume map 0's frames
    counts = sim.state.ledger.counts("octopush", "call")
    assert counts[PhoneNumber.parse(first).octopush] == 2 and counts[PhoneNumber.parse(second).octopush] == 1
    again = task("campaign", tmp_path, recipients=[first]).execute(context(map_index=0, try_number=2))
    assert again["resumed"] == 1 and sim.state.ledger.counts("octopush", "call")[PhoneNumber.parse(first).octopush] == 2
