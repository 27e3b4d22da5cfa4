"""Velip call status -> normalized outcome: the one table (``cd_status``, ``cd_called_status``, ``cp_counts`` keys).

Velip's codes (public notes): OK answered, NA not answered, EK bad number, IK number does not
exist, CK mobile blocked, BK do-not-call list. A code not in the table is kept as the raw
status and counted ``failed`` in a campaign status (never answered), ``pending`` while the call
has not ended (``PD``, or no code).
"""

from __future__ import annotations

__all__ = ["VELIP_OUTCOMES", "VELIP_PENDING", "velip_outcome"]

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
