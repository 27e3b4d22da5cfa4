"""The shared base of the provider's notifiers: render, deduplicate, send within a budget, never raise.

A notifier is called by Airflow's callback machinery (a task's ``on_failure_callback`` /
``on_retry_callback``, a DAG's ``on_failure_callback``) with the context of the failure. For
each number of ``to`` it:

1. renders its templated fields on a **copy** of itself (Airflow's ``BaseNotifier`` renders in
   place, so a notifier called a second time, e.g. for the retry of the same task object, would
   reuse the first failure's text); a text that does not render is replaced by a plain fallback
   naming the DAG, the task and the run (the page still goes out), a ``to`` or ``conn_id`` that
   does not render sends nothing;
2. computes the message's **dedup key** (:func:`~airflow_provider_voice.delivery.notification_log.notification_key`)
   from the failure's identity — ``dag_id``, ``task_id``, ``run_id``, ``map_index`` (or the author's
   ``dedup_key``) — the channel, the number and the rendered text, and claims it in the
   notifications log (``[voice] notifications_path``): a message claimed less than
   ``dedup_window`` seconds ago is not sent again, whatever the process (a retry on another worker
   with a shared log, a DAG callback after the task's own). The try number is not part of the key:
   the retry of a task that failed for the same reason does not page twice;
3. sends it through the vendor (the connection type picks it) with a bounded budget (``timeout``,
   10 s by default, for all the numbers together; each request is given what is left);
4. settles the claim: ``sent``; ``in_doubt`` when the vendor may have it (never resent within the
   window); released when the vendor certainly did not act (a later callback may try again).

**It never raises.** Every error (vendor down, refused key, bad number, wrong connection type, an
unreadable log) is logged with its type (``ServerError``, ``AuthError``, ``ValidationError``...),
phone numbers masked, and kept in :attr:`VoiceNotifierBase.last_results`; the task's own state
is not affected. When the log cannot be read or written, the message is sent anyway (a page sent
twice is better than none) and a WARNING says so.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from airflow.sdk.bases.notifier import BaseNotifier

from airflow_provider_voice.delivery.channel import default_classify
from airflow_provider_voice.delivery.frames import Fate
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.redaction import get_logger, mask_phone, mask_phones, redact
from airflow_provider_voice.transport import Call, RetryPolicy

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.delivery.notification_log import NotificationLog, NotificationRecord
    from airflow_provider_voice.hooks.base import VoiceHook

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "DEFAULT_TIMEOUT",
    "Failure",
    "NotificationResult",
    "Target",
    "VoiceNotifierBase",
    "sent_notifications",
]

log = get_logger(__name__)

#: seconds during which one failure does not page the same number twice (default of ``dedup_window``)
DEFAULT_DEDUP_WINDOW = 3600.0
#: seconds a notifier may take in all (default of ``timeout``)
DEFAULT_TIMEOUT = 10.0
#: a request is not started with less than this left of the budget
MIN_REQUEST_SECONDS = 0.5
#: the default text: reads in a task callback and in a DAG callback (no ``ti`` there)
DEFAULT_TEXT = (
    "Airflow alert: {{ dag.dag_id }}{% if ti is defined and ti %}.{{ ti.task_id }}{% endif %} "
    "failed in run {{ run_id }}"
)


@dataclass(frozen=True)
class Failure:
    """What failed: the identity of the callback's context (the dedup key's default part).

    :param dag_id: the DAG ("" when the context does not say).
    :param task_id: the task ("" in a DAG callback without a failed task).
    :param run_id: the run.
    :param map_index: the map index (-1: not mapped).
    :param event: what happened, in the fallback text: ``failed``, or ``missed its deadline`` (a
        Deadline Alert's context).
    """

    dag_id: str = ""
    task_id: str = ""
    run_id: str = ""
    map_index: int = -1
    event: str = "failed"

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Failure:
        """The failure a task or DAG callback's ``context`` is about."""
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        dag_run = context.get("dag_run")
        if isinstance(dag_run, Mapping):  # a Deadline Alert's context: the run as JSON (DAGRunResponse)
            dag_run = SimpleNamespace(
                dag_id=dag_run.get("dag_id"), run_id=dag_run.get("dag_run_id") or dag_run.get("run_id")
            )
        dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
        run_id = getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", None)
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=str(dag_id or ""),
            task_id=str(getattr(ti, "task_id", None) or ""),
            run_id=str(run_id or ""),
            map_index=-1 if map_index is None else int(map_index),
            event="missed its deadline" if context.get("deadline") else "failed",
        )

    def describe(self) -> str:
        """``dag.task[map] run`` for log lines."""
        task = f".{self.task_id}" if self.task_id else ""
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id or '?'}{task}{mapped} (run {self.run_id or '?'})"

    def fallback_text(self) -> str:
        """A plain text naming the failure, sent when the notifier's own text does not render."""
        task = f".{self.task_id}" if self.task_id else ""
        return f"Airflow alert: {self.dag_id or 'a DAG'}{task} {self.event} in run {self.run_id or '?'}"


