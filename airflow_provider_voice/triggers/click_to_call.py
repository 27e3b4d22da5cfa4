"""Deferrable wait on a click-to-call's outcome (Kaleyra ``dial.c2cstatus``, Velip ``GetCallStatus``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallStatus
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult

__all__ = ["ClickToCallTrigger", "describe_click_to_call"]


def describe_click_to_call(status: ClickToCallStatus) -> str:
    """One line for logs and events (no phone numbers)."""
    legs = ", ".join(
        f"{label} {value}"
        for label, value in (("agent", status.agent_status), ("customer", status.customer_status))
        if value
    )
    return f"{status.vendor} click-to-call {status.call_id or ''}: {status.state.value}" + (
        f" ({legs})" if legs else ""
    )


class ClickToCallTrigger(PollingTrigger):
    """Poll a click-to-call until it has ended, or the deadline passes.

    The connection's vendor (Kaleyra or Velip) reads the outcome through its click-to-call
    capability (``status_call`` + ``interpret``), the same check a sensor's poke runs.

    :param conn_id: the connection the call was placed with.
    :param call_id: the vendor's call id.
    :param ctid: Velip correlation id (a call without ``cd_id``).
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline, ISO 8601 (one last poll happens at the deadline).

    Events: ``{"status": "success", "message", **outcome}`` once the call ended (whatever its
    outcome; ``outcome`` = ``vendor, call_id, state, agent_status, customer_status, duration``),
    ``{"status": "timeout", "message", **outcome}``, ``{"status": "error", "message"}``.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        poll_interval: float = 15.0,
        deadline: str | None = None,
        call_id: str | None = None,
        ctid: str | None = None,
    ) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, deadline=deadline)
        self.call_id = call_id
        self.ctid = ctid

    def params(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "ctid": self.ctid}

    def check(self, hook: VoiceHook[Any]) -> Generator[Any, Any, PollResult]:
        capability = hook.click_to_call()
        handle = ClickToCallHandle(vendor=capability.vendor, call_id=self.call_id, ctid=self.ctid)
        answer = yield capability.status_call(handle)
        status: ClickToCallStatus = capability.interpret(handle, answer)
        payload = status.to_xcom()
        if self.ctid:  # the Velip correlation id the call was placed with stays in the outcome
            payload.setdefault("ctid", self.ctid)
        return PollResult(status.done, describe_click_to_call(status), payload)
