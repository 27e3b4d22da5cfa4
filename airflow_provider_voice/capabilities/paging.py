"""Paging: call people in turn until one acknowledges by pressing a key; vendor-free escalation logic.

A vendor that can ask a called person for a key press and report it back implements
:class:`PagingCapability` in its own folder (``vendors/velip/paging.py``: ``MakeTTSCall`` type 2,
read back through ``GetCallStatus``). Everything else is here, once for every vendor:

* :func:`parse_people` / :func:`check_page_message`: the input, checked before any request;
* :class:`PagingLog`: the escalation's checkpoint (append-only JSON records, no phone numbers) in
  a :class:`~airflow_provider_voice.delivery.CheckpointStore`, keyed by the task instance, with
  the delivery engine's claims (a zombie try stops before its next call);
* :class:`Escalation`: what to do next (call the next person, find an in-doubt call again, wait
  for the call in progress, send the SMS fallback, or finish), and the result.

Exactly once: every call is recorded (``page``: attempt number, person, correlation key)
**before** its request leaves, and its answer (``placed`` with the vendor's call id, or
``ended``) right after. A retry, or the worker resuming after a deferral, reads the log: ended
attempts are never placed again; a placed attempt is waited for again (its call id is in the
log); an attempt whose request's fate is unknown is looked up by its correlation key (Velip
``ctid``) and adopted when found, placed again with the same key at most once when the vendor
has no call with it (the vendor refuses a repeated key, Velip code 220), else reported
``in_doubt`` and the escalation moves on.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from airflow_provider_voice.capabilities.protocols import SmsCapability
from airflow_provider_voice.capabilities.sms_delivery import SmsDeliveryChannel
from airflow_provider_voice.capabilities.sms_text import SmsText
from airflow_provider_voice.delivery import (
    CheckpointKey,
    CheckpointStore,
    Claim,
    DeliveryEngine,
    Fate,
    default_classify,
)
from airflow_provider_voice.errors import (
    AuthError,
    CapabilityNotSupportedError,
    ValidationError,
    VendorRejectedError,
    VoiceProviderError,
)
from airflow_provider_voice.models.paging import PageHandle, PageOutcome, PageStatus
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.redaction import get_logger, mask_phone, redact
from airflow_provider_voice.transport import Call

__all__ = [
    "PAGING_VENDORS",
    "Escalation",
    "EscalationState",
    "PageAttempt",
    "PagingCapability",
    "PagingLog",
    "PagingSupersededError",
    "Person",
    "Step",
    "check_page_message",
    "paging_not_supported",
    "parse_people",
    "sms_fallback_text",
]

log = get_logger(__name__)

#: vendors whose calls can ask for a key press and report it (docs/operators/paging.md)
PAGING_VENDORS = ("velip",)
#: why the other vendors cannot page (the error raised for their connections)
_WHY_NOT = {
    "kaleyra": "Kaleyra can play an IVR (play=ivr:<id>) but documents no way to read back the key a person "
    "pressed (voice.status, dial.c2cstatus and the callbacks report the call status only)",
    "octopush": "Octopush Voice-SMS plays a message; it reports no key press",
    "televoips": "TeleVoIPs offers SMS and call records, not outbound calls that ask for a key press",
}
#: an attempt whose request's fate is unknown, and that the vendor cannot find by its key, is placed
#: again (with the same key) at most this many times, then reported ``in_doubt``
MAX_DOUBT_RESENDS = 1
#: suffix of the checkpoint keys of the escalation and of its SMS fallback (``~`` never appears in a task id)
PAGING_SUFFIX = "~paging"
SMS_SUFFIX = "~sms"


def paging_not_supported(conn_type: str) -> CapabilityNotSupportedError:
    """The error for a connection whose vendor cannot page, naming the vendors that can.

    :param conn_type: the connection's type (``kaleyra``...).
    """
    why = _WHY_NOT.get(conn_type, f"{conn_type} connections cannot place calls that ask for a key press")
    return CapabilityNotSupportedError(
        f"{conn_type} connections cannot page with a key-press acknowledgement ({why}); use a connection of type "
        + " or ".join(PAGING_VENDORS),
        vendor=conn_type,
    )


# -- the vendor side -------------------------------------------------------------------------------
@runtime_checkable
class PagingCapability(Protocol):
    """Calls that ask the person to press a key, and report whether they did (Velip ``MakeTTSCall`` type 2).

    :meth:`check` validates the message and options before any request; :meth:`page` places one
    call (with the blocking client), tagged with ``key`` (a correlation id, <= 15 letters/digits);
    :meth:`find` looks a call up by that key (None: the vendor has no call with it);
    :meth:`is_duplicate` says whether a refusal means "a call with this key exists already";
    :meth:`status_call` is the request reading a call's state (sent by the sync client in a blocking
    wait, by the async client in the trigger) and :meth:`interpret` turns its answer into a
    :class:`~airflow_provider_voice.models.paging.PageStatus`.
    """

    @property
    def vendor(self) -> str:
        """The vendor name."""

    def check(self, message: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """The checked vendor options (raises ``ValidationError``)."""

    def page(self, number: PhoneNumber, message: str, *, key: str, options: Mapping[str, Any]) -> PageHandle:
        """Place one call to ``number`` playing ``message`` and asking for the confirmation key."""

    def find(self, key: str) -> PageHandle | None:
        """The call placed with ``key``, or None when the vendor has none."""

    def is_duplicate(self, exc: VendorRejectedError) -> bool:
        """True when ``exc`` says a call with the same key was placed already."""

    def status_call(self, handle: PageHandle) -> Call[object]:
        """The request reading the call's state."""

    def interpret(self, handle: PageHandle, answer: Any) -> PageStatus:
        """The call's state in that request's answer."""


