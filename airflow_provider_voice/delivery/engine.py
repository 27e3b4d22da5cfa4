"""The fan-out engine: frames, bounded async concurrency, checkpoints, reconciliation, suppression.

Used by voice campaigns and SMS alike; vendor specifics live in a
:class:`~airflow_provider_voice.delivery.channel.Channel`.

One delivery (:meth:`DeliveryEngine.run`):

1. loads the checkpoint of the task instance; items of frames accepted by earlier tries are
   skipped (``resumed``), items of frames an earlier try left in doubt are set aside;
2. streams the items: suppressed ones are counted and dropped, the rest are cut into frames of
   ``channel.frame_size`` — one frame being filled per group when the channel groups its items
   (:meth:`Channel.frame_group <airflow_provider_voice.delivery.channel.Channel.frame_group>`:
   e.g. the text a recipient hears), so a frame never mixes groups; memory stays bounded by
   ``channel.max_open_frames`` frames being filled and ``channel.max_buffered_items`` items in
   them (past either, the frame that has waited longest for an item is sent before it is full);
   ``concurrency`` workers send frames in parallel, each writing an
   ``intent`` record before its request and a ``done`` / ``rejected`` / ``failed`` record after;
   frames that certainly did not reach the vendor (429, 503, connection refused) are retried
   with backoff (``Retry-After`` honoured);
3. reconciles in-doubt frames (this try's and earlier tries') through ``channel.reconcile``:
   accepted -> ``done``; certainly not accepted -> sent again with the same frame key; unknown ->
   left in doubt and **not resent** unless ``resend_in_doubt=True``;
4. returns a :class:`DeliveryReport`, or raises :class:`DeliveryIncompleteError` (carrying the
   report, with the in-doubt item keys) when items are in doubt or could not be sent, and
   :class:`DeliveryRejectedError` when the vendor accepted nothing at all or refused more than
   ``max_rejected_share`` of the items (default 0: any refusal fails the delivery, *after* every
   other frame was sent and recorded, so nothing is lost and the error lists what was refused).

How frames are cut does not matter to exactly-once: a frame's members are recorded in its intent
before its request, and a retry skips every member an earlier try got accepted, whichever frame
held it (and rebuilds an earlier try's in-doubt frame with the members it recorded).

Fencing: before reading the checkpoint a try *claims* the delivery (its try number and a random
id); before each frame it writes the frame's intent and checks that no newer try has claimed the
delivery since. A superseded try (a "zombie" Airflow started again) sends nothing more and raises
:class:`DeliverySupersededError`; see :mod:`airflow_provider_voice.delivery.checkpoint`.

A failure that stops the delivery (bad credentials, a bug) lets the frames already in flight
finish and be recorded before raising. A crash (the worker dies) leaves ``intent`` records: the
next try reconciles those frames first.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from airflow_provider_voice.delivery.channel import Channel
from airflow_provider_voice.delivery.checkpoint import (
    CheckpointKey,
    CheckpointState,
    CheckpointStore,
    CheckpointWriter,
    Claim,
    FrameState,
    encode_members,
)
from airflow_provider_voice.delivery.frames import Fate, Frame, FrameResult, Reconciled, Reconciliation
from airflow_provider_voice.delivery.progress import ProgressReporter
from airflow_provider_voice.delivery.suppression import SuppressionList
from airflow_provider_voice.errors import ValidationError, VendorRejectedError, VoiceProviderError
from airflow_provider_voice.redaction import get_logger, mask_phone, redact
from airflow_provider_voice.transport import RetryPolicy

__all__ = [
    "TUNING_OPTIONS",
    "DeliveryEngine",
    "DeliveryIncompleteError",
    "DeliveryRejectedError",
    "DeliveryReport",
    "DeliverySupersededError",
    "Rejection",
    "concurrency_arg",
    "engine_options_arg",
    "max_rejected_share_arg",
]

T = TypeVar("T")
log = get_logger(__name__)
#: ``_still_owner`` without an owner read by the checkpoint writer: it reads the claims itself
_UNREAD: Any = object()
#: items the producer reads before it lets the workers run (when the queue has room, it would not)
_YIELD_EVERY = 2048

#: :class:`DeliveryEngine` arguments a DAG author may tune through an operator's ``engine_options``
#: (the others, such as ``concurrency`` or ``suppression``, are operator arguments of their own)
TUNING_OPTIONS: tuple[str, ...] = (
    "max_frame_attempts",
    "backoff_initial",
    "backoff_max",
    "reconcile_delay",
    "reconcile_rounds",
    "progress_interval",
    "sleep",
    "attempt",
    "max_rejected_share",
)
_CALLABLE_OPTIONS = frozenset({"sleep"})


def concurrency_arg(value: Any, *, field: str = "concurrency") -> int:
    """``concurrency`` checked: an integer of at least 1 (0 or less would send nothing, or hang).

    :param value: the value given.
    :param field: the argument name in the error.
    :raises ValidationError: not an integer, or less than 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(field, value, "an integer of at least 1 (frames in flight at once)")
    return value


