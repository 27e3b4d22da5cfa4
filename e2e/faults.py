"""``kill -9`` of the task process mid-campaign, on each campaign vendor; Airflow's retry; the ledger.

For each vendor a campaign of :data:`RECIPIENTS` numbers (frames of 100, the simulator slowed down so
sending takes seconds) is triggered through the REST API. Once the simulator has accepted some frames,
the task process (``airflow worker -- <task instance id>``) is killed with SIGKILL. The supervisor
reports the task failed, Airflow retries it, the retry resumes from the checkpoint (on S3), and the
ledger must show every number called exactly once: none twice, none lost without being reported.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from .api import AirflowApi, Simulator
from .procs import E2EError, wait_for
from .scenario import Scenario
from .stack import Stack

RECIPIENTS = 1000
VENDORS = ("octopush", "kaleyra", "velip")
#: French mobile numbers, one block of 1,000 per vendor so the ledger tells the runs apart
PREFIX = {"octopush": "+336123", "kaleyra": "+336124", "velip": "+336125"}


def recipients_file(folder: Path, vendor: str) -> tuple[Path, set[str]]:
    """A CSV of :data:`RECIPIENTS` numbers for ``vendor``; returns it and the numbers' digits."""
    path = folder / f"fault_{vendor}.csv"
    numbers = [f"{PREFIX[vendor]}{i:05d}" for i in range(RECIPIENTS)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "name"])
        writer.writerows([n, f"Person {i}"] for i, n in enumerate(numbers))
    return path, {n.lstrip("+") for n in numbers}


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def _task_process(ti_id: str) -> psutil.Process | None:
    title = f"airflow worker -- {ti_id}"
    for proc in psutil.process_iter(["cmdline"]):
        if title in " ".join(proc.info.get("cmdline") or []):
            return proc
    return None


def _still_running(api: AirflowApi, run_id: str) -> bool:
    """True while the fault run is not finished; :class:`E2EError` (with the try's state) once it is."""
    tis = [t for t in api.task_instances("e2e_fault_campaign", run_id) if t["task_id"] == "send"]
    if tis and tis[0]["state"] in ("failed", "success", "up_for_retry"):
        raise E2EError(f"the task ended ({tis[0]['state']}, try {tis[0]['try_number']}) before the fault was made")
    return True


def run_fault_tests(stack: Stack, api: AirflowApi, scenario: Scenario) -> None:
    """Run the kill -9 scenario on every campaign vendor, then the re-queue one; each is a check of ``scenario``."""
    sim = Simulator(stack.sim_url)
    _vendors(stack, api, sim, scenario)
    started = time.monotonic()
    try:
        detail, ok = _requeued_while_sending(stack, api, sim)
    except E2EError as err:
        detail, ok = f"ERROR: {err}", False
    finally:
        sim.faults([{"clear": True}])
    scenario.check("two workers: a try re-queued while the old one still sends (fencing)", ok,
                   f"{detail} ({time.monotonic() - started:.0f} s)")  # fmt: skip


def _vendors(stack: Stack, api: AirflowApi, sim: Simulator, scenario: Scenario) -> None:
    for vendor in VENDORS:
        started = time.monotonic()
        try:
            detail, ok = _one_vendor(stack, api, sim, vendor)
        except E2EError as err:
            detail, ok = f"ERROR: {err}", False
        finally:
            sim.faults([{"clear": True}])
        scenario.check(f"kill -9 mid-campaign, Airflow retry: {vendor}", ok,
                       f"{detail} ({time.monotonic() - started:.0f} s)")  # fmt: skip


def _one_vendor(stack: Stack, api: AirflowApi, sim: Simulator, vendor: str) -> tuple[str, bool]:
    path, numbers = recipients_file(stack.workdir / "demo", vendor)

    def called() -> Counter[str]:
        return Counter(d for e in sim.ledger(vendor, "call") if (d := _digits(e["number"])) in numbers)

    sim.faults([{"vendor": vendor, "route": "*", "latency": 0.5}])
    run_id = f"e2e_fault_{vendor}_{datetime.now(timezone.utc):%H%M%S}"
    api.trigger("e2e_fault_campaign", run_id=run_id, logical_date=None,
                conf={"vendor": vendor, "recipients": str(path), "vendor_options": {"frame_size": 100}})  # fmt: skip

    def running_ti() -> dict[str, Any] | None:
        tis = [t for t in api.task_instances("e2e_fault_campaign", run_id) if t["task_id"] == "send"]
        return tis[0] if tis and tis[0]["state"] == "running" else None

    ti = wait_for(f"the {vendor} fault run to start sending", running_ti, timeout=120, interval=0.3)
    wait_for(f"{vendor} to accept a first frame", lambda: _still_running(api, run_id) and len(called()) >= 100,
             timeout=120, interval=0.2)  # fmt: skip
    process = wait_for("the task process", lambda: _task_process(ti["id"]), timeout=30, interval=0.2)
    before_kill = len(called())
    os.kill(process.pid, signal.SIGKILL)
    sim.faults([{"clear": True}])  # the retry may go at full speed

    def finished() -> str | None:
        state = api.run("e2e_fault_campaign", run_id)["state"]
        return state if state in ("success", "failed") else None

    state = wait_for(f"the {vendor} fault run to finish", finished, timeout=300, interval=1)
    tries = api.tries("e2e_fault_campaign", run_id, "send")
    result = api.xcom("e2e_fault_campaign", run_id, "send") or {}
    counts = called()
    twice = sum(1 for c in counts.values() if c > 1)
    lost = len(numbers - set(counts))
    accepted = int(result.get("accepted", -1))
    in_doubt = int(result.get("in_doubt", 0) or 0)
    if state == "success":
        ok = len(tries) >= 2 and twice == 0 and lost == 0 and accepted == RECIPIENTS
    else:
        # a failed run must say what it did not do: the last try's log names the recipients in doubt
        # (frames the vendor answered after the kill, where it has no idempotency key to look them up by)
        log = api.task_log("e2e_fault_campaign", run_id, "send", max(int(t["try_number"]) for t in tries))
        found = re.findall(r"delivery incomplete: (\d+) recipients in doubt.*?; accepted (\d+)", log)
        in_doubt, accepted = (int(found[-1][0]), int(found[-1][1])) if found else (0, -1)
        ok = bool(found) and twice == 0 and lost <= in_doubt and accepted + in_doubt == RECIPIENTS
    detail = (
        f"killed pid {process.pid} after {before_kill} of {RECIPIENTS} were called; run {state} after "
        f"{len(tries)} tries ({', '.join(str(t.get('state')) for t in tries)}); ledger: {len(counts)} called, "
        f"{twice} called twice, {lost} not called; the task reports accepted {accepted}, in doubt {in_doubt}, "
        f"resumed {result.get('resumed')}"
        + ("" if state == "success" else " (reported in the failed task's error, as listed numbers)")
    )
    return detail, ok


