"""Bad content never reaches a person, and bad input is never retried.

* blank messages, blank per-recipient texts, placeholders that would read object internals aloud,
  schedules in the past and Velip windows that are empty or silently short: validation errors
  before any request (the simulator sees nothing);
* ``vendor_options`` given as a template string parses (DAG import) and is read at execute time;
* every operator and sensor: bad input, refused credentials and templates that cannot render are
  ``AirflowFailException`` (Airflow does not retry them) and keep their typed class.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.definitions._internal.templater import create_template_env
from airflow.sdk.exceptions import AirflowFailException
from helpers import task_context

from airflow_provider_voice.errors import AuthError, ValidationError
from airflow_provider_voice.models.placeholders import fill_placeholders, placeholder_names
from airflow_provider_voice.operators.base import TemplateRenderError, fail_fast, is_permanent
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator

PEOPLE = [{"number": f"+336123{i:05d}", "name": n} for i, n in enumerate(["Ana", "Ben", "Chloé"])]


context = functools.partial(task_context, dag_id="content")


def campaign(vendor: str, tmp_path: Any, **kwargs: Any) -> SendVoiceCampaignOperator:
    args: dict[str, Any] = {
        "task_id": "send",
        "conn_id": f"{vendor}_default",
        "recipients": PEOPLE,
        "campaign_name": "content",
        "message": "Hello",
        "checkpoint_path": str(tmp_path / "checkpoints"),
    }
    args.update(kwargs)
    return SendVoiceCampaignOperator(**args)


def in_hours(hours: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


BAD_CONTENT = [
    ("velip", {"message": "   "}, "message", "blank"),
    ("octopush", {"message": "\n\t "}, "message", "blank"),
    ("kaleyra", {"message": "  "}, "message", "blank"),
    ("velip", {"message": None, "audio": "  "}, "audio", "blank"),
    ("kaleyra", {"message": "Hi {name.upper}"}, "message", "only plain names"),
    ("kaleyra", {"message": "Hi {name!r}"}, "message", "only plain names"),
    ("kaleyra", {"message": "Hi {name:>10}"}, "message", "only plain names"),
    ("kaleyra", {"message": "Hi {name[0]}"}, "message", "only plain names"),
    ("kaleyra", {"message": "Hi {0}"}, "message", "only plain names"),
    ("kaleyra", {"message": "Hi {}"}, "message", "only plain names"),
    ("kaleyra", {"message": "Hi {name"}, "message", "bad placeholder syntax"),
    ("kaleyra", {"message": "{missing}"}, "recipients", "needs {missing}"),
    ("octopush", {"message": "Hi {name.upper}"}, "message", "only plain names"),
    ("velip", {"message": "Hi { name }"}, "message", "only plain names"),
    ("octopush", {"schedule": "2020-01-01T09:00:00Z"}, "schedule", "in the past"),
    ("velip", {"schedule": "2020-01-01T09:00:00Z"}, "schedule", "in the past"),
    ("octopush", {"schedule": "__past_hour__"}, "schedule", "in the past"),
    ("velip", {"vendor_options": {"time_start": "18:00:00", "time_end": "09:00:00"}}, "vendor_options.time_end", "cannot be empty"),
    ("velip", {"vendor_options": {"time_start": "10:00:00", "time_end": "10:00:00"}}, "vendor_options.time_end", "cannot be empty"),
    ("velip", {"vendor_options": "not json"}, "vendor_options", "JSON object"),
    ("velip", {"vendor_options": "[1, 2]"}, "vendor_options", "mapping"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("vendor", "change", "field", "rule"),
    BAD_CONTENT,
    ids=[f"{v}-{f}-{i}" for i, (v, _, f, _) in enumerate(BAD_CONTENT)],
)
def test_bad_content_never_reaches_anyone(voice_connections, tmp_path, vendor, change, field, rule):
    sim = voice_connections
    counter = sim.state.faults.set(vendor, "*")  # counts every request to the vendor
    if change.get("schedule") == "__past_hour__":
        change = {**change, "schedule": in_hours(-1)}
    with pytest.raises(ValidationError) as info:
        campaign(vendor, tmp_path, **change).execute(context())
    assert isinstance(info.value, AirflowFailException)
    assert info.value.field.startswith(field) and rule in info.value.rule, (info.value.field, info.value.rule)
    assert counter.requests == 0 and len(sim.state.ledger) == 0


def test_kaleyra_per_recipient_text_that_is_blank_once_filled_is_refused(voice_connections, tmp_path):
    with pytest.raises(ValidationError, match="empty once filled"):
        campaign("kaleyra", tmp_path, message="{name}", recipients=[{"number": "+919988776655", "name": " "}]).execute(
            context()
        )
    assert len(voice_connections.state.ledger) == 0


def test_kaleyra_reads_each_name_and_never_object_internals(voice_connections, tmp_path):
    sim = voice_connections
    result = campaign(
        "kaleyra",
        tmp_path,
        message="Hello {name}, {{literal}}",
        recipients=[{"number": "+919988776655", "name": "Asha"}],
    ).execute(context())
    assert result["accepted"] == 1
    spoken = [e.details.get("message") for e in sim.state.ledger.entries("kaleyra", "call")]
    assert spoken == ["Hello Asha, {literal}"]


def test_placeholder_helpers_never_call_format():
    assert placeholder_names("Hi {name}, {name} and {code}") == ["name", "code"]
    assert fill_placeholders("{a}{{b}}", {"a": "{__class__}"}) == "{__class__}{b}"  # values are not re-parsed


@pytest.mark.parametrize(
    ("options", "schedule_utc", "rule"),
    [
        ({}, (2, 30), "leaves only 29 minutes"),  # 02:30Z = 23:30 in Sao Paulo: a silent 30-minute window before
        ({"time_start": "09:00:00", "time_end": "20:00:00"}, (23, 30), "has closed by the start time"),  # 20:30 local
        ({"time_end": "20:00:00"}, (23, 30), "cannot be empty"),  # starts 20:30 local: 20:30-20:00 is inverted
        ({"time_start": "09:00:00", "time_end": "20:00:00"}, (17, 0), "before the schedule"),  # 14:00 local
    ],
)
def test_velip_window_that_would_silently_call_nobody_or_few_is_refused(
    voice_connections, tmp_path, options, schedule_utc, rule
):
    day = (datetime.now(timezone.utc) + timedelta(days=2)).date()
    when = datetime(day.year, day.month, day.day, *schedule_utc, tzinfo=timezone.utc)
    with pytest.raises(ValidationError, match=rule) as info:
        campaign("velip", tmp_path, schedule=when.isoformat(), vendor_options=options).execute(context())
    assert "America/Sao_Paulo" in info.value.rule
    assert len(voice_connections.state.ledger) == 0


def test_velip_explicit_window_across_days_is_accepted(voice_connections, tmp_path):
    day = (datetime.now(timezone.utc) + timedelta(days=2)).date()
    when = datetime(day.year, day.month, day.day, 2, 30, tzinfo=timezone.utc)
    options = {"time_start": "09:00:00", "time_end": "20:00:00", "date_end": (day + timedelta(days=1)).isoformat()}
    result = campaign("velip", tmp_path, schedule=when.isoformat(), vendor_options=options).execute(context())
    assert result["accepted"] == 3
    # 02:30Z is 23:30 the day before in Sao Paulo: that day's 09-20 window lies before the schedule, so calling
    # starts the next morning, never before the schedule
    (created,) = voice_connections.state.velip.campaigns.values()
    assert (created.date_start, created.time_start) == (day.isoformat(), "09:00:00"), created


def test_velip_campaign_sent_late_in_sao_paulo_runs_until_the_end_of_the_next_day(
    voice_connections, tmp_path, monkeypatch
):
    """Sent now at 23:30 in São Paulo (02:30Z) with no window options: not refused, nor cut at midnight."""
    import time

    clock = voice_connections.state.use_fake_clock(datetime(2026, 12, 2, 2, 30, tzinfo=timezone.utc).timestamp())
    monkeypatch.setattr(time, "time", clock)
    result = campaign("velip", tmp_path).execute(context())
    assert result["accepted"] == 3
    (created,) = voice_connections.state.velip.campaigns.values()
    window = (created.date_start, created.time_start, created.date_end, created.time_end)
    assert window == ("2026-12-01", "00:00:00", "2026-12-02", "23:59:59"), window
    assert len(voice_connections.state.ledger.entries("velip", "call")) == 3  # today's part is open: called now


@pytest.mark.parametrize("kind", ["campaign", "sms"])
def test_validation_workers_reach_the_validation_and_bad_values_fail_when_the_dag_is_parsed(
    voice_connections, tmp_path, monkeypatch, kind
):
    import airflow_provider_voice.capabilities.recipients as recipients
    from airflow_provider_voice.operators.sms import SendSMSOperator

    asked: list[Any] = []
    validate = recipients.validate_recipients

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("validation_workers"))
        return validate(*args, **kwargs)

    monkeypatch.setattr(recipients, "validate_recipients", spy)

    def make(**kwargs: Any) -> Any:
        if kind == "campaign":
            return campaign("octopush", tmp_path, **kwargs)
        return SendSMSOperator(
            task_id="sms", conn_id="televoips_default", recipients=["+14155552671"], text="Hi",
            sender="+13214567890", checkpoint_path=str(tmp_path / "sms"), **kwargs,
        )  # fmt: skip

    assert make(validation_workers=2).execute(context())["accepted"] >= 1
    assert asked == [2]
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValidationError, match="validation_workers"):
            make(validation_workers=bad)


def test_templated_vendor_options_parse_at_import_and_apply_at_execute(voice_connections, tmp_path):
    op = campaign("octopush", tmp_path, vendor_options="{{ params.options | tojson }}")  # DAG parse: no dict() here
    assert op.vendor_options == "{{ params.options | tojson }}"
    op.vendor_options = '{"sender": "Clinic", "frame_size": 2}'  # what Airflow renders at run time
    result = op.execute(context())
    assert result["accepted"] == 3 and len(result["campaign_ids"]) == 2  # frame_size=2 was applied
    python_repr = campaign("octopush", tmp_path, vendor_options="{{ params.options }}")
    python_repr.vendor_options = "{'sender': 'Clinic', 'frame_size': 1}"  # a dict rendered without tojson
    assert len(python_repr.execute(context(run_id="run-2"))["campaign_ids"]) == 3


# -- fail fast everywhere ------------------------------------------------------------------------------


def operators_with_bad_input(tmp_path: Any) -> list[tuple[str, Any]]:
    from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator
    from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
    from airflow_provider_voice.operators.click_to_call import ClickToCallOperator
    from airflow_provider_voice.operators.kaleyra import KaleyraDialerUploadOperator, KaleyraFollowUpOperator
    from airflow_provider_voice.operators.messages import ExportMessagesOperator
    from airflow_provider_voice.operators.reports import KaleyraCallReportOperator, VelipCallStatusExportOperator
    from airflow_provider_voice.operators.sms import SendSMSOperator

    out = tmp_path / "out"
    return [
        ("campaign", campaign("octopush", tmp_path, recipients=["not a number"])),
        ("sms", SendSMSOperator(task_id="t", conn_id="televoips_default", recipients=["+14155552600"], text="  ",
                                sender="13214567890", checkpoint_path=str(tmp_path))),
        ("blacklist", BlacklistNumbersOperator(task_id="t", conn_id="kaleyra_default", numbers=["abc"])),
        ("click_to_call", ClickToCallOperator(task_id="t", conn_id="kaleyra_default", agent="x", customer="y")),
        ("followup", KaleyraFollowUpOperator(task_id="t", conn_id="kaleyra_default", action="edit")),
        ("dialer", KaleyraDialerUploadOperator(task_id="t", conn_id="kaleyra_default", campaign="bad name!",
                                               recipients=["9988776655"], checkpoint_path=str(tmp_path))),
        ("messages", ExportMessagesOperator(task_id="t", conn_id="televoips_default", destination=str(out / "m.csv"),
                                            start="not a date")),
        ("cdr", DownloadCdrReportOperator(task_id="t", conn_id="televoips_default", destination=str(out / "c.csv"),
                                          report={"no": "id"})),
        ("kaleyra_report", KaleyraCallReportOperator(task_id="t", conn_id="kaleyra_default",
                                                     destination=str(out / "k.csv"), date_from="not a date")),
        ("velip_report", VelipCallStatusExportOperator(task_id="t", conn_id="velip_default",
                                                       destination=str(out / "v.csv"), date_from="not a date")),
    ]  # fmt: skip


def test_every_operator_fails_bad_input_without_retries(voice_connections, tmp_path):
    failures = {}
    for name, operator in operators_with_bad_input(tmp_path):
        try:
            operator.execute(context())
        except Exception as exc:
            failures[name] = exc
        else:
            failures[name] = None
    for name, exc in failures.items():
        assert exc is not None, f"{name}: bad input was accepted"
        assert isinstance(exc, AirflowFailException), f"{name}: {type(exc).__mro__} would be retried: {exc}"
        assert isinstance(exc, ValidationError), f"{name}: {exc!r}"
    assert len(voice_connections.state.ledger) == 0


def test_a_sensor_with_a_wrong_key_fails_without_retries(voice_connections):
    from airflow_provider_voice.sensors.health import HealthStatusSensor

    sensor = HealthStatusSensor(task_id="health", conn_id="kaleyra_wrong_key", deferrable=False)
    with pytest.raises(AuthError) as info:
        sensor.poke(context())
    assert isinstance(info.value, AirflowFailException)


def test_fail_fast_keeps_the_class_the_attributes_and_the_message():
    error = ValidationError("message", "x", "not allowed", vendor="velip")
    twin = fail_fast(error)
    assert isinstance(twin, ValidationError) and isinstance(twin, AirflowFailException)
    assert (twin.field, twin.value, twin.rule, str(twin)) == (error.field, error.value, error.rule, str(error))
    assert is_permanent(AuthError("HTTP 401")) and not is_permanent(TimeoutError())


def test_a_template_without_a_logical_date_fails_without_retries(tmp_path):
    op = campaign("octopush", tmp_path, message="Your appointment on {{ ds }}")
    env = create_template_env()  # Airflow's own (StrictUndefined, its filters)
    with pytest.raises(TemplateRenderError, match=r"dag_run.run_after"):  # a run from the API has no {{ ds }}
        op.render_template_fields({"run_id": "manual__x", "params": {}}, env)
    op.message = "Your appointment on {{ dag_run.run_after | ds }}"
    op.render_template_fields({"dag_run": SimpleNamespace(run_after=datetime(2026, 12, 1, tzinfo=timezone.utc))}, env)
    assert op.message == "Your appointment on 2026-12-01"
