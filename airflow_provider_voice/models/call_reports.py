"""Rows of the vendors' call reports (Kaleyra ``dial`` / ``dial.c2cstatus`` / ``followup.reports``,
Velip ``GetCallStatus``) and the pages they come in.

Numbers the vendors send as strings (``"36"``, ``"1.200"``) are typed (``int``, ``float``); an empty
string becomes ``None``. Date-times stay in the vendor's own text (Kaleyra: India time, Velip:
Brazil time) because the vendors do not say their zone in the payload; the raw row is kept by
``extra="allow"``, so a new vendor field never breaks parsing.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "KaleyraCallRecord",
    "KaleyraFollowupRecord",
    "KaleyraReportPage",
    "VelipCallRecord",
    "VelipCallStatusPage",
]


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if value == {} or value == []:  # an empty XML element parsed as a container
        return None
    return value


def _text(value: Any) -> Any:
    value = _blank_to_none(value)
    return None if value is None else str(value)


OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptFloat = Annotated[float | None, BeforeValidator(_blank_to_none)]
OptText = Annotated[str | None, BeforeValidator(_text)]


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
