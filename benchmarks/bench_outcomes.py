"""Outcome collection benchmark: who was reached in a 100,000-recipient Velip campaign.

Setup (not measured): a patient file (CSV ``phone,id,name,ward``) of ``--recipients`` French
numbers is validated (``validate_recipients``) and sent as **one** Velip campaign
(``backend.send_campaign`` with a ``CheckpointKey`` and a temporary ``LocalCheckpointStore``; a
Velip frame holds up to 500,000 destinations) to the simulator, whose outcomes are seeded and
spread over every kind (``state.configure(seed=..., outcome_weights=...)``); then the simulator's
fake clock is moved past the last call, so every call has ended.

Measured separately (the client is ``BaseHook.get_hook(conn_id).campaigns()`` on an
``AIRFLOW_CONN_*`` connection). ``collect_outcomes`` does (a) then (b); here they are run as the
same two calls, one after the other, in this process:

* **(a) read** — every call record: ``GetCallStatus`` by ``cp_id``, 5,000 rows a page, following
  the ``last_id`` cursor (``backend.outcome_records_flow``), grouped by number (``group_records``):
  what ``collect_outcomes`` holds in memory while it joins. The simulator counts the pages
  (requests to its ``GetCallStatus`` route) and reports the CPU it spent answering them.
* **(b) join** — ``OutcomeJoin.outcomes`` over those records, built as ``collect_outcomes`` builds
  it, drained without keeping the rows (the writer consumes them one by one). It streams and parses
  the recipient file again: the next line is the part of (b) spent getting the next recipient
  (timed in the same run), and the memory of that stream alone (a traced pass of its own).
* **(c) write** — ``OutcomeTableWriter`` (CSV + Parquet zstd, each written atomically) over the
  rows of (b), built beforehand, outside the measure.
* **end to end** — ``CollectOutcomesOperator.execute`` (campaign = the send's handle, recipients =
  the patient file, the send's checkpoint folder) in a fresh process, as a worker runs it: its own
  validation pass over the file, then ``collect_outcomes`` streamed into ``OutcomeTableWriter``.
  Its RSS is measured from that process's baseline after the imports (Airflow, the provider,
  pyarrow), so no earlier phase's freed memory hides it. Its table is the one verified.

Per phase: wall time, rows/s, and peak memory two ways:

* **RSS peak** — ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the phase minus the RSS at
  its start, everything the process touched (Python heap, Arrow's own allocator, buffers).
  ``ru_maxrss`` is a high-water mark of the process's life, so it is reset before each phase by
  writing ``5`` to ``/proc/self/clear_refs`` (Linux); where ``ru_maxrss`` keeps the peak of a
  thread that has ended, ``VmHWM`` (the same mark, from ``/proc/self/status``) is read instead
  (marked ``+``); where the reset is refused, the delta is against the lifetime peak (marked ``*``;
  0 when the phase stays below an earlier peak). Freed memory is handed back first
  (``gc.collect()``, glibc ``malloc_trim``); what the allocators keep anyway is reused before the
  RSS grows, so a delta can understate a phase that runs after a bigger one.
* **py peak** — ``tracemalloc``'s peak of Python allocations above their level at the start of the
  phase. Tracing slows this code about 5x, so it is a separate run of each phase on a campaign of
  ``--trace-recipients`` (default 10,000: the same phases, another set of numbers; the full size
  when the campaign is not larger); the times printed are from the untraced runs. The end-to-end
  row's is ``collect_outcomes`` -> ``OutcomeTableWriter`` traced in this process. Arrow's buffers
  are not Python allocations: the Arrow pool's peak is printed beside the file sizes.

Verified on the operator's table (read back): the row count (CSV and Parquet), the input order,
0 pending, each row's outcome and Velip status against the simulator's seeded model
(``state.outcome_model()`` -> ``testing.velip.STATUS_CODES`` -> ``VELIP_OUTCOMES``; mismatches are
printed, expected 0), one attempt each, and the ledger (every number called exactly once).

The simulator (``SimulatorServer`` on 127.0.0.1, fake clock) runs in a child process driven over a
pipe, so its CPU and memory are not counted here. Figures are printed, never asserted. About two
minutes at 100,000 recipients on 2 cores. Run: ``python benchmarks/bench_outcomes.py
[--recipients 100000] [--quick] [--trace-recipients 10000]`` (``--quick``: 10,000 recipients;
``--trace-recipients 0``: no traced runs).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONN_ID = "bench_outcomes_velip"
SEED = 20261201
#: every kind of outcome (the simulator's Velip answers OK, NA, EK, IK and BK for them)
WEIGHTS = {
    "answered": 0.4,
    "no_answer": 0.2,
    "busy": 0.15,
    "failed": 0.1,
    "congestion": 0.05,
    "bad_number": 0.05,
    "blocked": 0.05,
}
CALL_SECONDS = 60.0  # simulated seconds per call
CALL_LINES = 500  # calls in parallel
#: first national numbers (06 12 00 00 00...) of the measured and the traced campaigns
FIRST_NUMBER = {"timed": 12_000_000, "traced": 50_000_000}
MiB = 2**20
PHASES = {
    "read": "(a) read records (GetCallStatus)",
    "join": "(b) join (OutcomeJoin)",
    "source": "    of which: reading recipients",
    "write": "(c) write CSV + Parquet",
    "total": "end to end: CollectOutcomesOperator",
}


# -- the simulator process ---------------------------------------------------------------------------
def serve_simulator() -> None:
    """Runs in the child process: the simulator on a fake clock, driven by JSON lines on stdin."""
    from airflow_provider_voice.testing import SimulatorServer
    from airflow_provider_voice.testing.velip import STATUS_CODES

    channel = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the pipe
    server = SimulatorServer(host="127.0.0.1", port=0).start()
    state = server.state
    clock = state.use_fake_clock()
    rules: dict[str, Any] = {}

    def reply(payload: dict[str, Any]) -> None:
        channel.write(json.dumps(payload) + "\n")
        channel.flush()

    reply({"url": server.url, "velip": server.base_url("velip")})
    try:
        for line in sys.stdin:
            command = json.loads(line)
            op = command["op"]
            if op == "configure":
                state.configure(**command["values"])
                reply({})
            elif op == "advance":
                reply({"now": clock.advance(command["seconds"])})
            elif op == "count":  # a rule without any fault: it only counts the route's requests
                rule = rules.get(command["route"]) or state.faults.set("velip", command["route"])
                rules[command["route"]] = rule
                reply({"requests": rule.requests})
            elif op == "calls":
                counts = state.ledger.counts("velip", "call")
                reply({"numbers": len(counts), "max": max(counts.values(), default=0)})
            elif op == "expected":  # the seeded model's Velip status for each number (ledger digits)
                model = state.outcome_model()
                reply({"statuses": [STATUS_CODES[model.outcome(n)] for n in command["numbers"]]})
            elif op == "usage":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                reply({"peak_mib": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime})
            elif op == "quit":
                reply({})
                break
    finally:
        server.stop()


class Simulator:
    """The simulator child process and its command pipe."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-simulator"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.url, self.velip_url = hello["url"], hello["velip"]

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process ended (exit status {self.proc.poll()})")
        return json.loads(line)

    def ask(self, op: str, **values: Any) -> dict[str, Any]:
        """Send one command, return its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **values}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def cpu(self) -> float:
        """CPU seconds the simulator process has used."""
        return self.ask("usage")["cpu_s"]

    def requests(self, route: str) -> int:
        """Requests the route has had since the first call for it."""
        return self.ask("count", route=route)["requests"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask("quit")
                self.proc.wait(timeout=10)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=10)


# -- memory and time ---------------------------------------------------------------------------------
def current_rss() -> int:
    """Resident set size now, in bytes (``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss() -> int:
    """``ru_maxrss`` in bytes (Linux counts KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the kernel (glibc ``malloc_trim``), so a
    phase's RSS starts near what is really in use."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def vm_hwm() -> int:
    """The kernel's RSS high-water mark of this address space (``VmHWM``), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return max_rss()


class PeakRss:
    """The peak RSS from :meth:`start` on, against the RSS at that moment.

    ``ru_maxrss`` only tells the peak of the process's life, so :meth:`start` resets the kernel's
    high-water mark (``5`` into ``/proc/self/clear_refs``). ``ru_maxrss`` follows the reset unless
    a thread that has ended saw a higher peak (it keeps that); then ``VmHWM`` (the same mark, in
    ``/proc/self/status``) is read instead. ``source``: ``ru_maxrss``, ``VmHWM``, or ``lifetime``
    where the reset is refused (the delta is then against the lifetime peak).
    """

    MARKS = {"ru_maxrss": " ", "VmHWM": "+", "lifetime": "*"}

    def __init__(self) -> None:
        self.source = "lifetime"
        self.base = 0

    def start(self) -> None:
        release_memory()
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
        except OSError:
            self.source, self.base = "lifetime", max_rss()
            return
        self.source = "ru_maxrss" if max_rss() <= current_rss() + 4 * MiB else "VmHWM"
        self.base = current_rss()

    def peak(self) -> int:
        return vm_hwm() if self.source == "VmHWM" else max_rss()

    def delta(self) -> int:
        """Bytes the peak rose above the RSS at :meth:`start`."""
        return max(0, self.peak() - self.base)


@dataclass
class Figures:
    """One phase: wall time and RSS peak (untraced run), Python peak (traced run)."""

    seconds: float | None = None
    rss_delta: int | None = None
    rss_source: str = "ru_maxrss"
    py_peak: int | None = None


@dataclass
class Runner:
    """Runs phases untraced (time, RSS) or under tracemalloc (Python peak), into ``figures``."""

    traced: bool
    figures: dict[str, Figures]

    def __call__(self, name: str, run: Callable[[], Any]) -> Any:
        figures = self.figures.setdefault(name, Figures())
        release_memory()
        if self.traced:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            result = run()
            figures.py_peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
            return result
        rss = PeakRss()
        rss.start()
        started = time.perf_counter()
        result = run()
        figures.seconds = time.perf_counter() - started
        figures.rss_delta, figures.rss_source = rss.delta(), rss.source
        return result


class TimedIterator:
    """Iterates ``items``, adding up in ``seconds`` the time spent getting each item."""

    def __init__(self, items: Any) -> None:
        self.items = items
        self.seconds = 0.0
        self._iterator: Any = None

    def __iter__(self) -> TimedIterator:
        self._iterator = iter(self.items)
        self.seconds = 0.0
        return self

    def __next__(self) -> Any:
        started = time.perf_counter()
        try:
            return next(self._iterator)
        finally:
            self.seconds += time.perf_counter() - started


# -- the campaign ------------------------------------------------------------------------------------
@dataclass
class Campaign:
    """A sent campaign whose calls have all ended."""

    n: int
    people: Path
    recipients: Any
    key: Any
    store: Any
    handle: Any
    validation_seconds: float
    send_seconds: float
    facts: dict[str, Any] = field(default_factory=dict)


def write_people(path: Path, n: int, first: int) -> None:
    """A patient file: national French mobile numbers, an id, a name and a ward."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "id", "name", "ward"])
        for i in range(n):
            digits = f"{first + i:08d}"
            phone = f"06 {digits[0:2]} {digits[2:4]} {digits[4:6]} {digits[6:8]}"
            writer.writerow([phone, f"P{i:06d}", f"Patient {i}", "B" if i % 3 else "A"])


def send(sim: Simulator, backend: Any, workdir: Path, n: int, label: str) -> Campaign:
    """Validate and send ``n`` recipients as one Velip campaign; move the clock past its last call."""
    from airflow_provider_voice.capabilities.recipients import validate_recipients
    from airflow_provider_voice.delivery import CheckpointKey, LocalCheckpointStore
    from airflow_provider_voice.models.campaign import CampaignSpec

    folder = workdir / label
    folder.mkdir()
    people = folder / "patients.csv"
    write_people(people, n, FIRST_NUMBER[label])
    spec = CampaignSpec(name=f"bench outcomes {label}", message="Rappel de rendez-vous")
    started = time.perf_counter()
    recipients = validate_recipients(people, backend, spec, default_region="FR", rejects_path=False)
    validation = time.perf_counter() - started
    key = CheckpointKey("bench_outcomes", f"send_{label}", f"run-{time.time_ns()}")
    store = LocalCheckpointStore(folder / "checkpoints")
    started = time.perf_counter()
    handle = backend.send_campaign(spec, recipients, key=key, store=store)
    sending = time.perf_counter() - started
    if handle.accepted != n or len(handle.campaign_ids) != 1:
        raise SystemExit(f"the send did not go as planned: {handle.accepted:,} accepted, {handle.campaign_ids}")
    sim.ask("advance", seconds=-(-n // CALL_LINES) * CALL_SECONDS + 3600)  # every call has ended
    return Campaign(n, people, recipients, key, store, handle, validation, sending)


def run_phases(sim: Simulator, backend: Any, campaign: Campaign, out: Path, measure: Runner) -> None:
    """(a), (b), the recipients alone, (c); traced: also collect_outcomes -> writer."""
    from airflow_provider_voice.capabilities.outcome_table import OutcomeTableWriter
    from airflow_provider_voice.capabilities.outcomes import OutcomeJoin, group_records

    client = backend.access.client()
    handle, facts = campaign.handle, campaign.facts

    def next_hour() -> None:  # a fresh window for Velip's limit of 200 list requests an hour
        sim.ask("advance", seconds=3601)

    def join(records: Any) -> OutcomeJoin:  # as collect_outcomes builds it
        return OutcomeJoin(
            key=campaign.key,
            store=campaign.store,
            records=records,
            outcome_key=backend.outcome_key,
            vendor=backend.vendor,
            conn_id=backend.access.conn_id,
            no_record_detail=backend.no_record_detail(handle),
        )

    next_hour()
    pages, cpu = sim.requests("GetCallStatus"), sim.cpu()
    records = measure("read", lambda: group_records(client.iterate(backend.outcome_records_flow(handle))))
    facts["sim_cpu"] = sim.cpu() - cpu
    facts["pages"] = sim.requests("GetCallStatus") - pages
    facts["records"] = sum(len(attempts) for attempts in records.values())
    facts["numbers"] = len(records)
    source = TimedIterator(campaign.recipients)
    facts["counts"] = measure("join", lambda: Counter(row.outcome for row in join(records).outcomes(source)))
    if measure.traced:  # the recipient stream alone, for its memory
        measure("source", lambda: sum(1 for _ in campaign.recipients))
    else:  # the time (b) spent waiting for the next recipient
        measure.figures.setdefault("source", Figures()).seconds = source.seconds
    rows = list(join(records).outcomes(campaign.recipients))  # the input of (c), outside the measures
    records = {}  # freed before (c)

    def write() -> dict[str, int]:
        with OutcomeTableWriter(out / "c" / "outcomes") as table:
            table.add_all(rows)
        return {fmt: Path(path).stat().st_size for fmt, path in table.paths.items()}

    facts["sizes"] = measure("write", write)
    rows = []  # freed
    shutil.rmtree(out / "c")
    facts["arrow_peak"] = arrow_peak()

    if measure.traced:  # the operator's stream in this process, for its Python peak

        def end_to_end() -> None:
            with OutcomeTableWriter(out / "table" / "outcomes") as table:
                outcomes = backend.collect_outcomes(handle, campaign.recipients, key=campaign.key, store=campaign.store)
                table.add_all(outcomes)

        next_hour()
        measure("total", end_to_end)


def run_operator(sim: Simulator, campaign: Campaign, out: Path) -> tuple[Figures, dict[str, Any]]:
    """``CollectOutcomesOperator.execute`` in a fresh process (time, RSS above its baseline)."""
    job = {
        "campaign": campaign.handle.model_dump(mode="json"),
        "recipients": str(campaign.people),
        "checkpoints": str(campaign.store.root),
        "outcomes": str(out / "operator" / "outcomes"),
    }
    sim.ask("advance", seconds=3601)  # a fresh window of Velip's list-request limit
    pages, cpu = sim.requests("GetCallStatus"), sim.cpu()
    done = subprocess.run(
        [sys.executable, __file__, "--collect-worker", json.dumps(job)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SystemExit(f"the operator's process failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(lines[-1])
    report["pages"] = sim.requests("GetCallStatus") - pages
    report["sim_cpu"] = sim.cpu() - cpu
    delta = max(0, report["peak_rss"] - report["baseline_rss"])
    figures = Figures(seconds=report["wall_seconds"], rss_delta=delta, rss_source=report["rss_source"])
    return figures, report


def collect_worker(job_text: str) -> None:
    """Runs in the operator's process: import, note the RSS, run ``execute``, print one JSON line."""
    import logging

    job = json.loads(job_text)
    started = time.perf_counter()
    import pyarrow.parquet  # noqa: F401  - imported by the writer at first use: in the baseline

    from airflow_provider_voice.operators.outcomes import CollectOutcomesOperator

    imported = time.perf_counter() - started
    logging.getLogger("airflow_provider_voice").setLevel(logging.WARNING)
    operator = CollectOutcomesOperator(
        task_id="collect_outcomes",
        conn_id=CONN_ID,
        campaign=job["campaign"],
        recipients=job["recipients"],
        default_region="FR",
        checkpoint_path=job["checkpoints"],
        outcomes_path=job["outcomes"],
        outcomes_asset=False,
    )
    rss = PeakRss()
    rss.start()
    started = time.perf_counter()
    result = operator.execute({})
    wall = time.perf_counter() - started
    report = {
        "wall_seconds": wall,
        "import_seconds": imported,
        "baseline_rss": rss.base,
        "peak_rss": rss.peak(),
        "rss_source": rss.source,
        "rows": result["rows"],
        "csv": result.get("csv_path"),
        "parquet": result.get("parquet_path"),
    }
    print(json.dumps(report))


def arrow_peak() -> tuple[str, int]:
    """The Arrow memory pool's backend and peak allocation so far (bytes)."""
    import pyarrow as pa

    pool = pa.default_memory_pool()
    return pool.backend_name, pool.max_memory()


# -- checks and output -------------------------------------------------------------------------------
def table_files(operator: dict[str, Any]) -> dict[str, Path]:
    """The operator's CSV and Parquet files (its XCom names them as paths or ``file://`` URLs)."""
    return {fmt: Path(str(operator[fmt]).removeprefix("file://")) for fmt in ("csv", "parquet")}


def verify(files: dict[str, Path], campaign: Campaign, sim: Simulator, called: int) -> list[str]:
    """Read the operator's table back and check it against the input and the seeded model."""
    import pyarrow.parquet as pq

    from airflow_provider_voice.vendors.velip.outcomes import VELIP_OUTCOMES

    n = campaign.n
    columns = ["row_id", "number", "outcome", "vendor_status", "attempts"]
    data = pq.read_table(files["parquet"], columns=columns).to_pydict()
    with files["csv"].open(encoding="utf-8", newline="") as handle:
        csv_rows = sum(1 for _ in csv.DictReader(handle))
    with campaign.people.open(encoding="utf-8", newline="") as handle:
        input_ids = [row["id"] for row in csv.DictReader(handle)]
    rows = len(data["number"])
    statuses = sim.ask("expected", numbers=[number.lstrip("+") for number in data["number"]])["statuses"]
    counts = Counter(data["outcome"])
    expected = Counter(VELIP_OUTCOMES[status] for status in statuses)
    mismatches = [
        (row_id, got, status, attempts, want)
        for row_id, got, status, attempts, want in zip(
            data["row_id"], data["outcome"], data["vendor_status"], data["attempts"], statuses, strict=True
        )
        if (got, status, attempts) != (VELIP_OUTCOMES[want], want, 1)
    ]
    calls = sim.ask("calls")
    kinds = sorted(set(counts) | set(expected))
    lines = [
        f"rows: Parquet {rows:,}, CSV {csv_rows:,} (expected {n:,}): {'ok' if rows == csv_rows == n else 'WRONG'}",
        f"row ids in the input file's order: {'ok' if data['row_id'] == input_ids else 'WRONG'}",
        f"pending: {counts.get('pending', 0):,} (expected 0)",
        "outcomes, table / seeded model: "
        + ", ".join(f"{kind} {counts.get(kind, 0):,} / {expected.get(kind, 0):,}" for kind in kinds),
        f"rows whose (outcome, Velip status, 1 attempt) differ from the model: {len(mismatches):,} (expected 0)",
    ]
    for row_id, got, status, attempts, want in mismatches[:10]:
        lines.append(f"  {row_id}: {got} / {status} / {attempts} attempt(s); model: {VELIP_OUTCOMES[want]} / {want}")
    lines.append(
        f"simulator ledger: {calls['numbers']:,} numbers called (expected {called:,}), "
        f"at most {calls['max']} time(s) each (expected 1)"
    )
    return lines


def figure_line(name: str, rows: int, figures: Figures) -> str:
    seconds = f"{figures.seconds:8.2f}" if figures.seconds is not None else "       -"
    rate = f"{rows / figures.seconds:12,.0f}" if figures.seconds else "           -"
    if figures.rss_delta is None:
        rss = "       -"
    else:
        rss = f"{figures.rss_delta / MiB:7.1f}" + PeakRss.MARKS[figures.rss_source]
    py = f"{figures.py_peak / MiB:9.1f}" if figures.py_peak is not None else "        -"
    return f"  {name:<36} {seconds} {rate} {rss} {py}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="recipients of the campaign (default 100000)")
    parser.add_argument("--quick", action="store_true", help="10,000 recipients")
    parser.add_argument(
        "--trace-recipients",
        type=int,
        default=10_000,
        help="size of the tracemalloc runs (default 10000; 0: none; 100000 makes the whole run about 5.5 minutes)",
    )
    parser.add_argument("--serve-simulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--collect-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_simulator:
        serve_simulator()
        return 0
    if args.collect_worker:
        collect_worker(args.collect_worker)
        return 0
    n = 10_000 if args.quick else args.recipients
    trace_n = min(max(0, args.trace_recipients), n)
    workdir = Path(tempfile.mkdtemp(prefix="bench-outcomes-"))
    os.environ.setdefault("AIRFLOW_HOME", str(workdir / "airflow"))

    import logging

    from airflow.sdk import BaseHook

    logging.getLogger("airflow_provider_voice").setLevel(logging.WARNING)  # no progress lines among the figures
    sim = Simulator()
    try:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "velip", "host": sim.velip_url, "password": "sim-velip-token"}
        )
        sim.ask(
            "configure",
            values={"seed": SEED, "outcome_weights": WEIGHTS, "call_seconds": CALL_SECONDS, "call_lines": CALL_LINES},
        )
        backend = BaseHook.get_hook(CONN_ID, hook_params={"timeout": 60.0}).campaigns()
        before = current_rss()
        import pyarrow.parquet  # noqa: F401  - the writer imports it at first use: not a cost of (c)

        arrow_import = current_rss() - before
        campaign = send(sim, backend, workdir, n, "timed")
        print(
            f"setup: {n:,} recipients validated in {campaign.validation_seconds:.2f} s; one Velip campaign "
            f"(cp_id {campaign.handle.campaign_ids[0]}) accepted in {campaign.send_seconds:.2f} s; "
            f"all calls ended ({CALL_LINES} lines, {CALL_SECONDS:.0f} s a call, fake clock)"
        )
        figures: dict[str, Figures] = {}
        run_phases(sim, backend, campaign, workdir / "timed", Runner(traced=False, figures=figures))
        facts = dict(campaign.facts)
        figures["total"], operator = run_operator(sim, campaign, workdir / "timed")
        called = n
        if trace_n:
            if trace_n == n:
                traced = campaign
            else:
                traced = send(sim, backend, workdir, trace_n, "traced")
                called += trace_n
            run_phases(sim, backend, traced, workdir / "traced", Runner(traced=True, figures=figures))

        backend_name, arrow_bytes = facts["arrow_peak"]
        print(
            f"(a) {facts['pages']} GetCallStatus requests (up to 5,000 rows each) -> {facts['records']:,} records "
            f"for {facts['numbers']:,} numbers; the simulator spent {facts['sim_cpu']:.2f} s of CPU answering them"
        )
        print("(b) outcomes: " + ", ".join(f"{kind} {count:,}" for kind, count in sorted(facts["counts"].items())))
        print(
            "(c) files: "
            + ", ".join(f"{fmt} {size / MiB:.1f} MiB ({size / n:.0f} B/row)" for fmt, size in facts["sizes"].items())
            + f"; Arrow pool ({backend_name}) peak {arrow_bytes / MiB:.1f} MiB; importing pyarrow"
            f" (before the phases) took {arrow_import / MiB:.0f} MiB of RSS"
        )
        print(
            f"end to end: the operator's process imported in {operator['import_seconds']:.1f} s (RSS then "
            f"{operator['baseline_rss'] / MiB:.0f} MiB, peak {operator['peak_rss'] / MiB:.0f} MiB); "
            f"{operator['pages']} GetCallStatus requests, {operator['sim_cpu']:.2f} s of simulator CPU"
        )
        py_head = f"py peak @{trace_n:,}" if trace_n else "py peak"
        print(
            f"\n  {'phase (' + format(n, ',') + ' rows)':<36} {'wall s':>8} {'rows/s':>12} {'RSS MiB':>8} {py_head:>9}"
        )
        for name, label in PHASES.items():
            if name == "total":
                parts = [figures[p].seconds or 0.0 for p in ("read", "join", "write")]
                print(figure_line("sum of (a) + (b) + (c)", n, Figures(seconds=sum(parts))))
            print(figure_line(label, n, figures.get(name, Figures())))
        print(
            "\n  RSS MiB: ru_maxrss after the phase minus the RSS at its start, the high-water mark reset before"
            "\n    each phase (/proc/self/clear_refs); + = VmHWM read instead (ru_maxrss kept an ended thread's"
            "\n    peak); * = reset refused: delta against the lifetime peak."
            "\n  py peak: tracemalloc peak of Python allocations above the phase's start, in a separate traced run"
            + (f"\n    on a {trace_n:,}-recipient campaign" if trace_n else "\n    (not run: --trace-recipients 0)")
            + "; Arrow buffers are outside it."
            "\n  end to end: the operator in its own process (its validation pass included); RSS above its"
            "\n    baseline after the imports; py peak: collect_outcomes -> writer traced in this process."
            f"\n  this process now: RSS {current_rss() / MiB:.0f} MiB; the simulator process: peak RSS "
            f"{sim.ask('usage')['peak_mib']:.0f} MiB (counted in neither)\n"
        )
        for line in verify(table_files(operator), campaign, sim, called):
            print(line)
    finally:
        sim.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
