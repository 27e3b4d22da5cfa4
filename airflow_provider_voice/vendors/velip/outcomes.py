"""Velip call status -> normalized outcome: the one table (``cd_status``, ``cd_called_status``, ``cp_counts`` keys).

Velip's codes (public notes): OK answered, NA not answered, EK bad number, IK number does not
exist, CK mobile blocked, BK do-not-call list. A code not in the table is kept as the raw
status and counted ``failed`` in a campaign status (never answered), ``pending`` while the call
has not ended (``PD``, or no code).
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from airflow_provider_voice.models.events import vendor_time
from airflow_provider_voice.models.outcomes import CallRecord
from airflow_provider_voice.transport import PagedFlow, map_emitted
from airflow_provider_voice.vendors.velip.api_reports import MAXREG_LIMIT, VELIP_TIMEZONE, VelipReportEndpoints
from airflow_provider_voice.vendors.velip.records import VelipCallRecord

_VELIP_ZONE = ZoneInfo(VELIP_TIMEZONE)

__all__ = [
    "VELIP_OUTCOMES",
    "VELIP_PENDING",
    "velip_call_record",
    "velip_key",
    "velip_outcome",
    "velip_records_flow",
    "velip_started_at",
]

#: Velip code -> normalized outcome (see :data:`airflow_provider_voice.models.outcomes.OUTCOMES`)
VELIP_OUTCOMES = {
    "OK": "answered",
    "NA": "no_answer",
    "EK": "invalid_number",
    "IK": "invalid_number",
    "CK": "blocked",
    "BK": "blocked",
}
#: codes of a call that has not ended
VELIP_PENDING = frozenset({"", "PD"})


def velip_outcome(code: str | None) -> tuple[str, str | None]:
    """``(outcome, detail)`` for a Velip code: an unknown code is ``failed`` with a detail saying so."""
    status = (code or "").strip().upper()
    if status in VELIP_PENDING:
        return "pending", None
    outcome = VELIP_OUTCOMES.get(status)
    if outcome is None:
        return "failed", f"undocumented Velip status {status!r}"
    return outcome, None


def velip_started_at(call: VelipCallRecord) -> dt.datetime | None:
    """The call's Velip date/time (Velip's zone, :data:`VELIP_TIMEZONE`) as an aware datetime."""
    if not (call.date and call.time):
        return None
    try:  # Velip's "YYYY-MM-DD" + "HH:MM:SS": ISO already (fast); anything else through vendor_time
        naive: dt.datetime | None = dt.datetime.fromisoformat(f"{call.date} {call.time}")
    except ValueError:
        naive = vendor_time(f"{call.date} {call.time}")
    if naive is None:
        return None
    return naive if naive.tzinfo is not None else naive.replace(tzinfo=_VELIP_ZONE)


def velip_call_record(call: VelipCallRecord, cp_id: str | None = None) -> CallRecord:
    """One ``GetCallStatus`` row as a :class:`CallRecord` (keyed by the digits of ``dest``)."""
    outcome, detail = velip_outcome(call.cd_status)
    started = velip_started_at(call)
    ended = started + dt.timedelta(seconds=call.dur) if started is not None and call.dur is not None else None
    return CallRecord(
        key=velip_key(call.dest),
        outcome=outcome,
        vendor_status=(call.cd_status or "").strip().upper() or None,
        detail=detail,
        started_at=started.astimezone(dt.timezone.utc).isoformat() if started else None,
        ended_at=ended.astimezone(dt.timezone.utc).isoformat() if ended else None,
        duration=float(call.dur) if call.dur is not None else None,
        cost=call.value,
        campaign_id=cp_id or call.cp_id,  # the flow's id: one string for the whole campaign
        call_id=call.cd_id,
    )


def velip_key(number: object) -> str:
    """The outcome key of a Velip number: its digits (``dest`` is country + area + number)."""
    text = str(number or "")
    return text if text.isdigit() else "".join(ch for ch in text if ch.isdigit())


def velip_records_flow(api: VelipReportEndpoints, campaign_ids: list[str]) -> PagedFlow[CallRecord, int]:
    """Every call of the campaigns ``campaign_ids`` (``GetCallStatus`` by ``cp_id``, 5,000 rows a
    page, following the cursor) as :class:`CallRecord`, page by page; returns the count."""
    total = 0
    for cp_id in campaign_ids:
        total += yield from map_emitted(
            api.call_status_flow(cp_id=cp_id, maxreg=MAXREG_LIMIT), functools.partial(velip_call_record, cp_id=cp_id)
        )
    return total
