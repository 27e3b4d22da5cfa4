"""Rows of Velip's ``GetCallStatus`` and its page. Numbers sent as strings are typed; an empty string
becomes ``None``; date-times stay in Velip's text (Brazil time); the raw row is kept (``extra="allow"``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.models.call_reports import OptFloat, OptInt, OptText

__all__ = ["VelipCallRecord", "VelipCallStatusPage"]


class VelipCallRecord(BaseModel):
    """One call of Velip's ``GetCallStatus``.

    ``cd_status``: OK answered, NA not answered, EK bad number, IK number does not exist,
    CK mobile blocked, BK do-not-call list (``PD`` while queued or ringing, in the simulator).
    ``date``/``time`` are Velip's text (Brazil time); ``dur`` seconds; ``value`` the price.
    """

    model_config = ConfigDict(extra="allow")

    cd_id: str
    ctid: OptText = None
    cp_id: OptText = None
    cd_status: OptText = None
    dest: OptText = None
    date: OptText = None
    time: OptText = None
    dur: OptInt = None
    value: OptFloat = None


class VelipCallStatusPage(BaseModel):
    """One ``GetCallStatus`` answer: ``calls`` and the cursor (``has_more``, ``next_id`` to pass
    back as ``last_id``)."""

    model_config = ConfigDict(extra="allow")

    calls: list[VelipCallRecord] = Field(default_factory=list)
    has_more: bool = False
    next_id: str | None = None

    def __len__(self) -> int:
        return len(self.calls)
