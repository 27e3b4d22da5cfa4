"""One task base for every operator and sensor (issue 9, deliverable 4), checked the way users break it.

* every wait — a sensor's poke, an operator's blocking wait, the triggerer — survives a rate limit,
  a 5xx or a network error and polls again; the campaign sensor used to fail on the first one;
* ``deferrable`` defaults from ``[operators] default_deferrable`` as configured when the task is
  built, not when the module was imported; a non-bool is refused at construction;
* the hook is resolved one way (``conn_id`` + ``hook_params``): a request timeout and retry policy
  reach it, and a connection of the wrong vendor fails before any request, without retries;
* bad input of every delivering operator is a ``CampaignInputError`` (typed, not retried).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import pkgutil
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from helpers import first_event, numbers, soon, task_context

import airflow_provider_voice
from airflow_provider_voice.errors import AuthError, ServerError, ValidationError
from airflow_provider_voice.models.campaign import CampaignSpec
from airflow_provider_voice.operators.base import CampaignInputError, VoiceTask, deferrable_arg
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
from airflow_provider_voice.operators.click_to_call import ClickToCallOperator
from airflow_provider_voice.operators.kaleyra import KaleyraDialerUploadOperator
from airflow_provider_voice.operators.reports import KaleyraCallReportOperator, VelipCallStatusExportOperator
from airflow_provider_voice.operators.sms import SendSMSOperator
from airflow_provider_voice.sensors.campaign import CampaignCompletionSensor
from airflow_provider_voice.sensors.cdr import CdrReportSensor
from airflow_provider_voice.sensors.click_to_call import ClickToCallSensor
from airflow_provider_voice.sensors.health import HealthStatusSensor
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult

context = functools.partial(task_context, dag_id="task_base")
PACKAGE = Path(airflow_provider_voice.__file__).parent
#: the campaign status route of each vendor with a status endpoint, in the simulator's fault rules
STATUS_ROUTES = {"velip": "GetCampaignsList", "kaleyra": "voice.groupstatus"}
#: one try per request: a fault reaches the wait instead of being retried by the transport
ONE_TRY = RetryPolicy(max_attempts=1)


def sent_campaign(vendor: str, people: list[str]) -> dict[str, Any]:
    """A campaign sent on ``<vendor>_default`` (the simulator), as its handle (the operator's XCom)."""
    from airflow_provider_voice.capabilities.recipients import validate_recipients
    from airflow_provider_voice.delivery import CheckpointKey, MemoryCheckpointStore
    from airflow_provider_voice.hooks.base import get_voice_hook

    backend = get_voice_hook(f"{vendor}_default").campaigns()
    spec = CampaignSpec(name="task-base", message="Hello")
    handle = backend.send_campaign(
        spec,
        validate_recipients(people, backend, spec),
        key=CheckpointKey("task_base", vendor, str(time.time())),
        store=MemoryCheckpointStore(),
    )
    return handle.model_dump(mode="json")


# -- every wait survives a transient error ------------------------------------------------------------
@pytest.mark.parametrize("vendor", sorted(STATUS_ROUTES))
def test_campaign_sensor_poke_survives_a_rate_limit(voice_connections, simulator_clock, vendor):
    handle = sent_campaign(vendor, numbers(20))
    # a Retry-After longer than the client sleeps through is raised at once: the sensor must poke again
    rule = voice_connections.state.faults.set(
        vendor, STATUS_ROUTES[vendor], rate_limit_rate=1.0, retry_after=600, times=1
    )
    sensor = CampaignCompletionSensor(task_id="wait", handle=handle, poke_interval=0.05, timeout=5, deferrable=False)
    assert sensor.poke(context()).is_done is False and rule.injected == 1
    simulator_clock.advance(3600)
    done = sensor.poke(context())
    assert done.is_done and done.xcom_value["finished"] and done.xcom_value["total"] == 20


@pytest.mark.parametrize("vendor", sorted(STATUS_ROUTES))
def test_campaign_sensor_in_poke_mode_waits_through_transient_errors(voice_connections, simulator_clock, vendor):
    handle = sent_campaign(vendor, numbers(10))
    simulator_clock.advance(3600)  # finished: only the faults stand between the sensor and success
    rule = voice_connections.state.faults.set(
        vendor, STATUS_ROUTES[vendor], rate_limit_rate=1.0, retry_after=600, times=2
    )
    sensor = CampaignCompletionSensor(
        task_id="wait", handle=handle, poke_interval=0.05, timeout=10, mode="poke", deferrable=False
    )
    status = sensor.execute(context())
    assert status["finished"] and status["total"] == 10 and rule.injected == 2


def blocking_campaign(tmp_path: Any, name: str, people: list[str]) -> SendVoiceCampaignOperator:
    """A Kaleyra campaign that waits for completion in the worker, one try per request."""
    return SendVoiceCampaignOperator(
        task_id="send",
        conn_id="kaleyra_default",
        recipients=people,
        campaign_name=name,
        message="Hello",
        checkpoint_path=str(tmp_path),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
        completion_timeout=30,
        retry_policy=ONE_TRY,
    )


def test_campaign_operator_blocking_wait_polls_again_after_a_5xx(voice_connections, tmp_path):
    voice_connections.state.configure(call_seconds=0.2)
    rule = voice_connections.state.faults.set(
        "kaleyra", STATUS_ROUTES["kaleyra"], error_rate=1.0, error_status=503, times=2
    )
    people = numbers(4)
    result = blocking_campaign(tmp_path, "wait-through-5xx", people).execute(context())
    assert result["status"]["finished"] and result["status"]["total"] == 4
    assert rule.injected == 2 and rule.requests >= 3  # two failed polls, then the ones that read the status
    assert sorted(voice_connections.state.ledger.counts("kaleyra", "call").values()) == [1, 1, 1, 1]


def test_campaign_operator_blocking_wait_stops_on_a_refused_key(voice_connections, tmp_path):
    """Only transient errors are polled again: a refused key during the wait ends it at once, not retried."""
    voice_connections.state.configure(call_seconds=30)
    rule = voice_connections.state.faults.set("kaleyra", STATUS_ROUTES["kaleyra"], error_rate=1.0, error_status=401)
    with pytest.raises(AuthError) as raised:
        blocking_campaign(tmp_path, "refused-wait", numbers(2)).execute(context())
    assert isinstance(raised.value, AirflowFailException) and rule.requests == 1


def test_cdr_download_blocking_wait_polls_again_after_a_rate_limit(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=0.2, cdr_rows=3)
    rule = voice_connections.state.faults.set(
        "televoips", "/reports/cdrs", rate_limit_rate=1.0, retry_after=600, times=1
    )
    dest = tmp_path / "cdr.csv"
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(dest), asset=False, deferrable=False, poll_interval=0.05, wait_timeout=10
    )
    result = op.execute(context())
    assert result["rows"] == 3 and dest.exists() and rule.injected == 1


