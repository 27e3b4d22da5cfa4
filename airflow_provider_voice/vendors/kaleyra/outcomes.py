"""Kaleyra call status -> normalized outcome: the one table (OBD ``voice.groupstatus``/``voice.status``,
callbacks' ``{status}``).

Statuses seen (public notes): ANSWER, BUSY, NOANSWER, CANCEL, FAILED, CONGESTION, CHANUNAVAIL,
DND, NOTALLOWED, NOANSWER_LEG1/LEG2, FAILED_LEG1/LEG2; OBD also SENT (queued, not ended) and
COMPLETED (the call was made and answered).
"""

from __future__ import annotations

__all__ = ["KALEYRA_OUTCOMES", "KALEYRA_PENDING", "kaleyra_outcome"]

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
