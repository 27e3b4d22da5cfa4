"""Base of the provider's sensors: poke, reschedule or defer, around one :class:`PollingTrigger` check.

Every sensor of the provider is a :class:`PollingSensor`: its check is its trigger's check, so the
three modes run the same code and follow the same rules:

* ``poke`` / ``reschedule``: one :meth:`PollingTrigger.poll_once` per poke with the blocking client;
  a transient error (:data:`~airflow_provider_voice.triggers.base.TRANSIENT_ERRORS`: rate limits,
  5xx, network) is logged and the sensor pokes again at the next interval;
* ``deferrable=True``: the first check runs in the worker (a wait already over does not defer),
  then the trigger polls in the triggerer with the same transient-error rule and one last poll at
  the deadline;
* any other provider error ends the wait; errors no retry can fix (a refused key, bad input, the
  wrong vendor) fail the task without Airflow retries, in every mode.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_provider_voice.errors import VoiceProviderError
from airflow_provider_voice.operators.base import VoiceTask, deferrable_arg
from airflow_provider_voice.triggers.base import (
    TRANSIENT_ERRORS,
    PollingTrigger,
    deadline_after,
    event_error,
    seconds_arg,
)

__all__ = ["PollingSensor", "WaitFailedError", "lazy_trigger_class"]


class _LazyTriggerClass:
    """A class attribute that is the trigger class named ``"module:Class"``, imported on first read."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __get__(self, instance: object, owner: type | None = None) -> type[PollingTrigger]:
        module, _, name = self.path.partition(":")
        trigger: type[PollingTrigger] = getattr(importlib.import_module(module), name)
        return trigger


def lazy_trigger_class(path: str) -> Any:
    """A sensor's :attr:`~PollingSensor.trigger_class` given as ``"module:Class"``: the trigger module (with
    the hook and the models it imports) is imported when the sensor first runs, not when a DAG file
    imports the sensor. Reading the attribute returns the class itself, from the class or an instance."""
    return _LazyTriggerClass(path)


class WaitFailedError(VoiceProviderError, AirflowException):
    """A deferred wait ended with an ``error`` event a task retry may fix (Airflow retries it)."""


class PollingSensor(VoiceTask, BaseSensorOperator):
    """A sensor whose check is a :class:`PollingTrigger`'s: the same code pokes (sync) and defers (async).

    :param conn_id: the vendor connection.
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``, read when the task is built). The first check runs in the worker;
        only an unfinished wait defers.
    :param poke_interval: seconds (or a ``timedelta``) between checks, > 0 (also the trigger's interval).

    Other arguments: :class:`~airflow.sdk.BaseSensorOperator` (``timeout``, ``mode``, ``soft_fail``...).

    Subclasses set :attr:`trigger_class`, :attr:`vendors` (connection types they accept) and
    implement :meth:`trigger_params`; :meth:`poll_target` and :meth:`finish` adapt what is polled
    and what is pushed. XCom: :meth:`finish` of the check's payload (by default the payload).
    """

    trigger_class: ClassVar[type[PollingTrigger]]
    template_fields: Sequence[str] = ("conn_id",)

    def __init__(
        self,
        *,
        conn_id: str | None,
        deferrable: bool | None = None,
        poke_interval: float | timedelta = 60.0,
        **kwargs: Any,
    ) -> None:
        seconds = poke_interval.total_seconds() if isinstance(poke_interval, timedelta) else poke_interval
        super().__init__(poke_interval=seconds_arg("poke_interval", seconds), **kwargs)
        self.conn_id = conn_id
        self.deferrable = deferrable_arg(deferrable)

    # -- what subclasses adapt -----------------------------------------------------------------
    def trigger_params(self) -> dict[str, Any]:
        """The trigger's own arguments (JSON primitives), from this sensor's rendered fields.

        Runs before the connection is read: bad input raises
        :class:`~airflow_provider_voice.errors.ValidationError` here.
        """
        return {}

    def poll_target(self) -> Any:
        """What the trigger's check polls with in the worker: the hook (the campaign sensor: its capability)."""
        return self.hook

    def finish(self, payload: dict[str, Any]) -> Any:
        """The XCom of a finished wait, from the check's payload (poke) or the success event (deferred).

        :param payload: the payload (the event without ``status`` and ``message``).
        """
        return payload

    # -- the modes ------------------------------------------------------------------------------
    def build_trigger(self, deadline: str | None) -> PollingTrigger:
        """The trigger of this sensor (its check is also what :meth:`poke` runs).

        :param deadline: absolute UTC deadline (ISO 8601), None for a poke.
        """
        params = self.trigger_params()  # bad input fails before the connection is read
        return self.trigger_class(
            conn_id=self.hook_conn_id(), poll_interval=float(self.poke_interval), deadline=deadline, **params
        )

    def poke(self, context: Any) -> PokeReturnValue:
        trigger = self.build_trigger(None)
        target = self.poll_target()
        try:
            result = trigger.poll_once(target)
        except TRANSIENT_ERRORS as exc:
            self.log.warning("check failed (%s); trying again at the next poke", exc)
            return PokeReturnValue(is_done=False)
        self.log.info("%s", result.message)
        if result.done:
            return PokeReturnValue(is_done=True, xcom_value=self.finish(dict(result.payload)))
        return PokeReturnValue(is_done=False)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        timeout = float(self.timeout) if self.timeout is not None else None
        self.defer(
            trigger=self.build_trigger(deadline_after(timeout)),
            method_name="execute_complete",
            timeout=None if timeout is None else timedelta(seconds=timeout + max(60.0, float(self.poke_interval))),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: :meth:`finish` of the payload on success; a timeout or failure
        with the trigger's message (not retried when no retry can fix its cause)."""
        event = dict(event or {})
        status, message = event.pop("status", None), event.pop("message", "no event from the trigger")
        if status == "success":
            self.log.info("%s", message)
            return self.finish(event)
        if status == "timeout":
            raise AirflowSensorTimeout(f"{type(self).__name__} timed out: {message}")
        failure = f"{type(self).__name__} failed: {message}"
        raise event_error(event, failure) or WaitFailedError(failure)
