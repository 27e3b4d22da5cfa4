"""Test helpers that several test modules use: one definition each (fixtures live in ``conftest.py``).

Import them by module name, ``from helpers import Script, first_event``: ``tests/`` is on ``sys.path``
because ``tests/conftest.py`` lives there (pytest's default ``prepend`` import mode; the tests are not
packages). Nothing here imports Airflow at module level: some test modules set Airflow's environment
before their first Airflow import.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import httpx

__all__ = [
    "AIRFLOW",
    "Crash",
    "OutletEvents",
    "Script",
    "airflow_cli_env",
    "dags_test",
    "failing_midway",
    "first_event",
    "form",
    "logical_date_only_names",
    "numbers",
    "soon",
    "task_context",
    "template_strings",
]


# -- HTTP ---------------------------------------------------------------------------------------
class Script:
    """An ``httpx.MockTransport`` handler that answers from a script and records every request.

    Each request takes the next step; the last step answers every request after it. A step is an
    ``httpx.Response`` (returned) or an exception (raised, e.g. ``httpx.ReadTimeout``).

    :param steps: the responses/exceptions, in order (at least one).
    """

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        if not steps:
            raise ValueError("a Script needs at least one step")
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and play the next step.

        :param request: the request the client sent.
        """
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


def form(request: httpx.Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body of ``request`` as a dict.

    A field sent twice fails the test (a dict would silently keep one of the values).

    :param request: the request the client sent.
    """
    pairs = parse_qsl(request.content.decode(), keep_blank_values=True)
    repeated = sorted(name for name, count in Counter(name for name, _ in pairs).items() if count > 1)
    assert not repeated, f"form fields sent more than once: {repeated}"
    return dict(pairs)


# -- triggers -----------------------------------------------------------------------------------
async def first_event(
    trigger: Any, *, during: Callable[[], Awaitable[Any]] | None = None, timeout: float = 20.0
) -> dict[str, Any]:
    """The payload of the first event ``trigger.run()`` yields; the generator is closed after it.

    From a synchronous test: ``asyncio.run(first_event(trigger))``.

    :param trigger: the trigger to run (anything with an async-generator ``run()``).
    :param during: awaited while the trigger runs (e.g. to finish the calls it waits for).
    :param timeout: seconds the trigger gets to yield (a bound, so a stuck trigger fails the test).
    :raises AssertionError: the trigger ended without yielding an event.
    """
    events = trigger.run()

    async def consume() -> dict[str, Any]:
        async for event in events:
            return event.payload
        raise AssertionError("the trigger ended without an event")

    task = asyncio.create_task(consume())
    try:
        if during is not None:
            await during()
        return await asyncio.wait_for(task, timeout=timeout)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await events.aclose()


def soon(seconds: float) -> str:
    """An ISO-8601 UTC deadline ``seconds`` from now (as triggers serialize it).

    :param seconds: how far ahead.
    """
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()


# -- tasks --------------------------------------------------------------------------------------
def numbers(n: int, start: int = 0) -> list[str]:
    """``n`` distinct valid French mobile numbers in E.164 (``+336123xxxxx``).

    :param n: how many.
    :param start: index of the first one (to make a second, disjoint list).
    """
    return [f"+336123{i:05d}" for i in range(start, start + n)]


def task_context(
    *,
    dag_id: str = "dag",
    task_id: str = "send",
    run_id: str = "run-1",
    map_index: int = -1,
    try_number: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """The smallest task context an operator's ``execute`` reads: its task instance's identity.

    A test module binds its own DAG id once: ``context = functools.partial(task_context, dag_id="sms")``.

    :param dag_id: the DAG id (checkpoints are keyed by it: one per test module keeps them apart).
    :param task_id: the task id.
    :param run_id: the DAG run id.
    :param map_index: the map index (``-1``: not mapped).
    :param try_number: the try (a retry is ``2``...).
    :param extra: more context keys (``data_interval_start``, ``outlet_events``...).
    """
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number)
    return {"ti": ti, **extra}


class OutletEvents(dict[Any, Any]):
    """Stands in for ``context["outlet_events"]``: an accessor with an ``extra`` per asset, made on first use."""

    def __missing__(self, key: Any) -> Any:
        self[key] = SimpleNamespace(extra=None)
        return self[key]


@contextlib.contextmanager
def failing_midway(limit: int) -> Iterator[None]:
    """Inside this block, a send fails with ``OSError`` after reading ``limit`` recipients (the worker
    loses its spilled recipients file mid-way): validation read every row, the frames cut before the
    failure are sent, the rest are not.

    :param limit: recipients the send reads before the failure.
    """
    from unittest import mock

    from airflow_provider_voice.capabilities.recipients import _Spill

    reading = _Spill.__iter__

    def failing(spill: Any) -> Iterator[Any]:
        for position, recipient in enumerate(reading(spill)):
            if position == limit:
                raise OSError("worker lost its recipients file")
            yield recipient

    with mock.patch.object(_Spill, "__iter__", failing):
        yield


class Crash(BaseException):
    """The worker dies (SIGKILL): not an ``Exception``, so nothing may catch and record it."""


# -- templates ----------------------------------------------------------------------------------
def template_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, text)`` of every string constant in ``tree`` that holds a Jinja expression or statement.

    :param tree: parsed Python code.
    """
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ("{{" in node.value or "{%" in node.value)
    ]


def logical_date_only_names(text: str) -> set[str]:
    """The context keys a template reads that exist only when a run has a logical date.

    Parsed with a DAG's Jinja environment, so Airflow's ``ds``/``ts_nodash``... filters are known.

    :param text: the template.
    """
    import jinja2.meta
    from airflow.sdk import DAG

    from airflow_provider_voice.testing.runs import LOGICAL_DATE_ONLY

    env = DAG(dag_id="template_check", schedule=None).get_template_env()
    return jinja2.meta.find_undeclared_variables(env.parse(text)) & LOGICAL_DATE_ONLY


# -- the Airflow CLI ------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow_cli_env(simulator_server: Any, home: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``airflow`` CLI subprocess (as ``make demo`` runs it): a fresh migrated
    SQLite ``AIRFLOW_HOME`` at ``home``, the repository's DAGs, the connections on ``simulator_server``,
    plus ``extra`` variables."""
    from airflow_provider_voice.testing.demo import connection_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW_PROVIDER_VOICE_DEMO_DIR": str(home / "demo"),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    env.update(connection_env(simulator_server))
    done = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return env


def dags_test(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None) -> list[str]:
    """``airflow dags test dag_id`` (must succeed); the ``DEMO|`` lines it printed."""
    cmd = [AIRFLOW, "dags", "test", dag_id] + (["-c", json.dumps(conf)] if conf else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return [line.split("DEMO|", 1)[1].strip() for line in output.splitlines() if "DEMO|" in line]
