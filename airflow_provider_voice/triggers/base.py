"""Base of the provider's triggers: poll a vendor until a condition holds or a deadline passes.

A subclass says *what to check* once, as a :class:`~airflow_provider_voice.transport.Call` or a
flow returning a :class:`PollResult`; the base does the rest, the same way for every sensor:

* the connection is read with Airflow's async API, the vendor client is asyncio (nothing blocks
  the triggerer's loop; waits are ``asyncio.sleep``); its sockets are the connection's shared pool
  in the triggerer's loop (:meth:`VoiceHook.aget_shared_client
  <airflow_provider_voice.hooks.base.VoiceHook.aget_shared_client>`): a thousand waits on one
  connection hold one bounded pool, not a client each;
* rate limits, 5xx and network errors are logged and polled again; auth errors and vendor
  refusals end the wait with an ``error`` event;
* at the absolute UTC ``deadline`` one last poll is made, then a ``timeout`` event is fired;
* events are ``{"status": "success"|"timeout"|"error", "message": ..., **payload}`` with JSON
  values only; ``serialize()`` returns JSON primitives only.

The worker runs the very same check through the blocking client: once per ``poke`` of a sensor
(:meth:`PollingTrigger.poll_once`), or in a loop for an operator that waits without deferring
(:meth:`PollingTrigger.wait`). The rules of a wait (one last poll at the deadline, which errors are
polled again, the timeout message) are written once, in :class:`WaitRules`, for both loops.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voice.errors import (
    AuthError,
    CapabilityNotSupportedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    VoiceProviderError,
)
from airflow_provider_voice.transport import Call, Flow

__all__ = [
    "TRANSIENT_ERRORS",
    "PollResult",
    "PollingTrigger",
    "WaitOutcome",
    "WaitRules",
    "async_voice_hook",
    "deadline_after",
    "error_event",
    "event_error",
    "parse_deadline",
    "seconds_arg",
]

#: errors a poll survives (the next poll may succeed); anything else ends the wait (every wait: trigger, sensor, operator)
TRANSIENT_ERRORS = (RateLimitedError, ServerError, TransportError)
#: longest blocking sleep of :meth:`PollingTrigger.wait` between two calls of its ``interrupt``
_INTERRUPT_CHECK_SECONDS = 0.5
#: ``error_kind`` of an ``error`` event whose cause no retry can fix (a refused key, bad input, wrong vendor)
_PERMANENT_KINDS: tuple[tuple[str, type[VoiceProviderError]], ...] = (
    ("auth", AuthError),
    ("validation", ValidationError),
    ("capability", CapabilityNotSupportedError),
)


def error_event(exc: VoiceProviderError, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``error`` event for ``exc``: ``error_kind`` says whether a task retry could help.

    :param exc: the error that ended the wait.
    :param payload: the last poll's payload (ids...), kept in the event.
    :returns: ``{**payload, "status": "error", "message", "error_kind"}`` (``error_kind``: ``auth``,
        ``validation``, ``capability`` or None), plus ``field``/``rule`` for a validation error.
    """
    kind = next((name for name, cls in _PERMANENT_KINDS if isinstance(exc, cls)), None)
    event: dict[str, Any] = {**(payload or {}), "status": "error", "message": str(exc), "error_kind": kind}
    if isinstance(exc, ValidationError):
        event.update(field=str(exc.field), rule=str(exc.rule))
    return event


def event_error(event: dict[str, Any], message: str) -> VoiceProviderError | None:
    """On the worker: the typed error an ``error`` event stands for when no retry can fix it, else None.

    The task raises it from ``execute_complete``, where the fail-fast guard makes it an
    ``AirflowFailException`` too (a refused key found by a deferred wait is not retried either).

    :param event: the trigger's event.
    :param message: the task's message for the failure.
    """
    kind = event.get("error_kind")
    if kind == "auth":
        return AuthError(message)
    if kind == "capability":
        return CapabilityNotSupportedError(message)
    if kind == "validation":
        return ValidationError(str(event.get("field") or "trigger"), None, str(event.get("rule") or message))
    return None


@dataclass(frozen=True)
class PollResult:
    """One poll's verdict: ``done``, a human ``message`` and a JSON ``payload`` (no secrets, no phone numbers).

    ``value`` is the check's parsed answer (a ``CampaignStatus``, a ``CdrReport``...) for the
    worker that polled; it never goes into an event.
    """

    done: bool
    message: str
    payload: dict[str, Any] = field(default_factory=dict)
    value: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class WaitOutcome:
    """How a wait ended: ``done``, or not done at the deadline (``done`` False).

    :param done: the condition held.
    :param result: the last poll's verdict (``PollResult(False, "no answer yet")`` when no poll answered).
    :param polls: how many polls were made.
    :param message: the last poll's message, or the timeout message naming the deadline.
    """

    done: bool
    result: PollResult
    polls: int
    message: str


