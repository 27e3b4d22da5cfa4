"""Paging ("call people in turn until one acknowledges by pressing a key") as every vendor reports it."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["PageHandle", "PageOutcome", "PageStatus"]


class PageOutcome(str, Enum):
    """What became of one paging call.

    ``pending``: not ended (queued, ringing, talking). ``acknowledged``: answered and the person
    pressed the confirmation key. ``not_acknowledged``: answered, no confirmation key pressed.
    ``no_answer``, ``busy``, ``invalid_number``, ``blocked``, ``failed``: the call ended without
    reaching the person (the vendor's reasons, as in :data:`~airflow_provider_voice.models.outcomes.OUTCOMES`).
    The operator adds three of its own: ``timeout`` (still not ended when the attempt's time ran
    out), ``rejected`` (the vendor refused to place the call) and ``in_doubt`` (the request's
    fate could not be established: not placed again).
    """

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    NOT_ACKNOWLEDGED = "not_acknowledged"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INVALID_NUMBER = "invalid_number"
    BLOCKED = "blocked"
    FAILED = "failed"
    TIMEOUT = "timeout"
    REJECTED = "rejected"
    IN_DOUBT = "in_doubt"

    @property
    def done(self) -> bool:
        """True once the call has ended (every outcome but ``pending``)."""
        return self is not PageOutcome.PENDING


class PageHandle(BaseModel):
    """A placed paging call: the vendor, its call id (Velip ``cd_id``) and the correlation key it was sent with.

    :param vendor: the vendor name.
    :param call_id: the vendor's call id, when it gave one.
    :param key: the correlation id the call was placed with (Velip ``ctid``), used to find it again.
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    call_id: str | None = None
    key: str | None = None


class PageStatus(BaseModel):
    """One paging call's state in vendor-neutral terms, plus the vendor's own codes.

    :param vendor: the vendor name.
    :param call_id: the vendor's call id.
    :param outcome: a :class:`PageOutcome`.
    :param vendor_status: the vendor's status code (Velip ``cd_status``).
    :param pressed: the key(s) the person pressed, when the vendor reports them (Velip ``dtmf``).
    :param duration: seconds of conversation when known.
    :param raw: the vendor's row (never put in XCom or events: it holds the phone number).
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    call_id: str | None = None
    outcome: PageOutcome
    vendor_status: str | None = None
    pressed: str | None = None
    duration: int | None = None
    raw: Any = None

    @property
    def done(self) -> bool:
        """True once the call has ended."""
        return self.outcome.done

    @property
    def acknowledged(self) -> bool:
        """True when the person pressed the confirmation key."""
        return self.outcome is PageOutcome.ACKNOWLEDGED

    def to_event(self) -> dict[str, Any]:
        """JSON primitives without the raw row (no phone number): for trigger events and XCom."""
        return {
            "vendor": self.vendor,
            "call_id": self.call_id,
            "outcome": self.outcome.value,
            "vendor_status": self.vendor_status,
            "pressed": self.pressed,
            "duration": self.duration,
        }