# -- the input ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    """One person of the escalation list.

    :param index: their position in the list given (0-based).
    :param number: their number (E.164).
    :param name: their name, when given.
    """

    index: int
    number: PhoneNumber
    name: str | None = None

    @property
    def masked(self) -> str:
        """The number as logs and XCom show it (``+55*********21``)."""
        return mask_phone(str(self.number))

    @property
    def label(self) -> str:
        """``people[1] (Bob, +55*********21)``: for log lines."""
        who = f"{self.name}, {self.masked}" if self.name else self.masked
        return f"people[{self.index}] ({who})"

    def to_xcom(self) -> dict[str, Any]:
        """``{"index", "name", "number"}`` with the number masked."""
        return {"index": self.index, "name": self.name, "number": self.masked}


def _as_list(value: Any) -> Any:
    """A templated ``people`` that rendered to text: a JSON/Python list in it, else the text as one number."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for reader in (json.loads, ast.literal_eval):
        try:
            parsed = reader(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, (list, tuple)):
            return parsed
    return [value] if text else []


def parse_people(people: Any, default_region: str | None = None) -> list[Person]:
    """The people to call, in order, checked: numbers, ``{"number", "name"}`` mappings or ``Recipient``s.

    :param people: a list (or a string a template rendered: a JSON list, or one number).
    :param default_region: region of numbers written without a country code.
    :raises ValidationError: no one to call, an item without a valid number, a name that is not
        text, or the same number twice (use ``rounds`` to call people again).
    """
    items = _as_list(people)
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ValidationError("people", people, "a list of numbers or {'number', 'name'} mappings, in calling order")
    out: list[Person] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"people[{index}]"
        name: Any = None
        if isinstance(item, Recipient):
            number, name = item.number, item.name
        elif isinstance(item, Mapping):
            unknown = sorted(str(k) for k in item if k not in ("number", "name"))
            if unknown:
                raise ValidationError(
                    f"{where}", unknown, "a person is {'number': ..., 'name': ...} (other keys: none)"
                )
            if item.get("number") in (None, ""):
                raise ValidationError(f"{where}.number", None, "each person needs a number")
            number, name = item["number"], item.get("name")
        else:
            number = item
        parsed = PhoneNumber.parse(
            number, default_region, field=f"{where}.number" if isinstance(item, Mapping) else where
        )
        if name is not None and not isinstance(name, str):
            raise ValidationError(f"{where}.name", name, "a name is text")
        name = (name.strip() or None) if isinstance(name, str) else None
        first = seen.get(str(parsed))
        if first is not None:
            raise ValidationError(
                where, mask_phone(str(parsed)), f"the same number as people[{first}]; use rounds to call people again"
            )
        seen[str(parsed)] = index
        out.append(Person(index, parsed, name))
    if not out:
        raise ValidationError("people", people, "at least one person to call")
    return out


