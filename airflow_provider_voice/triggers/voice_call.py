"""Deferrable wait on a single call's outcome (Velip ``GetCallStatus``, Kaleyra ``voice.status``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.models.voice_call import VoiceCallHandle, VoiceCallStatus
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult

__all__ = ["VoiceCallTrigger", "describe_voice_call"]


def describe_voice_call(status: VoiceCallStatus) -> str:
    """One line for logs and events (no phone number)."""
    vendor_status = f" ({status.vendor} status {status.vendor_status})" if status.vendor_status else ""
    return f"{status.vendor} call {status.call_id or ''}: {status.outcome}{vendor_status}"


class VoiceCallTrigger(PollingTrigger):
    """Poll a single call until it has ended, or the deadline passes.

    The connection's vendor reads the status through its single-call capability
    (``hook.voice_call()``: ``status_call`` + ``interpret``), the same check the operator's
    blocking wait runs.

    :param conn_id: the connection the call was placed with (Velip or Kaleyra).
    :param call_id: the vendor's call id (Velip ``cd_id``, Kaleyra ``<group>-<n>``).
    :param ctid: Velip correlation id (a call followed by it when it has no ``cd_id``).
    :param group_id: Kaleyra OBD group id (a call followed by it when it has no call id).
    :param number: the number called, masked (kept in the events, for the task's XCom).
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline, ISO 8601 (one last poll happens at the deadline).

    Events: ``{"status": "success", "message", **outcome}`` once the call ended (whatever its
    outcome; ``outcome`` = ``vendor, call_id, ctid, group_id, number`` (masked), ``outcome,
    vendor_status, detail, duration``),
    ``{"status": "timeout", "message", **outcome}``, ``{"status": "error", "message", ...}``.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        poll_interval: float = 15.0,
        deadline: str | None = None,
        call_id: str | None = None,
        ctid: str | None = None,
        group_id: str | None = None,
        number: str | None = None,
    ) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, deadline=deadline)
        self.call_id = call_id
        self.ctid = ctid
        self.group_id = group_id
        self.number = number

    def params(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "ctid": self.ctid, "group_id": self.group_id, "number": self.number}

    def check(self, hook: VoiceHook[Any]) -> Generator[Any, Any, PollResult]:
        capability = hook.voice_call()
        handle = VoiceCallHandle(vendor=capability.vendor, call_id=self.call_id, ctid=self.ctid, group_id=self.group_id)
        answer = yield capability.status_call(handle)
        status = capability.interpret(handle, answer)
        payload = {**status.to_xcom(), "ctid": self.ctid, "group_id": self.group_id, "number": self.number}
        payload["call_id"] = status.call_id or self.call_id
        return PollResult(status.done, describe_voice_call(status), payload)
