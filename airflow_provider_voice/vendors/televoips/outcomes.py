"""TeleVoIPs message events -> normalized outcome: the one table.

Outbound messages end with a ``message-delivered`` webhook (-> ``answered``: delivered to the
handset) or ``message-failed`` with ``errorCode`` and ``description`` (spec example: 4432
"forbidden to country"). TeleVoIPs publishes no list of error codes: the known codes are in
:data:`TELEVOIPS_ERROR_OUTCOMES`; otherwise the description's words decide (an opt-out, a
block, an invalid number), and anything else is ``failed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from airflow_provider_voice.delivery.event_store import EventStore
from airflow_provider_voice.models.outcomes import CallRecord

__all__ = ["TELEVOIPS_ERROR_OUTCOMES", "TELEVOIPS_MESSAGE_OUTCOMES", "televoips_outcome", "televoips_sms_records"]

VENDOR = "televoips"

#: message event type -> normalized outcome
TELEVOIPS_MESSAGE_OUTCOMES = {
    "message-delivered": "answered",
    "delivered": "answered",
    "message-failed": "failed",
    "failed": "failed",
}
#: message-failed ``errorCode`` -> normalized outcome (codes TeleVoIPs documents or shows)
TELEVOIPS_ERROR_OUTCOMES = {
    "4432": "blocked",  # "forbidden to country" (the spec's example)
}
_DESCRIPTION_OUTCOMES = (
    (re.compile(r"opt.?out|unsubscrib|\bstop\b", re.IGNORECASE), "opted_out"),
    (
        re.compile(r"invalid|not a valid|does not exist|unknown (number|destination)|unallocated", re.IGNORECASE),
        "invalid_number",
    ),
    (re.compile(r"forbidden|block|blacklist|spam|not allowed|prohibited", re.IGNORECASE), "blocked"),
)


def televoips_outcome(
    kind: str | None, error_code: str | None = None, description: str | None = None
) -> tuple[str, str | None]:
    """``(outcome, detail)`` of a message event (``kind`` is the event type or the provider's
    event outcome ``delivered``/``failed``)."""
    outcome = TELEVOIPS_MESSAGE_OUTCOMES.get((kind or "").strip().lower())
    if outcome is None:
        return "pending", None
    if outcome != "failed":
        return outcome, None
    detail = " ".join(part for part in (str(error_code or "").strip(), (description or "").strip()) if part) or None
    coded = TELEVOIPS_ERROR_OUTCOMES.get(str(error_code or "").strip())
    if coded is not None:
        return coded, detail
    for pattern, named in _DESCRIPTION_OUTCOMES:
        if description and pattern.search(description):
            return named, detail
    return "failed", detail


def televoips_sms_records(store: EventStore, conn_id: str, message_ids: Iterable[str]) -> Iterator[CallRecord]:
    """The ``message-delivered`` / ``message-failed`` events stored for ``message_ids`` (by the
    webhook receiver) as :class:`CallRecord` keyed by message id."""
    for report in store.campaign_report_records(VENDOR, conn_id, message_ids):
        outcome, detail = televoips_outcome(
            report.get("outcome"), report.get("error_code"), report.get("error_message")
        )
        message_id = str(report.get("campaign_ref") or report.get("ref") or "")
        yield CallRecord(
            key=message_id,
            outcome=outcome,
            vendor_status=str(report.get("status") or "") or None,
            detail=detail,
            ended_at=report.get("occurred_at"),
            cost=report.get("cost"),
            campaign_id=message_id,
            call_id=message_id,
        )