@dataclass(frozen=True)
class NotificationResult:
    """What became of one message (kept in :attr:`VoiceNotifierBase.last_results`; no number in clear).

    :param channel: ``sms`` or ``call``.
    :param conn_id: the connection.
    :param number: the number, masked.
    :param status: ``sent``, ``deduplicated`` (not sent: sent before for this failure), ``in_doubt``
        (the vendor may have it; not resent), ``failed`` (not sent) or ``skipped`` (out of budget).
    :param vendor: the vendor, when the connection was read.
    :param ref: the vendor's id of the message or call.
    :param error_type: the error's class name (``ServerError``, ``AuthError``, ``ValidationError``...).
    :param error: the error's text (secrets and numbers masked).
    """

    channel: str
    conn_id: str
    number: str
    status: str
    vendor: str | None = None
    ref: str | None = None
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Target:
    """One number to notify, checked: ``number`` (E.164), and what the vendor's request needs."""

    number: PhoneNumber
    payload: Any = None

    @property
    def masked(self) -> str:
        return mask_phone(str(self.number))


def _seconds(field: str, value: Any, *, allow_zero: bool) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if value is None and allow_zero:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (not allow_zero and value == 0):
        rule = "seconds (or a timedelta) >= 0; 0 or None: no deduplication" if allow_zero else "seconds > 0"
        raise ValidationError(field, value, rule)
    return float(value)


