"""Velip SMS: ``MakeSMS`` (``dest``, ``message``, ``ctid``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, ClassVar

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.capabilities.protocols import SentLookup
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.api_messaging import is_duplicate_ctid

__all__ = ["VelipSms", "velip_ctid"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def velip_ctid(key: str) -> str:
    """A 15-character base-36 correlation id derived from ``key`` (stable across task retries)."""
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=10).digest(), "big")
    out = []
    for _ in range(15):
        value, rest = divmod(value, 36)
        out.append(_ALPHABET[rest])
    return "".join(out)


class VelipSms(VendorCapability[VelipApi]):
    """SMS through Velip ``MakeSMS``; the returned id is ``cdls_id``.

    Each message carries a ``ctid`` derived from the per-recipient key, so a message resent with the
    same key is refused by Velip (code 220) when unique ctids are enabled on the account. Velip
    has no sender parameter: giving one is refused before sending. Velip documents no SMS lookup,
    so an SMS whose fate is unknown (timeout after sending) is reported, not resent.

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "velip"
    default_region: ClassVar[str | None] = None

    def check_sender(self, sender: Any) -> None:
        """Velip's MakeSMS has no sender field."""
        if sender not in (None, ""):
            raise ValidationError(
                "sender", sender, "Velip MakeSMS has no sender parameter: leave it unset", vendor="velip"
            )
        return None

    def message_call(self, number: PhoneNumber, text: str, *, sender: str | None, key: str) -> Call[str]:
        """``MakeSMS`` to ``number`` with ``ctid`` derived from ``key``; returns ``cdls_id``."""
        return self.api.make_sms(number, text, ctid=velip_ctid(key))

    def explain(self, exc: Exception) -> Exception:
        return exc

    def is_duplicate(self, exc: BaseException) -> bool:
        """Velip's code 220: the ``ctid`` of the key was used before (the message was sent)."""
        return is_duplicate_ctid(exc)

    reports_delivery: ClassVar[bool] = False

    def delivery_records(self, message_ids: Iterable[str]) -> Iterable[CallRecord]:
        """Velip documents no SMS delivery report: none."""
        return []

    def no_record_detail(self) -> str:
        """What an outcome table says of a message Velip accepted."""
        return "sent (Velip accepted it); Velip documents no SMS delivery report"

    def lookup_call(self, since: float, until: float) -> None:
        """Velip documents no way to look an SMS up: an in-doubt SMS stays in doubt (not resent)."""
        return None

    def find_sent(self, messages: Any, number: PhoneNumber, text: str, *, sender: str | None = None) -> SentLookup:
        """Never called: :meth:`lookup_call` gives no call."""
        raise NotImplementedError("Velip documents no way to look an SMS up")
