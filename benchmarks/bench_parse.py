"""DAG parse benchmark: the first ``DagBag`` parse of the example DAGs, in fresh processes.

Each run is a fresh worker process (``--runs``, default 7) that imports Airflow first —
``airflow``, ``airflow.sdk`` and ``airflow.dag_processing.dagbag`` (what ``DagBag`` needs) — and then
times ``DagBag(dag_folder=dags/)`` alone: the parse of every example DAG, which imports the
provider's operators, sensors and notifiers and builds their tasks (constructor-time validation
included), as the DAG processor does for a new file. The environment is the one of ``tests/conftest.py``
and ``make demo``: a temporary ``AIRFLOW_HOME`` with a SQLite URL (no database is created: parsing
needs none), no Airflow example DAGs, no network. Printed per tree: the parse time min/median/max (ms),
the DAGs found and the import errors (must be 0), and, from one more run under ``python -X importtime``,
the modules that parse imports that Airflow had not already imported — the provider's and the
third-party packages it pulls in — top 15 by cumulative import time, so a reader sees where the
time goes (``-X importtime`` inflates every figure; compare them with each other, not with the
parse time).

With ``--before PATH`` (a copy or ``git worktree`` of an older commit) the same runs also use the
package at ``PATH`` (``PYTHONPATH=PATH``, the working directory a temporary one so the repository
does not shadow it) and its ``dags/`` folder; the two trees' runs alternate, and the ratio of the
medians is printed.

Goal (issue "Scale", item 6, "Parse cost"): the parse < 150 ms (268 ms before). Figures are
printed, never asserted. Run: ``python benchmarks/bench_parse.py [--runs 7] [--before PATH]
[--dags DIR] [--top 15]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_voice"
#: what the worker writes to stderr once Airflow is imported (``-X importtime`` lines before it are Airflow's)
MARK = "@@bench_parse: airflow imported@@"
#: the line of stdout that carries the worker's result
RESULT = "@@bench_parse: result@@ "


# -- the worker process ----------------------------------------------------------------------------
def worker(dags: str) -> None:
    """Runs in a fresh process: import Airflow, then time the first ``DagBag`` parse of ``dags``."""
    import time

    started = time.perf_counter()
    import airflow
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag

    imported = time.perf_counter()
    sys.stderr.write(MARK + "\n")
    sys.stderr.flush()
    bag = DagBag(dag_folder=dags)
    parsed = time.perf_counter()
    result = {
        "airflow_import_ms": 1e3 * (imported - started),
        "parse_ms": 1e3 * (parsed - imported),
        "dags": len(bag.dags),
        "import_errors": {str(k): str(v).strip().splitlines()[-1:] for k, v in bag.import_errors.items()},
        "provider": sys.modules[PACKAGE].__file__ if PACKAGE in sys.modules else None,
    }
    print(RESULT + json.dumps(result), flush=True)


# -- the parent --------------------------------------------------------------------------------------
def environment(home: str, dags: Path, pythonpath: str) -> dict[str, str]:
    """The worker's environment: tests/conftest.py's Airflow settings, ``PYTHONPATH`` the tree measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "PYTHONPATH": pythonpath,
            "AIRFLOW_HOME": home,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": os.path.join(home, "demo"),
        }
    )
    return env


