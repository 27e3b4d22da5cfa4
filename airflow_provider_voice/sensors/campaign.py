"""Wait for a voice campaign to finish: poke, reschedule or deferrable."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError as PydanticValidationError

from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.sensors.base import PollingSensor, lazy_trigger_class
from airflow_provider_voice.triggers.base import PollingTrigger, seconds_arg

if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.protocols import CampaignCapability
    from airflow_provider_voice.models.campaign import CampaignHandle

    # imported when the sensor first runs (lazy_trigger_class)
    from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger  # noqa: F401

__all__ = ["CampaignCompletionSensor", "parse_handle"]


def parse_handle(value: Any) -> CampaignHandle:
    """A campaign handle from a dict, a model, or a rendered template string (JSON or Python repr)."""
    from airflow_provider_voice.models.campaign import CampaignHandle

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


class CampaignCompletionSensor(PollingSensor):
    """Waits until every call of a voice campaign has ended (or a target answered share is reached).

    Works for Velip (``GetCampaignsList`` counters) and Kaleyra (``voice.groupstatus``). **Octopush**
    has no status endpoint: the sensor waits until ``estimated_duration`` has passed since the
    send (a lower bound of the real end) and returns an estimated status without per-outcome
    counts (``estimated: true``); ``target_answered_share`` is refused there.

    A :class:`~airflow_provider_voice.sensors.base.PollingSensor`: each poke is one poll of
    :class:`~airflow_provider_voice.triggers.campaign.CampaignCompletionTrigger` with the blocking
    client; rate limits, 5xx and network errors are polled again at the next poke (in every mode).

    :param handle: the campaign handle, usually ``SendVoiceCampaignOperator(...).output`` or
        ``"{{ ti.xcom_pull(task_ids='send') }}"`` (templated).
    :param conn_id: the vendor connection (default: the handle's ``conn_id``) (templated).
    :param target_answered_share: succeed once this share (0-1) of calls is answered (templated).
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``).
    :param poke_interval: seconds between status polls (all modes).
    :param timeout: seconds before giving up; one last status poll is made at the deadline.
    :param request_timeout: HTTP timeout of each status request (seconds).
    :returns: pushes the normalized status to XCom: ``state``, ``total``, ``done``, ``counts``
        (answered, no_answer, busy, failed, invalid_number, blocked, pending), ``vendor_counts``,
        ``finished``, ``estimated``, ``message``.
    """

    trigger_class: ClassVar[type[PollingTrigger]] = lazy_trigger_class(
        "airflow_provider_voice.triggers.campaign:CampaignCompletionTrigger"
    )
    template_fields = ("handle", "conn_id", "target_answered_share")
    ui_color = "#c8e6c9"

    def __init__(
        self,
        *,
        handle: Any,
        conn_id: str | None = None,
        target_answered_share: float | None = None,
        deferrable: bool | None = None,
        request_timeout: float | None = None,
        poke_interval: float | timedelta = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, deferrable=deferrable, poke_interval=poke_interval, **kwargs)
        self.handle = handle
        self.target_answered_share = target_answered_share
        self.request_timeout = seconds_arg("request_timeout", request_timeout) if request_timeout else None

    # -- inputs --------------------------------------------------------------------------------
    @property
    def campaign(self) -> CampaignHandle:
        """The rendered handle; :class:`ValidationError` when it names no campaign (nothing to wait for)."""
        handle = parse_handle(self.handle)
        if not [cid for cid in handle.campaign_ids if str(cid).strip()]:
            raise ValidationError(
                "handle", handle.model_dump(mode="json"), "names no campaign id: no campaign was sent to wait for"
            )
        return handle

    def target_share(self) -> float | None:
        """The rendered ``target_answered_share``: None, or a number in (0, 1]."""
        share = self.target_answered_share
        if share is None or share == "":
            return None
        try:
            value = float(share)
        except (TypeError, ValueError):
            value = float("nan")
        if isinstance(share, bool) or not 0 < value <= 1:
            raise ValidationError("target_answered_share", share, "a share between 0 and 1")
        return value

    def hook_conn_id(self) -> str:
        """``conn_id``, else the handle's connection."""
        conn_id = self.conn_id or self.campaign.conn_id
        if not conn_id:
            raise ValidationError("conn_id", None, "give conn_id (the handle carries none)")
        return str(conn_id)

    def hook_params(self) -> dict[str, Any]:
        """The request timeout, when given (the trigger gets the same)."""
        return {"timeout": self.request_timeout} if self.request_timeout else {}

    # -- the check ------------------------------------------------------------------------------
    def trigger_params(self) -> dict[str, Any]:
        return {
            "handle": self.campaign.model_dump(mode="json"),
            "target_answered_share": self.target_share(),
            "hook_params": self.hook_params(),
        }

    def poll_target(self) -> CampaignCapability:
        """The connection's campaign capability (what the trigger's check polls)."""
        backend = self.hook.campaigns()
        share = self.target_share()
        if share is not None and not backend.reports_outcomes:
            raise ValidationError(
                "target_answered_share",
                self.target_answered_share,
                f"{backend.vendor} reports no per-call outcomes to poll (delivery reports are webhooks)",
            )
        return backend

    def finish(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The campaign's status; a payload without it is an error (nothing says the campaign finished)."""
        status = payload.get("campaign_status")
        if not isinstance(status, Mapping):
            raise VoiceProviderError(
                f"campaign completion wait: a success event without the campaign status: {payload!r}"
            )
        return dict(status)
