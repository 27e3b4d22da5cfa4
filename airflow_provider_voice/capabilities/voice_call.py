"""One voice call to one person: "call this number, say this text" (Velip ``MakeTTSCall`` type 0,
Kaleyra OBD ``voice.call`` with one number).

The protocol (:class:`VoiceCallCapability`) is what ``SendVoiceCallOperator``, its trigger and the
``VoiceCallNotifier`` use; :class:`VoiceCallBackend` is the shared part of the vendors'
implementations (``vendors/velip/voice_call.py``, ``vendors/kaleyra/voice_call.py``): every input
is checked before a request is built (:meth:`VoiceCallBackend.prepare`), and the request is built
without being sent (:meth:`VoiceCallBackend.call_request`), so a caller bounds its time (a
notifier's budget) or records its intent (the operator's checkpoint) before sending it.

**A call is never placed twice by a resend.** Neither vendor documents an idempotency key for a
call; the request is not idempotent, so the HTTP core never resends it after it may have left. The
caller gives every call a stable ``key``: Velip sends it (hashed to 15 letters/digits) as ``ctid``,
which makes a repeat refused with code 220 on accounts with unique ctids (:meth:`is_duplicate`)
and lets a call whose answer was lost be found again (:meth:`lookup_call`, ``GetCallStatus`` by
``ctid``); Kaleyra sends it as ``custom`` but has no lookup without the group id of the lost
answer, so such a call stays in doubt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.voice_call import VoiceCallHandle, VoiceCallStatus
from airflow_provider_voice.redaction import mask_phone
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorApi

__all__ = ["VoiceCallBackend", "VoiceCallCapability", "VoiceCallRequest", "mapped_call", "parse_one_number"]

ApiT = TypeVar("ApiT", bound=VendorApi)
T = TypeVar("T")
R = TypeVar("R")


def mapped_call(call: Call[T], convert: Callable[[T], R]) -> Call[R]:
    """``call`` whose parsed result goes through ``convert`` (an error there is a malformed answer).

    :param call: a call built by a vendor API.
    :param convert: what to make of its result.
    """
    parse = call.parse
    return dataclasses.replace(call, parse=lambda response: convert(parse(response)))  # type: ignore[arg-type,return-value]


def parse_one_number(
    value: Any, region: str | None, *, field: str = "number", vendor: str | None = None
) -> PhoneNumber:
    """``value`` as one valid number; the error shows it masked (a number is personal data).

    :param value: the number (any form :meth:`PhoneNumber.parse` reads).
    :param region: region of a number written without a country code.
    :param field: the argument's name in the error.
    :param vendor: the vendor, for the error.
    :raises ValidationError: not exactly one valid number.
    """
    if isinstance(value, (list, tuple, set, frozenset)):
        raise ValidationError(
            field,
            f"<{len(value)} numbers>",
            "one number: a call is placed to exactly one person (SendVoiceCampaignOperator calls many)",
            vendor=vendor,
        )
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(
            field, value, "a phone number is required (a template that rendered to nothing?)", vendor=vendor
        )
    try:
        return PhoneNumber.parse(value, region, field=field)
    except ValidationError as exc:
        raise ValidationError(field, mask_phone(str(value)), exc.rule, vendor=vendor) from None


@dataclass(frozen=True)
class VoiceCallRequest:
    """A checked call, not sent yet (:meth:`VoiceCallBackend.prepare`).

    :param number: the person's number (E.164).
    :param message: the text read to them (TTS), or None when an audio option replaces it.
    :param options: the vendor options (checked against the vendor's list).
    """

    number: PhoneNumber
    message: str | None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def masked(self) -> str:
        """The number masked, for logs and XCom."""
        return mask_phone(str(self.number))


@runtime_checkable
class VoiceCallCapability(Protocol):
    """A single TTS call (Velip ``MakeTTSCall`` type 0, Kaleyra ``voice.call``).

    :meth:`prepare` checks everything before any request; :meth:`call_request` is the request that
    places the call (its result a :class:`VoiceCallHandle`); :meth:`place` does both and sends it;
    :meth:`status_call` + :meth:`interpret` read the call's outcome (sync in a poll, async in the
    trigger); :meth:`lookup_call` finds a call placed with ``key`` whose answer was lost (None: the
    vendor cannot tell); :meth:`is_duplicate` says whether an error is the vendor refusing a
    repeated ``key`` (the call was placed before).
    """

    @property
    def vendor(self) -> str:
        """The vendor name."""

    @property
    def default_region(self) -> str | None:
        """Region of numbers written without a country code."""

    def prepare(
        self,
        number: Any,
        message: Any,
        *,
        default_region: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> VoiceCallRequest:
        """Every check before sending (raises ``ValidationError``)."""

    def call_request(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle]:
        """The request placing the call (not sent)."""

    def place(
        self,
        number: Any,
        message: Any,
        *,
        key: str,
        default_region: str | None = None,
        deadline: float | None = None,
        **options: Any,
    ) -> VoiceCallHandle:
        """Check, then place the call with the blocking client."""

    def lookup_call(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle | None] | None:
        """The request finding the call ``request`` placed with ``key`` (None: the vendor has no such lookup)."""

    def is_duplicate(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the vendor refusing a ``key`` it has seen (the call was placed before)."""

    def status_call(self, handle: VoiceCallHandle) -> Call[object]:
        """The request reading the call's status."""

    def interpret(self, handle: VoiceCallHandle, answer: Any) -> VoiceCallStatus:
        """The status in that request's answer."""

    def async_client(self) -> AsyncVendorClient[VendorApi]:
        """A new asyncio client on the vendor's API (close it with ``aclose``)."""


