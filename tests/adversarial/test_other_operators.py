"""Adversarial checks of the report, click-to-call, health and campaign-wait tasks (issue 8, "never silent").

Each test is a way these tasks could end green without having done what was asked, or fail in a
way Airflow retries although a retry cannot help:

* a refused key found by a *deferred* wait (an ``error`` event of the trigger) must fail the task
  at once (``AirflowFailException``, and the typed :class:`AuthError`), as it does in poke mode;
* a bad campaign handle is a typed :class:`ValidationError`, not a pydantic error;
* a trigger event without the status it promises is not a success;
* a CDR file cut inside a record (an open quoted field, a short last line) is not "complete".
"""

from __future__ import annotations

import asyncio

import pytest
import structlog.testing
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from helpers import first_event, soon

from airflow_provider_voice.errors import AuthError, MalformedResponseError, ValidationError
from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
from airflow_provider_voice.operators.click_to_call import ClickToCallOperator
from airflow_provider_voice.sensors.campaign import CampaignCompletionSensor, parse_handle
from airflow_provider_voice.sensors.cdr import CdrReportSensor
from airflow_provider_voice.sensors.click_to_call import ClickToCallSensor
from airflow_provider_voice.sensors.health import HealthStatusSensor
from airflow_provider_voice.testing.televoips import CDR_HEADER
from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger
from airflow_provider_voice.triggers.cdr import CdrReportTrigger
from airflow_provider_voice.triggers.click_to_call import ClickToCallTrigger
from airflow_provider_voice.triggers.health import HealthStatusTrigger
from airflow_provider_voice.vendors.televoips.cdr_download import CdrStreamScanner

HEADER = (",".join(CDR_HEADER) + "\n").encode()


# -- a refused key, found in the triggerer, is not retried --------------------------------------------------
WRONG_KEY_WAITS = [
    pytest.param(
        lambda: CdrReportSensor(task_id="s", conn_id="televoips_wrong_key", deferrable=True),
        lambda: CdrReportTrigger(conn_id="televoips_wrong_key", poll_interval=0.1, deadline=soon(10)),
        id="CdrReportSensor",
    ),
    pytest.param(
        lambda: DownloadCdrReportOperator(task_id="d", conn_id="televoips_wrong_key", destination="/tmp/x.csv"),
        lambda: CdrReportTrigger(conn_id="televoips_wrong_key", poll_interval=0.1, deadline=soon(10)),
        id="DownloadCdrReportOperator",
    ),
    pytest.param(
        lambda: HealthStatusSensor(task_id="h", conn_id="kaleyra_wrong_key", deferrable=True),
        lambda: HealthStatusTrigger(conn_id="kaleyra_wrong_key", poll_interval=0.1, deadline=soon(10)),
        id="HealthStatusSensor",
    ),
    pytest.param(
        lambda: ClickToCallSensor(task_id="c", conn_id="kaleyra_wrong_key", call_id="c2c_1", deferrable=True),
        lambda: ClickToCallTrigger(conn_id="kaleyra_wrong_key", poll_interval=0.1, deadline=soon(10), call_id="c2c_1"),
        id="ClickToCallSensor-kaleyra",
    ),
    pytest.param(
        lambda: ClickToCallSensor(task_id="c", conn_id="velip_wrong_key", call_id="123", deferrable=True),
        lambda: ClickToCallTrigger(conn_id="velip_wrong_key", poll_interval=0.1, deadline=soon(10), call_id="123"),
        id="ClickToCallSensor-velip",
    ),
    pytest.param(
        lambda: ClickToCallOperator(
            task_id="o", conn_id="kaleyra_wrong_key", agent="9988776655", customer="9876543210", deferrable=True
        ),
        lambda: ClickToCallTrigger(conn_id="kaleyra_wrong_key", poll_interval=0.1, deadline=soon(10), call_id="c2c_1"),
        id="ClickToCallOperator",
    ),
    pytest.param(
        lambda: CampaignCompletionSensor(
            task_id="w", handle={"vendor": "kaleyra", "campaign_ids": ["1"], "conn_id": "kaleyra_wrong_key"}
        ),
        lambda: CampaignCompletionTrigger(
            conn_id="kaleyra_wrong_key",
            handle={"vendor": "kaleyra", "campaign_ids": ["1"], "conn_id": "kaleyra_wrong_key"},
            poll_interval=0.1,
            deadline=soon(10),
        ),
        id="CampaignCompletionSensor",
    ),
]


@pytest.mark.parametrize(("make_task", "make_trigger"), WRONG_KEY_WAITS)
def test_a_refused_key_found_while_deferred_fails_without_retry(voice_connections, make_task, make_trigger):
    event = asyncio.run(first_event(make_trigger()))
    assert event["status"] == "error"
    task = make_task()
    with pytest.raises(AuthError) as raised:
        task.execute_complete({}, event)
    assert isinstance(raised.value, AirflowFailException)  # Airflow does not retry it


