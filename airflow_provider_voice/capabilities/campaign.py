"""The campaign protocol every campaign-capable vendor implements, and what they share.

A backend is built from a :class:`~airflow_provider_voice.vendors.access.VendorAccess` (``hook.campaigns()``
-> ``Class(hook.access)``) and satisfies :class:`~airflow_provider_voice.capabilities.protocols.CampaignCapability`:

* :meth:`CampaignBackend.validate` — every vendor limit, before any request;
* :meth:`CampaignBackend.validate_recipient` — vendor rules for one number;
* :meth:`CampaignBackend.send_campaign` / :meth:`~CampaignBackend.asend_campaign` — frames sent
  through the generic :class:`~airflow_provider_voice.delivery.DeliveryEngine` (bounded
  concurrency, checkpoints, reconciliation, suppression) -> :class:`CampaignHandle`;
* :meth:`CampaignBackend.campaign_status` / :meth:`~CampaignBackend.acampaign_status` — one status
  flow (a generator of vendor calls) run by the sync or the async client -> :class:`CampaignStatus`;
* :meth:`CampaignBackend.cancel` — stop remote work where the vendor allows it
  (:attr:`~CampaignBackend.can_cancel`; Velip pauses, Octopush and Kaleyra cannot stop a campaign).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, ClassVar, Generic, TypeVar

import pydantic

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.capabilities.outcomes import OutcomeJoin, group_records
from airflow_provider_voice.delivery import (
    Channel,
    CheckpointKey,
    CheckpointStore,
    DeliveryEngine,
    DeliveryIncompleteError,
    DeliveryRejectedError,
    DeliveryReport,
    DeliverySupersededError,
    MemoryCheckpointStore,
    SuppressionList,
)
from airflow_provider_voice.delivery.engine import engine_options_arg
from airflow_provider_voice.delivery.pricing import PriceTable
from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError, VoiceProviderError
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignOptions, CampaignSpec, CampaignStatus
from airflow_provider_voice.models.outcomes import CallRecord, RecipientOutcome
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.transport import Flow, PagedFlow
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi, VendorClient

__all__ = [
    "CampaignBackend",
    "CampaignCancelError",
    "CampaignChannel",
    "CampaignIncompleteError",
    "CampaignOptions",
    "CampaignRejectedError",
    "CampaignSupersededError",
]

OptionsT = TypeVar("OptionsT", bound=CampaignOptions)
ApiT = TypeVar("ApiT", bound=VendorApi)
#: a schedule up to this many seconds in the past means "now" (a template rendered a moment ago)
SCHEDULE_PAST_TOLERANCE_SECONDS = 60.0


class CampaignIncompleteError(DeliveryIncompleteError):
    """The campaign was sent in part: some recipients are in doubt, could not be sent, or were refused.

    :attr:`handle` is the normalized result of what was accepted; :attr:`in_doubt` and
    :attr:`not_sent` list the numbers (E.164). The message is the delivery error's own.

    :param error: the delivery engine's error.
    :param handle: the campaign's normalized result.
    """

    def __init__(self, error: DeliveryIncompleteError, handle: CampaignHandle) -> None:
        self.__dict__.update(error.__dict__)
        VoiceProviderError.__init__(self, error.message, vendor=handle.vendor)
        self.handle = handle

    @classmethod
    def wrap(cls, error: DeliveryIncompleteError, handle: CampaignHandle) -> CampaignIncompleteError:
        """The campaign error of the same kind as ``error`` (incomplete, rejected or superseded)."""
        if isinstance(error, DeliveryRejectedError):
            return CampaignRejectedError(error, handle)
        if isinstance(error, DeliverySupersededError):
            return CampaignSupersededError(error, handle)
        return cls(error, handle)


class CampaignRejectedError(CampaignIncompleteError, DeliveryRejectedError):
    """The vendor accepted none of the recipients, or refused more than ``max_rejected_share``."""


class CampaignSupersededError(CampaignIncompleteError, DeliverySupersededError):
    """A newer try of the task claimed the campaign's delivery while this one was sending."""


