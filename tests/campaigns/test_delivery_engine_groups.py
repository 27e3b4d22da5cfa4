"""The delivery engine's grouped frames (``Channel.frame_group``), with an in-memory fake channel (no HTTP):
frames never mix groups, the open frames stay within their bounds, exactly-once holds across retries
whatever the cut, progress and summary lines, and the keyed digest."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from helpers import Crash, numbers

from airflow_provider_voice.delivery import (
    Channel,
    CheckpointKey,
    DeliveryEngine,
    DeliveryIncompleteError,
    Frame,
    FrameResult,
    MemoryCheckpointStore,
    Reconciled,
)
from airflow_provider_voice.errors import ServerError

KEY = CheckpointKey("dag", "groups", "manual__2026-01-01T00:00:00+00:00", -1)


def by_last_digit(groups: int) -> Callable[[str], str]:
    """Group of a number: its last digits modulo ``groups`` (interleaved groups, as in a real list)."""
    return lambda number: f"g{int(number[-5:]) % groups}"


class GroupedChannel(Channel[str]):
    """Accepts every frame; remembers which items each frame held (by index) and who was called."""

    name = "grouped"

    def __init__(
        self,
        group: Callable[[str], str | None] | None,
        *,
        frame_size: int = 10,
        max_open_frames: int = 64,
        max_buffered_items: int = 100_000,
        crash_at: int | None = None,
        fail: set[int] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.group = group
        self.frame_size = frame_size
        self.max_open_frames = max_open_frames
        self.max_buffered_items = max_buffered_items
        self.crash_at = crash_at
        self.fail = fail or set()
        self.delay = delay
        self.frames: dict[int, list[str]] = {}
        self.by_key: dict[str, list[str]] = {}
        self.calls: Counter[str] = Counter()

    def frame_group(self, item: str) -> str | None:
        return None if self.group is None else self.group(item)

    async def send(self, frame: Frame[str]) -> FrameResult:
        await asyncio.sleep(self.delay)
        if frame.index in self.fail:
            raise ServerError("503", status_code=503)
        self.frames[frame.index] = list(frame.items)
        self.by_key[frame.key] = list(frame.items)
        self.calls.update(frame.items)
        if frame.index == self.crash_at:  # accepted, then the worker dies before recording it
            raise Crash()
        return FrameResult(accepted=len(frame), refs=[frame.key], info={"group": self.frame_group(frame.items[0])})

    async def reconcile(self, frame: Frame[str]) -> Reconciled:
        if frame.key in self.by_key:
            return Reconciled.accepted(FrameResult(accepted=len(frame), refs=[frame.key]), "found by key")
        return Reconciled.not_accepted("not found")

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        return {"groups": len({r.info.get("group") for r in results})}

    def summary_line(self, summary: Mapping[str, Any], frames: int) -> str | None:
        return f"{summary['groups']} groups in {frames} frames"


class CountingSource:
    """Yields the items and counts how many were read: ``read`` at any moment."""

    def __init__(self, items: list[str]) -> None:
        self.items, self.read = items, 0

    def __iter__(self) -> Iterator[str]:
        for item in self.items:
            self.read += 1
            yield item


async def no_sleep(_: float) -> None:
    return None


def engine(channel: Channel[str], store: Any = None, **kwargs: Any) -> DeliveryEngine[str]:
    kwargs.setdefault("reconcile_delay", 0)
    kwargs.setdefault("sleep", no_sleep)
    return DeliveryEngine(channel, store=store or MemoryCheckpointStore(), key=KEY, **kwargs)


def watch_cuts(runner: DeliveryEngine[str], source: CountingSource) -> list[int]:
    """Record, for each frame the engine cuts (in index order), how many items had been read then."""
    read_at_cut: list[int] = []
    allocate = runner._allocate

    def recording() -> int:
        read_at_cut.append(source.read)
        return allocate()

    runner._allocate = recording  # type: ignore[method-assign]
    return read_at_cut


def replay_open_frames(
    items: list[str], frames: list[list[str]], read_at_cut: list[int], group: Callable[[str], str]
) -> list[tuple[int, int]]:
    """``(open frames, buffered items)`` just before each cut, rebuilt from what was read and cut."""
    seen: list[tuple[int, int]] = []
    framed: Counter[str] = Counter()
    for frame, read in zip(frames, read_at_cut, strict=True):
        waiting = [i for i in items[:read] if not framed[i]]
        seen.append((len({group(i) for i in waiting}), len(waiting)))
        framed.update(frame)
    return seen


def test_frames_never_mix_groups_and_each_group_fills_whole_frames():
    people = numbers(1000)
    group = by_last_digit(3)
    channel = GroupedChannel(group, frame_size=50)
    report = engine(channel, concurrency=4, total=1000).run_sync(people)
    assert report.complete and report.accepted == 1000 and channel.calls == Counter(people)
    assert all(len({group(i) for i in items}) == 1 for items in channel.frames.values()), "a frame mixed groups"
    sizes = Counter(group(p) for p in people)  # 334, 333, 333
    expected = sum(math.ceil(n / 50) for n in sizes.values())  # 7 + 7 + 7
    assert report.frames_sent == expected == 21 and report.frames == 21
    assert sorted(len(items) for items in channel.frames.values()).count(50) == 18  # 6 full frames per group
    assert report.summary == {"groups": 3}


def test_without_groups_frames_are_cut_in_source_order_as_before():
    people = numbers(95)
    channel = GroupedChannel(None, frame_size=10)
    report = engine(channel, concurrency=1).run_sync(people)
    assert report.frames_sent == 10
    assert [channel.frames[i] for i in sorted(channel.frames)] == [people[k : k + 10] for k in range(0, 95, 10)]


def test_open_frames_are_bounded_the_stalest_is_sent_early():
    # 4 groups round robin, 3 frames may be open: the 4th group's first item sends the frame that
    # waited longest for an item (the oldest), and so on: frames of one item, never 4 open at once
    people = numbers(40)
    group = by_last_digit(4)
    channel = GroupedChannel(group, frame_size=10, max_open_frames=3)
    source = CountingSource(people)
    runner = engine(channel, concurrency=1)
    cuts = watch_cuts(runner, source)
    report = runner.run_sync(source)
    assert report.accepted == 40 and channel.calls == Counter(people)
    frames = [channel.frames[i] for i in sorted(channel.frames)]
    assert [len(f) for f in frames] == [1] * 40 and frames[0] == [people[0]]  # the oldest went first
    assert runner._frames_cut_early == 37  # the last 3 are sent at the end of the source
    replayed = replay_open_frames(people, frames, cuts, group)
    assert max(open_ for open_, _ in replayed) == 3 + 1  # the item just read opens the 4th, which sends one


def test_buffered_items_are_bounded_and_a_group_still_fed_keeps_filling():
    # one big group and a trickle of one-item groups; at most 22 items held (frames of 20): the
    # one-item frames that wait longest are sent early, the big group's frames fill up
    people = numbers(200)
    group = lambda n: "big" if int(n[-5:]) % 10 else f"small{int(n[-5:]) // 10}"  # noqa: E731
    channel = GroupedChannel(group, frame_size=20, max_open_frames=8, max_buffered_items=22)
    source = CountingSource(people)
    runner = engine(channel, concurrency=1)
    cuts = watch_cuts(runner, source)
    report = runner.run_sync(source)
    assert report.accepted == 200 and channel.calls == Counter(people)
    frames = [channel.frames[i] for i in sorted(channel.frames)]
    assert all(len({group(i) for i in f}) == 1 for f in frames)
    replayed = replay_open_frames(people, frames, cuts, group)
    assert max(buffered for _, buffered in replayed) <= 22 + 1 and max(open_ for open_, _ in replayed) <= 8 + 1
    big = [len(f) for f in frames if group(f[0]) == "big"]
    assert big == [20] * 9  # 180 items: full frames only
    assert report.frames_sent == 9 + 20 and runner._frames_cut_early > 0


def test_a_list_clustered_by_group_costs_no_extra_frame_whatever_the_number_of_groups():
    people = numbers(250)
    group = lambda n: f"g{int(n[-5:]) // 25}"  # noqa: E731  # 10 groups of 25, one after the other
    channel = GroupedChannel(group, frame_size=10, max_open_frames=2)
    report = engine(channel, concurrency=2).run_sync(people)
    assert report.frames_sent == 10 * math.ceil(25 / 10) == 30 and channel.calls == Counter(people)
    assert all(len({group(i) for i in f}) == 1 for f in channel.frames.values())


def test_a_bound_below_one_frame_still_allows_one_full_frame():
    channel = GroupedChannel(by_last_digit(1), frame_size=30, max_buffered_items=5)
    report = engine(channel, concurrency=1).run_sync(numbers(90))
    assert report.frames_sent == 3 and sorted(len(f) for f in channel.frames.values()) == [30, 30, 30]


def test_a_retry_skips_accepted_members_whatever_the_new_cut():
    people = numbers(300)
    store = MemoryCheckpointStore()
    first = GroupedChannel(by_last_digit(3), frame_size=20, fail={2, 5, 9})
    with pytest.raises(DeliveryIncompleteError) as info:
        engine(first, store, max_frame_attempts=1).run_sync(people)
    not_sent = set(info.value.not_sent)
    assert len(not_sent) == 60 and sum(first.calls.values()) == 240
    # the retry cuts frames differently (other groups, other size): only the 60 not sent go out
    second = GroupedChannel(by_last_digit(7), frame_size=9)
    report = engine(second, store).run_sync(people)
    assert set(second.calls) == not_sent and max(second.calls.values()) == 1
    assert report.resumed == 240 and report.accepted == 300
    assert all(len({by_last_digit(7)(i) for i in f}) == 1 for f in second.frames.values())


def test_a_crash_after_the_vendor_accepted_a_grouped_frame_is_reconciled_not_resent():
    people = numbers(200)
    store = MemoryCheckpointStore()
    group = by_last_digit(5)
    first = GroupedChannel(group, frame_size=15, crash_at=4, delay=0.001)
    with pytest.raises(Crash):
        engine(first, store, concurrency=2).run_sync(people)
    lost = first.frames[4]
    records = store.load(KEY)
    assert any(r["t"] == "intent" and r["i"] == 4 for r in records)
    assert not any(r["t"] == "done" and r["i"] == 4 for r in records)
    second = GroupedChannel(group, frame_size=15)
    second.by_key = first.by_key  # the same vendor: it knows the frames the first try sent
    second.calls = first.calls
    report = engine(second, store, concurrency=2).run_sync(people)
    assert second.calls == Counter(people), "somebody was called twice, or not at all"
    assert report.accepted == 200 and report.complete and all(first.calls[p] == 1 for p in lost)


def test_progress_and_summary_lines_count_every_item_once(caplog):
    people = numbers(120)
    channel = GroupedChannel(by_last_digit(4), frame_size=25, max_open_frames=2)
    with caplog.at_level(logging.INFO, logger="airflow_provider_voice"):
        report = engine(channel, concurrency=2, total=120, progress_interval=0.0).run_sync(people)
    lines = [r.getMessage() for r in caplog.records]
    progress = [line for line in lines if line.startswith("grouped: ") and "recipients (" in line]
    assert progress[-1].startswith(f"grouped: 120/120 recipients (100.0%), {report.frames_sent} frames")
    assert f"grouped: 4 groups in {report.frames_sent} frames" in lines
    assert any("sent before they were full, to keep at most 2 frames" in line for line in lines)


def test_the_digest_is_keyed_with_the_task_instance_and_stable_across_tries():
    def bound(key: CheckpointKey) -> Channel[str]:
        channel = GroupedChannel(None)
        DeliveryEngine(channel, store=MemoryCheckpointStore(), key=key, sleep=no_sleep).run_sync(numbers(1))
        return channel

    first, again = bound(KEY), bound(KEY)
    other = bound(CheckpointKey("dag", "groups", "manual__2026-01-02T00:00:00+00:00", -1))
    text = "Bonjour Ana"
    assert first.digest(text) == again.digest(text) != other.digest(text)
    assert len(first.digest(text)) == 16 and first.digest(text) != first.digest("Bonjour Ben")
    assert GroupedChannel(None).digest(text) == GroupedChannel(None).digest(text)  # unbound: plain, stable