def run_worker(tree: Path, dags: Path, *, importtime: bool = False) -> tuple[dict[str, Any], str]:
    """One fresh worker for ``tree``: its result and (with ``importtime``) its stderr."""
    home = tempfile.mkdtemp(prefix="bench-parse-home-")
    try:
        command = [sys.executable, *(["-X", "importtime"] if importtime else []), __file__, "--worker", str(dags)]
        proc = subprocess.run(
            command, cwd=home, env=environment(home, dags, str(tree)), capture_output=True, text=True, check=False
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    if proc.returncode or not lines:
        raise SystemExit(f"worker for {tree} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT) :]), proc.stderr


def parse_importtime(stderr: str) -> list[tuple[str, int, int, str]]:
    """``(module, self us, cumulative us, importer)`` of every module imported after :data:`MARK`, in
    import order; ``importer`` is the nearest module above it in the import tree that is the provider's
    or Airflow's (``""``: imported by a DAG file itself)."""
    _, _, after = stderr.partition(MARK)
    rows: list[tuple[str, int, int, int]] = []
    for line in after.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        try:
            rows.append((name.strip(), int(self_us), int(cumulative_us), (len(name) - len(name.lstrip())) // 2))
        except ValueError:  # the header line
            continue
    out = []
    for i, (name, self_us, cumulative_us, depth) in enumerate(rows):
        importer, want = "", depth - 1
        for parent, _, _, parent_depth in rows[i + 1 :]:  # -X importtime lists a module before its importer
            if parent_depth == want:
                if parent.partition(".")[0] in (PACKAGE, "airflow"):
                    importer = parent
                    break
                want -= 1
            if want < 0:
                break
        out.append((name, self_us, cumulative_us, importer))
    return out


def owner(name: str, importer: str) -> str:
    """Whose cost a module is: ``provider`` (its modules and the third-party ones it imports), ``airflow``
    (Airflow's, and what Airflow imports: e.g. ``packaging`` for ``@task``), ``dags`` or ``stdlib``."""
    top = name.partition(".")[0]
    if top == PACKAGE:
        return "provider"
    if top == "airflow":
        return "airflow"
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "stdlib"
    return {PACKAGE: "provider", "airflow": "airflow"}.get(importer.partition(".")[0], "dags")


def report_imports(stderr: str, top: int) -> None:
    rows = parse_importtime(stderr)
    total: dict[str, int] = {}
    for name, self_us, _, importer in rows:
        key = owner(name, importer)
        if key == "provider" and name.partition(".")[0] != PACKAGE:
            key = "third-party (imported by the provider)"
        total[key] = total.get(key, 0) + self_us
    parts = ", ".join(f"{k} {v / 1e3:.1f} ms" for k, v in sorted(total.items(), key=lambda kv: -kv[1]))
    print(f"  imports during the parse (-X importtime): {len(rows)} modules, self time: {parts}")
    shown = sorted((r for r in rows if owner(r[0], r[3]) == "provider"), key=lambda r: -r[2])[:top]
    print(f"  top {len(shown)} of the provider and what it pulls in, by cumulative import time (ms)   cumul    self")
    for name, self_us, cumulative_us, _ in shown:
        print(f"    {name:<80} {cumulative_us / 1e3:7.1f} {self_us / 1e3:7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per tree (default 7)")
    parser.add_argument("--before", default=None, help="also measure the tree at this path (PYTHONPATH)")
    parser.add_argument("--dags", default=None, help="DAG folder of every tree (default: each tree's dags/)")
    parser.add_argument("--top", type=int, default=15, help="modules listed by import time (default 15)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker)
        return 0

    trees = [("after", ROOT)] + ([("before", Path(args.before).resolve())] if args.before else [])
    folders = {name: Path(args.dags).resolve() if args.dags else tree / "dags" for name, tree in trees}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in trees}
    print(f"DAG parse benchmark: {args.runs} fresh processes per tree, Python {sys.version.split()[0]}")
    for _ in range(args.runs):
        for name, tree in trees:  # alternate the trees: load on the machine hits both alike
            results[name].append(run_worker(tree, folders[name])[0])

    medians = {}
    for name, tree in trees:
        runs = results[name]
        parse = [r["parse_ms"] for r in runs]
        medians[name] = statistics.median(parse)
        errors = runs[-1]["import_errors"]
        print(f"\n{name}: {tree} (provider {runs[-1]['provider']}), DAGs from {folders[name]}")
        print(
            f"  DagBag parse (ms): min {min(parse):.0f}  median {medians[name]:.0f}  max {max(parse):.0f}   "
            f"[Airflow import before it: median {statistics.median(r['airflow_import_ms'] for r in runs):.0f} ms]"
        )
        print(f"  DAGs found: {runs[-1]['dags']}, import errors: {len(errors)}")
        for path, message in errors.items():
            print(f"    {path}: {' '.join(message)}")
        report_imports(run_worker(tree, folders[name], importtime=True)[1], args.top)
    if "before" in medians:
        print(
            f"\nmedian parse: before {medians['before']:.0f} ms -> after {medians['after']:.0f} ms "
            f"(after/before {medians['after'] / medians['before']:.2f}; goal < 150 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
