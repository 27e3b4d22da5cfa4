"""Wait for a click-to-call's outcome (Kaleyra ``dial.c2cstatus``, Velip ``GetCallStatus``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.click_to_call import finish_click_to_call
from airflow_provider_voice.sensors.base import PollingSensor, lazy_trigger_class
from airflow_provider_voice.triggers.base import PollingTrigger

if TYPE_CHECKING:  # imported when the sensor first runs (lazy_trigger_class)
    from airflow_provider_voice.triggers.click_to_call import ClickToCallTrigger  # noqa: F401

__all__ = ["ClickToCallSensor"]


class ClickToCallSensor(PollingSensor):
    """Wait until a click-to-call has ended; push its outcome.

    :param conn_id: the connection the call was placed with (Kaleyra or Velip).
    :param call_id: the call id (Kaleyra ``c2c_...``, Velip ``cd_id``) or the dict pushed by
        :class:`~airflow_provider_voice.operators.click_to_call.ClickToCallOperator`. Templated.
    :param require_connected: fail (no retry) unless both people were connected.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: seconds between status reads (default 15).

    XCom: ``{"vendor", "call_id", "state", "agent_status", "customer_status", "duration"}``; ``state``
    is ``connected``, ``agent_unreached``, ``customer_unreached`` or ``failed``.
    """

    trigger_class: ClassVar[type[PollingTrigger]] = lazy_trigger_class(
        "airflow_provider_voice.triggers.click_to_call:ClickToCallTrigger"
    )
    vendors: ClassVar[tuple[str, ...]] = ("kaleyra", "velip")
    template_fields: Sequence[str] = ("conn_id", "call_id")
    ui_color = "#e6f0ff"

    def __init__(
        self,
        *,
        conn_id: str,
        call_id: Any,
        require_connected: bool = False,
        poke_interval: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, poke_interval=poke_interval, **kwargs)
        self.call_id = call_id
        self.require_connected = require_connected

    def trigger_params(self) -> dict[str, Any]:
        value = self.call_id
        if isinstance(value, Mapping):
            call_id, ctid = value.get("call_id"), value.get("ctid")
        else:
            call_id, ctid = (None if value in (None, "") else str(value)), None
        if not call_id and not ctid:
            raise ValidationError("call_id", value, "the click-to-call id (or the ClickToCallOperator's XCom)")
        return {"call_id": call_id, "ctid": ctid}

    def finish(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The call's outcome; fails (no retry) when ``require_connected`` and it did not connect."""
        return finish_click_to_call(payload, require_connected=self.require_connected)
