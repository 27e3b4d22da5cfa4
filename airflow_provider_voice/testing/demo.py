"""``make demo``: run the example DAGs with ``airflow dags test`` against the simulator.

What it does, in order:

1. starts the simulator on a free loopback port (in this process, a background thread);
2. creates a fresh ``AIRFLOW_HOME`` under ``.demo/`` with a SQLite DB (``airflow db migrate``);
3. defines every connection as an ``AIRFLOW_CONN_*`` environment variable pointing at the
   simulator (``<vendor>_default``, and ``<vendor>_wrong_key`` twins with a bad key);
4. starts the provider's webhook receiver (``python -m airflow_provider_voice.plugins``, the app the
   api-server mounts) and points the simulator's TeleVoIPs, Octopush and Velip webhooks at it,
   with the secrets set on the ``<vendor>_default`` connections (:func:`demo_webhooks`);
5. runs ``airflow connections test`` on a good and a wrong-key connection (``[core]
   test_connection = Enabled``), then each example DAG with ``airflow dags test`` — before
   ``example_optout_events`` the simulator sends a person's "STOP" as a TeleVoIPs webhook;
6. prints a summary (lines the example tasks print with the ``DEMO|`` prefix, and the events the
   receiver stored) and stops the receiver and the simulator. Full logs are kept under ``.demo/logs/``. Exit status 0 only if every step passed.

Run: ``python -m airflow_provider_voice.testing.demo --dags-folder dags [--only DAG_ID ...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_voice.testing import control
from airflow_provider_voice.testing.server import SimulatorServer
from airflow_provider_voice.testing.state import SimulatorConfig

__all__ = ["DEMO_RUNS", "DemoRun", "connection_env", "connection_env_for", "demo_webhooks", "main"]

DEMO_PREFIX = "DEMO|"


@dataclass(frozen=True)
class DemoRun:
    """One ``airflow dags test`` of the demo: a DAG id, its run conf, a title, and inbound SMS the
    simulator receives first (``{"from", "text"}``: sent to the DAG as TeleVoIPs webhooks)."""

    dag_id: str
    title: str
    conf: dict[str, Any] = field(default_factory=dict)
    inbound: tuple[dict[str, str], ...] = ()


#: the example DAG runs, in order (a DAG file that does not exist yet is skipped with a note)
DEMO_RUNS: list[DemoRun] = [
    DemoRun("example_connections", "connection tests through the hooks (and wrong keys refused)"),
    DemoRun("example_voice_campaign", "voice campaign on Octopush", {"vendor": "octopush"}),
    DemoRun("example_voice_campaign", "voice campaign on Kaleyra", {"vendor": "kaleyra"}),
    DemoRun("example_voice_campaign", "voice campaign on Velip", {"vendor": "velip"}),
    DemoRun(
        "example_redial", "personalised campaign on Velip, the unreached called again (3 rounds)", {"vendor": "velip"}
    ),
    DemoRun("example_daily_cdr", "daily TeleVoIPs CDR download and summary"),
    DemoRun("example_sms_and_optouts", "SMS, failures and opt-outs blacklisted"),
    DemoRun("example_click_to_call", "click-to-call on Kaleyra and Velip"),
    DemoRun("example_on_call", "on-call paging: SMS and call notifiers on a failing task, then a voice call"),
    DemoRun(
        "example_quiet_hours", "contact policy: a dry run under FR_MARKETING, then a send held until its window opens"
    ),
    DemoRun(
        "example_optout_events",
        "a STOP reply (webhook) → opt-out event → unsubscribed, suppressed next time",
        inbound=({"from": "14155552671", "text": "Stop!"}, {"from": "14155552672", "text": "see you tomorrow"}),
    ),
]


def connection_env(server: SimulatorServer, config: SimulatorConfig | None = None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for every vendor against ``server``: good keys and wrong-key twins."""
    return connection_env_for(control.base_urls(server.url), config or server.state.config)


def connection_env_for(
    base_urls: Mapping[str, str], cfg: SimulatorConfig, webhooks: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for every vendor: good keys and wrong-key twins.

    :param base_urls: each vendor's base URL (``velip``, ``televoips``, ``octopush``, ``kaleyra``,
        ``kaleyra-obd``), e.g. the ``base_urls`` of ``python -m airflow_provider_voice.testing --ready-file``.
    :param cfg: the simulator's settings (its keys).
    :param webhooks: vendor -> webhook extras (``webhook_auth``, ``webhook_secret``...) added to its
        ``<vendor>_default`` connection (:func:`demo_webhooks`).
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
            if not wrong and webhooks and vendor in webhooks:
                conn["extra"] = {**conn.get("extra", {}), **webhooks[vendor]}
            env[f"AIRFLOW_CONN_{vendor.upper()}_{suffix}"] = json.dumps(conn)
    return env


