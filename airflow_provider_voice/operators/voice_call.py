"""Call one person and read them a text: Velip ``MakeTTSCall`` type 0 or Kaleyra OBD ``voice.call``."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_voice.delivery import CheckpointKey, CheckpointStore, Fate, FrameResult, checkpoint_store
from airflow_provider_voice.delivery.channel import default_classify
from airflow_provider_voice.errors import VoiceProviderError
from airflow_provider_voice.operators.base import (
    VoiceOperator,
    deferrable_arg,
    input_errors,
    rendered_options,
    try_number,
)
from airflow_provider_voice.redaction import redact
from airflow_provider_voice.triggers.base import deadline_after, event_error, seconds_arg

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.voice_call import VoiceCallCapability, VoiceCallRequest
    from airflow_provider_voice.models.voice_call import VoiceCallHandle

__all__ = ["SendVoiceCallOperator", "finish_voice_call"]

#: the keys of the outcome added to the XCom when the operator waits
OUTCOME_KEYS = ("outcome", "vendor_status", "detail", "duration")


def finish_voice_call(result: Mapping[str, Any], *, require_answered: bool) -> dict[str, Any]:
    """The final XCom of an ended call; :class:`AirflowFailException` if ``require_answered`` and it was not answered."""
    out = dict(result)
    if require_answered and out.get("outcome") != "answered":
        raise AirflowFailException(
            f"{out.get('vendor')} call {out.get('call_id') or out.get('ctid') or out.get('group_id')} ended "
            f"{out.get('outcome')} ({out.get('vendor_status') or 'no vendor status'}); require_answered=True "
            "(not retried: a retry would not call again, the call is checkpointed)"
        )
    return out


class SendVoiceCallOperator(VoiceOperator):
    """Call one person and read them ``message`` (text to speech), on the connection's vendor.

    The voice twin of ``SnsPublishOperator`` for one message. The connection type picks the vendor:

    * **Velip** (``MakeTTSCall`` type 0: play, then hang up). ``vendor_options``: ``voice``,
      ``content`` (an audio id played instead of ``message``), ``priority``, ``rurl``. The call
      carries a ``ctid`` derived from the task instance: a call whose answer was lost is found again
      by it (``GetCallStatus``), and a repeat is refused by Velip (code 220) on accounts with unique ctids.
    * **Kaleyra** (OBD ``voice.call`` with one number; English text). ``vendor_options``: ``play``
      (a sound file or ``ivr:<id>``, instead of ``message``), ``retries`` (0-2), ``campaign``,
      ``callback``, ``meta``. Numbers without a country code are Indian.

    Everything is checked before any request (one valid number, a text that is not blank, the
    vendor's options and limits): bad input fails the task at once, without retries.

    **Called once.** The call is recorded in the provider's checkpoint (``[voice] checkpoint_path``,
    keyed by the task instance, no phone number stored) before and after it is placed: a task
    retry (after a failed wait, or a worker that died) never calls the person again. It follows the
    call placed by the earlier try; a call whose fate is unknown (timeout after sending) is looked
    up (Velip, by ``ctid``) and otherwise reported, not placed again, unless ``resend_in_doubt=True``.

    :param conn_id: a Velip or Kaleyra connection (templated).
    :param number: the person's number (templated).
    :param message: what is read to them (templated).
    :param vendor_options: vendor options (above; templated: a dict or a JSON string).
    :param default_region: region of a number without a country code (Kaleyra default ``IN``).
    :param wait_for_outcome: wait until the call has ended and add its outcome to the XCom.
    :param require_answered: with ``wait_for_outcome``, fail (no retry) unless the person answered.
    :param poll_interval: seconds between status reads while waiting.
    :param timeout: seconds to wait for the outcome (default 1 hour).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param checkpoint_path: where the call is recorded (default ``[voice] checkpoint_path``; templated).
    :param resend_in_doubt: place the call again when an earlier try's call cannot be found (risk: twice).

    XCom: ``{"vendor", "call_id", "ctid", "group_id", "number"}`` (``number`` masked:
    ``+33*******78``); with ``wait_for_outcome`` the normalized ``outcome`` (``answered``,
    ``no_answer``, ``busy``, ``failed``, ``invalid_number``, ``blocked``), ``vendor_status``,
    ``detail`` and ``duration`` are added.
    """

    template_fields: Sequence[str] = ("conn_id", "number", "message", "vendor_options", "checkpoint_path")
    template_fields_renderers = {"message": "txt", "vendor_options": "json"}
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        conn_id: str,
        number: Any,
        message: str | None = None,
        vendor_options: Mapping[str, Any] | str | None = None,
        default_region: str | None = None,
        wait_for_outcome: bool = False,
        require_answered: bool = False,
        poll_interval: float = 15.0,
        timeout: float = 3600.0,
        deferrable: bool | None = None,
        checkpoint_path: Any = None,
        resend_in_doubt: bool = False,
        **kwargs: Any,
    ) -> None:
        with input_errors():
            poll_interval = seconds_arg("poll_interval", poll_interval)
            timeout = seconds_arg("timeout", timeout)
            deferrable = deferrable_arg(deferrable)
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.number = number
        self.message = message
        self.vendor_options = vendor_options  # may be a template string: read at execute time
        self.default_region = default_region
        self.wait_for_outcome = wait_for_outcome
        self.require_answered = require_answered
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.checkpoint_path = checkpoint_path
        self.resend_in_doubt = resend_in_doubt

    @cached_property
    def capability(self) -> VoiceCallCapability:
        """The connection's single-call capability."""
        return self.hook.voice_call()

    # -- execute ---------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_voice.triggers.voice_call import VoiceCallTrigger

        capability = self.capability
        with input_errors():
            request = capability.prepare(
                self.number,
                self.message,
                default_region=self.default_region,
                options=rendered_options(self.vendor_options),
            )
            store = checkpoint_store(self.checkpoint_path)
        handle = self.place_once(context, capability, request, store)
        placed = handle.to_xcom()
        if not self.wait_for_outcome:
            return placed
        trigger = VoiceCallTrigger(
            conn_id=str(self.conn_id),
            poll_interval=self.poll_interval,
            deadline=deadline_after(self.timeout),
            call_id=handle.call_id,
            ctid=handle.ctid,
            group_id=handle.group_id,
            number=handle.number,
        )
        if self.deferrable:
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout + max(60.0, self.poll_interval)),
            )
        outcome = trigger.wait(self.hook, timeout=self.timeout)  # the trigger's check, with the blocking client
        if not outcome.done:
            raise AirflowFailException(
                f"{handle.vendor} call {handle.ref} not ended after {self.timeout:.0f} s: {outcome.message} "
                "(the call was placed; not retried)"
            )
        self.log.info("%s", outcome.message)
        return finish_voice_call(self._merge(placed, outcome.result.payload), require_answered=self.require_answered)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the call's outcome, or an error naming the call."""
        event = event or {}
        placed = {k: event.get(k) for k in ("vendor", "call_id", "ctid", "group_id", "number")}
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            return finish_voice_call(self._merge(placed, event), require_answered=self.require_answered)
        ref = event.get("call_id") or placed.get("call_id") or event.get("ctid") or event.get("group_id")
        failure = (
            f"call {ref} {event.get('status', 'error')}: {event.get('message')} "
            "(the call was placed; a retry follows it and does not call again)"
        )
        error = event_error(event, failure)
        if error is not None:
            raise error
        if event.get("status") == "timeout":
            raise AirflowFailException(failure)
        raise VoiceProviderError(failure)

    @staticmethod
    def _merge(placed: Mapping[str, Any], outcome: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(placed)
        out.update({k: outcome.get(k) for k in OUTCOME_KEYS})
        if outcome.get("call_id"):
            out["call_id"] = outcome["call_id"]
        return out

    # -- placing the call once -------------------------------------------------------------------
    def place_once(
        self, context: Any, capability: VoiceCallCapability, request: VoiceCallRequest, store: CheckpointStore
    ) -> VoiceCallHandle:
        """Place the call unless an earlier try of this task instance did (see the class docstring).

        :param context: the task context (its task instance keys the checkpoint).
        :param capability: the vendor's single-call capability.
        :param request: the checked call.
        :param store: where the call is recorded.
        :returns: the handle of the call placed now or by an earlier try.
        """
        from airflow_provider_voice.models.voice_call import VoiceCallHandle

        ti = context.get("ti") if isinstance(context, Mapping) else None
        if ti is None:  # called outside Airflow (no task instance to key a checkpoint by)
            self.log.warning("no task instance in the context: the call is not checkpointed")
            return self._send(capability, request, None, None, f"{self.task_id}-{time.time_ns()}")
        key = CheckpointKey.from_context(context)
        member = key.member_hasher()(str(request.number))
        state = store.state(key)
        done = [f for f in state.with_status("done") if f.result is not None]
        if done:
            info = dict(done[-1].result.info) if done[-1].result else {}
            handle = VoiceCallHandle.model_validate({"vendor": capability.vendor, **info})
            self.log.info(
                "%s call %s was placed by an earlier try (checkpoint %s): not called again",
                handle.vendor, handle.ref, store.location(key),
            )  # fmt: skip
            return handle
        for frame in sorted(state.with_status("intent", "doubt"), key=lambda f: f.index, reverse=True):
            found = self._look_up(capability, request, frame.key)
            if found is not None:
                self._record(store, key, frame.index, "done", handle=found)
                self.log.info("%s call %s placed by an earlier try found at the vendor", found.vendor, found.ref)
                return found
            if not self.resend_in_doubt:
                reason = (
                    f"an earlier try may have placed the call (its answer was lost) and {capability.vendor} "
                    "cannot tell: not called again (set resend_in_doubt=True to risk a second call; "
                    f"checkpoint {store.location(key)})"
                )
                self._record(store, key, frame.index, "doubt", error=reason)
                raise AirflowFailException(f"{capability.vendor} call to {request.masked}: {reason}")
            self.log.warning("an earlier try's call is in doubt; placing it again (resend_in_doubt=True)")
        index = state.first_index(try_number(context))
        frame_key = key.frame_key(index)
        store.append_sync(key, [{"t": "intent", "i": index, "k": frame_key, "m": member, "ts": round(time.time(), 3)}])
        return self._send(capability, request, store, key, frame_key, index=index)

    def _send(
        self,
        capability: VoiceCallCapability,
        request: VoiceCallRequest,
        store: CheckpointStore | None,
        key: CheckpointKey | None,
        call_key: str,
        *,
        index: int = 0,
    ) -> VoiceCallHandle:
        try:
            handle = self._request(capability, request, call_key)
        except VoiceProviderError as exc:
            if capability.is_duplicate(exc):  # the vendor has seen this key: the call was placed
                found = self._look_up(capability, request, call_key)
                if found is not None:
                    if store is not None and key is not None:
                        self._record(store, key, index, "done", handle=found)
                    return found
            fate, _ = default_classify(exc)
            if store is not None and key is not None:
                status = {Fate.IN_DOUBT: "doubt", Fate.REJECTED: "rejected"}.get(fate, "failed")
                self._record(store, key, index, status, error=redact(str(exc)))
            if fate is Fate.IN_DOUBT:
                self.log.error(
                    "%s call to %s: the vendor may have placed it (%s); a retry looks it up and does not call again",
                    capability.vendor, request.masked, exc,
                )  # fmt: skip
            raise
        if store is not None and key is not None:
            self._record(store, key, index, "done", handle=handle)
        self.log.info("%s call placed to %s: %s", handle.vendor, request.masked, handle.ref)
        return handle

    def _request(self, capability: VoiceCallCapability, request: VoiceCallRequest, call_key: str) -> VoiceCallHandle:
        return self.hook.client.send(capability.call_request(request, key=call_key))

    def _look_up(
        self, capability: VoiceCallCapability, request: VoiceCallRequest, call_key: str
    ) -> VoiceCallHandle | None:
        """The call placed with ``call_key``, when the vendor can tell (a failed lookup tells nothing)."""
        lookup = capability.lookup_call(request, key=call_key)
        if lookup is None:
            return None
        try:
            return self.hook.client.send(lookup)
        except VoiceProviderError as exc:
            self.log.warning("could not look the call up at %s: %s", capability.vendor, exc)
            return None

    @staticmethod
    def _record(
        store: CheckpointStore,
        key: CheckpointKey,
        index: int,
        status: str,
        *,
        handle: VoiceCallHandle | None = None,
        error: str = "",
    ) -> None:
        record: dict[str, Any] = {"t": status, "i": index}
        if handle is not None:
            refs = [r for r in (handle.call_id, handle.ctid, handle.group_id) if r]
            record["r"] = FrameResult(accepted=1, refs=refs, info=handle.to_xcom()).to_record()
        if error:
            record["e"] = error
        store.append_sync(key, [record])
