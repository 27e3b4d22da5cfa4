"""Benchmark: peak memory of a whole campaign send, 100,000 vs 1,000,000 recipients, and exactly-once.

Each size runs in a fresh worker process that executes ``SendVoiceCampaignOperator.execute`` as a task
would — recipients from a CSV file (messy national and international French forms, 1 % duplicates,
0.1 % invalid rows with ``skip_invalid=True``), validation, de-duplication, frames of 500, the delivery
engine and its local checkpoints — against the simulator (its own process, no latency). The worker
prints its peak RSS (``VmHWM``) after Airflow and the provider are imported (baseline) and at the
end; the parent then reads the simulator's ledger: every valid number called exactly once, none twice,
none missing (the count the operator reports equals the ledger's).

Goals (issue "Scale"): peak RSS < 250 MiB at 1,000,000 recipients, and < 50 MiB growth from 100,000 to
1,000,000. Figures are printed, never asserted. With ``--before PATH`` the same sizes also run with the
package found at ``PATH`` (e.g. a ``git worktree`` of an older commit) for a before/after table.

Usage: ``python benchmarks/bench_memory.py [--sizes 100000,1000000] [--vendor octopush] [--before PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:
    from campaign_fanout import Simulator

CONNECTIONS = {
    "octopush": lambda urls: {
        "conn_type": "octopush", "host": urls["octopush"], "login": "sim@example.com", "password": "sim-octopush-key",
    },
    "kaleyra": lambda urls: {
        "conn_type": "kaleyra", "host": urls["kaleyra"], "password": "sim-kaleyra-key",
        "extra": {"obd_base_url": urls["kaleyra-obd"]},
    },
}  # fmt: skip


def write_recipients(path: Path, size: int) -> tuple[int, int, list[str]]:
    """A CSV of ``size`` rows; returns (valid distinct numbers, invalid rows, every valid E.164 number)."""
    forms = ("+33 6 {a} {b} {c} {d}", "06.{a}.{b}.{c}.{d}", "0033 6{a}{b}{c}{d}", "6 {a} {b} {c} {d}")
    numbers: list[str] = []
    invalid = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("patient_id,phone,name\n")
        for i in range(size):
            if i % 1000 == 999:
                out.write(f"P{i},12345,Invalid {i}\n")
                invalid += 1
                continue
            j = i - 1 if i % 100 == 50 else i  # 1 % repeat the row before (a duplicate number)
            digits = f"{j % 10**8:08d}"
            a, b, c, d = digits[0:2], digits[2:4], digits[4:6], digits[6:8]
            out.write(f"P{i},{forms[i % 4].format(a=a, b=b, c=c, d=d)},Name {i}\n")
            if j == i:
                numbers.append(f"+336{digits}")
    return len(numbers), invalid, numbers


def peak_rss_mib() -> float:
    """This process's peak RSS (``VmHWM``): unlike ``ru_maxrss``, which a child started by ``fork`` + ``exec``
    inherits from its parent, it counts only this program's own memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(vendor: str, csv_path: str, checkpoints: str) -> None:
    """Runs in the measured process: import, baseline, the operator's execute, figures as JSON on stdout."""
    import logging
    from types import SimpleNamespace

    logging.disable(logging.WARNING)
    import airflow_provider_voice
    from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator

    baseline = peak_rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    op = SendVoiceCampaignOperator(
        task_id="send", conn_id=f"bench_{vendor}", recipients=csv_path, campaign_name="memory",
        message="Benchmark message", default_region="FR", skip_invalid=True, rejects_path=False,
        checkpoint_path=checkpoints, concurrency=16, progress_interval=30.0,
    )  # fmt: skip
    ti = SimpleNamespace(
        dag_id="bench_memory", task_id="send", run_id=f"run-{time.time_ns()}", map_index=-1, try_number=1
    )
    result = op.execute({"ti": ti})
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mib()
    figures = {"baseline": baseline, "peak": peak, "wall": wall, "cpu": cpu, "result": result}
    figures["package"] = str(Path(airflow_provider_voice.__file__).parent)
    print(json.dumps(figures, default=str))


def run_one(vendor: str, csv_path: Path, sim: Simulator, pythonpath: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env["AIRFLOW_CONN_BENCH_" + vendor.upper()] = json.dumps(CONNECTIONS[vendor](sim.base_urls))
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as checkpoints:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", vendor, str(csv_path), checkpoints],
            cwd=tempfile.gettempdir(), env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ledger(sim: Simulator, vendor: str) -> dict[str, int]:
    return sim.http.get("/_sim/ledger", params={"vendor": vendor, "action": "call"}).json()["counts"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--vendor", default="octopush", choices=sorted(CONNECTIONS))
    parser.add_argument("--before", default=None, help="also run the package found at this path (PYTHONPATH)")
    parser.add_argument("--worker", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))
    # imported here, never in a worker: campaign_fanout puts this checkout first on sys.path, which
    # would shadow the tree a --before worker is given
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from campaign_fanout import Simulator

    trees = [("after", None)] + ([("before", args.before)] if args.before else [])
    sim = Simulator()
    rows: list[tuple[str, int, dict[str, Any]]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-recipients-") as tmp:
            for size in (int(s) for s in args.sizes.split(",")):
                csv_path = Path(tmp) / f"recipients-{size}.csv"
                valid, invalid, numbers = write_recipients(csv_path, size)
                for label, path in trees:
                    sim.reset(0.0)
                    sim.http.post("/_sim/config", json={"octopush_balance": 1e9}).raise_for_status()
                    figures = run_one(args.vendor, csv_path, sim, path)
                    counts = ledger(sim, args.vendor)
                    expected = {n.lstrip("+") for n in numbers} | set(numbers)
                    called = [n for n in counts if n in expected]
                    twice = sum(1 for n in called if counts[n] > 1)
                    stray = len(counts) - len(called)
                    accepted = figures["result"].get("accepted")
                    print(
                        f"{args.vendor} {label:6} {size:>9,} rows: peak RSS {figures['peak']:6.0f} MiB "
                        f"(baseline {figures['baseline']:.0f} MiB, +{figures['peak'] - figures['baseline']:.0f}); "
                        f"{figures['wall']:6.1f} s wall, {figures['cpu']:6.1f} s CPU; "
                        f"ledger: {len(called):,} of {valid:,} valid numbers called, {twice} twice, "
                        f"{valid - len(called):,} not called, {stray} strays; operator says accepted {accepted:,}, "
                        f"{invalid:,} invalid rows; package {figures['package']}",
                        flush=True,
                    )
                    rows.append((label, size, figures))
                csv_path.unlink()
    finally:
        sim.close()
    for label, _ in trees:
        peaks = {size: f["peak"] for lab, size, f in rows if lab == label}
        if len(peaks) >= 2:
            small, large = min(peaks), max(peaks)
            growth = peaks[large] - peaks[small]
            print(
                f"{label}: peak RSS at {large:,} = {peaks[large]:.0f} MiB (goal < 250: "
                f"{'met' if peaks[large] < 250 else 'NOT met'}); growth {small:,} -> {large:,} = {growth:.0f} MiB "
                f"(goal < 50: {'met' if growth < 50 else 'NOT met'})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