def test_cdr_download_deferrable_first_check_rate_limited_defers_instead_of_failing(voice_connections, tmp_path):
    voice_connections.state.configure(cdr_compile_seconds=3600)
    voice_connections.state.faults.set("televoips", "/reports/cdrs", rate_limit_rate=1.0, retry_after=600, times=1)
    op = DownloadCdrReportOperator(
        task_id="dl", destination=str(tmp_path / "c.csv"), asset=False, deferrable=True, poll_interval=5
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert deferred.value.method_name == "execute_complete" and deferred.value.trigger.deadline


class _Scripted(PollingTrigger):
    """A trigger whose check answers from a script: an exception is raised, a bool is the verdict."""

    def __init__(self, script: list[Any], **kwargs: Any) -> None:
        super().__init__(conn_id="none", **kwargs)
        self.script = list(script)
        self.polls = 0

    def poll_once(self, hook: Any) -> PollResult:
        self.polls += 1
        step = self.script.pop(0) if self.script else False
        if isinstance(step, BaseException):
            raise step
        return PollResult(bool(step), f"poll {self.polls}", {"poll": self.polls})


def test_blocking_wait_makes_one_last_poll_at_the_deadline_and_names_it():
    trigger = _Scripted([False], poll_interval=30.0)
    outcome = trigger.wait(None, timeout=0.2)  # the 30 s interval is cut at the deadline
    assert not outcome.done and trigger.polls == 2 and outcome.polls == 2
    assert "not done by the deadline" in outcome.message and outcome.result.payload == {"poll": 2}


def test_a_final_poll_that_failed_is_named_in_the_timeout_message():
    trigger = _Scripted([False, ServerError("HTTP 503", status_code=503)], poll_interval=30.0)
    outcome = trigger.wait(None, timeout=0.2)
    assert not outcome.done and outcome.polls == 2
    assert outcome.result.payload == {"poll": 1}  # the only verdict there was, and the message says it is old
    assert "poll 1 (the last poll failed: " in outcome.message and "HTTP 503" in outcome.message


def test_blocking_wait_polls_again_after_transient_errors_only():
    trigger = _Scripted(
        [ServerError("HTTP 503", status_code=503), ServerError("HTTP 502", status_code=502), True], poll_interval=0.01
    )
    outcome = trigger.wait(None, timeout=10)
    assert outcome.done and outcome.polls == 3
    refused = _Scripted([AuthError("HTTP 401")], poll_interval=0.01)
    with pytest.raises(AuthError):
        refused.wait(None, timeout=10)
    assert refused.polls == 1


def test_blocking_wait_interrupt_stops_it_between_polls():
    class Killed(Exception):
        pass

    trigger = _Scripted([False] * 100, poll_interval=0.01)

    def interrupt() -> None:
        if trigger.polls >= 2:
            raise Killed

    with pytest.raises(Killed):
        trigger.wait(None, timeout=10, interrupt=interrupt)
    assert trigger.polls == 2


def test_the_trigger_loop_and_the_blocking_wait_agree():
    """The same script ends the same way in the triggerer (async) and in the worker (blocking)."""
    script = [ServerError("HTTP 503", status_code=503), False, True]

    class Async(_Scripted):
        async def connect(self) -> tuple[Any, Any]:
            class Client:
                async def aclose(self) -> None:
                    return None

            return None, Client()

        async def apoll(self, hook: Any, client: Any) -> PollResult:
            return self.poll_once(hook)

    blocking = _Scripted(list(script), poll_interval=0.01).wait(None, timeout=10)
    event = asyncio.run(first_event(Async(list(script), poll_interval=0.01, deadline=soon(10))))
    assert blocking.done and event["status"] == "success" and event["poll"] == blocking.polls == 3


# -- deferrable: read when the task is built --------------------------------------------------------
DEFERRABLE_TASKS = {
    "SendVoiceCampaignOperator": lambda **kw: SendVoiceCampaignOperator(
        task_id="t", conn_id="velip_default", recipients=[], campaign_name="x", message="m", **kw
    ),
    "ClickToCallOperator": lambda **kw: ClickToCallOperator(
        task_id="t", conn_id="kaleyra_default", agent="9988776655", customer="9876543210", **kw
    ),
    "DownloadCdrReportOperator": lambda **kw: DownloadCdrReportOperator(
        task_id="t", destination="/tmp/x.csv", asset=False, **kw
    ),
    "CampaignCompletionSensor": lambda **kw: CampaignCompletionSensor(
        task_id="t", handle={"campaign_ids": ["1"]}, **kw
    ),
    "CdrReportSensor": lambda **kw: CdrReportSensor(task_id="t", **kw),
    "HealthStatusSensor": lambda **kw: HealthStatusSensor(task_id="t", **kw),
    "ClickToCallSensor": lambda **kw: ClickToCallSensor(task_id="t", conn_id="kaleyra_default", call_id="c", **kw),
}


@pytest.mark.parametrize("name", sorted(DEFERRABLE_TASKS))
def test_deferrable_default_is_read_when_the_task_is_built(name, monkeypatch):
    build = DEFERRABLE_TASKS[name]
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")  # after every module was imported
    assert build().deferrable is True
    assert build(deferrable=False).deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert build().deferrable is False
    assert build(deferrable=True).deferrable is True


@pytest.mark.parametrize("name", sorted(DEFERRABLE_TASKS))
@pytest.mark.parametrize("bad", ["false", "True", 0, 1, "yes"])
def test_deferrable_must_be_a_bool(name, bad):
    with pytest.raises(ValidationError) as raised:
        DEFERRABLE_TASKS[name](deferrable=bad)
    assert raised.value.field == "deferrable"


def test_deferrable_arg_none_reads_the_config_each_time(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert deferrable_arg(None) is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert deferrable_arg(None) is False


def test_the_default_deferrable_option_is_read_in_one_place():
    readers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "testing" not in path.parts and '"default_deferrable"' in path.read_text()
    )
    assert readers == ["operators/base.py"]


# -- one way to get a hook ---------------------------------------------------------------------------
def _task_classes() -> list[type]:
    found: dict[str, type] = {}
    for package in ("operators", "sensors"):
        module = importlib.import_module(f"airflow_provider_voice.{package}")
        for info in pkgutil.iter_modules(module.__path__):
            loaded = importlib.import_module(f"{module.__name__}.{info.name}")
            for _, cls in inspect.getmembers(loaded, inspect.isclass):
                if issubclass(cls, BaseOperator) and cls.__module__.startswith("airflow_provider_voice."):
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


def test_every_task_is_on_the_task_base_and_resolves_its_hook_there():
    classes = _task_classes()
    assert len(classes) >= 14
    off_base = [cls.__qualname__ for cls in classes if not issubclass(cls, VoiceTask)]
    own_hook = [cls.__qualname__ for cls in classes if "hook" in cls.__dict__]
    assert off_base == [] and own_hook == []


def test_hook_params_reach_the_hook(voice_connections):
    policy = RetryPolicy(max_attempts=2, backoff_initial=0.01)
    op = SendVoiceCampaignOperator(
        task_id="t", conn_id="velip_default", recipients=[], campaign_name="x", message="m",
        request_timeout=2.5, retry_policy=policy,
    )  # fmt: skip
    assert (op.hook.conn_type, op.hook.timeout, op.hook.retry) == ("velip", 2.5, policy)
    sensor = CampaignCompletionSensor(
        task_id="w",
        handle={"vendor": "kaleyra", "campaign_ids": ["1"], "conn_id": "kaleyra_default"},
        request_timeout=1.5,
    )
    assert (sensor.hook.conn_type, sensor.hook.timeout) == ("kaleyra", 1.5)
    assert sensor.build_trigger(soon(60)).hook_params == {"timeout": 1.5}  # the deferred wait uses the same


WRONG_VENDOR = [
    pytest.param(
        lambda: KaleyraCallReportOperator(
            task_id="t",
            conn_id="velip_default",
            destination="/tmp/k.csv",
            date_from="2026-01-01",
            date_to="2026-01-01",
            asset=False,
        ),
        id="KaleyraCallReportOperator-on-velip",
    ),
    pytest.param(
        lambda: VelipCallStatusExportOperator(
            task_id="t",
            conn_id="kaleyra_default",
            destination="/tmp/v.csv",
            date_from="2026-01-01",
            date_to="2026-01-01",
            asset=False,
        ),
        id="VelipCallStatusExportOperator-on-kaleyra",
    ),
    pytest.param(
        lambda: DownloadCdrReportOperator(
            task_id="t", conn_id="kaleyra_default", destination="/tmp/c.csv", asset=False
        ),
        id="DownloadCdrReportOperator-on-kaleyra",
    ),
    pytest.param(
        lambda: KaleyraDialerUploadOperator(
            task_id="t", conn_id="televoips_default", campaign="c1", recipients=["9988776655"]
        ),
        id="KaleyraDialerUploadOperator-on-televoips",
    ),
]


@pytest.mark.parametrize("make", WRONG_VENDOR)
def test_a_connection_of_the_wrong_vendor_fails_before_any_request_without_retry(voice_connections, make):
    with pytest.raises(ValidationError) as raised:
        make().execute(context())
    assert raised.value.field == "conn_id" and isinstance(raised.value, AirflowFailException)
    assert len(voice_connections.state.ledger) == 0


def test_a_blank_conn_id_is_bad_input():
    sensor = CampaignCompletionSensor(task_id="w", handle={"vendor": "velip", "campaign_ids": ["1"]}, conn_id="")
    with pytest.raises(ValidationError) as raised:
        sensor.execute(context())
    assert raised.value.field == "conn_id" and isinstance(raised.value, AirflowFailException)


# -- bad input: typed, checked before any request, never retried ------------------------------------
@pytest.mark.parametrize("share", ["abc", 0, 1.5, -0.1, True, float("nan"), [0.5]])
def test_campaign_sensor_refuses_a_bad_target_share_before_any_request(voice_connections, share):
    counter = voice_connections.state.faults.set("velip", "*")  # counts every Velip request
    sensor = CampaignCompletionSensor(
        task_id="w", handle={"vendor": "velip", "campaign_ids": ["1"], "conn_id": "velip_default"},
        target_answered_share=share,
    )  # fmt: skip
    with pytest.raises(ValidationError) as raised:
        sensor.execute(context())
    assert raised.value.field == "target_answered_share" and isinstance(raised.value, AirflowFailException)
    assert counter.requests == 0


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_a_wait_interval_that_would_spin_is_refused_when_the_task_is_built(bad):
    with pytest.raises(ValidationError) as raised:
        CdrReportSensor(task_id="s", poke_interval=bad)
    assert raised.value.field == "poke_interval"
    with pytest.raises(ValidationError) as raised:
        DEFERRABLE_TASKS["SendVoiceCampaignOperator"](poll_interval=bad)
    assert raised.value.field == "poll_interval"


DELIVERING_BAD_INPUT = [
    pytest.param(
        lambda tmp: SendVoiceCampaignOperator(
            task_id="t",
            conn_id="velip_default",
            recipients=["not a number"],
            campaign_name="x",
            message="m",
            checkpoint_path=str(tmp),
        ),
        id="SendVoiceCampaignOperator",
    ),
    pytest.param(
        lambda tmp: SendSMSOperator(
            task_id="t", conn_id="velip_default", recipients=["not a number"], text="hi", checkpoint_path=str(tmp)
        ),
        id="SendSMSOperator",
    ),
    pytest.param(
        lambda tmp: KaleyraDialerUploadOperator(
            task_id="t",
            conn_id="kaleyra_default",
            campaign="bad name!",
            recipients=["9988776655"],
            checkpoint_path=str(tmp),
        ),
        id="KaleyraDialerUploadOperator",
    ),
]


@pytest.mark.parametrize("make", DELIVERING_BAD_INPUT)
def test_bad_input_of_every_delivering_operator_is_a_campaign_input_error(voice_connections, tmp_path, make):
    with pytest.raises(CampaignInputError) as raised:
        make(tmp_path).execute(context())
    assert isinstance(raised.value, AirflowFailException) and raised.value.field
    assert len(voice_connections.state.ledger) == 0


def test_a_refused_key_found_by_the_operators_deferred_wait_is_not_retried():
    op = DEFERRABLE_TASKS["SendVoiceCampaignOperator"](wait_for_completion=True, deferrable=True)
    event = {"status": "error", "message": "HTTP 401: Session ID is not valid", "error_kind": "auth"}
    with pytest.raises(AuthError) as raised:
        op.execute_complete(context(), event)
    assert isinstance(raised.value, AirflowFailException)


def test_the_http_retry_policy_is_not_taken_for_airflows_task_retry_policy(voice_connections):
    """``retry_policy`` (HTTP) used to land on ``BaseOperator.retry_policy``, which Airflow's task runner
    evaluates when the task fails (``policy.evaluate(...)``: an AttributeError on every failure)."""
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy

    policy = RetryPolicy(max_attempts=2)
    op = DEFERRABLE_TASKS["SendVoiceCampaignOperator"](retry_policy=policy)
    assert op.retry_policy is None and op.has_retry_policy is False
    assert op.request_retry is policy and op.hook.retry is policy
    airflow_policy = ExceptionRetryPolicy(rules=[])
    passed_through = DEFERRABLE_TASKS["SendVoiceCampaignOperator"](retry_policy=airflow_policy)
    assert passed_through.retry_policy is airflow_policy and passed_through.request_retry is None
