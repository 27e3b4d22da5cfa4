"""Who was reached: one outcome per recipient, for every vendor and both channels (voice, SMS).

* :data:`OUTCOMES` — the normalized outcomes, the same for Velip, Octopush, Kaleyra and TeleVoIPs.
  Each vendor's folder holds one table mapping its statuses to them (``vendors/<vendor>/outcomes.py``,
  documented in ``docs/vendors/<vendor>.md``).
* :class:`RecipientOutcome` — one row of an outcome table: the person (row id, number, name,
  variables: it joins back to the input rows), the normalized outcome, the vendor's raw status,
  attempts, times, durations, cost and the vendor's ids.
* :data:`OUTCOME_COLUMNS` — the table's documented schema (name, Arrow type, meaning); the CSV
  and the Parquet file have exactly these columns in this order.
* :func:`combine_attempts` — the outcome of several attempts to reach one person.
* :func:`outcome_counts` — counts per outcome in :data:`OUTCOMES` order (what XCom carries).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "NOT_REACHED",
    "OUTCOMES",
    "OUTCOME_COLUMNS",
    "OUTCOME_MEANINGS",
    "CallRecord",
    "RecipientOutcome",
    "check_outcome_names",
    "combine_attempts",
    "outcome_counts",
]

#: every normalized outcome, in the order tables and counts list them
OUTCOMES = (
    "answered",
    "no_answer",
    "busy",
    "rejected",
    "failed",
    "invalid_number",
    "blocked",
    "opted_out",
    "pending",
    "suppressed",
    "not_sent",
)

#: what each outcome means (docs, ``--help`` texts and error messages)
OUTCOME_MEANINGS = {
    "answered": "reached: the call was answered (SMS: delivered to the handset)",
    "no_answer": "the call rang out or was not picked up (SMS: not delivered)",
    "busy": "the line was busy",
    "rejected": "the vendor refused the request that carried this recipient",
    "failed": "the call or message failed on the network or at the vendor",
    "invalid_number": "the number does not exist or cannot be called (also: a row whose number was invalid)",
    "blocked": "blocked: do-not-call / DND list, vendor blacklist, carrier or country block",
    "opted_out": "the person opted out (STOP) and was not contacted",
    "pending": "not ended yet, or the vendor has not reported it (never counted as reached)",
    "suppressed": "skipped by the suppression list (not sent)",
    "not_sent": "not sent (the delivery stopped before it, or every attempt to send it failed)",
}

#: outcomes that mean "not reached, a later attempt may reach them" — the default redial set
NOT_REACHED = ("no_answer", "busy")

#: the outcome table's schema: (column, Arrow type, meaning). CSV and Parquet use these columns.
OUTCOME_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("row_id", "string", "the input row's id (its row_id/id column, else its line or position)"),
    ("line", "int64", "line of the input file (position in a list) the row came from"),
    ("number", "string", "the recipient's number, E.164 (the raw value for an invalid row)"),
    ("name", "string", "the recipient's name"),
    ("variables", "string", "the row's other columns, a JSON object"),
    ("channel", "string", "voice | sms"),
    ("vendor", "string", "velip | octopush | kaleyra | televoips"),
    ("conn_id", "string", "the Airflow connection"),
    ("round", "int32", "redial round (1 = the first send)"),
    ("outcome", "string", "the normalized outcome (see OUTCOMES)"),
    ("vendor_status", "string", "the vendor's raw status (Velip OK/NA..., Kaleyra ANSWER..., Octopush DELIVERED...)"),
    ("detail", "string", "why, in words (vendor error text, rejection reason, 'no report yet'...)"),
    ("attempts", "int32", "calls or messages the vendor made to reach this person (0: none known)"),
    ("started_at", "timestamp[ms, tz=UTC]", "when the (last) call started or the message was sent"),
    ("ended_at", "timestamp[ms, tz=UTC]", "when it ended or was delivered"),
    ("duration", "float64", "seconds of the call (talk time)"),
    ("billed_duration", "float64", "seconds billed"),
    ("cost", "float64", "what the vendor charged, when it says"),
    ("campaign_id", "string", "the vendor's campaign / ticket / group id"),
    ("call_id", "string", "the vendor's id of the call or message"),
)


@dataclass(slots=True)
class CallRecord:
    """One attempt the vendor reports (a call of a campaign, a delivery report, an SMS event),
    already mapped to a normalized outcome by the vendor's table.

    :param key: the number as the vendor's outcome key (see ``CampaignBackend.outcome_key``).
    :param outcome: the normalized outcome.
    :param vendor_status: the vendor's raw status.
    :param detail: why (an undocumented status, an error text).
    :param started_at: ISO 8601 UTC start.
    :param ended_at: ISO 8601 UTC end.
    :param duration: talk seconds.
    :param billed_duration: billed seconds.
    :param cost: the vendor's charge.
    :param campaign_id: the vendor's campaign / ticket / group id.
    :param call_id: the vendor's call / message id.
    """

    key: str
    outcome: str
    vendor_status: str | None = None
    detail: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration: float | None = None
    billed_duration: float | None = None
    cost: float | None = None
    campaign_id: str | None = None
    call_id: str | None = None


def check_outcome_names(values: Iterable[Any], *, field: str) -> tuple[str, ...]:
    """``values`` as a tuple of known outcomes; an unknown name is a :class:`ValidationError` naming ``field``."""
    from airflow_provider_voice.errors import ValidationError  # models stay import-light

    if isinstance(values, str):
        values = [values]
    names = tuple(str(v).strip() for v in values)
    bad = [n for n in names if n not in OUTCOMES]
    if bad:
        raise ValidationError(field, bad, f"outcomes are {', '.join(OUTCOMES)}")
    return names


def combine_attempts(outcomes: Sequence[str]) -> str:
    """The outcome of several attempts to reach one person, in the order they were made:
    ``answered`` if any attempt was answered, else ``pending`` if one has not ended, else the last."""
    if not outcomes:
        return "pending"
    if "answered" in outcomes:
        return "answered"
    if "pending" in outcomes:
        return "pending"
    return outcomes[-1]


def outcome_counts(outcomes: Iterable[str]) -> dict[str, int]:
    """Counts per outcome, every outcome of :data:`OUTCOMES` present (zeros included), in that order."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


