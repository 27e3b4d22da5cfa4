"""Velip campaigns: ``CreateCampaign`` per frame, reconciled by ``cp_ctid``, progress by ``GetCampaignsList``.

* One frame = one Velip campaign (default frame size 500,000: one campaign for the whole list).
  Destinations go as ``datajson`` up to ``upload_threshold`` (5,000) and as an uploaded CSV above.
  A frame after the first is named ``<name> #<n>`` (:func:`frame_name`: unique per frame and try).
* A Velip campaign reads one ``text``. A message with ``{placeholders}`` (``{name}``,
  ``{number}``, the recipient's variables; :class:`~airflow_provider_voice.models.placeholders.CampaignText`)
  is rendered per recipient and the frames are cut by text (``frame_group``): recipients who hear
  the same text share campaigns, each campaign's ``text`` is its recipients' text. So a list of
  people with different names is one campaign per distinct text (500 names: 500 campaigns).
  A recipient missing a variable fails validation (``recipients[<position>].variables``) before
  any request. Each frame's result carries the digest of its text (never the text); the handle's
  ``extra["distinct_texts"]`` counts them (1 for a message without placeholders).
* Each frame carries ``cp_ctid`` = the frame key, unique to this delivery, this try and this
  deployment (see :mod:`airflow_provider_voice.delivery.checkpoint`). Before creating a campaign
  the channel looks the key up (``GetCampaignsList(cp_ctid=...)``; ``lookup_before_create``,
  default on): a campaign with that key is this very frame, created by an attempt whose answer
  was lost, and is not created again. A frame in doubt (timeout, reset, 5xx) is looked up the
  same way: found -> accepted; not found -> sent again with the same ``cp_ctid``. Velip's error
  230 (an active campaign with the same name and date) counts as accepted only when that
  campaign carries this frame's ``cp_ctid``; another delivery's campaign (a forced resend after
  deleting the checkpoint, another deployment) leaves the 230 refusal standing: use another
  ``campaign_name`` to call the same people again the same day.
* Status: ``GetCampaignsList(cp_id=...)`` per campaign: ``cp_destinations``, ``cp_made``,
  ``cp_counts`` (OK, NA, EK, IK, CK, BK) and the state (scheduled, running, paused, finished).
* Cancel: ``ChangeCampaign(active=0)`` (pause) for every campaign of the handle, each one tried
  even when another fails, within an optional overall timeout (``on_kill`` uses it).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from airflow_provider_voice.capabilities.campaign import CampaignBackend, CampaignCancelError, CampaignChannel
from airflow_provider_voice.delivery import Frame, FrameResult, Reconciled
from airflow_provider_voice.delivery.checkpoint import FRAMES_PER_TRY_BITS
from airflow_provider_voice.errors import ValidationError, VendorRejectedError, VoiceProviderError
from airflow_provider_voice.models.campaign import (
    CALL_OUTCOMES,
    DATE_RE,
    TIME_RE,
    CampaignHandle,
    CampaignOptions,
    CampaignSpec,
    CampaignStatus,
)
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.models.placeholders import CampaignText, campaign_text
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.transport import Flow, PagedFlow
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.api_campaigns import VelipCampaign
from airflow_provider_voice.vendors.velip.outcomes import VELIP_OUTCOMES, velip_key, velip_records_flow

__all__ = [
    "VELIP_OUTCOMES",
    "VelipCampaignOptions",
    "VelipCampaigns",
]


class VelipCampaignOptions(CampaignOptions):
    """Velip ``CreateCampaign`` options.

    :param voice: TTS voice name (when the message is text).
    :param vel: calls per minute, 1-100 or ``"max"``.
    :param resends: new attempts for unanswered numbers (0-3).
    :param time_resends: minutes between attempts.
    :param date_end: last day (``YYYY-MM-DD``, Velip's time zone); default: the start day.
    :param time_start: daily window start ``HH:MM:SS``; default: the start time.
    :param time_end: daily window end ``HH:MM:SS``; default ``23:59:59``.
    :param rurl: per-call webhook URL (end of each call).
    :param frame_size: destinations per Velip campaign (default and maximum 500,000: one campaign;
        a smaller size creates one campaign per frame, named ``<name> #<n>``).
    :param upload_threshold: above this many destinations the list is uploaded as a CSV file
        (multipart) instead of ``datajson`` (default 5,000).
    :param extra_fields: recipient variable names sent as ``codcli``, ``extra1``..``extra3``
        (default: variables with those names).
    :param lookup_before_create: look each frame's ``cp_ctid`` up before ``CreateCampaign`` (one
        ``GetCampaignsList`` per campaign) so a frame whose first answer was lost is never created
        twice (default True). Keys are unique per try and deployment: a lost or deleted checkpoint
        is a new send.
    :param timezone: the zone Velip reads ``date_*``/``time_*`` in (your Velip account's zone;
        default ``America/Sao_Paulo``). The provider converts ``schedule`` into it and checks the
        window before sending.
    """

    vendor: ClassVar[str] = "velip"
    lookup_before_create: bool = True
    voice: str | None = None
    vel: int | Literal["max"] | None = None
    resends: int | None = Field(default=None, ge=0, le=3)
    time_resends: int | None = Field(default=None, ge=0, le=1440)
    date_end: str | None = None
    time_start: str | None = None
    time_end: str | None = None
    rurl: str | None = None
    timezone: str = "America/Sao_Paulo"
    upload_threshold: int = Field(default=5000, ge=0)
    extra_fields: dict[str, str] = Field(default_factory=dict)
    frame_size: int | None = Field(default=None, ge=1, le=500_000)

    @field_validator("vel")
    @classmethod
    def _vel(cls, value: Any) -> Any:
        if isinstance(value, int) and not 1 <= value <= 100:
            raise ValueError("vel is 1-100 calls per minute or 'max'")
        return value

    @field_validator("time_start", "time_end")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None and not TIME_RE.match(value):
            raise ValueError("time must be HH:MM:SS")
        return value

    @field_validator("date_end")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and not DATE_RE.match(value):
            raise ValueError("date must be YYYY-MM-DD")
        return value

    @field_validator("extra_fields")
    @classmethod
    def _extra(cls, value: dict[str, str]) -> dict[str, str]:
        bad = set(value) - {"codcli", "extra1", "extra2", "extra3"}
        if bad:
            raise ValueError(f"extra_fields keys are codcli, extra1, extra2, extra3 (got {sorted(bad)})")
        return value


MAX_NAME = 50
#: the shortest default window (start time to 23:59:59 of the start day) used as it is: a scheduled start with
#: less is refused, a start now with less runs until the end of the next day
MIN_DEFAULT_WINDOW_SECONDS = 3600


def _seconds(hhmmss: str) -> int:
    hours, minutes, seconds = (int(part) for part in hhmmss.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def frame_name(name: str, index: int) -> str:
    """The Velip campaign name of frame ``index``: the name itself, then ``<name> #2``, ``#3``...;
    frames of a later try (numbered from ``(try - 1) << 20``) are ``<name> #<try>.<n>``."""
    attempt, ordinal = (index >> FRAMES_PER_TRY_BITS) + 1, index & ((1 << FRAMES_PER_TRY_BITS) - 1)
    if index == 0:
        return name[:MAX_NAME]
    suffix = f" #{ordinal + 1}" if attempt == 1 else f" #{attempt}.{ordinal + 1}"
    return name[: MAX_NAME - len(suffix)] + suffix


class VelipCampaignChannel(CampaignChannel[VelipCampaignOptions, VelipApi]):
    """Sends each frame as one Velip campaign (``cp_ctid`` = frame key; ``text`` = the frame's text)."""

    def __init__(
        self, backend: VelipCampaigns, spec: CampaignSpec, options: VelipCampaignOptions, fields: dict[str, Any]
    ) -> None:
        super().__init__(backend, spec, options)
        self.fields = fields
        #: the message, rendered per recipient when it has placeholders
        self.text: CampaignText = campaign_text(spec.message, spec.audio)

    def frame_group(self, item: Recipient) -> str | None:
        """The text ``item`` hears when the message is personalised: one Velip campaign reads one text."""
        return self.text.group(item)

    def _rows(self, frame: Frame[Recipient]) -> list[dict[str, str]]:
        mapping = self.options.extra_fields
        rows = []
        for recipient in frame.items:
            row = {"number": recipient.number.velip}
            if recipient.name:
                row["name"] = recipient.name
            for column in ("codcli", "extra1", "extra2", "extra3"):
                value = recipient.variables.get(mapping.get(column, column))
                if value not in (None, ""):
                    row[column] = str(value)
            rows.append(row)
        return rows

    async def send(self, frame: Frame[Recipient]) -> FrameResult:
        if self.options.lookup_before_create:  # a campaign with this cp_ctid exists already: ours, never twice
            found = await self._lookup(frame.key)
            if found is not None:
                return self._result(found, frame)
        fields = self.fields
        if self.text.personalised:  # the frame's recipients all hear one text (frames are cut by text)
            fields = {**fields, "text": self.text.for_frame(frame.items)}
        rows = self._rows(frame)
        try:
            created = await self.client.send(
                self.api.create_campaign(
                    name=frame_name(self.spec.name, frame.index),
                    destinations=rows,
                    upload=len(rows) > self.options.upload_threshold,
                    cp_ctid=frame.key,
                    **fields,
                )
            )
        except VendorRejectedError as exc:
            if str(exc.vendor_code) == "230":  # same name and date: ours, from an earlier attempt?
                found = await self._lookup(frame.key)
                if found is not None:
                    return self._result(found, frame)
            raise
        accepted = len(frame) if created.cp_destinations is None else created.cp_destinations
        return FrameResult(accepted=accepted, refs=[created.cp_id], info=self._info(frame.key, frame))

    def _info(self, cp_ctid: str | None, frame: Frame[Recipient]) -> dict[str, Any]:
        return {"cp_ctid": cp_ctid, **self.text.frame_info(self.text.texts(frame.items), self.digest)}

    async def _lookup(self, cp_ctid: str) -> VelipCampaign | None:
        campaigns = await self.client.send(self.api.get_campaigns_list(cp_ctid=cp_ctid))
        return next((c for c in campaigns if c.cp_ctid == cp_ctid), None)

    def _result(self, campaign: VelipCampaign, frame: Frame[Recipient]) -> FrameResult:
        return FrameResult(
            accepted=campaign.cp_destinations, refs=[campaign.cp_id], info=self._info(campaign.cp_ctid, frame)
        )

    async def reconcile(self, frame: Frame[Recipient]) -> Reconciled:
        found = await self._lookup(frame.key)
        if found is None:
            return Reconciled.not_accepted(f"GetCampaignsList has no campaign with cp_ctid={frame.key}")
        return Reconciled.accepted(self._result(found, frame), f"GetCampaignsList found cp_id {found.cp_id}")

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        """``distinct_texts``: how many different texts the accepted campaigns read."""
        return CampaignText.summary(r.info for r in results)

    def summary_line(self, summary: Mapping[str, Any], frames: int) -> str | None:
        return self.text.summary_line(summary, frames)


class VelipCampaigns(CampaignBackend[VelipCampaignOptions, VelipApi]):
    """Velip implementation of the campaign protocol (``CreateCampaign`` / ``GetCampaignsList`` / ``ChangeCampaign``).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor = "velip"
    options_model = VelipCampaignOptions
    max_frame_size = 500_000
    can_cancel = True
    cancel_note = "paused with ChangeCampaign active=0 (ChangeCampaign active=1 resumes them)"

    vendor_windows: ClassVar[bool] = True

    def window_spec(self, spec: CampaignSpec, *, until: float | None) -> CampaignSpec:
        """Velip stops dialing at the window's end: ``time_end`` (and ``date_end``) in Velip's zone
        (``vendor_options.timezone``) are the earlier of ``until`` and the caller's own, on the start
        day (Velip's daily window cannot cross midnight: a window that ends on a later Velip day is cut
        at 23:59:59). A recipient Velip has not called by then is not called outside the window: its
        outcome stays pending (``PD``) in that campaign. ``until`` None (no end): ``spec`` unchanged."""
        if until is None:
            return spec
        options = self.options(spec)
        zone = self._zone(options)
        now = time.time()
        start = spec.schedule.timestamp() if spec.schedule and spec.schedule.timestamp() > now else now
        day = datetime.fromtimestamp(start, timezone.utc).astimezone(zone).date()
        end_local = datetime.fromtimestamp(until, timezone.utc).astimezone(zone)
        time_end = "23:59:59" if end_local.date() > day else end_local.strftime("%H:%M:%S")
        if options.time_end is not None and (options.date_end in (None, day.isoformat())):
            time_end = min(time_end, options.time_end)
        updates = {"time_end": time_end, "date_end": day.isoformat()}
        return spec.model_copy(update={"vendor_options": {**dict(spec.vendor_options or {}), **updates}})

    def _zone(self, options: VelipCampaignOptions) -> ZoneInfo:
        try:
            return ZoneInfo(options.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                "vendor_options.timezone", options.timezone, "an IANA time zone name", vendor=self.vendor
            ) from None

    def campaign_fields(self, spec: CampaignSpec, options: VelipCampaignOptions, now: float) -> dict[str, Any]:
        """``CreateCampaign`` fields shared by every frame (dates and times in Velip's zone).

        Velip calls each day from ``date_start`` to ``date_end`` between ``time_start`` and
        ``time_end`` (one window a day, in ``vendor_options.timezone``; it cannot cross midnight).
        Calls never start before the schedule: when the start day's window has closed by the
        scheduled time, calling starts the next day (``date_start`` + 1, if ``date_end`` allows);
        an explicit ``time_start`` before the scheduled time on the start day (Velip would call
        from ``time_start``) is refused. Also refused before anything is sent: an inverted or
        empty window, a window closed on a one-day campaign, and a *scheduled* default window (start
        time to 23:59:59 on the start day) shorter than :data:`MIN_DEFAULT_WINDOW_SECONDS`; each error
        says the window in Velip's zone and how to widen it. A campaign sent *now* (no future schedule,
        no window options) with less than that left of Velip's day runs for the rest of the day and all
        of the next (``time_start`` 00:00:00, ``date_end`` the next day) instead of being refused."""
        zone = self._zone(options)
        start = (
            spec.schedule
            if spec.schedule and spec.schedule.timestamp() > now
            else datetime.fromtimestamp(now, timezone.utc)
        )
        local = start.astimezone(zone)
        date_start = local.strftime("%Y-%m-%d")
        date_end = options.date_end or date_start
        if date_end < date_start:
            raise ValidationError(
                "vendor_options.date_end", date_end, f"on or after the start day {date_start}", vendor=self.vendor
            )
        time_start = options.time_start or local.strftime("%H:%M:%S")
        time_end = options.time_end or "23:59:59"
        where = f"{options.timezone} (Velip's zone)"
        if time_end <= time_start:
            raise ValidationError(
                "vendor_options.time_end",
                time_end,
                f"after time_start {time_start} ({where}): Velip's daily window cannot be empty or cross "
                "midnight; set time_start/time_end within one day and date_end for more days",
                vendor=self.vendor,
            )
        now_local = local.strftime("%H:%M:%S")
        scheduled = spec.schedule is not None and spec.schedule.timestamp() > now
        if now_local >= time_end:  # the start day's window is over by the start time
            if date_end == date_start:
                raise ValidationError(
                    "vendor_options.time_end",
                    time_end,
                    f"the window {time_start}-{time_end} on {date_start} ({where}) has closed by the start time "
                    f"{now_local}: nobody would be called; set date_end, a later time_end or a schedule",
                    vendor=self.vendor,
                )
            # calling starts the next day: never inside the start day's window, which lies before the schedule
            date_start = (local.date() + timedelta(days=1)).isoformat()
        elif scheduled and time_start < now_local:
            raise ValidationError(
                "vendor_options.time_start",
                time_start,
                f"is before the schedule's time {now_local} on {date_start} ({where}): Velip would start calling "
                f"at {time_start}, before the schedule; schedule at or before time_start, or omit time_start",
                vendor=self.vendor,
            )
        if options.time_end is None and options.date_end is None:
            opens = max(time_start, now_local)
            seconds = _seconds(time_end) - _seconds(opens)
            if seconds < MIN_DEFAULT_WINDOW_SECONDS and not scheduled and options.time_start is None:
                # "call now" late in Velip's evening: the rest of today and all of tomorrow (Velip's daily
                # window cannot cross midnight, so it opens at 00:00:00; today's part is open already)
                time_start = "00:00:00"
                date_end = (local.date() + timedelta(days=1)).isoformat()
            elif seconds < MIN_DEFAULT_WINDOW_SECONDS:
                raise ValidationError(
                    "schedule",
                    start.isoformat(),
                    f"starts at {now_local} on {date_start} in {where}: the default window "
                    f"({opens}-{time_end} that day) leaves only {seconds // 60} minutes to call; "
                    "set vendor_options.time_end and date_end (or schedule the campaign later)",
                    vendor=self.vendor,
                )
        return {
            "date_start": date_start,
            "date_end": date_end,
            "time_start": time_start,
            "time_end": time_end,
            "text": spec.message if not spec.audio else None,
            "voice": (options.voice or spec.voice) if not spec.audio else None,
            "content": spec.audio,
            "vel": options.vel,
            "resends": options.resends,
            "time_resends": options.time_resends,
            "rurl": options.rurl,
        }

    def check(self, spec: CampaignSpec, options: VelipCampaignOptions, now: float) -> None:
        campaign_text(spec.message, spec.audio)  # placeholders are plain names (rendered per recipient)
        if len(spec.name) > MAX_NAME:
            raise ValidationError(
                "name", spec.name, f"Velip campaign names have at most {MAX_NAME} characters", vendor=self.vendor
            )
        if spec.language:
            raise ValidationError(
                "language", spec.language, "Velip picks the language with the voice: set voice", vendor=self.vendor
            )
        self.campaign_fields(spec, options, now)

    def validate_recipient(self, spec: CampaignSpec, recipient: Recipient, position: int) -> None:
        """A personalised message must render for the recipient (no missing variable, not empty)."""
        campaign_text(spec.message, spec.audio).for_recipient(recipient, where=f"recipients[{position}]")

    def channel(self, spec: CampaignSpec, options: VelipCampaignOptions) -> VelipCampaignChannel:
        return VelipCampaignChannel(self, spec, options, self.campaign_fields(spec, options, time.time()))

    # -- status / cancel ------------------------------------------------------------------------
    def status_flow(self, handle: CampaignHandle, *, now: float) -> Flow[CampaignStatus]:
        api = self.api
        found: list[VelipCampaign] = []
        for cp_id in handle.campaign_ids:
            campaigns = yield api.get_campaigns_list(cp_id=cp_id)
            found.extend(c for c in campaigns if c.cp_id == cp_id)
        return combine_status(handle, found)

    def outcome_key(self, number: Any) -> str:
        """Velip lists calls by ``dest``: country + area + number, digits only."""
        return velip_key(number.velip)

    def outcome_records_flow(self, handle: CampaignHandle) -> PagedFlow[CallRecord, int]:
        """Every call of the handle's campaigns: ``GetCallStatus`` by ``cp_id``, 5,000 a page."""
        return velip_records_flow(self.api, list(handle.campaign_ids))

    def cancel(self, handle: CampaignHandle | Mapping[str, Any], *, timeout: float | None = None) -> list[str]:
        """Pause every campaign of ``handle`` (``ChangeCampaign active=0``; idempotent, so retried).

        Uses a client of its own (safe beside a busy shared client in another thread). Every campaign
        is tried even when another fails; with ``timeout``, each call's deadline is the time left
        and the campaigns not reached in time are not tried.

        :param handle: the campaign (its ``campaign_ids`` are Velip ``cp_id``).
        :param timeout: longest time for the whole cancel, in seconds (None: each call's own deadline).
        :returns: the ``cp_id`` paused. Raises :class:`CampaignCancelError` (carrying what was
            paused and why the others were not) when some could not be paused.
        """
        return self._set_active(handle, active=False, timeout=timeout)

    def resume(self, handle: CampaignHandle | Mapping[str, Any], *, timeout: float | None = None) -> list[str]:
        """Resume campaigns paused by :meth:`cancel` (``ChangeCampaign active=1``): what a retry of a
        killed task does first, so the people of a paused campaign are still called.

        :param handle: the campaign (its ``campaign_ids`` are Velip ``cp_id``).
        :param timeout: longest time for the whole resume, in seconds (None: each call's own deadline).
        :returns: the ``cp_id`` resumed; raises :class:`CampaignCancelError` naming those that were not.
        """
        return self._set_active(handle, active=True, timeout=timeout)

    def _set_active(
        self, handle: CampaignHandle | Mapping[str, Any], *, active: bool, timeout: float | None
    ) -> list[str]:
        handle = CampaignHandle.model_validate(handle)
        ends = None if timeout is None else time.monotonic() + timeout
        changed: list[str] = []
        failed: dict[str, BaseException | str] = {}
        with self.sync_client() as client:
            for cp_id in handle.campaign_ids:
                left = None if ends is None else ends - time.monotonic()
                if left is not None and left <= 0:
                    failed[cp_id] = f"not tried: the {timeout:g} s allowed ran out"
                    continue
                call = self.api.change_campaign(cp_id, active=active)
                try:
                    client.send(call if left is None else dataclasses.replace(call, deadline=left))
                except VoiceProviderError as exc:
                    failed[cp_id] = exc
                else:
                    changed.append(cp_id)
        if failed:
            raise CampaignCancelError(self.vendor, changed, failed)
        return changed


def combine_status(handle: CampaignHandle, campaigns: list[VelipCampaign]) -> CampaignStatus:
    """Sum the Velip campaigns of a handle into one :class:`CampaignStatus`."""
    counts = dict.fromkeys(CALL_OUTCOMES, 0)
    vendor_counts: dict[str, int] = {}
    total = done = 0
    states = []
    for campaign in campaigns:
        total += campaign.cp_destinations
        done += campaign.cp_made
        for code, n in (campaign.cp_counts or {}).items():
            vendor_counts[code] = vendor_counts.get(code, 0) + int(n)
            counts[VELIP_OUTCOMES.get(code, "failed")] += int(n)
        if not campaign.cp_counts:
            counts["answered"] += campaign.cp_answered
        state = campaign.status or ("paused" if not campaign.active else "running")
        if state == "running" and campaign.cp_made >= campaign.cp_destinations:
            state = "finished"
        states.append(state)
    counts["pending"] = max(0, total - done)
    missing = len(handle.campaign_ids) - len(campaigns)
    if not campaigns or missing:
        state = "unknown"
    elif "paused" in states:
        state = "paused"
    elif all(s == "finished" for s in states):
        state = "finished"
    elif all(s == "scheduled" for s in states):
        state = "scheduled"
    else:
        state = "running"
    status = CampaignStatus(
        vendor="velip",
        campaign_ids=list(handle.campaign_ids),
        state=state,
        total=total,
        done=done,
        counts=counts,
        vendor_counts=vendor_counts,
        finished=state == "finished",
    )
    status.message = status.summary() + (f"; {missing} campaign(s) not found" if missing else "")
    return status
