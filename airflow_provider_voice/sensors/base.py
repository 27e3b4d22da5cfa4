"""Base of the provider's sensors: poke, reschedule or defer, around one :class:`PollingTrigger` check."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_provider_voice.hooks.base import get_voice_hook
from airflow_provider_voice.operators.base import FailFastMixin
from airflow_provider_voice.triggers.base import (
    TRANSIENT_ERRORS,
    PollingTrigger,
    PollResult,
    deadline_after,
    event_error,
)

__all__ = ["PollingSensor"]


class PollingSensor(FailFastMixin, BaseSensorOperator):
    """A sensor whose check is a :class:`PollingTrigger`'s: the same code pokes (sync) and defers (async).

    :param conn_id: the vendor connection.
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``). The first check runs in the worker; only an unfinished wait defers.
    :param poke_interval: seconds between checks (also the trigger's interval).
    Other arguments: :class:`~airflow.sdk.BaseSensorOperator` (``timeout``, ``mode``...).

    Subclasses set :attr:`trigger_class`, :attr:`vendors` (connection types they accept) and
    implement :meth:`trigger_params`. XCom: the check's payload.
    """

    trigger_class: ClassVar[type[PollingTrigger]]
    #: connection types this sensor accepts (empty: any)
    vendors: ClassVar[tuple[str, ...]] = ()
    template_fields: Sequence[str] = ("conn_id",)

    def __init__(
        self,
        *,
        conn_id: str,
        deferrable: bool | None = None,
        poke_interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False) if deferrable is None else deferrable
        )

    def trigger_params(self) -> dict[str, Any]:
        """The trigger's own arguments (JSON primitives), from this sensor's rendered fields."""
        return {}

    @cached_property
    def hook(self) -> Any:
        return get_voice_hook(self.conn_id, vendors=self.vendors, purpose=type(self).__name__)

    def build_trigger(self, deadline: str | None) -> PollingTrigger:
        return self.trigger_class(
            conn_id=self.conn_id, poll_interval=float(self.poke_interval), deadline=deadline, **self.trigger_params()
        )

    def poke(self, context: Any) -> PokeReturnValue | bool:
        try:
            result: PollResult = self.build_trigger(None).poll_once(self.hook)
        except TRANSIENT_ERRORS as exc:
            self.log.warning("check failed (%s); trying again at the next poke", exc)
            return False
        if result.done:
            self.log.info("%s", result.message)
            return PokeReturnValue(is_done=True, xcom_value=result.payload)
        self.log.info("%s", result.message)
        return False

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        timeout = float(self.timeout) if self.timeout is not None else None
        self.defer(
            trigger=self.build_trigger(deadline_after(timeout)),
            method_name="execute_complete",
            timeout=None if timeout is None else timedelta(seconds=timeout + max(60.0, float(self.poke_interval))),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: the payload on success; a timeout or failure with the trigger's message."""
        event = dict(event or {})
        status, message = event.pop("status", None), event.pop("message", "no event from the trigger")
        if status == "success":
            self.log.info("%s", message)
            return event
        if status == "timeout":
            raise AirflowSensorTimeout(f"{type(self).__name__} timed out: {message}")
        failure = f"{type(self).__name__} failed: {message}"
        raise event_error(event, failure) or AirflowException(failure)