class CampaignCancelError(VoiceProviderError):
    """:meth:`CampaignBackend.cancel` could not stop every campaign of the handle (each one was tried).

    :param vendor: the vendor.
    :param cancelled: the vendor ids that were stopped.
    :param failed: vendor id -> the error that kept it running (or why it was not tried).
    """

    def __init__(self, vendor: str, cancelled: list[str], failed: dict[str, BaseException | str]) -> None:
        self.cancelled = list(cancelled)
        self.failed = dict(failed)
        detail = "; ".join(
            f"{ref}: {type(why).__name__}: {why}" if isinstance(why, BaseException) else f"{ref}: {why}"
            for ref, why in self.failed.items()
        )
        stopped = f"; stopped: {', '.join(self.cancelled)}" if self.cancelled else ""
        super().__init__(
            f"could not stop {len(self.failed)} of {len(self.failed) + len(self.cancelled)} campaigns "
            f"(they may keep running): {detail}{stopped}",
            vendor=vendor,
        )


class CampaignChannel(Channel[Recipient], Generic[OptionsT, ApiT]):
    """A campaign's delivery channel: holds the spec, the options and an async client opened in
    the engine's event loop.

    :param backend: the vendor backend (gives the API and the clients).
    :param spec: the campaign.
    :param options: the vendor options, validated.
    """

    def __init__(self, backend: CampaignBackend[OptionsT, ApiT], spec: CampaignSpec, options: OptionsT) -> None:
        self.backend = backend
        self.spec = spec
        self.options = options
        self._client: AsyncVendorClient[ApiT] | None = None
        self.name = f"{backend.vendor} voice campaign {spec.name!r}"

    def item_key(self, item: Recipient) -> str:
        return str(item.number)

    async def start(self) -> None:
        self._client = self.backend.async_client()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def api(self) -> ApiT:
        """The vendor API (request builders)."""
        return self.backend.api

    @property
    def client(self) -> AsyncVendorClient[ApiT]:
        """The async client opened by :meth:`start`."""
        if self._client is None:
            raise RuntimeError("channel not started")
        return self._client


