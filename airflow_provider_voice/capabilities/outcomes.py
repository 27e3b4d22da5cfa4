"""Who was reached: the vendor-free join of recipients, checkpoint and the vendor's per-call records.

Every recipient of a send gets exactly one :class:`~airflow_provider_voice.models.outcomes.RecipientOutcome`:

1. The checkpoint says what became of the frame that carried them (:class:`~airflow_provider_voice.delivery.CheckpointStore`;
   members are keyed hashes, so the recipients are hashed the same way to find their frame):
   * **accepted** (``done``) -> the vendor's records for their number decide (several attempts are
     combined by :func:`~airflow_provider_voice.models.outcomes.combine_attempts`); no record yet ->
     ``pending`` (never counted as reached), or ``rejected`` when the vendor's answer for that frame
     left numbers out;
   * **refused** (``rejected``) -> ``rejected`` with the vendor's reason;
   * **not sent** (``failed``) -> ``not_sent``; **in doubt** (``intent``/``doubt``) -> ``pending``
     with the reason;
   * **no frame** -> ``suppressed`` when the suppression list holds the number, else ``not_sent``.
2. The row's id, line, name and variables come from the recipient (see
   :attr:`~airflow_provider_voice.models.recipients.Recipient.row_id`): the table joins back to
   the input rows.

The vendor's records come from the backend (:meth:`OutcomeSource.records`): Velip ``GetCallStatus``
per campaign (paged, 5,000 a page), Kaleyra ``voice.groupstatus`` per group, Octopush and
TeleVoIPs from the delivery reports stored by the webhook receiver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_voice.delivery import CheckpointKey, CheckpointStore, SuppressionList
from airflow_provider_voice.delivery.checkpoint import CheckpointState, FrameState
from airflow_provider_voice.models.outcomes import CallRecord, RecipientOutcome, combine_attempts
from airflow_provider_voice.models.recipients import Recipient

__all__ = ["OutcomeJoin", "OutcomeSource", "group_records"]

#: which frame wins when a recipient was in several (a refused frame, then an accepted one)
_FRAME_RANK = {"done": 5, "doubt": 4, "intent": 3, "rejected": 2, "failed": 1}


class OutcomeSource(Protocol):
    """What a backend gives for outcome collection (campaign backends, SMS capabilities)."""

    @property
    def vendor(self) -> str:
        """The vendor."""
        ...

    def outcome_key(self, number: Any) -> str:
        """The key the vendor's records use for ``number`` (a :class:`PhoneNumber`)."""
        ...


def group_records(records: Iterable[CallRecord]) -> dict[str, list[CallRecord]]:
    """Records by key, each list in the order of the attempts (start time, then the vendor's order)."""
    grouped: dict[str, list[CallRecord]] = {}
    for record in records:
        grouped.setdefault(record.key, []).append(record)
    for attempts in grouped.values():
        if len(attempts) > 1:
            attempts.sort(key=lambda r: r.started_at or "")
    return grouped


def _frames_by_member(state: CheckpointState) -> dict[str, FrameState]:
    frames: dict[str, FrameState] = {}
    for frame in state.frames.values():
        rank = _FRAME_RANK.get(frame.status, 0)
        for member in frame.members:
            known = frames.get(member)
            if known is None or _FRAME_RANK.get(known.status, 0) < rank:
                frames[member] = frame
    return frames


