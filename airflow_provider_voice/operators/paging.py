"""Escalation as a task: call people in order until one acknowledges by pressing a key (Velip ``MakeTTSCall`` type 2)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_voice.capabilities.paging import (
    Escalation,
    PageAttempt,
    PagingCapability,
    PagingLog,
    Person,
    check_page_message,
    parse_people,
    sms_fallback_text,
)
from airflow_provider_voice.capabilities.sms_text import SmsText
from airflow_provider_voice.delivery import CheckpointKey, checkpoint_store
from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.hooks.base import get_voice_hook
from airflow_provider_voice.models.paging import PageStatus
from airflow_provider_voice.operators.base import (
    VoiceOperator,
    deferrable_arg,
    input_errors,
    rendered_options,
    try_number,
)
from airflow_provider_voice.triggers.base import event_error, seconds_arg
from airflow_provider_voice.triggers.paging import PagingTrigger, describe_page, paging_capability

__all__ = ["PageOnCallOperator"]

#: keys of a trigger event that make a :class:`PageStatus`
_STATUS_KEYS = ("vendor", "call_id", "outcome", "vendor_status", "pressed", "duration")


def _rounds_arg(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise ValidationError("rounds", value, "an integer from 1 to 10 (times the list is gone through)")
    return value


@dataclass(frozen=True)
class _Prepared:
    """What one execute / resume works with: the escalation, and the SMS fallback's parts (if any)."""

    escalation: Escalation
    sms: Any
    sms_text: SmsText | None
    sender: str | None


