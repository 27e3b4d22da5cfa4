"""Contact ledger benchmark: recording contacts, loading a 1,000,000-entry ledger, looking 100,000 people up.

Measured on a local (fsync-ed) ledger in a temporary directory, with a fixed key (no Airflow needed):

* **record** — ``record_contacts`` of ``--record`` distinct numbers, as one call (the ledger splits it
  into appends of 20,000 records) and as calls of 1,000 (one frame's recipients at a time): numbers/s.
* **ledger** (setup, timed too) — ``--entries`` entries: ``--entries / 4`` people contacted by four
  campaigns over 40 days (one entry per person and campaign); its size on disk.
* **load + lookup** — a fresh ``ContactLedger``: the first ``history`` of ``--lookups`` numbers (half of
  them in the ledger) loads the index (entries of the last 30 days: three of each person's four), then
  the same lookup again on the loaded index; ``refresh`` with nothing new.
* **memory** — RSS growth of this process across the load (``VmRSS`` of ``/proc/self/status``, after
  ``gc.collect`` and glibc ``malloc_trim`` on both sides), per person and per entry; beside it the
  bytes the index's objects account for (``sys.getsizeof`` of the dict, its keys and values).
* **compaction** — ``compact`` of the whole ledger (its segments made to look three hours old, as a
  finished hour's segments are), dropping the entries older than 30 days.

Figures are printed, never asserted. About a minute on 2 cores. Run: ``python
benchmarks/bench_contact_ledger.py [--entries 1000000] [--lookups 100000] [--record 100000]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_provider_voice.delivery.contact_ledger import ContactLedger, LocalLedgerStore  # noqa: E402

KEY = "bench-contact-ledger-key"
DAY = 86_400.0
MiB = 2**20


def vm_rss() -> int:
    """This process's resident set size now (``VmRSS``), in bytes."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def settle() -> None:
    """Free what can be freed and hand it back to the kernel, so RSS tells what is in use."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def numbers(first: int, count: int) -> list[str]:
    """``count`` French mobile numbers from ``+336`` ``first`` on."""
    return [f"+336{n:08d}" for n in range(first, first + count)]


def rate(label: str, count: int, seconds: float, unit: str = "numbers") -> None:
    print(
        f"  {label:<44} {count:>10,} {unit:<8} {seconds:>7.2f} s {count / seconds if seconds else 0:>12,.0f} {unit}/s"
    )


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_record(work: Path, count: int) -> None:
    print(f"record ({count:,} distinct numbers, fsync per append):")
    ledger = ContactLedger(LocalLedgerStore(work / "record-one"), key=KEY)
    batch = numbers(10_000_000, count)
    started = time.perf_counter()
    ledger.record_contacts(batch, time.time(), "bench/send/one_call")
    rate("one call", count, time.perf_counter() - started)
    ledger = ContactLedger(LocalLedgerStore(work / "record-frames"), key=KEY)
    started = time.perf_counter()
    for start in range(0, count, 1_000):
        ledger.record_contacts(batch[start : start + 1_000], time.time(), "bench/send/frames")
    rate("calls of 1,000 (one per frame)", count, time.perf_counter() - started)


def build_ledger(root: Path, entries: int, now: float) -> list[str]:
    """``entries`` entries: entries/4 people, each contacted by 4 campaigns 1, 10, 20 and 40 days ago."""
    people = numbers(20_000_000, entries // 4)
    ledger = ContactLedger(LocalLedgerStore(root, fsync=False), key=KEY)
    started = time.perf_counter()
    for campaign, days in enumerate((40, 20, 10, 1)):
        for start in range(0, len(people), 100_000):
            ledger.record_contacts(people[start : start + 100_000], now - days * DAY, f"bench/campaign_{campaign}/run")
    seconds = time.perf_counter() - started
    rate("build (fsync off)", 4 * len(people), seconds, "entries")
    size = disk_bytes(root / "segments")
    print(f"  on disk: {size / MiB:,.1f} MiB, {size / (4 * len(people)):.0f} bytes per entry")
    return people


def index_bytes(ledger: ContactLedger) -> int:
    """What the loaded index's objects account for (dict + keys + values)."""
    index = ledger._index
    assert index is not None
    return sys.getsizeof(index.entries) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in index.entries.items())


def bench_lookup(root: Path, people: list[str], lookups: int, now: float) -> None:
    wanted = people[: lookups // 2] + numbers(90_000_000, lookups - lookups // 2)
    print(f"load + lookup ({lookups:,} numbers, half of them in the ledger; since = 30 days ago):")
    settle()
    before = vm_rss()
    ledger = ContactLedger(LocalLedgerStore(root), key=KEY)
    started = time.perf_counter()
    found = ledger.history(wanted, since=now - 30 * DAY)
    first = time.perf_counter() - started
    settle()
    grown = vm_rss() - before
    persons, entries = ledger.loaded()
    rate("first history (loads the index)", lookups, first)
    started = time.perf_counter()
    ledger.history(wanted, since=now - 30 * DAY)
    rate("history again (index loaded)", lookups, time.perf_counter() - started)
    started = time.perf_counter()
    ledger.refresh()
    print(f"  {'refresh, nothing new':<44} {time.perf_counter() - started:>28.3f} s")
    known = sum(1 for h in found.values() if h.contacts)
    print(f"  found {known:,} people with contacts; index: {persons:,} people, {entries:,} entries")
    accounted = index_bytes(ledger)
    del found
    print(
        f"  RSS growth: {grown / MiB:,.1f} MiB = {grown / persons:,.0f} bytes per person, "
        f"{grown / entries:,.0f} per entry (index objects: {accounted / MiB:,.1f} MiB, "
        f"{accounted / persons:,.0f} bytes per person of {entries / persons:.0f} entries)"
    )


def bench_compact(root: Path, now: float) -> None:
    folder = root / "segments"
    old = time.time() - 3 * 3600
    for path in folder.iterdir():  # a finished hour's segments: what a daily compaction finds
        target = path.with_name(time.strftime("%Y%m%d%H", time.gmtime(old)) + path.name[10:])
        path.rename(target)
        os.utime(target, (old, old))
    before = disk_bytes(folder)
    ledger = ContactLedger(LocalLedgerStore(root), key=KEY)
    started = time.perf_counter()
    done = ledger.compact(now - 30 * DAY)
    seconds = time.perf_counter() - started
    print("compaction (drop entries older than 30 days):")
    rate(f"{done.segments} segments -> 1", done.entries, seconds, "kept")
    print(f"  on disk: {before / MiB:,.1f} MiB -> {disk_bytes(folder) / MiB:,.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the ledger looked up")
    parser.add_argument("--lookups", type=int, default=100_000, help="numbers looked up")
    parser.add_argument("--record", type=int, default=100_000, help="numbers recorded")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    try:
        now = time.time()
        bench_record(work, args.record)
        print(f"ledger ({args.entries:,} entries):")
        people = build_ledger(work / "ledger", args.entries, now)
        bench_lookup(work / "ledger", people, args.lookups, now)
        bench_compact(work / "ledger", now)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
