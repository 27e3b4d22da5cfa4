"""SMS as a channel of the delivery engine: one recipient per frame, one request per message.

The engine (:mod:`airflow_provider_voice.delivery`) brings bounded concurrency, checkpoints (a
retried task does not text anyone twice), suppression and progress lines; this module brings the
vendor's request (through the SMS capability), the per-recipient text, the lookup of an SMS whose
fate is unknown, and a per-recipient outcome log for the results file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_voice.capabilities.protocols import SmsCapability
from airflow_provider_voice.capabilities.sms_text import SmsText
from airflow_provider_voice.delivery.channel import Channel, default_classify
from airflow_provider_voice.delivery.frames import Fate, Frame, FrameResult, Reconciled
from airflow_provider_voice.errors import VendorRejectedError, VoiceProviderError
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.redaction import get_logger, redact
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi

__all__ = ["LOOKUP_MARGIN_SECONDS", "SmsDeliveryChannel", "SmsOutcome"]

log = get_logger(__name__)
#: slack around the send time when listing messages to reconcile an in-doubt SMS
LOOKUP_MARGIN_SECONDS = 300.0
#: how far the vendor's clock may be behind ours when listing messages sent since a frame's intent
CLOCK_SKEW_SECONDS = 30.0
#: an earlier try's in-doubt SMS has no recorded send time: look this far back
EARLIER_TRY_LOOKBACK_SECONDS = 24 * 3600.0


@dataclass
class SmsOutcome:
    """What became of one recipient during this try: ``sent`` (with the vendor's message id),
    ``rejected`` (the vendor refused it, with the reason) or ``error`` (not sent / in doubt)."""

    number: str
    status: str
    message_id: str | None = None
    error: str | None = None
    vendor_code: str | None = None


class SmsDeliveryChannel(Channel[Recipient]):
    """Sends one SMS per frame through an SMS capability (:class:`~airflow_provider_voice.capabilities.protocols.SmsCapability`).

    :param sms: the capability (``hook.sms()``).
    :param text: the per-recipient text.
    :param sender: the checked sender (``sms.check_sender(...)``).
    :param abort_after_rejections: stop the whole delivery when this many messages in a row were
        refused before any was accepted (a sender the vendor does not accept fails every message;
        stopping early avoids a refusal per recipient). 0 disables it.
    """

    frame_size = 1
    unit = "messages"

    def __init__(
        self, sms: SmsCapability, text: SmsText, *, sender: str | None, abort_after_rejections: int = 10
    ) -> None:
        self.sms = sms
        self.text = text
        self.sender = sender
        self.name = f"{sms.vendor} SMS"
        self.abort_after_rejections = abort_after_rejections
        self.outcomes: dict[str, SmsOutcome] = {}
        self._client: AsyncVendorClient[VendorApi] | None = None
        self._sent_at: dict[int, float] = {}
        self._lookups: dict[int, int] = {}
        self._accepted = 0
        self._rejected_in_a_row = 0

    async def start(self) -> None:
        self._client = self.sms.async_client()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def client(self) -> AsyncVendorClient[VendorApi]:
        if self._client is None:  # pragma: no cover - the engine calls start() first
            raise RuntimeError("channel not started")
        return self._client

    async def send(self, frame: Frame[Recipient]) -> FrameResult:
        recipient = frame.items[0]
        number = str(recipient.number)
        content = self.text.render(recipient)
        call = self.sms.message_call(recipient.number, content, sender=self.sender, key=frame.key)
        self._sent_at.setdefault(frame.index, time.time())
        try:
            message_id = await self.client.send(call)
        except VoiceProviderError as exc:
            explained = self.sms.explain(exc)
            code = getattr(explained, "vendor_code", None)
            status = "rejected" if isinstance(explained, VendorRejectedError) else "error"
            self.outcomes[number] = SmsOutcome(number, status, error=redact(str(explained)), vendor_code=code)
            raise explained from None
        self.outcomes[number] = SmsOutcome(number, "sent", message_id=str(message_id))
        self._accepted += 1
        self._rejected_in_a_row = 0
        return FrameResult(accepted=1, refs=[str(message_id)])

    def classify(self, exc: BaseException) -> tuple[Fate, bool]:
        fate, stop = default_classify(exc)
        if fate is Fate.REJECTED:
            self._rejected_in_a_row += 1
            if (
                self.abort_after_rejections
                and not self._accepted
                and self._rejected_in_a_row >= self.abort_after_rejections
            ):
                log.error(
                    "%s: the first %d messages were all refused (%s); stopping: check the sender and the account",
                    self.name,
                    self._rejected_in_a_row,
                    redact(str(exc)),
                )
                stop = True
        return fate, stop

    async def reconcile(self, frame: Frame[Recipient]) -> Reconciled:
        """Look the message up (TeleVoIPs ``GET /messages``; see ``TeleVoipsSms``); Velip has no lookup: unknown.

        Only a match that can be nobody else's counts as sent; an empty or stale listing is never
        read as "not sent" (that would text the person twice)."""
        recipient = frame.items[0]
        content = self.text.render(recipient)
        now = time.time()
        started = frame.started if frame.started is not None else self._sent_at.get(frame.index)
        since = started - CLOCK_SKEW_SECONDS if started is not None else now - EARLIER_TRY_LOOKBACK_SECONDS
        call = self.sms.lookup_call(since, now + LOOKUP_MARGIN_SECONDS)
        if call is None:
            return Reconciled.unknown(f"{self.sms.vendor} documents no way to look an SMS up")
        messages = await self.client.send(call)
        lookup = self.sms.find_sent(messages, recipient.number, content, sender=self.sender)
        number = str(recipient.number)
        taken = {o.message_id for n, o in self.outcomes.items() if n != number and o.message_id}
        after, before = lookup.split(started if started is not None else since)
        candidates = [m for m in dict.fromkeys(after) if m not in taken]
        earlier = [m for m in dict.fromkeys(before) if m not in taken]
        if earlier and started is not None:
            return Reconciled.unknown(
                f"{len(earlier)} identical message(s) to this number stamped before this send started "
                "(another run?): cannot tell whether ours was sent"
            )
        if len(candidates) == 1:
            found = candidates[0]
            self.outcomes[number] = SmsOutcome(number, "sent", message_id=str(found))
            return Reconciled.accepted(FrameResult(accepted=1, refs=[str(found)]), "found in the vendor's message list")
        if len(candidates) > 1:
            return Reconciled.unknown(
                f"{len(candidates)} identical messages to this number since the send: cannot tell which is ours"
            )
        asked = self._lookups[frame.index] = self._lookups.get(frame.index, 0) + 1
        if asked < 2:  # give a message that is being processed a moment to be listed
            return Reconciled.unknown("not in the vendor's message list yet", ask_again=True)
        reference = math.floor(started if started is not None else now)  # the vendor stamps whole seconds
        if lookup.listed_until is not None and lookup.listed_until >= reference:
            return Reconciled.not_accepted("not in the vendor's message list, which shows messages sent since")
        return Reconciled.unknown("not in the vendor's message list, which does not reach the send time")

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        return {"messages": sum(r.accepted for r in results)}
