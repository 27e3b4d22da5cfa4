"""Deferrable wait on one paging call (Velip ``GetCallStatus`` by ``cd_id``): ended, or the attempt's time is up."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from airflow_provider_voice.capabilities.paging import PagingCapability, paging_not_supported
from airflow_provider_voice.models.paging import PageHandle, PageStatus
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult
from airflow_provider_voice.vendors.velip import VelipPaging

__all__ = ["PagingTrigger", "describe_page", "paging_capability"]

#: connection type -> paging capability, for hooks that do not offer ``paging()`` themselves
_PAGING_BACKENDS: dict[str, type[VelipPaging]] = {"velip": VelipPaging}


def paging_capability(hook: Any) -> PagingCapability:
    """The paging capability of a connection's hook: ``hook.paging()`` when the hook offers it, else
    built from ``hook.access`` for the vendors that can page (Velip); any other vendor raises
    :class:`~airflow_provider_voice.errors.CapabilityNotSupportedError` naming Velip.

    :param hook: a voice hook (its connection read; in a trigger, with the async API first).
    """
    offered = getattr(hook, "paging", None)
    if callable(offered):
        capability: PagingCapability = offered()
        return capability
    conn_type = str(getattr(hook, "conn_type", "") or "")
    backend = _PAGING_BACKENDS.get(conn_type)
    if backend is None:
        raise paging_not_supported(conn_type or type(hook).__name__)
    return backend(hook.access)


def describe_page(status: PageStatus, attempt: int | None = None) -> str:
    """One line for logs and events (no phone number)."""
    where = f"paging attempt {attempt}: " if attempt is not None else ""
    pressed = f", key {status.pressed!r}" if status.pressed else ""
    vendor_status = f" ({status.vendor_status}{pressed})" if status.vendor_status else ""
    return f"{where}{status.vendor} call {status.call_id or ''}: {status.outcome.value}{vendor_status}"


class PagingTrigger(PollingTrigger):
    """Poll one paging call until it has ended, or the attempt's deadline passes.

    :param conn_id: the connection the call was placed with.
    :param call_id: the vendor's call id (Velip ``cd_id``).
    :param key: the correlation key the call was placed with (Velip ``ctid``; used without ``call_id``).
    :param attempt: the escalation's attempt number (carried into the event, so the task settles the right call).
    :param poll_interval: seconds between polls.
    :param deadline: the attempt's end, absolute UTC, ISO 8601 (one last poll happens at it).

    Events: ``{"status": "success", "message", "attempt", "key", "seen_at", **status}`` once the call
    ended (whatever its outcome; ``status`` = ``vendor, call_id, outcome, vendor_status, pressed,
    duration``; ``seen_at`` the POSIX time of the poll that saw it),
    ``{"status": "timeout", "message", "attempt", **status}`` (the last poll's, ``outcome`` ``pending``),
    ``{"status": "error", "message", "error_kind", ...}``. No phone number in any of them.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        poll_interval: float = 15.0,
        deadline: str | None = None,
        call_id: str | None = None,
        key: str | None = None,
        attempt: int = 0,
    ) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, deadline=deadline)
        self.call_id = call_id
        self.key = key
        self.attempt = int(attempt)

    def params(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "key": self.key, "attempt": self.attempt}

    def check(self, hook: Any) -> Generator[Any, Any, PollResult]:
        capability = paging_capability(hook)
        handle = PageHandle(vendor=capability.vendor, call_id=self.call_id, key=self.key)
        answer = yield capability.status_call(handle)
        status = capability.interpret(handle, answer)
        payload = {**status.to_event(), "attempt": self.attempt, "key": self.key, "seen_at": round(time.time(), 3)}
        return PollResult(status.done, describe_page(status, self.attempt), payload, value=status)
