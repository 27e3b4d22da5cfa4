"""Every example DAG runs without a logical date, as Airflow 3 runs a DAG triggered from the REST API
or ``airflow dags trigger``: no ``ds``/``ts``/``logical_date``/``data_interval_*`` in the context.

``dag.test(logical_date=None)`` creates exactly such a run (``logical_date``, ``data_interval_*``
None; ``run_after`` set) and runs it against the simulator. A static check also refuses templates in
``dags/`` that read a context key a run without a logical date does not have.
"""

from __future__ import annotations

import ast
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import logical_date_only_names, template_strings

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_templates_in_dags_do_not_need_a_logical_date(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    offending = [(line, text) for line, text in template_strings(tree) if logical_date_only_names(text)]
    assert not offending, f"{path.name}: templates that fail without a logical date: {offending}"


def test_the_static_check_catches_logical_date_templates():
    assert logical_date_only_names("reminders {{ ds }}") == {"ds"}
    assert logical_date_only_names("{{ data_interval_end.add(days=7) }} {{ ts_nodash }}") == {
        "data_interval_end",
        "ts_nodash",
    }
    assert logical_date_only_names("{{ dag_run.run_after | ds }} {{ run_id }} {{ params.x }}") == set()


# -- running every example DAG without a logical date ------------------------------------------------


def rendered(run: Any, task_id: str) -> dict[str, Any]:
    """The rendered template fields Airflow stored for ``task_id`` in ``run``."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(RenderedTaskInstanceFields.rendered_fields).where(
                RenderedTaskInstanceFields.dag_id == run.dag_id,
                RenderedTaskInstanceFields.run_id == run.run_id,
                RenderedTaskInstanceFields.task_id == task_id,
            )
        )


def check_voice_campaign(sim: Any, run: Any, out: str) -> None:
    name = f"example {run.run_id}"  # unique per run: two runs in one second must not share a name
    assert f"campaign {name!r}" in out, out
    assert rendered(run, "send")["campaign_name"] == name


def check_redial(sim: Any, run: Any, out: str) -> None:
    assert "DEMO| velip campaign" in out and "DEMO|   round 1: 40 called" in out, out
    assert "DEMO|   final: 40 people" in out, out
    calls: dict[str, int] = {}
    for entry in sim.state.ledger.entries("velip", "call"):
        calls[entry.number] = calls.get(entry.number, 0) + 1
    assert len(calls) == 40 and set(calls.values()) <= {1, 3} and 3 in calls.values(), calls


def check_click_to_call(sim: Any, run: Any, out: str) -> None:
    assert rendered(run, "kaleyra_click_to_call")["vendor_options"]["custom"] == f"demo-{run.run_after:%Y%m%d}"
    assert len(sim.state.ledger.entries("kaleyra", "click2call")) == 2


def check_sms_and_optouts(sim: Any, run: Any, out: str) -> None:
    texts = [entry.details["content"] for entry in sim.state.ledger.entries("televoips", "sms")]
    assert texts and all(f"{run.run_after:%Y-%m-%d}" in text for text in texts), texts[:3]
    assert "first SMS: 28 accepted, 2 refused, 0 suppressed (of 30)" in out, out
    assert "reminder SMS: 26 accepted, 0 refused, 4 suppressed" in out, out


def check_daily_cdr(sim: Any, run: Any, out: str) -> None:
    assert "DEMO| CDR report of " in out and ": 20 rows" in out, out


def check_connections(sim: Any, run: Any, out: str) -> None:
    assert "DEMO|   kaleyra    OK" in out, out


def seed_opt_out(tmp: Path) -> None:
    """A STOP from an audience member, stored as the webhook receiver stores it (no conf)."""
    import datetime as dt

    from airflow_provider_voice.delivery.event_store import configured_event_store
    from airflow_provider_voice.models.events import VoiceEvent

    stop = VoiceEvent(
        vendor="televoips",
        conn_id="televoips_default",
        kind="opt-outs",
        event_id=f"keyword:message-received:{tmp.name}",
        received_at=dt.datetime.now(dt.timezone.utc),
        number="+14155552673",
        text="STOP",
        outcome="opted_out",
    )
    store = configured_event_store()
    store.ingest([stop])


def check_optout_events(sim: Any, run: Any, out: str) -> None:
    assert "DEMO| opt-out events read: 1 (1 distinct numbers)" in out, out
    assert [e.number for e in sim.state.ledger.entries("televoips", "unsubscribe")] == ["14155552673"]
    assert "14155552673" not in sim.state.ledger.counts("televoips", "sms"), "an opted-out person was texted"


def check_on_call(sim: Any, run: Any, out: str) -> None:
    (sms,) = sim.state.ledger.entries("velip", "sms")  # one page for the failure, on both tries' retry callbacks
    assert (
        sms.details["message"]
        == f"Airflow: nightly_export of example_on_call failed in run {run.run_id}. Please have a look."
    )
    assert len(sim.state.ledger.entries("kaleyra", "call")) == 2  # the notifier's call and the operator's
    assert "DEMO| nightly_export exported on try 3; on-call paged 2 times for its failure" in out, out
    assert "DEMO| kaleyra call " in out and "to +91********10" in out, out


def check_quiet_hours(sim: Any, run: Any, out: str) -> None:
    assert "DEMO| dry run under FR_MARKETING:" in out and "nobody called" in out, out
    calls = sim.state.ledger.entries("octopush", "call")
    assert len(calls) == 6 and len({c.number for c in calls}) == 6  # the dry run called nobody; the send each once
    assert (
        "DEMO| send under 'demo window': 6 called once the window opened (0 still held, 0 beyond the deadline)" in out
    ), out


#: every example DAG: (conf, check); a new example DAG must be added here
EXAMPLES: dict[str, tuple[Callable[[Path], dict[str, Any] | None], Callable[[Any, Any, str], None]]] = {
    "example_voice_campaign": (lambda tmp: {"vendor": "octopush"}, check_voice_campaign),
    "example_click_to_call": (lambda tmp: None, check_click_to_call),
    "example_sms_and_optouts": (lambda tmp: {"suppression_file": str(tmp / "optouts.csv")}, check_sms_and_optouts),
    "example_daily_cdr": (lambda tmp: None, check_daily_cdr),
    "example_connections": (lambda tmp: None, check_connections),
    "example_optout_events": (seed_opt_out, check_optout_events),
    "example_redial": (lambda tmp: {"vendor": "velip"}, check_redial),
    "example_on_call": (lambda tmp: None, check_on_call),
    "example_quiet_hours": (lambda tmp: {"window_delay": 3}, check_quiet_hours),
}


def test_every_example_dag_is_in_the_table():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dag_ids) == set(EXAMPLES)


@pytest.fixture
def demo_env(voice_connections: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The simulator with fast calls and CDRs; the CDR demo folder emptied."""
    shutil.rmtree(Path(os.environ["AIRFLOW_PROVIDER_VOICE_DEMO_DIR"]) / "cdrs", ignore_errors=True)
    monkeypatch.setenv("AIRFLOW_PROVIDER_VOICE_SIMULATOR_URL", voice_connections.url)
    voice_connections.state.configure(call_seconds=1.0, cdr_compile_seconds=1.0, cdr_rows=20)
    return voice_connections


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_example_dag_runs_without_a_logical_date(dag_id, demo_env, run_dag, tmp_path, capsys):
    conf, check = EXAMPLES[dag_id]
    run = run_dag(dag_id, conf=conf(tmp_path), logical_date=None)
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert all(state == "success" for state in states.values()), states
    assert run.logical_date is None and run.data_interval_start is None and run.data_interval_end is None
    assert run.run_after is not None
    check(demo_env, run, capsys.readouterr().out)