class VoiceCallBackend(VendorCapability[ApiT]):
    """The shared part of a single call: the number, the text and the options checked, one way.

    Subclasses set :attr:`label`, :attr:`option_names`, :attr:`audio_option` (the option that
    plays a recording instead of the text) and implement :meth:`check` (the vendor's own rules),
    :meth:`call_request`, :meth:`status_call` and :meth:`interpret`; :meth:`lookup_call` and
    :meth:`is_duplicate` default to "the vendor cannot tell".
    """

    #: the vendor's name in messages
    label: ClassVar[str]
    #: ``vendor_options`` the vendor accepts
    option_names: ClassVar[tuple[str, ...]]
    #: the option that plays a recording instead of the text (Velip ``content``, Kaleyra ``play``)
    audio_option: ClassVar[str]
    default_region: ClassVar[str | None] = None

    def prepare(
        self,
        number: Any,
        message: Any,
        *,
        default_region: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> VoiceCallRequest:
        """Check the call before any request: one valid number, a text that is not blank (unless the
        audio option is given), known options, then the vendor's rules (:meth:`check`).

        :param number: the person's number.
        :param message: the text read to them.
        :param default_region: region of a number written without a country code (default: the vendor's).
        :param options: vendor options (:attr:`option_names`).
        :raises ValidationError: naming the field, the value and the rule.
        """
        opts = {k: v for k, v in dict(options or {}).items() if v is not None}
        unknown = sorted(set(opts) - set(self.option_names))
        if unknown:
            raise ValidationError(
                "vendor_options",
                unknown,
                f"{self.label} single-call options are {', '.join(self.option_names)}",
                vendor=self.vendor,
            )
        phone = parse_one_number(number, default_region or self.default_region, vendor=self.vendor)
        text: str | None
        if message is None or message == "":
            if not opts.get(self.audio_option):
                raise ValidationError(
                    "message",
                    message,
                    f"the text to read to the person (or vendor_options {self.audio_option!r}: a recording)",
                    vendor=self.vendor,
                )
            text = None
        elif not isinstance(message, str):
            raise ValidationError("message", type(message).__name__, "a text (str)", vendor=self.vendor)
        elif not message.strip():
            raise ValidationError("message", message, "must not be blank", vendor=self.vendor)
        else:
            text = message.strip()
        request = VoiceCallRequest(phone, text, opts)
        try:
            self.check(request)
        except ValidationError as exc:
            if exc.vendor:
                raise
            raise ValidationError(exc.field, exc.value, exc.rule, vendor=self.vendor) from None
        except (TypeError, ValueError) as exc:  # an option of the wrong type (retries="two")
            raise ValidationError("vendor_options", opts, f"{type(exc).__name__}: {exc}", vendor=self.vendor) from None
        return request

    def check(self, request: VoiceCallRequest) -> None:
        """The vendor's own rules (raise ``ValidationError``); default: none."""

    def call_request(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle]:  # pragma: no cover
        """The request placing the call (not sent)."""
        raise NotImplementedError

    def place(
        self,
        number: Any,
        message: Any,
        *,
        key: str,
        default_region: str | None = None,
        deadline: float | None = None,
        **options: Any,
    ) -> VoiceCallHandle:
        """:meth:`prepare`, then send :meth:`call_request` once with the blocking client.

        :param number: the person's number.
        :param message: the text read to them.
        :param key: the call's stable key (see the module docstring).
        :param default_region: region of a number written without a country code.
        :param deadline: seconds the request may take in all (tries included); None: the client's.
        :param options: vendor options.
        """
        request = self.prepare(number, message, default_region=default_region, options=options)
        call = self.call_request(request, key=key)
        if deadline is not None:
            call = dataclasses.replace(call, deadline=deadline)
        return self.access.client().send(call)

    def lookup_call(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle | None] | None:
        """No lookup by key (the default): a call whose answer was lost stays in doubt."""
        return None

    def is_duplicate(self, exc: BaseException) -> bool:
        """The vendor has no duplicate-key refusal (the default)."""
        return False
