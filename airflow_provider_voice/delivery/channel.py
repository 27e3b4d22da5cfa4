"""What a vendor/channel implements to be driven by the delivery engine."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
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
    override :meth:`item_key`, :meth:`frame_group`, :meth:`reconcile`, :meth:`classify`,
    :meth:`summarize`, :meth:`summary_line` and the :meth:`start` / :meth:`stop` hooks (open and
    close an async HTTP client inside the engine's event loop).

    **Groups.** A vendor that reads one text per request (Velip, Octopush) cannot put recipients
    who hear different texts in one frame: its :meth:`frame_group` returns the text (or any key
    standing for it) and the engine fills one frame per group, never mixing them. The engine keeps
    at most :attr:`max_open_frames` frames being filled and at most :attr:`max_buffered_items`
    items in them (never fewer than one full frame); past either bound it sends, before it is
    full, the frame that has waited longest for an item (least recently fed: in a list sorted or
    clustered by text, a group that is over; a group still being fed keeps filling). So memory
    stays bounded whatever the number of groups; the cost is frames: 500 recipients with 500
    different texts are 500 frames, and groups interleaved more widely than the bounds are cut
    into smaller frames (the engine logs how many frames it sent early).
    """

    #: label used in log lines ("octopush voice campaign")
    name: str = "delivery"
    #: items per frame (one vendor request)
    frame_size: int = 100
    #: what one item is called in log lines
    unit: str = "recipients"
    #: frames being filled at once, at most, when items are grouped (:meth:`frame_group`)
    max_open_frames: int = 64
    #: items held in frames being filled, at most (the engine allows at least one full frame)
    max_buffered_items: int = 100_000
    #: the keyed digest bound by the engine (:meth:`bind_digest`); None: an unkeyed one
    _digest: Callable[[str], str] | None = None

    def item_key(self, item: T) -> str:
        """The identity of an item: used for suppression, deduplication across tries and reports.
        Default: ``item.number`` (E.164) when present, else ``str(item)``."""
        number = getattr(item, "number", None)
        return str(number if number is not None else item)

    def suppression_key(self, item: T) -> str:
        """What the suppression list is matched against (an E.164 number). Default: :meth:`item_key`."""
        return self.item_key(item)

    def frame_group(self, item: T) -> str | None:
        """The group of an item: a frame holds items of one group only (see "Groups" above).

        Default None: every item is in the same group (frames are cut in source order, as
        :attr:`frame_size` allows). Called once per item sent; keep it cheap. Whatever is
        returned is held in memory only while its frame is being filled (never stored).
        """
        return None

    @property
    def grouped(self) -> bool:
        """Whether :meth:`frame_group` may return more than one group. Default: True when a subclass
        overrides it. False lets the engine cut frames without calling it for every item; a channel
        that groups only sometimes (a personalised message) overrides this."""
        return type(self).frame_group is not Channel.frame_group

    def bind_digest(self, digest: Callable[[str], str]) -> None:
        """Called by the engine before the first frame: the keyed digest :meth:`digest` uses
        (keyed with the task instance, the same on every try, like the checkpoint's members)."""
        self._digest = digest

    def digest(self, value: str) -> str:
        """16 hex characters standing for ``value`` in checkpoints and summaries (e.g. the text a
        frame read, without the text or the names in it): keyed with the task instance once the
        engine has bound it (:meth:`bind_digest`), so equal values have equal digests across tries."""
        if self._digest is None:
            return hashlib.blake2b(value.encode(), digest_size=8).hexdigest()
        return self._digest(value)

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

    def summary_line(self, summary: Mapping[str, Any], frames: int) -> str | None:
        """A line the engine logs after its totals (None: nothing), e.g. how many distinct texts.

        :param summary: what :meth:`summarize` returned.
        :param frames: the accepted frames it covers (earlier tries' included).
        """
        return None
