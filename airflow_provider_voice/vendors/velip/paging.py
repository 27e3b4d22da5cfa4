"""Velip paging: ``MakeTTSCall`` type 2 (DTMF confirmation, no ``dest2``: no transfer), read back by ``GetCallStatus``.

Velip documents ``type`` 2 as "DTMF confirm then transfer": the person hears the text, is asked
for a key, and, when ``dest2`` is given, is then transferred to it. Paging wants the confirmation
only, so the call is placed **without** ``dest2``: Velip hangs up after the key press.

Velip documents no field for the pressed key. The choice made here (``docs/vendors/velip.md``,
"Paging"), in Velip's style of short field names beside ``cd_status``/``dur`` (one place to correct):

* ``dtmf`` — the key(s) the person pressed, in order, as text (``"1"``; ``""`` when none);
* ``confirmed`` — ``1`` when the confirmation was given, else ``0`` (an integer flag like ``active``).

Both come in the ``GetCallStatus`` rows and in the end-of-call webhook of a type-2 call. A call is
**acknowledged** when it was answered (``cd_status`` ``OK``) and ``confirmed`` is 1; when Velip
sends no ``confirmed`` but a non-empty ``dtmf``, a key press counts as the confirmation. An
answered call reporting neither field is *not* acknowledged (the escalation goes on: safer than
stopping on a call nobody confirmed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.models.paging import PageHandle, PageOutcome, PageStatus
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.api_messaging import check_velip_ctid, is_duplicate_ctid
from airflow_provider_voice.vendors.velip.outcomes import velip_outcome
from airflow_provider_voice.vendors.velip.records import VelipCallRecord, VelipCallStatusPage

__all__ = [
    "VELIP_CONFIRMED_FIELD",
    "VELIP_DTMF_FIELD",
    "VELIP_PAGING_OPTIONS",
    "VELIP_PAGING_TYPE",
    "VelipPaging",
    "velip_confirmation",
    "velip_page_outcome",
]

log = get_logger(__name__)

#: ``MakeTTSCall`` type of a call asking for a DTMF confirmation (without ``dest2``: no transfer)
VELIP_PAGING_TYPE = 2
#: ``GetCallStatus`` / webhook field: the key(s) pressed (text, ``""`` none)
VELIP_DTMF_FIELD = "dtmf"
#: ``GetCallStatus`` / webhook field: 1 when the person confirmed, else 0
VELIP_CONFIRMED_FIELD = "confirmed"
#: ``vendor_options`` passed through to ``MakeTTSCall``
VELIP_PAGING_OPTIONS = ("voice", "priority", "rurl")
#: normalized call outcome (``velip_outcome``) -> paging outcome, for calls that were not answered
_NOT_ANSWERED = {
    "no_answer": PageOutcome.NO_ANSWER,
    "invalid_number": PageOutcome.INVALID_NUMBER,
    "blocked": PageOutcome.BLOCKED,
    "failed": PageOutcome.FAILED,
}
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no", ""}


def _extras(row: VelipCallRecord | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(row, VelipCallRecord):
        return row.model_extra or {}
    return row


def velip_confirmation(row: VelipCallRecord | Mapping[str, Any]) -> tuple[bool | None, str | None]:
    """``(confirmed, dtmf)`` of a ``GetCallStatus`` row or webhook body (:data:`VELIP_CONFIRMED_FIELD`,
    :data:`VELIP_DTMF_FIELD`): ``confirmed`` None when Velip sent no such field, ``dtmf`` None when no key.

    :param row: the row (its extra fields are read) or a webhook body.
    :raises MalformedResponseError: a value of the wrong kind (a list, an object, ``"maybe"``).
    """
    fields = _extras(row)
    raw_keys = fields.get(VELIP_DTMF_FIELD)
    if raw_keys is None:
        keys = None
    elif isinstance(raw_keys, (str, int)) and not isinstance(raw_keys, bool):
        keys = str(raw_keys).strip() or None
    else:
        raise MalformedResponseError(
            f"GetCallStatus {VELIP_DTMF_FIELD!r} is not text: {type(raw_keys).__name__}",
            vendor="velip",
            endpoint="GetCallStatus",
        )
    raw_flag = fields.get(VELIP_CONFIRMED_FIELD)
    if raw_flag is None:
        return None, keys
    if isinstance(raw_flag, bool):
        return raw_flag, keys
    text = str(raw_flag).strip().lower() if isinstance(raw_flag, (str, int)) else None
    if text in _TRUE:
        return True, keys
    if text in _FALSE:
        return False, keys
    raise MalformedResponseError(
        f"GetCallStatus {VELIP_CONFIRMED_FIELD!r} is neither 0 nor 1: {str(raw_flag)[:20]!r}",
        vendor="velip",
        endpoint="GetCallStatus",
    )


def velip_page_outcome(cd_status: str | None, confirmed: bool | None, dtmf: str | None) -> PageOutcome:
    """The paging outcome of a Velip call: pending while ``PD``/empty; answered -> acknowledged when
    ``confirmed`` (or, without that field, when a key was pressed), else not acknowledged."""
    outcome, _ = velip_outcome(cd_status)
    if outcome == "pending":
        return PageOutcome.PENDING
    if outcome == "answered":
        acknowledged = confirmed if confirmed is not None else bool(dtmf)
        return PageOutcome.ACKNOWLEDGED if acknowledged else PageOutcome.NOT_ACKNOWLEDGED
    return _NOT_ANSWERED.get(outcome, PageOutcome.FAILED)


class VelipPaging(VendorCapability[VelipApi]):
    """Page with Velip: ``MakeTTSCall`` type 2 without ``dest2`` (the person hears ``message`` and is
    asked for a key; no transfer), the outcome and the key from ``GetCallStatus`` by ``cd_id``.

    ``vendor_options``: ``voice`` (TTS voice), ``priority``, ``rurl`` (per-call webhook URL: the
    end-of-call webhook carries ``dtmf``/``confirmed`` too). The call's ``ctid`` is the attempt's
    key (15 letters/digits, derived from the task instance): a call whose request's fate is unknown
    is found again with ``GetCallStatus`` by ``ctid``, and Velip refuses a repeated ``ctid`` (code 220)
    when unique ctids are enabled on the account.

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "velip"

    def check(self, message: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` checked against :data:`VELIP_PAGING_OPTIONS` (no request)."""
        unknown = sorted(set(options) - set(VELIP_PAGING_OPTIONS))
        if unknown:
            raise ValidationError(
                "vendor_options", unknown, "Velip paging options are " + ", ".join(VELIP_PAGING_OPTIONS), vendor="velip"
            )
        checked = {k: v for k, v in options.items() if v is not None}
        priority = checked.get("priority")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise ValidationError("vendor_options.priority", priority, "an integer", vendor="velip")
        for name in ("voice", "rurl"):
            value = checked.get(name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValidationError(f"vendor_options.{name}", value, "non-empty text", vendor="velip")
        return checked

    def page(self, number: PhoneNumber, message: str, *, key: str, options: Mapping[str, Any]) -> PageHandle:
        """``MakeTTSCall`` type 2 (no ``dest2``), ``ctid`` = ``key``; returns the ``cd_id``."""
        ctid = check_velip_ctid(key, field="key")
        call = self.api.make_tts_call(number, type=VELIP_PAGING_TYPE, text=message, ctid=ctid, **dict(options))
        result = self.access.client().send(call)
        return PageHandle(vendor=self.vendor, call_id=result.cd_id, key=result.ctid or ctid)

    def find(self, key: str) -> PageHandle | None:
        """``GetCallStatus`` by ``ctid``: the call placed with ``key``, if Velip lists one."""
        page = self.access.client().send(self.api.get_call_status(ctid=key))
        rows = [row for row in page.calls if (row.ctid or "") == key]
        if not rows:
            return None
        return PageHandle(vendor=self.vendor, call_id=rows[-1].cd_id, key=key)

    def is_duplicate(self, exc: VendorRejectedError) -> bool:
        """Velip code 220: a call with this ``ctid`` was placed already."""
        return is_duplicate_ctid(exc)

    def status_call(self, handle: PageHandle) -> Call[VelipCallStatusPage]:
        """``GetCallStatus`` by ``cd_id`` (by ``ctid`` for a call without one)."""
        if handle.call_id:
            return self.api.get_call_status(cd_id=handle.call_id)
        if handle.key:
            return self.api.get_call_status(ctid=handle.key)
        raise ValidationError("call_id", None, "the Velip cd_id (or the ctid) of the call", vendor="velip")

    def interpret(self, handle: PageHandle, answer: VelipCallStatusPage) -> PageStatus:
        """The call's row as a :class:`PageStatus` (pending while not listed or ``PD``)."""
        if handle.call_id:
            rows = [row for row in answer.calls if row.cd_id == handle.call_id]
        else:
            rows = [row for row in answer.calls if (row.ctid or "") == handle.key]
        if not rows:
            return PageStatus(vendor=self.vendor, call_id=handle.call_id, outcome=PageOutcome.PENDING)
        row = rows[-1]
        confirmed, dtmf = velip_confirmation(row)
        return PageStatus(
            vendor=self.vendor,
            call_id=row.cd_id,
            outcome=velip_page_outcome(row.cd_status, confirmed, dtmf),
            vendor_status=row.cd_status,
            pressed=dtmf,
            duration=row.dur,
            raw=row.model_dump(mode="json"),
        )