def test_a_transient_looking_error_event_keeps_airflow_retries():
    """An ``error`` event that is not a refused key / bad input stays retryable (not fail-fast)."""
    task = CdrReportSensor(task_id="s", deferrable=True)
    with pytest.raises(Exception) as raised:
        task.execute_complete({}, {"status": "error", "message": "vendor refused: E999", "error_kind": None})
    assert not isinstance(raised.value, AirflowFailException)


# -- a bad campaign handle is a typed validation error --------------------------------------------------------
@pytest.mark.parametrize(
    "handle",
    [
        {"x": 1},
        {"campaign_ids": "abc"},
        {"vendor": 5, "campaign_ids": [{}]},
        '{"vendor": ["velip"], "campaign_ids": ["1"]}',
        "{'campaign_ids': None}",
    ],
)
def test_a_bad_campaign_handle_is_a_validation_error(handle):
    with pytest.raises(ValidationError) as raised:
        parse_handle(handle)
    assert raised.value.field == "handle"


def test_a_bad_handle_fails_the_sensor_without_retry():
    sensor = CampaignCompletionSensor(task_id="w", handle={"campaign_ids": ["1"]}, conn_id="velip_default")
    with pytest.raises(ValidationError) as raised:
        sensor.execute({})
    assert isinstance(raised.value, AirflowFailException)


# -- an event without what it promises is not a success -------------------------------------------------------
@pytest.mark.parametrize("event", [None, {}, {"status": "success"}, {"status": "success", "campaign_status": None}])
def test_campaign_wait_without_a_status_is_not_green(event):
    sensor = CampaignCompletionSensor(task_id="w", handle={"vendor": "velip", "campaign_ids": ["1"]})
    with pytest.raises(Exception) as raised:
        sensor.execute_complete({}, event)
    assert not isinstance(raised.value, (AttributeError, TypeError, KeyError))


@pytest.mark.parametrize("event", [None, {}, {"status": "success"}, {"status": "success", "id": "r1"}])
def test_cdr_download_resumed_without_a_report_url_is_not_attempted(event, tmp_path):
    op = DownloadCdrReportOperator(task_id="d", destination=str(tmp_path / "cdr.csv"), asset=False)
    with pytest.raises(Exception) as raised:
        op.execute_complete({}, event)
    assert not isinstance(raised.value, (AttributeError, TypeError, KeyError))
    assert not (tmp_path / "cdr.csv").exists()


# -- a CDR file cut inside a record is not complete -----------------------------------------------------------
@pytest.mark.parametrize(
    "tail",
    [
        b'2026-01-01 10:00:00,"Dan',  # cut inside a quoted field
        b'2026-01-01 10:00:00,"Dan\n+33612345604,x,y\n',  # a quote that never closes, newline-terminated
        b"2026-01-01 10:00:00,+3361",  # cut inside the last line: fewer fields than the header
    ],
)
def test_a_cdr_file_cut_inside_a_record_is_malformed(tail):
    scanner = CdrStreamScanner()
    scanner.feed(HEADER)
    scanner.feed(tail)
    with pytest.raises(MalformedResponseError):
        scanner.finish()


def test_a_complete_cdr_file_without_a_final_newline_still_counts():
    row = ",".join(f"v{i}" for i in range(len(CDR_HEADER))).encode()
    scanner = CdrStreamScanner()
    scanner.feed(HEADER + row + b"\n")
    scanner.feed(row)
    scanner.finish()
    assert scanner.rows == 2


@pytest.mark.parametrize("vendor", ["velip", "kaleyra", "octopush"])
@pytest.mark.parametrize("ids", [[], [""], ["  "]])
def test_a_handle_without_campaign_ids_is_not_waited_for(voice_connections, vendor, ids):
    """Octopush read such a handle as "finished" (green, nothing watched); Velip/Kaleyra spun until the timeout."""
    sensor = CampaignCompletionSensor(
        task_id="w", handle={"vendor": vendor, "campaign_ids": ids, "conn_id": f"{vendor}_default"}, timeout=5
    )
    with pytest.raises(ValidationError) as raised:
        sensor.execute({})
    assert isinstance(raised.value, AirflowFailException)


# -- a wait that would poll without sleeping, or fail only after the call was placed ------------------------
@pytest.mark.parametrize("bad", [0, -1, 0.0, "abc", None, True, float("nan"), float("inf")])
@pytest.mark.parametrize("argument", ["poll_interval", "timeout"])
def test_click_to_call_wait_arguments_are_checked_before_any_call(argument, bad):
    with pytest.raises(ValidationError) as raised:
        ClickToCallOperator(
            task_id="c", conn_id="kaleyra_default", agent="9988776655", customer="9876543210", **{argument: bad}
        )
    assert raised.value.field == argument


