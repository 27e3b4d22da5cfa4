"""``make e2e``: the example DAGs on a real deployment; see ``e2e/README.md``.

Exit status 0 only if every check passed. Everything it started is stopped at the end, on an error
and on SIGINT/SIGTERM alike; logs stay in ``.e2e/logs`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_voice.testing.demo import DEMO_RUNS

from .api import AirflowApi
from .procs import E2EError
from .scenario import Check, Scenario, write_json
from .stack import REPO, Stack


class Steps:
    """Runs named steps, times them, and keeps the table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    def run(self, name: str, action: Callable[[], Any]) -> Any:
        """Run one step; a failure is recorded and raised again."""
        print(f"e2e: {name} ...", flush=True)
        started = time.monotonic()
        try:
            result = action()
        except BaseException:
            self.rows.append((name, time.monotonic() - started, "FAILED"))
            raise
        self.rows.append((name, time.monotonic() - started, "ok"))
        return result

    def attempt(self, scenario: Scenario, name: str, action: Callable[[], Any]) -> Any:
        """Like :meth:`run`, but an :class:`E2EError` is a failed check named after the step, and the run goes on."""
        try:
            return self.run(name, action)
        except E2EError as err:
            print(f"e2e: {name} FAILED: {err}", flush=True)
            scenario.check(name, False, f"ERROR: {err}")
            return None

    def table(self) -> str:
        """The per-step time table."""
        width = max((len(name) for name, _, _ in self.rows), default=10)
        lines = [f"{'step':<{width}}  {'seconds':>8}  result", "-" * (width + 18)]
        lines += [f"{name:<{width}}  {seconds:>8.1f}  {result}" for name, seconds, result in self.rows]
        lines.append(f"{'total':<{width}}  {sum(s for _, s, _ in self.rows):>8.1f}")
        return "\n".join(lines)


def _on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the e2e; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m e2e", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=REPO / ".e2e", help="logs and state (default .e2e)")
    parser.add_argument("--no-forms", action="store_true", help="skip the connection forms in Chromium")
    parser.add_argument("--no-faults", action="store_true", help="skip the kill -9 fault runs")
    parser.add_argument("--no-events", action="store_true", help="skip the webhook and event-watcher steps")
    parser.add_argument(
        "--only-events",
        action="store_true",
        help="only the webhook and event-watcher steps (no example runs, forms or faults)",
    )
    parser.add_argument("--deadline", type=float, default=600, help="seconds the example DAG runs may take")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    workdir = args.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    stack = Stack(workdir)
    steps = Steps()
    checks: list[Check] = []
    scenario: Scenario | None = None
    error: str | None = None
    try:
        steps.run("PostgreSQL", stack.start_postgres)
        steps.run("Redis", stack.start_redis)
        steps.run("moto (S3)", stack.start_moto)
        steps.run("simulator", stack.start_simulator)
        steps.run("airflow db migrate", stack.migrate)
        steps.run("Airflow components up", stack.start_airflow)
        api = steps.run("REST API login", lambda: AirflowApi(stack.api_url, "admin", stack.admin_password()))
        scenario = Scenario(stack, api)
        steps.run("DAGs parsed", scenario.wait_for_dags)
        if not args.only_events:
            steps.run(f"trigger {2 * len(DEMO_RUNS)} runs through the REST API", scenario.trigger_all)
            steps.run("runs finish", lambda: scenario.watch(args.deadline))
            steps.run("check run states", scenario.check_states)
            steps.run("check deferrals", scenario.check_deferrals)
            steps.run("check ledger", scenario.check_ledger)
            steps.run("check object storage", scenario.check_object_storage)
            from .records import run_records_steps

            steps.attempt(scenario, "call records into Postgres", lambda: run_records_steps(stack, api, scenario))
        if not args.no_forms and not args.only_events:
            from .forms import check_connection_forms, format_table

            conns = _form_connections(stack)
            results = steps.run("connection forms (Chromium)", lambda: check_connection_forms(
                base_url=stack.api_url, username="admin", password=stack.admin_password(),
                out_dir=workdir / "logs" / "forms", airflow_env=stack.env,
                airflow_bin=str(stack.bin / "airflow"), connections=conns))  # fmt: skip
            print(format_table(results))
            for result in results:
                scenario.check(f"connection form: {result.vendor}", result.ok, "; ".join(result.problems))
            steps.run("console link in the UI (Chromium)", lambda: check_console_link(stack, api, scenario, workdir))
        if not args.no_faults and not args.only_events:
            from .faults import run_fault_tests

            steps.run("faults: kill -9 mid-campaign", lambda: run_fault_tests(stack, api, scenario))
        if not args.no_events:  # after the example runs: their SMS ledger check must not see opt-out reminders
            from .events import run_event_steps

            run_event_steps(stack, api, scenario, lambda name, action: steps.attempt(scenario, name, action))
        # last, so the logs, XComs and rendered fields of the forms and fault runs are searched too
        steps.run("check secrets", scenario.check_no_secrets)
    except KeyboardInterrupt as err:
        error = f"interrupted ({err})"
    except E2EError as err:
        error = str(err)
    except Exception:
        error = traceback.format_exc()
    finally:
        if scenario is not None:
            checks = scenario.checks
            try:
                write_json(workdir / "logs" / "runs.json", [r.__dict__ for r in scenario.runs])
            except Exception as err:  # the report must not hide the result
                print(f"e2e: could not write runs.json: {err}")
        notes = steps.run("teardown", stack.stop)
    return report(steps, checks, scenario, error, notes, workdir)


