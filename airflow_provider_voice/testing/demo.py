"""``make demo``: run the example DAGs with ``airflow dags test`` against the simulator.

What it does, in order:

1. starts the simulator on a free loopback port (in this process, a background thread);
2. creates a fresh ``AIRFLOW_HOME`` under ``.demo/`` with a SQLite DB (``airflow db migrate``);
3. defines every connection as an ``AIRFLOW_CONN_*`` environment variable pointing at the
   simulator (``<vendor>_default``, and ``<vendor>_wrong_key`` twins with a bad key);
4. runs ``airflow connections test`` on a good and a wrong-key connection (``[core]
   test_connection = Enabled``), then each example DAG with ``airflow dags test``;
5. prints a summary (lines the example tasks print with the ``DEMO|`` prefix) and stops the
   simulator. Full logs are kept under ``.demo/logs/``. Exit status 0 only if every step passed.

Run: ``python -m airflow_provider_voice.testing.demo --dags-folder dags [--only DAG_ID ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_voice.testing import control
from airflow_provider_voice.testing.server import SimulatorServer
from airflow_provider_voice.testing.state import SimulatorConfig

__all__ = ["DEMO_RUNS", "DemoRun", "connection_env", "connection_env_for", "main"]

DEMO_PREFIX = "DEMO|"


@dataclass(frozen=True)
class DemoRun:
    """One ``airflow dags test`` of the demo: a DAG id, its run conf and a title."""

    dag_id: str
    title: str
    conf: dict[str, Any] = field(default_factory=dict)


#: the example DAG runs, in order (a DAG file that does not exist yet is skipped with a note)
DEMO_RUNS: list[DemoRun] = [
    DemoRun("example_connections", "connection tests through the hooks (and wrong keys refused)"),
    DemoRun("example_voice_campaign", "voice campaign on Octopush", {"vendor": "octopush"}),
    DemoRun("example_voice_campaign", "voice campaign on Kaleyra", {"vendor": "kaleyra"}),
    DemoRun("example_voice_campaign", "voice campaign on Velip", {"vendor": "velip"}),
    DemoRun("example_daily_cdr", "daily TeleVoIPs CDR download and summary"),
    DemoRun("example_sms_and_optouts", "SMS, failures and opt-outs blacklisted"),
    DemoRun("example_click_to_call", "click-to-call on Kaleyra and Velip"),
]


def connection_env(server: SimulatorServer, config: SimulatorConfig | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for every vendor against ``server``: good keys and wrong-key twins."""
    return connection_env_for(control.base_urls(server.url), config or server.state.config)


