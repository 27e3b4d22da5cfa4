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
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psutil

from .api import AirflowApi, Simulator
from .procs import E2EError, wait_for
from .scenario import Scenario
from .stack import Stack

DAG_ID = "e2e_fault_campaign"
RECIPIENTS = 1000
VENDORS = ("octopush", "kaleyra", "velip")
#: French mobile numbers, one block of 1,000 per vendor so the ledger tells the runs apart
PREFIX = {"octopush": "+336123", "kaleyra": "+336124", "velip": "+336125"}


def recipients_file(folder: Path, vendor: str, name: str) -> tuple[Path, set[str]]:
    """A CSV ``<name>.csv`` of :data:`RECIPIENTS` numbers for ``vendor``; returns it and the numbers' digits."""
    path = folder / f"{name}.csv"
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


class FaultRun:
    """One run of ``e2e_fault_campaign`` on a slowed-down vendor, and what the ledger shows of it.

    :param api: the REST API.
    :param sim: the simulator.
    :param vendor: the campaign vendor.
    :param recipients: the CSV to send to.
    :param numbers: the digits of its numbers (how the ledger tells this run apart).
    :param run_id: the run to trigger.
    """

    def __init__(
        self, api: AirflowApi, sim: Simulator, vendor: str, recipients: Path, numbers: set[str], run_id: str
    ) -> None:
        self.api, self.sim, self.vendor, self.numbers, self.run_id = api, sim, vendor, numbers, run_id
        self.recipients = recipients
        self.baseline = self._ledger()  # earlier runs may have called the same numbers

    def _ledger(self) -> Counter[str]:
        return Counter(d for e in self.sim.ledger(self.vendor, "call") if (d := _digits(e["number"])) in self.numbers)

    def called(self) -> Counter[str]:
        """How often this run called each of its numbers."""
        now = self._ledger()
        now.subtract(self.baseline)
        return +now

    def start(self, *, latency: float, frame_size: int) -> dict[str, Any]:
        """Slow the vendor down, trigger the run, and return its ``send`` task instance once it runs."""
        self.sim.faults([{"vendor": self.vendor, "route": "*", "latency": latency}])
        options: dict[str, Any] = {"frame_size": frame_size}
        if self.vendor == "velip":  # Velip's default window ends at midnight in São Paulo: give it the next day too
            options["date_end"] = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
        conf = {"vendor": self.vendor, "recipients": str(self.recipients), "vendor_options": options}
        self.api.trigger(DAG_ID, run_id=self.run_id, logical_date=None, conf=conf)

        def running() -> dict[str, Any] | None:
            ti = self.send_ti()
            return ti if ti and ti["state"] == "running" else None

        return wait_for(f"the {self.vendor} fault run to start sending", running, timeout=120, interval=0.3)

    def send_ti(self) -> dict[str, Any] | None:
        """The ``send`` task instance, if the run has one yet."""
        tis = [t for t in self.api.task_instances(DAG_ID, self.run_id) if t["task_id"] == "send"]
        return tis[0] if tis else None

    def wait_called(self, count: int) -> int:
        """Until this run called ``count`` numbers; :class:`E2EError` if the task ends first."""

        def reached() -> int | None:
            ti = self.send_ti()
            if ti and ti["state"] in ("failed", "success", "up_for_retry"):
                raise E2EError(f"the task ended ({ti['state']}, try {ti['try_number']}) before the fault was made")
            called = len(self.called())
            return called if called >= count else None

        return wait_for(f"{self.vendor} to accept {count} numbers", reached, timeout=120, interval=0.2)

    def wait_finished(self) -> str:
        """The run's final state (``success`` or ``failed``)."""

        def finished() -> str | None:
            state = self.api.run(DAG_ID, self.run_id)["state"]
            return state if state in ("success", "failed") else None

        return wait_for(f"the {self.vendor} fault run to finish", finished, timeout=300, interval=1)

    def tally(self) -> tuple[int, int, int]:
        """Numbers called, numbers called more than once, numbers never called."""
        counts = self.called()
        return len(counts), sum(1 for c in counts.values() if c > 1), len(self.numbers - set(counts))


def run_fault_tests(stack: Stack, api: AirflowApi, scenario: Scenario) -> None:
    """Run the kill -9 scenario on every campaign vendor, then the re-queue one; each is a check of ``scenario``."""
    sim = Simulator(stack.sim_url)
    for vendor in VENDORS:
        _checked(scenario, sim, f"kill -9 mid-campaign, Airflow retry: {vendor}",
                 lambda vendor=vendor: _killed_mid_campaign(stack, api, sim, vendor))  # fmt: skip
    _checked(scenario, sim, "two workers: a try re-queued while the old one still sends (fencing)",
             lambda: _requeued_while_sending(stack, api, sim))  # fmt: skip