def check_page_message(message: Any) -> str:
    """The message spoken to each person: non-blank text.

    :param message: the message given.
    :raises ValidationError: not text, or blank.
    """
    if not isinstance(message, str) or not message.strip():
        raise ValidationError("message", message, "the text spoken to each person must not be blank")
    return message.strip()


def sms_fallback_text(text: Any, people: Sequence[Person]) -> SmsText:
    """The SMS fallback's text, checked for every person (``${name}``, ``${number}`` placeholders).

    :param text: the text given.
    :param people: the people it goes to.
    :raises ValidationError: blank text, or a placeholder a person has no value for.
    """
    sms_text = SmsText(text)
    for person in people:
        sms_text.render(_recipient(person), position=person.index)
    return sms_text


def _recipient(person: Person) -> Recipient:
    return Recipient(number=person.number, name=person.name)


# -- the log -----------------------------------------------------------------------------------------
class PagingSupersededError(VoiceProviderError):
    """A newer try of the same task instance took the escalation over; this one stopped before its next call."""


def _reason(exc: BaseException) -> str:
    """An error as the log and XCom keep it: no secret, no phone number, at most 300 characters."""
    return redact(str(exc), phones=True)[:300]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class PageAttempt:
    """One call of the escalation, as the log tells it.

    :param number: the attempt's number (1-based, in calling order).
    :param person: the index of the person called.
    :param round: the round (1-based).
    :param key: the correlation key the call was placed with.
    :param started: POSIX time the attempt began (its intent was written).
    :param placed: the vendor accepted the call.
    :param call_id: the vendor's call id.
    :param deadline: POSIX time the wait for this call ends.
    :param resends: times the call was placed again with the same key (an in-doubt request).
    :param failures: fates of the failed requests (``not_sent`` / ``in_doubt``).
    :param outcome: how it ended (None: not yet).
    :param vendor_status: the vendor's last status code.
    :param pressed: the key(s) pressed.
    :param ended_at: POSIX time the outcome was seen.
    :param error: the reason of a ``rejected`` / ``in_doubt`` outcome.
    :param vendor_code: the vendor's code of a refusal.
    """

    number: int
    person: int
    round: int
    key: str
    started: float
    placed: bool = False
    call_id: str | None = None
    deadline: float | None = None
    resends: int = 0
    failures: list[str] = field(default_factory=list)
    outcome: PageOutcome | None = None
    vendor_status: str | None = None
    pressed: str | None = None
    ended_at: float | None = None
    error: str | None = None
    vendor_code: str | None = None

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def to_xcom(self, people: Sequence[Person]) -> dict[str, Any]:
        """This attempt for XCom: who (masked), the outcome, the call id, when."""
        person = people[self.person] if 0 <= self.person < len(people) else None
        return {
            "attempt": self.number,
            "round": self.round,
            **(person.to_xcom() if person else {"index": self.person, "name": None, "number": None}),
            "outcome": self.outcome.value if self.outcome else PageOutcome.PENDING.value,
            "call_id": self.call_id,
            "vendor_status": self.vendor_status,
            "pressed": self.pressed,
            "started_at": _iso(self.started),
            "ended_at": _iso(self.ended_at),
            "error": self.error,
            "vendor_code": self.vendor_code,
        }


