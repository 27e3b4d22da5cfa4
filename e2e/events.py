"""Listen back on the deployment: vendor webhooks and the event watcher, end to end.

The simulator's TeleVoIPs sends its webhooks to the provider's receiver on the api-server
(``/voice-webhooks/televoips_default/messages``, Basic auth from the connection's extras); the
receiver stores each event once in the event store (``[voice] events_path``, on S3) and announces
Asset events; DAGs scheduled on those Assets read the events with ``triggering_voice_events``.

* :meth:`EventTests.optout_loop`: an inbound "STOP" (``POST /_sim/televoips/inbound``) → webhook →
  Asset event → an ``asset_triggered`` run of ``example_optout_events`` unsubscribes the person at
  TeleVoIPs and its reminder skips them (simulator ledger).
* :meth:`EventTests.burst`: 1,000 ``message-received`` webhooks held, then released at once, with
  10 % sent twice and delivered out of order; ``e2e_events_consumer`` must read every one exactly
  once across its runs, and the store must hold each once. Airflow may leave the tail of a burst of
  Asset events for the next Asset event, so while no consumer run is queued or running and events
  are still unread, a "flush" event is posted every :data:`FLUSH_INTERVAL` s (until
  :data:`BURST_DEADLINE`).
* :meth:`EventTests.refusals`: straight at the receiver: no credentials and a wrong password →
  401, a 2 MB body → 413, garbage → 400, one event posted 5 times → five 200s, stored once.
* :meth:`EventTests.watcher`: the pull path: ``e2e_events_watcher`` (an ``AssetWatcher`` with a
  ``VoiceEventTrigger`` polling ``GET /messages`` of ``televoips_pull``) while inbound messages are
  injected (the webhook switched off) and the triggerer is killed with ``kill -9`` and restarted;
  every injected message must be read exactly once.

The simulator's webhook URL is set at the start of this phase (:meth:`EventTests.point_webhooks`),
not before the example runs: a recipient whose outcome is "blocked" replies STOP to
``example_sms_and_optouts``, and with the webhook on that would start ``example_optout_events``,
whose reminders would then be counted in the TeleVoIPs SMS ledger check of the example runs.
``example_optout_events`` is paused after the opt-out loop: the burst's synthetic replies include
STOP and UNSUBSCRIBE, which it would otherwise act on.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .api import AirflowApi, Simulator
from .procs import E2EError, wait_for
from .scenario import Scenario
from .stack import BUCKET, REPO, WEBHOOK_USERNAME, Stack

CONSUMER_DAG = "e2e_events_consumer"
WATCHER_DAG = "e2e_events_watcher"
OPTOUT_DAG = "example_optout_events"
#: the TeleVoIPs number people write to (one of the simulator's owned numbers)
OWNED_NUMBER = "13214567890"
#: the person of ``example_optout_events``' audience who replies STOP
OPTOUT_PERSON = "+14155552671"
BURST_EVENTS = 1000
BURST_DUPLICATE_RATE = 0.1
#: seconds between two flush events once the simulator's outbox is empty
FLUSH_INTERVAL = 10.0
#: seconds the runs may take to read the whole burst after the outbox drained
BURST_DEADLINE = 300.0
#: the watcher scenario: messages injected, seconds between two, and after how many the triggerer dies
WATCHER_MESSAGES = 60
WATCHER_INTERVAL = 0.5
WATCHER_KILL_AFTER = 25
FINISHED = {"success", "failed"}
STORE_PREFIX = "events/televoips/{conn_id}/{kind}/"
MESSAGES_PREFIX = STORE_PREFIX.format(conn_id="televoips_default", kind="messages-received")


def watcher_available() -> bool:
    """Whether the provider has the pull path (``airflow_provider_voice/triggers/events.py``, ``VoiceEventTrigger``)."""
    return (REPO / "airflow_provider_voice" / "triggers" / "events.py").exists()


@dataclass
class ConsumerRuns:
    """The runs of a consumer DAG and the event ids each one's ``consume`` task pushed to XCom.

    :param api: the REST API.
    :param dag_id: the consumer DAG.
    :param task_id: the task whose ``return_value`` is ``{"count", "event_ids", "refs"}``.
    """

    api: AirflowApi
    dag_id: str
    task_id: str = "consume"
    states: dict[str, str] = field(default_factory=dict)
    run_types: dict[str, str] = field(default_factory=dict)
    refs: dict[str, list[str]] = field(default_factory=dict)

    def refresh(self) -> None:
        """Read every run's state, and the XCom of runs that finished since the last call."""
        for run in _all_runs(self.api, self.dag_id):
            run_id = run["dag_run_id"]
            self.states[run_id] = run["state"]
            self.run_types[run_id] = run["run_type"]
            if run["state"] in FINISHED and run_id not in self.refs:
                value = self.api.xcom(self.dag_id, run_id, self.task_id)
                self.refs[run_id] = list(value.get("refs") or []) if isinstance(value, dict) else []

    def pending(self) -> list[str]:
        """Runs not finished yet."""
        return [r for r, s in self.states.items() if s not in FINISHED]

    def failed(self) -> list[str]:
        """Runs that failed."""
        return [r for r, s in self.states.items() if s == "failed"]

    def consumed(self, runs: set[str] | None = None) -> Counter[str]:
        """How many runs read each vendor id (only ``runs`` when given)."""
        counts: Counter[str] = Counter()
        for run_id, refs in self.refs.items():
            if runs is None or run_id in runs:
                counts.update(set(refs))
        return counts

    def in_two_runs(self, runs: set[str] | None = None) -> list[str]:
        """Ids read by more than one run (or twice by one run)."""
        counts: Counter[str] = Counter()
        for run_id, refs in self.refs.items():
            if runs is None or run_id in runs:
                counts.update(refs)
        return sorted(ref for ref, n in counts.items() if n > 1)


