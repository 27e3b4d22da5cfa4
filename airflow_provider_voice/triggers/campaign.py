"""Deferrable wait for a voice campaign to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voice.errors import (
    AuthError,
    CapabilityNotSupportedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    VoiceProviderError,
)
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignStatus
from airflow_provider_voice.redaction import get_logger, redact
from airflow_provider_voice.transport import RetryPolicy

__all__ = ["CampaignCompletionTrigger", "campaign_done", "hook_params_from_json", "hook_params_to_json"]

log = get_logger(__name__)
TRANSIENT = (RateLimitedError, ServerError, TransportError)


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


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


class CampaignCompletionTrigger(BaseTrigger):
    """Polls a campaign's status asynchronously until it is finished (or reaches a target answered
    share), then fires one event.

    :param conn_id: the vendor connection (its type picks the hook).
    :param handle: the campaign handle (``SendVoiceCampaignOperator``'s XCom value, a dict).
    :param poll_interval: seconds between two status polls.
    :param deadline: absolute UTC deadline (ISO 8601); at the deadline one last poll is made and
        a ``timeout`` event fired if the campaign is still not done. None = no deadline.
    :param target_answered_share: stop waiting once this share of calls is answered (0-1).
    :param hook_params: JSON hook parameters (``timeout``, ``retry``).

    Events: ``{"status": "success" | "timeout" | "error", "message": str, "campaign_ids": [...],
    "campaign_status": <CampaignStatus dict or None>, "handle": <the handle>}``. Transient errors (429, 5xx, network) are
    logged and polled again; authentication, validation and capability errors end with ``error``.
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
        super().__init__()
        self.conn_id = conn_id
        self.handle = CampaignHandle.model_validate(handle).model_dump(mode="json")
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.target_answered_share = target_answered_share
        self.hook_params = hook_params_to_json(hook_params)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "handle": self.handle,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "target_answered_share": self.target_answered_share,
                "hook_params": self.hook_params,
            },
        )

    def _deadline_ts(self) -> float | None:
        if not self.deadline:
            return None
        text = self.deadline[:-1] + "+00:00" if self.deadline.endswith("Z") else self.deadline
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()

    def _event(self, status: str, message: str, campaign_status: CampaignStatus | None) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "message": message,
                "campaign_ids": list(self.handle.get("campaign_ids", [])),
                "campaign_status": campaign_status.model_dump(mode="json") if campaign_status else None,
                "handle": self.handle,
            }
        )

    async def _backend(self) -> tuple[Any, Any]:
        from airflow.sdk import BaseHook

        hook = await BaseHook.aget_hook(self.conn_id, hook_params=hook_params_from_json(self.hook_params))
        await hook.aget_api()  # reads the connection with the async API; later uses are cached
        backend = hook.capability("campaign")
        return backend, backend.async_client()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = self._deadline_ts()
        try:
            backend, client = await self._backend()
        except VoiceProviderError as exc:
            yield self._event("error", f"cannot poll the campaign: {redact(str(exc))}", None)
            return
        last: CampaignStatus | None = None
        try:
            while True:
                final = deadline is not None and time.time() >= deadline
                try:
                    last = await backend.acampaign_status(self.handle, client)
                except (AuthError, ValidationError, CapabilityNotSupportedError) as exc:
                    yield self._event("error", f"campaign status failed: {redact(str(exc))}", last)
                    return
                except TRANSIENT as exc:
                    log.warning("campaign status poll failed (%s); polling again in %.0f s", exc, self.poll_interval)
                else:
                    log.info("%s", last.message or last.summary())
                    if campaign_done(last, self.target_answered_share):
                        yield self._event("success", last.message or last.summary(), last)
                        return
                if final:
                    state = last.summary() if last else "no status could be read"
                    yield self._event(
                        "timeout", f"campaign not finished by the deadline {self.deadline}: {state}", last
                    )
                    return
                wait = self.poll_interval
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.time()))
                await asyncio.sleep(wait)
        finally:
            await client.aclose()

    def __repr__(self) -> str:
        return f"CampaignCompletionTrigger(conn_id={self.conn_id!r}, campaign_ids={self.handle.get('campaign_ids')!r}, deadline={self.deadline!r})"


def deadline_after(seconds: float | None) -> str | None:
    """An absolute UTC deadline ``seconds`` from now (ISO 8601), or None."""
    return None if seconds is None else _iso(time.time() + float(seconds))