class WaitRules:
    """The rules of one wait, shared by the trigger's async loop and the worker's blocking loop.

    Before each poll call :meth:`before_poll`; after it :meth:`after_poll` with its verdict or the
    transient error it raised (:data:`TRANSIENT_ERRORS`: logged and polled again; any other error
    ends the wait in the caller). :meth:`after_poll` returns the :class:`WaitOutcome` once the
    wait is over: the condition holds, or the poll that started at or after the deadline (one last
    poll is always made there) did not find it; otherwise :meth:`pause` says how long to sleep
    (never past the deadline).

    :param interval: seconds between polls.
    :param deadline: the deadline on ``clock`` (None: none).
    :param label: how the deadline reads in the timeout message (ISO 8601, never an epoch).
    :param log: where the polls are logged.
    :param clock: the clock ``deadline`` is on (``time.time`` in the triggerer).
    """

    def __init__(
        self,
        *,
        interval: float,
        deadline: float | None,
        label: str | None,
        log: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = float(interval)
        self.deadline = deadline
        self.label = label
        self.log = log
        self.clock = clock
        self.last = PollResult(False, "no answer yet")
        self.polls = 0
        self._final = False

    def before_poll(self) -> None:
        """A poll starts now (the last one when the deadline has passed)."""
        self._final = self.deadline is not None and self.clock() >= self.deadline
        self.polls += 1

    def after_poll(self, answer: PollResult | BaseException) -> WaitOutcome | None:
        """The poll's verdict, or the transient error it raised: the outcome when the wait is over, else None."""
        if isinstance(answer, BaseException):
            self.log.warning("poll %d failed (%s); polling again", self.polls, answer)
        else:
            self.last = answer
            if answer.done:
                return WaitOutcome(True, answer, self.polls, answer.message)
            self.log.info("%s; polling again in %.0f s", answer.message, self.interval)
        if self._final:
            message = f"not done by the deadline {self.label} after {self.polls} polls: {self.last.message}"
            if isinstance(answer, BaseException):  # the verdict above is an earlier poll's: say so
                message += f" (the last poll failed: {answer})"
            return WaitOutcome(False, self.last, self.polls, message)
        return None

    def pause(self) -> float:
        """Seconds to sleep before the next poll (the interval, cut at the deadline)."""
        if self.deadline is None:
            return self.interval
        return max(0.0, min(self.interval, self.deadline - self.clock()))


Check = Call[PollResult] | Flow[PollResult]


def deadline_after(seconds: float | None) -> str | None:
    """The absolute UTC deadline ``seconds`` from now, as ISO 8601 (``None`` for no deadline)."""
    if seconds is None:
        return None
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=float(seconds))).isoformat(timespec="seconds")


