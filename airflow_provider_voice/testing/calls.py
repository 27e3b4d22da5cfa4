"""Simulated calls: deterministic outcomes and progress over (simulated) time.

A :class:`CallBatch` is what one accepted request turned into (a Velip campaign, a Kaleyra
voice.call group, an Octopush ticket, a single MakeTTSCall, ...). Its calls go
``queued -> calling -> done`` in slots of ``lines`` parallel calls, each slot taking
``call_seconds`` of active time; nothing is stored per call, progress is computed from the clock,
so a 500,000-number campaign costs no more than a list of its numbers.

The outcome of a call depends only on the seed and the number (a number that is "busy" in one
campaign is busy in the next), unless ``overrides`` names it. Vendors map the generic
:class:`Outcome` to their own codes.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping, Sequence
from enum import Enum


class Outcome(str, Enum):
    """Generic end state of a call."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CONGESTION = "congestion"
    BAD_NUMBER = "bad_number"
    BLOCKED = "blocked"


class Phase(str, Enum):
    """Where a call is in its life."""

    QUEUED = "queued"
    CALLING = "calling"
    DONE = "done"


DEFAULT_OUTCOME_WEIGHTS: dict[str, float] = {
    "answered": 0.70,
    "no_answer": 0.12,
    "busy": 0.07,
    "failed": 0.04,
    "congestion": 0.02,
    "bad_number": 0.03,
    "blocked": 0.02,
}


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def digits(number: str) -> str:
    """Only the digits of a phone number."""
    return "".join(ch for ch in number if ch.isdigit())


class OutcomeModel:
    """Deterministic outcome and durations of a call to a number.

    :param seed: the simulator seed.
    :param weights: relative weight of each :class:`Outcome` (names as keys).
    :param overrides: number (digits) -> outcome name, to force an outcome.
    """

    def __init__(
        self, seed: int | str, weights: Mapping[str, float], overrides: Mapping[str, str] | None = None
    ) -> None:
        self.seed = seed
        total = sum(max(0.0, float(w)) for w in weights.values()) or 1.0
        self._edges: list[float] = []
        self._outcomes: list[Outcome] = []
        edge = 0.0
        for name, weight in weights.items():
            edge += max(0.0, float(weight)) / total
            self._edges.append(edge)
            self._outcomes.append(Outcome(name))
        self._overrides = {digits(k): Outcome(v) for k, v in (overrides or {}).items()}

    def outcome(self, number: str) -> Outcome:
        """The outcome of calling ``number``."""
        key = digits(number)
        forced = self._overrides.get(key)
        if forced is not None:
            return forced
        index = bisect.bisect_right(self._edges, _unit(self.seed, "outcome", key))
        return self._outcomes[min(index, len(self._outcomes) - 1)]

    def talk_seconds(self, number: str, outcome: Outcome) -> int:
        """Reported conversation length (0 unless answered)."""
        if outcome is not Outcome.ANSWERED:
            return 0
        return 8 + int(_unit(self.seed, "talk", digits(number)) * 80)

    def ring_seconds(self, number: str) -> int:
        """Reported ringing time before the outcome."""
        return 3 + int(_unit(self.seed, "ring", digits(number)) * 25)

    def confirms(self, number: str, rate: float) -> bool:
        """Whether a person who answers a confirmation call (Velip ``MakeTTSCall`` type 2) presses the
        key: deterministic per number, true for a share ``rate`` of the numbers."""
        return _unit(self.seed, "dtmf", digits(number)) < rate


