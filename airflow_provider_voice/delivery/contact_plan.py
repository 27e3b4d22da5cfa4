"""Who may be contacted now: a contact policy applied to a recipient list, before anything is sent.

A :class:`ContactPlanner` reads the recipients of a send (in a stream, never held in memory) and
puts each one in one of these groups, for the instant it plans at:

* ``already_sent`` — the send's checkpoint holds them (an earlier slice or try got them to the
  vendor, or left them in doubt): never sent again;
* ``due`` — their window is open in **their** time zone (all zones of their number: the most
  restrictive), stays open at least ``margin`` more, and no frequency rule holds them;
* ``held_window`` — outside their window: sent when it next opens (before the deadline);
* ``held_cap`` — over a frequency rule (minimum gap, contacts per period, pause after a
  refusal) until a known time (before the deadline), with ``over_cap="defer"``;
* ``skipped_cap`` — over a frequency rule, with ``over_cap="skip"``: not contacted by this send;
* ``beyond_deadline`` — no allowed instant before the deadline (a window that never opens, a
  pause that ends after it).

The plan's :attr:`ContactPlan.next_wake` is the earliest instant a held recipient becomes due:
the operator sends the ``due`` ones, then waits (deferred in the triggerer) until then, and plans
again — the checkpoint makes every slice exactly-once. Nobody is dropped: every recipient is in
exactly one group, and the groups add up to the recipients read (:meth:`ContactPlan.total`).

While a slice is sent, :meth:`ContactPlanner.due` checks the clock again for every recipient it
hands to the vendor: one whose window has closed meanwhile (less than ``margin`` left) is not
sent; the operator plans again after every slice, so the next plan holds it (or counts it
``beyond_deadline``).

Time zones come from a ``timezone_field`` column when the row has one, else from the number
(:meth:`~airflow_provider_voice.delivery.contact_policy.ContactPolicy.zones_for`: its
``timezone_fallback`` applies); public holidays from the
number's country and an optional ``subdivision_field`` column. A schedule is computed once per
distinct (zones, country, subdivision): planning is a dictionary lookup per recipient.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_voice.delivery.contact_ledger import ContactLedger
from airflow_provider_voice.delivery.contact_policy import ContactPolicy, country_of
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.redaction import get_logger

__all__ = ["GROUPS", "ContactPlan", "ContactPlanner"]

log = get_logger(__name__)

#: the groups of a plan (see the module docstring), in the order of the summary
GROUPS = ("already_sent", "due", "held_window", "held_cap", "skipped_cap", "beyond_deadline")
#: recipients whose ledger history is read in one call
HISTORY_BATCH = 5_000
#: zone classes listed in a plan's summary (the rest are counted in ``more_zones``)
SHOWN_ZONES = 20


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


@dataclass
class ZoneCount:
    """Recipients of one zone class in a plan."""

    zones: tuple[str, ...]
    country: str | None
    subdivision: str | None
    recipients: int = 0
    due: int = 0
    #: when the window opens next for the held ones (POSIX), None when open now or never
    next_open: float | None = None
    #: when the current window closes (POSIX), None when closed
    open_until: float | None = None

    def label(self) -> str:
        """``Europe/Paris`` / ``America/Anchorage+America/Adak`` (with ``@FR-57`` for a subdivision)."""
        where = "+".join(self.zones) or "unknown zone"
        return where + (f" @{self.country}-{self.subdivision}" if self.subdivision else "")

    def summary(self) -> dict[str, Any]:
        return {
            "zones": list(self.zones), "country": self.country, "subdivision": self.subdivision,
            "recipients": self.recipients, "due": self.due,
            "next_open": _iso(self.next_open), "open_until": _iso(self.open_until),
        }  # fmt: skip


@dataclass
class ContactPlan:
    """What a :class:`ContactPlanner` decided for every recipient, at :attr:`now` (counts only: no number).

    :param now: the planning instant (POSIX).
    :param deadline: the send's deadline (POSIX).
    :param next_wake: the earliest instant a held recipient becomes due (None: nobody is held).
    :param holds: held and skipped recipients per reason (``window``, ``no_time_zone``, ``min_gap``,
        ``max_contacts``, ``refusal_pause``).
    :param zones: recipients per zone class.
    """

    now: float
    deadline: float
    already_sent: int = 0
    due: int = 0
    held_window: int = 0
    held_cap: int = 0
    skipped_cap: int = 0
    beyond_deadline: int = 0
    next_wake: float | None = None
    holds: dict[str, int] = field(default_factory=dict)
    zones: dict[tuple[Any, ...], ZoneCount] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every recipient read: the groups add up to it."""
        return sum(getattr(self, name) for name in GROUPS)

    @property
    def held(self) -> int:
        """Recipients still to send later (by a wake before the deadline)."""
        return self.held_window + self.held_cap

    @property
    def unsent(self) -> int:
        """Recipients this send will not contact: skipped, or with no allowed instant before the deadline."""
        return self.skipped_cap + self.beyond_deadline

    def due_windows(self) -> list[float | None]:
        """When the windows of the recipients due now close (POSIX, earliest first; None for recipients
        whose window has no end, e.g. a transactional send an exempting policy does not restrict): one
        send per window for a vendor that stops dialing at a given time (Velip)."""
        ends = {z.open_until for z in self.zones.values() if z.due}
        return sorted(ends, key=lambda end: (end is None, end or 0.0))

    def hold(self, reason: str) -> None:
        self.holds[reason] = self.holds.get(reason, 0) + 1

    def wake_at(self, ts: float) -> None:
        self.next_wake = ts if self.next_wake is None else min(self.next_wake, ts)

    def summary(self) -> dict[str, Any]:
        """XCom-safe counts: the groups, the reasons, the next wake, the zone classes."""
        zones = sorted(self.zones.values(), key=lambda z: (-z.recipients, z.label()))
        out: dict[str, Any] = {name: getattr(self, name) for name in GROUPS}
        out.update(
            at=_iso(self.now), deadline=_iso(self.deadline), next_wake=_iso(self.next_wake), holds=dict(self.holds),
            zones=[z.summary() for z in zones[:SHOWN_ZONES]], more_zones=max(0, len(zones) - SHOWN_ZONES),
        )  # fmt: skip
        return out

    def line(self) -> str:
        """One log line."""
        parts = [f"{getattr(self, n)} {n.replace('_', ' ')}" for n in GROUPS if getattr(self, n)]
        wake = f"; next window opens {_iso(self.next_wake)}" if self.next_wake is not None else ""
        reasons = f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.holds.items()))})" if self.holds else ""
        return (", ".join(parts) or "no recipient") + reasons + wake