def _requeued_while_sending(stack: Stack, api: AirflowApi, sim: Simulator) -> tuple[str, bool]:
    """The scheduler starts a new try while the old task process is still sending.

    A second Celery worker joins. The task's supervisor is frozen with SIGSTOP: it stops
    heartbeating, while the task process it watches goes on sending (its requests go straight to the
    vendor). After ``[scheduler] task_instance_heartbeat_timeout`` the scheduler fails the try and
    queues the next one, which claims the delivery: the old process must send nothing more (fencing),
    the new one the rest, and the ledger must show every number called once.
    """
    vendor = "octopush"
    stack.start_extra_worker("worker2")
    path, numbers = recipients_file(stack.workdir / "demo", vendor)
    numbers_file = path.with_name("requeue_octopush.csv")
    path.rename(numbers_file)
    baseline = Counter(d for e in sim.ledger(vendor, "call") if (d := _digits(e["number"])) in numbers)

    def called() -> Counter[str]:
        now = Counter(d for e in sim.ledger(vendor, "call") if (d := _digits(e["number"])) in numbers)
        now.subtract(baseline)
        return +now

    sim.faults([{"vendor": vendor, "route": "*", "latency": 1.0}])
    run_id = f"e2e_requeue_{datetime.now(timezone.utc):%H%M%S}"
    api.trigger("e2e_fault_campaign", run_id=run_id, logical_date=None,
                conf={"vendor": vendor, "recipients": str(numbers_file), "vendor_options": {"frame_size": 10}})  # fmt: skip

    def running_ti() -> dict[str, Any] | None:
        tis = [t for t in api.task_instances("e2e_fault_campaign", run_id) if t["task_id"] == "send"]
        return tis[0] if tis and tis[0]["state"] == "running" else None

    ti = wait_for("the re-queue run to start sending", running_ti, timeout=120, interval=0.3)
    wait_for("a first frame accepted", lambda: _still_running(api, run_id) and len(called()) >= 10, timeout=120,
             interval=0.2)  # fmt: skip
    task = wait_for("the task process", lambda: _task_process(ti["id"]), timeout=30, interval=0.2)
    supervisor = task.parent()
    if supervisor is None:
        raise E2EError("the task process has no parent supervisor")
    supervisor.send_signal(signal.SIGSTOP)
    frozen_at = len(called())
    try:

        def second_try() -> int | None:
            tis = [t for t in api.task_instances("e2e_fault_campaign", run_id) if t["task_id"] == "send"]
            return int(tis[0]["try_number"]) if tis and int(tis[0]["try_number"]) >= 2 else None

        wait_for("the scheduler to start a new try", second_try, timeout=180, interval=1)
        old_still_alive = task.is_running()
        sim.faults([{"clear": True}])

        def finished() -> str | None:
            state = api.run("e2e_fault_campaign", run_id)["state"]
            return state if state in ("success", "failed") else None

        state = wait_for("the re-queued run to finish", finished, timeout=300, interval=1)
    finally:
        for proc in (task, supervisor):
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        try:
            supervisor.send_signal(signal.SIGCONT)
        except psutil.Error:
            pass
    counts = called()
    twice = sum(1 for c in counts.values() if c > 1)
    lost = len(numbers - set(counts))
    tries = api.tries("e2e_fault_campaign", run_id, "send")
    result = api.xcom("e2e_fault_campaign", run_id, "send") or {}
    ok = state == "success" and twice == 0 and lost == 0 and int(result.get("accepted", -1)) == RECIPIENTS
    detail = (
        f"supervisor frozen after {frozen_at} called; new try started while the old task process was "
        f"{'still running' if old_still_alive else 'already gone'}; run {state} after {len(tries)} tries; ledger: "
        f"{len(counts)} called, {twice} called twice, {lost} not called; accepted {result.get('accepted')}"
    )
    return detail, ok
