"""Every ```python block of README.md and docs/**/*.md runs as written.

For each block:

* it compiles, and every ``import`` / ``from ... import`` in it resolves;
* its Jinja templates read no context key that a run without a logical date lacks (``ds``,
  ``ts_nodash``, ``data_interval_end``...: Airflow 3 runs triggered from the REST API or
  ``airflow dags trigger`` have none);
* a block that defines a DAG is loaded from a file by a ``DagBag``: no import error, and at least one
  DAG (a ``@dag`` function that is never called defines none);
* a block that builds an operator or a sensor without a DAG is a fragment, and fails;
* any other block is executed, in a temporary working directory, with the vendor simulator running
  and the ``<vendor>_default`` connections pointing at it; only loopback connections are allowed.

A block preceded by ``<!-- not-runnable: <reason> -->`` is only compiled and import-checked (keep them
rare: :data:`MAX_NOT_RUNNABLE`). ``bash`` and other blocks are not executed.

The README quick start is also run with ``dag.test()`` against the simulator, with and without a
logical date, and so are the doc DAGs that need nothing else (:data:`SIMULATOR_DAGS`).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import logical_date_only_names, template_strings

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MAX_NOT_RUNNABLE = 3

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>.*)$")
_NOT_RUNNABLE = re.compile(r"^\s*<!--\s*not-runnable:(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file.

    :param path: the Markdown file.
    :param line: line number of the opening fence.
    :param lang: the fence's language (``python``, ``bash``, ``""``...).
    :param source: the code, dedented.
    :param not_runnable: the reason given by a ``<!-- not-runnable: ... -->`` line right before the fence.
    """

    path: Path
    line: int
    lang: str
    source: str
    not_runnable: str | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, info = opening["indent"], opening["info"].strip()
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = _NOT_RUNNABLE.match(previous)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{path.relative_to(ROOT)}:{i + 1}: unclosed code block"
        lang = info.split()[0].lower() if info else ""
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", marker["reason"].strip() if marker else None))
        i = j + 1
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES for block in read_blocks(path)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.lang in ("python", "py", "python3")]


def defines_dag(tree: ast.Module) -> bool:
    """Whether the code makes a DAG: a ``@dag`` function or a ``DAG(...)`` call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if getattr(target, "id", getattr(target, "attr", None)) == "dag":
                    return True
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "DAG":
            return True
    return False


def uncalled_dag_functions(tree: ast.Module) -> list[str]:
    """Names of top-level ``@dag`` functions the module never calls (such a file defines no DAG)."""
    decorated = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if getattr(target, "id", getattr(target, "attr", None)) == "dag":
                    decorated.append(node.name)
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return [name for name in decorated if name not in called]


def task_constructors(tree: ast.Module) -> list[str]:
    """Operators and sensors the code builds (``...Operator(...)``/``...Sensor(...)`` names it imports
    from Airflow or the provider): such a block is a fragment unless it also defines a DAG."""
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("airflow_provider_voice.", "airflow."))
        for alias in node.names
        if alias.name.endswith(("Operator", "Sensor"))
    }
    return sorted(
        {
            node.func.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported
        }
    )


def check_imports(tree: ast.Module, where: str) -> None:
    """Every module and name the code imports exists."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{where}: relative import in a doc example"
            module = importlib.import_module(node.module or "")
            for alias in node.names:
                if alias.name == "*" or hasattr(module, alias.name):
                    continue
                importlib.import_module(f"{node.module}.{alias.name}")  # a submodule


_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection (and name lookup) that does not stay on this machine."""
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
    connect_ex = socket.socket.connect_ex

    def host_of(address: Any) -> str | None:
        return address[0] if isinstance(address, tuple) else None  # AF_UNIX paths are local

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = host_of(address)
        assert host is None or host in _LOOPBACK, f"a doc example connected to {address!r}"
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        host = host_of(address)
        assert host is None or host in _LOOPBACK, f"a doc example connected to {address!r}"
        return connect_ex(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        assert name is None or name in _LOOPBACK, f"a doc example looked up {host!r}"
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def doc_env(voice_connections: Any, loopback_only: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The simulator with every ``<vendor>_default`` connection, a scratch working directory, and
    ``os.environ`` restored afterwards (an example may set connections itself)."""
    saved = dict(os.environ)
    monkeypatch.chdir(tmp_path)
    yield voice_connections
    os.environ.clear()
    os.environ.update(saved)


def test_the_docs_have_python_examples():
    assert len(PYTHON_BLOCKS) >= 10
    assert any(block.path.name == "README.md" for block in PYTHON_BLOCKS)


