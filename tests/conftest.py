"""Shared fixtures: an isolated Airflow home, DAG runs, and a sync/async driver table for the HTTP core.

The Airflow environment is set here, before any test module imports Airflow: a temporary
AIRFLOW_HOME with a SQLite metadata DB, no example DAGs, the repository's ``dags/`` as DAGs folder,
and connection tests enabled.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="apv-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # the example DAGs derive paths and Asset URIs from it: one value for the whole session,
        # so every parse of a DAG registers the same Asset
        "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": os.path.join(_HOME, "demo"),
    }
)

import asyncio  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from airflow_provider_voice.transport import AsyncHttp, Dialect, RetryPolicy, SyncHttp  # noqa: E402


@dataclass
class FakeClock:
    """Records requested sleeps instead of sleeping."""

    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@dataclass
class Driver:
    """Sends calls through the sync or the async client with the same interface."""

    kind: str
    dialect: Dialect
    handler: Callable[[httpx.Request], httpx.Response]
    clock: FakeClock
    retry: RetryPolicy

    def send(self, call: Any) -> Any:
        if self.kind == "sync":
            http = SyncHttp(
                self.dialect,
                retry=self.retry,
                sleep=self.clock.sleep,
                http_client=httpx.Client(transport=httpx.MockTransport(self.handler)),
            )
            try:
                return http.execute(call)
            finally:
                http.close()

        async def run() -> Any:
            http = AsyncHttp(
                self.dialect,
                retry=self.retry,
                sleep=self.clock.asleep,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handler)),
            )
            try:
                return await http.execute(call)
            finally:
                await http.aclose()

        return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def make_driver(request: pytest.FixtureRequest) -> Callable[..., Driver]:
    """``make_driver(dialect, handler, retry=None)`` -> a :class:`Driver` for the parametrized kind."""

    def build(
        dialect: Dialect, handler: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy | None = None
    ) -> Driver:
        return Driver(request.param, dialect, handler, FakeClock(), retry or RetryPolicy(max_attempts=4))

    return build


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[str]:
    """A migrated SQLite metadata DB in the session's AIRFLOW_HOME (created once per session)."""
    from airflow.utils import db

    db.resetdb()
    yield _HOME


@pytest.fixture
def run_dag(airflow_db: str) -> Callable[..., Any]:
    """``run_dag(dag_or_id, conf=None, **test_kwargs)`` runs a DAG with ``dag.test()`` and returns the DagRun.

    ``test_kwargs`` go to ``dag.test()``: ``logical_date=None`` runs it as Airflow 3 runs a DAG
    triggered from the REST API or ``airflow dags trigger`` (no logical date, no data interval).

    A DAG id is loaded from the repository's ``dags/`` folder; a DAG object defined in a test is
    first written to the metadata DB (``dag.test()`` only runs serialized DAGs).
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()

    def run(dag: Any, conf: dict[str, Any] | None = None, **test_kwargs: Any) -> Any:
        if isinstance(dag, str):
            bag = DagBag(dag_folder=str(REPO / "dags"))
            assert not bag.import_errors, bag.import_errors
            dag = bag.get_dag(dag)
        else:
            bag = DagBag(collect_dags=False)
            bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag.test(run_conf=conf, **test_kwargs)

    return run


@pytest.fixture
def voice_connections(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every vendor connection (``<vendor>_default`` and ``<vendor>_wrong_key``) pointed at the simulator."""
    from airflow_provider_voice.testing.demo import connection_env

    for name, value in connection_env(simulator).items():
        monkeypatch.setenv(name, value)
    return simulator


@pytest.fixture
def context() -> dict[str, Any]:
    """The smallest task context the operators read when called directly (no data interval)."""
    return {"data_interval_start": None, "data_interval_end": None}
