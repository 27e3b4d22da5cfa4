"""Wait for a voice campaign to finish: poke, reschedule or deferrable."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowSensorTimeout
from pydantic import ValidationError as PydanticValidationError

from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignStatus
from airflow_provider_voice.operators.base import FailFastMixin
from airflow_provider_voice.triggers.base import event_error
from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger, campaign_done, deadline_after

__all__ = ["CampaignCompletionSensor", "parse_handle"]


def parse_handle(value: Any) -> CampaignHandle:
    """A campaign handle from a dict, a model, or a rendered template string (JSON or Python repr)."""
    if isinstance(value, CampaignHandle):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ValidationError("handle", value[:80], "the XCom of SendVoiceCampaignOperator (a dict)") from None
    if not isinstance(value, Mapping):
        raise ValidationError("handle", value, "the XCom of SendVoiceCampaignOperator (a dict)")
    try:
        return CampaignHandle.model_validate(value)
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'handle'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(
            "handle", dict(value), f"the XCom of SendVoiceCampaignOperator (a dict): {problems}"
        ) from None


class CampaignCompletionSensor(FailFastMixin, BaseSensorOperator):
    """Waits until every call of a voice campaign has ended (or a target answered share is reached).

    Works for Velip (``GetCampaignsList`` counters) and Kaleyra (``voice.groupstatus``). **Octopush**
    has no status endpoint: the sensor waits until ``estimated_duration`` has passed since the
    send (a lower bound of the real end) and returns an estimated status without per-outcome
    counts (``estimated: true``); ``target_answered_share`` is refused there.

    :param handle: the campaign handle, usually ``SendVoiceCampaignOperator(...).output`` or
        ``"{{ ti.xcom_pull(task_ids='send') }}"`` (templated).
    :param conn_id: the vendor connection (default: the handle's ``conn_id``) (templated).
    :param target_answered_share: succeed once this share (0-1) of calls is answered.
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``).
    :param poke_interval: seconds between status polls (all modes).
    :param timeout: seconds before giving up; one last status poll is made at the deadline.
    :param request_timeout: HTTP timeout of each status request (seconds).
    :returns: pushes the normalized status to XCom: ``state``, ``total``, ``done``, ``counts``
        (answered, no_answer, busy, failed, bad_number, blocked, pending), ``vendor_counts``,
        ``finished``, ``estimated``, ``message``.
    """

    template_fields = ("handle", "conn_id", "target_answered_share")
    ui_color = "#c8e6c9"

    def __init__(
        self,
        *,
        handle: Any,
        conn_id: str | None = None,
        target_answered_share: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        request_timeout: float | None = None,
        poke_interval: float | timedelta = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.handle = handle
        self.conn_id = conn_id
        self.target_answered_share = target_answered_share
        self.deferrable = deferrable
        self.request_timeout = request_timeout

    # -- helpers -------------------------------------------------------------------------------
    @property
    def campaign(self) -> CampaignHandle:
        """The rendered handle; :class:`ValidationError` when it names no campaign (nothing to wait for)."""
        handle = parse_handle(self.handle)
        if not [cid for cid in handle.campaign_ids if str(cid).strip()]:
            raise ValidationError(
                "handle", handle.model_dump(mode="json"), "names no campaign id: no campaign was sent to wait for"
            )
        return handle

    def _conn_id(self) -> str:
        conn_id = self.conn_id or self.campaign.conn_id
        if not conn_id:
            raise ValidationError("conn_id", None, "give conn_id (the handle carries none)")
        return conn_id

    def _hook_params(self) -> dict[str, Any]:
        return {"timeout": self.request_timeout} if self.request_timeout else {}

    @cached_property
    def hook(self) -> Any:
        """The vendor hook (built at execute time from the connection type)."""
        return BaseHook.get_hook(self._conn_id(), hook_params=self._hook_params())

    def _check_target(self, backend: Any) -> None:
        share = self.target_answered_share
        if share is None:
            return
        if not 0 < float(share) <= 1:
            raise ValidationError("target_answered_share", share, "a share between 0 and 1")
        if not backend.reports_outcomes:
            raise ValidationError(
                "target_answered_share",
                share,
                f"{backend.vendor} reports no per-call outcomes to poll (delivery reports are webhooks)",
            )

    # -- modes ---------------------------------------------------------------------------------
    def poke(self, context: Any) -> PokeReturnValue:
        campaign = self.campaign  # bad input fails before the connection is read
        backend = self.hook.capability("campaign")
        self._check_target(backend)
        status: CampaignStatus = backend.campaign_status(campaign)
        self.log.info("%s", status.message or status.summary())
        done = campaign_done(
            status, float(self.target_answered_share) if self.target_answered_share is not None else None
        )
        return PokeReturnValue(is_done=done, xcom_value=status.model_dump(mode="json") if done else None)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # done already: no need to defer
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=CampaignCompletionTrigger(
                conn_id=self._conn_id(),
                handle=self.campaign.model_dump(mode="json"),
                poll_interval=float(self.poke_interval),
                deadline=deadline_after(self.timeout),
                target_answered_share=float(self.target_answered_share)
                if self.target_answered_share is not None
                else None,
                hook_params=self._hook_params(),
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the status (success), or fail (timeout / error, or a
        success event without the campaign's status: nothing says the campaign finished)."""
        event = event or {}
        status = event.get("status")
        if status == "success" and isinstance(event.get("campaign_status"), Mapping):
            self.log.info("%s", event.get("message"))
            return event["campaign_status"]
        if status == "timeout":
            raise AirflowSensorTimeout(f"Sensor has timed out: {event.get('message')}")
        if status == "success":
            raise VoiceProviderError(
                f"campaign completion wait: a success event without the campaign status: {event!r}"
            )
        failure = f"campaign completion wait failed: {event.get('message') or 'no event from the trigger'}"
        raise event_error(event, failure) or VoiceProviderError(failure)
