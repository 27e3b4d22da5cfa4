"""What a vendor/channel implements to be driven by the delivery engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from airflow_provider_voice.delivery.frames import Fate, Frame, FrameResult, Reconciled
from airflow_provider_voice.errors import (
    AuthError,
    CapabilityNotSupportedError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    VendorRejectedError,
)

__all__ = ["Channel", "FatalDeliveryError", "default_classify"]

T = TypeVar("T")

#: HTTP statuses that mean "not processed, try later" (RFC 9110: 503 Service Unavailable)
NOT_PROCESSED_STATUSES = frozenset({503})


class FatalDeliveryError(Exception):
    """Raised by a channel to stop the whole delivery (e.g. the account is out of credit)."""


def default_classify(exc: BaseException) -> tuple[Fate, bool]:
    """The engine's default reading of a send failure: ``(fate, stop_the_delivery)``.

    * 429 (after the HTTP core's own retries), 503, errors before the request left: ``NOT_SENT``.
    * Timeouts after sending, broken connections, other 5xx, unreadable answers: ``IN_DOUBT``.
    * The vendor's refusal (4xx, vendor error code): ``REJECTED``.
    * Authentication/validation/capability errors and :class:`FatalDeliveryError`: stop everything
      (the frame was not accepted).
    * Any other exception: ``IN_DOUBT`` and stop (a bug after the request may have left).
    """
    if isinstance(exc, (AuthError, ValidationError, CapabilityNotSupportedError, FatalDeliveryError)):
        return Fate.NOT_SENT, True
    if isinstance(exc, RateLimitedError):
        return Fate.NOT_SENT, False
    if isinstance(exc, ServerError):
        return (Fate.NOT_SENT if exc.status_code in NOT_PROCESSED_STATUSES else Fate.IN_DOUBT), False
    if isinstance(exc, TransportError):
        return (Fate.IN_DOUBT if exc.may_have_been_accepted else Fate.NOT_SENT), False
    if isinstance(exc, MalformedResponseError):
        return Fate.IN_DOUBT, False
    if isinstance(exc, VendorRejectedError):
        return Fate.REJECTED, False
    return Fate.IN_DOUBT, True


class Channel(ABC, Generic[T]):
    """A way of delivering items in frames (a vendor's campaign send, an SMS API...).

    Subclasses set :attr:`name` and :attr:`frame_size` and implement :meth:`send`; they may
    override :meth:`item_key`, :meth:`reconcile`, :meth:`classify`, :meth:`summarize` and the
    :meth:`start` / :meth:`stop` hooks (open and close an async HTTP client inside the engine's
    event loop).
    """

    #: label used in log lines ("octopush voice campaign")
    name: str = "delivery"
    #: items per frame (one vendor request)
    frame_size: int = 100
    #: what one item is called in log lines
    unit: str = "recipients"

    def item_key(self, item: T) -> str:
        """The identity of an item: used for suppression, deduplication across tries and reports.
        Default: ``item.number`` (E.164) when present, else ``str(item)``."""
        number = getattr(item, "number", None)
        return str(number if number is not None else item)

    def suppression_key(self, item: T) -> str:
        """What the suppression list is matched against (an E.164 number). Default: :meth:`item_key`."""
        return self.item_key(item)

    async def start(self) -> None:
        """Called once, inside the event loop, before the first frame."""

    async def stop(self) -> None:
        """Called once at the end (also after errors)."""

    @abstractmethod
    async def send(self, frame: Frame[T]) -> FrameResult:
        """Send one frame (use ``frame.key`` as the vendor idempotency key when there is one).

        Return the result when the vendor accepted it; raise the typed error otherwise. Raise
        nothing for a frame the vendor says it already has (e.g. a duplicate ``request_id``):
        return its result.
        """

    async def reconcile(self, frame: Frame[T]) -> Reconciled:
        """Ask the vendor what became of an in-doubt frame. Default: unknown (nothing to ask)."""
        return Reconciled.unknown("this channel has no way to look a request up")

    def classify(self, exc: BaseException) -> tuple[Fate, bool]:
        """``(fate, stop)`` for a failed send; see :func:`default_classify`."""
        return default_classify(exc)

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        """Channel-specific totals over every accepted frame (JSON-ready). Default: nothing extra."""
        return {}