@pytest.mark.parametrize("bad", [0, -5, "abc", None, float("nan")])
@pytest.mark.parametrize("argument", ["poll_interval", "wait_timeout"])
def test_cdr_wait_arguments_are_checked_when_the_task_is_built(argument, bad):
    with pytest.raises(ValidationError) as raised:
        DownloadCdrReportOperator(task_id="d", destination="/tmp/x.csv", asset=False, **{argument: bad})
    assert raised.value.field == argument


# -- messages the direction filter cannot classify are said, not silently left out ---------------------------
def test_direction_filter_reads_vendor_spellings_and_reports_unknown_ones(voice_connections, context, tmp_path):
    from airflow_provider_voice.operators.messages import ExportMessagesOperator

    now = voice_connections.state.now()
    base = {"user_id": None, "number_id": "15125", "to": "13214567890", "from": "14155552699", "read": "0"}
    for message_id, direction in (("m-plain", "inbound"), ("m-spaced", " Inbound "), ("m-none", None)):
        voice_connections.state.televoips.add_message(
            {**base, "id": message_id, "direction": direction, "content": "hi", "time": "2026-01-01 00:00:00",
             "Media": []},
            now,
        )  # fmt: skip
    out = tmp_path / "m.jsonl"
    with structlog.testing.capture_logs() as logs:
        result = ExportMessagesOperator(task_id="x", destination=str(out), direction="inbound").execute(context)
    assert result["count"] == 2 and result["directions"] == {"inbound": 2}
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    assert any("m-none" in line and "unknown direction" in line for line in warnings)


def test_a_cdr_report_without_rows_is_downloaded_with_a_warning(voice_connections, context, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=0, cdr_rows=0)
    out = tmp_path / "cdr.csv"
    op = DownloadCdrReportOperator(task_id="d", destination=str(out), asset=False, deferrable=False, poll_interval=0.1)
    with structlog.testing.capture_logs() as logs:
        result = op.execute(context)
    assert result["rows"] == 0 and out.read_bytes() == HEADER
    assert any("no rows" in entry["event"] for entry in logs if entry["log_level"] == "warning")


# -- once a click-to-call is placed, a failure while waiting is not retried (a retry rings both again) -------
def test_click_to_call_deferred_outcome_keeps_the_ctid(voice_connections, context):
    voice_connections.state.configure(outcome_overrides={"5511987654321": "answered", "5521998765432": "answered"})
    op = ClickToCallOperator(
        task_id="c2c",
        conn_id="velip_default",
        agent="+55 11 98765-4321",
        customer="+55 21 99876-5432",
        message="Connecting you to a customer",
        vendor_options={"ctid": "ticket42"},
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.05,
        timeout=10,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    event = asyncio.run(first_event(deferred.value.trigger))
    result = op.execute_complete(context, event)
    assert result["ctid"] == "ticket42" and result["vendor"] == "velip"


@pytest.mark.parametrize(
    "event",
    [
        {"status": "timeout", "message": "not done by the deadline", "call_id": "c2c_1"},
        {"status": "error", "message": "c2cstatus answered garbage", "call_id": "c2c_1", "error_kind": None},
        None,
    ],
)
def test_click_to_call_wait_failures_after_placing_are_not_retried(event):
    op = ClickToCallOperator(task_id="c", conn_id="kaleyra_default", agent="9988776655", customer="9876543210")
    with pytest.raises(AirflowFailException, match="placed"):
        op.execute_complete({}, event)


def waiting_click_to_call(*, timeout: float) -> ClickToCallOperator:
    """A Kaleyra click-to-call that waits for its outcome in the worker (blocking), polling fast."""
    return ClickToCallOperator(
        task_id="c",
        conn_id="kaleyra_default",
        agent="9988776655",
        customer="9876543210",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        timeout=timeout,
    )


def test_click_to_call_blocking_wait_timeout_is_not_retried(voice_connections, context):
    voice_connections.state.faults.set("kaleyra", "dial.c2cstatus", error_rate=1.0, error_status=503)
    op = waiting_click_to_call(timeout=0.3)
    with pytest.raises(AirflowFailException, match="not finished"):
        op.execute(context)
    assert len(voice_connections.state.ledger.entries("kaleyra", "click2call")) == 2  # placed once: 2 legs


def test_click_to_call_blocking_wait_on_an_unreadable_status_is_not_retried(voice_connections, context):
    voice_connections.state.faults.set("kaleyra", "dial.c2cstatus", malformed_rate=1.0)
    op = waiting_click_to_call(timeout=5)
    with pytest.raises(MalformedResponseError) as raised:
        op.execute(context)
    assert isinstance(raised.value, AirflowFailException)
