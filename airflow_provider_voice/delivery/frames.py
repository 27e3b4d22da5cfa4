"""The units the delivery engine works with: frames, their results and their fates."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Fate", "Frame", "FrameResult", "Reconciled", "Reconciliation"]

T = TypeVar("T")


@dataclass
class Frame(Generic[T]):
    """A slice of the items sent in one vendor request.

    :param index: position of the frame in this task's delivery (unique per checkpoint key; a
        retried task numbers its new frames after the highest index already recorded).
    :param key: the frame's idempotency key: 15 letters/digits, unique per (task instance, index),
        the same on every resend of this frame. Channels use it as the vendor's key (Octopush
        ``request_id``, Velip ``cp_ctid``/``ctid``...).
    :param items: the items (recipients, messages...).
    :param members: keyed hashes of the items' keys (what the checkpoint records; no phone numbers).
    :param started: POSIX time its intent was first recorded (set by the engine; None when an
        earlier try's checkpoint does not say): channels that look a request up by time use it.
    """

    index: int
    key: str
    items: list[T]
    members: list[str] = field(default_factory=list)
    started: float | None = None

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class FrameResult:
    """What the vendor said about an accepted frame.

    :param accepted: items the vendor accepted.
    :param rejected: items of the frame the vendor refused (partial acceptance).
    :param refs: the vendor's ids (ticket, campaign id, group id, message ids...).
    :param cost: cost reported by the vendor, if any.
    :param info: other JSON-ready facts (summed or kept by :meth:`Channel.summarize`).
    """

    accepted: int
    rejected: int = 0
    refs: list[str] = field(default_factory=list)
    cost: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: the frame's index (set by the engine; orders ``DeliveryReport.refs``)
    index: int = -1

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form stored in the checkpoint."""
        out: dict[str, Any] = {"accepted": self.accepted}
        if self.rejected:
            out["rejected"] = self.rejected
        if self.refs:
            out["refs"] = list(self.refs)
        if self.cost is not None:
            out["cost"] = self.cost
        if self.info:
            out["info"] = dict(self.info)
        return out

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FrameResult:
        """Inverse of :meth:`to_record`."""
        return cls(
            accepted=int(record.get("accepted", 0)),
            rejected=int(record.get("rejected", 0)),
            refs=[str(r) for r in record.get("refs", [])],
            cost=record.get("cost"),
            info=dict(record.get("info", {})),
        )

    @classmethod
    def from_checkpoint(cls, index: int, record: dict[str, Any]) -> FrameResult:
        result = cls.from_record(record)
        result.index = index
        return result


class Fate(str, enum.Enum):
    """How a failed send attempt is treated (see :meth:`Channel.classify`).

    * ``NOT_SENT``: the vendor certainly did not act (429, 503, connection refused): retried.
    * ``REJECTED``: the vendor refused the frame (4xx / vendor error code): counted, not retried
      in this try (a later try may send those items again: they were never accepted).
    * ``IN_DOUBT``: the vendor may have acted (timeout after sending, reset, 500/502/504,
      unreadable answer): reconciled through the vendor, never blindly resent.
    """

    NOT_SENT = "not_sent"
    REJECTED = "rejected"
    IN_DOUBT = "in_doubt"


class Reconciliation(str, enum.Enum):
    """What the vendor says about an in-doubt frame."""

    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    UNKNOWN = "unknown"


@dataclass
class Reconciled:
    """A reconciliation answer: the verdict, the result when accepted, and a note for the log."""

    verdict: Reconciliation
    result: FrameResult | None = None
    note: str = ""
    #: for ``UNKNOWN``: the lookup itself failed (a transient error): ask again in the next round
    ask_again: bool = False

    @classmethod
    def accepted(cls, result: FrameResult, note: str = "") -> Reconciled:
        return cls(Reconciliation.ACCEPTED, result, note)

    @classmethod
    def not_accepted(cls, note: str = "") -> Reconciled:
        return cls(Reconciliation.NOT_ACCEPTED, None, note)

    @classmethod
    def unknown(cls, note: str = "", *, ask_again: bool = False) -> Reconciled:
        return cls(Reconciliation.UNKNOWN, None, note, ask_again)