def seconds_arg(field: str, value: Any) -> float:
    """A poll interval or timeout checked when the task is built: a finite number of seconds > 0.

    A zero interval polls the vendor without sleeping; a value that is not a number would only
    fail after the task's first request (a click-to-call already placed).

    :param field: the argument's name (for the :class:`ValidationError`).
    :param value: the value given.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValidationError(field, value, "a number of seconds greater than 0")
    return float(value)


def parse_deadline(value: str | None) -> float | None:
    """POSIX seconds of an ISO 8601 deadline (naive values are UTC)."""
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


async def async_voice_hook(conn_id: str, **hook_kwargs: Any) -> Any:
    """A connection's hook in a trigger: the connection read with Airflow's async API, the vendor API built.

    :param conn_id: the connection.
    :param hook_kwargs: extra arguments for ``get_hook`` (e.g. ``hook_params``).
    """
    from airflow.sdk import BaseHook

    if hasattr(BaseHook, "aget_hook"):  # Airflow >= 3.3
        hook = await BaseHook.aget_hook(conn_id, **hook_kwargs)
    else:
        hook = (await BaseHook.aget_connection(conn_id)).get_hook(**hook_kwargs)
    await hook.aget_api()  # builds the vendor API from the connection without blocking the loop
    return hook


class PollingTrigger(BaseTrigger):
    """Poll :meth:`check` every ``poll_interval`` seconds until it is done or ``deadline`` passes.

    :param conn_id: the Airflow connection of the vendor to poll.
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline, ISO 8601 (see :func:`deadline_after`); ``None`` = none.

    Subclasses implement :meth:`check` and, when they take more arguments, :meth:`params` (their
    extra constructor arguments as JSON primitives).
    """

    def __init__(self, *, conn_id: str, poll_interval: float = 60.0, deadline: str | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        parse_deadline(deadline)  # fail early on a bad value

    # -- to implement ----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Subclass constructor arguments (JSON primitives) for :meth:`serialize`."""
        return {}

    def check(self, hook: Any) -> Check:
        """The check, as a call or flow on ``hook.api`` returning a :class:`PollResult`."""
        raise NotImplementedError

    # -- Airflow contract --------------------------------------------------------------------
    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"conn_id": self.conn_id, "poll_interval": self.poll_interval, "deadline": self.deadline, **self.params()},
        )

    def poll_once(self, hook: Any) -> PollResult:
        """Run the check once with the hook's blocking client (a sensor's ``poke``, a step of :meth:`wait`)."""
        check = self.check(hook)
        return hook.client.send(check) if isinstance(check, Call) else hook.client.run(check)

    def wait(
        self,
        hook: Any,
        *,
        timeout: float | None = None,
        interrupt: Callable[[], None] | None = None,
    ) -> WaitOutcome:
        """The blocking wait of a task that does not defer: :meth:`poll_once` until done or the deadline,
        with the rules of :meth:`run` (:class:`WaitRules`).

        :param hook: what :meth:`poll_once` polls with (the hook; a campaign trigger takes the campaign capability).
        :param timeout: seconds to wait from now; None: the trigger's ``deadline`` (None there too: no deadline).
        :param interrupt: called before each poll and at least every half second while sleeping;
            raise from it to stop waiting (``on_kill``).
        :returns: the :class:`WaitOutcome` (``done`` False at the deadline). Transient errors
            (:data:`TRANSIENT_ERRORS`) are logged and polled again; any other error is raised.
        """
        if timeout is None:
            at = parse_deadline(self.deadline)
            deadline, label = (None if at is None else time.monotonic() + at - time.time()), self.deadline
        else:
            deadline, label = time.monotonic() + float(timeout), deadline_after(timeout)
        rules = WaitRules(
            interval=self.poll_interval, deadline=deadline, label=label, log=self.log, clock=time.monotonic
        )
        while True:
            if interrupt is not None:
                interrupt()
            rules.before_poll()
            answer: PollResult | BaseException
            try:
                answer = self.poll_once(hook)
            except TRANSIENT_ERRORS as exc:
                answer = exc
            outcome = rules.after_poll(answer)
            if outcome is not None:
                return outcome
            pause = rules.pause()
            while pause > 0:
                step = pause if interrupt is None else min(pause, _INTERRUPT_CHECK_SECONDS)
                time.sleep(step)
                pause -= step
                if interrupt is not None:
                    interrupt()

    async def ahook(self) -> Any:
        """The connection's hook, the connection read with Airflow's async API."""
        return await async_voice_hook(self.conn_id, **self.hook_kwargs())

    async def connect(self) -> tuple[Any, Any]:
        """What :meth:`apoll` polls with: the hook and an asyncio client on the connection's shared pool
        in this event loop (``hook.aget_shared_client()``: one pool per connection in the triggerer, not
        one per trigger), given back (``aclose``) when the run ends."""
        hook = await self.ahook()
        return hook, await hook.aget_shared_client()

    def hook_kwargs(self) -> dict[str, Any]:
        """Extra arguments for ``get_hook`` (e.g. ``{"hook_params": {...}}``)."""
        return {}

    async def apoll(self, hook: Any, client: Any) -> PollResult:
        """One asynchronous poll: by default :meth:`check` through the async client."""
        check = self.check(hook)
        return await (client.send(check) if isinstance(check, Call) else client.run(check))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook, client = await self.connect()
        except Exception as exc:  # a missing connection is not a VoiceProviderError: report it all the same
            yield TriggerEvent({"status": "error", "message": f"cannot poll with connection {self.conn_id!r}: {exc}"})
            return
        rules = WaitRules(
            interval=self.poll_interval, deadline=parse_deadline(self.deadline), label=self.deadline, log=self.log
        )
        try:
            while True:
                rules.before_poll()
                answer: PollResult | BaseException
                try:
                    answer = await self.apoll(hook, client)
                except TRANSIENT_ERRORS as exc:
                    answer = exc
                except VoiceProviderError as exc:
                    yield TriggerEvent(error_event(exc, rules.last.payload))
                    return
                outcome = rules.after_poll(answer)
                if outcome is not None:
                    status = "success" if outcome.done else "timeout"
                    yield TriggerEvent({**outcome.result.payload, "status": status, "message": outcome.message})
                    return
                await asyncio.sleep(rules.pause())
        finally:
            await client.aclose()
