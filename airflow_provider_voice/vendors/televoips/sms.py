"""TeleVoIPs SMS: ``POST /messages`` from a number the account owns."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar

import pendulum

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.capabilities.protocols import SentLookup
from airflow_provider_voice.delivery.event_store import configured_event_store
from airflow_provider_voice.errors import ValidationError, VendorRejectedError
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.access import VendorAccess
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsMessage
from airflow_provider_voice.vendors.televoips.api_messaging import DEFAULT_REGION, explain_televoips_rejection
from airflow_provider_voice.vendors.televoips.outcomes import televoips_sms_records

__all__ = ["OWNED_NUMBERS_EXTRA", "SentLookup", "TeleVoipsSms", "check_owned_number", "owned_numbers"]

#: connection extra listing the account's numbers (TeleVoIPs has no endpoint that lists them)
OWNED_NUMBERS_EXTRA = "owned_numbers"


def owned_numbers(access: VendorAccess[TeleVoipsApi]) -> set[str] | None:
    """The account's numbers from the connection extra ``owned_numbers`` (a list or a comma-separated
    string), as TeleVoIPs digits; None when the connection does not list them."""
    raw = access.settings.get(OWNED_NUMBERS_EXTRA)
    if raw in (None, "", []):
        return None
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    out = set()
    for index, item in enumerate(items):
        if str(item).strip():
            out.add(
                PhoneNumber.parse(  # the account's own numbers: any possible number
                    str(item).strip(), DEFAULT_REGION, field=f"extra.{OWNED_NUMBERS_EXTRA}[{index}]", strict=False
                ).televoips
            )
    return out or None


def check_owned_number(access: VendorAccess[TeleVoipsApi], number: Any, *, field: str) -> str:
    """``number`` as TeleVoIPs digits; a :class:`ValidationError` if the connection lists the account's
    numbers and ``number`` is not one of them (checked before any request is sent)."""
    digits = PhoneNumber.parse(number, DEFAULT_REGION, field=field, strict=False).televoips  # the account's own
    owned = owned_numbers(access)
    if owned is not None and digits not in owned:
        raise ValidationError(
            field,
            number,
            "not one of the account's numbers listed in the connection extra "
            f"'{OWNED_NUMBERS_EXTRA}' ({', '.join(sorted(owned))}); TeleVoIPs only sends from/unsubscribes to "
            "numbers the account owns and has enabled for texting",
            vendor="televoips",
        )
    return digits


class TeleVoipsSms(VendorCapability[TeleVoipsApi]):
    """SMS through TeleVoIPs ``POST /messages`` (form ``from``, ``to``, ``content``).

    The sender must be a number the account owns and has enabled for texting. TeleVoIPs documents
    no endpoint listing those numbers, so the check before sending uses the connection extra
    ``owned_numbers`` when it is set; otherwise TeleVoIPs' HTTP 400 "Unable to send message" is
    reported with the documented causes (:meth:`explain`). The returned id is the message ``uuid``.
    An SMS whose fate is unknown (timeout after sending) is looked up with ``GET /messages``
    (:meth:`lookup_call`, :meth:`find_sent`) from the moment its intent was recorded: exactly one
    outbound message from the sender to the same number with the same text, that no other
    recipient of this delivery already accounts for, means it was sent; several such messages
    (another run texting the same words) leave it in doubt; none, while the list shows later
    messages from the sender, means it was not sent; none in a list that does not reach the send
    time leaves it in doubt (reported, not resent).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "televoips"
    default_region: ClassVar[str | None] = DEFAULT_REGION

    def check_sender(self, sender: Any) -> str:
        """The sender as TeleVoIPs digits; it is required and, when the connection lists the account's
        numbers, must be one of them."""
        if sender in (None, ""):
            raise ValidationError(
                "sender", sender, "TeleVoIPs needs the 'from' number: one the account owns and has enabled for texting"
            )
        return check_owned_number(self.access, sender, field="sender")

    def message_call(self, number: PhoneNumber, text: str, *, sender: str | None, key: str) -> Call[str]:
        """``POST /messages`` texting ``number``; returns the ``uuid``."""
        return self.api.send_message(sender, number, text, default_region=self.default_region)

    def explain(self, exc: Exception) -> Exception:
        """TeleVoIPs' 400 "Unable to send message" with its documented causes."""
        return explain_televoips_rejection(exc) if isinstance(exc, VendorRejectedError) else exc

    def is_duplicate(self, exc: BaseException) -> bool:
        """TeleVoIPs has no idempotency key: never."""
        return False

    @property
    def reports_delivery(self) -> bool:
        """True when the connection receives TeleVoIPs' messaging webhooks (``webhook_auth`` is set)."""
        return bool(self.access.settings.get("webhook_auth")) and bool(self.access.conn_id)

    def delivery_records(self, message_ids: Iterable[str]) -> Iterable[CallRecord]:
        """The delivery reports the webhook receiver stored for ``message_ids`` (none without webhooks)."""
        if not self.reports_delivery:
            return []
        return televoips_sms_records(configured_event_store(), str(self.access.conn_id), message_ids)

    def no_record_detail(self) -> str:
        """What an outcome table says of a message sent without a delivery report yet."""
        if not self.reports_delivery:
            return (
                "sent; TeleVoIPs reports delivery only through its messaging webhooks: set webhook_auth on the "
                "connection and point the webhooks at the receiver (docs/events.md)"
            )
        return "sent; no TeleVoIPs delivery report for this message yet"

    def lookup_call(self, since: float, until: float) -> Call[list[TeleVoipsMessage]]:
        """``GET /messages`` between two POSIX times: used to find out whether an in-doubt SMS was sent."""
        return self.api.list_messages(
            start=pendulum.from_timestamp(since, tz="UTC"), end=pendulum.from_timestamp(until, tz="UTC")
        )

    def find_sent(
        self, messages: list[TeleVoipsMessage], number: PhoneNumber, text: str, *, sender: str | None = None
    ) -> SentLookup:
        """What ``GET /messages`` says about an SMS to ``number`` with ``text`` (from ``sender`` when given).

        :returns: the uuids (and times) of every matching outbound message, and the latest time
            (POSIX) of any outbound message from ``sender`` in the list (how far the listing reaches).
        """
        wanted_from = "".join(ch for ch in str(sender or "") if ch.isdigit())
        matches: list[str] = []
        times: list[float | None] = []
        latest: float | None = None
        for message in messages:
            if (message.direction or "").lower() != "outbound":
                continue
            from_digits = "".join(ch for ch in str(message.from_ or "") if ch.isdigit())
            if wanted_from and from_digits and from_digits != wanted_from:
                continue
            when = _message_time(message.time)
            if when is not None:
                latest = when if latest is None else max(latest, when)
            if (
                "".join(ch for ch in str(message.to or "") if ch.isdigit()) == number.televoips
                and (message.content or "") == text
            ):
                matches.append(message.id)
                times.append(when)
        return SentLookup(matches, latest, times)


def _message_time(value: str | None) -> float | None:
    """TeleVoIPs ``time`` (``YYYY-MM-DD HH:MM:SS``, UTC) as POSIX seconds; None when unreadable."""
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None
