"""Rows of Kaleyra's call reports (``dial``, ``dial.c2cstatus``, ``followup.reports``) and the pages
they come in. Numbers sent as strings are typed; an empty string becomes ``None``; date-times stay in
Kaleyra's text (India time); the raw row is kept (``extra="allow"``).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from airflow_provider_voice.models.call_reports import OptFloat, OptInt, OptText

__all__ = ["KaleyraCallRecord", "KaleyraFollowupRecord", "KaleyraReportPage"]


class KaleyraCallRecord(BaseModel):
    """One call of Kaleyra's ``dial`` (incoming calls forwarded to agents) or ``dial.c2cstatus``
    (click-to-call log) report.

    ``status`` is the first leg's outcome (ANSWER, BUSY, CANCEL, FAILED, CONGESTION, NOANSWER...),
    ``status2`` the second leg's (click-to-call). ``duration`` is the caller's seconds, ``billsec``
    the receiver's. ``start_time``/``end_time``/``date`` are Kaleyra's text (India time).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: OptText = None
    uniqid: OptText = None
    parent_id: OptText = Field(default=None, validation_alias=AliasChoices("parent_id", "parentid"))
    callfrom: OptText = None
    callto: OptText = None
    agent: OptText = None
    caller_id: OptText = None
    start_time: OptText = None
    end_time: OptText = None
    date: OptText = None
    duration: OptInt = None
    billsec: OptInt = None
    credits: OptFloat = None
    status: OptText = None
    status2: OptText = None
    recording: OptText = None
    notes: OptText = None
    location: OptText = None
    provider: OptText = None


class KaleyraFollowupRecord(BaseModel):
    """One row of Kaleyra's ``followup.reports``: a scheduled follow-up call.

    ``ontime`` is Kaleyra's text (``"14-10-2015 07:00:00 PM"``, India time).
    """

    model_config = ConfigDict(extra="allow")

    id: OptText = None
    phone: OptText = None
    name: OptText = None
    follower: OptText = None
    note: OptText = None
    ontime: OptText = None


RowT = TypeVar("RowT", bound=BaseModel)


class KaleyraReportPage(BaseModel, Generic[RowT]):
    """One page of a Kaleyra report (``limit`` rows asked from ``page``).

    Kaleyra gives no total: a page shorter than ``limit`` (or empty) is the last one
    (:attr:`is_last`). ``message`` is Kaleyra's status message.
    """

    rows: list[RowT] = Field(default_factory=list)
    page: int = 1
    limit: int | None = None
    message: str = ""

    @property
    def is_last(self) -> bool:
        """True when no further page can hold rows."""
        return not self.rows or self.limit is None or len(self.rows) < self.limit

    def __len__(self) -> int:
        return len(self.rows)