def _checked(scenario: Scenario, sim: Simulator, name: str, action: Callable[[], tuple[str, bool]]) -> None:
    """Run one fault scenario as a check of ``scenario``; the simulator's faults are cleared after it."""
    started = time.monotonic()
    try:
        detail, ok = action()
    except E2EError as err:
        detail, ok = f"ERROR: {err}", False
    finally:
        sim.faults([{"clear": True}])
    scenario.check(name, ok, f"{detail} ({time.monotonic() - started:.0f} s)")


def _killed_mid_campaign(stack: Stack, api: AirflowApi, sim: Simulator, vendor: str) -> tuple[str, bool]:
    path, numbers = recipients_file(stack.workdir / "demo", vendor, f"fault_{vendor}")
    run = FaultRun(api, sim, vendor, path, numbers, f"e2e_fault_{vendor}_{datetime.now(timezone.utc):%H%M%S}")
    ti = run.start(latency=0.5, frame_size=100)
    run.wait_called(100)
    process = wait_for("the task process", lambda: _task_process(ti["id"]), timeout=30, interval=0.2)
    before_kill = len(run.called())
    os.kill(process.pid, signal.SIGKILL)
    sim.faults([{"clear": True}])  # the retry may go at full speed
    state = run.wait_finished()
    tries = api.tries(DAG_ID, run.run_id, "send")
    result = api.xcom(DAG_ID, run.run_id, "send") or {}
    called, twice, lost = run.tally()
    accepted = int(result.get("accepted", -1))
    in_doubt = int(result.get("in_doubt", 0) or 0)
    if state == "success":
        ok = len(tries) >= 2 and twice == 0 and lost == 0 and accepted == RECIPIENTS
    else:
        # a failed run must say what it did not do: the last try's log names the recipients in doubt
        # (frames the vendor answered after the kill, where it has no idempotency key to look them up by)
        log = api.task_log(DAG_ID, run.run_id, "send", max(int(t["try_number"]) for t in tries))
        found = re.findall(r"delivery incomplete: (\d+) recipients in doubt.*?; accepted (\d+)", log)
        in_doubt, accepted = (int(found[-1][0]), int(found[-1][1])) if found else (0, -1)
        ok = bool(found) and twice == 0 and lost <= in_doubt and accepted + in_doubt == RECIPIENTS
    detail = (
        f"killed pid {process.pid} after {before_kill} of {RECIPIENTS} were called; run {state} after "
        f"{len(tries)} tries ({', '.join(str(t.get('state')) for t in tries)}); ledger: {called} called, "
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
    the new one the rest, and the ledger must show every number called once. The check only counts
    if the old process was still alive when the new try started.
    """
    vendor = "octopush"
    stack.start_extra_worker("worker2")
    path, numbers = recipients_file(stack.workdir / "demo", vendor, "requeue_octopush")
    run = FaultRun(api, sim, vendor, path, numbers, f"e2e_requeue_{datetime.now(timezone.utc):%H%M%S}")
    ti = run.start(latency=1.0, frame_size=10)
    run.wait_called(10)
    task = wait_for("the task process", lambda: _task_process(ti["id"]), timeout=30, interval=0.2)
    supervisor = task.parent()
    if supervisor is None:
        raise E2EError("the task process has no parent supervisor")
    supervisor.send_signal(signal.SIGSTOP)
    frozen_at = len(run.called())
    try:

        def second_try() -> int | None:
            ti = run.send_ti()
            return int(ti["try_number"]) if ti and int(ti["try_number"]) >= 2 else None

        wait_for("the scheduler to start a new try", second_try, timeout=180, interval=1)
        old_still_alive = task.is_running()
        sim.faults([{"clear": True}])
        state = run.wait_finished()
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
    called, twice, lost = run.tally()
    tries = api.tries(DAG_ID, run.run_id, "send")
    result = api.xcom(DAG_ID, run.run_id, "send") or {}
    accepted = int(result.get("accepted", -1))
    ok = old_still_alive and state == "success" and twice == 0 and lost == 0 and accepted == RECIPIENTS
    detail = (
        f"supervisor frozen after {frozen_at} called; new try started while the old task process was "
        f"{'still running' if old_still_alive else 'already gone (nothing proven about fencing)'}; run {state} "
        f"after {len(tries)} tries; ledger: {called} called, {twice} called twice, {lost} not called; "
        f"accepted {result.get('accepted')}"
    )
    return detail, ok
