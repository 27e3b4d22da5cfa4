"""Contact policies on the sending operators: lawful hours, frequency caps, dry run, cost cap.

:class:`ContactPolicyMixin` is shared by :class:`~airflow_provider_voice.operators.campaign.SendVoiceCampaignOperator`
and :class:`~airflow_provider_voice.operators.sms.SendSMSOperator`. With a ``contact_policy``:

1. before anything is sent, a :class:`~airflow_provider_voice.delivery.contact_plan.ContactPlanner`
   puts every recipient in a group (due now, held until their window opens, held by a frequency
   rule, skipped, beyond the deadline), reading the contact ledger for the frequency rules;
2. the due ones are sent (exactly once: the send's checkpoint), each one checked against the clock
   again as it is handed to the vendor; the ones the vendor accepted are recorded in the ledger;
3. while recipients are held, the task waits until the next window opens — deferred to the
   triggerer (``DateTimeTrigger``: no worker held) when ``deferrable``, else asleep — and goes back
   to 1. The recipients already sent are in the checkpoint, so nobody is contacted twice across
   deferrals, retries and restarts;
4. at the deadline (``contact_deadline`` after the first plan), recipients still held are not sent:
   the task fails after everything else is done, saying how many and why (they are ``not_sent``
   in the outcome table). Recipients skipped by ``over_cap="skip"`` are counted, not failed.

``dry_run=True`` does step 1 and the cost estimate and returns, contacting nobody.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow.configuration import conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.operators.base import rendered_mapping

# The planner, the ledger, the policy model and the price table are imported where they are used
# (DAG files import this module; only a non-templated ``contact_policy`` needs the policy at parse time).
if TYPE_CHECKING:
    from airflow_provider_voice.delivery.checkpoint import CheckpointKey, CheckpointStore
    from airflow_provider_voice.delivery.contact_ledger import ContactLedger
    from airflow_provider_voice.delivery.contact_plan import ContactPlan, ContactPlanner
    from airflow_provider_voice.delivery.contact_policy import ContactPolicy
    from airflow_provider_voice.delivery.pricing import PriceTable
    from airflow_provider_voice.models.recipients import Recipient

__all__ = [
    "CONTACT_POLICY_ARGS",
    "CONTACT_START",
    "DEFAULT_CONTACT_DEADLINE",
    "ContactPolicyMixin",
    "ContactPolicyUnsentError",
    "take_contact_policy_args",
]

#: how long a send may keep recipients held before it gives up on them
DEFAULT_CONTACT_DEADLINE = timedelta(days=7)
#: the checkpoint record of the first plan (its time starts the deadline)
CONTACT_START = "contact_start"
#: the checkpoint record of the frames whose recipients are in the contact ledger
CONTACTS_RECORDED = "contacts_recorded"
#: what ``contact_policy`` may be, in errors
POLICY_RULE = "a ContactPolicy, a preset name, a mapping of its fields, or a string that renders to a JSON object"


class ContactPolicyUnsentError(VoiceProviderError, AirflowFailException):
    """Recipients the contact policy allowed no instant for before the deadline: not contacted.

    Raised after everything else was done (the others sent, outcomes written). Not retried: a retry
    would find the same windows closed. The deadline counts from the send's first plan (kept in its
    checkpoint, so clearing the task keeps it): raise ``contact_deadline`` or widen the policy, then
    clear the task (the checkpoint sends only the others), or send them in a new run.

    :param plan: the last plan's counts (``summary``: no number).
    """

    def __init__(self, message: str, *, plan: dict[str, Any]) -> None:
        super().__init__(message)
        self.plan = plan


def _seconds_arg(field: str, value: Any) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(field, value, "a timedelta or a number of seconds > 0")
    return float(value)


def configured_policy() -> ContactPolicy | None:
    """``[voice] contact_policy``: a preset name or a JSON object of policy fields (empty: none)."""
    from airflow_provider_voice.delivery.contact_policy import ContactPolicy

    raw = (conf.get("voice", "contact_policy", fallback="") or "").strip()
    if not raw:
        return None
    if raw.startswith("{"):
        import json

        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(
                "[voice] contact_policy", raw[:80], f"a preset name or a JSON object ({exc})"
            ) from None
    return ContactPolicy.from_arg(raw)


#: the keyword arguments of :meth:`ContactPolicyMixin.set_contact_policy`, with their defaults
CONTACT_POLICY_ARGS: dict[str, Any] = {
    "contact_policy": None, "timezone_field": None, "subdivision_field": None,
    "contact_deadline": DEFAULT_CONTACT_DEADLINE, "over_cap": "defer", "contact_ledger_path": None,
    "dry_run": False, "max_cost": None, "price_table": None,
}  # fmt: skip


def take_contact_policy_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the contact-policy arguments (:data:`CONTACT_POLICY_ARGS`) from an operator's ``kwargs``
    (before they reach ``BaseOperator``) and return them, defaults filled in."""
    return {name: kwargs.pop(name, default) for name, default in CONTACT_POLICY_ARGS.items()}


