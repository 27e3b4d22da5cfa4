"""Octopush delivery-report status -> normalized outcome: the one table.

Delivery reports (webhooks) carry ``status``: DELIVERED (the voice message was listened to),
NOT_DELIVERED, NOT_DELIVERABLE, BUSY, REFUSED, BLACKLISTED_NUMBER (public notes). Octopush has no
status endpoint: a recipient without a report is ``pending``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.models.outcomes import OUTCOMES, CallRecord
from airflow_provider_voice.transport import Emit, PagedFlow

__all__ = ["OCTOPUSH_OUTCOMES", "octopush_outcome", "octopush_records_flow", "report_record"]

VENDOR = "octopush"

#: Octopush status -> normalized outcome (see :data:`airflow_provider_voice.models.outcomes.OUTCOMES`)
OCTOPUSH_OUTCOMES = {
    "DELIVERED": "answered",
    "NOT_DELIVERED": "no_answer",
    "NOT_DELIVERABLE": "invalid_number",
    "BUSY": "busy",
    "REFUSED": "failed",
    "BLACKLISTED_NUMBER": "blocked",
}


def octopush_outcome(status: str | None) -> tuple[str, str | None]:
    """``(outcome, detail)`` for an Octopush status; an undocumented one is ``failed`` (never answered)."""
    code = (status or "").strip().upper()
    if not code or code == "PENDING":
        return "pending", None
    outcome = OCTOPUSH_OUTCOMES.get(code)
    if outcome is None:
        return "failed", f"undocumented Octopush status {code!r}"
    return outcome, None


def report_record(report: Mapping[str, Any], campaign_ref: str | None = None) -> CallRecord:
    """One stored delivery report (:meth:`EventStore.campaign_report_records`) as a
    :class:`CallRecord`, keyed by the report index's person key (a hash of the E.164 number)."""
    status = report.get("status")
    outcome, detail = octopush_outcome(status) if status else (report.get("outcome") or "pending", None)
    if outcome not in OUTCOMES:  # an index entry of an unknown outcome: never a success
        outcome, detail = "failed", f"undocumented Octopush outcome {outcome!r}"
    return CallRecord(
        key=str(report.get("person") or ""),
        outcome=outcome,
        vendor_status=str(status).upper() if status else None,
        detail=detail,
        ended_at=report.get("occurred_at"),
        duration=_number(report.get("duration_seconds")),
        billed_duration=_number(report.get("billed_seconds")),
        cost=_number(report.get("cost")),
        campaign_id=campaign_ref or report.get("campaign_ref") or report.get("ref"),
        call_id=report.get("ref"),
    )


def _number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def octopush_records_flow(store: EventStore, conn_id: str, tickets: list[str]) -> PagedFlow[CallRecord, int]:
    """The delivery reports stored for ``tickets`` (no vendor call: Octopush has no status
    endpoint) as :class:`CallRecord`, in pages of 5,000; returns the count."""
    total = 0
    page: list[CallRecord] = []
    for report in store.campaign_report_records(VENDOR, conn_id, tickets):
        page.append(report_record(report))
        if len(page) >= 5000:
            total += len(page)
            yield Emit(page)
            page = []
    if page:
        total += len(page)
        yield Emit(page)
    return total
