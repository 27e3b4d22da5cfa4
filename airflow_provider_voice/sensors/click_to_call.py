"""Wait for a click-to-call's outcome (Kaleyra ``dial.c2cstatus``, Velip ``GetCallStatus``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallState
from airflow_provider_voice.triggers.click_to_call import TRANSIENT_ERRORS, ClickToCallTrigger

__all__ = ["ClickToCallSensor", "finish_click_to_call"]


def finish_click_to_call(result: Mapping[str, Any], *, require_connected: bool) -> dict[str, Any]:
    """The final XCom of a finished call; :class:`AirflowFailException` if ``require_connected`` and it did not connect."""
    out = dict(result)
    if require_connected and out.get("state") != ClickToCallState.CONNECTED.value:
        raise AirflowFailException(
            f"click-to-call {out.get('call_id')} ended {out.get('state')} "
            f"(agent {out.get('agent_status')}, customer {out.get('customer_status')}); require_connected=True"
        )
    return out


class ClickToCallSensor(BaseSensorOperator):
    """Wait until a click-to-call has ended; push its outcome.

    :param conn_id: the connection the call was placed with (Kaleyra or Velip).
    :param call_id: the call id (Kaleyra ``c2c_...``, Velip ``cd_id``) or the dict pushed by
        :class:`~airflow_provider_voice.operators.click_to_call.ClickToCallOperator`. Templated.
    :param require_connected: fail (no retry) unless both people were connected.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: seconds between status reads.

    XCom: ``{"vendor", "call_id", "state", "agent_status", "customer_status", "duration"}``; ``state``
    is ``connected``, ``agent_unreached``, ``customer_unreached`` or ``failed``.
    """

    template_fields: Sequence[str] = ("conn_id", "call_id")
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        conn_id: str,
        call_id: Any,
        require_connected: bool = False,
        deferrable: bool | None = None,
        poke_interval: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.call_id = call_id
        self.require_connected = require_connected
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False) if deferrable is None else deferrable
        )

    @cached_property
    def hook(self) -> Any:
        return BaseHook.get_hook(self.conn_id)

    @cached_property
    def capability(self) -> Any:
        return self.hook.capability("click_to_call")

    def handle(self) -> ClickToCallHandle:
        value = self.call_id
        vendor = self.capability.vendor
        if isinstance(value, Mapping):
            return ClickToCallHandle(vendor=vendor, call_id=value.get("call_id"), ctid=value.get("ctid"))
        if value in (None, ""):
            raise ValidationError("call_id", value, "the click-to-call id (or the ClickToCallOperator's XCom)")
        return ClickToCallHandle(vendor=vendor, call_id=str(value))

    def poke(self, context: Any) -> PokeReturnValue | bool:
        try:
            status = self.capability.status(self.handle())
        except TRANSIENT_ERRORS as exc:
            self.log.warning("click-to-call status read failed (%s); poking again later", exc)
            return False
        if not status.done:
            self.log.info("click-to-call %s still in progress", status.call_id)
            return False
        self.log.info("click-to-call %s ended: %s", status.call_id, status.state.value)
        return PokeReturnValue(
            is_done=True, xcom_value=finish_click_to_call(status.to_xcom(), require_connected=self.require_connected)
        )

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        handle = self.handle()
        timeout = float(self.timeout) if self.timeout is not None else 7 * 24 * 3600.0
        self.defer(
            trigger=ClickToCallTrigger(
                conn_id=self.conn_id,
                vendor=handle.vendor,
                call_id=handle.call_id,
                ctid=handle.ctid,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + 60),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger."""
        event = event or {}
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            return finish_click_to_call(event["result"], require_connected=self.require_connected)
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(f"ClickToCallSensor timed out: {event.get('message')}")
        raise AirflowException(f"ClickToCallSensor failed: {event.get('message', 'no event from the trigger')}")