@dataclass
class OutcomeJoin:
    """One delivery's recipients joined with its checkpoint and the vendor's records.

    :param key: the delivery's checkpoint key (the task instance; a redial round has its own).
    :param store: the checkpoint store.
    :param records: the vendor's records by key (:func:`group_records`).
    :param outcome_key: recipient number -> record key.
    :param vendor: the vendor.
    :param conn_id: the connection.
    :param channel: ``voice`` or ``sms``.
    :param round: the redial round.
    :param suppression: the suppression list of the send (labels the recipients it skipped).
    :param no_record_detail: the detail of an accepted recipient without any record yet.
    :param not_sent_detail: the detail of a recipient no frame carried (not suppressed): a contact
        policy that held them says so.
    :param item_key: the delivery channel's item key (default: the E.164 number).
    :param record_ref: for channels whose records are keyed by the frame's vendor id (SMS message
        ids): frame refs -> the record key to look up instead of the number.
    """

    key: CheckpointKey
    store: CheckpointStore
    records: Mapping[str, list[CallRecord]]
    outcome_key: Callable[[Any], str]
    vendor: str
    conn_id: str | None = None
    channel: str = "voice"
    round: int = 1
    suppression: SuppressionList | None = None
    no_record_detail: str = "accepted; the vendor reports no call for this number yet"
    not_sent_detail: str = "never sent (the delivery stopped before it)"
    item_key: Callable[[Recipient], str] = field(default=lambda r: str(r.number))
    record_ref: Callable[[list[str]], str | None] | None = None

    def __post_init__(self) -> None:
        self._frames = _frames_by_member(self.store.state_or_legacy(self.key))
        self._member = self.key.member_hasher()

    def outcomes(self, recipients: Iterable[Recipient]) -> Iterator[RecipientOutcome]:
        """One :class:`RecipientOutcome` per recipient, in the source's order."""
        for recipient in recipients:
            yield self.outcome(recipient)

    def outcome(self, recipient: Recipient) -> RecipientOutcome:
        """The outcome of one recipient (see the module docstring)."""
        frame = self._frames.get(self._member(self.item_key(recipient)))
        base: dict[str, Any] = {
            "row_id": recipient.row_id or "",
            "line": recipient.line,
            "number": str(recipient.number),
            "name": recipient.name,
            "variables": dict(recipient.variables),
            "channel": self.channel,
            "vendor": self.vendor,
            "conn_id": self.conn_id,
            "round": self.round,
        }
        if frame is None:
            if self.suppression is not None and str(recipient.number) in self.suppression:
                return RecipientOutcome(**base, outcome="suppressed", detail="on the suppression list: not sent")
            return RecipientOutcome(**base, outcome="not_sent", detail=self.not_sent_detail)
        if frame.status == "rejected":
            return RecipientOutcome(**base, outcome="rejected", detail=frame.error or "the vendor refused the request")
        if frame.status == "failed":
            return RecipientOutcome(**base, outcome="not_sent", detail=frame.error or "could not be sent")
        if frame.status != "done":
            why = frame.error or "the vendor's answer was lost"
            return RecipientOutcome(**base, outcome="pending", detail=f"in doubt (the vendor may have it): {why}")
        refs = frame.result.refs if frame.result is not None else []
        lookup = self.record_ref(refs) if self.record_ref is not None else self.outcome_key(recipient.number)
        attempts = self.records.get(lookup, []) if lookup else []
        campaign = refs[0] if refs else None
        if not attempts:
            refused = frame.result is not None and frame.result.rejected > 0
            if refused:
                detail = "the vendor's answer for this request did not list this number (refused)"
                return RecipientOutcome(**base, outcome="rejected", detail=detail, campaign_id=campaign)
            return RecipientOutcome(**base, outcome="pending", detail=self.no_record_detail, campaign_id=campaign)
        outcome = combine_attempts([a.outcome for a in attempts])
        deciding = next((a for a in reversed(attempts) if a.outcome == outcome), attempts[-1])
        costs = [a.cost for a in attempts if a.cost is not None]
        return RecipientOutcome(
            **base,
            outcome=outcome,
            vendor_status=deciding.vendor_status,
            detail=deciding.detail,
            attempts=len(attempts),
            started_at=deciding.started_at,
            ended_at=deciding.ended_at,
            duration=deciding.duration,
            billed_duration=deciding.billed_duration,
            cost=round(sum(costs), 6) if costs else None,
            campaign_id=deciding.campaign_id or campaign,
            call_id=deciding.call_id,
        )