def _numbers(value: Any) -> list[str]:
    """``to`` as a list: a list/tuple, or one string of numbers separated by commas or semicolons."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [str(part).strip() for part in value if part is not None and str(part).strip()]
    return [str(value).strip()]


class VoiceNotifierBase(BaseNotifier):
    """Base of :class:`~airflow_provider_voice.notifiers.sms.SmsNotifier` and
    :class:`~airflow_provider_voice.notifiers.voice.VoiceCallNotifier` (see the module docstring).

    :param conn_id: the vendor connection (its type picks the vendor; templated).
    :param to: the number(s) to notify: one, a list, or a comma-separated string (templated).
    :param dedup_window: seconds (or a ``timedelta``) during which the same failure does not notify
        the same number again with the same text; ``0``/``None``: no deduplication. Default 1 hour.
    :param dedup_key: replaces the failure's identity in the dedup key (templated): e.g.
        ``"{{ dag.dag_id }}"`` notifies once per DAG per window, whatever the task and run.
    :param notifications_path: where the dedup log lives (local dir, ``file://``, ``s3://``...;
        default ``[voice] notifications_path`` or ``$AIRFLOW_HOME/voice/notifications``).
    :param default_region: region of numbers written without a country code.
    :param timeout: seconds the whole notification may take (all numbers; default 10).
    """

    #: ``sms`` or ``call``
    channel: ClassVar[str]
    #: the templated text attribute (``text`` / ``message``)
    text_field: ClassVar[str]
    #: connection types accepted
    vendors: ClassVar[tuple[str, ...]]
    #: what the notification is, in errors
    purpose: ClassVar[str]

    def __init__(
        self,
        *,
        conn_id: str,
        to: Any,
        dedup_window: float | timedelta | None = DEFAULT_DEDUP_WINDOW,
        dedup_key: str | None = None,
        notifications_path: Any = None,
        default_region: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.to = to
        self.dedup_window = _seconds("dedup_window", dedup_window, allow_zero=True)
        self.dedup_key = dedup_key
        self.notifications_path = notifications_path
        self.default_region = default_region
        self.timeout = _seconds("timeout", timeout, allow_zero=False)
        #: what became of each message of the last call (see :class:`NotificationResult`)
        self.last_results: list[NotificationResult] = []

    # -- Airflow's entry point ------------------------------------------------------------------------
    def __call__(self, *args: Any) -> None:
        """Send the notification for a callback's context; never raises (errors are logged)."""
        results: list[NotificationResult] = []
        try:
            if len(args) == 1:
                context = args[0]
            else:  # the DAG processor's older calling convention, as BaseNotifier reads it
                context = {"dag": args[0], "task_list": args[1], "blocking_task_list": args[2], "blocking_tis": args[3]}
            rendered = self.rendered(context)
            if rendered is None:  # a field did not render: rendered() said why
                results = list(self.last_results)
                return
            rendered.notify(context)
            results = rendered.last_results
        except Exception as exc:  # never into Airflow's callback machinery
            log.error(
                "%s: notification not sent: %s: %s",
                type(self).__name__, type(exc).__name__, mask_phones(redact(str(exc))),
            )  # fmt: skip
            results.append(
                NotificationResult(
                    self.channel, str(self.conn_id), "", "failed",
                    error_type=type(exc).__name__, error=mask_phones(redact(str(exc))),
                )
            )  # fmt: skip
        finally:
            self.last_results = results

    def __await__(self) -> Generator[Any, None, None]:
        """The awaitable form, as Airflow's ``AsyncCallback`` runs a notifier in the triggerer (a Deadline
        Alert: ``AsyncCallback(SmsNotifier, kwargs={...})``; the context is the one given to the
        constructor). Unlike ``BaseNotifier``, nothing is rendered in place and nothing is raised."""
        return self.async_notify(self.context).__await__()

    async def async_notify(self, context: Any) -> None:
        """Send the notification from an event loop (the triggerer) without blocking it: the same steps
        as calling the notifier (render on a copy, deduplicate, send within ``timeout``, never raise),
        run in a worker thread. The thread is bounded by ``timeout``; an event loop cancelled while
        it runs (the triggerer stopping) leaves it to finish its last request.

        :param context: the callback's context (a Deadline Alert's holds ``dag_run`` and ``deadline``).
        """
        await asyncio.to_thread(self.__call__, context or {})

    def rendered(self, context: Any) -> VoiceNotifierBase | None:
        """A copy of the notifier with its templated fields rendered for ``context`` (None: cannot send).

        A text that does not render becomes :meth:`Failure.fallback_text`; any other field that does
        not render is logged and nothing is sent.

        :param context: the callback's context.
        """
        clone = copy.copy(self)
        clone.last_results = []
        clone._update_context(context)
        dag = context.get("dag")
        env = clone.get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)
        for name in self.template_fields:
            try:
                clone._do_render_template_fields(clone, [name], context, env, set())
            except Exception as exc:
                if name != self.text_field:
                    log.error(
                        "%s: %r did not render (%s: %s): nothing sent",
                        type(self).__name__, name, type(exc).__name__, mask_phones(redact(str(exc))),
                    )  # fmt: skip
                    self.last_results = [
                        NotificationResult(self.channel, str(self.conn_id), "", "failed",
                                           error_type=type(exc).__name__, error=mask_phones(redact(str(exc))))
                    ]  # fmt: skip
                    return None
                fallback = Failure.from_context(context).fallback_text()
                log.error(
                    "%s: %r did not render (%s: %s): sending %r instead",
                    type(self).__name__, name, type(exc).__name__, redact(str(exc)), fallback,
                )  # fmt: skip
                setattr(clone, name, fallback)
        return clone

    # -- to implement --------------------------------------------------------------------------------
    def capability(self, hook: VoiceHook[Any]) -> Any:  # pragma: no cover - abstract
        """The vendor capability that sends (``hook.sms()``, ``hook.voice_call()``)."""
        raise NotImplementedError

    def check(self, capability: Any, text: Any) -> str:  # pragma: no cover - abstract
        """The checked text (raises ``ValidationError``)."""
        raise NotImplementedError

    def target(self, capability: Any, number: str, text: str) -> Target:  # pragma: no cover - abstract
        """One number checked for the vendor (raises ``ValidationError``)."""
        raise NotImplementedError

    def request(self, capability: Any, target: Target, text: str, *, key: str) -> Call[Any]:  # pragma: no cover
        """The vendor request sending ``text`` to ``target`` (``key``: the vendor correlation key)."""
        raise NotImplementedError

    def reference(self, result: Any) -> str | None:
        """The vendor's id in a request's result."""
        return None if result is None else str(getattr(result, "ref", result))

    # -- sending ---------------------------------------------------------------------------------------
    def hook_params(self) -> dict[str, Any]:
        """Short timeouts and few retries: a notifier never waits long."""
        read = min(self.timeout, 5.0)
        return {
            "timeout": httpx.Timeout(read, connect=min(self.timeout, 3.0)),
            "retry": RetryPolicy(max_attempts=2, backoff_initial=0.25, backoff_max=1.0, max_retry_after=min(2.0, read)),
        }

    def notify(self, context: Any) -> None:
        """Send the (rendered) notification to every number of ``to`` (see the module docstring)."""
        from airflow_provider_voice.hooks.base import get_voice_hook

        started = time.monotonic()
        ends = started + self.timeout
        failure = Failure.from_context(context)
        numbers = _numbers(self.to)
        conn_id = str(self.conn_id)
        results = self.last_results
        vendor: str | None = None
        try:
            if not numbers:
                raise ValidationError("to", self.to, "at least one number to notify")
            hook = get_voice_hook(conn_id, vendors=self.vendors, purpose=self.purpose, hook_params=self.hook_params())
            vendor = hook.conn_type
            capability = self.capability(hook)
            text = self.check(capability, getattr(self, self.text_field))
        except Exception as exc:
            for number in numbers or [""]:
                results.append(self._failed(conn_id, vendor, mask_phone(number) if number else "", exc, failure))
            return
        store = self._notification_log()
        identity = (str(self.dedup_key),) if self.dedup_key not in (None, "") else (
            failure.dag_id, failure.task_id, failure.run_id, failure.map_index,
        )  # fmt: skip
        try:
            for number in dict.fromkeys(numbers):
                try:
                    target = self.target(capability, number, text)
                except Exception as exc:
                    results.append(self._failed(conn_id, vendor, mask_phone(number), exc, failure))
                    continue
                left = ends - time.monotonic()
                if left < MIN_REQUEST_SECONDS:
                    log.error(
                        "%s: out of time (timeout=%.0f s): %s not notified about %s",
                        type(self).__name__, self.timeout, target.masked, failure.describe(),
                    )  # fmt: skip
                    results.append(NotificationResult(self.channel, conn_id, target.masked, "skipped", vendor,
                                                      error_type="Timeout", error="the notifier's time budget ran out"))  # fmt: skip
                    continue
                results.append(self._send_one(hook, capability, store, identity, failure, target, text, left))
        finally:
            hook.access.close()  # the connections of this notification's client

    def _notification_log(self) -> NotificationLog | None:
        from airflow_provider_voice.delivery.notification_log import notification_log

        if not self.dedup_window:
            return None
        try:
            return notification_log(self.notifications_path)
        except Exception as exc:
            log.warning(
                "%s: the notifications log %s cannot be used (%s: %s): sending without deduplication",
                type(self).__name__, self.notifications_path or "[voice] notifications_path", type(exc).__name__, exc,
            )  # fmt: skip
            return None

    def _send_one(
        self,
        hook: VoiceHook[Any],
        capability: Any,
        store: NotificationLog | None,
        identity: Sequence[object],
        failure: Failure,
        target: Target,
        text: str,
        left: float,
    ) -> NotificationResult:
        from airflow_provider_voice.delivery.notification_log import NotificationRecord, notification_key

        conn_id, vendor, name = str(self.conn_id), hook.conn_type, type(self).__name__
        namespace = store.namespace if store is not None else ""
        key = notification_key(
            identity, channel=self.channel, number=str(target.number), text=text, namespace=namespace
        )
        record = NotificationRecord(
            key=key, at=time.time(), channel=self.channel, vendor=vendor, conn_id=conn_id, dag_id=failure.dag_id,
            task_id=failure.task_id, run_id=failure.run_id, map_index=failure.map_index,
        )  # fmt: skip
        # the vendor's own correlation key (Velip ctid): the same within one window, so a second worker
        # without a shared log is refused by the vendor; another one after the window
        slot = int(record.at // self.dedup_window) if self.dedup_window else time.time_ns()
        try:  # built (and checked) before the claim: a request that cannot be built claims nothing
            call = dataclasses.replace(self.request(capability, target, text, key=f"{key}:{slot}"), deadline=left)
        except Exception as exc:
            return self._failed(conn_id, vendor, target.masked, exc, failure)
        if store is not None:
            try:
                blocking = store.claim(record, window=self.dedup_window, now=record.at)
            except Exception as exc:
                log.warning("%s: notifications log %s unreadable (%s: %s): sending without deduplication",
                            name, store.location(), type(exc).__name__, exc)  # fmt: skip
                store, blocking = None, None
            if blocking is not None:
                ago = max(0.0, time.time() - blocking.at)
                log.info(
                    "%s: %s not notified again about %s: already %s %.0f s ago (dedup_window %.0f s)",
                    name, target.masked, failure.describe(), blocking.state, ago, self.dedup_window,
                )  # fmt: skip
                return NotificationResult(self.channel, conn_id, target.masked, "deduplicated", vendor, blocking.ref)
        try:
            result = hook.client.send(call)
        except Exception as exc:
            if capability.is_duplicate(exc):
                self._settle(store, record, "sent", None)
                log.info("%s: %s already notified about %s (%s refused a repeat)", name, target.masked,
                         failure.describe(), vendor)  # fmt: skip
                return NotificationResult(self.channel, conn_id, target.masked, "deduplicated", vendor)
            fate, _ = default_classify(exc)
            if fate is Fate.IN_DOUBT:
                self._settle(store, record, "in_doubt", None)
            elif store is not None:
                self._release(store, record)
            return self._failed(conn_id, vendor, target.masked, exc, failure, in_doubt=fate is Fate.IN_DOUBT)
        ref = self.reference(result)
        self._settle(store, record, "sent", ref)
        log.info("%s: %s notified about %s by %s on %s (%s %s)", name, target.masked, failure.describe(),
                 self.channel, conn_id, vendor, ref)  # fmt: skip
        return NotificationResult(self.channel, conn_id, target.masked, "sent", vendor, ref)

    def _settle(self, store: NotificationLog | None, record: NotificationRecord, state: str, ref: str | None) -> None:
        if store is None:
            return
        try:
            store.settle(record.settled(state, ref))
        except Exception as exc:
            log.warning("%s: could not record the notification in %s (%s: %s)", type(self).__name__,
                        store.location(), type(exc).__name__, exc)  # fmt: skip

    def _release(self, store: NotificationLog, record: NotificationRecord) -> None:
        try:
            store.release(record)
        except Exception as exc:
            log.warning("%s: could not release the claim in %s (%s: %s)", type(self).__name__,
                        store.location(), type(exc).__name__, exc)  # fmt: skip

    def _failed(
        self,
        conn_id: str,
        vendor: str | None,
        masked: str,
        exc: BaseException,
        failure: Failure,
        *,
        in_doubt: bool = False,
    ) -> NotificationResult:
        """Log ``exc`` (typed, numbers masked) and the result saying so."""
        text = mask_phones(redact(str(exc)))
        kind = type(exc).__name__
        if in_doubt:
            log.error(
                "%s: %s to %s about %s may have been sent (%s: %s); not resent within the dedup window",
                type(self).__name__, self.channel, masked or "-", failure.describe(), kind, text,
            )  # fmt: skip
        else:
            log.error(
                "%s: %s not sent to %s about %s via %s (%s): %s: %s",
                type(self).__name__, self.channel, masked or "-", failure.describe(), conn_id, vendor or "?", kind, text,
            )  # fmt: skip
        return NotificationResult(
            self.channel, conn_id, masked, "in_doubt" if in_doubt else "failed", vendor,
            error_type=type(exc).__name__, error=text,
        )  # fmt: skip


def sent_notifications(dag_id: str, run_id: str | None = None, *, location: Any = None) -> list[dict[str, Any]]:
    """The notifications recorded for ``dag_id`` (and ``run_id``), oldest first, as dicts without any
    number: ``channel``, ``vendor``, ``conn_id``, ``state``, ``ref``, ``task_id``, ``run_id``, ``at``...

    :param dag_id: the DAG.
    :param run_id: only this run's (None: every run).
    :param location: the notifications log (default ``[voice] notifications_path``).
    """
    from airflow_provider_voice.delivery.notification_log import notification_log

    records = notification_log(location).records(dag_id)
    return [dataclasses.asdict(r) for r in records if run_id is None or r.run_id == run_id]