class RecipientOutcome(BaseModel):
    """One recipient's outcome: a row of the outcome table (see :data:`OUTCOME_COLUMNS`).

    :param row_id: the input row's id (joins the table back to the source).
    :param line: the input line / list position.
    :param number: E.164 number (the raw value of an invalid row).
    :param name: the recipient's name.
    :param variables: the row's other values.
    :param channel: ``voice`` or ``sms``.
    :param vendor: the vendor.
    :param conn_id: the connection.
    :param round: redial round (1 for the first send).
    :param outcome: one of :data:`OUTCOMES`.
    :param vendor_status: the vendor's raw status.
    :param detail: why, in words.
    :param attempts: attempts the vendor made (0 when none is known).
    :param started_at: ISO 8601 UTC start.
    :param ended_at: ISO 8601 UTC end.
    :param duration: talk seconds.
    :param billed_duration: billed seconds.
    :param cost: the vendor's charge.
    :param campaign_id: the vendor's campaign / ticket / group id.
    :param call_id: the vendor's call / message id.
    """

    model_config = ConfigDict(extra="forbid")

    row_id: str = ""
    line: int | None = None
    number: str = ""
    name: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    channel: str = "voice"
    vendor: str = ""
    conn_id: str | None = None
    round: int = 1
    outcome: str = "pending"
    vendor_status: str | None = None
    detail: str | None = None
    attempts: int = 0
    started_at: str | None = None
    ended_at: str | None = None
    duration: float | None = None
    billed_duration: float | None = None
    cost: float | None = None
    campaign_id: str | None = None
    call_id: str | None = None

    @field_validator("outcome")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in OUTCOMES:
            raise ValueError(f"outcome {value!r} is not one of {', '.join(OUTCOMES)}")
        return value

    def __repr__(self) -> str:  # never a full number in a log line or a traceback
        from airflow_provider_voice.redaction import redact

        return f"RecipientOutcome(row_id={self.row_id!r}, number={redact(self.number, phones=True)!r}, outcome={self.outcome!r})"

    __str__ = __repr__

    def row(self) -> dict[str, Any]:
        """The table row: :data:`OUTCOME_COLUMNS` in order (``variables`` as a JSON object text)."""
        data = self.__dict__
        out = {name: data[name] for name, _, _ in OUTCOME_COLUMNS}
        out["variables"] = json.dumps(self.variables, ensure_ascii=False, sort_keys=True) if self.variables else ""
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RecipientOutcome:
        """A row read back from a CSV or Parquet outcome table (empty cells are None)."""
        values: dict[str, Any] = {}
        for name, _, _ in OUTCOME_COLUMNS:
            value = row.get(name)
            if value is None or (isinstance(value, str) and value == "" and name != "row_id"):
                continue
            values[name] = value
        text = values.pop("variables", None)
        if text:
            parsed = json.loads(text) if isinstance(text, str) else text
            if not isinstance(parsed, Mapping):
                raise ValueError("the variables column is not a JSON object")
            values["variables"] = {str(k): str(v) for k, v in parsed.items()}
        for name in ("started_at", "ended_at"):
            if name in values and not isinstance(values[name], str):
                values[name] = values[name].isoformat()
        for name in ("line", "round", "attempts"):
            if name in values:
                values[name] = int(values[name])
        for name in ("duration", "billed_duration", "cost"):
            if name in values:
                values[name] = float(values[name])
        for name in ("row_id", "campaign_id", "call_id", "vendor_status"):
            if name in values:
                values[name] = str(values[name])
        return cls.model_validate(values)
