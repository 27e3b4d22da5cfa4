"""The click-to-call capability protocol."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallStatus
from airflow_provider_voice.transport import Call

__all__ = ["ClickToCallCapability"]


@runtime_checkable
class ClickToCallCapability(Protocol):
    """What the click-to-call operator, sensor and trigger need of a vendor.

    :meth connect: place the call (validating everything first); returns a :class:`ClickToCallHandle`.
    :meth status_call: the request that reads a call's outcome (sent by the sync client in a
        sensor's poke, by the async client in the trigger).
    :meth interpret: turn that request's answer into a :class:`ClickToCallStatus`.
    """

    vendor: ClassVar[str]

    def connect(
        self,
        agent: Any,
        customer: Any,
        *,
        message: str | None = None,
        default_region: str | None = None,
        **options: Any,
    ) -> ClickToCallHandle: ...

    def status_call(self, handle: ClickToCallHandle) -> Call[Any]: ...

    def interpret(self, handle: ClickToCallHandle, answer: Any) -> ClickToCallStatus: ...
