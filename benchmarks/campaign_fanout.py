"""Campaign fan-out benchmark: 100,000 recipients against the simulator with 50 ms latency per request.

For Octopush (500 recipients per frame) and Kaleyra (200 numbers per request) it measures:

* **operator send path** — what ``SendVoiceCampaignOperator.execute`` runs after validation:
  ``backend.send_campaign(...)`` through the delivery engine (bounded async concurrency,
  a local fsync-ed checkpoint per frame, progress lines);
* **sequential loop** — one blocking POST per frame with a plain ``httpx.Client`` (what a DAG built
  on ``HttpOperator`` does), same payloads;
* **ideal** — frames x latency / concurrency (zero client and server cost).

It also prints the *server floor* (the operator path with 0 ms latency: the single-process
simulator's own CPU, which serializes the requests it handles) and the same operator path against
a stub vendor that answers canned bodies after the same latency without parsing anything — the
client's own overhead.

It prints the three wall times, the ratios (goal: >= 8x faster than the sequential loop, within
1.25x of ideal), the validation time of the 100,000 numbers (paid once by the operator, outside
the send path), peak RSS of this process and of the simulator, and checks the simulator's ledger:
every recipient called exactly once per run. A table then puts, per vendor and concurrency, the
operator path's ratio to ideal against the stub beside the one against the simulator (and the
client CPU seconds of each run).

Last comes a **profile summary**: one more operator-path run per vendor against the stub, at the
highest concurrency, under ``cProfile`` (not timed: profiling inflates Python-heavy parts), its
main-thread time summed by category (engine framing and member hashes, request/body building,
response parsing, checkpoint, progress/logging, HTTP client, httpcore pool bookkeeping, event
loop, event loop idle = waiting on latency), plus the checkpoint commits made in the writer
thread (count, records, seconds in write + fsync) — where the time above ideal goes.

The simulator runs in its own process (``python -m airflow_provider_voice.testing``), so its CPU
does not compete with the client for one interpreter lock.

Usage: ``python benchmarks/campaign_fanout.py [--recipients 100000] [--latency 0.05] [--concurrency 16,64] [--no-profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEND_ROUTES = {"octopush": "/v1/public/voice-campaign/send", "kaleyra": "voice.json"}
FRAMES = {"octopush": 500, "kaleyra": 200}


def rss_mb(pid: int | None = None) -> float:
    """Peak RSS of this process (ru_maxrss), or the current RSS of ``pid`` (psutil), in MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