def demo_webhooks(receiver_url: str) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """The demo's webhook wiring: ``(connection extras per vendor, simulator settings)``.

    TeleVoIPs signs with Basic auth; Octopush and Velip, which cannot sign, carry a ``token`` query
    parameter. The secrets are fresh for each demo.

    :param receiver_url: where the receiver listens (``http://127.0.0.1:<port>``).
    """
    import secrets

    root = f"{receiver_url.rstrip('/')}/voice-webhooks"
    password, octopush_token, velip_token = (secrets.token_urlsafe(24) for _ in range(3))
    extras = {
        "televoips": {"webhook_auth": "basic", "webhook_username": "demo", "webhook_secret": password},
        "octopush": {"webhook_auth": "token", "webhook_secret": octopush_token},
        "velip": {"webhook_auth": "token", "webhook_secret": velip_token},
    }
    settings = {
        "televoips_webhook_url": f"{root}/televoips_default/messages",
        "televoips_cdr_webhook_url": f"{root}/televoips_default/cdrs",
        "televoips_webhook_auth": {"type": "basic", "username": "demo", "password": password},
        "octopush_webhook_url": f"{root}/octopush_default/deliveries?token={octopush_token}",
        "octopush_stop_webhook_url": f"{root}/octopush_default/opt-outs?token={octopush_token}",
        "velip_webhook_url": f"{root}/velip_default/calls?token={velip_token}",
    }
    return extras, settings


def stored_events(root: Path) -> dict[str, int]:
    """Events stored under an event store's root, per ``<vendor>/<kind>`` (read from its folders)."""
    counts: dict[str, int] = {}
    for path in root.glob("*/*/*/*/*.json"):
        vendor, _conn, kind = path.parts[-5:-2]
        if not vendor.startswith("_"):
            counts[f"{vendor}/{kind}"] = counts.get(f"{vendor}/{kind}", 0) + 1
    return dict(sorted(counts.items()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_inbound(server: SimulatorServer, message: Mapping[str, str]) -> None:
    """An inbound SMS to the simulator's first owned TeleVoIPs number (sent on as a webhook)."""
    body = {"to": sorted(server.state.config.televoips_numbers)[0], **message}
    with httpx.Client(trust_env=False, timeout=10) as client:
        client.post(f"{server.url}/_sim/televoips/inbound", json=body).raise_for_status()


def wait_for_webhooks(server: SimulatorServer, timeout: float = 30.0) -> None:
    """Until the simulator has no webhook left to send (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=10) as client:
        while time.monotonic() < deadline:
            state = client.get(f"{server.url}/_sim/webhooks", params={"attempts": 0}).json()
            if not state.get("pending") and not state.get("in_flight"):
                return
            time.sleep(0.1)


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
        events = self.workdir / "events"
        state_config = SimulatorConfig(cdr_compile_seconds=3.0)
        from airflow_provider_voice.testing.state import SimulatorState

        with SimulatorServer(SimulatorState(state_config)) as server:
            print(f"simulator: {server.url} (velip, televoips, octopush, kaleyra, kaleyra-obd)")
            receiver_url = f"http://127.0.0.1:{_free_port()}"
            extras, webhook_settings = demo_webhooks(receiver_url)
            env = dict(os.environ)
            env.update(
                {
                    "AIRFLOW_HOME": str(home),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                    "AIRFLOW__VOICE__EVENTS_PATH": str(events),
                    "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": str(self.workdir),
                    "AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL": server.url,
                    "PYTHONUNBUFFERED": "1",
                }
            )
            env.update(connection_env_for(control.base_urls(server.url), server.state.config, extras))
            self.step("airflow db migrate", [self.airflow, "db", "migrate"], env)
            receiver = self.start_receiver(receiver_url, env)
            try:
                server.state.configure(**webhook_settings)
                self.run_dags(server, env)
            finally:
                receiver.terminate()
                try:
                    receiver.wait(15)
                except subprocess.TimeoutExpired:
                    receiver.kill()
            stored = stored_events(events)
            lines = [f"{name}: {count}" for name, count in stored.items()] or ["none"]
            print(f"-- webhooks: {len(lines)} event kinds stored in {events}")
            self.results.append(StepResult("events the webhook receiver stored", bool(stored), 0.0, events, lines))
        return self.summary()

    def start_receiver(self, url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """The webhook receiver in its own process, serving ``url`` (waits until it answers)."""
        port = url.rsplit(":", 1)[1]
        log = (self.workdir / "logs" / "receiver.log").open("wb")
        cmd = [sys.executable, "-m", "airflow_provider_voice.plugins", "--port", port, "--no-publish"]
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", int(port)), timeout=1):
                print(f"webhook receiver: {url}/voice-webhooks (pid {process.pid})")
                return process
            time.sleep(0.2)
        process.kill()
        raise RuntimeError(f"the webhook receiver did not start; see {self.workdir / 'logs' / 'receiver.log'}")

    def run_dags(self, server: SimulatorServer, env: dict[str, str]) -> None:
        """The connection tests, then every example DAG."""
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
            for message in run.inbound:
                send_inbound(server, message)
            if run.inbound:
                wait_for_webhooks(server)
            cmd = [self.airflow, "dags", "test", run.dag_id]
            if run.conf:
                cmd += ["-c", json.dumps(run.conf)]
            self.step(f"dags test {run.dag_id}: {run.title}", cmd, env)

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