@dataclass
class EscalationState:
    """The parsed log of one escalation: its attempts (by number) and the SMS fallback's summary."""

    attempts: dict[int, PageAttempt] = field(default_factory=dict)
    fallback: dict[str, Any] | None = None

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> EscalationState:
        """Read the records in the order written (unknown or broken records are skipped)."""
        state = cls()
        for record in records:
            if not isinstance(record, Mapping):
                continue
            try:
                state._apply(record)
            except (KeyError, TypeError, ValueError):
                log.warning("paging checkpoint: unreadable record skipped (%s)", str(record.get("t"))[:20])
        return state

    def _apply(self, record: Mapping[str, Any]) -> None:
        kind = record.get("t")
        if kind == "sms":
            self.fallback = dict(record.get("s") or {})
            return
        if kind not in ("page", "placed", "failed", "resend", "ended"):
            return
        number = int(record["n"])
        if kind == "page":
            self.attempts.setdefault(
                number,
                PageAttempt(number, int(record["p"]), int(record["r"]), str(record["k"]), float(record["ts"])),
            )
            return
        attempt = self.attempts.get(number)
        if attempt is None or attempt.ended:  # an outcome is final
            return
        if kind == "placed":
            attempt.placed = True
            attempt.call_id = record.get("id") or attempt.call_id
            attempt.deadline = float(record["dl"])
        elif kind == "failed":
            attempt.failures.append(str(record.get("f")))
        elif kind == "resend":
            attempt.resends += 1
        else:
            attempt.outcome = PageOutcome(str(record["o"]))
            attempt.vendor_status = record.get("vs")
            attempt.pressed = record.get("pk")
            attempt.ended_at = float(record["ts"])
            attempt.error = record.get("e")
            attempt.vendor_code = record.get("vc")

    @property
    def ordered(self) -> list[PageAttempt]:
        return [self.attempts[n] for n in sorted(self.attempts)]

    @property
    def acknowledged(self) -> PageAttempt | None:
        """The attempt that was acknowledged, if one was."""
        return next((a for a in self.ordered if a.outcome is PageOutcome.ACKNOWLEDGED), None)

    @property
    def current(self) -> PageAttempt | None:
        """The attempt not ended yet, if any (there is at most one: calls are made one at a time)."""
        return next((a for a in self.ordered if not a.ended), None)


class PagingLog:
    """The escalation's records in a checkpoint store, under the task instance's key.

    :param store: the checkpoint store (``checkpoint_store(checkpoint_path)``).
    :param key: the task instance's key (the log lives under ``<task_id>~paging``).
    :param attempt: the Airflow try number (orders the claims of concurrent tries).
    """

    def __init__(self, store: CheckpointStore, key: CheckpointKey, *, attempt: int = 1) -> None:
        self.store = store
        self.task_key = key
        self.key = dataclasses.replace(key, task_id=key.task_id + PAGING_SUFFIX)
        self.claim = Claim.new(attempt)
        self.store.claim(self.key, self.claim)  # before reading: see the delivery engine's fencing

    @property
    def sms_key(self) -> CheckpointKey:
        """Where the SMS fallback's delivery checkpoint lives (``<task_id>~sms``)."""
        return dataclasses.replace(self.task_key, task_id=self.task_key.task_id + SMS_SUFFIX)

    def location(self) -> str:
        return self.store.location(self.key)

    def state(self) -> EscalationState:
        return EscalationState.from_records(self.store.load(self.key))

    def write(self, kind: str, **fields: Any) -> None:
        """Append one record (durably, before returning)."""
        record = {"t": kind, **{k: v for k, v in fields.items() if v is not None}}
        self.store.append_sync(self.key, [record])

    def check_owner(self) -> None:
        """Raise :class:`PagingSupersededError` when a newer try has claimed the escalation."""
        owner = self.store.owner(self.key)
        if owner is not None and owner.id != self.claim.id:
            raise PagingSupersededError(
                f"paging superseded by try {owner.attempt} (claim {owner.id}); this try stopped before its next call"
            )

    def attempt_key(self, number: int) -> str:
        """The correlation key of attempt ``number`` made by this try: 15 letters/digits (Velip ``ctid``)."""
        return self.key.frame_key(number, self.claim.id)


