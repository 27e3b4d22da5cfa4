"""Deferrable wait for a voice campaign to finish."""

from __future__ import annotations

from typing import Any

from airflow_provider_voice.capabilities.protocols import CampaignCapability
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignStatus
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult, deadline_after
from airflow_provider_voice.vendors.base import AsyncVendorClient

__all__ = [
    "CampaignCompletionTrigger",
    "campaign_done",
    "deadline_after",
    "hook_params_from_json",
    "hook_params_to_json",
]


def campaign_done(status: CampaignStatus, target_answered_share: float | None) -> bool:
    """Finished (every call ended), or the answered share reached ``target_answered_share``."""
    if status.finished:
        return True
    return target_answered_share is not None and status.total > 0 and status.answered_share >= target_answered_share


def hook_params_to_json(params: dict[str, Any] | None) -> dict[str, Any]:
    """Hook parameters as JSON primitives (a :class:`RetryPolicy` becomes a dict of its fields)."""
    out: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if isinstance(value, RetryPolicy):
            value = {
                "max_attempts": value.max_attempts,
                "backoff_initial": value.backoff_initial,
                "backoff_max": value.backoff_max,
                "max_retry_after": value.max_retry_after,
            }
        out[name] = value
    return out


def hook_params_from_json(params: dict[str, Any] | None) -> dict[str, Any]:
    """Inverse of :func:`hook_params_to_json`."""
    out = dict(params or {})
    if isinstance(out.get("retry"), dict):
        out["retry"] = RetryPolicy(**out["retry"])
    return out


class CampaignCompletionTrigger(PollingTrigger):
    """Polls a campaign's status asynchronously until it is finished (or reaches a target answered
    share), then fires one event. The polling loop, deadline and error policy are
    :class:`~airflow_provider_voice.triggers.base.PollingTrigger`'s.

    :param conn_id: the vendor connection (its type picks the hook).
    :param handle: the campaign handle (``SendVoiceCampaignOperator``'s XCom value, a dict).
    :param poll_interval: seconds between two status polls.
    :param deadline: absolute UTC deadline (ISO 8601); at the deadline one last poll is made and
        a ``timeout`` event fired if the campaign is still not done. None = no deadline.
    :param target_answered_share: stop waiting once this share of calls is answered (0-1).
    :param hook_params: JSON hook parameters (``timeout``, ``retry``).

    Events: ``{"status": "success" | "timeout" | "error", "message": str, "campaign_ids": [...],
    "campaign_status": <CampaignStatus dict or None>, "handle": <the handle>}``. Transient errors
    (429, 5xx, network) are logged and polled again; other provider errors end with ``error``.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        handle: dict[str, Any],
        poll_interval: float = 30.0,
        deadline: str | None = None,
        target_answered_share: float | None = None,
        hook_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, deadline=deadline)
        self.handle = CampaignHandle.model_validate(handle).model_dump(mode="json")
        self.target_answered_share = target_answered_share
        self.hook_params = hook_params_to_json(hook_params)

    def params(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "target_answered_share": self.target_answered_share,
            "hook_params": self.hook_params,
        }

    def hook_kwargs(self) -> dict[str, Any]:
        return {"hook_params": hook_params_from_json(self.hook_params)}

    async def connect(self) -> tuple[Any, Any]:
        hook = await self.ahook()
        backend = hook.campaigns()
        return backend, await hook.aget_shared_client()  # the connection's shared pool in this loop

    def _result(self, status: CampaignStatus | None) -> PollResult:
        payload = {
            "campaign_ids": list(self.handle.get("campaign_ids", [])),
            "campaign_status": status.model_dump(mode="json") if status else None,
            "handle": self.handle,
        }
        if status is None:
            return PollResult(False, "no status could be read", payload)
        return PollResult(
            campaign_done(status, self.target_answered_share), status.message or status.summary(), payload, status
        )

    def poll_once(self, backend: CampaignCapability) -> PollResult:
        """One status poll with the campaign capability's blocking client (the sensor's ``poke``, the
        operator's blocking wait): the same verdict as :meth:`apoll` in the triggerer.

        :param backend: the connection's campaign capability (``hook.campaigns()``).
        """
        return self._result(backend.campaign_status(self.handle))

    async def apoll(self, backend: CampaignCapability, client: AsyncVendorClient[Any]) -> PollResult:
        return self._result(await backend.acampaign_status(self.handle, client))

    def __repr__(self) -> str:
        return f"CampaignCompletionTrigger(conn_id={self.conn_id!r}, campaign_ids={self.handle.get('campaign_ids')!r}, deadline={self.deadline!r})"