class CampaignBackend(VendorCapability[ApiT], ABC, Generic[OptionsT, ApiT]):
    """A vendor's implementation of the campaign protocol. Built as ``Class(access)``.

    :param access: the vendor API and its clients (:class:`~airflow_provider_voice.vendors.access.VendorAccess`).
    """

    vendor: ClassVar[str]
    #: the vendor's options model (set on the class; not a ClassVar, which could not name ``OptionsT``)
    options_model: type[OptionsT]
    #: the vendor's largest (and default) frame
    max_frame_size: ClassVar[int]
    #: True when :meth:`campaign_status` reports real per-call outcomes
    reports_outcomes: ClassVar[bool] = True
    #: True when :meth:`cancel` can stop an accepted campaign (False: it raises CapabilityNotSupportedError)
    can_cancel: ClassVar[bool] = False
    #: what :meth:`cancel` does to a campaign, and how to undo it (for logs and errors)
    cancel_note: ClassVar[str] = ""

    # -- building blocks ----------------------------------------------------------------------
    def sync_client(self) -> VendorClient[ApiT]:
        """A new blocking client with its own connections: safe to use from another thread while the
        shared client is busy (``on_kill`` runs beside ``execute``). Close it after use."""
        return self.access.new_client()

    def options(self, spec: CampaignSpec) -> OptionsT:
        """``spec.vendor_options`` as this vendor's typed options; errors name ``vendor_options.<field>``."""
        try:
            return self.options_model.model_validate(spec.vendor_options)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            rule = first.get("msg", "invalid")
            if first.get("type") == "extra_forbidden":
                allowed = ", ".join(sorted(self.options_model.model_fields))
                rule = f"unknown {self.vendor} option (allowed: {allowed})"
            raise ValidationError(f"vendor_options.{where}", first.get("input"), rule, vendor=self.vendor) from None

    def frame_size(self, options: OptionsT) -> int:
        return min(options.frame_size or self.max_frame_size, self.max_frame_size)

    def validate(self, spec: CampaignSpec, *, now: float | None = None) -> OptionsT:
        """Check ``spec`` against this vendor's rules (raises :class:`ValidationError`); returns the options.

        Every vendor: a message or an audio reference that is not blank (a template that renders
        to blank would be a silent call), and a schedule that is not in the past (a past start
        would call at once; up to :data:`SCHEDULE_PAST_TOLERANCE_SECONDS` late counts as now)."""
        if spec.audio is not None and not spec.audio.strip():
            raise ValidationError("audio", spec.audio, "the audio reference is blank")
        if spec.message is not None and not spec.message.strip():
            raise ValidationError("message", spec.message, "the message is blank (did its template render to nothing?)")
        if not (spec.message or spec.audio):
            raise ValidationError(
                "message", spec.message, "give the text to read (message) or an audio reference (audio)"
            )
        current = time.time() if now is None else now
        if spec.schedule is not None and spec.schedule.timestamp() < current - SCHEDULE_PAST_TOLERANCE_SECONDS:
            late = datetime.fromtimestamp(current, timezone.utc).isoformat(timespec="seconds")
            raise ValidationError(
                "schedule",
                spec.schedule.isoformat(),
                f"is in the past (now {late}): the calls would start at once; give a future time, or no schedule to call now",
                vendor=self.vendor,
            )
        options = self.options(spec)
        self.check(spec, options, current)
        return options

    @abstractmethod
    def check(self, spec: CampaignSpec, options: OptionsT, now: float) -> None:
        """Vendor rules for the spec (called by :meth:`validate`)."""

    def validate_recipient(self, spec: CampaignSpec, recipient: Recipient, position: int) -> None:
        """Vendor rules for one recipient (raise :class:`ValidationError`). Default: any valid E.164 number."""

    @abstractmethod
    def channel(self, spec: CampaignSpec, options: OptionsT) -> CampaignChannel[OptionsT, ApiT]:
        """The delivery channel sending this campaign's frames."""

    def handle(
        self,
        spec: CampaignSpec,
        report: DeliveryReport,
        *,
        conn_id: str | None,
        started_at: str,
        key: CheckpointKey | None = None,
    ) -> CampaignHandle:
        """The normalized result of a delivery (``key``: the checkpoint it was sent with)."""
        summary = dict(report.summary)
        return CampaignHandle(
            checkpoint=dataclasses.asdict(key) if key is not None else None,
            vendor=self.vendor,
            conn_id=conn_id,
            name=spec.name,
            campaign_ids=report.refs,
            accepted=report.accepted,
            rejected=report.rejected,
            suppressed=report.suppressed,
            in_doubt=len(report.in_doubt),
            resumed=report.resumed,
            cost=report.cost,
            estimated_duration=summary.pop("estimated_duration", None),
            started_at=started_at,
            schedule=spec.schedule.astimezone(timezone.utc).isoformat() if spec.schedule else None,
            extra={k: v for k, v in summary.items() if v is not None},
        )

    # -- sending ------------------------------------------------------------------------------
    async def asend_campaign(
        self,
        spec: CampaignSpec,
        recipients: Iterable[Recipient],
        *,
        key: CheckpointKey,
        store: CheckpointStore | None = None,
        concurrency: int = 8,
        suppression: SuppressionList | None = None,
        resend_in_doubt: bool = False,
        total: int | None = None,
        engine_options: dict[str, Any] | None = None,
        on_engine: Callable[[DeliveryEngine[Recipient]], None] | None = None,
    ) -> CampaignHandle:
        """Send the campaign (see :meth:`send_campaign`; the same parameters)."""
        options = self.validate(spec)
        channel = self.channel(spec, options)
        channel.frame_size = self.frame_size(options)
        engine: DeliveryEngine[Recipient] = DeliveryEngine(
            channel,
            store=store if store is not None else MemoryCheckpointStore(),
            key=key,
            concurrency=concurrency,
            suppression=suppression,
            resend_in_doubt=resend_in_doubt,
            total=total,
            label=channel.name,
            **engine_options_arg(engine_options),
        )
        if on_engine is not None:  # the caller keeps the engine (to stop it from on_kill)
            on_engine(engine)
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        conn_id = self.access.conn_id
        try:
            report = await engine.run(recipients)
        except DeliveryIncompleteError as exc:
            raise CampaignIncompleteError.wrap(
                exc, self.handle(spec, exc.report, conn_id=conn_id, started_at=started_at, key=key)
            ) from exc.__cause__
        return self.handle(spec, report, conn_id=conn_id, started_at=started_at, key=key)

    def send_campaign(
        self,
        spec: CampaignSpec,
        recipients: Iterable[Recipient],
        *,
        key: CheckpointKey,
        store: CheckpointStore | None = None,
        concurrency: int = 8,
        suppression: SuppressionList | None = None,
        resend_in_doubt: bool = False,
        total: int | None = None,
        engine_options: dict[str, Any] | None = None,
        on_engine: Callable[[DeliveryEngine[Recipient]], None] | None = None,
    ) -> CampaignHandle:
        """Send ``spec`` to ``recipients`` in frames; exactly once per checkpoint ``key``.

        :param spec: the campaign.
        :param recipients: the validated recipients.
        :param key: the task instance (:class:`CheckpointKey`); every try of a task uses the same.
        :param store: where checkpoints live (default: in memory, i.e. no protection across processes).
        :param concurrency: frames in flight.
        :param suppression: numbers to skip.
        :param resend_in_doubt: resend frames whose fate the vendor cannot tell (may call twice).
        :param total: expected recipient count (progress lines).
        :param engine_options: more :class:`DeliveryEngine` arguments (backoff, reconcile delay...).
        :param on_engine: called with the delivery engine before it starts (the caller may stop it, e.g. from ``on_kill``).
        :returns: the :class:`CampaignHandle`. Raises :class:`CampaignIncompleteError` when
            recipients are in doubt or could not be sent.
        """
        return asyncio.run(
            self.asend_campaign(
                spec,
                recipients,
                key=key,
                store=store,
                concurrency=concurrency,
                suppression=suppression,
                resend_in_doubt=resend_in_doubt,
                total=total,
                engine_options=engine_options,
                on_engine=on_engine,
            )
        )

    # -- contact windows ---------------------------------------------------------------------
    #: whether :meth:`window_spec` makes the vendor itself stop calling at a window's end (the
    #: operator then sends each window's recipients as their own campaign)
    vendor_windows: ClassVar[bool] = False

    def window_spec(self, spec: CampaignSpec, *, until: float | None) -> CampaignSpec:
        """``spec`` for recipients whose contact window closes at ``until`` (POSIX; None: no end): a vendor that can stop
        dialing at a given time gets it in its options (Velip ``time_end``). Default: ``spec`` (the
        provider hands recipients to the vendor only while their window is open)."""
        return spec

    # -- dry run ------------------------------------------------------------------------------
    def plan_frames(
        self, spec: CampaignSpec, recipients: Iterable[Recipient], *, suppression: SuppressionList | None = None
    ) -> dict[str, Any]:
        """What sending ``spec`` to ``recipients`` would take, without a request: ``recipients`` (after
        the suppression list), ``suppressed``, ``frames`` (at least: the engine may cut a frame early
        to bound memory), ``distinct_texts`` and ``by_country`` (recipients per ISO region)."""
        options = self.validate(spec)
        channel = self.channel(spec, options)
        size = max(1, int(self.frame_size(options)))
        groups: dict[bytes | None, int] = {}
        countries: dict[str, int] = {}
        suppressed = 0
        for recipient in recipients:
            if suppression is not None and channel.suppression_key(recipient) in suppression:
                suppressed += 1
                continue
            group = channel.frame_group(recipient)
            digest = None if group is None else hashlib.blake2b(group.encode(), digest_size=8).digest()
            groups[digest] = groups.get(digest, 0) + 1
            region = recipient.number.region or "ZZ"
            countries[region] = countries.get(region, 0) + 1
        return {
            "recipients": sum(groups.values()), "suppressed": suppressed,
            "frames": sum(-(-count // size) for count in groups.values()),
            "distinct_texts": max(1, len(groups)) if groups else 0, "by_country": countries,
        }  # fmt: skip

    def estimate_cost(
        self,
        spec: CampaignSpec,
        recipients: Iterable[Recipient],
        *,
        by_country: dict[str, int],
        prices: PriceTable | None,
        suppression: SuppressionList | None = None,
    ) -> dict[str, Any]:
        """The estimated cost of sending ``spec`` to ``recipients`` (``by_country``: from :meth:`plan_frames`),
        from the price table: ``total`` (None when some recipient has no price: never counted as free),
        ``currency``, ``by_country``, ``unpriced``, ``source``. A vendor that can price a send
        itself overrides this (Octopush ``simulation_mode``)."""
        if prices is None:
            return {"total": None, "currency": None, "source": "none", "why": "no price table ([voice] price_table)"}
        estimate = prices.estimate(self.vendor, "voice", by_country)
        return {**estimate.model_dump(mode="json"), "source": "price_table", "why": estimate.summary()}

    # -- status ---------------------------------------------------------------------------------
    @abstractmethod
    def status_flow(self, handle: CampaignHandle, *, now: float) -> Flow[CampaignStatus]:
        """A flow (generator of vendor calls) computing the campaign's status."""

    def campaign_status(self, handle: CampaignHandle | dict[str, Any]) -> CampaignStatus:
        """The campaign's status, with the shared blocking client."""
        handle = CampaignHandle.model_validate(handle)
        return self.access.client().run(self.status_flow(handle, now=time.time()))

    async def acampaign_status(
        self, handle: CampaignHandle | dict[str, Any], client: AsyncVendorClient[VendorApi] | None = None
    ) -> CampaignStatus:
        """The campaign's status with an async client (triggers); a new client is opened when none is given."""
        handle = CampaignHandle.model_validate(handle)
        own = client is None
        client = client or self.async_client()
        try:
            return await client.run(self.status_flow(handle, now=time.time()))
        finally:
            if own:
                await client.aclose()

    # -- outcomes -------------------------------------------------------------------------------
    def outcome_key(self, number: PhoneNumber) -> str:
        """The key this vendor's call records use for ``number`` (default: the E.164 digits)."""
        return number.e164.lstrip("+")

    def outcome_records_flow(self, handle: CampaignHandle) -> PagedFlow[CallRecord, int]:
        """A flow emitting the vendor's per-call records of ``handle`` (:class:`CallRecord`, page by page)."""
        raise CapabilityNotSupportedError(f"{self.vendor} reports no per-call outcomes", vendor=self.vendor)

    def no_record_detail(self, handle: CampaignHandle) -> str:
        """What an outcome table says of an accepted recipient the vendor has not reported yet."""
        return "accepted; the vendor reports no call for this number yet"

    def collect_outcomes(
        self,
        handle: CampaignHandle | dict[str, Any],
        recipients: Iterable[Recipient],
        *,
        key: CheckpointKey,
        store: CheckpointStore,
        suppression: SuppressionList | None = None,
        round: int = 1,
        not_sent_detail: str | None = None,
    ) -> Iterator[RecipientOutcome]:
        """One :class:`RecipientOutcome` per recipient of the send ``handle`` (see
        :mod:`airflow_provider_voice.capabilities.outcomes`).

        The vendor's records are read first (all pages; one small record per call in memory),
        then the recipients are streamed and joined with the checkpoint of ``key`` (the send's).

        :param handle: the send's handle (its ``campaign_ids`` are read).
        :param recipients: the recipients of the send, in the order of the table to write.
        :param key: the send's checkpoint key.
        :param store: the send's checkpoint store.
        :param suppression: the send's suppression list (labels ``suppressed`` rows).
        :param round: the redial round written in the rows.
        :param not_sent_detail: the detail of the recipients never sent (a contact policy held them).
        """
        handle = CampaignHandle.model_validate(handle)
        client = self.access.client()
        records = group_records(client.iterate(self.outcome_records_flow(handle)))
        join = OutcomeJoin(
            key=key,
            store=store,
            records=records,
            outcome_key=self.outcome_key,
            vendor=self.vendor,
            conn_id=self.access.conn_id,
            round=round,
            suppression=suppression,
            no_record_detail=self.no_record_detail(handle),
            not_sent_detail=not_sent_detail or OutcomeJoin.not_sent_detail,
        )
        return join.outcomes(recipients)

    def cancel(self, handle: CampaignHandle | dict[str, Any], *, timeout: float | None = None) -> list[str]:
        """Stop the campaign's remaining calls where the vendor allows it (:attr:`can_cancel`).

        :param handle: the campaign (its ``campaign_ids`` are stopped).
        :param timeout: longest time for the whole cancel, in seconds (None: each call's own deadline).
        :returns: the vendor ids stopped. Raises :class:`CampaignCancelError` when some could not be
            stopped, and :class:`CapabilityNotSupportedError` when the vendor cannot stop a campaign.
        """
        raise CapabilityNotSupportedError(
            f"{self.vendor} offers no way to stop a campaign once accepted", vendor=self.vendor
        )

    def resume(self, handle: CampaignHandle | dict[str, Any], *, timeout: float | None = None) -> list[str]:
        """Resume campaigns :meth:`cancel` paused (only vendors that can cancel can resume)."""
        raise CapabilityNotSupportedError(f"{self.vendor} has no paused campaigns to resume", vendor=self.vendor)


def yield_nothing() -> Flow[None]:
    """A flow with no call (vendors without a status endpoint)."""
    return None
    yield  # pragma: no cover
