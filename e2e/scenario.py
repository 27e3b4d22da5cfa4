"""The example DAGs on the deployment: trigger every one through the REST API, watch, then check.

Each run of ``make demo`` (:data:`~airflow_provider_voice.testing.demo.DEMO_RUNS`) is triggered twice:
once without a logical date (the Airflow 3 default for manual and API runs) and once with one. A
sampler thread records every state each task instance goes through, so a wait that deferred is seen
``deferred``; the triggerer's log then shows its trigger ran there.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_provider_voice.testing.demo import DEMO_RUNS
from airflow_provider_voice.testing.state import SimulatorConfig

from .api import AirflowApi, Simulator
from .procs import E2EError, wait_for
from .stack import Stack

#: the tasks that wait (sensors, and the deferrable click-to-call that waits for its outcome), per DAG
WAITING_TASKS: dict[str, tuple[str, ...]] = {
    "example_voice_campaign": ("wait",),
    "example_redial": ("send",),  # deferred while each round's calls run and between the rounds
    "example_daily_cdr": ("wait_for_cdr_report",),
    "example_click_to_call": ("kaleyra_health", "kaleyra_call_outcome", "velip_click_to_call"),
    "example_on_call": ("call_on_call",),
    "example_quiet_hours": ("send",),  # deferred until its contact window opens
}
#: conf of every run of a DAG on the deployment (both runs): the quiet-hours window opens after both runs'
#: ``send`` tasks have surely started, however busy the Celery workers are
E2E_CONF: dict[str, dict[str, Any]] = {"example_quiet_hours": {"window_delay": 75}}
#: the dated runs use other numbers: two runs calling one person at once would be refused as duplicates
DATED_CONF: dict[str, dict[str, Any]] = {
    "example_click_to_call": {
        "kaleyra_agent": "9988776656",
        "kaleyra_customer": "9876543211",
        "velip_agent": "5511987654322",
        "velip_customer": "5521998765433",
    },
}
FINISHED = {"success", "failed", "upstream_failed", "skipped", "removed"}
#: the tasks that send TeleVoIPs SMS, per DAG (their accepted counts must add up to the SMS the simulator sent)
SMS_TASKS: dict[str, tuple[str, ...]] = {
    "example_sms_and_optouts": ("send_sms", "send_reminder"),
    "example_optout_events": ("send_reminder",),
}


@dataclass
class TriggeredRun:
    """One DAG run the e2e triggered."""

    dag_id: str
    run_id: str
    title: str
    conf: dict[str, Any]
    logical_date: str | None
    state: str = "queued"
    seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def label(self) -> str:
        """``dag_id (title, with/without logical date)``."""
        when = f"logical date {self.logical_date[:16]}" if self.logical_date else "no logical date"
        return f"{self.dag_id} [{self.title}; {when}]"


@dataclass
class Check:
    """One assertion of the run: what, passed or not, details."""

    name: str
    ok: bool
    detail: str = ""


class Scenario:
    """Triggers, watches and checks the example DAG runs on a running :class:`Stack`."""

    def __init__(self, stack: Stack, api: AirflowApi) -> None:
        self.stack = stack
        self.api = api
        self.sim = Simulator(stack.sim_url)
        self.runs: list[TriggeredRun] = []
        self.checks: list[Check] = []
        #: lines for the run summary (the Listen-back counts)
        self.notes: list[str] = []
        self._stop = threading.Event()

    # -- trigger and watch -------------------------------------------------------------------------
    def wait_for_dags(self, timeout: float = 240) -> None:
        """Until every example DAG and the e2e's own are parsed (and none has an import error)."""
        from .events import CONSUMER_DAG, OPTOUT_DAG, WATCHER_DAG, watcher_available

        wanted = {run.dag_id for run in DEMO_RUNS} | {"e2e_fault_campaign", "e2e_load_call_records", CONSUMER_DAG,
                                                      OPTOUT_DAG}  # fmt: skip
        if watcher_available():
            wanted.add(WATCHER_DAG)

        def parsed() -> bool:
            errors = self.api.import_errors()
            if errors:
                raise E2EError("DAG import errors: " + "; ".join(f"{e['filename']}: {e['stack_trace'][-300:]}"
                                                                for e in errors))  # fmt: skip
            missing["dags"] = sorted(wanted - set(self.api.dags()))
            return not missing["dags"]

        missing: dict[str, list[str]] = {"dags": sorted(wanted)}
        try:
            wait_for("the example DAGs to be parsed", parsed, timeout=timeout, interval=2)
        except E2EError as err:
            raise E2EError(f"{err}; not in the REST API: {', '.join(missing['dags'])}") from None

    def trigger_all(self) -> None:
        """Every demo run twice: without and with a logical date."""
        stamp = datetime.now(timezone.utc).strftime("%H%M%S")
        base = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
        for index, demo in enumerate(DEMO_RUNS):
            for with_date in (False, True):
                logical = (base + timedelta(hours=index)).isoformat() if with_date else None
                run_id = f"e2e_{stamp}_{index}_{'dated' if with_date else 'undated'}"
                conf = {
                    **demo.conf,
                    **E2E_CONF.get(demo.dag_id, {}),
                    **(DATED_CONF.get(demo.dag_id, {}) if with_date else {}),
                }
                self.api.trigger(demo.dag_id, conf=conf, logical_date=logical, run_id=run_id)
                self.runs.append(TriggeredRun(demo.dag_id, run_id, demo.title, conf, logical))

    def watch(self, deadline: float) -> None:
        """Sample every run's task states until all runs finished or ``deadline`` seconds passed."""
        healthy = False
        started = time.monotonic()
        while time.monotonic() - started < deadline:
            self.stack.procs.check_alive()
            self._adopt_other_runs()
            pending = [r for r in self.runs if r.state not in FINISHED]
            if not pending:
                return
            for run in pending:
                for ti in self.api.task_instances(run.dag_id, run.run_id):
                    states = run.seen[ti["task_id"]]
                    if ti["state"] and (not states or states[-1] != ti["state"]):
                        states.append(ti["state"])
                run.state = self.api.run(run.dag_id, run.run_id)["state"]
            if not healthy and self._health_sensors_deferred():
                # the Karnataka incident is over: every health sensor was seen waiting in the triggerer
                self.sim.configure(kaleyra_incidents=SimulatorConfig().kaleyra_incidents)
                healthy = True
            time.sleep(0.5)
        left = [r.label for r in self.runs if r.state not in FINISHED]
        raise E2EError(f"runs not finished after {deadline:.0f} s: {', '.join(left)}")

    def _adopt_other_runs(self) -> None:
        """Runs the scheduler made itself (``example_daily_cdr`` is ``@daily``) are watched and checked too."""
        known = {(r.dag_id, r.run_id) for r in self.runs}
        for dag_id in sorted({r.dag_id for r in self.runs}):
            for other in self.api.runs(dag_id):
                if (dag_id, other["dag_run_id"]) not in known:
                    title = f"{other['run_type']} run made by the scheduler"
                    self.runs.append(TriggeredRun(dag_id, other["dag_run_id"], title, {}, other.get("logical_date")))

    def _health_sensors_deferred(self) -> bool:
        runs = [r for r in self.runs if r.dag_id == "example_click_to_call"]
        return all("deferred" in r.seen.get("kaleyra_health", []) for r in runs)

    # -- checks ------------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> None:
        """Record one assertion."""
        self.checks.append(Check(name, ok, detail))

    def check_states(self) -> None:
        """Every run succeeded: the triggered ones and any the scheduler made (``@daily``)."""
        for run in self.runs:
            failed = [t for t, states in run.seen.items() if states and states[-1] != "success"]
            self.check(f"run succeeded: {run.label}", run.state == "success",
                       f"state {run.state}" + (f"; tasks not successful: {failed}" if failed else ""))  # fmt: skip
        self._adopt_other_runs()

    def check_deferrals(self) -> None:
        """Every waiting task was seen ``deferred``, and its trigger fired in the triggerer process.

        The triggerer writes a trigger's log next to the task's, ``attempt=N.log.trigger.<job id>.log``;
        the job id must be a ``TriggererJob`` (REST API ``/jobs``) of the triggerer this run started.
        """
        jobs = self.api.get("/jobs", job_type="TriggererJob", limit=100)["jobs"]
        triggerer_pid = self.stack.component_pid("triggerer")
        triggerer_jobs = {str(j["id"]) for j in jobs if j.get("pid") in (None, triggerer_pid)}
        for run in self.runs:
            for task_id in WAITING_TASKS.get(run.dag_id, ()):
                states = run.seen.get(task_id, [])
                fired = self._fired_in_triggerer(run, task_id, triggerer_jobs)
                detail = f"states {' -> '.join(states) or 'none seen'}; fired in triggerer job {fired or '-'}"
                deferred = "deferred" in states and bool(fired)
                if not deferred and run.dag_id == "example_daily_cdr" and states and states[-1] == "success":
                    # TeleVoIPs compiles one report a day: once an earlier run waited for it, it is ready
                    earlier = self._waited_before(run, task_id)
                    if earlier:
                        deferred = True
                        detail += f"; the day's report was ready (an earlier run, {earlier.run_id}, waited for it)"
                self.check(f"deferred to the triggerer: {run.label} {task_id}", deferred, detail)

    def _waited_before(self, run: TriggeredRun, task_id: str) -> TriggeredRun | None:
        """Another run of the DAG whose ``task_id`` deferred and ended before ``run``'s started."""
        started = _task_time(self.api, run, task_id, "start_date")
        for other in self.runs:
            if other.dag_id != run.dag_id or other is run or "deferred" not in other.seen.get(task_id, []):
                continue
            ended = _task_time(self.api, other, task_id, "end_date")
            if started and ended and ended <= started:
                return other
        return None

    def _fired_in_triggerer(self, run: TriggeredRun, task_id: str, jobs: set[str]) -> str:
        folder = self.stack.home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={task_id}"
        for path in sorted(folder.glob("attempt=*.log.trigger.*.log")):
            job = path.name.rsplit(".trigger.", 1)[1].removesuffix(".log")
            if job in jobs and "Trigger fired event" in path.read_text(errors="replace"):
                return job
        return ""

    def check_no_secrets(self) -> None:
        """No key in any component log, task log, XCom or rendered field."""
        secrets = self.stack.secret_values()
        secrets["admin_password"] = self.stack.admin_password()
        files = [p for p in (self.stack.workdir / "logs").rglob("*") if p.is_file()]
        files += [p for p in (self.stack.home / "logs").rglob("*") if p.is_file()]
        leaks: list[str] = []
        for path in files:
            text = path.read_text(errors="replace")
            leaks += [f"{name} in {path.relative_to(self.stack.workdir)}" for name, v in secrets.items() if v in text]
        xcoms = rendered = 0
        every_run = [(dag_id, r["dag_run_id"]) for dag_id in sorted(self.api.dags()) for r in self.api.runs(dag_id)]
        for dag_id, run_id in every_run:  # the fault runs too
            for entry in self.api.xcom_entries(dag_id, run_id):
                xcoms += 1
                text = json.dumps(entry, default=str)
                leaks += [f"{name} in XCom {run_id}/{entry['task_id']}/{entry['key']}" for name, v in
                          secrets.items() if v in text]  # fmt: skip
            for ti in self.api.task_instances(dag_id, run_id):
                rendered += 1
                text = json.dumps(ti.get("rendered_fields") or {}, default=str)
                leaks += [f"{name} in rendered fields {run_id}/{ti['task_id']}" for name, v in secrets.items()
                          if v in text]  # fmt: skip
        self.check(
            "no secret in logs, XCom or rendered fields",
            not leaks,
            f"{len(secrets)} secrets looked for in {len(files)} log files, {xcoms} XComs and "
            f"{rendered} task instances' rendered fields of {len(every_run)} runs"
            + (f"; LEAKS: {leaks[:10]}" if leaks else ""),
        )

    def check_ledger(self) -> None:
        """What the simulator did matches what the DAGs report."""
        write_json(self.stack.workdir / "logs" / "ledger.json", self.sim.ledger())
        for vendor in ("octopush", "kaleyra", "velip"):
            runs = [r for r in self.runs if r.conf.get("vendor") == vendor]
            results, missing = self._results(runs, ("send",))
            reported = sum(int(result.get("accepted", 0)) for result in results)
            refs = {str(ref) for result in results for ref in result.get("campaign_ids") or []}
            calls = [e for e in self.sim.ledger(vendor, "call") if _campaign_of(e) in refs]
            twice = [n for n, c in Counter((_campaign_of(e), e["number"]) for e in calls).items() if c > 1]
            self.check(f"ledger matches: {vendor} campaigns", not missing and reported == len(calls) and not twice,
                       f"{len(runs)} runs report {reported} accepted; the simulator called {len(calls)} "
                       f"in campaigns {sorted(refs)}; called twice in one campaign: {len(twice)}"
                       + (f"; NO RESULT from {missing}" if missing else ""))  # fmt: skip
        results, missing, sms_runs = [], [], []
        for dag_id, task_ids in SMS_TASKS.items():
            runs = [r for r in self.runs if r.dag_id == dag_id]
            found, lacking = self._results(runs, task_ids)
            results, missing, sms_runs = results + found, missing + lacking, sms_runs + runs
        reported = sum(int(result.get("accepted", 0)) for result in results)
        sent = self.sim.ledger("televoips", "sms")
        self.check("ledger matches: TeleVoIPs SMS", not missing and reported == len(sent),
                   f"{len(sms_runs)} runs report {reported} accepted; the simulator sent {len(sent)}"
                   + (f"; NO RESULT from {missing}" if missing else ""))  # fmt: skip
        c2c_runs = [r for r in self.runs if r.dag_id == "example_click_to_call"]
        for vendor, task_id, action in (
            ("kaleyra", "kaleyra_click_to_call", "click2call"),
            ("velip", "velip_click_to_call", "call"),
        ):
            ids = {str(_call_id(self.api.xcom(r.dag_id, r.run_id, task_id))) for r in c2c_runs}
            refs = {str(e["ref"]) for e in self.sim.ledger(vendor, action) if (e.get("details") or {}).get("leg")}
            self.check(f"ledger matches: {vendor} click-to-call", refs == ids and len(ids) == len(c2c_runs),
                       f"{len(c2c_runs)} runs, call ids reported {sorted(ids)}, in the ledger {sorted(refs)}")  # fmt: skip

        self._check_pages()
        self._check_quiet_hours()

    def _check_quiet_hours(self) -> None:
        """``example_quiet_hours``: its send waited (deferred) for the contact window: the simulator called
        each of the 6 people once, none before the window opened."""
        for run in (r for r in self.runs if r.dag_id == "example_quiet_hours"):
            window = self.api.xcom(run.dag_id, run.run_id, "window") or {}
            sent = self.api.xcom(run.dag_id, run.run_id, "send") or {}
            opens = datetime.fromisoformat(str(window.get("opens_at"))).timestamp() if window.get("opens_at") else None
            refs = {str(ref) for ref in sent.get("campaign_ids") or []}
            calls = [e for e in self.sim.ledger("octopush", "call") if _campaign_of(e) in refs]
            early = [e for e in calls if opens is None or float(e["at"]) < opens]
            numbers = Counter(e["number"] for e in calls)
            self.check(f"contact window honoured: {run.label}",
                       len(calls) == 6 and len(numbers) == 6 and not early,
                       f"{len(calls)} calls to {len(numbers)} numbers, {len(early)} before the window opened at "
                       f"{window.get('opens_at')}")  # fmt: skip

    def _check_pages(self) -> None:
        """``example_on_call``: its task fails twice before it succeeds, on a Celery worker; the notifiers
        of its retry callbacks page once per run — one Velip SMS and one Kaleyra call whose text names
        the run, none for the second failed try (the dedup window)."""
        runs = [r for r in self.runs if r.dag_id == "example_on_call"]
        texts = [str((e.get("details") or {}).get("message", "")) for e in self.sim.ledger("velip", "sms")]
        calls = [str((e.get("details") or {}).get("message", "")) for e in self.sim.ledger("kaleyra", "call")]
        counts = {
            r.run_id: (sum(f"failed in run {r.run_id}." in t for t in texts), sum(f"failed in run {r.run_id}." in t for t in calls))
            for r in runs
        }  # fmt: skip
        self.check("notifiers page once per failure", bool(runs) and all(c == (1, 1) for c in counts.values()),
                   f"(SMS, calls) per run of example_on_call: {counts}")  # fmt: skip

    def _results(self, runs: list[TriggeredRun], task_ids: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[str]]:
        """The XCom results of ``task_ids`` in ``runs``, and the ``run/task`` pairs that have none."""
        results, missing = [], []
        for run in runs:
            for task_id in task_ids:
                result = self.api.xcom(run.dag_id, run.run_id, task_id)
                if isinstance(result, dict):
                    results.append(result)
                else:
                    missing.append(f"{run.run_id}/{task_id}")
        return results, missing

    def check_object_storage(self) -> None:
        """Checkpoints and CDR files landed on S3 (moto) through ObjectStoragePath."""
        client = self.stack.s3_client()
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="voice-e2e").get("Contents", [])]
        checkpoints = [k for k in keys if k.startswith("checkpoints/")]
        cdrs = [k for k in keys if k.startswith("files/cdrs/")]
        sms_files = [k for k in keys if k.startswith("files/") and not k.startswith("files/cdrs/")]
        self.check(
            "checkpoints on S3", bool(checkpoints), f"{len(checkpoints)} objects under s3://voice-e2e/checkpoints"
        )
        downloads = [self.api.xcom(r.dag_id, r.run_id, "download_cdr_report") or {} for r in self.runs
                     if r.dag_id == "example_daily_cdr"]  # fmt: skip
        paths = [str(d.get("path", "")) for d in downloads]
        self.check("CDR files on S3", bool(cdrs) and all(p.startswith("s3://") for p in paths),
                   f"objects {cdrs}; the DAGs report {paths}")  # fmt: skip
        outcomes = [k for k in keys if k.startswith("outcomes/")]
        tables = [self.api.xcom(r.dag_id, r.run_id, "outcomes") or {} for r in self.runs
                  if r.dag_id == "example_voice_campaign"]  # fmt: skip
        redials = [(self.api.xcom(r.dag_id, r.run_id, "send") or {}).get("outcomes") or {} for r in self.runs
                   if r.dag_id == "example_redial"]  # fmt: skip
        written = [t.get(f"{fmt}_path", "") for t in tables + redials for fmt in ("csv", "parquet")]
        rows_ok = all(t.get("rows") == sum((t.get("counts") or {}).values()) > 0 for t in tables + redials)
        self.check("outcome tables (CSV + Parquet) on S3",
                   bool(written) and all(str(p).startswith("s3://") for p in written) and rows_ok
                   and all(any(k.endswith(str(p).rsplit("/", 1)[-1]) for k in outcomes) for p in written),
                   f"{len(outcomes)} objects under s3://{'voice-e2e'}/outcomes; the DAGs report {sorted(written)[:6]}")  # fmt: skip
        wanted = ("files/sms_optouts.csv", "files/sms_results_", "files/inbound_")
        self.check("SMS results, inbound export and suppression list on S3",
                   all(any(k.startswith(w) for k in sms_files) for w in wanted), f"objects {sorted(sms_files)}")  # fmt: skip

    def _wait_outcome(self, run: TriggeredRun, task_id: str) -> str:
        if "deferred" in run.seen.get(task_id, []):
            return "deferred"
        earlier = any("deferred" in r.seen.get(task_id, []) for r in self.runs if r.dag_id == run.dag_id)
        if run.dag_id == "example_daily_cdr" and earlier:
            return "no wait: the day's report was ready (an earlier run waited for it)"
        return "NOT deferred"

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """Per run: label, state, deferrals."""
        rows = []
        for run in self.runs:
            waits = [f"{t}: {self._wait_outcome(run, t)}" for t in WAITING_TASKS.get(run.dag_id, ())]
            rows.append((run.label, run.state, ", ".join(waits) or "-"))
        return rows


def _task_time(api: AirflowApi, run: TriggeredRun, task_id: str, field: str) -> datetime | None:
    """A task instance's ``start_date`` / ``end_date`` as a datetime (None when not set)."""
    for ti in api.task_instances(run.dag_id, run.run_id):
        if ti["task_id"] == task_id and ti.get(field):
            return datetime.fromisoformat(str(ti[field]).replace("Z", "+00:00"))
    return None


def _campaign_of(entry: dict[str, Any]) -> str:
    details = entry.get("details") or {}
    for key in ("group_id", "cp_id"):  # Kaleyra, Velip; Octopush: the ticket is the ref
        if details.get(key):
            return str(details[key])
    return str(entry.get("ref"))


def _call_id(result: Any) -> Any:
    return result.get("call_id") if isinstance(result, dict) else result


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (for the logs folder)."""
    path.write_text(json.dumps(data, indent=1, default=str))
