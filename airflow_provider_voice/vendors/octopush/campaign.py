"""Octopush campaigns: Voice-SMS frames of at most 500 recipients, each with its own ``request_id``.

* Each frame is one ``POST /voice-campaign/send`` with ``request_id`` = the frame key (15
  letters/digits, at most 20 allowed). The HTTP core resends it after a timeout, reset or 5xx with
  the same ``request_id``; Octopush answers a repeat with 409 naming the ticket that already covers
  it, which counts as accepted. An in-doubt frame is reconciled the same way: sent again with its
  ``request_id`` (safe within Octopush's 24 h duplicate window).
* A request reads one ``text``. A message with ``{placeholders}`` (``{name}``, ``{number}``, the
  recipient's variables; :class:`~airflow_provider_voice.models.placeholders.CampaignText`) is
  rendered per recipient and the frames are cut by text (``frame_group``): recipients who hear the
  same text share requests (at most 500 each), each request's ``text`` is its recipients' text.
  1,000 recipients with 3 distinct texts are 3 x ceil(n_per_text / 500) requests; 500 different
  names are 500 requests. Every recipient's rendered text is checked (1-1224 characters; a missing
  variable) before any request, the error naming ``recipients[<position>]``. Each frame's result
  carries the digest of its text (never the text); the handle's ``extra["distinct_texts"]``
  counts them (1 for a message without placeholders).
* The answer (``ticket_number``, ``number_of_contacts``, ``total_cost``, ``estimated_duration``,
  ``residual_credit``) is summed across frames: ids = tickets, accepted = contacts, cost = total,
  ``estimated_duration`` = the largest, ``residual_credit`` = the lowest seen.
* Status: Octopush has **no polling endpoint** for voice delivery; its delivery reports are webhooks.
  When the connection receives them (``webhook_auth`` set, Octopush's report URL pointed at
  ``/voice-webhooks/<conn_id>/deliveries?token=<token>``), the status **counts the reports** stored for
  the campaign's tickets (``message_id`` = the ticket): per-outcome counts, ``done`` = recipients
  with a report, finished when every accepted recipient has one (``estimated=False``). A recipient
  still without a report :data:`REPORT_GRACE_SECONDS` after the estimated end is counted
  ``pending`` and the campaign is reported finished with a message saying how many reports are
  missing. Without webhooks the status is an *estimate*: the campaign is reported finished once
  ``started_at`` (or the schedule) + ``estimated_duration`` has passed — a lower bound on the real
  end — with no per-outcome counts (``estimated=True``, labelled so in every summary).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from airflow_provider_voice.capabilities.campaign import CampaignBackend, CampaignChannel, yield_nothing
from airflow_provider_voice.delivery import (
    CheckpointKey,
    Fate,
    Frame,
    FrameResult,
    MemoryCheckpointStore,
    Reconciled,
    SuppressionList,
)
from airflow_provider_voice.delivery.event_store import EventStore, configured_event_store, report_person
from airflow_provider_voice.delivery.pricing import PriceTable
from airflow_provider_voice.errors import ValidationError, VendorRejectedError
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignOptions, CampaignSpec, CampaignStatus
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.models.placeholders import CampaignText, campaign_text
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.transport import Emit, Flow, PagedFlow
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.octopush.api_campaigns import (
    OCTOPUSH_MAX_RECIPIENTS,
    OctopushVoiceTicket,
    check_sender,
    check_text,
    check_voice_gender,
    check_voice_language,
    duplicate_ticket,
)
from airflow_provider_voice.vendors.octopush.outcomes import octopush_records_flow

__all__ = ["OctopushCampaignOptions", "OctopushCampaigns"]


class OctopushCampaignOptions(CampaignOptions):
    """Octopush Voice-SMS options (every field of the spec).

    :param sender: 3-11 letters or digits (if the account allows a sender).
    :param purpose: ``alert`` (transactional) or ``wholesale`` (marketing).
    :param voice_gender: ``male`` or ``female``.
    :param voice_language: one of the spec's 13 languages (``fr-FR``, ``en-US``...).
    :param auto_delete_optout_contacts: skip contacts who opted out.
    :param get_back_pressed_keys: report the keys people press.
    :param simulation_mode: Octopush validates and answers with a fake result, nothing is sent.
    :param params: recipient variable names sent as ``param1``..``param5`` (default: variables
        with those names).
    :param frame_size: recipients per request (default and maximum 500).
    """

    vendor: ClassVar[str] = "octopush"
    sender: str | None = None
    purpose: Literal["alert", "wholesale"] = "alert"
    voice_gender: Literal["male", "female"] | None = None
    voice_language: str | None = None
    auto_delete_optout_contacts: bool | None = None
    get_back_pressed_keys: bool | None = None
    simulation_mode: bool | None = None
    params: dict[str, str] = Field(default_factory=dict)
    frame_size: int | None = Field(default=None, ge=1, le=500)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, str]) -> dict[str, str]:
        bad = set(value) - {f"param{i}" for i in range(1, 6)}
        if bad:
            raise ValueError(f"params keys are param1..param5 (got {sorted(bad)})")
        return value


ESTIMATE_NOTE = (
    "Octopush has no status endpoint: 'finished' is estimated from estimated_duration (a lower bound); "
    "per-call outcomes come from delivery-report webhooks"
)


class OctopushCampaignChannel(CampaignChannel[OctopushCampaignOptions, OctopushApi]):
    """Sends each frame as one Voice-SMS request (``request_id`` = frame key; ``text`` = the frame's text)."""

    def __init__(self, backend: OctopushCampaigns, spec: CampaignSpec, options: OctopushCampaignOptions) -> None:
        super().__init__(backend, spec, options)
        #: the message, rendered per recipient when it has placeholders
        self.text: CampaignText = campaign_text(spec.message, spec.audio)

    def frame_group(self, item: Recipient) -> str | None:
        """The text ``item`` hears when the message is personalised: one request reads one text."""
        return self.text.group(item)

    @property
    def grouped(self) -> bool:
        """Frames are cut by text only when the message is personalised."""
        return self.text.personalised

    def _payload(self, frame: Frame[Recipient]) -> dict[str, Any]:
        spec, options = self.spec, self.options
        return {
            "text": self.text.for_frame(frame.items) if self.text.personalised else spec.message,
            "sender": options.sender,
            "send_at": spec.schedule,
            "purpose": options.purpose,
            "voice_gender": options.voice_gender or (spec.voice if spec.voice in ("male", "female") else None),
            "voice_language": options.voice_language or spec.language,
            "auto_delete_optout_contacts": options.auto_delete_optout_contacts,
            "get_back_pressed_keys": options.get_back_pressed_keys,
            "simulation_mode": options.simulation_mode,
            "params": options.params or None,
        }

    async def send(self, frame: Frame[Recipient]) -> FrameResult:
        payload = self._payload(frame)
        try:
            ticket = await self.client.send(
                self.api.send_voice_sms(recipients=frame.items, request_id=frame.key, encode_body=True, **payload)
            )
        except VendorRejectedError as exc:
            duplicate = duplicate_ticket(exc)
            if duplicate is None:
                raise
            ticket = duplicate
        result = self._result(ticket, len(frame))
        result.info.update(self.text.frame_info([payload["text"]], self.digest))
        return result

    @staticmethod
    def _result(ticket: OctopushVoiceTicket, size: int) -> FrameResult:
        info: dict[str, Any] = {}
        if ticket.estimated_duration is not None:
            info["estimated_duration"] = ticket.estimated_duration
        if ticket.residual_credit is not None:
            info["residual_credit"] = ticket.residual_credit
        if ticket.duplicate:
            info["duplicate"] = True
        # a 409 repeat names the first ticket only: that ticket covered this frame; otherwise Octopush's count
        accepted = size if ticket.duplicate else ticket.number_of_contacts
        return FrameResult(
            accepted=accepted,
            refs=[ticket.ticket_number] if ticket.ticket_number else [],
            cost=ticket.total_cost,
            info=info,
        )

    async def reconcile(self, frame: Frame[Recipient]) -> Reconciled:
        """Send the frame again with its ``request_id``: Octopush either accepts it now (it had not
        before) or answers 409 with the ticket that already covers it."""
        try:
            result = await self.send(frame)
        except Exception as exc:
            fate, stop = self.classify(exc)
            if fate is Fate.REJECTED and not stop:
                return Reconciled.not_accepted(f"resend refused: {exc}")
            return Reconciled.unknown(f"resend with the same request_id failed: {exc}", ask_again=not stop)
        return Reconciled.accepted(result, "resent with the same request_id")

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        durations = [r.info["estimated_duration"] for r in results if "estimated_duration" in r.info]
        credits = [r.info["residual_credit"] for r in results if "residual_credit" in r.info]
        return {
            "tickets": sum(1 for r in results if r.refs),
            "estimated_duration": max(durations) if durations else None,
            "residual_credit": min(credits) if credits else None,
            "duplicate_frames": sum(1 for r in results if r.info.get("duplicate")),
            **CampaignText.summary(r.info for r in results),
        }

    def summary_line(self, summary: Mapping[str, Any], frames: int) -> str | None:
        return self.text.summary_line(summary, frames)


class OctopushCampaigns(CampaignBackend[OctopushCampaignOptions, OctopushApi]):
    """Octopush implementation of the campaign protocol (Voice-SMS; status from delivery reports, else an estimate).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor = "octopush"
    options_model = OctopushCampaignOptions
    max_frame_size = OCTOPUSH_MAX_RECIPIENTS

    @property
    def reports_outcomes(self) -> bool:  # type: ignore[override]  # a property here: it depends on the connection
        """True when the connection receives Octopush's delivery reports (``webhook_auth`` is set)."""
        return bool(self.access.settings.get("webhook_auth")) and bool(self.access.conn_id)

    async def acampaign_status(self, handle: CampaignHandle | dict[str, Any], client: Any = None) -> CampaignStatus:
        """The status without any vendor call: the store is read in a thread, off the event loop."""
        return await asyncio.to_thread(self.campaign_status, handle)

    def check(self, spec: CampaignSpec, options: OctopushCampaignOptions, now: float) -> None:
        if spec.audio:
            raise ValidationError(
                "audio", spec.audio, "Octopush Voice-SMS reads text only: give message", vendor=self.vendor
            )
        # the request's own rules (api_campaigns), checked now under the campaign's argument names;
        # a personalised message is checked once rendered, per recipient (validate_recipient)
        if not campaign_text(spec.message).personalised:
            check_text(spec.message or "", "message")
        check_sender(options.sender, "vendor_options.sender")
        language_field = "vendor_options.voice_language" if options.voice_language else "language"
        check_voice_language(options.voice_language or spec.language, language_field)
        check_voice_gender(spec.voice, "voice")

    def validate_recipient(self, spec: CampaignSpec, recipient: Recipient, position: int) -> None:
        """A personalised message must render for the recipient (no missing variable) to 1-1224
        characters (:func:`check_text`); the error names ``recipients[<position>]``, never the text."""
        text = campaign_text(spec.message)
        if not text.personalised:
            return
        where = f"recipients[{position}]"
        rendered = str(text.for_recipient(recipient, where=where))
        try:
            check_text(rendered, f"{where}.message")
        except ValidationError as exc:  # the text may hold the person's name or number: show its length
            shown = f"<the message for {where} once filled: {len(rendered)} characters>"
            raise ValidationError(exc.field, shown, exc.rule, vendor=self.vendor) from None

    def channel(self, spec: CampaignSpec, options: OctopushCampaignOptions) -> OctopushCampaignChannel:
        return OctopushCampaignChannel(self, spec, options)

    def estimate_cost(
        self,
        spec: CampaignSpec,
        recipients: Iterable[Recipient],
        *,
        by_country: dict[str, int],
        prices: PriceTable | None,
        suppression: SuppressionList | None = None,
    ) -> dict[str, Any]:
        """Octopush prices a send itself: every frame is sent with ``simulation_mode`` (checked by
        Octopush, nobody called, nothing charged) and the answers' ``total_cost`` are added up — the
        vendor's own figure, not the price table's. Its requests count against the rate limit."""
        simulated = spec.model_copy(
            update={"vendor_options": {**dict(spec.vendor_options or {}), "simulation_mode": True}}
        )
        key = CheckpointKey("dry_run", "octopush_estimate", uuid.uuid4().hex, -1)
        handle = self.send_campaign(
            simulated, recipients, key=key, store=MemoryCheckpointStore(), suppression=suppression
        )
        return {
            "total": handle.cost, "currency": prices.currency_of(self.vendor) if prices is not None else None,
            "recipients_by_country": dict(by_country), "unpriced": {}, "source": "octopush simulation_mode",
            "requests": len(handle.campaign_ids),
            **({} if handle.cost is not None else {"why": "Octopush answered no total_cost"}),
        }  # fmt: skip

    def outcome_key(self, number: Any) -> str:
        """Delivery reports are indexed by a hash of the E.164 number (see ``report_person``)."""
        return report_person(str(number))

    def outcome_records_flow(self, handle: CampaignHandle) -> PagedFlow[CallRecord, int]:
        """The delivery reports stored for the handle's tickets (none without webhooks: no vendor call)."""
        if not self.reports_outcomes:
            return empty_records_flow()
        return octopush_records_flow(configured_event_store(), str(self.access.conn_id), list(handle.campaign_ids))

    def no_record_detail(self, handle: CampaignHandle) -> str:
        if not self.reports_outcomes:
            return (
                "accepted; Octopush reports outcomes only through delivery-report webhooks: set webhook_auth on "
                "the connection and point Octopush's delivery reports at the receiver (docs/events.md)"
            )
        return "accepted; no Octopush delivery report for this number yet"

    def status_flow(self, handle: CampaignHandle, *, now: float) -> Flow[CampaignStatus]:
        yield from yield_nothing()
        if self.reports_outcomes:
            return report_status(handle, now, configured_event_store(), str(self.access.conn_id))
        return estimate_status(handle, now)


#: how long after the estimated end a recipient without a delivery report stops being waited for
REPORT_GRACE_SECONDS = 1800.0
#: when one recipient got several reports, the one that counts (earliest in this list)
OUTCOME_PRECEDENCE = ("answered", "busy", "no_answer", "invalid_number", "blocked", "failed")


def _estimated_end(handle: CampaignHandle, now: float) -> float:
    starts = [datetime.fromisoformat(v).timestamp() for v in (handle.started_at, handle.schedule) if v]
    return (max(starts) if starts else now) + float(handle.estimated_duration or 0.0)


def report_status(handle: CampaignHandle, now: float, store: EventStore, conn_id: str) -> CampaignStatus:
    """The status of an Octopush send from the delivery reports stored for its tickets."""
    people = store.campaign_reports("octopush", conn_id, handle.campaign_ids)
    counts: dict[str, int] = {}
    unknown = 0
    for outcomes in people.values():
        outcome = next((o for o in OUTCOME_PRECEDENCE if o in outcomes), None)
        if outcome is None:  # only statuses this provider does not know: not a success
            unknown += 1
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    total = max(handle.accepted, len(people))
    done = len(people)
    missing = total - done
    overdue = now >= _estimated_end(handle, now) + REPORT_GRACE_SECONDS
    finished = missing <= 0 or overdue
    if missing > 0:
        counts["pending"] = missing
    status = CampaignStatus(
        vendor="octopush",
        campaign_ids=list(handle.campaign_ids),
        state="finished" if finished else "running",
        total=total,
        done=done,
        counts=counts,
        finished=finished,
        estimated=False,
    )
    note = "from Octopush delivery reports"
    if unknown:
        note += f"; {unknown} recipient(s) with only an undocumented status, counted failed"
    if finished and missing > 0:
        note += f"; {missing} recipient(s) still without a report {REPORT_GRACE_SECONDS / 60:.0f} min after the estimated end"
    status.message = f"{status.summary()}; {note}"
    return status


def estimate_status(handle: CampaignHandle, now: float) -> CampaignStatus:
    """The estimated status of an Octopush send (see the module docstring)."""
    starts = [datetime.fromisoformat(v).timestamp() for v in (handle.started_at, handle.schedule) if v]
    start = max(starts) if starts else now
    ends_at = _estimated_end(handle, now)
    finished = now >= ends_at
    total = handle.accepted
    if now < start:
        state = "scheduled"
    else:
        state = "finished" if finished else "running"
    status = CampaignStatus(
        vendor="octopush",
        campaign_ids=list(handle.campaign_ids),
        state=state,
        total=total,
        done=total if finished else 0,
        counts={"pending": 0 if finished else total},
        finished=finished,
        estimated=True,
    )
    remaining = max(0.0, ends_at - now)
    status.message = f"{status.summary()}; {ESTIMATE_NOTE}" + ("" if finished else f"; about {remaining:.0f} s to go")
    return status


def empty_records_flow() -> PagedFlow[CallRecord, int]:
    """A records flow without any record (a connection that receives no delivery reports)."""
    if False:  # pragma: no cover - makes this a generator
        yield Emit([])
    return 0
