"""Kaleyra campaigns: OBD requests of at most 200 numbers (``voice.json`` by default, or ``voice.call``).

* Each frame is one OBD request on the ``obd`` base URL with ``campaign`` = the campaign name and
  ``custom`` = the frame key. ``voice.json`` answers with a call id per number and the group id;
  a message with ``{placeholders}`` (``{name}``, ``{number}``, recipient variables) is rendered per
  recipient (the shared renderer, :class:`~airflow_provider_voice.models.placeholders.CampaignText`)
  and sent as one ``call[]`` item per distinct text: unlike Velip and Octopush, a Kaleyra frame
  may hold recipients who hear different texts, so frames stay cut in source order (200 numbers).
  Each frame's result lists the digests of the texts it read (never the texts); the handle's
  ``extra["distinct_texts"]`` counts them (1 for a message without placeholders).
* Kaleyra documents no idempotency key and no lookup that works without the group id its answer
  carries: a frame whose answer is lost (timeout after sending, reset, 500/502/504, unreadable
  answer) **cannot be reconciled**. It is reported in doubt and not resent (unless the DAG author
  sets ``resend_in_doubt``). 429 and 503 are retried: Kaleyra did not act on them.
* ``scheduletime`` must be at least 15 minutes ahead (checked with one extra minute of margin for
  the time the send takes) and at most 60 days ahead; it is sent as EPOCH seconds.
* Status: ``voice.groupstatus`` per group: SENT = pending; COMPLETED/ANSWER = answered; NOANSWER
  = no answer; BUSY; FAILED/CONGESTION/CANCEL = failed; CHANUNAVAIL = bad number; DND/NOTALLOWED
  = blocked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from airflow_provider_voice.capabilities.campaign import CampaignBackend, CampaignChannel
from airflow_provider_voice.delivery import Frame, FrameResult, Reconciled
from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.campaign import (
    CALL_OUTCOMES,
    CampaignHandle,
    CampaignOptions,
    CampaignSpec,
    CampaignStatus,
)
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.models.placeholders import CampaignText, campaign_text, placeholders
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.transport import Flow, PagedFlow
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_obd import (
    KALEYRA_MAX_NUMBERS,
    KaleyraObdResult,
    kaleyra_number,
    kaleyra_schedule,
)
from airflow_provider_voice.vendors.kaleyra.outcomes import KALEYRA_OUTCOMES, kaleyra_key, kaleyra_records_flow

__all__ = [
    "KALEYRA_OUTCOMES",
    "KaleyraCampaignOptions",
    "KaleyraCampaigns",
]


class KaleyraCampaignOptions(CampaignOptions):
    """Kaleyra OBD options (``voice.json`` / ``voice.call``).

    :param method: ``voice.json`` (default: answers with call ids and a group id; supports a
        different message per number) or ``voice.call``.
    :param retries: new attempts when the first leg does not answer (0-2).
    :param campaign: Kaleyra campaign name (default: the campaign's name).
    :param delay: seconds before the calls start (0-900).
    :param meta: JSON metadata sent with every call.
    :param callback: URL called at the end of each call (``{obdid}``... placeholders).
    :param newgroup: ask Kaleyra for a separate group per request.
    :param frame_size: numbers per request (default and maximum 200).
    """

    vendor: ClassVar[str] = "kaleyra"
    method: Literal["voice.json", "voice.call"] = "voice.json"
    retries: int | None = Field(default=None, ge=0, le=2)
    campaign: str | None = None
    delay: int | None = Field(default=None, ge=0, le=900)
    meta: dict[str, Any] | None = None
    callback: str | None = None
    newgroup: bool | None = None
    frame_size: int | None = Field(default=None, ge=1, le=200)


SCHEDULE_MARGIN_SECONDS = 60.0


class KaleyraCampaignChannel(CampaignChannel[KaleyraCampaignOptions, KaleyraApi]):
    """Sends each frame as one ``voice.json`` (or ``voice.call``) request."""

    def __init__(self, backend: KaleyraCampaigns, spec: CampaignSpec, options: KaleyraCampaignOptions) -> None:
        super().__init__(backend, spec, options)
        #: the message, rendered per recipient when it has placeholders (voice.json only)
        self.text = campaign_text(spec.message, spec.audio)
        self.personalised = self.text.personalised

    @property
    def campaign(self) -> str:
        return self.options.campaign or self.spec.name

    async def send(self, frame: Frame[Recipient]) -> FrameResult:
        spec, options = self.spec, self.options
        # PhoneNumber objects: the request builder renders them as Kaleyra wants (kaleyra_numbers)
        numbers: list[Any] = [r.number for r in frame.items]
        texts = self.text.texts(frame.items)
        if options.method == "voice.call":
            result = await self.client.send(
                self.api.voice_call(
                    numbers,
                    play=spec.audio,
                    message=None if spec.audio else spec.message,
                    retries=options.retries,
                    campaign=self.campaign,
                    newgroup=options.newgroup,
                    scheduletime=spec.schedule,
                    delay=options.delay,
                    meta=options.meta,
                    custom=frame.key,
                    callback=options.callback,
                )
            )
        else:
            result = await self.client.send(
                self.api.voice_json(
                    self._items(frame, numbers),
                    play=spec.audio,
                    message=None if spec.audio or self.personalised else spec.message,
                    campaign=self.campaign,
                    scheduletime=spec.schedule,
                    callback=options.callback,
                    retries=options.retries,
                    delay=options.delay,
                )
            )
        answer = self._result(result, len(frame))
        answer.info.update(self.text.frame_info(texts, self.digest))
        return answer

    def _items(self, frame: Frame[Recipient], numbers: list[Any]) -> list[dict[str, Any]]:
        common: dict[str, Any] = {"custom": frame.key}
        if self.options.meta:
            common["meta"] = self.options.meta
        if not self.personalised:
            return [{"to": numbers, **common}]
        by_text: dict[str, list[Any]] = {}
        for recipient, number in zip(frame.items, numbers, strict=True):
            by_text.setdefault(str(self.text.for_recipient(recipient)), []).append(number)
        return [{"to": group, "message": text, **common} for text, group in by_text.items()]

    @staticmethod
    def _result(result: KaleyraObdResult, size: int) -> FrameResult:
        """Accepted = the calls Kaleyra listed; numbers it left out are counted as refused. An answer
        listing no call at all cannot say who will be called: it is malformed (the frame is in doubt)."""
        if not result.calls:
            raise MalformedResponseError(
                f"Kaleyra answered OK without listing any call for {size} numbers "
                f"(group_id={result.group_id or 'none'}): cannot tell who will be called",
                vendor="kaleyra",
                endpoint="voice.json",
            )
        refs = [result.group_id] if result.group_id else []
        accepted = min(len(result.calls), size)
        return FrameResult(accepted=accepted, rejected=size - accepted, refs=refs, info={"calls": len(result.calls)})

    async def reconcile(self, frame: Frame[Recipient]) -> Reconciled:
        return Reconciled.unknown(
            "Kaleyra has no idempotency key and no lookup without the group id of the lost answer"
        )

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        """``distinct_texts``: how many different texts the accepted frames read."""
        return CampaignText.summary(r.info for r in results)

    def summary_line(self, summary: Mapping[str, Any], frames: int) -> str | None:
        return self.text.summary_line(summary, frames)


class KaleyraCampaigns(CampaignBackend[KaleyraCampaignOptions, KaleyraApi]):
    """Kaleyra implementation of the campaign protocol (OBD ``voice.json`` / ``voice.call``, ``voice.groupstatus``).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor = "kaleyra"
    options_model = KaleyraCampaignOptions
    max_frame_size = KALEYRA_MAX_NUMBERS

    def check(self, spec: CampaignSpec, options: KaleyraCampaignOptions, now: float) -> None:
        if spec.schedule is not None:
            try:
                kaleyra_schedule(spec.schedule, now=now, margin=SCHEDULE_MARGIN_SECONDS)
            except ValidationError as exc:
                raise ValidationError("schedule", spec.schedule.isoformat(), exc.rule, vendor=self.vendor) from None
        names = placeholders(spec.message)
        if names and options.method == "voice.call" and not spec.audio:
            raise ValidationError(
                "message",
                spec.message,
                "per-recipient placeholders need vendor_options.method='voice.json'",
                vendor=self.vendor,
            )
        if spec.language or spec.voice:
            field = "language" if spec.language else "voice"
            raise ValidationError(
                field,
                spec.language or spec.voice,
                "Kaleyra reads messages in English with its own voice",
                vendor=self.vendor,
            )

    def validate_recipient(self, spec: CampaignSpec, recipient: Recipient, position: int) -> None:
        """Kaleyra's number format, and a personalised message must render (no missing variable)."""
        kaleyra_number(recipient.number, f"recipients[{position}].number")
        campaign_text(spec.message, spec.audio).for_recipient(recipient, where=f"recipients[{position}]")

    def channel(self, spec: CampaignSpec, options: KaleyraCampaignOptions) -> KaleyraCampaignChannel:
        return KaleyraCampaignChannel(self, spec, options)

    def outcome_key(self, number: Any) -> str:
        """Kaleyra lists calls by ``mobile``: 10 digits for India, country code + number elsewhere."""
        return kaleyra_key(number.kaleyra)

    def outcome_records_flow(self, handle: CampaignHandle) -> PagedFlow[CallRecord, int]:
        """Every call of the handle's OBD groups (``voice.groupstatus``, one request per group)."""
        return kaleyra_records_flow(self.api, list(handle.campaign_ids))

    def status_flow(self, handle: CampaignHandle, *, now: float) -> Flow[CampaignStatus]:
        api = self.api
        counts = dict.fromkeys(CALL_OUTCOMES, 0)
        vendor_counts: dict[str, int] = {}
        total = 0
        for group_id in handle.campaign_ids:
            result = yield api.voice_groupstatus(group_id)
            for call in result.calls:
                code = (call.status or "").strip().upper()
                vendor_counts[code] = vendor_counts.get(code, 0) + 1
                counts[KALEYRA_OUTCOMES.get(code, "pending")] += 1
                total += 1
        done = total - counts["pending"]
        finished = bool(handle.campaign_ids) and total > 0 and counts["pending"] == 0
        state = "finished" if finished else ("running" if done else ("scheduled" if handle.schedule else "running"))
        status = CampaignStatus(
            vendor=self.vendor,
            campaign_ids=list(handle.campaign_ids),
            state=state if handle.campaign_ids else "unknown",
            total=total,
            done=done,
            counts=counts,
            vendor_counts=vendor_counts,
            finished=finished,
        )
        status.message = status.summary()
        return status
