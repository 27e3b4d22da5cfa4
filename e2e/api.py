"""The two HTTP APIs the e2e run drives: Airflow's REST API (``/api/v2``) and the simulator's ``/_sim`` routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .procs import E2EError


@dataclass
class AirflowApi:
    """Airflow's public REST API with a SimpleAuthManager token."""

    base_url: str
    username: str
    password: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)
        answer = self.client.post("/auth/token", json={"username": self.username, "password": self.password})
        if answer.status_code not in (200, 201):
            raise E2EError(f"POST /auth/token: HTTP {answer.status_code} {answer.text[:200]}")
        self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        """GET ``/api/v2<path>`` as JSON; :class:`E2EError` unless 200."""
        answer = self.client.get("/api/v2" + path, params=params or None)
        if answer.status_code != 200:
            raise E2EError(f"GET {path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def send(self, method: str, path: str, body: Any) -> Any:
        """POST/PATCH ``/api/v2<path>`` with a JSON body; :class:`E2EError` unless 2xx."""
        answer = self.client.request(method, "/api/v2" + path, json=body)
        if not answer.is_success:
            raise E2EError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()

    # -- the calls the run makes -------------------------------------------------------------------
    def dags(self) -> dict[str, dict[str, Any]]:
        """Every DAG by id."""
        return {d["dag_id"]: d for d in self.get("/dags", limit=100)["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        """The DAG import errors."""
        return list(self.get("/importErrors", limit=100)["import_errors"])

    def trigger(self, dag_id: str, *, conf: dict[str, Any], logical_date: str | None, run_id: str) -> dict[str, Any]:
        """Trigger a run (``logical_date=None``: the Airflow 3 default for manual and API runs)."""
        body = {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf}
        return dict(self.send("POST", f"/dags/{dag_id}/dagRuns", body))

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of a DAG."""
        return list(self.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """One run."""
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The task instances of a run (with their rendered fields)."""
        return list(self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", limit=100)[
            "task_instances"
        ])  # fmt: skip

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The task instance's history, one entry per try."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/tries"
        return list(self.get(path)["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom value (deserialized by the API), or None when there is none."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        answer = self.client.get("/api/v2" + path, params={"deserialize": "true"})
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise E2EError(f"GET {path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json().get("value")

    def extra_links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """The task instance's extra links, name -> URL (None: no link), as the UI gets them."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links"
        return dict(self.get(path).get("extra_links") or {})

    def xcom_entries(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every XCom entry of a run, values included (as the API shows them)."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/~/xcomEntries"
        entries = list(self.get(path, limit=100)["xcom_entries"])
        out = []
        for entry in entries:
            value = self.xcom(dag_id, run_id, entry["task_id"], entry["key"])
            out.append({**entry, "value": value})
        return out

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task log of one try, as the API serves it (one JSON event a line)."""
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.client.get(
            "/api/v2" + path, params={"full_content": "true"}, headers={"Accept": "application/x-ndjson"}
        )
        if answer.status_code != 200:
            raise E2EError(f"GET {path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.text

    def connection_test(self, conn: dict[str, Any]) -> dict[str, Any]:
        """``POST /connections/test`` (``[core] test_connection = Enabled``)."""
        return dict(self.send("POST", "/connections/test", conn))


@dataclass
class Simulator:
    """The simulator's control routes."""

    base_url: str

    def ledger(self, vendor: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
        """Ledger entries, optionally of one vendor/action."""
        params = {k: v for k, v in (("vendor", vendor), ("action", action)) if v}
        answer = httpx.get(self.base_url + "/_sim/ledger", params=params, timeout=30)
        answer.raise_for_status()
        return list(answer.json()["entries"])

    def configure(self, **settings: Any) -> None:
        """Change settings in place."""
        httpx.post(self.base_url + "/_sim/config", json=settings, timeout=10).raise_for_status()

    def faults(self, rules: list[dict[str, Any]]) -> None:
        """Install fault rules (``[{"clear": True}]`` removes them)."""
        httpx.post(self.base_url + "/_sim/faults", json=rules, timeout=10).raise_for_status()