class ContactPlanner:
    """Applies a :class:`~airflow_provider_voice.delivery.contact_policy.ContactPolicy` to recipients.

    :param policy: the policy.
    :param deadline: POSIX time after which nobody held is sent (they are ``beyond_deadline``).
    :param ledger: the contact ledger read for the frequency rules (None: only the time rules apply;
        a policy with frequency rules then fails: see :meth:`check`).
    :param timezone_field: the row column (a recipient variable) holding an IANA time zone.
    :param subdivision_field: the row column holding the holidays' subdivision (``"57"``, ``"CA"``).
    :param margin: seconds a window must still be open for a recipient to be sent in it.
    :param over_cap: ``"defer"`` (held until the rule allows) or ``"skip"``.
    """

    def __init__(
        self,
        policy: ContactPolicy,
        *,
        deadline: float,
        ledger: ContactLedger | None = None,
        timezone_field: str | None = None,
        subdivision_field: str | None = None,
        margin: float = 300.0,
        over_cap: Literal["defer", "skip"] = "defer",
    ) -> None:
        self.policy = policy
        self.deadline = float(deadline)
        self.ledger = ledger
        self.timezone_field = timezone_field or None
        self.subdivision_field = subdivision_field or None
        self.margin = float(margin)
        self.over_cap = over_cap
        self.exempt = bool(policy.exempt_transactional and policy.purpose == "transactional")
        self.frequency = bool(policy.min_gap or policy.max_contacts or policy.pause_after_refusal)
        #: how far back the ledger is read (the longest rule)
        spans = [policy.min_gap, policy.period, policy.pause_after_refusal]
        self.lookback = max((s.total_seconds() for s in spans if s is not None), default=0.0)

    def check(self) -> None:
        """Refuse a policy that cannot be applied (frequency rules without a ledger)."""
        if self.frequency and self.ledger is None:
            raise ValidationError(
                "contact_policy", self.policy.name,
                "has frequency rules (min_gap, max_contacts, pause_after_refusal) and needs a contact ledger",
            )  # fmt: skip

    # -- one recipient -----------------------------------------------------------------------------
    def zone_class(self, recipient: Recipient) -> tuple[tuple[str, ...], str | None, str | None]:
        """The recipient's (zones, country, subdivision); a bad ``timezone_field`` value is a ValidationError."""
        number = str(recipient.number)
        explicit = recipient.variables.get(self.timezone_field) if self.timezone_field else None
        subdivision = (recipient.variables.get(self.subdivision_field) or None) if self.subdivision_field else None
        return self.policy.zones_for(number, explicit or None), country_of(number), subdivision

    def _decide(
        self, recipient: Recipient, now: float, history: Any, plan: ContactPlan
    ) -> tuple[str, float | None, ZoneCount]:
        zones, country, subdivision = self.zone_class(recipient)
        count = plan.zones.get((zones, country, subdivision))
        if count is None:
            count = plan.zones[(zones, country, subdivision)] = self._zone_count(zones, country, subdivision, now)
        count.recipients += 1
        if not self.exempt:  # a transactional send under an exempting policy: only the refusal pause applies
            if not zones:
                plan.hold("no_time_zone")
                return "beyond_deadline", None, count
            if count.open_until is None or count.open_until - now < self.margin:
                plan.hold("window")
                if count.next_open is None or count.next_open > self.deadline:
                    return "beyond_deadline", None, count
                return "held_window", count.next_open, count
        if history is not None:
            held = self.policy.frequency_hold(history.contacts, history.refusals, now)
            if held is not None:
                reason, not_before = held
                plan.hold(reason)
                if self.over_cap == "skip":
                    return "skipped_cap", None, count
                if not_before > self.deadline:
                    return "beyond_deadline", None, count
                return "held_cap", not_before, count
        return "due", None, count

    def _zone_count(
        self, zones: tuple[str, ...], country: str | None, subdivision: str | None, now: float
    ) -> ZoneCount:
        count = ZoneCount(zones, country, subdivision)
        if not zones or self.exempt:
            return count
        schedule = self.policy.schedule(zones, country=country, subdivision=subdivision)
        at = datetime.fromtimestamp(now, timezone.utc)
        until = schedule.open_until(at)
        count.open_until = until.timestamp() if until is not None else None
        if count.open_until is None or count.open_until - now < self.margin:
            after = datetime.fromtimestamp(max(now, count.open_until or now) + 1.0, timezone.utc)
            nxt = schedule.next_open(after)
            for _ in range(64):  # a window shorter than the margin is passed over: the next one long enough
                end = schedule.open_until(nxt) if nxt is not None else None
                if nxt is None or end is None or end.timestamp() - nxt.timestamp() >= self.margin:
                    break
                nxt = schedule.next_open(datetime.fromtimestamp(end.timestamp() + 1.0, timezone.utc))
            count.next_open = nxt.timestamp() if nxt is not None else None
        return count

    # -- a stream ------------------------------------------------------------------------------------
    def _histories(self, batch: list[Recipient], now: float) -> dict[str, Any]:
        if not self.frequency or self.ledger is None or (self.exempt and not self.policy.pause_after_refusal):
            return {}
        return self.ledger.history((str(r.number) for r in batch), since=now - self.lookback)

    def _batches(self, recipients: Iterable[Recipient]) -> Iterator[list[Recipient]]:
        batch: list[Recipient] = []
        for recipient in recipients:
            batch.append(recipient)
            if len(batch) >= HISTORY_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def plan(
        self, recipients: Iterable[Recipient], *, sent: Callable[[Recipient], bool], now: float | None = None
    ) -> ContactPlan:
        """Decide for every recipient at ``now`` (default: the clock); see the module docstring.

        :param recipients: the validated recipients (read once, in a stream).
        :param sent: whether the send's checkpoint already holds a recipient.
        :param now: the planning instant (POSIX).
        """
        now = time.time() if now is None else float(now)
        plan = ContactPlan(now=now, deadline=self.deadline)
        for batch in self._batches(recipients):
            histories = self._histories(batch, now)
            for recipient in batch:
                if sent(recipient):
                    plan.already_sent += 1
                    continue
                group, wake, count = self._decide(recipient, now, histories.get(str(recipient.number)), plan)
                setattr(plan, group, getattr(plan, group) + 1)
                if group == "due":
                    count.due += 1
                elif wake is not None:
                    plan.wake_at(wake)
        return plan

    def due(
        self,
        recipients: Iterable[Recipient],
        *,
        sent: Callable[[Recipient], bool],
        clock: Callable[[], float] | None = None,
        window: bool = False,
        until: float | None = None,
    ) -> Iterator[Recipient]:
        """The recipients due now, checked again against the clock as each one is handed on (one whose
        window has closed meanwhile is not: the next plan holds it).

        :param window: only the recipients whose window closes at ``until`` (see
            :meth:`ContactPlan.due_windows`; None: the windows without an end).
        :param until: with ``window``, that end.
        """
        clock = clock or time.time  # read at call time (a test's frozen clock)
        plan = ContactPlan(now=clock(), deadline=self.deadline)
        for batch in self._batches(recipients):
            now = clock()
            histories = self._histories(batch, now)
            for recipient in batch:
                if sent(recipient):
                    continue
                group, _, count = self._decide(recipient, clock(), histories.get(str(recipient.number)), plan)
                if group == "due" and (not window or count.open_until == until):
                    yield recipient

    def sendable(self, recipients: Iterable[Recipient], *, sent: Callable[[Recipient], bool]) -> Iterator[Recipient]:
        """The recipients this send would contact, now or after a wait (due or held): a dry run's estimate."""
        plan = ContactPlan(now=time.time(), deadline=self.deadline)
        for batch in self._batches(recipients):
            histories = self._histories(batch, plan.now)
            for recipient in batch:
                if not sent(recipient):
                    group, _, _ = self._decide(recipient, plan.now, histories.get(str(recipient.number)), plan)
                    if group in ("due", "held_window", "held_cap"):
                        yield recipient

    def __repr__(self) -> str:
        return (
            f"ContactPlanner({self.policy.name!r}, deadline={_iso(self.deadline)}, margin={math.floor(self.margin)} s)"
        )
