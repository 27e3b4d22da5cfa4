"""Click-to-call ("connect an agent and a customer") as every vendor reports it."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ClickToCallHandle", "ClickToCallState", "ClickToCallStatus"]


class ClickToCallState(str, Enum):
    """Where a click-to-call stands.

    ``pending``: not finished (queued, ringing or talking). ``connected``: both legs answered.
    ``agent_unreached``: the first leg (agent) did not answer, so the customer was not called.
    ``customer_unreached``: the agent answered, the customer did not. ``failed``: anything else
    (bad number, blocked, unknown outcome).
    """

    PENDING = "pending"
    CONNECTED = "connected"
    AGENT_UNREACHED = "agent_unreached"
    CUSTOMER_UNREACHED = "customer_unreached"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self is not ClickToCallState.PENDING


class ClickToCallHandle(BaseModel):
    """A placed click-to-call: the vendor and its call id (Kaleyra ``c2c_...``, Velip ``cd_id``).

    ``ctid`` is Velip's correlation id when one was given (a scheduled Velip call has no ``cd_id``).
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    call_id: str | None = None
    ctid: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include={"vendor", "call_id", "ctid"})


class ClickToCallStatus(BaseModel):
    """The outcome of a click-to-call, in vendor-neutral terms plus the vendor's own codes.

    :param state: a :class:`ClickToCallState`.
    :param agent_status: the vendor's status of the first leg (Kaleyra ``status``, Velip ``cd_status``).
    :param customer_status: the second leg's (Kaleyra ``status2``; Velip reports one status).
    :param duration: seconds of conversation when known.
    :param raw: the vendor's row.
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    call_id: str | None = None
    state: ClickToCallState
    agent_status: str | None = None
    customer_status: str | None = None
    duration: int | None = None
    raw: Any = None

    @property
    def done(self) -> bool:
        return self.state.done

    def to_xcom(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"raw"})