def connection_env_for(base_urls: Mapping[str, str], cfg: SimulatorConfig) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for every vendor: good keys and wrong-key twins.

    :param base_urls: each vendor's base URL (``velip``, ``televoips``, ``octopush``, ``kaleyra``,
        ``kaleyra-obd``), e.g. the ``base_urls`` of ``python -m airflow_provider_voice.testing --ready-file``.
    :param cfg: the simulator's settings (its keys).
    """

    def conns(wrong: bool) -> dict[str, dict[str, Any]]:
        bad = "wrong-key-for-the-demo"
        return {
            "velip": {
                "conn_type": "velip",
                "host": base_urls["velip"],
                "password": bad if wrong else cfg.velip_token,
            },
            "televoips": {
                "conn_type": "televoips",
                "host": base_urls["televoips"],
                "extra": {
                    "reports_api_key": bad if wrong else cfg.televoips_reports_key,
                    "messaging_api_key": bad if wrong else cfg.televoips_messaging_key,
                },
            },
            "octopush": {
                "conn_type": "octopush",
                "host": base_urls["octopush"],
                "login": cfg.octopush_login,
                "password": bad if wrong else cfg.octopush_key,
            },
            "kaleyra": {
                "conn_type": "kaleyra",
                "host": base_urls["kaleyra"],
                "password": bad if wrong else cfg.kaleyra_api_key,
                "extra": {"obd_base_url": base_urls["kaleyra-obd"]},
            },
        }

    env = {}
    for suffix, wrong in (("DEFAULT", False), ("WRONG_KEY", True)):
        for vendor, conn in conns(wrong).items():
            env[f"AIRFLOW_CONN_{vendor.upper()}_{suffix}"] = json.dumps(conn)
    return env


@dataclass
class StepResult:
    title: str
    ok: bool
    seconds: float
    log: Path
    lines: list[str]


class Demo:
    """Runs the demo steps; see the module docstring."""

    def __init__(self, dags_folder: Path, workdir: Path, only: list[str] | None) -> None:
        self.dags_folder = dags_folder.resolve()
        self.workdir = workdir.resolve()
        self.only = only
        self.results: list[StepResult] = []
        self.airflow = str(Path(sys.executable).with_name("airflow"))

    def run(self) -> int:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        (self.workdir / "logs").mkdir(parents=True)
        home = self.workdir / "airflow-home"
        state_config = SimulatorConfig(cdr_compile_seconds=3.0)
        from airflow_provider_voice.testing.state import SimulatorState

        with SimulatorServer(SimulatorState(state_config)) as server:
            print(f"simulator: {server.url} (velip, televoips, octopush, kaleyra, kaleyra-obd)")
            env = dict(os.environ)
            env.update(
                {
                    "AIRFLOW_HOME": str(home),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                    "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": str(self.workdir),
                    "AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL": server.url,
                    "PYTHONUNBUFFERED": "1",
                }
            )
            env.update(connection_env(server))
            self.step("airflow db migrate", [self.airflow, "db", "migrate"], env)
            self.step(
                "connections test velip_default",
                [self.airflow, "connections", "test", "velip_default"],
                env,
                keep=("Connection",),
            )
            self.step(
                "connections test kaleyra_wrong_key (must be refused)",
                [self.airflow, "connections", "test", "kaleyra_wrong_key"],
                env,
                keep=("Connection",),
                expect_fail=True,
            )
            for run in DEMO_RUNS:
                if self.only and run.dag_id not in self.only:
                    continue
                if not (self.dags_folder / f"{run.dag_id}.py").exists():
                    print(f"-- skip {run.dag_id}: not in {self.dags_folder}")
                    continue
                cmd = [self.airflow, "dags", "test", run.dag_id]
                if run.conf:
                    cmd += ["-c", json.dumps(run.conf)]
                self.step(f"dags test {run.dag_id}: {run.title}", cmd, env)
        return self.summary()

    def step(
        self, title: str, cmd: list[str], env: dict[str, str], *, keep: tuple[str, ...] = (), expect_fail: bool = False
    ) -> None:
        log = self.workdir / "logs" / f"{len(self.results):02d}-{title.split(':')[0].replace(' ', '_')}.log"
        print(f"-- {title} ...", flush=True)
        started = time.monotonic()
        with log.open("w") as out:
            code = subprocess.run(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            ).returncode
        ok = (code != 0) if expect_fail else (code == 0)
        text = log.read_text(errors="replace").splitlines()
        lines = [line.split(DEMO_PREFIX, 1)[1].removeprefix(" ").rstrip() for line in text if DEMO_PREFIX in line]
        for i, line in enumerate(text):  # a kept line and the reason printed under it
            if keep and line.strip().startswith(keep):
                lines += [line.strip()] + [t.strip() for t in text[i + 1 : i + 2] if t.strip()]
        if not ok:
            lines += ["(last lines of the log)", *text[-15:]]
        self.results.append(StepResult(title, ok, time.monotonic() - started, log, lines))

    def summary(self) -> int:
        print("\n================ airflow-provider-voice demo ================")
        for r in self.results:
            print(f"[{'OK ' if r.ok else 'FAIL'}] {r.title}  ({r.seconds:.1f} s)")
            for line in r.lines:
                print(f"       {line}")
        failed = [r for r in self.results if not r.ok]
        print(f"\n{len(self.results) - len(failed)} passed, {len(failed)} failed; logs in {self.workdir / 'logs'}")
        return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags-folder", default="dags", type=Path)
    parser.add_argument("--workdir", default=".demo", type=Path)
    parser.add_argument("--only", nargs="*", help="run only these DAG ids")
    args = parser.parse_args(argv)
    return Demo(args.dags_folder, args.workdir, args.only).run()


if __name__ == "__main__":
    sys.exit(main())
