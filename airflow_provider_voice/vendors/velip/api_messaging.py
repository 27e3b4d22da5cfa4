"""Velip SMS endpoint (``MakeSMS``).

Velip documents ``dest``, ``message`` and ``ctid`` and the answer ``return.cdls_id``. Choices made
here (one place to correct): ``dest`` is digits with the country code (no ``+``, like
``MakeTTSCall``); ``ctid`` is at most 15 letters or digits; the text must not be blank. Velip
documents no SMS length limit, so none is enforced.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.velip.api_core import VelipCore

__all__ = ["VELIP_CTID_RE", "VELIP_DUPLICATE_CTID", "VelipMessagingEndpoints", "check_velip_ctid", "is_duplicate_ctid"]

#: Velip ``ctid``: the caller's correlation id, up to 15 letters or digits
VELIP_CTID_RE = re.compile(r"[A-Za-z0-9]{1,15}")
#: Velip's ``status_code`` refusing a ``ctid`` the account has used (when unique ctids are enabled)
VELIP_DUPLICATE_CTID = "220"


def is_duplicate_ctid(exc: BaseException) -> bool:
    """Whether ``exc`` is Velip refusing a repeated ``ctid`` (code 220): the request was made before."""
    return isinstance(exc, VendorRejectedError) and str(exc.vendor_code or "").strip() == VELIP_DUPLICATE_CTID


def check_velip_ctid(ctid: Any, field: str = "ctid") -> str | None:
    """``ctid`` as a string, or a :class:`ValidationError` when it is not 1-15 letters/digits."""
    if ctid is None or ctid == "":
        return None
    text = str(ctid)
    if not VELIP_CTID_RE.fullmatch(text):
        raise ValidationError(field, ctid, "Velip ctid: 1 to 15 letters or digits", vendor="velip")
    return text


class VelipMessagingEndpoints(VelipCore):
    """Velip SMS endpoint (``MakeSMS``)."""

    @endpoint
    def make_sms(self, dest: Any, message: str, ctid: Any = None, *, default_region: str | None = None) -> Call[str]:
        """``MakeSMS``: text ``message`` to ``dest``; returns Velip's ``cdls_id`` (``"s_70001"``).

        :param dest: the recipient (any form :meth:`PhoneNumber.parse` reads; sent as digits).
        :param message: the SMS text (must not be blank).
        :param ctid: your correlation id (1-15 letters/digits). With unique ctids enabled on the
            account, Velip refuses a repeat with code 220, which makes a resend detectable.
        :param default_region: region of numbers written without a country code (e.g. ``"BR"``).
        """
        number = PhoneNumber.parse(dest, default_region, field="dest").velip
        if not isinstance(message, str) or not message.strip():
            raise ValidationError("message", message, "the SMS text must not be empty", vendor=self.vendor)
        correlation = check_velip_ctid(ctid)

        def parse(ret: dict[str, Any]) -> str:
            cdls_id = ret.get("cdls_id")
            if isinstance(cdls_id, bool) or not isinstance(cdls_id, (str, int)) or not str(cdls_id).strip():
                raise MalformedResponseError("MakeSMS answer has no cdls_id", vendor=self.vendor, endpoint="MakeSMS")
            return str(cdls_id)

        return self.call("MakeSMS", parse=parse, dest=number, message=message, ctid=correlation)
