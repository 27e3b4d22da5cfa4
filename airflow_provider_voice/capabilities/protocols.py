"""Every capability protocol, in one place: what operators, sensors and triggers may ask of a vendor.

A vendor hook offers a capability through a typed method (``hook.campaigns()``, ``hook.sms()``,
``hook.blacklist()``, ``hook.click_to_call()``) returning an object that satisfies the protocol
below; a vendor without it raises :class:`~airflow_provider_voice.errors.CapabilityNotSupportedError`
naming the vendors that have it. Each vendor implements the protocols in its own folder
(``vendors/<vendor>/campaign.py``, ``sms.py``, ``blacklist.py``, ``click_to_call.py``), built from a
:class:`~airflow_provider_voice.vendors.access.VendorAccess` (API + client factory), never from the hook.
The shared part of a capability lives beside this module (``capabilities/campaign.py``...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from airflow_provider_voice.delivery import CheckpointKey, CheckpointStore, DeliveryEngine, SuppressionList
from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallStatus
from airflow_provider_voice.models.outcomes import CallRecord, RecipientOutcome
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi

if TYPE_CHECKING:
    from airflow_provider_voice.models.blacklist import BlacklistResult
    from airflow_provider_voice.models.campaign import CampaignHandle, CampaignOptions, CampaignSpec, CampaignStatus

__all__ = ["BlacklistCapability", "CampaignCapability", "ClickToCallCapability", "SentLookup", "SmsCapability"]


@runtime_checkable
class CampaignCapability(Protocol):
    """Voice campaigns (Velip, Octopush, Kaleyra): what the campaign operator, sensor and trigger use.

    The shared implementation is :class:`~airflow_provider_voice.capabilities.campaign.CampaignBackend`.
    """

    @property
    def vendor(self) -> str:
        """The vendor name."""

    @property
    def reports_outcomes(self) -> bool:
        """True when :meth:`campaign_status` reports real per-call outcomes (False: an estimate)."""

    @property
    def can_cancel(self) -> bool:
        """True when :meth:`cancel` can stop an accepted campaign."""

    @property
    def cancel_note(self) -> str:
        """What :meth:`cancel` does, and how to undo it."""

    def validate(self, spec: CampaignSpec, *, now: float | None = None) -> CampaignOptions:
        """Check ``spec`` against every vendor rule before any request (raises ``ValidationError``); the options."""

    def validate_recipient(self, spec: CampaignSpec, recipient: Recipient, position: int) -> None:
        """Vendor rules for one recipient (raises ``ValidationError``)."""

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
        """Send ``spec`` to ``recipients`` in frames, exactly once per checkpoint ``key``."""

    def campaign_status(self, handle: CampaignHandle | dict[str, Any]) -> CampaignStatus:
        """The campaign's status, with the blocking client."""

    async def acampaign_status(
        self, handle: CampaignHandle | dict[str, Any], client: AsyncVendorClient[VendorApi] | None = None
    ) -> CampaignStatus:
        """The campaign's status, with an asyncio client (triggers)."""

    def async_client(self) -> AsyncVendorClient[VendorApi]:
        """A new asyncio client on the vendor's API (close it with ``aclose``)."""

    def cancel(self, handle: CampaignHandle | dict[str, Any], *, timeout: float | None = None) -> list[str]:
        """Stop the campaign's remaining calls where the vendor allows it; the ids stopped."""

    def resume(self, handle: CampaignHandle | dict[str, Any], *, timeout: float | None = None) -> list[str]:
        """Resume the campaigns :meth:`cancel` paused; the ids resumed."""

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
        """One outcome per recipient of the send ``handle`` (checkpoint x the vendor's per-call records)."""


@dataclass(frozen=True)
class SentLookup:
    """What a vendor's message list says about one SMS (:meth:`SmsCapability.find_sent`).

    :param ids: ids of the matching outbound messages.
    :param listed_until: the time of the newest outbound message listed (None if none could be read).
    :param times: the vendor's time of each match (POSIX; None when unreadable), in the order of ``ids``.
    """

    ids: list[str]
    listed_until: float | None
    times: list[float | None] = field(default_factory=list)

    def split(self, since: float) -> tuple[list[str], list[str]]:
        """The matches stamped at or after ``since`` (whole seconds) and those before it or unstamped.

        :param since: POSIX time.
        """
        after: list[str] = []
        before: list[str] = []
        for index, message_id in enumerate(self.ids):
            when = self.times[index] if index < len(self.times) else None
            (after if when is not None and when >= math.floor(since) else before).append(message_id)
        return after, before


