"""Octopush delivery-report status -> normalized outcome: the one table.

Delivery reports (webhooks) carry ``status``: DELIVERED (the voice message was listened to),
NOT_DELIVERED, NOT_DELIVERABLE, BUSY, REFUSED, BLACKLISTED_NUMBER (public notes). Octopush has no
status endpoint: a recipient without a report is ``pending``.
"""

from __future__ import annotations

__all__ = ["OCTOPUSH_OUTCOMES", "octopush_outcome"]

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