class Simulator:
    """The simulator in a subprocess, driven through its control routes."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-sim-"))
        ready = self.dir / "ready.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_voice.testing", "--port", "0", "--ready-file", str(ready)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.url, self.base_urls = info["url"], info["base_urls"]
        self.http = httpx.Client(base_url=self.url, timeout=120, trust_env=False)
        self.peak_rss = 0.0

    def reset(self, latency: float) -> None:
        self.http.post("/_sim/reset", json={}).raise_for_status()
        rules = [{"vendor": v, "route": r, "latency": latency} for v, r in SEND_ROUTES.items()]
        self.http.post("/_sim/faults", json={"rules": rules}).raise_for_status()

    def calls(self, vendor: str) -> tuple[int, int]:
        """(distinct numbers called, largest count per number) from the ledger."""
        self.peak_rss = max(self.peak_rss, rss_mb(self.proc.pid))
        counts = self.http.get("/_sim/ledger", params={"vendor": vendor, "action": "call"}).json()["counts"]
        return len(counts), max(counts.values(), default=0)

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


STUB_BODIES = {
    "octopush": json.dumps(
        {
            "ticket_number": "voice_stub",
            "number_of_contacts": 500,
            "total_cost": 25.0,
            "estimated_duration": 30,
            "residual_credit": 1000.0,
        }
    ).encode(),
    "kaleyra": json.dumps(
        {
            "status": "200",
            "message": "OK",
            "data": {
                **{str(i): {"id": f"1-{i + 1}", "mobile": "33612345678", "status": "SENT"} for i in range(200)},
                "group_id": 1,
            },
        }
    ).encode(),
}


def serve_stub(ready_file: str, latency: float) -> None:
    """A minimal vendor stand-in (subprocess): reads the request, waits ``latency``, answers a canned
    body of the vendor's shape. No parsing, no ledger: it isolates the client's own cost."""
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                body = STUB_BODIES["kaleyra" if b"voice.json" in head.split(b"\r\n", 1)[0] else "octopush"]
                await asyncio.sleep(latency)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        Path(ready_file).write_text(str(server.sockets[0].getsockname()[1]))
        await server.serve_forever()

    asyncio.run(main())


class Stub:
    """The stub vendor in a subprocess."""

    def __init__(self, latency: float) -> None:
        ready = Path(tempfile.mkdtemp(prefix="bench-stub-")) / "port"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-stub", str(ready), "--latency", str(latency)])
        deadline = time.monotonic() + 30
        while not ready.exists() or not ready.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stub did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{ready.read_text()}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def stub_connections(stub: Stub) -> None:
    os.environ["AIRFLOW_CONN_STUB_OCTOPUSH"] = json.dumps(
        {"conn_type": "octopush", "host": stub.url, "login": "a@example.com", "password": "stub-key"}
    )
    os.environ["AIRFLOW_CONN_STUB_KALEYRA"] = json.dumps(
        {
            "conn_type": "kaleyra",
            "host": stub.url,
            "password": "stub-key",
            "extra": {"obd_base_url": stub.url + "/api/v1/"},
        }
    )


def connections(sim: Simulator) -> None:
    os.environ["AIRFLOW_CONN_BENCH_OCTOPUSH"] = json.dumps(
        {
            "conn_type": "octopush",
            "host": sim.base_urls["octopush"],
            "login": "sim@example.com",
            "password": "sim-octopush-key",
        }
    )
    os.environ["AIRFLOW_CONN_BENCH_KALEYRA"] = json.dumps(
        {
            "conn_type": "kaleyra",
            "host": sim.base_urls["kaleyra"],
            "password": "sim-kaleyra-key",
            "extra": {"obd_base_url": sim.base_urls["kaleyra-obd"]},
        }
    )


def sequential(vendor: str, sim: Simulator, recipients: list[Any]) -> float:
    """One blocking POST per frame, like a DAG of HttpOperator calls."""
    size = FRAMES[vendor]
    started = time.perf_counter()
    with httpx.Client(timeout=30, trust_env=False) as client:
        for start in range(0, len(recipients), size):
            frame = recipients[start : start + size]
            if vendor == "octopush":
                response = client.post(
                    sim.base_urls["octopush"] + "/v1/public/voice-campaign/send",
                    headers={"api-login": "sim@example.com", "api-key": "sim-octopush-key"},
                    json={
                        "text": "Benchmark message",
                        "recipients": [{"phone_number": r.number.octopush} for r in frame],
                        "type": "voice_sms",
                        "purpose": "alert",
                    },
                )
            else:
                response = client.post(
                    sim.base_urls["kaleyra-obd"],
                    params={"method": "voice.json", "format": "json"},
                    headers={"x-api-key": "sim-kaleyra-key"},
                    json={
                        "message": "Benchmark message",
                        "campaign": "bench",
                        "call": [{"to": ",".join(r.number.kaleyra for r in frame)}],
                    },
                )
            response.raise_for_status()
    return time.perf_counter() - started


def timed_store(root: Path) -> Any:
    """A :class:`LocalCheckpointStore` that counts its commits and the seconds they take (writer thread)."""
    from airflow_provider_voice.delivery import LocalCheckpointStore

    class TimedStore(LocalCheckpointStore):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.commits = self.records = self.owner_reads = 0
            self.commit_seconds = self.owner_seconds = 0.0
            self._stats = threading.Lock()

        def append_sync(self, key: Any, records: list[dict[str, Any]]) -> None:
            started = time.perf_counter()
            super().append_sync(key, records)
            with self._stats:
                self.commits += 1
                self.records += len(records)
                self.commit_seconds += time.perf_counter() - started

        def owner(self, key: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().owner(key)
            finally:
                with self._stats:
                    self.owner_reads += 1
                    self.owner_seconds += time.perf_counter() - started

    return TimedStore(root)


def operator_path(
    vendor: str,
    recipients: list[Any],
    concurrency: int,
    checkpoints: Path,
    prefix: str = "bench",
    store: Any = None,
    profile: cProfile.Profile | None = None,
) -> tuple[float, Any, float]:
    """``SendVoiceCampaignOperator``'s send path: the campaign backend through the delivery engine.

    :returns: wall seconds, the handle, and the CPU seconds of this process (the client's) meanwhile.
    """
    from airflow.sdk import BaseHook

    from airflow_provider_voice.delivery import CheckpointKey, LocalCheckpointStore
    from airflow_provider_voice.models.campaign import CampaignSpec

    backend = BaseHook.get_hook(f"{prefix}_{vendor}").campaigns()
    spec = CampaignSpec(name="bench", message="Benchmark message")
    key = CheckpointKey("benchmark", vendor, f"run-{time.time_ns()}")
    store = store if store is not None else LocalCheckpointStore(checkpoints)
    cpu, started = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        handle = backend.send_campaign(
            spec, recipients, key=key, store=store, concurrency=concurrency,
            total=len(recipients), engine_options={"progress_interval": 2.0},
        )  # fmt: skip
    finally:
        if profile is not None:
            profile.disable()
    return time.perf_counter() - started, handle, time.process_time() - cpu


#: profile categories, first match wins: (category, path fragments of the function's file)
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("checkpoint records (main thread)", ("delivery/checkpoint",)),
    ("progress lines and logging", ("delivery/progress", "/logging/", "structlog", "redaction")),
    ("engine: frames, member hashes, queue", ("delivery/", "campaign_fanout")),
    ("vendor", ("/vendors/", "/models/", "/capabilities/", "pydantic")),
    ("HTTP client (transport, httpx, httpcore, anyio, tenacity)",
     ("transport.py", "/httpx/", "/httpcore/", "/h11/", "/anyio/", "/tenacity/", "/sniffio/", "/idna/")),
    ("event loop and tasks", ("/asyncio/", "selectors.py")),
    ("thread hand-off", ("threading.py", "concurrent/futures", "/queue.py")),
)  # fmt: skip
#: httpcore's pool bookkeeping (its per-request scan of every pooled connection) and the idle-socket checks it makes
POOL_FUNCTIONS = frozenset(
    {"_assign_requests_to_connections", "has_expired", "is_idle", "is_closed", "is_available",
     "can_handle_request", "is_socket_readable", "_socket_readable", "extra_attributes", "get_extra_info",
     "_raw_socket", "<listcomp>"}
)  # fmt: skip
RESPONSE_WORDS = ("parse", "_result", "reply", "records", "ticket", "json_body", "check_json_depth", "validate")
NEUTRAL = ("~", "/json/", "/re/", "/enum.py", "/functools.py", "/typing.py", "/abc.py", "/contextlib.py")
IDLE = "event loop idle (waiting on latency)"


def _category(func: tuple[str, int, str]) -> str | None:
    """The category of a profiled function, or None when its time belongs to its callers (built-ins, stdlib json)."""
    file, _, name = func
    file = file.replace("\\", "/")
    if name == "<method 'poll' of 'select.epoll' objects>":
        return IDLE
    if file == "~" or any(part in file for part in NEUTRAL[1:]):
        return None
    if ("/httpcore/_async/connection" in file or "/httpcore/_async/http11" in file or "/httpcore/_utils" in file
            or "/anyio/" in file or "transport.py" in file) and name in POOL_FUNCTIONS:  # fmt: skip
        if "connection_pool" in file or name != "<listcomp>":
            return "HTTP client: httpcore pool bookkeeping (idle scans)"
    for category, parts in CATEGORIES:
        if any(part in file for part in parts):
            if category == "vendor":
                words = RESPONSE_WORDS
                return (
                    "response parsing (vendor models)"
                    if any(w in name for w in words)
                    else "request/body building (vendor)"
                )
            return category
    return "other"


def profile_summary(profile: cProfile.Profile, wall: float) -> list[tuple[str, float]]:
    """Main-thread self time per category (built-ins and stdlib helpers charged to their callers)."""
    import pstats

    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    shares: dict[Any, dict[str, float]] = {}

    def share(func: Any, depth: int = 0) -> dict[str, float]:
        if func in shares:
            return shares[func]
        own = _category(func)
        if own is not None or depth > 12 or func not in stats:
            shares[func] = {own or "other": 1.0}
            return shares[func]
        shares[func] = {"other": 1.0}  # while resolving (cycles)
        callers = stats[func][4]
        total = sum(edge[2] for edge in callers.values()) or 1.0
        out: dict[str, float] = {}
        for caller, edge in callers.items():
            weight = (edge[2] / total) if sum(e[2] for e in callers.values()) else 1.0 / len(callers)
            for category, part in share(caller, depth + 1).items():
                out[category] = out.get(category, 0.0) + weight * part
        shares[func] = out or {"other": 1.0}
        return shares[func]

    totals: dict[str, float] = {}
    for func, (_, _, tottime, _, _) in stats.items():
        for category, part in share(func).items():
            totals[category] = totals.get(category, 0.0) + tottime * part
    return sorted(totals.items(), key=lambda kv: -kv[1])


def print_table(rows: list[tuple[str, int, float, float, float, float, float]]) -> None:
    """Operator path / ideal against the stub beside the same against the simulator."""
    print("operator send path / ideal (goal <= 1.25x), stub vendor beside simulator; client CPU s of each run")
    print(
        f"  {'vendor':<9} {'conc':>4} {'ideal s':>8} | {'stub s':>7} {'ratio':>6} {'cpu s':>6} | {'sim s':>7} {'ratio':>6} {'cpu s':>6}"
    )
    for vendor, concurrency, ideal, stub, stub_cpu, sim, sim_cpu in rows:
        print(
            f"  {vendor:<9} {concurrency:>4} {ideal:>8.3f} | {stub:>7.2f} {stub / ideal:>5.2f}x {stub_cpu:>6.2f} |"
            f" {sim:>7.2f} {sim / ideal:>5.2f}x {sim_cpu:>6.2f}"
        )
    print()


def profile_run(vendor: str, recipients: list[Any], concurrency: int, latency: float) -> None:
    """One profiled operator-path run against the stub; prints where its time goes."""
    frames = -(-len(recipients) // FRAMES[vendor])
    ideal = frames * latency / concurrency
    stub = Stub(latency)
    profile = cProfile.Profile()
    try:
        stub_connections(stub)
        with tempfile.TemporaryDirectory() as checkpoints:
            store = timed_store(Path(checkpoints))
            wall, _, cpu = operator_path(
                vendor, recipients, concurrency, Path(checkpoints), prefix="stub", store=store, profile=profile
            )
    finally:
        stub.close()
    print(
        f"profile: {vendor} against the stub, concurrency {concurrency}, {frames} frames "
        f"(cProfile on: {wall:.2f} s wall, {cpu:.2f} s client CPU; ideal {ideal:.2f} s)"
    )
    print("  main thread, self time by category (built-ins charged to their callers):")
    for category, seconds in profile_summary(profile, wall):
        if seconds >= 0.0005:
            print(f"    {category:<58} {seconds:7.3f} s  {100 * seconds / wall:5.1f}%")
    print(
        f"  checkpoint writer thread: {store.commits} commits for {store.records} records "
        f"({store.records / max(store.commits, 1):.1f} records per fsync; {2 * frames} records without group commit), "
        f"{store.commit_seconds:.3f} s in write + fsync; {store.owner_reads} claim reads, {store.owner_seconds:.3f} s"
    )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.05, help="simulator latency per request, seconds")
    parser.add_argument(
        "--concurrency", default="16,64", help="frames in flight on the operator path (comma-separated values)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profile summary")
    parser.add_argument("--vendors", default="octopush,kaleyra")
    parser.add_argument("--serve-stub", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_stub:
        serve_stub(args.serve_stub, args.latency)
        return 0
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))

    import logging

    logging.basicConfig(level=logging.WARNING)
    from airflow_provider_voice.capabilities.recipients import validate_recipients
    from airflow_provider_voice.models.campaign import CampaignSpec

    raw = [f"+33{6 + i // 10**8}{i % 10**8:08d}" for i in range(args.recipients)]
    sim = Simulator()
    rss_start = rss_mb()
    try:
        connections(sim)
        from airflow.sdk import BaseHook

        t0 = time.perf_counter()
        validated = validate_recipients(
            raw, BaseHook.get_hook("bench_octopush").campaigns(), CampaignSpec(name="b", message="m")
        )
        recipients = list(validated)
        validation = time.perf_counter() - t0
        print(
            f"recipients: {len(recipients):,} (validated and parsed to E.164 in {validation:.2f} s, two passes; not in the send path)"
        )
        print(f"simulator latency {args.latency * 1000:.0f} ms per request; operator concurrency {args.concurrency}\n")
        levels = [int(c) for c in str(args.concurrency).split(",")]
        table: list[tuple[str, int, float, float, float, float, float]] = []
        for vendor in args.vendors.split(","):
            size = FRAMES[vendor]
            frames = -(-len(recipients) // size)
            sim.reset(args.latency)
            seq = sequential(vendor, sim, recipients)
            seq_calls = sim.calls(vendor)
            assert seq_calls == (len(recipients), 1), f"sequential ledger {seq_calls}"
            sim.reset(0.0)
            with tempfile.TemporaryDirectory() as checkpoints:
                floor, _, _ = operator_path(vendor, recipients, max(levels), Path(checkpoints))
            print(
                f"{vendor}: {size} per frame, {frames} frames\n"
                f"  sequential loop    {seq:7.2f} s   ({len(recipients) / seq:,.0f} recipients/s)\n"
                f"  server floor       {floor:7.2f} s   (operator path with 0 ms latency: the single-process simulator's CPU)"
            )
            for concurrency in levels:
                ideal = frames * args.latency / concurrency
                sim.reset(args.latency)
                with tempfile.TemporaryDirectory() as checkpoints:
                    elapsed, handle, sim_cpu = operator_path(vendor, recipients, concurrency, Path(checkpoints))
                op_calls = sim.calls(vendor)
                assert handle.accepted == len(recipients), handle
                assert op_calls == (len(recipients), 1), f"operator ledger {op_calls}"
                speedup, vs_ideal = seq / elapsed, elapsed / ideal
                print(
                    f"  concurrency {concurrency}:\n"
                    f"    operator send path {elapsed:7.2f} s   ({len(recipients) / elapsed:,.0f} recipients/s)\n"
                    f"    ideal              {ideal:7.2f} s   (frames x latency / concurrency)\n"
                    f"    speed-up vs sequential {speedup:5.1f}x (goal >= 8x: {'met' if speedup >= 8 else 'NOT met'})\n"
                    f"    operator / ideal       {vs_ideal:5.2f}x (goal <= 1.25x: {'met' if vs_ideal <= 1.25 else 'NOT met'})\n"
                    f"    ledger: {op_calls[0]:,} numbers called, at most {op_calls[1]} time(s) each"
                )
                stub = Stub(args.latency)
                try:
                    stub_connections(stub)
                    with tempfile.TemporaryDirectory() as checkpoints:
                        bare, stub_handle, stub_cpu = operator_path(
                            vendor, recipients, concurrency, Path(checkpoints), prefix="stub"
                        )
                    assert stub_handle.accepted == len(recipients), stub_handle
                finally:
                    stub.close()
                print(
                    f"    same send path against a stub vendor with no server CPU (canned answers, same latency): "
                    f"{bare:.2f} s = {bare / ideal:.2f}x ideal (goal <= 1.25x: {'met' if bare / ideal <= 1.25 else 'NOT met'})"
                )
                table.append((vendor, concurrency, ideal, bare, stub_cpu, elapsed, sim_cpu))
            print()
        print_table(table)
        if not args.no_profile:
            for vendor in args.vendors.split(","):
                profile_run(vendor, recipients, max(levels), args.latency)
        print(
            f"peak RSS: benchmark process {rss_mb():.0f} MiB (at start {rss_start:.0f} MiB), simulator process {sim.peak_rss:.0f} MiB"
        )
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
