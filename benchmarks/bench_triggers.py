"""Trigger fan-in benchmark: 1,000 deferred waits polling the simulator in one triggerer-like event loop.

What runs: the simulator in its own process (``python -m airflow_provider_voice.testing``, calls
and CDR reports that never finish, so every wait stays open); real campaigns sent to it for each
vendor with a completion trigger (Velip, Kaleyra, Octopush: ``CampaignCompletionTrigger``) and a
TeleVoIPs CDR report being compiled (``CdrReportTrigger``); connections as ``AIRFLOW_CONN_*``
variables. A measured subprocess then runs ``--triggers`` triggers (round-robin over the vendors)
in ONE asyncio loop, as Airflow's triggerer does: one task per trigger, ``async for event in
trigger.run()``, their starts spread over one poll interval (deferred tasks arrive over time; pass
``--no-stagger`` for all at once). Connections are read with Airflow's async API from the variables.

Measured over the steady window (after the first interval, to ``--duration``):

* process CPU (``time.process_time``) -> % of one core, CPU ms per poll, polls/s; since CPU
  scales with polls/s, the figure for a 30 s interval is also printed (CPU per poll x triggers / 30);
* RSS (psutil) after the imports and one warm-up poll per vendor, then at the end of the window
  (growth = what 1,000 triggers cost);
* sockets: TCP connections of the measured process to the simulator, sampled every second from
  this process (max, at the end, after the triggers are cancelled, and distinct local ports seen,
  a lower bound of the connections opened);
* the simulator's request count (its fault rules count every request) -> requests/s;
* the triggers' log lines (to a file, as a triggerer writes them), transient poll failures
  (warnings) and events fired (none expected: nothing finishes).

Goals (issue "Scale", item 4): CPU < 10 % of one core and RSS growth < 100 MiB at a 30 s
interval; one pooled HTTP client per connection (sockets bounded by the pool, not one per trigger).
Figures are printed, never asserted.

Usage: ``python benchmarks/bench_triggers.py [--triggers 1000] [--interval 30] [--duration 120]
[--before /tmp/before]`` (``--before PATH`` also runs the code at PATH, e.g. a clean checkout,
in the same run, against the same simulator); a quicker run: ``--interval 2 --duration 60``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN_VENDORS = ("velip", "kaleyra", "octopush")
ALL_KINDS = (*CAMPAIGN_VENDORS, "televoips")


# -- the measured process -----------------------------------------------------------------------------
def worker(config_path: str) -> None:
    """Run the triggers in one loop; print one JSON line of figures per phase."""
    cfg = json.loads(Path(config_path).read_text())
    sys.path.insert(0, cfg["code"])
    import gc

    import httpx
    import psutil

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)  # log lines -> stdout (a file); figures -> stderr

    from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger
    from airflow_provider_voice.triggers.cdr import CdrReportTrigger

    proc = psutil.Process()
    interval, n, duration = float(cfg["interval"]), int(cfg["triggers"]), float(cfg["duration"])
    kinds = cfg["kinds"]
    handles: dict[str, list[dict[str, Any]]] = cfg["handles"]
    polls = 0

    def build(i: int, poll_interval: float, deadline: str | None) -> Any:
        kind = kinds[i % len(kinds)]
        if kind == "televoips":
            trigger: Any = CdrReportTrigger(conn_id="televoips_default", poll_interval=poll_interval, deadline=deadline)
        else:
            pool = handles[kind]
            trigger = CampaignCompletionTrigger(
                conn_id=f"{kind}_default", handle=pool[(i // len(kinds)) % len(pool)],
                poll_interval=poll_interval, deadline=deadline,
            )  # fmt: skip
        apoll = trigger.apoll

        async def counted(*args: Any) -> Any:  # an instance attribute: the class is untouched
            nonlocal polls
            polls += 1
            return await apoll(*args)

        trigger.apoll = counted
        return trigger

    def emit(phase: str, **figures: Any) -> None:
        print(json.dumps({"phase": phase, **figures}), file=sys.stderr, flush=True)

    async def sim_requests() -> int | None:  # a client of its own, closed at once: not among the sockets counted
        for _ in range(3):
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), trust_env=False) as http:
                    rules = (await http.get(cfg["sim_url"] + "/_sim/faults")).json()["rules"]
                return sum(rule["requests"] for rule in rules)
            except httpx.HTTPError:  # an overloaded simulator: the figure is missing, the run goes on
                await asyncio.sleep(1.0)
        return None

    async def main() -> None:
        nonlocal polls
        # warm-up: one trigger per vendor, deadline passed (one poll, then a timeout event): lazy imports done
        past = "2000-01-01T00:00:00+00:00"
        warm = []
        for i in range(len(kinds)):
            async for event in build(i, interval, past).run():
                warm.append(event.payload["status"])
        gc.collect()
        await asyncio.sleep(0.5)
        rss0 = proc.memory_info().rss
        emit("baseline", rss_mb=rss0 / 2**20, warm_up_events=warm)
        polls = 0
        events: dict[str, int] = {}

        async def run_one(i: int) -> None:
            if cfg["stagger"]:
                await asyncio.sleep(interval * i / n)
            trigger = build(i, interval, None)
            async for event in trigger.run():  # what the triggerer does with each trigger
                status = event.payload.get("status", "?")
                events[status] = events.get(status, 0) + 1

        t0 = time.monotonic()
        tasks = [asyncio.create_task(run_one(i)) for i in range(n)]
        await asyncio.sleep(0)
        rss_created = proc.memory_info().rss
        warm_until = t0 + interval + min(1.0, interval / 4)
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
        # the window has the same length however late the start-up ends (a loop behind its schedule)
        length = max(1.0, duration - (warm_until - t0))
        req_start = await sim_requests()
        cpu_start, polls_start, wall_start = time.process_time(), polls, time.monotonic()
        emit("window", rss_mb=proc.memory_info().rss / 2**20, late=wall_start - warm_until)
        await asyncio.sleep(length)
        wall = time.monotonic() - wall_start
        cpu, window_polls = time.process_time() - cpu_start, polls - polls_start
        req_end = await sim_requests()
        req = None if req_start is None or req_end is None else req_end - req_start
        rss_end = proc.memory_info().rss
        emit(
            "steady",
            wall=wall,
            cpu=cpu,
            polls=window_polls,
            requests=req,
            rss_created_mb=rss_created / 2**20,
            rss_mb=rss_end / 2**20,
            growth_mb=(rss_end - rss0) / 2**20,
            per_trigger_kib=(rss_end - rss0) / 1024 / n,
            events=dict(events),
            late=wall_start - warm_until,
        )
        await asyncio.sleep(1.5)  # the sampler sees the sockets at steady state
        for task in tasks:  # the triggerer cancels the triggers it no longer runs
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(1.5)  # the sampler sees the sockets left after the triggers ended
        emit("cancelled", rss_mb=proc.memory_info().rss / 2**20)
        await asyncio.sleep(1.5)
        emit("done")

    if cfg.get("profile"):  # a diagnostic: cProfile of the whole run (CPU figures are then inflated)
        import cProfile

        cProfile.runctx("asyncio.run(main())", globals(), {"asyncio": asyncio, "main": main}, cfg["profile"])
    else:
        asyncio.run(main())


# -- the driver -------------------------------------------------------------------------------------
class Simulator:
    """The simulator in its own process: calls and CDR reports that never finish."""

    def __init__(self, workdir: Path) -> None:
        ready = workdir / "ready.json"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "airflow_provider_voice.testing", "--port", "0", "--ready-file", str(ready),
                "--call-seconds", "1000000", "--cdr-compile-seconds", "1000000000",
            ],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise SystemExit("the simulator did not start")
            time.sleep(0.05)
        time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.url: str = info["url"].rstrip("/")
        self.base_urls: dict[str, str] = info["base_urls"]
        self.port = int(self.url.rsplit(":", 1)[1])

    def count_requests(self) -> None:
        """A rule without faults per vendor: the simulator counts every request it matches."""
        import httpx

        rules = [{"vendor": vendor, "route": "*"} for vendor in ALL_KINDS]
        httpx.post(f"{self.url}/_sim/faults", json={"rules": rules}, trust_env=False).raise_for_status()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def send_campaigns(count: int) -> dict[str, list[dict[str, Any]]]:
    """``count`` real campaigns per campaign vendor (3 recipients each), sent with the current code."""
    from airflow.sdk import BaseHook

    from airflow_provider_voice.capabilities.recipients import validate_recipients
    from airflow_provider_voice.delivery import CheckpointKey, MemoryCheckpointStore
    from airflow_provider_voice.models.campaign import CampaignSpec

    handles: dict[str, list[dict[str, Any]]] = {}
    for vendor in CAMPAIGN_VENDORS:
        backend = BaseHook.get_hook(f"{vendor}_default").campaigns()
        handles[vendor] = []
        for c in range(count):
            spec = CampaignSpec(name=f"bench-wait-{c}", message="Benchmark message")
            people = [f"+336123{c * 3 + k:05d}" for k in range(3)]
            handle = backend.send_campaign(
                spec,
                validate_recipients(people, backend, spec),
                key=CheckpointKey("bench-triggers", vendor, f"{c}-{time.time_ns()}"),
                store=MemoryCheckpointStore(),
            )
            handles[vendor].append(handle.model_dump(mode="json"))
    return handles


def measure(label: str, code: str, cfg: dict[str, Any], env: dict[str, str], sim: Simulator) -> dict[str, Any]:
    """Run the worker on ``code``; sample its sockets to the simulator every second."""
    import psutil

    path = Path(tempfile.mkdtemp(prefix="bench-triggers-")) / "config.json"
    profile = f"{cfg['profile']}.{label}" if cfg.get("profile") else None
    path.write_text(json.dumps({**cfg, "code": code, "profile": profile}))
    child_env = {**env, "PYTHONPATH": code}
    log_path = path.with_name("worker.log")  # the triggers' log lines go to a file, as in a triggerer
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(path)],
            cwd="/tmp", env=child_env, stdout=log_file, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    phases: dict[str, dict[str, Any]] = {}
    errors: list[str] = []

    def read() -> None:
        for line in proc.stderr or []:
            if line.startswith('{"phase"'):
                record = json.loads(line)
                phases[record["phase"]] = record
            else:
                errors.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    watched = psutil.Process(proc.pid)
    sockets: dict[str, Any] = {"max": 0, "window_ports": set(), "states": {}}
    while proc.poll() is None:
        try:
            conns = [c for c in watched.net_connections(kind="tcp") if c.raddr and c.raddr.port == sim.port]
        except psutil.Error:
            break
        phase = "cancelled" if "cancelled" in phases else "steady" if "steady" in phases else None
        if "window" in phases and phase is None:
            sockets["max"] = max(sockets["max"], len(conns))
            sockets["window_ports"].update(c.laddr.port for c in conns)
            states: dict[str, int] = {}
            for c in conns:
                states[c.status] = states.get(c.status, 0) + 1
            sockets["states"] = states
        if phase == "steady" and "at_end" not in sockets:
            sockets["at_end"] = len(conns)
        if phase == "cancelled" and "after_cancel" not in sockets:
            sockets["after_cancel"] = len(conns)
        time.sleep(1.0)
    proc.wait()
    reader.join(timeout=5)
    log = log_path.read_text(errors="replace")
    if "steady" not in phases:
        raise SystemExit(f"{label}: the worker failed:\n{log[-2000:]}\n{''.join(errors)[-4000:]}")
    failures = [line for line in log.splitlines() if "failed" in line and "polling again" in line]
    return {
        **phases["steady"],
        "baseline": phases["baseline"],
        "sockets": sockets,
        "transient_failures": len(failures),
        "first_failure": failures[0][-300:] if failures else None,
        "log_lines": log.count("\n"),
    }


def report(label: str, f: dict[str, Any], n: int, interval: float) -> None:
    s = f["sockets"]
    n_req = f["requests"]
    late = f" (started {f['late']:.0f} s late: the start-up took that much longer)" if f["late"] > 1 else ""
    requests = "requests: not read" if n_req is None else f"{n_req:,} requests = {n_req / f['wall']:.1f} requests/s"
    cpu_pct = 100 * f["cpu"] / f["wall"]
    per_poll = f["cpu"] / max(1, f["polls"])
    at_30 = 100 * per_poll * n / 30.0
    print(
        f"{label}:\n"
        f"  window {f['wall']:.0f} s{late}: "
        f"{f['polls']:,} polls = {f['polls'] / f['wall']:.1f} polls/s, "
        f"simulator {requests}\n"
        f"  CPU {f['cpu']:.2f} s = {cpu_pct:.1f} % of one core at a {interval:g} s interval; "
        f"{per_poll * 1000:.2f} ms CPU per poll -> {at_30:.1f} % of one core for {n:,} triggers at 30 s (goal < 10 %)\n"
        f"  RSS {f['baseline']['rss_mb']:.0f} MiB after imports and warm-up -> {f['rss_mb']:.0f} MiB at steady state: "
        f"growth {f['growth_mb']:.1f} MiB = {f['per_trigger_kib']:.1f} KiB per trigger (goal < 100 MiB)\n"
        f"  sockets to the simulator: max {s['max']}, at the end {s.get('at_end', '?')} {s['states']}, "
        f"after the triggers ended {s.get('after_cancel', '?')}; distinct local ports seen in the window "
        f"{len(s['window_ports'])} (>= TCP connections opened)\n"
        f"  log lines {f['log_lines']:,} (INFO: one per poll); transient poll failures {f['transient_failures']}{' (first: ' + f['first_failure'] + ')' if f['first_failure'] else ''}; "
        f"events fired {f['events'] or 'none'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval of every trigger, seconds")
    parser.add_argument("--duration", type=float, default=None, help="seconds from the start (default 4 intervals)")
    parser.add_argument("--kinds", default=",".join(ALL_KINDS), help="vendors, round-robin (televoips = CDR)")
    parser.add_argument("--campaigns", type=int, default=20, help="campaigns sent per campaign vendor")
    parser.add_argument("--no-stagger", action="store_true", help="start every trigger at once")
    parser.add_argument("--before", default=None, help="also measure the package at this path (a clean copy)")
    parser.add_argument("--profile", default=None, help="write a cProfile of each measured run to PATH.<label>")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    duration = args.duration if args.duration is not None else 4 * args.interval
    workdir = Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow-home")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.WARNING)
    from airflow_provider_voice.testing.demo import connection_env_for
    from airflow_provider_voice.testing.state import SimulatorConfig

    for name in ("airflow_provider_voice", "airflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sim = Simulator(workdir)
    try:
        os.environ.update(connection_env_for(sim.base_urls, SimulatorConfig()))
        kinds = [k for k in args.kinds.split(",") if k]
        handles = send_campaigns(args.campaigns) if any(k in CAMPAIGN_VENDORS for k in kinds) else {}
        sim.count_requests()
        cfg = {
            "interval": args.interval, "triggers": args.triggers, "duration": duration, "kinds": kinds,
            "handles": handles, "stagger": not args.no_stagger, "sim_url": sim.url,
            "profile": args.profile,
        }  # fmt: skip
        runs = [("before", args.before)] if args.before else []
        runs.append(("after" if args.before else "this code", str(ROOT)))
        print(
            f"{args.triggers:,} triggers ({', '.join(kinds)} round-robin; {args.campaigns} campaigns per campaign vendor), "
            f"poll interval {args.interval:g} s, starts {'at once' if args.no_stagger else 'spread over one interval'}, "
            f"steady window from the first interval to {duration:g} s (started later if the start-up runs late); one event loop; {os.cpu_count()} CPUs\n"
        )
        for label, code in runs:
            report(f"{label} ({code})", measure(label, code, cfg, dict(os.environ), sim), args.triggers, args.interval)
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
