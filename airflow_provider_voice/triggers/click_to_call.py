"""Deferrable wait on a click-to-call's outcome (Kaleyra ``dial.c2cstatus``, Velip ``GetCallStatus``)."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voice.connections import CONNECTION_TYPES
from airflow_provider_voice.errors import RateLimitedError, ServerError, TransportError, VoiceProviderError
from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallStatus

__all__ = ["ClickToCallTrigger", "hook_for_vendor"]

TRANSIENT_ERRORS = (RateLimitedError, ServerError, TransportError)


def hook_for_vendor(vendor: str, conn_id: str) -> Any:
    """The provider's hook for ``vendor`` on ``conn_id``, built without reading the connection yet."""
    try:
        path = CONNECTION_TYPES[vendor].hook_class
    except KeyError:
        raise VoiceProviderError(f"unknown vendor {vendor!r}; known: {', '.join(CONNECTION_TYPES)}") from None
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(conn_id)


def _describe(status: ClickToCallStatus) -> str:
    legs = ", ".join(
        f"{label} {value}"
        for label, value in (("agent", status.agent_status), ("customer", status.customer_status))
        if value
    )
    return f"{status.vendor} click-to-call {status.call_id or ''}: {status.state.value}" + (
        f" ({legs})" if legs else ""
    )


class ClickToCallTrigger(BaseTrigger):
    """Poll a click-to-call until it has ended, or the deadline passes.

    :param conn_id: the connection the call was placed with. :param vendor: ``kaleyra`` or ``velip``.
    :param call_id: the vendor's call id. :param ctid: Velip correlation id (scheduled calls).
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline, POSIX seconds (one last poll happens at the deadline).

    Events: ``{"status": "success", "message", "call_id", "result": <ClickToCallStatus as a dict>}``
    once the call ended (whatever its outcome), ``{"status": "timeout", ...}``, ``{"status": "error",
    "message", "call_id"}``. Rate limits, 5xx and network errors are retried at the next poll.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        vendor: str,
        call_id: str | None,
        ctid: str | None = None,
        poll_interval: float = 15.0,
        deadline: float,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.vendor = vendor
        self.call_id = call_id
        self.ctid = ctid
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "vendor": self.vendor,
                "call_id": self.call_id,
                "ctid": self.ctid,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        handle = ClickToCallHandle(vendor=self.vendor, call_id=self.call_id, ctid=self.ctid)
        ids = {"call_id": self.call_id}
        try:
            hook = hook_for_vendor(self.vendor, self.conn_id)
            client = await hook.aget_client()  # reads the connection with the async API; hook.api is now cached
            capability = hook.capability("click_to_call")
        except VoiceProviderError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc), **ids})
            return
        last: ClickToCallStatus | None = None
        polls = 0
        try:
            while True:
                polls += 1
                try:
                    answer = await client.http.send(capability.status_call(handle))
                except TRANSIENT_ERRORS as exc:
                    self.log.warning("click-to-call status poll %d failed (%s); polling again", polls, exc)
                else:
                    last = capability.interpret(handle, answer)
                    if last.done:
                        yield TriggerEvent(
                            {"status": "success", "message": _describe(last), **ids, "result": last.to_xcom()}
                        )
                        return
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    state = _describe(last) if last else "no status read"
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "message": f"call not finished after {polls} polls ({state})",
                            **ids,
                            "result": last.to_xcom() if last else None,
                        }
                    )
                    return
                await asyncio.sleep(max(0.0, min(self.poll_interval, remaining)))
        except VoiceProviderError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc), **ids})
        finally:
            await client.aclose()