@runtime_checkable
class SmsCapability(Protocol):
    """SMS (TeleVoIPs, Velip), as the SMS operator and the delivery engine use it.

    :meth:`check_sender` validates (and normalizes) the sender before any message is sent;
    :meth:`message_call` is the request that texts ``number`` (its result is the vendor's message
    id; ``key`` is a stable per-recipient key, used as a correlation id where the vendor has one);
    :meth:`explain` turns a refusal into an error naming the documented causes; :meth:`lookup_call`
    lists messages sent between two POSIX times (None when the vendor has no such request) and
    :meth:`find_sent` finds the message to ``number`` with ``text`` in it: together they reconcile
    an SMS whose fate is unknown. The shared delivery is
    :class:`~airflow_provider_voice.capabilities.sms_delivery.SmsDeliveryChannel`.
    """

    @property
    def vendor(self) -> str:
        """The vendor name."""

    @property
    def default_region(self) -> str | None:
        """Region of numbers written without a country code."""

    def check_sender(self, sender: Any) -> str | None:
        """The checked sender (raises ``ValidationError`` when it cannot work)."""

    def message_call(self, number: PhoneNumber, text: str, *, sender: str | None, key: str) -> Call[str]:
        """The request that texts ``number``."""

    def explain(self, exc: Exception) -> Exception:
        """A vendor refusal as an error naming its documented causes."""

    def is_duplicate(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the vendor refusing a ``key`` it has seen (the message was sent before)."""

    def lookup_call(self, since: float, until: float) -> Call[object] | None:
        """The request listing messages sent between ``since`` and ``until`` (None: no such request)."""

    def find_sent(self, messages: Any, number: PhoneNumber, text: str, *, sender: str | None = None) -> SentLookup:
        """What ``messages`` (the answer of :meth:`lookup_call`) say about an SMS to ``number`` with ``text``."""

    def async_client(self) -> AsyncVendorClient[VendorApi]:
        """A new asyncio client on the vendor's API (close it with ``aclose``)."""

    def delivery_records(self, message_ids: Iterable[str]) -> Iterable[CallRecord]:
        """The delivery reports known for ``message_ids`` (keyed by message id; none when the vendor reports none)."""

    def no_record_detail(self) -> str:
        """What an outcome table says of a message sent without a delivery report yet."""


@runtime_checkable
class BlacklistCapability(Protocol):
    """Blacklists and opt-outs (Kaleyra ``method=block``, TeleVoIPs ``POST /unsubscribe``).

    ``numbers`` are validated :class:`PhoneNumber` objects (the operator parses and deduplicates);
    ``owned_number`` is the account number an opt-out applies to (TeleVoIPs; vendors without the
    notion refuse it). Both methods return a :class:`BlacklistResult` (numbers changed and refused).
    """

    @property
    def vendor(self) -> str:
        """The vendor name."""

    @property
    def supports_unblock(self) -> bool:
        """True when :meth:`unblock` is possible."""

    def block(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult:
        """Block ``numbers``."""

    def unblock(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult:
        """Unblock ``numbers``."""


@runtime_checkable
class ClickToCallCapability(Protocol):
    """Click-to-call (Kaleyra ``dial.click2call``, Velip ``MakeTTSCall`` type 3).

    :meth:`connect` places the call (validating everything first); :meth:`status_call` is the
    request that reads its outcome (sent by the sync client in a sensor's poke, by the async client
    in the trigger) and :meth:`interpret` turns that answer into a :class:`ClickToCallStatus`.
    """

    @property
    def vendor(self) -> str:
        """The vendor name."""

    def connect(
        self,
        agent: Any,
        customer: Any,
        *,
        message: str | None = None,
        default_region: str | None = None,
        **options: Any,
    ) -> ClickToCallHandle:
        """Place the call."""

    def status_call(self, handle: ClickToCallHandle) -> Call[object]:
        """The request reading the call's outcome."""

    def interpret(self, handle: ClickToCallHandle, answer: Any) -> ClickToCallStatus:
        """The outcome in that request's answer."""
