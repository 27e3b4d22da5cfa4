"""Normalized campaign models shared by Velip, Octopush and Kaleyra.

* :class:`CampaignSpec` — what to say, when, and vendor-only options (recipients are streamed
  separately, never stored in the spec).
* :class:`CampaignHandle` — what a send produced: the vendor's ids and the counts. Small and
  JSON-ready: this is what :class:`~airflow_provider_voice.operators.campaign.SendVoiceCampaignOperator`
  pushes to XCom (never the recipient list).
* :class:`CampaignStatus` — progress of a campaign with counts per normalized outcome; what
  :class:`~airflow_provider_voice.sensors.campaign.CampaignCompletionSensor` returns.
* :class:`CampaignOptions` — base of the per-vendor option models (typed ``vendor_options``; unknown
  keys are refused), each in its vendor's folder (``vendors/<vendor>/campaign.py``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CALL_OUTCOMES",
    "OUTCOMES",
    "CampaignHandle",
    "CampaignOptions",
    "CampaignSpec",
    "CampaignStatus",
]

#: the outcomes a campaign status counts (a subset of :data:`airflow_provider_voice.models.outcomes.OUTCOMES`:
#: every vendor call status maps to one of these)
CALL_OUTCOMES = ("answered", "no_answer", "busy", "failed", "invalid_number", "blocked", "pending")
#: the same (the name earlier releases used)
OUTCOMES = CALL_OUTCOMES

TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CampaignOptions(BaseModel):
    """Base of the vendor option models: unknown keys are an error (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid")
    vendor: ClassVar[str] = ""

    #: recipients per request (each vendor caps it; ``None`` = the vendor's best size)
    frame_size: int | None = Field(default=None, ge=1)


class CampaignSpec(BaseModel):
    """What a voice campaign says and when (the recipients are streamed separately).

    :param name: campaign name (Velip: at most 50 characters; Kaleyra: campaign label).
    :param message: the text read by TTS. Kaleyra: ``{name}``/``{variable}`` placeholders give a
        different message per number (``voice.json``).
    :param audio: a pre-recorded audio reference instead of text (Velip ``content`` id, Kaleyra
        ``play`` such as ``123.sound`` or ``ivr:1234``). Octopush has none.
    :param voice: TTS voice (Velip ``voice``; Octopush: ``male``/``female``).
    :param language: TTS language (Octopush ``voice_language``, e.g. ``fr-FR``).
    :param schedule: when the calls start (aware datetime or ISO 8601; naive = UTC). None = now.
    :param vendor_options: the connection vendor's options (a dict or an options model).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    message: str | None = None
    audio: str | None = None
    voice: str | None = None
    language: str | None = None
    schedule: datetime | None = None
    vendor_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        if isinstance(value, str):
            text = value.strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            value = datetime.fromisoformat(text)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

    @field_validator("vendor_options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, BaseModel):
            return value.model_dump(exclude_unset=True)
        return value


class CampaignHandle(BaseModel):
    """What a campaign send produced (the operator's XCom value; never the recipient list).

    :param vendor: ``velip`` | ``octopush`` | ``kaleyra``.
    :param conn_id: the connection used.
    :param name: the campaign name.
    :param campaign_ids: the vendor's ids: Velip ``cp_id`` per campaign, Octopush ticket numbers,
        Kaleyra group ids.
    :param accepted: recipients the vendor accepted (this try and earlier tries).
    :param rejected: recipients the vendor refused (frames answered with an error).
    :param suppressed: recipients skipped by the suppression list.
    :param invalid: rows skipped because their number is invalid (only with ``skip_invalid``).
    :param duplicates: repeated numbers skipped.
    :param in_doubt: recipients whose fate is unknown (reported, not resent).
    :param resumed: recipients accepted by an earlier try of the task (not resent).
    :param cost: total cost when the vendor reports it (Octopush ``total_cost`` summed).
    :param estimated_duration: Octopush's ``estimated_duration`` (seconds, largest frame).
    :param started_at: ISO 8601 UTC time of the send (the start for Octopush's estimate).
    :param schedule: ISO 8601 UTC start when the campaign was scheduled.
    :param extra: vendor facts (Octopush ``residual_credit``, ...).
    :param checkpoint: the send's checkpoint key (``dag_id``, ``task_id``, ``run_id``, ``map_index``,
        ``namespace``): :class:`~airflow_provider_voice.operators.outcomes.CollectOutcomesOperator` joins
        the recipients with it.
    :param round: the redial round this send was (1: the first).
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    conn_id: str | None = None
    name: str = ""
    campaign_ids: list[str] = Field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    suppressed: int = 0
    invalid: int = 0
    duplicates: int = 0
    in_doubt: int = 0
    resumed: int = 0
    cost: float | None = None
    estimated_duration: float | None = None
    started_at: str | None = None
    schedule: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    round: int = 1


class CampaignStatus(BaseModel):
    """Progress of a campaign, normalized across vendors.

    :param vendor: the vendor.
    :param campaign_ids: the ids looked at.
    :param state: ``scheduled`` | ``running`` | ``paused`` | ``finished`` | ``unknown``.
    :param total: calls in the campaign.
    :param done: calls in a terminal state.
    :param counts: calls per normalized outcome (:data:`OUTCOMES`; ``pending`` = not ended yet).
    :param vendor_counts: calls per vendor status code (Velip ``OK``/``NA``..., Kaleyra ``COMPLETED``...).
    :param finished: every call is in a terminal state.
    :param estimated: True when progress is an estimate, not the vendor's report (Octopush).
    :param message: a one-line human summary.
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    campaign_ids: list[str] = Field(default_factory=list)
    state: str = "unknown"
    total: int = 0
    done: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    vendor_counts: dict[str, int] = Field(default_factory=dict)
    finished: bool = False
    estimated: bool = False
    message: str = ""

    @property
    def answered_share(self) -> float:
        """Answered calls / all calls (0 when the campaign is empty)."""
        return self.counts.get("answered", 0) / self.total if self.total else 0.0

    def summary(self) -> str:
        """``"finished: 1,400/2,000 done, answered 980 (49.0%)..."``."""
        parts = [f"{k} {v}" for k, v in self.counts.items() if v]
        return (
            f"{self.vendor} {self.state}: {self.done:,}/{self.total:,} calls ended"
            + (f" ({', '.join(parts)})" if parts else "")
            + (f", answered share {self.answered_share:.1%}" if self.total and not self.estimated else "")
            + (" [estimate]" if self.estimated else "")
        )
