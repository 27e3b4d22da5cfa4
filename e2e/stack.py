"""The deployment of ``make e2e``: PostgreSQL, Redis, moto (S3), the simulator and Airflow's five components.

Everything listens on 127.0.0.1 on free ports; every process runs in its own session with its log under
``<workdir>/logs``; :meth:`Stack.stop` ends them all (and their children) and removes the database files.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_voice.testing.demo import connection_env_for
from airflow_provider_voice.testing.state import SimulatorConfig

from .procs import E2EError, Processes, free_port, run, wait_for

REPO = Path(__file__).resolve().parent.parent
BUCKET = "voice-e2e"
#: the database of the call-records loads (connection ``voice_records``; ``e2e/records.py``)
RECORDS_DATABASE = "voice_records"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")


def simulator_settings() -> dict[str, Any]:
    """The simulator's settings for the run: fresh random keys (so a leak is unmistakable) and slow calls.

    Calls last 90 s (longer than a busy worker takes to start the next task) and a CDR report compiles in 5 s, so every wait of the example DAGs has something to
    wait for; Kaleyra's network starts with a critical incident in Karnataka (cleared by the run once the
    health sensor is seen deferred).
    """
    defaults = SimulatorConfig()
    return {
        "seed": 7,
        "call_seconds": 90.0,
        "cdr_compile_seconds": 5.0,
        # Velip allows 200 list requests (GetCallStatus) an hour per account; the e2e runs an hour's
        # worth of campaigns, click-to-call waits and outcome collections on one account in minutes.
        # The 429 + Retry-After handling itself is tested in the suite (tests/test_transport.py).
        "velip_list_requests_per_hour": 2000,
        "velip_token": "e2e-velip-" + secrets.token_hex(12),
        "televoips_reports_key": "e2e-tvr-" + secrets.token_hex(12),
        "televoips_messaging_key": "e2e-tvm-" + secrets.token_hex(12),
        "octopush_key": "e2e-octo-" + secrets.token_hex(12),
        "kaleyra_api_key": "e2e-kal-" + secrets.token_hex(12),
        "kaleyra_incidents": [
            {**incident, "type": "critical"} if incident["region_code"] == "KA-IN" else incident
            for incident in defaults.kaleyra_incidents
        ],
    }


SECRET_SETTINGS = ("velip_token", "televoips_reports_key", "televoips_messaging_key", "octopush_key", "kaleyra_api_key")
#: the user the simulated TeleVoIPs sends its webhooks as (Basic auth; the password is :attr:`Stack.webhook_secret`)
WEBHOOK_USERNAME = "televoips-e2e"
#: the connections whose extras get the webhook settings: the webhook one, and the twin the event watcher polls with
WEBHOOK_CONNECTIONS = ("televoips_default", "televoips_pull")


@dataclass
class Stack:
    """The running deployment; see the module docstring."""

    workdir: Path
    s3: bool = True
    procs: Processes = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=simulator_settings)
    base_urls: dict[str, str] = field(default_factory=dict)
    pg_dir: Path | None = None
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    fernet_key: str = ""
    #: the TeleVoIPs connections' ``webhook_secret`` (Basic password of the simulator's webhooks)
    webhook_secret: str = field(default_factory=lambda: "e2e-whk-" + secrets.token_urlsafe(24))
    #: the command each Airflow component was started with (for :meth:`restart_component`)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.procs = Processes(self.workdir / "logs")
        self.bin = Path(sys.executable).parent

    # -- paths -------------------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """The isolated ``AIRFLOW_HOME``."""
        return self.workdir / "airflow-home"

    @property
    def dags_folder(self) -> Path:
        """The example DAGs of ``dags/`` and the e2e's own (``e2e/dags``), linked into one folder."""
        return self.workdir / "dags"

    def link_dags(self) -> None:
        """Fill :attr:`dags_folder` with links to the repository's DAG files (and their data)."""
        from .events import WATCHER_DAG, watcher_available

        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for source in [*(REPO / "dags").iterdir(), *(REPO / "e2e" / "dags").glob("*.py")]:
            if source.name == f"{WATCHER_DAG}.py" and not watcher_available():
                continue  # the provider has no VoiceEventTrigger yet
            if source.name != "__pycache__":
                (self.dags_folder / source.name).symlink_to(source)

    @property
    def api_url(self) -> str:
        """The api-server's root URL."""
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def sim_url(self) -> str:
        """The simulator's root URL."""
        return f"http://127.0.0.1:{self.ports['simulator']}"

    @property
    def s3_url(self) -> str:
        """moto's endpoint."""
        return f"http://127.0.0.1:{self.ports['moto']}"

    def secret_values(self) -> dict[str, str]:
        """Every secret of the deployment by name: vendor keys, the JWT secret, the Fernet key, the admin password."""
        found = {name: str(self.settings[name]) for name in SECRET_SETTINGS}
        found["jwt_secret"] = self.jwt_secret
        found["fernet_key"] = self.fernet_key
        found["webhook_secret"] = self.webhook_secret
        return found

    @property
    def events_url(self) -> str:
        """``[voice] events_path``: the event store every component shares (on S3)."""
        return f"s3://aws_default@{BUCKET}/events"

    def webhook_url(self, conn_id: str = "televoips_default", route: str = "messages") -> str:
        """The receiver's URL for ``conn_id``'s ``route`` on the api-server."""
        return f"{self.api_url}/voice-webhooks/{conn_id}/{route}"

    def webhook_auth(self) -> dict[str, str]:
        """The simulator's ``televoips_webhook_auth``: Basic with the connections' webhook user and secret."""
        return {"type": "basic", "username": WEBHOOK_USERNAME, "password": self.webhook_secret}

    # -- services ----------------------------------------------------------------------------------
    def start_postgres(self) -> None:
        """A throw-away cluster (trust auth on loopback, fsync off) and the ``airflow`` database."""
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
        if not bins:
            raise E2EError("PostgreSQL is not installed (run `bash e2e/system-packages.sh`)")
        pg = Path(bins[-1])
        user = "postgres" if os.geteuid() == 0 else None  # postgres refuses to run as root
        self.pg_dir = Path(tempfile.mkdtemp(prefix="voice-e2e-pg-"))
        if user:
            shutil.chown(self.pg_dir, user, user)
        log = self.workdir / "logs" / "postgres-setup.log"
        run(
            [str(pg / "initdb"), "-D", str(self.pg_dir), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"],
            dict(os.environ),
            log=log,
            timeout=120,
            user=user,
        )
        port = self.ports["postgres"] = free_port()
        self.procs.start(
            "postgres",
            [
                str(pg / "postgres"),
                "-D", str(self.pg_dir), "-p", str(port), "-k", str(self.pg_dir),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=300",
            ],
            dict(os.environ),
            user=user,
        )  # fmt: skip
        wait_for(
            "PostgreSQL",
            lambda: _pg_ready(pg, port, log, user),
            timeout=60,
        )
        for database in ("airflow", RECORDS_DATABASE):
            run([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", database], dict(os.environ),
                log=log, timeout=60, user=user)  # fmt: skip

    def start_redis(self) -> None:
        """Redis on loopback, nothing persisted."""
        port = self.ports["redis"] = free_port()
        server = shutil.which("redis-server")
        if not server:
            raise E2EError("redis-server is not installed (run `bash e2e/system-packages.sh`)")
        self.procs.start(
            "redis",
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "yes"],
            dict(os.environ),
        )  # fmt: skip
        wait_for("Redis", lambda: _redis_ping(port), timeout=30)

    def start_moto(self) -> None:
        """moto's S3 in server mode, and the bucket."""
        port = self.ports["moto"] = free_port()
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        self.procs.start("moto", [str(self.bin / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], env)
        wait_for("moto", lambda: httpx.get(self.s3_url + "/moto-api/", timeout=2).status_code < 500, timeout=60)
        self.s3_client().create_bucket(Bucket=BUCKET)

    def s3_client(self) -> Any:
        """A boto3 S3 client on moto."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def start_simulator(self) -> None:
        """The vendors' simulator as its own process, reset to :func:`simulator_settings`."""
        port = self.ports["simulator"] = free_port()
        ready = self.workdir / "simulator.json"
        ready.unlink(missing_ok=True)
        self.procs.start(
            "simulator",
            [sys.executable, "-m", "airflow_provider_voice.testing", "--port", str(port), "--ready-file", str(ready)],
            dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        info = wait_for("the simulator", lambda: ready.exists() and json.loads(ready.read_text()), timeout=60)
        self.base_urls = dict(info["base_urls"])
        answer = httpx.post(self.sim_url + "/_sim/reset", json=self.settings, timeout=10)
        if answer.status_code != 200:
            raise E2EError(f"simulator reset refused: {answer.status_code} {answer.text[:200]}")

    # -- Airflow -----------------------------------------------------------------------------------
    def airflow_env(self) -> dict[str, str]:
        """The environment every Airflow component (and the CLI) runs with."""
        from cryptography.fernet import Fernet

        if not self.fernet_key:
            self.fernet_key = Fernet.generate_key().decode()
        self.ports.setdefault("api", free_port())
        pg = f"127.0.0.1:{self.ports['postgres']}/airflow"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow@{pg}",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow@{pg}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.ports["api"]),
                "AIRFLOW__API__SECRET_KEY": self.jwt_secret[::-1],
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
                # lowered for the fault runs: a try whose supervisor stopped heartbeating is failed after 20 s
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": str(self.workdir / "demo"),
                "AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL": self.sim_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                # any S3 client without a connection goes to moto too, never to AWS
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.ports['moto']}",
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost",
            }
        )
        if self.s3:
            env["AIRFLOW__VOICE__CHECKPOINT_PATH"] = f"s3://aws_default@{BUCKET}/checkpoints"
            env["AIRFLOW__VOICE__OUTCOMES_PATH"] = f"s3://aws_default@{BUCKET}/outcomes"
            # the notifiers' dedup log: a retry on another worker must see the page its first try sent
            env["AIRFLOW__VOICE__NOTIFICATIONS_PATH"] = f"s3://aws_default@{BUCKET}/notifications"
            # written by the webhook receiver (api-server) and the event watcher (triggerer), read by tasks
            env["AIRFLOW__VOICE__EVENTS_PATH"] = self.events_url
            env["AIRFLOW_PROVIDER_VOICE_FILES"] = f"s3://aws_default@{BUCKET}/files"
            env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": self.s3_url, "region_name": "us-east-1"},
                }
            )
        # the call-records loads (e2e/records.py): a database of its own on the same Postgres
        env["AIRFLOW_CONN_VOICE_RECORDS"] = json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": self.ports["postgres"], "login": "airflow",
             "schema": RECORDS_DATABASE}
        )  # fmt: skip
        cfg = SimulatorConfig(**{k: v for k, v in self.settings.items() if k != "kaleyra_incidents"})
        env.update(connection_env_for(self.base_urls, cfg))
        self._add_webhook_connections(env)
        self.env = env
        return env

    def _add_webhook_connections(self, env: dict[str, str]) -> None:
        """Webhook extras (Basic auth) on ``televoips_default``, and its twin ``televoips_pull`` for the watcher."""
        televoips = json.loads(env["AIRFLOW_CONN_TELEVOIPS_DEFAULT"])
        televoips["extra"] = {
            **televoips.get("extra", {}),
            "webhook_auth": "basic",
            "webhook_username": WEBHOOK_USERNAME,
            "webhook_secret": self.webhook_secret,
        }
        for conn_id in WEBHOOK_CONNECTIONS:
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(televoips)

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run the ``airflow`` CLI with the deployment's environment."""
        return run([str(self.bin / "airflow"), *args], self.env, log=self.workdir / "logs" / "cli.log", timeout=timeout)

    def migrate(self) -> None:
        """``airflow db migrate`` on the fresh Postgres database."""
        if self.home.exists():
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True)
        (self.workdir / "demo").mkdir(parents=True, exist_ok=True)
        self.link_dags()
        # the password file SimpleAuthManager reads; written first so Airflow does not print a generated one
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(16)}))
        passwords.chmod(0o600)
        self.airflow_env()
        self.airflow("db", "migrate", timeout=600)

    def start_airflow(self) -> None:
        """api-server, scheduler, dag-processor, triggerer and one Celery worker (concurrency 2)."""
        airflow = str(self.bin / "airflow")
        commands = {
            "api-server": [airflow, "api-server", "-H", "127.0.0.1", "-p", str(self.ports["api"]), "-w", "1"],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
            "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
            "worker": [airflow, "celery", "worker", "--concurrency", "2", "--skip-serve-logs"],
        }
        self.commands.update(commands)
        for name in AIRFLOW_COMPONENTS:
            self.procs.start(name, commands[name], self.env, cwd=self.workdir)
        wait_for("the api-server", self._api_healthy, timeout=180)

    def kill_component(self, name: str) -> int:
        """SIGKILL a component's whole process group (no cleanup, as a crash); returns its pid."""
        proc = next((p for p in self.procs.procs if p.name == name), None)
        if proc is None:
            raise E2EError(f"no process named {name}")
        self.procs.kill(proc)
        return proc.pid

    def restart_component(self, name: str) -> int:
        """Start a component killed by :meth:`kill_component` again (same command, log appended); its new pid."""
        if any(p.name == name for p in self.procs.procs):
            raise E2EError(f"{name} is still running")
        return self.procs.start(name, self.commands[name], self.env, cwd=self.workdir).pid

    def start_extra_worker(self, name: str) -> None:
        """A second Celery worker (for the re-queue fault test)."""
        airflow = str(self.bin / "airflow")
        self.procs.start(
            name,
            [airflow, "celery", "worker", "--concurrency", "2", "--skip-serve-logs", "-H", f"{name}@%h"],
            self.env,
            cwd=self.workdir,
        )

    def _api_healthy(self) -> bool:
        self.procs.check_alive()
        return httpx.get(self.api_url + "/api/v2/monitor/health", timeout=5).status_code == 200

    def admin_password(self) -> str:
        """The SimpleAuthManager password generated for ``admin``."""
        path = self.home / "simple_auth_manager_passwords.json.generated"
        passwords = wait_for("the generated admin password", lambda: path.exists() and json.loads(path.read_text()),
                             timeout=60)  # fmt: skip
        return str(passwords["admin"])

    def component_pid(self, name: str) -> int:
        """The process id of a started component."""
        for proc in self.procs.procs:
            if proc.name == name:
                return proc.pid
        raise E2EError(f"no process named {name}")

    def stop(self) -> list[str]:
        """Stop every process and remove the database files; returns notes about anything forced."""
        notes = self.procs.stop_all()
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None
        return notes


def _pg_ready(pg: Path, port: int, log: Path, user: str | None) -> bool:
    try:
        run([str(pg / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], dict(os.environ), log=log, timeout=10,
            user=user)  # fmt: skip
    except E2EError:  # not accepting connections yet
        return False
    return True


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