def check_console_link(stack: Stack, api: AirflowApi, scenario: Scenario, workdir: Path) -> None:
    """The ``send`` task of each finished ``example_voice_campaign`` run has its "Vendor console" link
    (REST API: the URL the worker stored is the vendor's console, the connections set no ``console_url``),
    and the UI shows it on the task's page, in Chromium, for the first of them."""
    from airflow_provider_voice.operators.links import LINK_NAME
    from airflow_provider_voice.vendors.registry import CONNECTION_TYPES

    from .forms import check_extra_link

    runs = [r for r in scenario.runs if r.dag_id == "example_voice_campaign" and r.state == "success"]
    if not runs:
        scenario.check("console link of example_voice_campaign/send", False, "no successful run to look at")
        return
    for run in runs:
        vendor = str(run.conf.get("vendor"))
        url = api.extra_links(run.dag_id, run.run_id, "send").get(LINK_NAME)
        expected = CONNECTION_TYPES[vendor].console_url
        scenario.check(
            f"console link (REST): {run.label}", url == expected, f"{LINK_NAME!r} -> {url!r}, expected {expected!r}"
        )
    first = runs[0]
    result = check_extra_link(
        base_url=stack.api_url, username="admin", password=stack.admin_password(), dag_id=first.dag_id,
        run_id=first.run_id, task_id="send", name=LINK_NAME,
        expected=CONNECTION_TYPES[str(first.conf.get("vendor"))].console_url or "",
        out_dir=workdir / "logs" / "forms", secrets=stack.secret_values().values(),
    )  # fmt: skip
    detail = f"href {result.href!r}, target {result.target!r} ({result.seconds:.1f} s)"
    scenario.check(f"console link in the UI: {first.label}", result.ok, "; ".join([detail, *result.problems]))


def _form_connections(stack: Stack) -> dict[str, dict[str, Any]]:
    """The forms are filled with each ``<vendor>_default`` connection's values, without the webhook settings."""
    env = stack.env
    conns = {vendor: json.loads(env[f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT"])
             for vendor in ("velip", "televoips", "octopush", "kaleyra")}  # fmt: skip
    for conn in conns.values():
        extra = conn.get("extra")
        if isinstance(extra, dict):
            conn["extra"] = {k: v for k, v in extra.items() if not k.startswith("webhook_")}
    return conns


def report(
    steps: Steps, checks: list[Check], scenario: Scenario | None, error: str | None, notes: list[str], workdir: Path
) -> int:
    """Print the runs, the checks and the step table; 0 only if all passed."""
    print("\n================ airflow-provider-voice e2e ================")
    if scenario is not None and scenario.runs:
        print("DAG runs (triggered through the REST API):")
        for label, state, waits in scenario.summary_rows():
            print(f"  {state:<8} {label}\n           waits: {waits}")
    if scenario is not None and scenario.notes:
        print("\nListen back (webhooks and the event watcher):")
        for line in scenario.notes:
            print(f"  {line}")
    failed = [c for c in checks if not c.ok]
    print("\nChecks:")
    for c in checks:
        print(f"  [{'OK ' if c.ok else 'FAIL'}] {c.name}" + (f"\n         {c.detail}" if c.detail else ""))
    if error:
        print(f"\nERROR: {error}")
    for note in notes:
        print(f"note: {note}")
    print("\n" + steps.table())
    passed = len(checks) - len(failed)
    print(f"logs: {workdir / 'logs'}")
    print(f"\ne2e: {passed} passed, {len(failed) + (1 if error else 0)} failed")
    return 1 if failed or error or not checks else 0


if __name__ == "__main__":
    sys.exit(main())