# -- the escalation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """What the escalation does next.

    ``call``: place attempt ``number``; ``reconcile``: find ``attempt`` (its request's fate is unknown);
    ``wait``: wait for ``attempt``'s outcome; ``fallback``: text everyone; ``done``: finished.
    """

    kind: str
    number: int = 0
    attempt: PageAttempt | None = None


class Escalation:
    """One escalation: the plan (``rounds`` x ``people``, in order) and its log.

    :param paging: the vendor's paging capability.
    :param people: the people, in calling order.
    :param message: what each person hears (the vendor asks them for the key).
    :param options: the vendor options, checked (``paging.check``).
    :param rounds: how many times the list is gone through.
    :param attempt_timeout: seconds one call is waited for before calling the next person.
    :param log: the escalation's :class:`PagingLog`.
    :param fallback: whether an SMS fallback is configured (then ``fallback`` is a step).
    :param clock: POSIX time source.
    """

    def __init__(
        self,
        paging: PagingCapability,
        people: Sequence[Person],
        *,
        message: str,
        options: Mapping[str, Any],
        rounds: int,
        attempt_timeout: float,
        log: PagingLog,
        fallback: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.paging = paging
        self.people = list(people)
        self.message = message
        self.options = dict(options)
        self.rounds = rounds
        self.attempt_timeout = float(attempt_timeout)
        self.log = log
        self.fallback = fallback
        self.clock = clock
        self.plan = [(round_, person) for round_ in range(1, rounds + 1) for person in range(len(self.people))]

    # -- deciding ---------------------------------------------------------------------------------
    def state(self) -> EscalationState:
        return self.log.state()

    def next_step(self) -> Step:
        """What to do now, from the log (so a retry or a resumed task continues where the last stopped)."""
        state = self.state()
        if state.acknowledged is not None:
            return Step("done")
        current = state.current
        if current is not None:
            return Step("wait" if current.placed else "reconcile", current.number, current)
        number = len(state.attempts) + 1
        if number <= len(self.plan):
            return Step("call", number)
        if self.fallback and state.fallback is None:
            return Step("fallback")
        return Step("done")

    # -- calling ----------------------------------------------------------------------------------
    def call(self, number: int) -> None:
        """Place attempt ``number``: its intent first, then the request (see the module docstring)."""
        round_, index = self.plan[number - 1]
        person = self.people[index]
        key = self.log.attempt_key(number)
        started = round(self.clock(), 3)
        self.log.write("page", n=number, p=index, r=round_, k=key, ts=started, c=self.log.claim.id)
        self.log.check_owner()
        attempt = PageAttempt(number, index, round_, key, started)
        log.info("paging attempt %d (round %d): calling %s", number, round_, person.label)
        self._send(attempt)

    def reconcile(self, attempt: PageAttempt) -> None:
        """Find an attempt whose request's fate is unknown by its key; place it again only when the
        vendor has no call with it (at most :data:`MAX_DOUBT_RESENDS` times when it may have been placed)."""
        self.log.check_owner()
        found = self.paging.find(attempt.key)
        if found is not None:
            log.info("paging attempt %d: the call was placed (found by its key): %s", attempt.number, found.call_id)
            self._placed(attempt, found, deadline=attempt.started + self.attempt_timeout)
            return
        doubtful = not attempt.failures or Fate.IN_DOUBT.value in attempt.failures
        if doubtful and attempt.resends >= MAX_DOUBT_RESENDS:
            self._end(
                attempt,
                PageOutcome.IN_DOUBT,
                error=f"the {self.paging.vendor} call's fate is unknown and it is not found by its key; not placed again",
            )
            return
        log.info(
            "paging attempt %d: %s has no call with its key: placing it again with the same key",
            attempt.number,
            self.paging.vendor,
        )
        self.log.write("resend", n=attempt.number, ts=round(self.clock(), 3))
        attempt.resends += 1
        self._send(attempt)

    def _send(self, attempt: PageAttempt) -> None:
        person = self.people[attempt.person]
        try:
            handle = self.paging.page(person.number, self.message, key=attempt.key, options=self.options)
        except VendorRejectedError as exc:
            reason = _reason(exc)
            if self.paging.is_duplicate(exc):  # a call with this key exists: find it
                self.log.write("failed", n=attempt.number, f=Fate.IN_DOUBT.value, e=reason)
                attempt.failures.append(Fate.IN_DOUBT.value)
                self.reconcile(attempt)
                return
            log.warning("paging attempt %d: %s refused the call: %s", attempt.number, self.paging.vendor, reason)
            if attempt.resends and Fate.IN_DOUBT.value in attempt.failures:  # the first request may have placed it
                self._end(
                    attempt,
                    PageOutcome.IN_DOUBT,
                    error=f"placed again after an unknown fate, and refused: {reason}"[:300],
                    vendor_code=exc.vendor_code,
                )
                return
            self._end(attempt, PageOutcome.REJECTED, error=reason, vendor_code=exc.vendor_code)
            return
        except (AuthError, ValidationError, CapabilityNotSupportedError):
            raise  # nothing was placed; the task fails without retry (the attempt is found again once fixed)
        except VoiceProviderError as exc:
            fate, _ = default_classify(exc)
            self.log.write("failed", n=attempt.number, f=fate.value, e=_reason(exc))
            attempt.failures.append(fate.value)
            if fate is not Fate.IN_DOUBT:
                raise  # certainly not placed: a task retry places it (with the same key)
            log.warning(
                "paging attempt %d: the call may have been placed (%s): looking it up", attempt.number, _reason(exc)
            )
            self.reconcile(attempt)
            return
        self._placed(attempt, handle, deadline=self.clock() + self.attempt_timeout)

    def _placed(self, attempt: PageAttempt, handle: PageHandle, *, deadline: float) -> None:
        attempt.placed, attempt.call_id, attempt.deadline = True, handle.call_id, deadline
        self.log.write("placed", n=attempt.number, id=handle.call_id, dl=round(deadline, 3), ts=round(self.clock(), 3))

    # -- outcomes ---------------------------------------------------------------------------------
    def handle(self, attempt: PageAttempt) -> PageHandle:
        """The vendor handle of a placed attempt."""
        return PageHandle(vendor=self.paging.vendor, call_id=attempt.call_id, key=attempt.key)

    def settle(
        self, attempt: PageAttempt, status: PageStatus | None, *, timed_out: bool = False, seen_at: Any = None
    ) -> PageOutcome:
        """Record how a placed attempt ended: ``status`` (the last poll's), or ``timeout`` when
        ``timed_out`` and the call had not ended. Returns the outcome recorded.

        :param attempt: the placed attempt.
        :param status: the last poll's status (None when no poll answered).
        :param timed_out: the attempt's time ran out.
        :param seen_at: POSIX time the poll saw it (default now): the acknowledgement's time.
        """
        if status is not None and status.done:
            outcome = status.outcome
        elif timed_out:
            outcome = PageOutcome.TIMEOUT
        else:
            raise ValueError("settle() needs an ended status or timed_out=True")
        seen = float(seen_at) if isinstance(seen_at, (int, float)) and not isinstance(seen_at, bool) else None
        self._end(
            attempt,
            outcome,
            vendor_status=status.vendor_status if status else None,
            pressed=status.pressed if status else None,
            at=seen,
        )
        person = self.people[attempt.person]
        log.info("paging attempt %d: %s -> %s", attempt.number, person.label, outcome.value)
        return outcome

    def _end(self, attempt: PageAttempt, outcome: PageOutcome, *, at: float | None = None, **fields: Any) -> None:
        now = min(at, self.clock()) if at is not None else self.clock()
        attempt.outcome, attempt.ended_at = outcome, now
        self.log.write(
            "ended",
            n=attempt.number,
            o=outcome.value,
            vs=fields.get("vendor_status"),
            pk=fields.get("pressed"),
            e=fields.get("error"),
            vc=fields.get("vendor_code"),
            ts=round(now, 3),
        )

    # -- the SMS fallback -------------------------------------------------------------------------
    def send_fallback(
        self,
        sms: SmsCapability,
        text: SmsText,
        *,
        sender: str | None,
        conn_id: str | None = None,
        concurrency: int = 4,
        progress_interval: float = 10.0,
    ) -> dict[str, Any]:
        """Text every person once (the delivery engine's checkpoint: a retry texts nobody twice); its summary.

        :param sms: the SMS capability of the fallback's connection.
        :param text: the checked text (:func:`sms_fallback_text`).
        :param sender: the checked sender.
        :param conn_id: the SMS connection (for the summary).
        :param concurrency: messages in flight.
        :param progress_interval: seconds between progress lines.
        """
        channel = SmsDeliveryChannel(sms, text, sender=sender, abort_after_rejections=0)
        engine: DeliveryEngine[Recipient] = DeliveryEngine(
            channel,
            store=self.log.store,
            key=self.log.sms_key,
            concurrency=concurrency,
            total=len(self.people),
            label=f"{sms.vendor} SMS fallback",
            progress_interval=progress_interval,
            attempt=self.log.claim.attempt,
            max_rejected_share=1.0,
        )
        report = engine.run_sync([_recipient(p) for p in self.people])
        summary = {
            "sent": report.accepted > 0,
            "conn_id": conn_id,
            "vendor": sms.vendor,
            "recipients": len(self.people),
            "accepted": report.accepted,
            "rejected": report.rejected,
            "message_ids": report.refs,
            "sent_at": _iso(self.clock()),
        }
        self.log.write("sms", s=summary, ts=round(self.clock(), 3))
        return summary

    # -- the result -------------------------------------------------------------------------------
    def result(self, *, fallback_configured: bool | None = None) -> dict[str, Any]:
        """The XCom: who acknowledged (masked number, name, index) and when, every attempt, the SMS fallback.

        :param fallback_configured: whether an SMS fallback was set up (default: as given to the constructor).
        """
        state = self.state()
        winner = state.acknowledged
        configured = self.fallback if fallback_configured is None else fallback_configured
        if state.fallback is not None:
            fallback: dict[str, Any] = dict(state.fallback)
        else:
            reason = "someone acknowledged" if winner else ("not configured" if not configured else "not sent yet")
            fallback = {"sent": False, "reason": reason}
        person = self.people[winner.person] if winner and 0 <= winner.person < len(self.people) else None
        return {
            "vendor": self.paging.vendor,
            "acknowledged": winner is not None,
            "acknowledged_by": person.to_xcom() if person else None,
            "acknowledged_at": _iso(winner.ended_at) if winner else None,
            "acknowledged_call_id": winner.call_id if winner else None,
            "attempts": [a.to_xcom(self.people) for a in state.ordered],
            "people": len(self.people),
            "rounds": self.rounds,
            "sms_fallback": fallback,
            "checkpoint": self.log.location(),
        }
