"""TeleVoIPs SMS write endpoints (``POST /messages``, ``POST /unsubscribe``).

Both are form-encoded and signed with the messaging key (raw ``Authorization`` header).
Numbers are sent as digits with the country code (``13214567890``), the spec's form.

TeleVoIPs answers a refused send with HTTP 400 ``{"message": "Unable to send message"}`` and a
refused unsubscribe with HTTP 400 ``{"message": "You do not own the number you are trying to
unsubscribe from"}``; both become :class:`~airflow_provider_voice.errors.VendorRejectedError`
whose message names the usual causes (the vendor gives no code to tell them apart).
Reads (``GET /messages``, ``GET /messages/{id}``) live in :mod:`.core`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call, json_body
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsCore, TeleVoipsMessage

__all__ = [
    "DEFAULT_REGION",
    "NOT_OWNER_MESSAGE",
    "SEND_REFUSED_HINT",
    "UNABLE_TO_SEND_MESSAGE",
    "UNSUBSCRIBE_REFUSED_HINT",
    "TeleVoipsMessagingEndpoints",
    "explain_televoips_rejection",
]

#: region of numbers written without a country code: TeleVoIPs is a North-American carrier (the
#: one place this default is spelled)
DEFAULT_REGION = "US"
#: the spec's 400 bodies
UNABLE_TO_SEND_MESSAGE = "Unable to send message"
NOT_OWNER_MESSAGE = "You do not own the number you are trying to unsubscribe from"
SEND_REFUSED_HINT = (
    "TeleVoIPs refused the SMS (HTTP 400 'Unable to send message'): the 'from' number must be a number "
    "owned by the account and enabled for texting, the organization must be authorized for texting, "
    "and the recipient must not have unsubscribed"
)
UNSUBSCRIBE_REFUSED_HINT = (
    "TeleVoIPs refused the unsubscribe (HTTP 400 'You do not own the number you are trying to unsubscribe "
    "from'): the 'to' number must be a number owned by the account and enabled for texting"
)


def explain_televoips_rejection(exc: VendorRejectedError) -> VendorRejectedError:
    """The same error with the documented causes spelled out (the vendor's text is kept)."""
    vendor_message = (exc.vendor_message or "").strip()
    if exc.status_code != 400:
        return exc
    if vendor_message == UNABLE_TO_SEND_MESSAGE:
        hint = SEND_REFUSED_HINT
    elif vendor_message.startswith("You do not own the number"):
        hint = UNSUBSCRIBE_REFUSED_HINT
    else:
        return exc
    return VendorRejectedError(
        hint,
        vendor_code=exc.vendor_code,
        vendor_message=exc.vendor_message,
        field_errors=exc.field_errors,
        status_code=exc.status_code,
        payload=exc.payload,
        vendor=exc.vendor,
        endpoint=exc.endpoint,
    )


def televoips_number(value: Any, field: str, default_region: str | None = None, *, strict: bool = True) -> str:
    """A number as TeleVoIPs wants it (digits with the country code), validated first.

    :param strict: require a valid number; False accepts any possible one (numbers TeleVoIPs itself
        reported, the account's own numbers, opt-outs; see :class:`PhoneNumber`).
    """
    return PhoneNumber.parse(value, default_region, field=field, strict=strict).televoips


class TeleVoipsMessagingEndpoints(TeleVoipsCore):
    """TeleVoIPs SMS write endpoints (``POST /messages``, ``POST /unsubscribe``)."""

    @endpoint
    def send_message(
        self,
        from_: Any,
        to: Any,
        content: str,
        *,
        default_region: str | None = DEFAULT_REGION,
        strict_numbers: bool = True,
    ) -> Call[str]:
        """``POST /messages``: send ``content`` from an owned number to ``to``; returns the message ``uuid``.

        :param from_: a number owned by the account and enabled for texting (any possible number:
            it is the account's own, assigned by TeleVoIPs).
        :param to: the recipient.
        :param content: the text (must not be blank).
        :param default_region: region of numbers written without a country code (TeleVoIPs is a
            North-American carrier: ``US`` by default).
        :param strict_numbers: ``to`` must be a valid number (default); False accepts any possible
            one (e.g. a number that texted the account: see :meth:`reply`).
        Not retried after an ambiguous failure (TeleVoIPs has no idempotency key).
        """
        sender = televoips_number(from_, "from", default_region, strict=False)
        recipient = televoips_number(to, "to", default_region, strict=strict_numbers)
        if not isinstance(content, str) or not content.strip():
            raise ValidationError("content", content, "the SMS text must not be empty", vendor=self.vendor)

        def parse(response: httpx.Response) -> str:
            payload = json_body(response, vendor=self.vendor, endpoint="POST /messages")
            uuid = payload.get("uuid") if isinstance(payload, dict) else None
            if not isinstance(uuid, str) or not uuid.strip():
                raise MalformedResponseError("answer has no 'uuid'", vendor=self.vendor, endpoint="POST /messages")
            return str(uuid)

        return Call(
            endpoint="POST /messages",
            method="POST",
            path="/messages",
            data={"from": sender, "to": recipient, "content": content},
            auth="messaging",
            parse=parse,
            idempotent=False,
        )

    @endpoint
    def reply(self, message: Any, content: str) -> Call[str]:
        """``POST /messages`` answering an inbound message: from the number it was sent to, to the
        number that sent it. Both numbers come from TeleVoIPs, so any possible number is accepted.

        :param message: a :class:`~airflow_provider_voice.vendors.televoips.api_core.TeleVoipsMessage`
            (or its dict, as ``GET /messages`` lists it) with ``direction`` ``inbound``.
        :param content: the text.
        """
        if isinstance(message, Mapping):
            message = TeleVoipsMessage.model_validate(message)
        if not isinstance(message, TeleVoipsMessage) or (message.direction or "").lower() != "inbound":
            raise ValidationError("message", getattr(message, "id", message), "an inbound TeleVoIPs message")
        return self.send_message(message.to, message.from_, content, strict_numbers=False)

    @endpoint
    def unsubscribe(self, from_: Any, to: Any, *, default_region: str | None = DEFAULT_REGION) -> Call[None]:
        """``POST /unsubscribe``: ``from_`` (the person) no longer receives messages from the account.

        :param from_: the phone number that asked to stop receiving messages.
        :param to: a number owned by the account (TeleVoIPs then blocks the person from every
            number of the account).
        Safe to resend: unsubscribing twice changes nothing. Any *possible* number is accepted for
        both (the person may be one TeleVoIPs reported; the spec's own example is ``19876543210``).
        """
        person = televoips_number(from_, "from", default_region, strict=False)
        owned = televoips_number(to, "to", default_region, strict=False)
        return Call(
            endpoint="POST /unsubscribe",
            method="POST",
            path="/unsubscribe",
            data={"from": person, "to": owned},
            auth="messaging",
            parse=self._unsubscribed,
            idempotent=True,
        )

    def _unsubscribed(self, response: httpx.Response) -> None:
        """The spec's success is HTTP 200 with an empty body: anything else (an HTML page, ``{}``) is
        not a confirmation."""
        if response.status_code != 200 or response.content.strip():
            raise MalformedResponseError(
                "unsubscribe success is HTTP 200 with an empty body", vendor=self.vendor, endpoint="POST /unsubscribe"
            )
