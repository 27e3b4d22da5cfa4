"""Kaleyra call status -> normalized outcome: the one table (OBD ``voice.groupstatus``/``voice.status``,
callbacks' ``{status}``).

Statuses seen (public notes): ANSWER, BUSY, NOANSWER, CANCEL, FAILED, CONGESTION, CHANUNAVAIL,
DND, NOTALLOWED, NOANSWER_LEG1/LEG2, FAILED_LEG1/LEG2; OBD also SENT (queued, not ended) and
COMPLETED (the call was made and answered).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from airflow_provider_voice.models.events import vendor_time
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.transport import Emit, PagedFlow
from airflow_provider_voice.vendors.kaleyra.api_obd import KaleyraObdCall, KaleyraObdEndpoints
from airflow_provider_voice.vendors.kaleyra.api_reports import KALEYRA_TIMEZONE

__all__ = [
    "KALEYRA_OUTCOMES",
    "KALEYRA_PENDING",
    "kaleyra_call_record",
    "kaleyra_key",
    "kaleyra_outcome",
    "kaleyra_records_flow",
]

#: Kaleyra status -> normalized outcome (see :data:`airflow_provider_voice.models.outcomes.OUTCOMES`)
KALEYRA_OUTCOMES = {
    "COMPLETED": "answered",
    "ANSWER": "answered",
    "NOANSWER": "no_answer",
    "NOANSWER_LEG1": "no_answer",
    "NOANSWER_LEG2": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
    "FAILED_LEG1": "failed",
    "FAILED_LEG2": "failed",
    "CONGESTION": "failed",
    "CANCEL": "failed",
    "CHANUNAVAIL": "invalid_number",
    "DND": "blocked",
    "NOTALLOWED": "blocked",
}
#: statuses of a call that has not ended
KALEYRA_PENDING = frozenset({"", "SENT", "QUEUED", "RINGING"})


def kaleyra_outcome(status: str | None) -> tuple[str, str | None]:
    """``(outcome, detail)`` for a Kaleyra status: not ended -> ``pending``; an unknown status is
    ``pending`` too (Kaleyra has not said how the call ended), with a detail saying so."""
    code = (status or "").strip().upper()
    if code in KALEYRA_PENDING:
        return "pending", None
    outcome = KALEYRA_OUTCOMES.get(code)
    if outcome is None:
        return "pending", f"undocumented Kaleyra status {code!r}"
    return outcome, None


def kaleyra_key(number: object) -> str:
    """The outcome key of a Kaleyra number: its digits, an Indian ``91`` + 10 digits read as the 10
    digits (Kaleyra lists Indian mobiles without the country code)."""
    digits = "".join(ch for ch in str(number or "") if ch.isdigit())
    if len(digits) == 12 and digits.startswith("91"):
        return digits[2:]
    return digits


def kaleyra_call_record(call: KaleyraObdCall, group_id: str) -> CallRecord:
    """One ``voice.groupstatus`` call as a :class:`CallRecord` (``senttime`` is India time)."""
    outcome, detail = kaleyra_outcome(call.status)
    sent = vendor_time(call.senttime) if call.senttime else None
    started = sent.replace(tzinfo=ZoneInfo(KALEYRA_TIMEZONE)).astimezone(dt.timezone.utc) if sent else None
    return CallRecord(
        key=kaleyra_key(call.mobile),
        outcome=outcome,
        vendor_status=(call.status or "").strip().upper() or None,
        detail=detail,
        started_at=started.isoformat() if started else None,
        campaign_id=group_id,
        call_id=call.id,
    )


def kaleyra_records_flow(api: KaleyraObdEndpoints, group_ids: list[str]) -> PagedFlow[CallRecord, int]:
    """Every call of the OBD groups ``group_ids`` (``voice.groupstatus``, one request per group) as
    :class:`CallRecord`; returns the count."""
    total = 0
    for group_id in group_ids:
        result = yield api.voice_groupstatus(group_id)
        records = [kaleyra_call_record(call, group_id) for call in result.calls]
        total += len(records)
        if records:
            yield Emit(records)
    return total
