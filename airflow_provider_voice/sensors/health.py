"""Wait until Kaleyra's network is healthy for what a campaign needs (``method=monitor``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook, BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.triggers.health import TRANSIENT_ERRORS, HealthStatusTrigger, evaluate_health

__all__ = ["HealthStatusSensor"]


class HealthStatusSensor(BaseSensorOperator):
    """Succeed when Kaleyra reports the regions/numbers a job needs as operational.

    Kaleyra's ``monitor`` lists incidents by region (``type`` operational, warning or critical);
    ``E701 No incidents found`` means healthy. With ``regions`` and/or ``numbers``, only the
    incidents for those regions or listing those numbers count; otherwise every incident counts.
    ``E542`` (monitor plugin not subscribed) and authentication errors fail the task at once.

    :param conn_id: a Kaleyra connection (type ``kaleyra``).
    :param regions: region names or codes (``"Karnataka"``, ``"KA-IN"``). Templated.
    :param numbers: the account numbers the job will call from. Templated.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: seconds between polls (also the trigger's interval).
    Other arguments: :class:`~airflow.sdk.BaseSensorOperator` (``timeout``, ``mode``, ``soft_fail``...).

    XCom: ``{"healthy": True, "incidents": n, "relevant": m, "not_operational": [], "vendor_message": ...}``.
    """

    template_fields: Sequence[str] = ("conn_id", "regions", "numbers")
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        conn_id: str = "kaleyra_default",
        regions: Sequence[str] | None = None,
        numbers: Sequence[str] | None = None,
        deferrable: bool | None = None,
        poke_interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.regions = regions
        self.numbers = numbers
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False) if deferrable is None else deferrable
        )

    @cached_property
    def hook(self) -> Any:
        hook = BaseHook.get_hook(self.conn_id)
        if getattr(hook, "conn_type", None) != "kaleyra":
            raise ValidationError(
                "conn_id", self.conn_id, "HealthStatusSensor reads Kaleyra's monitor: use a kaleyra connection"
            )
        return hook

    def _lists(self) -> tuple[list[str], list[str]]:
        def as_list(value: Any) -> list[str]:
            if value in (None, ""):
                return []
            return [value] if isinstance(value, str) else [str(v) for v in value]

        return as_list(self.regions), as_list(self.numbers)

    def poke(self, context: Any) -> PokeReturnValue | bool:
        regions, numbers = self._lists()
        try:
            health = self.hook.client.monitor()
        except TRANSIENT_ERRORS as exc:
            self.log.warning("Kaleyra monitor failed (%s); poking again later", exc)
            return False
        verdict = evaluate_health(health, regions=regions, numbers=numbers)
        if verdict["healthy"]:
            self.log.info(
                "Kaleyra healthy: %d incident entries, %d relevant", verdict["incidents"], verdict["relevant"]
            )
            return PokeReturnValue(is_done=True, xcom_value=verdict)
        self.log.info("Kaleyra not healthy yet: %s", verdict["not_operational"])
        return False

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        timeout = float(self.timeout) if self.timeout is not None else 7 * 24 * 3600.0
        regions, numbers = self._lists()
        self.defer(
            trigger=HealthStatusTrigger(
                conn_id=self.conn_id,
                regions=regions,
                numbers=numbers,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + 60),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return the verdict, or fail/time out with the trigger's message."""
        event = event or {}
        status = event.get("status")
        if status == "success":
            self.log.info("%s", event.get("message"))
            return {k: v for k, v in event.items() if k not in ("status", "message")}
        if status == "timeout":
            raise AirflowSensorTimeout(f"HealthStatusSensor timed out: {event.get('message')}")
        raise AirflowException(f"HealthStatusSensor failed: {event.get('message', 'no event from the trigger')}")