def test_not_runnable_blocks_are_rare_and_say_why():
    marked = [block for block in ALL_BLOCKS if block.not_runnable is not None]
    assert all(block.not_runnable for block in marked), [b.name for b in marked if not b.not_runnable]
    assert all(block.lang in ("python", "py", "python3") for block in marked), "a marker only means something on python"
    assert len(marked) <= MAX_NOT_RUNNABLE, [(b.name, b.not_runnable) for b in marked]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.name)
def test_python_block_runs(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    compiled = compile(block.source, block.name, "exec", dont_inherit=True)
    code = ast.parse(block.source, filename=block.name)
    check_imports(code, block.name)
    for _, text in template_strings(code):
        assert not logical_date_only_names(text), (
            f"{block.name}: {text!r} needs a logical date; use dag_run.run_after / run_id instead"
        )
    if block.not_runnable is not None:
        return
    assert defines_dag(code) or not task_constructors(code), (
        f"{block.name} builds {task_constructors(code)} outside a DAG: a fragment; put it in a complete DAG "
        "or mark the block <!-- not-runnable: reason -->"
    )
    if defines_dag(code):
        assert not uncalled_dag_functions(code), f"{block.name}: @dag function(s) never called"
        load_dags(block, tmp_path)
        return
    request.getfixturevalue("doc_env")
    namespace: dict[str, Any] = {"__name__": f"doc_example_{block.line}"}
    exec(compiled, namespace)


def load_dags(block: Block, folder: Path) -> Any:
    """A ``DagBag`` of the block written to a file: no import errors, at least one DAG."""
    from airflow.dag_processing.dagbag import DagBag

    path = folder / f"doc_{block.path.stem}_{block.line}.py"
    path.write_text(block.source, encoding="utf-8")
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    assert bag.dags, f"{block.name} defines no DAG"
    return bag


# -- the README quick start, run against the simulator ---------------------------------------------------------


def quick_start() -> Block:
    readme = [block for block in PYTHON_BLOCKS if block.path.name == "README.md"]
    assert readme, "README.md has no python block"
    return readme[0]


@pytest.mark.parametrize("logical_date", ["none", "now"])
def test_readme_quick_start_runs_against_the_simulator(logical_date, voice_connections, run_dag, tmp_path):
    bag = load_dags(quick_start(), tmp_path)
    (dag,) = bag.dags.values()
    kwargs = {"logical_date": None} if logical_date == "none" else {}
    run = run_dag(dag, **kwargs)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert (run.logical_date is None) == (logical_date == "none")
    calls = voice_connections.state.ledger.counts("octopush", "call")
    called = {"".join(ch for ch in number if ch.isdigit()): count for number, count in calls.items()}
    assert called == {"33612345678": 1, "33698765432": 1}, calls  # everyone in the list called, once


def doc_dag_block(dag_id: str) -> Block:
    """The python block that defines DAG ``dag_id`` (its ``@dag`` function's name)."""
    found = [block for block in PYTHON_BLOCKS if re.search(rf"^def {dag_id}\(", block.source, re.MULTILINE)]
    assert len(found) == 1, f"{dag_id}: {[b.name for b in found]}"
    return found[0]


#: doc DAGs that need nothing but the simulator (no S3 bucket, no /data file): run them, without a logical date
SIMULATOR_DAGS = ["renewal_followup", "kaleyra_network_check", "callback_request"]


@pytest.mark.parametrize("dag_id", SIMULATOR_DAGS)
def test_doc_dag_runs_against_the_simulator_without_a_logical_date(dag_id, voice_connections, run_dag, tmp_path):
    bag = load_dags(doc_dag_block(dag_id), tmp_path)
    run = run_dag(bag.dags[dag_id], logical_date=None)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success" and run.logical_date is None, states
    assert set(states.values()) == {"success"}, states


def test_the_checks_catch_fragments_uncalled_dags_and_markers(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# x\n\n<!-- not-runnable: needs a bucket -->\n\n```python\nx = 1\n```\n\n"
        "```bash\nrm -rf /\n```\n\n```python\n@dag(schedule=None)\ndef d():\n    pass\n```\n",
        encoding="utf-8",
    )
    marked, shell, uncalled = read_blocks(doc)
    assert (marked.lang, marked.not_runnable, marked.line) == ("python", "needs a bucket", 5)
    assert shell.lang == "bash" and shell.not_runnable is None
    assert uncalled_dag_functions(ast.parse(uncalled.source)) == ["d"]
    fragment = ast.parse(
        "from airflow_provider_voice.operators.sms import SendSMSOperator\nSendSMSOperator(task_id='x')\n"
    )
    assert task_constructors(fragment) == ["SendSMSOperator"] and not defines_dag(fragment)
    assert logical_date_only_names("{{ ds }} {{ dag_run.run_after | ds }}") == {"ds"}