def _all_runs(api: AirflowApi, dag_id: str) -> list[dict[str, Any]]:
    """Every run of a DAG (the REST API pages at 100)."""
    out: list[dict[str, Any]] = []
    while True:
        page = api.get(f"/dags/{dag_id}/dagRuns", limit=100, offset=len(out), order_by="id")
        out += page["dag_runs"]
        if not page["dag_runs"] or len(out) >= int(page["total_entries"]):
            return out


class EventTests:
    """The Listen-back steps on a running :class:`Stack`; each check goes to ``scenario``.

    :param stack: the deployment.
    :param api: the REST API.
    :param scenario: where the checks and the summary lines go.
    """

    def __init__(self, stack: Stack, api: AirflowApi, scenario: Scenario) -> None:
        self.stack = stack
        self.api = api
        self.scenario = scenario
        self.sim = Simulator(stack.sim_url)
        self.consumer = ConsumerRuns(api, CONSUMER_DAG)
        self.http = httpx.Client(timeout=30, trust_env=False)

    # -- helpers -------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> None:
        """One check of the run."""
        self.scenario.check(name, ok, detail)

    def note(self, line: str) -> None:
        """A line of the run summary."""
        self.scenario.notes.append(line)
        print(f"e2e: {line}", flush=True)

    def _sim(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, self.stack.sim_url + path, json=body)
        if answer.status_code != 200:
            raise E2EError(f"simulator {method} {path}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def outbox(self) -> dict[str, Any]:
        """The simulator's webhook counters (no attempt list)."""
        return dict(self._sim("GET", "/_sim/webhooks?attempts=0"))

    def wait_drained(self, what: str, timeout: float) -> dict[str, Any]:
        """Until the simulator's outbox is empty (nothing pending, nothing in flight)."""

        def drained() -> dict[str, Any] | None:
            self.stack.procs.check_alive()
            box = self.outbox()
            return box if box["pending"] == 0 and box["in_flight"] == 0 and not box["held"] else None

        return wait_for(what, drained, timeout=timeout, interval=0.5)

    def stored(self, conn_id: str = "televoips_default", kind: str = "messages-received") -> int:
        """Event objects under ``events/televoips/<conn_id>/<kind>/`` on S3."""
        client = self.stack.s3_client()
        prefix = STORE_PREFIX.format(conn_id=conn_id, kind=kind)
        total = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            total += sum(1 for o in page.get("Contents", []) if o["Key"].endswith(".json"))
        return total

    def _auth_header(self, password: str | None = None) -> dict[str, str]:
        raw = f"{WEBHOOK_USERNAME}:{self.stack.webhook_secret if password is None else password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    # -- steps ---------------------------------------------------------------------------------
    def point_webhooks(self) -> None:
        """The simulator's TeleVoIPs messaging webhook → the receiver on the api-server (Basic auth)."""
        self.sim.configure(
            televoips_webhook_url=self.stack.webhook_url(), televoips_webhook_auth=self.stack.webhook_auth()
        )
        # the receiver is mounted and answers (401 without credentials) before anything is sent to it
        answer = wait_for("the webhook receiver on the api-server",
                          lambda: self.http.post(self.stack.webhook_url(), json={}), timeout=60)  # fmt: skip
        if answer.status_code != 401:
            raise E2EError(f"POST {self.stack.webhook_url()} without credentials: HTTP {answer.status_code}, not 401")
        self.consumer.refresh()

    def optout_loop(self, timeout: float = 240) -> None:
        """STOP from a person of the audience → ``example_optout_events`` unsubscribes them, the reminder skips them.

        The DAG is paused afterwards, passed or not: the burst's synthetic replies say STOP and UNSUBSCRIBE too.
        """
        try:
            self._optout_loop(timeout)
        finally:
            self.api.send("PATCH", f"/dags/{OPTOUT_DAG}", {"is_paused": True})

    def _optout_loop(self, timeout: float) -> None:
        person = OPTOUT_PERSON.lstrip("+")
        ledger_before = self.sim.ledger("televoips")
        before = {run["dag_run_id"] for run in _all_runs(self.api, OPTOUT_DAG)}
        started = time.monotonic()
        sent = self._sim("POST", "/_sim/televoips/inbound", {"from": OPTOUT_PERSON, "to": OWNED_NUMBER, "text": "STOP"})
        message_id = sent["event_ids"][0]

        def acted() -> dict[str, Any] | None:
            self.stack.procs.check_alive()
            for run in _all_runs(self.api, OPTOUT_DAG):
                if run["dag_run_id"] in before or run["state"] not in FINISHED:
                    continue
                numbers = self.api.xcom(OPTOUT_DAG, run["dag_run_id"], "opt_outs") or []
                if OPTOUT_PERSON in numbers:
                    return run
            return None

        run = wait_for(f"a run of {OPTOUT_DAG} that read the STOP", acted, timeout=timeout, interval=1)
        seconds = time.monotonic() - started
        # a reminder can make another STOP (a "blocked" recipient replies): let every run end first
        self._settle(OPTOUT_DAG, before, timeout=max(30.0, timeout - seconds))
        run_id = run["dag_run_id"]
        reminder = self.api.xcom(OPTOUT_DAG, run_id, "send_reminder") or {}
        blocked = self.api.xcom(OPTOUT_DAG, run_id, "unsubscribe") or {}
        ledger = self.sim.ledger("televoips")[len(ledger_before) :]
        unsubscribed = [e for e in ledger if e["action"] == "unsubscribe" and _digits(e["number"]) == person]
        texted = [e for e in ledger if e["action"] == "sms" and _digits(e["number"]) == person]
        runs = [r for r in _all_runs(self.api, OPTOUT_DAG) if r["dag_run_id"] not in before]
        self.check(
            "opt-out loop: STOP webhook -> Asset event -> example_optout_events",
            run["state"] == "success" and run["run_type"] == "asset_triggered",
            f"inbound STOP {message_id[:6]}... read by run {run_id} ({run['run_type']}, {run['state']}) "
            f"{seconds:.0f} s after it was sent; {len(runs)} new run(s): "
            + ", ".join(f"{r['run_type']} {r['state']}" for r in runs),
        )
        self.check(
            "opt-out loop: unsubscribed once at TeleVoIPs, not texted by the reminder",
            len(unsubscribed) == 1 and not texted and int(reminder.get("rejected", -1)) == 0
            and int(reminder.get("suppressed", 0)) >= 1,
            f"ledger since the STOP: {len(unsubscribed)} unsubscribe and {len(texted)} SMS for {OPTOUT_PERSON[:6]}...; "
            f"unsubscribe changed {blocked.get('changed')}; the reminder: accepted {reminder.get('accepted')}, "
            f"suppressed {reminder.get('suppressed')}, rejected {reminder.get('rejected')} of {reminder.get('total')}",
        )  # fmt: skip
        self.note(f"opt-out loop: STOP to {OPTOUT_DAG} in {seconds:.0f} s ({len(runs)} run(s))")

    def _settle(self, dag_id: str, before: set[str], *, timeout: float) -> None:
        """Until no run of ``dag_id`` started after ``before`` is unfinished and the outbox is empty, 3 reads in a row."""
        calm = {"rounds": 0}

        def settled() -> bool:
            open_runs = [r for r in _all_runs(self.api, dag_id) if r["dag_run_id"] not in before
                         and r["state"] not in FINISHED]  # fmt: skip
            box = self.outbox()
            quiet = not open_runs and box["pending"] == 0 and box["in_flight"] == 0
            calm["rounds"] = calm["rounds"] + 1 if quiet else 0
            return calm["rounds"] >= 3  # the publisher sweeps every 5 s: 3 quiet reads 3 s apart

        wait_for(f"the runs of {dag_id} to settle", settled, timeout=timeout, interval=3)

    def burst(self) -> None:
        """1,000 webhooks at once (10 % twice, out of order): each read by exactly one consumer run, stored once."""
        stored_before = self.stored()
        self.consumer.refresh()
        runs_before = set(self.consumer.states)
        box_before = self.outbox()
        self.sim.configure(webhook_reorder=True)
        self._sim("POST", "/_sim/webhooks/hold")
        emitted = self._sim("POST", "/_sim/webhooks/emit", {
            "vendor": "televoips", "kind": "message-received", "count": BURST_EVENTS,
            "duplicate_rate": BURST_DUPLICATE_RATE, "burst": True,
        })  # fmt: skip
        ids = set(emitted["event_ids"])
        released = time.monotonic()
        self._sim("POST", "/_sim/webhooks/release")
        self.wait_drained("the simulator to deliver the burst", timeout=300)
        drained = time.monotonic() - released
        self.sim.configure(webhook_reorder=False)
        flush: list[str] = []
        last_flush = time.monotonic()
        deadline = time.monotonic() + BURST_DEADLINE
        covered_at: float | None = None

        def new_runs() -> set[str]:
            return set(self.consumer.states) - runs_before

        while True:
            self.stack.procs.check_alive()
            self.consumer.refresh()
            missing = ids - set(self.consumer.consumed(new_runs()))
            idle = not self.consumer.pending()
            if not missing and covered_at is None:
                covered_at = time.monotonic()
            if (not missing and idle) or time.monotonic() >= deadline:
                break
            if missing and idle and time.monotonic() - last_flush >= FLUSH_INTERVAL:
                # the consumer is idle with events unread: the tail waits for the next Asset event
                one = self._sim("POST", "/_sim/webhooks/emit", {
                    "vendor": "televoips", "kind": "message-received", "count": 1, "duplicate_rate": 0,
                })  # fmt: skip
                flush += one["event_ids"]
                last_flush = time.monotonic()
            time.sleep(1)
        finished = time.monotonic() - released
        box = self.wait_drained("the simulator to deliver the flush events", timeout=60)
        tries = Counter(
            str(a["status"]) if a["status"] is not None else str(a.get("error") or "no answer")
            for a in self._sim("GET", "/_sim/webhooks")["attempts"]
            if a["event_id"] in ids or a["event_id"] in flush
        )
        runs = new_runs()
        consumed = self.consumer.consumed(runs)
        twice = self.consumer.in_two_runs(runs)
        missing = sorted(ids - set(consumed))
        failed = [r for r in runs if self.consumer.states[r] == "failed"]
        unfinished = [r for r in runs if self.consumer.states[r] not in FINISHED]
        stored = self.stored() - stored_before
        delivered = box["delivered"] - box_before["delivered"]
        gave_up = box["gave_up"] - box_before["gave_up"]
        dropped = box["dropped"] - box_before["dropped"]
        duplicates = box["duplicates"] - box_before["duplicates"]
        requests = delivered + box["failed"] - box_before["failed"]
        read_in = f"{covered_at - released:.0f} s" if covered_at is not None else f"NOT within {finished:.0f} s"
        self.check(
            "webhook burst: every event read by exactly one consumer run",
            not missing and not twice and not failed and not unfinished and len(ids) == BURST_EVENTS,
            f"{len(ids)} distinct events emitted; {len(runs)} runs of {CONSUMER_DAG} read "
            f"{sum(len(self.consumer.refs.get(r, [])) for r in runs)} events ({len(flush)} flush events posted); "
            f"missing {len(missing)}{' e.g. ' + ', '.join(missing[:3]) if missing else ''}; read by two runs "
            f"{len(twice)}{' e.g. ' + ', '.join(twice[:3]) if twice else ''}; failed runs {failed[:5]}; "
            f"unfinished runs {len(unfinished)}; all read {read_in} after the release",
        )
        self.check(
            "webhook burst: each event stored once",
            stored == len(ids) + len(flush),
            f"{stored} new objects under s3://{BUCKET}/{MESSAGES_PREFIX} for {len(ids)} distinct events + "
            f"{len(flush)} flush events",
        )
        self.check(
            "webhook burst: the simulator delivered every copy (duplicates included), none given up",
            delivered == int(emitted["deliveries"]) + len(flush)
            and duplicates == int(emitted["deliveries"]) - len(ids) > 0
            and requests >= delivered and gave_up == 0 and not dropped,
            f"{delivered} deliveries accepted = {len(ids)} events + {duplicates} duplicate copies + {len(flush)} "
            f"flush; {requests} requests ({dict(sorted(tries.items()))}); gave up {gave_up}, dropped {dropped}; "
            f"outbox drained {drained:.0f} s after the release",
        )  # fmt: skip
        self.note(
            f"webhook burst: emitted {len(ids)}, deliveries {delivered} (incl. {duplicates} duplicate copies, "
            f"{len(flush)} flush; {requests} requests with retries), stored {stored}, consumer runs {len(runs)}, "
            f"consumed {len(consumed)} distinct ({sum(consumed.values())} reads); outbox drained in {drained:.0f} s, "
            f"all read in {read_in}"
        )

    def refusals(self) -> None:
        """Straight at the receiver: 401 without or with wrong credentials, 413, 400; a replay stored once."""
        from airflow_provider_voice.testing.televoips import message_event

        url = self.stack.webhook_url()
        message_id = "e2ereplay" + secrets.token_hex(10)
        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        body = message_event("message-received", message_id, when, OWNED_NUMBER, "14155550199", text="replayed")
        results: list[tuple[str, int, int]] = []

        def post(what: str, expected: int, content: bytes, headers: dict[str, str]) -> int:
            try:
                status = self.http.post(url, content=content, headers={"Content-Type": "application/json", **headers})
                code = status.status_code
            except httpx.HTTPError as err:  # a server that closes on a big body: say so
                code = -1
                what += f" ({type(err).__name__})"
            results.append((what, expected, code))
            return code

        raw = json.dumps(body).encode()
        post("no credentials", 401, raw, {})
        post("wrong password", 401, raw, self._auth_header("wrong-password-" + secrets.token_hex(8)))
        post("2 MB body", 413, b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}', self._auth_header())
        post("not JSON", 400, b"\x00garbage{{", self._auth_header())
        post("JSON, not a TeleVoIPs event", 400, b'{"hello": "world"}', self._auth_header())
        for detail, expected, code in results:
            self.check(f"webhook refused: {detail} -> {expected}", code == expected, f"HTTP {code}")
        before = self.stored()
        codes = [post(f"replay {i + 1}", 200, raw, self._auth_header()) for i in range(5)]
        time.sleep(0.5)
        after = self.stored()
        key = _event_key(message_id)
        client = self.stack.s3_client()
        found = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{MESSAGES_PREFIX}{key[:2]}/{key}").get("KeyCount", 0)
        self.check("webhook replayed 5 times: five 200s, stored once", codes == [200] * 5 and after - before == 1
                   and found == 1, f"answers {codes}; {after - before} new event object(s), {found} for its key")  # fmt: skip

    def watcher(self) -> None:
        """The pull path under a triggerer crash: every injected message read exactly once.

        The messaging webhook is switched off first, so the injected messages reach Airflow only
        through the watcher (and the webhook consumer does not hold the worker's two slots).
        """
        self.sim.configure(televoips_webhook_url=None)
        consumer = ConsumerRuns(self.api, WATCHER_DAG)
        consumer.refresh()
        runs_before = set(consumer.states)
        stored_before = self.stored("televoips_pull")
        ids: list[str] = []
        down: dict[str, float] = {}
        errors: list[str] = []

        def inject() -> None:
            try:
                for index in range(WATCHER_MESSAGES):
                    sent = self._sim("POST", "/_sim/televoips/inbound", {
                        "from": f"+1415555{3000 + index:04d}", "to": OWNED_NUMBER, "text": f"e2e pull {index}",
                    })  # fmt: skip
                    ids.extend(sent["event_ids"])
                    if index + 1 == WATCHER_KILL_AFTER:
                        down["stored_at_kill"] = self.stored("televoips_pull")
                        down["pid"] = self.stack.kill_component("triggerer")
                        down["killed"] = time.monotonic()
                        time.sleep(2)
                        down["new_pid"] = self.stack.restart_component("triggerer")
                    time.sleep(WATCHER_INTERVAL)
            except Exception as err:  # reported by the check below
                errors.append(f"{type(err).__name__}: {err}")

        def back() -> None:
            if "killed" in down and "back" not in down and self.stored("televoips_pull") > down["stored_at_kill"]:
                down["back"] = time.monotonic()

        started = time.monotonic()
        thread = threading.Thread(target=inject, name="e2e-inject", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
            back()
        injected_in = time.monotonic() - started
        if errors or "killed" not in down:
            raise E2EError(f"injecting inbound messages failed: {errors or 'the triggerer was not killed'}")
        wanted = set(ids)
        deadline = time.monotonic() + 240

        def done() -> bool:
            self.stack.procs.check_alive()
            back()
            consumer.refresh()
            runs = set(consumer.states) - runs_before
            return not (wanted - set(consumer.consumed(runs))) and not consumer.pending()

        while not done() and time.monotonic() < deadline:
            time.sleep(2)
        read_in = time.monotonic() - started
        runs = set(consumer.states) - runs_before
        consumed = consumer.consumed(runs)
        missing = sorted(wanted - set(consumed))
        twice = consumer.in_two_runs(runs)
        failed = [r for r in runs if consumer.states[r] == "failed"]
        unfinished = [r for r in runs if consumer.states[r] not in FINISHED]
        outage = f"{down['back'] - down['killed']:.0f} s" if "back" in down else "until the end (never back)"
        stored = self.stored("televoips_pull") - stored_before
        self.check(
            "event watcher: kill -9 of the triggerer, every message read exactly once",
            not missing and not twice and not failed and not unfinished and len(wanted) == WATCHER_MESSAGES,
            f"{len(wanted)} inbound messages injected in {injected_in:.0f} s; triggerer pid {down['pid']} killed "
            f"after {WATCHER_KILL_AFTER}, restarted 2 s later as pid {down.get('new_pid')}; watcher down {outage} "
            f"(kill to the next event stored); {len(runs)} runs of {WATCHER_DAG} read {sum(consumed.values())} "
            f"events ({len(set(consumed) & wanted)} of the injected) by {read_in:.0f} s; missing {len(missing)}; "
            f"read twice {len(twice)}; failed runs {failed[:5]}; unfinished {len(unfinished)}; {stored} events "
            f"stored for televoips_pull",
        )
        self.note(
            f"event watcher: injected {len(wanted)} in {injected_in:.0f} s, triggerer killed after "
            f"{WATCHER_KILL_AFTER}, watcher down {outage}, runs {len(runs)}, consumed "
            f"{len(set(consumed) & wanted)} of the injected ({sum(consumed.values())} reads in all), all read by "
            f"{read_in:.0f} s"
        )

    def final_consumer_check(self) -> None:
        """Over the whole phase, no event was read by two runs of ``e2e_events_consumer``."""
        self.consumer.refresh()
        twice = self.consumer.in_two_runs()
        self.check(f"{CONSUMER_DAG}: no event read by two runs (whole run)", not twice,
                   f"{len(self.consumer.refs)} runs read {sum(self.consumer.consumed().values())} events; "
                   f"read twice: {len(twice)}")  # fmt: skip


def _digits(number: str) -> str:
    return "".join(ch for ch in str(number) if ch.isdigit())


def _event_key(message_id: str) -> str:
    """The store key of the ``message-received`` event with this id, as the receiver computes it."""
    from airflow_provider_voice.models.events import WebhookRequest
    from airflow_provider_voice.testing.televoips import message_event
    from airflow_provider_voice.vendors.televoips.events import parse_message_webhook

    body = message_event("message-received", message_id, "2026-01-01 00:00:00", OWNED_NUMBER, "14155550199", text="x")
    request = WebhookRequest(method="POST", query={}, body=json.dumps(body).encode(), content_type="application/json",
                             received_at=dt.datetime.now(dt.timezone.utc))  # fmt: skip
    events = [e for e in parse_message_webhook(request, "televoips_default") if e.kind == "messages-received"]
    return events[0].key


def run_event_steps(
    stack: Stack, api: AirflowApi, scenario: Scenario, step: Callable[[str, Callable[[], Any]], Any]
) -> None:
    """Every Listen-back step, each through ``step(name, action)`` (timed; a failure is a failed check)."""
    tests = EventTests(stack, api, scenario)
    step("events: simulator webhooks -> the api-server receiver", tests.point_webhooks)
    step("events: STOP -> example_optout_events (opt-out loop)", tests.optout_loop)
    step("events: burst of 1,000 webhooks (duplicates, reordered)", tests.burst)
    step("events: receiver refusals and replay", tests.refusals)
    if watcher_available():
        step("events: event watcher, kill -9 of the triggerer", tests.watcher)
    else:
        scenario.notes.append("event watcher: skipped (airflow_provider_voice.triggers.events is not there yet)")
    step("events: consumer read nothing twice", tests.final_consumer_check)