class CallBatch:
    """The calls of one accepted request, progressing with the clock.

    :param ref: the vendor's id for the batch (campaign id, group id, ticket, ...).
    :param numbers: the numbers, in dialling order.
    :param created_at: POSIX time of acceptance.
    :param start_at: POSIX time the first calls start (scheduled sends start later).
    :param call_seconds: active seconds one call takes in the simulation.
    :param lines: calls placed in parallel.
    :param model: the :class:`OutcomeModel`.
    :param active: False to create it paused.
    """

    def __init__(
        self,
        ref: str,
        numbers: Sequence[str],
        *,
        created_at: float,
        start_at: float,
        call_seconds: float,
        lines: int,
        model: OutcomeModel,
        active: bool = True,
    ) -> None:
        self.ref = ref
        self.numbers = numbers
        self.created_at = created_at
        self.start_at = max(start_at, created_at)
        self.call_seconds = max(0.0, float(call_seconds))
        self.lines = max(1, int(lines))
        self.model = model
        self._outcomes: dict[int, Outcome] = {}
        self._counted = 0
        self._counts: dict[Outcome, int] = {o: 0 for o in Outcome}
        # Active segments: (elapsed at segment start, wall time it started); open while active.
        self._segments: list[tuple[float, float]] = []
        self._paused_elapsed: float | None = None
        if active:
            self._segments.append((0.0, self.start_at))
        else:
            self._paused_elapsed = 0.0

    def __len__(self) -> int:
        return len(self.numbers)

    # -- time -----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """False while paused."""
        return self._paused_elapsed is None

    def elapsed(self, now: float) -> float:
        """Active seconds since the batch started (frozen while paused)."""
        if self._paused_elapsed is not None:
            return self._paused_elapsed
        if not self._segments:
            return 0.0
        base, since = self._segments[-1]
        return base + max(0.0, now - since)

    def pause(self, now: float) -> None:
        """Stop progress (calls in flight stay in flight)."""
        if self._paused_elapsed is None:
            self._paused_elapsed = self.elapsed(now)

    def resume(self, now: float) -> None:
        """Continue progress from now (or from ``start_at`` if that is later)."""
        if self._paused_elapsed is not None:
            self._segments.append((self._paused_elapsed, max(now, self.start_at)))
            self._paused_elapsed = None

    def reschedule(self, start_at: float, now: float) -> bool:
        """Move the start if nothing has started yet; returns whether it moved."""
        if self.started_count(now) > 0:
            return False
        self.start_at = max(start_at, self.created_at)
        if self._paused_elapsed is None:
            self._segments = [(0.0, self.start_at)]
        else:
            self._segments = []
        return True

    def _slots_done(self, now: float) -> int | None:
        """Call slots (``lines`` calls each) ended by ``now``; None: all of them (calls take no time)."""
        if self.call_seconds <= 0:
            return None if self.started(now) else 0
        return int(self.elapsed(now) / self.call_seconds + 1e-9)

    def started(self, now: float) -> bool:
        """Whether the first calls have been placed."""
        if not self._segments:
            return False
        return now >= self._segments[0][1]

    def done_count(self, now: float) -> int:
        """How many calls have ended (they end in dialling order)."""
        slots = self._slots_done(now)
        return len(self.numbers) if slots is None else min(len(self.numbers), slots * self.lines)

    def started_count(self, now: float) -> int:
        """How many calls have been placed (ended or in flight)."""
        if not self.started(now):
            return 0
        slots = self._slots_done(now)
        return len(self.numbers) if slots is None else min(len(self.numbers), (slots + 1) * self.lines)

    def finished(self, now: float) -> bool:
        """Whether every call has ended."""
        return self.done_count(now) >= len(self.numbers)

    def phase(self, index: int, now: float) -> Phase:
        """The phase of call ``index``."""
        if index < self.done_count(now):
            return Phase.DONE
        if index < self.started_count(now):
            return Phase.CALLING
        return Phase.QUEUED

    def _wall_time(self, elapsed: float) -> float:
        chosen = self._segments[0] if self._segments else (0.0, self.start_at)
        for segment in self._segments:
            if segment[0] <= elapsed + 1e-12:
                chosen = segment
        return chosen[1] + (elapsed - chosen[0])

    def started_at(self, index: int) -> float:
        """POSIX time call ``index`` starts (expected, if it has not yet)."""
        return self._wall_time((index // self.lines) * self.call_seconds)

    def ended_at(self, index: int) -> float:
        """POSIX time call ``index`` ends (expected, if it has not yet)."""
        return self._wall_time((index // self.lines + 1) * self.call_seconds)

    # -- outcomes -------------------------------------------------------------------------
    def outcome(self, index: int) -> Outcome:
        """The (eventual) outcome of call ``index``."""
        cached = self._outcomes.get(index)
        if cached is None:
            cached = self.model.outcome(self.numbers[index])
            if len(self._outcomes) < 100_000:
                self._outcomes[index] = cached
        return cached

    def talk_seconds(self, index: int) -> int:
        """Reported conversation seconds of call ``index``."""
        return self.model.talk_seconds(self.numbers[index], self.outcome(index))

    def ring_seconds(self, index: int) -> int:
        """Reported ringing seconds of call ``index``."""
        return self.model.ring_seconds(self.numbers[index])

    def counts(self, now: float) -> dict[Outcome, int]:
        """Outcomes of the calls that have ended so far."""
        done = self.done_count(now)
        for index in range(self._counted, done):
            self._counts[self.model.outcome(self.numbers[index])] += 1
        self._counted = max(self._counted, done)
        return dict(self._counts)