class PageOnCallOperator(VoiceOperator):
    """Call a list of people in order until one **acknowledges by pressing a key**; nobody after them is called.

    Each person gets one call playing ``message`` and asking for a key press (Velip ``MakeTTSCall``
    type 2 without ``dest2``: a DTMF confirmation, no transfer). The call is watched (Velip
    ``GetCallStatus`` by ``cd_id``) until it is **acknowledged** (answered and confirmed), ends
    without it (answered without the key, no answer, busy, bad number, failed) or
    ``attempt_timeout`` passes; then the next person is called. ``rounds`` goes through the list
    again. When nobody acknowledged and ``sms_conn_id`` is set, **everyone is texted once**
    (``sms_text``, default ``message``) through that connection's SMS capability (TeleVoIPs or Velip).

    Only Velip reports a key press: on a Kaleyra (or other) connection the task fails before any
    request with :class:`~airflow_provider_voice.errors.CapabilityNotSupportedError` naming Velip
    (Kaleyra plays IVRs but documents no way to read the pressed key back).

    **Exactly once.** Every call is recorded in the checkpoint (``checkpoint_path``) before it is
    placed and after its answer: a retry, or the task resuming after a deferral, continues the
    escalation where it stopped and never calls again a person already called in this task
    instance (a call in progress is waited for again; a call whose request's fate is unknown is
    found by its Velip ``ctid``, see :mod:`airflow_provider_voice.capabilities.paging`). The SMS
    fallback is checkpointed by the delivery engine (a retry texts nobody twice).

    Bad input (no one to call, an invalid or repeated number, a blank message, unknown
    ``vendor_options``, an SMS text or sender that cannot work) fails the task before any
    request, without retries.

    :param conn_id: a Velip connection (templated).
    :param people: in calling order: numbers or ``{"number", "name"}`` mappings (templated; a
        string rendering to a JSON list works).
    :param message: what each person hears before being asked for the key, e.g. "Database down.
        Press 1 to take the incident." (templated).
    :param attempt_timeout: seconds (or a timedelta) one call is waited for before calling the next person.
    :param rounds: times the list is gone through (1-10).
    :param sms_conn_id: a TeleVoIPs or Velip connection texting everyone when nobody acknowledged
        (None: no SMS fallback) (templated).
    :param sms_text: the fallback SMS (default ``message``; ``${name}``/``${number}`` are filled
        per person) (templated).
    :param sms_sender: the fallback SMS's sender (TeleVoIPs: a number the account owns) (templated).
    :param default_region: region of numbers without a country code (templated).
    :param vendor_options: Velip ``voice``, ``priority``, ``rurl`` (templated).
    :param poll_interval: seconds between two reads of a call's state (Velip allows about 200
        ``GetCallStatus`` per hour).
    :param checkpoint_path: where the escalation is recorded (local dir, ``file://``, ``s3://``...;
        default ``[voice] checkpoint_path``) (templated).
    :param require_acknowledgement: fail the task (no retry) when nobody acknowledged (after the SMS fallback).
    :param deferrable: wait for each call in the triggerer (:class:`~airflow_provider_voice.triggers.paging.PagingTrigger`;
        default ``[operators] default_deferrable``).

    XCom: ``acknowledged`` (bool), ``acknowledged_by`` (``{"index", "name", "number"}``, the number
    masked; None), ``acknowledged_at`` (ISO 8601 UTC: when the acknowledgement was seen),
    ``acknowledged_call_id``, ``attempts`` (per call: ``attempt``, ``round``, ``index``, ``name``,
    ``number`` masked, ``outcome``, ``call_id``, ``vendor_status``, ``pressed``, ``started_at``,
    ``ended_at``, ``error``, ``vendor_code``), ``sms_fallback`` (``sent``, ``accepted``,
    ``message_ids``...; or ``{"sent": False, "reason"}``), ``vendor``, ``people``, ``rounds``,
    ``checkpoint``. No phone number in clear.
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "people",
        "message",
        "sms_conn_id",
        "sms_text",
        "sms_sender",
        "default_region",
        "vendor_options",
        "checkpoint_path",
    )
    template_fields_renderers = {"people": "json", "vendor_options": "json", "message": "txt"}
    ui_color = "#ffe0cc"

    def __init__(
        self,
        *,
        conn_id: str,
        people: Any,
        message: str,
        attempt_timeout: float | timedelta = 120.0,
        rounds: int = 1,
        sms_conn_id: str | None = None,
        sms_text: str | None = None,
        sms_sender: str | None = None,
        default_region: str | None = None,
        vendor_options: Any = None,
        poll_interval: float = 15.0,
        checkpoint_path: Any = None,
        require_acknowledgement: bool = False,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        with input_errors():
            timeout = attempt_timeout.total_seconds() if isinstance(attempt_timeout, timedelta) else attempt_timeout
            timeout = seconds_arg("attempt_timeout", timeout)
            interval = seconds_arg("poll_interval", poll_interval)
            rounds = _rounds_arg(rounds)
            deferrable = deferrable_arg(deferrable)
        super().__init__(**kwargs)
        self.attempt_timeout = timeout
        self.poll_interval = interval
        self.rounds = rounds
        self.deferrable = deferrable
        self.conn_id = conn_id
        self.people = people
        self.message = message
        self.sms_conn_id = sms_conn_id
        self.sms_text = sms_text
        self.sms_sender = sms_sender
        self.default_region = default_region
        self.vendor_options = vendor_options  # may be a template string: read at execute time
        self.checkpoint_path = checkpoint_path
        self.require_acknowledgement = require_acknowledgement

    @cached_property
    def capability(self) -> PagingCapability:
        """The connection's paging capability (Velip)."""
        return paging_capability(self.hook)

    # -- preparing (no request) -----------------------------------------------------------------------
    def prepare(self, context: Any) -> _Prepared:
        """Everything checked before the first request, and the escalation read from its checkpoint."""
        paging = self.capability
        with input_errors():
            people = parse_people(self.people, self.default_region or None)
            message = check_page_message(self.message)
            options = paging.check(message, rendered_options(self.vendor_options))
            sms, text, sender = self._prepare_sms(people, message)
        store = checkpoint_store(self.checkpoint_path)
        log = PagingLog(store, CheckpointKey.from_context(context), attempt=try_number(context))
        escalation = Escalation(
            paging,
            people,
            message=message,
            options=options,
            rounds=self.rounds,
            attempt_timeout=self.attempt_timeout,
            log=log,
            fallback=sms is not None,
        )
        return _Prepared(escalation, sms, text, sender)

    def _prepare_sms(self, people: list[Person], message: str) -> tuple[Any, SmsText | None, str | None]:
        if self.sms_conn_id in (None, ""):
            for name in ("sms_text", "sms_sender"):
                if getattr(self, name) not in (None, ""):
                    raise ValidationError(name, getattr(self, name), "an SMS fallback needs sms_conn_id")
            return None, None, None
        hook = get_voice_hook(str(self.sms_conn_id), purpose=f"{type(self).__name__} SMS fallback (sms_conn_id)")
        sms = hook.sms()
        text = sms_fallback_text(self.sms_text if self.sms_text not in (None, "") else message, people)
        sender = sms.check_sender(self.sms_sender or None)
        return sms, text, sender

    # -- running --------------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        prepared = self.prepare(context)
        escalation = prepared.escalation
        names = ", ".join(p.label for p in escalation.people)
        self.log.info(
            "paging on %s: %d people (%s), %d round(s), %.0f s per call; checkpoint %s",
            escalation.paging.vendor, len(escalation.people), names, self.rounds, self.attempt_timeout,
            escalation.log.location(),
        )  # fmt: skip
        return self._advance(prepared)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after a call's wait in the triggerer: settle that call, then go on with the escalation."""
        prepared = self.prepare(context)
        self._settle_event(prepared.escalation, event or {})
        return self._advance(prepared)

    def _advance(self, prepared: _Prepared) -> dict[str, Any]:
        escalation = prepared.escalation
        while True:
            step = escalation.next_step()
            if step.kind == "call":
                escalation.call(step.number)
            elif step.kind == "reconcile" and step.attempt is not None:
                escalation.reconcile(step.attempt)
            elif step.kind == "wait" and step.attempt is not None:
                self._wait(escalation, step.attempt)
            elif step.kind == "fallback":
                self.log.warning("nobody acknowledged: texting all %d people", len(escalation.people))
                escalation.send_fallback(
                    prepared.sms, prepared.sms_text or SmsText(escalation.message),
                    sender=prepared.sender, conn_id=str(self.sms_conn_id),
                )  # fmt: skip
            else:
                return self._finish(escalation)

    def _wait(self, escalation: Escalation, attempt: PageAttempt) -> None:
        """Wait for a placed call: defer to the trigger, or poll here until it ends or its deadline."""
        deadline = attempt.deadline if attempt.deadline is not None else time.time() + self.attempt_timeout
        remaining = max(0.0, deadline - time.time())
        trigger = PagingTrigger(
            conn_id=str(self.conn_id),
            poll_interval=self.poll_interval,
            deadline=_iso_deadline(deadline),
            call_id=attempt.call_id,
            key=attempt.key,
            attempt=attempt.number,
        )
        if self.deferrable:
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                timeout=timedelta(seconds=remaining + max(60.0, 2 * self.poll_interval)),
            )
        outcome = trigger.wait(self.hook, timeout=remaining)  # a failure here: a retry waits for this call again
        status = outcome.result.value if isinstance(outcome.result.value, PageStatus) else None
        self.log.info("%s", outcome.message)
        escalation.settle(attempt, status, timed_out=not outcome.done, seen_at=outcome.result.payload.get("seen_at"))

    def _settle_event(self, escalation: Escalation, event: dict[str, Any]) -> None:
        current = escalation.state().current
        number = event.get("attempt")
        if current is None or not current.placed or current.number != number:
            self.log.info("event of paging attempt %s: already settled (%s)", number, event.get("status"))
            return
        kind = event.get("status")
        if kind in ("success", "timeout"):
            try:
                status = PageStatus.model_validate({k: event.get(k) for k in _STATUS_KEYS})
            except ValueError:
                status = None
            if status is not None:
                self.log.info("%s", describe_page(status, current.number))
            escalation.settle(
                current,
                status,
                timed_out=kind == "timeout" or status is None or not status.done,
                seen_at=event.get("seen_at"),
            )
            return
        failure = (
            f"paging attempt {current.number} (call {current.call_id}): {event.get('message')} (the call was placed; "
            "a retry waits for it again, it does not call again)"
        )
        raise event_error(event, failure) or VoiceProviderError(failure)

    def _finish(self, escalation: Escalation) -> dict[str, Any]:
        result = escalation.result()
        winner = result["acknowledged_by"]
        if winner is not None:
            self.log.info(
                "acknowledged by people[%d] (%s) at %s after %d call(s)",
                winner["index"], winner["name"] or winner["number"], result["acknowledged_at"], len(result["attempts"]),
            )  # fmt: skip
        else:
            fallback = result["sms_fallback"]
            self.log.warning(
                "nobody acknowledged after %d call(s); SMS fallback: %s",
                len(result["attempts"]),
                f"{fallback.get('accepted')} of {fallback.get('recipients')} texted" if fallback.get("sent") else
                fallback.get("reason", "not sent"),
            )  # fmt: skip
            if self.require_acknowledgement:
                outcomes = ", ".join(f"#{a['attempt']} {a['outcome']}" for a in result["attempts"])
                raise AirflowFailException(f"nobody acknowledged the page ({outcomes}); require_acknowledgement=True")
        return result


def _iso_deadline(ts: float) -> str:
    """An attempt's deadline as the trigger takes it (ISO 8601 UTC, never an epoch)."""
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat(timespec="milliseconds")