def validation_workers_arg(value: Any) -> int:
    """``validation_workers`` checked: processes parsing a long recipient list, an integer of at least 1
    (1: no pool besides the task's own process).

    :param value: the value given.
    :raises ValidationError: not an integer, or less than 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            "validation_workers", value, "a whole number of processes, 1 or more (1: no process pool)"
        )
    return value


def max_rejected_share_arg(value: Any) -> float:
    """``max_rejected_share`` checked (at DAG parse by the operators, again by the engine).

    :param value: the share given.
    :raises ValidationError: not a number from 0.0 (no refusal allowed) to 1.0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValidationError("max_rejected_share", value, "a share from 0.0 (no refusal allowed) to 1.0")
    return float(value)


def engine_options_arg(value: Any, *, field: str = "engine_options") -> dict[str, Any]:
    """``engine_options`` checked: a mapping of known :data:`TUNING_OPTIONS` to numbers.

    An unknown or misspelt key is an error (it would otherwise be a ``TypeError`` deep in the
    send, or, worse, silently ignored).

    :param value: the mapping given (None: no option).
    :param field: the argument name in errors.
    :raises ValidationError: not a mapping, an unknown key, or a value that is not a number >= 0.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "a mapping of engine option names to values")
    options = dict(value)
    for name, option in options.items():
        if name not in TUNING_OPTIONS:
            raise ValidationError(
                f"{field}.{name}", option, "an unknown delivery engine option; known: " + ", ".join(TUNING_OPTIONS)
            )
        if name in _CALLABLE_OPTIONS:
            if not callable(option):
                raise ValidationError(f"{field}.{name}", option, "an async sleep function")
        elif isinstance(option, bool) or not isinstance(option, (int, float)) or option < 0:
            raise ValidationError(f"{field}.{name}", option, "a number >= 0")
    return options


@dataclass
class Rejection:
    """A frame the vendor refused: how many items, the vendor's code and message."""

    frame: int
    items: int
    code: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "items": self.items, "code": self.code, "reason": self.reason}


