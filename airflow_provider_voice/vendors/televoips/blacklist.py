"""TeleVoIPs opt-outs: ``POST /unsubscribe`` (``from`` = the person, ``to`` = your number)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.errors import CapabilityNotSupportedError, ValidationError, VendorRejectedError
from airflow_provider_voice.models.blacklist import BlacklistFailure, BlacklistResult
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.redaction import get_logger, mask_phone
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.api_messaging import (
    DEFAULT_REGION,
    NOT_OWNER_MESSAGE,
    explain_televoips_rejection,
)
from airflow_provider_voice.vendors.televoips.sms import check_owned_number

__all__ = ["TeleVoipsBlacklist"]

log = get_logger(__name__)
PROGRESS_EVERY = 100


class TeleVoipsBlacklist(VendorCapability[TeleVoipsApi]):
    """Record opt-outs on a TeleVoIPs account (one ``POST /unsubscribe`` per number).

    TeleVoIPs blocks an unsubscribed person from *every* number of the account, but the request
    must name one number the account owns (``owned_number``). When the connection lists its
    numbers (extra ``owned_numbers``), ``owned_number`` is checked before anything is sent;
    otherwise TeleVoIPs' 400 "You do not own the number..." stops the run at the first number with
    an error that says so. Other refusals are recorded per number in ``failed``.

    TeleVoIPs has no endpoint to undo an unsubscribe: :meth:`unblock` raises
    :class:`CapabilityNotSupportedError`.

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "televoips"
    supports_unblock: ClassVar[bool] = False
    default_region: ClassVar[str | None] = DEFAULT_REGION

    def block(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult:
        """Unsubscribe each of ``numbers`` from the account's number ``owned_number``."""
        if owned_number in (None, ""):
            raise ValidationError(
                "owned_number",
                owned_number,
                "TeleVoIPs needs one of the account's numbers (enabled for texting) as the unsubscribe 'to'",
                vendor=self.vendor,
            )
        owned = check_owned_number(self.access, owned_number, field="owned_number")
        numbers = list(dict.fromkeys(numbers))
        result = BlacklistResult(action="block", vendor=self.vendor, requested=len(numbers))
        client = self.access.client()
        for position, number in enumerate(numbers, start=1):
            result.requests += 1
            try:
                client.send(self.api.unsubscribe(number, owned))
            except VendorRejectedError as exc:
                if (exc.vendor_message or "").strip() == NOT_OWNER_MESSAGE or (exc.vendor_message or "").startswith(
                    "You do not own"
                ):
                    raise explain_televoips_rejection(exc) from None
                log.warning("TeleVoIPs refused to unsubscribe %s: %s", mask_phone(str(number)), exc)
                result.failed.append(BlacklistFailure(number=str(number), error=str(exc), vendor_code=exc.vendor_code))
                continue
            result.changed.append(str(number))
            if position % PROGRESS_EVERY == 0 or position == len(numbers):
                log.info("TeleVoIPs unsubscribe: %d/%d done (%d refused)", position, len(numbers), len(result.failed))
        return result

    def unblock(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult:
        """Not possible on TeleVoIPs (no resubscribe endpoint)."""
        raise CapabilityNotSupportedError(
            "TeleVoIPs has no endpoint to undo an unsubscribe; unblocking numbers is available on kaleyra connections",
            vendor=self.vendor,
        )
