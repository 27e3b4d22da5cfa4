"""Kaleyra click-to-call: ``dial.click2call`` to connect, ``dial.c2cstatus`` to read the outcome."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_voice.capabilities.base import ClickToCallBackend
from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallState, ClickToCallStatus
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord, KaleyraReportPage

__all__ = ["KALEYRA_C2C_OPTIONS", "KaleyraClickToCall", "kaleyra_c2c_state"]

log = get_logger(__name__)

#: options passed through to ``dial.click2call``
KALEYRA_C2C_OPTIONS = ("retry", "delay", "caller_id", "custom", "meta", "callback")
_IN_PROGRESS = frozenset({"", "INPROGRESS", "IN PROGRESS", "RINGING", "QUEUED", "SENT", "ONGOING"})
_FIRST_LEG_UNREACHED = frozenset(
    {"NOANSWER", "NO ANSWER", "BUSY", "CANCEL", "FAILED", "CONGESTION", "CHANUNAVAIL", "DND", "NOTALLOWED"}
)


def kaleyra_c2c_state(row: KaleyraCallRecord) -> ClickToCallState:
    """Map a ``dial.c2cstatus`` row (``status`` = first leg, ``status2`` = second leg) to a state."""
    first = (row.status or "").strip().upper()
    second = (row.status2 or "").strip().upper()
    if first in _IN_PROGRESS:
        return ClickToCallState.PENDING
    if first == "ANSWER":
        if second == "ANSWER":
            return ClickToCallState.CONNECTED
        if second in _IN_PROGRESS and not row.end_time:
            return ClickToCallState.PENDING
        return ClickToCallState.CUSTOMER_UNREACHED
    if first in _FIRST_LEG_UNREACHED or first.endswith("_LEG1"):
        return ClickToCallState.AGENT_UNREACHED
    return ClickToCallState.FAILED


class KaleyraClickToCall(ClickToCallBackend[KaleyraApi]):
    """Connect an agent (caller, first leg) and a customer (receiver, second leg) with Kaleyra.

    ``agent`` may be several numbers (the first to answer wins); ``customer`` several numbers or
    ``"ivr:<id>"``. Options: ``retry`` (0-2), ``delay`` (seconds), ``caller_id``, ``custom``,
    ``meta`` (dict), ``callback`` (URL template with ``{caller}``, ``{receiver}``, ``{status}``...).
    Kaleyra plays no message, so ``message`` must be left unset.

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "kaleyra"
    label: ClassVar[str] = "Kaleyra"
    option_names: ClassVar[tuple[str, ...]] = KALEYRA_C2C_OPTIONS
    default_region: ClassVar[str | None] = DEFAULT_REGION

    def place(
        self, agent: Any, customer: Any, *, message: str | None, region: str | None, options: dict[str, Any]
    ) -> ClickToCallHandle:
        """``dial.click2call`` (always with ``return=1``); returns the call id."""
        if message:
            raise ValidationError(
                "message", message, "Kaleyra click-to-call bridges the two people without playing a message"
            )
        call = self.api.click2call(agent, customer, default_region=region, **options)  # validated, not sent
        result = self.access.client().send(call)
        if not result.call_id:
            raise MalformedResponseError(
                "dial.click2call was accepted but the answer has no call id",
                vendor=self.vendor,
                endpoint="dial.click2call",
            )
        log.info("Kaleyra click-to-call placed: %s", result.call_id)
        return ClickToCallHandle(vendor=self.vendor, call_id=result.call_id)

    def status_call(self, handle: ClickToCallHandle) -> Call[KaleyraReportPage[KaleyraCallRecord]]:
        """``dial.c2cstatus`` for the call id."""
        if not handle.call_id:
            raise ValidationError("call_id", handle.call_id, "the Kaleyra click-to-call id (c2c_...)")
        return self.api.c2c_status(call_id=handle.call_id)

    def interpret(self, handle: ClickToCallHandle, answer: KaleyraReportPage[KaleyraCallRecord]) -> ClickToCallStatus:
        """The call's row in the c2cstatus page, as a :class:`ClickToCallStatus` (pending if not listed yet)."""
        rows = [r for r in answer.rows if (r.id or "").strip() == handle.call_id]
        if not rows:  # a row without any id can only be the call asked for by id
            rows = [r for r in answer.rows[:1] if not r.id]
        if not rows:
            return ClickToCallStatus(vendor=self.vendor, call_id=handle.call_id, state=ClickToCallState.PENDING)
        row = rows[0]
        return ClickToCallStatus(
            vendor=self.vendor,
            call_id=handle.call_id,
            state=kaleyra_c2c_state(row),
            agent_status=row.status,
            customer_status=row.status2,
            duration=row.billsec if row.billsec is not None else row.duration,
            raw=row.model_dump(mode="json"),
        )