@dataclass
class DeliveryReport:
    """Outcome of one :meth:`DeliveryEngine.run` (this try plus what earlier tries recorded).

    :param channel: the channel's name.
    :param considered: items read from the source after suppression.
    :param accepted: items accepted by the vendor, this try and earlier ones.
    :param accepted_now: items accepted during this try.
    :param resumed: items skipped because an earlier try got them accepted.
    :param rejected: items refused by the vendor (see :attr:`rejections`).
    :param suppressed: items dropped by the suppression list.
    :param in_doubt: keys (E.164 numbers) of items whose fate is unknown (not resent).
    :param not_sent: keys of items that could not be sent (retries exhausted or stopped early).
    :param resent_in_doubt: items sent again although possibly accepted (``resend_in_doubt=True``).
    :param frames_sent: requests that ended accepted in this try.
    :param frames: every frame index recorded.
    :param results: results of every accepted frame (earlier tries included).
    :param summary: the channel's own totals (:meth:`Channel.summarize`).
    :param seconds: wall time of this try.
    """

    channel: str
    considered: int = 0
    accepted: int = 0
    accepted_now: int = 0
    resumed: int = 0
    rejected: int = 0
    suppressed: int = 0
    in_doubt: list[str] = field(default_factory=list)
    not_sent: list[str] = field(default_factory=list)
    resent_in_doubt: int = 0
    frames_sent: int = 0
    frames: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    results: list[FrameResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    checkpoint: str = ""

    @property
    def refs(self) -> list[str]:
        """The vendor ids of every accepted frame, in frame order, without repeats."""
        seen: dict[str, None] = {}
        for result in sorted(self.results, key=lambda r: r.index):
            for ref in result.refs:
                seen.setdefault(ref, None)
        return list(seen)

    @property
    def cost(self) -> float | None:
        costs = [r.cost for r in self.results if r.cost is not None]
        return round(sum(costs), 6) if costs else None

    @property
    def complete(self) -> bool:
        return not self.in_doubt and not self.not_sent

    @property
    def rejected_share(self) -> float:
        """Share of the items the vendor answered that it refused (0.0 when it answered none)."""
        answered = self.accepted + self.rejected
        return self.rejected / answered if answered else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (counts, ids; item keys only as counts)."""
        return {
            "channel": self.channel,
            "considered": self.considered,
            "accepted": self.accepted,
            "accepted_now": self.accepted_now,
            "resumed": self.resumed,
            "rejected": self.rejected,
            "suppressed": self.suppressed,
            "in_doubt": len(self.in_doubt),
            "not_sent": len(self.not_sent),
            "resent_in_doubt": self.resent_in_doubt,
            "frames_sent": self.frames_sent,
            "frames": self.frames,
            "refs": self.refs,
            "cost": self.cost,
            "rejections": [r.to_dict() for r in self.rejections[:20]],
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
        }


class DeliveryIncompleteError(VoiceProviderError):
    """Some items are in doubt (maybe accepted, not resent) or could not be sent.

    :attr:`report` holds everything; :attr:`in_doubt` / :attr:`not_sent` list the item keys
    (E.164 numbers). The message shows them masked. A task retry reconciles the in-doubt ones
    again, resends the not-sent ones, and resends in-doubt ones only with ``resend_in_doubt``.

    :param report: the delivery's report.
    :param cause: what stopped the delivery early, if anything.
    """

    def __init__(self, report: DeliveryReport, cause: BaseException | None = None) -> None:
        self.report = report
        self.cause = cause
        self.in_doubt = list(report.in_doubt)
        self.not_sent = list(report.not_sent)
        super().__init__(f"{report.channel}: {self.headline()}: " + "; ".join(self.parts()))

    def headline(self) -> str:
        return "delivery incomplete"

    def parts(self) -> list[str]:
        report, parts = self.report, []
        if report.in_doubt:
            parts.append(
                f"{len(report.in_doubt)} recipients in doubt (the vendor may have accepted them; not resent): "
                + _sample(report.in_doubt)
            )
        if report.not_sent:
            parts.append(f"{len(report.not_sent)} recipients not sent (safe to retry): " + _sample(report.not_sent))
        if report.rejected:
            parts.append(f"{report.rejected:,} refused by the vendor: " + _reasons(report.rejections))
        if self.cause is not None:
            parts.append(f"stopped by: {redact(str(self.cause))}")
        parts.append(f"accepted {report.accepted:,}; checkpoint {report.checkpoint}")
        return parts


class DeliveryRejectedError(DeliveryIncompleteError):
    """The vendor accepted nothing, or refused more than ``max_rejected_share`` of what it answered.

    Raised after every frame was sent and recorded (nothing is lost): :attr:`report` says what was
    accepted and :attr:`report.rejections <DeliveryReport.rejections>` what was refused and why.

    :param report: the delivery's report.
    :param max_rejected_share: the share of refusals that was allowed.
    """

    def __init__(self, report: DeliveryReport, max_rejected_share: float) -> None:
        self.max_rejected_share = max_rejected_share
        super().__init__(report)

    def headline(self) -> str:
        report = self.report
        if report.accepted == 0:
            return f"the vendor accepted none of the {report.rejected:,} recipients it answered"
        return (
            f"the vendor refused {report.rejected:,} of {report.accepted + report.rejected:,} recipients "
            f"({report.rejected_share:.1%}; allowed: max_rejected_share={self.max_rejected_share:g})"
        )


class DeliverySupersededError(DeliveryIncompleteError):
    """A newer try of the same task instance claimed the delivery while this one was sending.

    This try stopped before its next frame; the newer try sends the rest (and reconciles the frames
    this one had in flight). Seen when Airflow runs a task again while an older process of it is
    still alive.

    :param report: this try's report.
    :param owner: the claim that superseded this try.
    """

    def __init__(self, report: DeliveryReport, owner: Claim) -> None:
        self.owner = owner
        super().__init__(report)

    def headline(self) -> str:
        return f"superseded by try {self.owner.attempt} (claim {self.owner.id}); stopped before the next frame"

    def parts(self) -> list[str]:
        report = self.report
        return [
            f"{len(report.not_sent)} recipients left to the newer try",
            f"accepted by this try {report.accepted_now:,}; checkpoint {report.checkpoint}",
        ]


def _reasons(rejections: list[Rejection], limit: int = 3) -> str:
    counts: dict[str, int] = {}
    for rejection in rejections:
        label = f"{rejection.reason}" + (f" (code {rejection.code})" if rejection.code else "")
        counts[label] = counts.get(label, 0) + rejection.items
    shown = "; ".join(f"{n:,} x {label[:160]}" for label, n in list(counts.items())[:limit])
    return shown + (f"; +{len(counts) - limit} other reasons" if len(counts) > limit else "")


def _sample(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(mask_phone(k) if k[:1] in "+0123456789" else k for k in keys[:limit])
    return shown + (f" ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


class DeliveryEngine(Generic[T]):
    """Sends items through a :class:`Channel` in frames, exactly once across task retries.

    :param channel: the vendor/channel adapter.
    :param store: the checkpoint store (:func:`~airflow_provider_voice.delivery.checkpoint.checkpoint_store`).
    :param key: the task instance's :class:`CheckpointKey`.
    :param concurrency: frames in flight at once (bounded; default 8).
    :param suppression: numbers to skip (:class:`SuppressionList`).
    :param resend_in_doubt: send in-doubt frames again when the vendor cannot tell their fate
        (risk: those people may be called twice). Default False: they are reported.
    :param max_frame_attempts: tries per frame for failures that certainly did not reach the vendor.
    :param backoff_initial: first backoff wait (seconds); doubles per attempt, jittered.
    :param backoff_max: longest wait between attempts.
    :param reconcile_delay: seconds to wait before asking the vendor about in-doubt frames (lets
        a request that timed out finish on the vendor's side).
    :param reconcile_rounds: reconcile/resend rounds before giving up on a frame.
    :param total: items expected (for the progress percentage and ETA).
    :param label: progress label.
    :param progress_interval: seconds between progress lines.
    :param sleep: async sleep (tests pass a fake clock).
    :param attempt: the Airflow try number (orders the claims of concurrent tries; see fencing).
    :param max_rejected_share: largest share of refused items (of those the vendor answered)
        that still counts as a successful delivery; above it, or when nothing at all was accepted,
        :class:`DeliveryRejectedError` is raised. Default 0.0: any refusal fails.
    """

    def __init__(
        self,
        channel: Channel[T],
        *,
        store: CheckpointStore,
        key: CheckpointKey,
        concurrency: int = 8,
        suppression: SuppressionList | None = None,
        resend_in_doubt: bool = False,
        max_frame_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        reconcile_delay: float = 1.0,
        reconcile_rounds: int = 3,
        total: int | None = None,
        label: str | None = None,
        progress_interval: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        attempt: int = 1,
        max_rejected_share: float = 0.0,
    ) -> None:
        concurrency_arg(concurrency)
        self.channel = channel
        self.store = store
        self.key = key
        self.concurrency = concurrency
        self.suppression = suppression or SuppressionList()
        self.resend_in_doubt = resend_in_doubt
        self.max_frame_attempts = max(1, max_frame_attempts)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.reconcile_delay = reconcile_delay
        self.reconcile_rounds = max(1, reconcile_rounds)
        self.total = total
        self.label = label or channel.name
        self.progress_interval = progress_interval
        self._sleep = sleep
        self.attempt = max(1, int(attempt))
        self.max_rejected_share = max_rejected_share_arg(max_rejected_share)
        self.claim = Claim.new(self.attempt)
        #: the group-committing writer of this delivery's records (see the checkpoint module)
        self.writer = CheckpointWriter(store, key)
        self._stop_requested = False
        self._stop_cause: BaseException | None = None
        self._superseded_by: Claim | None = None
        self._frames_created = 0
        #: frames sent before they were full to keep the open frames within the channel's bounds
        self._frames_cut_early = 0
        #: the report :meth:`run` is building (None before it starts): another thread may read its
        #: :attr:`~DeliveryReport.refs` to learn what the vendor accepted so far (e.g. ``on_kill``)
        self.report: DeliveryReport | None = None

    # -- public ---------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop sending new frames (frames in flight finish and are recorded). Thread-safe."""
        self._stop_requested = True

    def run_sync(self, items: Iterable[T]) -> DeliveryReport:
        """:meth:`run` in a new event loop (for synchronous callers such as ``execute``)."""
        return asyncio.run(self.run(items))

    async def run(self, items: Iterable[T] | AsyncIterable[T]) -> DeliveryReport:
        """Deliver ``items``; return the report or raise :class:`DeliveryIncompleteError`."""
        started = time.monotonic()
        self.claim = Claim.new(self.attempt)
        await asyncio.to_thread(self.store.claim, self.key, self.claim)  # before reading: see fencing
        state = await asyncio.to_thread(self.store.state_or_legacy, self.key)
        self.writer = CheckpointWriter(self.store, self.key)
        report = self.report = DeliveryReport(self.channel.name, checkpoint=self.store.location(self.key))
        report.suppressed = 0
        hasher = self.key.member_hasher()
        accepted_members = state.accepted_members()
        earlier: list[FrameState] = state.with_status("done")
        report.results.extend(r for r in state.results())
        doubtful = {f.index: f for f in state.with_status("intent", "doubt")}
        member_to_doubt = {m: f.index for f in doubtful.values() for m in f.members}
        doubt_items: dict[int, list[tuple[str, T]]] = {i: [] for i in doubtful}
        self._next_index = state.first_index(self.attempt)
        progress = ProgressReporter(self.label, self.total, unit=self.channel.unit, interval=self.progress_interval)
        if state.frames:
            log.info(
                "%s: resuming from checkpoint %s: %d frames accepted earlier, %d in doubt",
                self.label, report.checkpoint, len(earlier), len(doubtful),
            )  # fmt: skip
        in_doubt_now: list[Frame[T]] = []
        self.channel.bind_digest(lambda value: hasher("\x1egroup\x1e" + value))
        await self.channel.start()
        try:
            producer_error = await self._send_all(
                items, hasher, accepted_members, member_to_doubt, doubt_items, report, progress, in_doubt_now
            )
            pending, retry_now = await self._earlier_in_doubt(doubtful, doubt_items, report, progress)
            await self._settle_in_doubt(pending, retry_now, in_doubt_now, report, progress)
        finally:
            await self.channel.stop()
        if producer_error:
            log.error(
                "%s: the recipient source failed after %d items were handed to the vendor",
                self.label,
                report.accepted_now,
            )
            raise producer_error[0]
        return self._finish(report, state, started, progress)

    async def _send_all(
        self,
        items: Iterable[T] | AsyncIterable[T],
        hasher: Callable[[str], str],
        accepted_members: set[str],
        member_to_doubt: dict[str, int],
        doubt_items: dict[int, list[tuple[str, T]]],
        report: DeliveryReport,
        progress: ProgressReporter,
        in_doubt_now: list[Frame[T]],
    ) -> list[BaseException]:
        """The send phase: one producer cuts ``items`` into frames, ``concurrency`` workers send them.

        Frames this try leaves in doubt are appended to ``in_doubt_now``; items of frames an earlier
        try left in doubt are set aside in ``doubt_items``. A crash or a cancellation cancels every
        task (intents stay open) and propagates.

        :param items: the items to deliver.
        :param hasher: turns an item key into its checkpoint member.
        :param accepted_members: members accepted by earlier tries (skipped).
        :param member_to_doubt: member -> index of the earlier in-doubt frame holding it.
        :param doubt_items: per earlier in-doubt frame, its items found in the source (filled here).
        :param report: the report being built.
        :param progress: the progress reporter.
        :param in_doubt_now: collects the frames this try left in doubt.
        :returns: the source's failure, if it failed (frames already cut were still sent), else empty.
        """
        queue: asyncio.Queue[Frame[T] | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        producer_error: list[BaseException] = []

        async def produce() -> None:
            try:
                await self._produce(
                    items, queue, hasher, accepted_members, member_to_doubt, doubt_items, report, progress
                )
            except Exception as exc:  # the source failed: frames already cut are still sent, then it is raised
                producer_error.append(exc)
            for _ in range(self.concurrency):
                await queue.put(None)

        tasks = [asyncio.create_task(produce())]
        tasks += [
            asyncio.create_task(self._worker(queue, report, progress, in_doubt_now)) for _ in range(self.concurrency)
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # a crash or a cancellation: stop everything now (intents stay open)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return producer_error

    async def _earlier_in_doubt(
        self,
        doubtful: dict[int, FrameState],
        doubt_items: dict[int, list[tuple[str, T]]],
        report: DeliveryReport,
        progress: ProgressReporter,
    ) -> tuple[list[Frame[T]], list[Frame[T]]]:
        """Frames an earlier try left in doubt, rebuilt from the current source: ``(pending, retry_now)``.

        The checkpoint is read again first: a try still running elsewhere may have recorded their
        fate meanwhile. A frame now recorded ``done`` counts as resumed; one recorded ``failed``
        (never sent, e.g. by a superseded try) is to be sent again now; the others are pending.

        :param doubtful: the earlier in-doubt frames by index, as first read from the checkpoint.
        :param doubt_items: per earlier in-doubt frame, its ``(member, item)`` pairs found in the source.
        :param report: the report being built.
        :param progress: the progress reporter.
        """
        pending: list[Frame[T]] = []
        retry_now: list[Frame[T]] = []
        latest = await asyncio.to_thread(self.store.state, self.key) if doubt_items else CheckpointState()
        for index, pairs in doubt_items.items():
            if not pairs:
                continue
            frame = Frame(
                index,
                doubtful[index].key,
                [item for _, item in pairs],
                [m for m, _ in pairs],
                started=doubtful[index].started,
            )
            now_known = latest.frames.get(index)
            if now_known is not None and now_known.status == "done":
                report.resumed += len(frame)
                if now_known.result is not None:
                    report.results.append(now_known.result)
                progress.shrink(len(frame))
            elif now_known is not None and now_known.status == "failed":
                retry_now.append(frame)  # recorded as never sent (e.g. by a superseded try)
            else:
                pending.append(frame)
        return pending, retry_now

    async def _settle_in_doubt(
        self,
        pending: list[Frame[T]],
        retry_now: list[Frame[T]],
        in_doubt_now: list[Frame[T]],
        report: DeliveryReport,
        progress: ProgressReporter,
    ) -> None:
        """Send ``retry_now`` again, then reconcile every frame in doubt (unless stopped: then report them).

        :param pending: earlier tries' in-doubt frames to reconcile.
        :param retry_now: earlier frames recorded as never sent: sent again first.
        :param in_doubt_now: frames this try left in doubt (a resent one may join them).
        :param report: the report being built.
        :param progress: the progress reporter.
        """
        for frame in retry_now:
            if self._stop_requested:
                pending.append(frame)
            elif await self._deliver(frame, report, progress, write_intent=True) is Fate.IN_DOUBT:
                in_doubt_now.append(frame)
        pending.extend(in_doubt_now)
        if pending and not self._stop_requested:
            await self._reconcile(pending, report, progress)
        else:  # stopped: not asked, not recorded (the next try reconciles them)
            for frame in pending:
                report.in_doubt.extend(self.channel.item_key(i) for i in frame.items)

    def _finish(
        self, report: DeliveryReport, state: CheckpointState, started: float, progress: ProgressReporter
    ) -> DeliveryReport:
        """Complete the report, log the totals, and return it or raise what the outcome calls for.

        :param report: the report being built.
        :param state: the checkpoint as read at the start (its frames count in :attr:`DeliveryReport.frames`).
        :param started: when the try started (``time.monotonic()``).
        :param progress: the progress reporter (finished here).
        :raises DeliverySupersededError: a newer try claimed the delivery.
        :raises DeliveryIncompleteError: stopped early, or items in doubt or not sent.
        :raises DeliveryRejectedError: nothing accepted, or more than ``max_rejected_share`` refused.
        """
        progress.finish()
        report.accepted = sum(r.accepted for r in report.results)
        report.frames = len(state.frames) + self._frames_created
        report.summary = self.channel.summarize(report.results)
        report.seconds = time.monotonic() - started
        log.info(
            "%s: accepted %d (%d this try, %d by earlier tries), rejected %d, suppressed %d, in doubt %d, not sent %d in %.1f s",
            self.label, report.accepted, report.accepted_now, report.resumed, report.rejected, report.suppressed,
            len(report.in_doubt), len(report.not_sent), report.seconds,
        )  # fmt: skip
        if self._frames_cut_early:
            log.info(
                "%s: %d frames were sent before they were full, to keep at most %d frames (one per group) "
                "and %d %s being filled",
                self.label, self._frames_cut_early, self.channel.max_open_frames,
                max(int(self.channel.frame_size), int(self.channel.max_buffered_items)), self.channel.unit,
            )  # fmt: skip
        line = self.channel.summary_line(report.summary, len(report.results))
        if line:
            log.info("%s: %s", self.label, line)
        if report.suppressed and report.considered == 0:
            log.warning(
                "%s: all %d recipients are on the suppression list: nobody was contacted (suppressed: %d)",
                self.label, report.suppressed, report.suppressed,
            )  # fmt: skip
        if self._superseded_by is not None:
            raise DeliverySupersededError(report, self._superseded_by)
        if self._stop_cause is not None or not report.complete:
            raise DeliveryIncompleteError(report, self._stop_cause) from self._stop_cause
        if report.rejected and (report.accepted == 0 or report.rejected_share > self.max_rejected_share):
            raise DeliveryRejectedError(report, self.max_rejected_share)
        return report

    # -- producing frames -------------------------------------------------------------------
    async def _produce(
        self,
        items: Iterable[T] | AsyncIterable[T],
        queue: asyncio.Queue[Frame[T] | None],
        hasher: Callable[[str], str],
        accepted_members: set[str],
        member_to_doubt: dict[str, int],
        doubt_items: dict[int, list[tuple[str, T]]],
        report: DeliveryReport,
        progress: ProgressReporter,
    ) -> None:
        """Read ``items`` and cut them into frames (one being filled per group; see the module docstring).

        Items accepted by an earlier try are skipped, items of an earlier try's in-doubt frame are
        set aside in ``doubt_items``, suppressed ones are counted. Frames go to ``queue``.
        """
        channel = self.channel
        size = max(1, int(channel.frame_size))
        max_open = max(1, int(channel.max_open_frames))
        max_items = max(size, int(channel.max_buffered_items))
        #: group -> (items, members) of the frame being filled; first = the one that waited longest for an item
        open_frames: OrderedDict[str | None, tuple[list[T], list[str]]] = OrderedDict()
        buffered = 0
        suppression = self.suppression

        async def flush(group: str | None) -> None:
            nonlocal buffered
            batch, members = open_frames.pop(group)
            buffered -= len(batch)
            if self._stop_requested:
                report.not_sent.extend(channel.item_key(i) for i in batch)
            else:
                index = self._allocate()
                await queue.put(Frame(index, self.key.frame_key(index, self.claim.id), batch, members))

        async def flush_stalest() -> None:
            # the frame that waited longest for an item: its group is the likeliest to have no more
            # (a list sorted or clustered by text), and a group still being fed keeps filling
            self._frames_cut_early += 1
            await flush(next(iter(open_frames)))

        if not (suppression.numbers or accepted_members or member_to_doubt or channel.grouped):
            await self._produce_plain(items, queue, hasher, report, size)
            return
        grouped = channel.grouped
        frame_group, item_key, suppression_key = channel.frame_group, channel.item_key, channel.suppression_key
        count = 0
        async for item in _aiter(items):  # one at a time: nothing is read ahead of the bounds
            count += 1
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let workers run while a big source is read
            if suppression.numbers and suppression_key(item) in suppression:
                report.suppressed += 1
                progress.shrink(1)
                continue
            report.considered += 1
            member = hasher(item_key(item))
            if member in accepted_members:
                report.resumed += 1
                progress.shrink(1)
                continue
            doubt_index = member_to_doubt.get(member)
            if doubt_index is not None:
                doubt_items[doubt_index].append((member, item))
                continue
            group = frame_group(item) if grouped else None
            frame = open_frames.get(group)
            if frame is None:
                if len(open_frames) >= max_open:
                    await flush_stalest()
                frame = open_frames[group] = ([], [])
            else:
                open_frames.move_to_end(group)
            frame[0].append(item)
            frame[1].append(member)
            buffered += 1
            if len(frame[0]) >= size:
                await flush(group)
            elif buffered > max_items:
                await flush_stalest()
        while open_frames:
            await flush(next(iter(open_frames)))

    async def _produce_plain(
        self,
        items: Iterable[T] | AsyncIterable[T],
        queue: asyncio.Queue[Frame[T] | None],
        hasher: Callable[[str], str],
        report: DeliveryReport,
        size: int,
    ) -> None:
        """:meth:`_produce` when nothing is suppressed, resumed or in doubt and the channel does not
        group its items: every ``size`` items of the source are one frame, in source order (read a
        frame at a time: at most one frame is held before it is queued)."""
        item_key = self.channel.item_key
        unyielded = 0
        async for chunk, failure in _chunks(items, size):
            if failure is not None:  # the frame being filled is not sent (as in the general case)
                report.considered += len(chunk)
                raise failure
            report.considered += len(chunk)
            members = [hasher(item_key(item)) for item in chunk]
            if self._stop_requested:
                report.not_sent.extend(item_key(i) for i in chunk)
                continue
            index = self._allocate()
            await queue.put(Frame(index, self.key.frame_key(index, self.claim.id), chunk, members))
            unyielded += len(chunk)
            if unyielded >= _YIELD_EVERY:
                unyielded = 0
                await asyncio.sleep(0)  # let workers run while a big source is read

    def _allocate(self) -> int:
        index = self._next_index
        self._next_index += 1
        self._frames_created += 1
        return index

    # -- sending ----------------------------------------------------------------------------------
    async def _worker(
        self,
        queue: asyncio.Queue[Frame[T] | None],
        report: DeliveryReport,
        progress: ProgressReporter,
        in_doubt: list[Frame[T]],
    ) -> None:
        while True:
            frame = await queue.get()
            if frame is None:
                return
            if self._stop_requested:
                report.not_sent.extend(self.channel.item_key(i) for i in frame.items)
                continue
            outcome = await self._deliver(frame, report, progress, write_intent=True)
            if outcome is Fate.IN_DOUBT:
                in_doubt.append(frame)

    async def _record(self, records: list[dict[str, Any]]) -> None:
        """Append ``records`` durably (group commit: see :class:`CheckpointWriter`)."""
        await self.writer.write(records)

    async def _still_owner(
        self, frame: Frame[T], report: DeliveryReport, *, recorded_now: bool, owner: Claim | None = _UNREAD
    ) -> bool:
        """Fencing: after the frame's intent is written, make sure no newer try claimed the delivery.
        A superseded try stops; a frame whose intent it has just written is recorded as never sent
        (a frame of an earlier try keeps its record: its fate is still unknown). ``owner``: the claims
        as the checkpoint writer read them once the intent was durable (else they are read now)."""
        if self._superseded_by is None:
            if owner is _UNREAD:
                owner = await asyncio.to_thread(self.store.owner, self.key)
            if owner is None or owner.id == self.claim.id:
                return True
            self._superseded_by = owner
            self._stop_requested = True
            log.error(
                "%s: try %d (claim %s) was superseded by try %d (claim %s): sending nothing more",
                self.label, self.attempt, self.claim.id, owner.attempt, owner.id,
            )  # fmt: skip
        if recorded_now:
            await self._record([{"t": "failed", "i": frame.index, "e": "superseded by a newer try"}])
        report.not_sent.extend(self.channel.item_key(i) for i in frame.items)
        return False

    async def _deliver(
        self, frame: Frame[T], report: DeliveryReport, progress: ProgressReporter, *, write_intent: bool
    ) -> Fate | None:
        """Send ``frame`` until accepted or classified; record the outcome. Returns None when
        accepted, else the fate (``NOT_SENT`` after the last attempt, ``REJECTED``, ``IN_DOUBT``)."""
        owner: Claim | None = _UNREAD
        if write_intent:
            frame.started = time.time()
            intent = {"t": "intent", "i": frame.index, "k": frame.key, "m": encode_members(frame.members)}
            # durable before the request leaves; the claims are read after it (fencing), in the same commit
            owner = await self.writer.write([{**intent, "ts": round(frame.started, 3)}], owner=True)
        if not await self._still_owner(frame, report, recorded_now=write_intent, owner=owner):
            return Fate.NOT_SENT
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self.channel.send(frame)
            except Exception as exc:  # classified below; BaseException (cancellation, crash) propagates
                fate, stop = self.channel.classify(exc)
                if stop:
                    self._stop_requested = True
                    self._stop_cause = self._stop_cause or exc
                reason = redact(str(exc))
                if fate is Fate.NOT_SENT and not stop and attempt < self.max_frame_attempts:
                    # the transport's backoff; a frame's wait (Retry-After included) is capped at backoff_max
                    frame_retry = RetryPolicy(
                        backoff_initial=self.backoff_initial,
                        backoff_max=self.backoff_max,
                        max_retry_after=self.backoff_max,
                    )
                    wait = frame_retry.wait_seconds(exc, attempt)
                    log.warning(
                        "%s: frame %d not sent (%s); attempt %d/%d in %.1f s",
                        self.label, frame.index, reason, attempt + 1, self.max_frame_attempts, wait,
                    )  # fmt: skip
                    await self._sleep(wait)
                    continue
                if fate is Fate.NOT_SENT:
                    await self._record([{"t": "failed", "i": frame.index, "e": reason[:300]}])
                    report.not_sent.extend(self.channel.item_key(i) for i in frame.items)
                    log.error("%s: frame %d (%d items) not sent: %s", self.label, frame.index, len(frame), reason)
                    return Fate.NOT_SENT
                if fate is Fate.REJECTED:
                    code = exc.vendor_code if isinstance(exc, VendorRejectedError) else None
                    await self._record([{"t": "rejected", "i": frame.index, "e": reason[:300], "c": code}])
                    report.rejected += len(frame)
                    report.rejections.append(Rejection(frame.index, len(frame), code, reason))
                    log.error("%s: frame %d (%d items) rejected: %s", self.label, frame.index, len(frame), reason)
                    progress.advance(0)
                    return Fate.REJECTED
                log.warning("%s: frame %d (%d items) in doubt: %s", self.label, frame.index, len(frame), reason)
                return Fate.IN_DOUBT
            await self._accept(frame, result, report, progress)
            return None

    async def _accept(
        self, frame: Frame[T], result: FrameResult, report: DeliveryReport, progress: ProgressReporter, via: str = ""
    ) -> None:
        result.index = frame.index
        unaccounted = len(frame) - result.accepted - result.rejected
        if unaccounted > 0:  # the vendor's answer covers fewer items than were sent: never assume the rest
            result.rejected += unaccounted
            reason = f"the vendor's answer accounts for {len(frame) - unaccounted} of the {len(frame)} items sent"
            report.rejections.append(Rejection(frame.index, unaccounted, None, reason))
            log.error("%s: frame %d: %s; %d counted as refused", self.label, frame.index, reason, unaccounted)
        record: dict[str, Any] = {"t": "done", "i": frame.index, "r": result.to_record()}
        if via:
            record["via"] = via
        await self._record([record])
        report.results.append(result)
        report.accepted_now += result.accepted
        report.rejected += result.rejected
        report.frames_sent += 1
        progress.advance(len(frame))

    # -- reconciliation -------------------------------------------------------------------------
    async def _reconcile(self, pending: list[Frame[T]], report: DeliveryReport, progress: ProgressReporter) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)
        for round_no in range(1, self.reconcile_rounds + 1):
            if not pending:
                return
            log.info(
                "%s: reconciling %d in-doubt frames with the vendor (round %d)", self.label, len(pending), round_no
            )
            if self.reconcile_delay > 0:
                await self._sleep(self.reconcile_delay)
            last_round = round_no == self.reconcile_rounds

            async def settle(frame: Frame[T], last_round: bool = last_round) -> Frame[T] | None:
                async with semaphore:
                    return await self._settle(frame, report, progress, last_round)

            outcomes = await asyncio.gather(*(settle(f) for f in pending))
            pending = [f for f in outcomes if f is not None]
        for frame in pending:  # pragma: no cover - settle marks the last round's frames itself
            report.in_doubt.extend(self.channel.item_key(i) for i in frame.items)

    async def _settle(
        self, frame: Frame[T], report: DeliveryReport, progress: ProgressReporter, last_round: bool
    ) -> Frame[T] | None:
        """Reconcile one frame; return it when it is still in doubt and another round may help."""
        try:
            answer = await self.channel.reconcile(frame)
        except Exception as exc:  # the lookup failed: still unknown
            answer = Reconciled.unknown(f"lookup failed: {redact(str(exc))}", ask_again=True)
        if answer.verdict is Reconciliation.ACCEPTED:
            log.info("%s: frame %d was accepted (%s)", self.label, frame.index, answer.note or "vendor lookup")
            result = answer.result if answer.result is not None else FrameResult(accepted=len(frame))
            await self._accept(frame, result, report, progress, via="reconcile")
            return None
        resend = answer.verdict is Reconciliation.NOT_ACCEPTED or self.resend_in_doubt
        if not resend:
            if answer.ask_again and not last_round:
                return frame
            await self._doubt(frame, report, answer.note)
            return None
        if answer.verdict is Reconciliation.UNKNOWN:
            report.resent_in_doubt += len(frame)
            log.warning(
                "%s: frame %d fate unknown (%s); resending %d items because resend_in_doubt=True",
                self.label, frame.index, answer.note, len(frame),
            )  # fmt: skip
        else:
            log.info("%s: frame %d was not accepted (%s); sending it again", self.label, frame.index, answer.note)
        outcome = await self._deliver(frame, report, progress, write_intent=False)
        if outcome is Fate.IN_DOUBT:
            if last_round:
                await self._doubt(frame, report, "still in doubt after resending")
                return None
            return frame
        return None

    async def _doubt(self, frame: Frame[T], report: DeliveryReport, note: str) -> None:
        await self._record([{"t": "doubt", "i": frame.index, "e": note[:300]}])
        report.in_doubt.extend(self.channel.item_key(i) for i in frame.items)
        log.error(
            "%s: frame %d (%d items) in doubt and not resent (%s): %s",
            self.label, frame.index, len(frame), note, _sample([self.channel.item_key(i) for i in frame.items], 5),
        )  # fmt: skip


async def _aiter(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(items, AsyncIterable):  # has __aiter__
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _chunks(items: Iterable[T] | AsyncIterable[T], size: int) -> AsyncIterator[tuple[list[T], Exception | None]]:
    """``items`` in lists of ``size`` (the last may be shorter), read synchronously when the source
    is synchronous (no await per item). When the source fails, the items read before the failure
    come last, with the failure (the caller raises it once it has dealt with them)."""
    if isinstance(items, AsyncIterable):  # has __aiter__
        batch: list[T] = []
        try:
            async for item in items:
                batch.append(item)
                if len(batch) >= size:
                    yield batch, None
                    batch = []
        except Exception as exc:
            yield batch, exc
            return
        if batch:
            yield batch, None
        return
    iterator = iter(items)
    while True:
        batch = []
        try:
            batch.extend(itertools.islice(iterator, size))  # keeps what was read before a failure
        except Exception as exc:
            yield batch, exc
            return
        if not batch:
            return
        yield batch, None