class ContactPolicyMixin:
    """The contact-policy arguments of a sending operator, and the steps of the module docstring.

    :param contact_policy: a :class:`~airflow_provider_voice.delivery.contact_policy.ContactPolicy`, a
        preset name (``"FR_MARKETING"``, ``"US_TCPA"``, ``"IN_TRAI_COMMERCIAL"``) or a mapping of its
        fields; default ``[voice] contact_policy``; ``False``: none, whatever the configuration.
    :param timezone_field: column of each row's IANA time zone (default: from the number).
    :param subdivision_field: column of each row's holiday subdivision (``"57"`` for Moselle, ``"CA"``...).
    :param contact_deadline: how long recipients may stay held, from the first plan (default 7 days).
    :param over_cap: ``"defer"`` (held until the frequency rule allows) or ``"skip"`` (counted, not sent).
    :param contact_ledger_path: where the contact ledger lives (default ``[voice] contact_ledger_path``).
    :param dry_run: validate and plan everything, estimate the cost, contact nobody.
    :param max_cost: refuse to send when the estimated cost is higher (or cannot be estimated).
    :param price_table: prices for the estimate (:class:`~airflow_provider_voice.delivery.pricing.PriceTable`,
        a mapping, a JSON file; default ``[voice] price_table``).
    """

    log: Any

    def set_contact_policy(
        self,
        *,
        contact_policy: Any = None,
        timezone_field: str | None = None,
        subdivision_field: str | None = None,
        contact_deadline: float | timedelta = DEFAULT_CONTACT_DEADLINE,
        over_cap: str = "defer",
        contact_ledger_path: Any = None,
        dry_run: bool = False,
        max_cost: float | None = None,
        price_table: Any = None,
    ) -> None:
        """Check and keep the arguments (a bad one is an error when the DAG is parsed; a templated
        ``contact_policy`` when it is rendered)."""
        templated = isinstance(contact_policy, str) and ("{{" in contact_policy or "{%" in contact_policy)
        if not templated and contact_policy is not None and contact_policy is not False:
            from airflow_provider_voice.delivery.contact_policy import ContactPolicy

            contact_policy = ContactPolicy.from_arg(
                rendered_mapping(contact_policy, field="contact_policy", rule=POLICY_RULE)
            )
        if over_cap not in ("defer", "skip"):
            raise ValidationError("over_cap", over_cap, "'defer' or 'skip'")
        if max_cost is not None and (
            isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or max_cost < 0
        ):
            raise ValidationError("max_cost", max_cost, "a number >= 0")
        #: the policy argument: a ContactPolicy, a template (rendered at run time), None (the configured
        #: default) or False (none); :meth:`policy` reads it
        self.contact_policy: Any = contact_policy
        self.timezone_field = timezone_field or None
        self.subdivision_field = subdivision_field or None
        self.contact_deadline = _seconds_arg("contact_deadline", contact_deadline)
        self.over_cap: Literal["defer", "skip"] = "skip" if over_cap == "skip" else "defer"
        self.contact_ledger_path = contact_ledger_path
        #: ``dry_run=True``: plan and estimate, contact nobody (``BaseOperator.dry_run`` is a method: not shadowed)
        self.dry_run_only = bool(dry_run)
        self.max_cost = None if max_cost is None else float(max_cost)
        self.price_table = price_table

    # -- planning ------------------------------------------------------------------------------------
    def policy(self) -> ContactPolicy | None:
        """The policy of this run: ``contact_policy`` as rendered (a JSON object, a preset name, a mapping),
        the configured ``[voice] contact_policy`` when None, no policy when False."""
        from airflow_provider_voice.delivery.contact_policy import ContactPolicy

        value = self.contact_policy
        if value is False:
            return None
        if value is None or value == "":
            return configured_policy()
        if isinstance(value, ContactPolicy):
            return value
        return ContactPolicy.from_arg(rendered_mapping(value, field="contact_policy", rule=POLICY_RULE))

    def contact_ledger(self, *, reading: bool = True) -> ContactLedger | None:
        """The contact ledger: read when the policy has frequency rules, written under any policy (a send
        under ``US_TCPA`` still counts towards a later ``FR_MARKETING`` cap); None without a policy.

        :param reading: for the frequency rules (False: to record contacts and refusals).
        """
        policy = self.policy()
        if policy is None:
            return None
        if reading and not (policy.min_gap or policy.max_contacts or policy.pause_after_refusal):
            return None
        from airflow_provider_voice.delivery.contact_ledger import contact_ledger

        return contact_ledger(self.contact_ledger_path)

    def contact_planner(
        self, store: CheckpointStore, key: CheckpointKey, *, record_start: bool = True
    ) -> ContactPlanner | None:
        """The planner of this send (None without a policy); the deadline counts from the first plan,
        kept in the checkpoint of ``key`` (a retry or a deferral keeps the same deadline)."""
        from airflow_provider_voice.delivery.contact_plan import ContactPlanner

        policy = self.policy()
        if policy is None:
            return None
        started = None
        for record in store.load(key):
            if record.get("t") == CONTACT_START:
                started = float(record["ts"])
                break
        if started is None:
            started = time.time()
            if record_start:
                store.append_sync(key, [{"t": CONTACT_START, "ts": round(started, 3)}])
        planner = ContactPlanner(
            policy,
            deadline=started + self.contact_deadline,
            ledger=self.contact_ledger(),
            timezone_field=self.timezone_field,
            subdivision_field=self.subdivision_field,
            margin=policy.send_margin.total_seconds(),
            over_cap=self.over_cap,
        )
        planner.check()
        return planner

    @staticmethod
    def sent_in(store: CheckpointStore, key: CheckpointKey) -> Callable[[Recipient], bool]:
        """Whether a recipient is already in the checkpoint of ``key`` (accepted, or in doubt: never sent
        again by a new slice)."""
        state = store.state(key)
        hasher = key.member_hasher()
        held = {m for f in state.with_status("done", "intent", "doubt") for m in f.members}
        return lambda recipient: hasher(str(recipient.number)) in held

    def plan_now(
        self, planner: ContactPlanner, recipients: Iterable[Recipient], store: CheckpointStore, key: CheckpointKey,
        what: str,
    ) -> tuple[ContactPlan, Callable[[Recipient], bool]]:  # fmt: skip
        """One slice's plan (logged as ``what``) and the "already in the checkpoint" test it used."""
        sent = self.sent_in(store, key)
        plan = planner.plan(recipients, sent=sent)
        self.log_plan(plan, what)
        return plan, sent

    def would_send(
        self, recipients: Iterable[Recipient], store: CheckpointStore, key: CheckpointKey
    ) -> tuple[Callable[[], Iterable[Recipient]], ContactPlan | None]:
        """The recipients this send would still contact — now or once their window opens; not those
        already in the checkpoint, nor those the policy skips — as a re-readable stream, and the plan."""
        sent = self.sent_in(store, key)
        planner = self.contact_planner(store, key, record_start=False)
        if planner is None:
            return (lambda: (r for r in recipients if not sent(r))), None
        plan = planner.plan(recipients, sent=sent)
        return (lambda: planner.sendable(recipients, sent=sent)), plan

    def plan_summary(self, plan: ContactPlan | None) -> dict[str, Any] | None:
        """A plan's XCom form, with the policy's name."""
        if plan is None:
            return None
        policy = self.policy()
        return {"policy": policy.name if policy is not None else None, **plan.summary()}

    def log_plan(self, plan: ContactPlan, what: str) -> None:
        policy = self.policy()
        assert policy is not None
        self.log.info("contact policy %s: %s: %s", policy.describe(), what, plan.line())
        for zone in sorted(plan.zones.values(), key=lambda z: -z.recipients)[:10]:
            self.log.info(
                "  %s: %d recipients, %d due now%s", zone.label(), zone.recipients, zone.due,
                f", next window {datetime.fromtimestamp(zone.next_open, timezone.utc).isoformat(timespec='minutes')}"
                if zone.next_open else "",
            )  # fmt: skip

    def record_contacts(self, recipients: Iterable[Recipient], store: CheckpointStore, key: CheckpointKey) -> int:
        """Record in the contact ledger the recipients of every accepted frame of ``key`` not recorded yet,
        then mark those frames recorded in the checkpoint: a try that died between the vendor's answer
        and the ledger leaves its frames unmarked, and the next try records them (the ledger keeps one
        entry per source and person, so nothing counts twice)."""
        from airflow_provider_voice.delivery.checkpoint import CheckpointState

        ledger = self.contact_ledger(reading=False)
        if ledger is None:
            return 0
        records = store.load(key)
        recorded = {int(i) for r in records if r.get("t") == CONTACTS_RECORDED for i in r.get("frames") or ()}
        frames = [f for f in CheckpointState.from_records(records).with_status("done") if f.index not in recorded]
        if not frames:
            return 0
        members = {m for f in frames for m in f.members}
        hasher = key.member_hasher()
        numbers = [str(r.number) for r in recipients if hasher(str(r.number)) in members]
        ledger.record_contacts(numbers, at=time.time(), source=key.path)
        store.append_sync(key, [{"t": CONTACTS_RECORDED, "frames": sorted(f.index for f in frames)}])
        return len(numbers)

    @staticmethod
    def tap_refusals(rows: Iterable[Any], refused: list[str]) -> Iterator[Any]:
        """``rows`` (outcome rows), noting in ``refused`` the numbers whose outcome is ``opted_out``."""
        for row in rows:
            if row.outcome == "opted_out":
                refused.append(str(row.number))
            yield row

    def record_refusals(self, numbers: Iterable[str], key: CheckpointKey) -> int:
        """Record the people who refused (outcome ``opted_out``: a STOP, an opt-out) in the contact ledger,
        for the pause after a refusal of this and later sends (under any policy)."""
        ledger = self.contact_ledger(reading=False)
        listed = list(numbers)
        if ledger is None or not listed:
            return 0
        ledger.record_refusals(listed, at=time.time(), source=key.path)
        return len(listed)

    @staticmethod
    def held_detail(summary: Mapping[str, Any] | None) -> str | None:
        """The outcome table's detail for the recipients a plan (its summary) left unsent; None: no policy."""
        if not summary:
            return None
        return (
            f"not contacted: the contact policy {summary.get('policy')} held them (outside their window or over a "
            f"frequency rule) until the deadline {summary.get('deadline')}, or skipped them (over_cap='skip')"
        )

    def unsent_error(self, summary: Mapping[str, Any]) -> ContactPolicyUnsentError | None:
        """The error for the recipients a plan (its :meth:`ContactPlan.summary`) left with no allowed
        instant before the deadline; None when there are none."""
        beyond = int(summary.get("beyond_deadline") or 0)
        if not beyond:
            return None
        policy = self.policy()
        name = policy.name if policy is not None else summary.get("policy")
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted((summary.get("holds") or {}).items()))
        sent = int(summary.get("already_sent") or 0) + int(summary.get("due") or 0)
        return ContactPolicyUnsentError(
            f"{beyond} recipient(s) were not contacted: the contact policy {name} allows no instant for them before "
            f"the deadline {summary.get('deadline')} ({reasons}); {sent} were sent. Raise contact_deadline (it counts from "
            "the first plan) or widen the policy, then clear the task: the checkpoint sends only the others",
            plan=dict(summary),
        )

    def raise_unsent(self, results: Iterable[Mapping[str, Any]]) -> None:
        """Fail, after everything else was done, when a send (a round) left recipients no allowed instant."""
        for result in results:
            error = self.unsent_error(result.get("contact_policy") or {})
            if error is not None:
                raise error

    # -- estimate ------------------------------------------------------------------------------------
    def prices(self) -> PriceTable:
        """The price table of the estimate: ``price_table`` (a table, a mapping, inline JSON, a file), else
        ``[voice] price_table`` (empty: a table without prices, so every estimate is unknown)."""
        from airflow_provider_voice.delivery.pricing import PriceTable

        if self.price_table in (None, ""):
            return PriceTable.from_config()
        return PriceTable.load(self.price_table)

    def dry_run_result(
        self, vendor: str, validated: Any, estimate: Mapping[str, Any], plan: ContactPlan | None, **extra: Any
    ) -> dict[str, Any]:
        """A dry run's XCom: the validation counts of ``validated`` (``ValidatedRecipients``), ``extra``
        (frames, messages...), the estimate, the plan and, with ``max_cost``, whether the send would pass."""
        result: dict[str, Any] = {
            "dry_run": True, "vendor": vendor, "rows": validated.rows, "valid": validated.valid,
            "invalid": validated.invalid, "duplicates": validated.duplicates, "rejects_path": validated.rejects_path,
            **extra, "estimate": dict(estimate), "contact_policy": self.plan_summary(plan),
        }  # fmt: skip
        if self.max_cost is not None:
            result["max_cost"] = self.max_cost_verdict(estimate)
        return result

    def max_cost_verdict(self, estimate: Mapping[str, Any]) -> dict[str, Any]:
        """A dry run's answer to ``max_cost``: ``{"limit", "ok"}`` (an unknown estimate is not ok)."""
        total = estimate.get("total")
        ok = self.max_cost is not None and total is not None and float(total) <= self.max_cost + 1e-9
        if not ok:
            self.log.warning("dry run: the send would be refused by max_cost=%s (estimate %s)", self.max_cost, total)
        return {"limit": self.max_cost, "ok": ok}

    def check_cost(self, estimate: Mapping[str, Any]) -> None:
        """Refuse to send when ``max_cost`` is set and the estimate is higher or unknown."""
        if self.max_cost is None:
            return
        total = estimate.get("total")
        if total is None:
            raise ValidationError(
                "max_cost", self.max_cost,
                f"the cost of this send cannot be estimated ({estimate.get('why') or 'no price for some recipients'}): "
                "set price_table (or [voice] price_table), or remove max_cost",
            )  # fmt: skip
        if float(total) > self.max_cost + 1e-9:
            raise ValidationError(
                "max_cost", self.max_cost,
                f"the estimated cost {total} {estimate.get('currency') or ''} of this send is higher; nothing was sent",
            )  # fmt: skip
