"""Wait until Kaleyra's network is healthy for what a campaign needs (``method=monitor``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_voice.sensors.base import PollingSensor, lazy_trigger_class
from airflow_provider_voice.triggers.base import PollingTrigger

if TYPE_CHECKING:  # imported when the sensor first runs (lazy_trigger_class)
    from airflow_provider_voice.triggers.health import HealthStatusTrigger  # noqa: F401

__all__ = ["HealthStatusSensor"]


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


class HealthStatusSensor(PollingSensor):
    """Succeed when Kaleyra reports the regions/numbers a job needs as operational.

    Kaleyra's ``monitor`` lists incidents by region (``type`` operational, warning or critical);
    ``E701 No incidents found`` means healthy. With ``regions`` and/or ``numbers``, only the
    incidents for those regions or listing those numbers count; otherwise every incident counts.
    ``E542`` (monitor plugin not subscribed) and authentication errors fail the task at once;
    rate limits, 5xx and network errors are checked again at the next poke.

    :param conn_id: a Kaleyra connection (type ``kaleyra``; default ``kaleyra_default``).
    :param regions: region names or codes (``"Karnataka"``, ``"KA-IN"``). Templated.
    :param numbers: the account numbers the job will call from. Templated.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (also the trigger's interval).
    Other arguments: :class:`~airflow.sdk.BaseSensorOperator` (``timeout``, ``mode``, ``soft_fail``...).

    XCom: ``{"healthy": True, "incidents": n, "relevant": m, "not_operational": [], "vendor_message": ...}``.
    """

    trigger_class: ClassVar[type[PollingTrigger]] = lazy_trigger_class(
        "airflow_provider_voice.triggers.health:HealthStatusTrigger"
    )
    vendors: ClassVar[tuple[str, ...]] = ("kaleyra",)
    template_fields: Sequence[str] = ("conn_id", "regions", "numbers")
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        conn_id: str = "kaleyra_default",
        regions: Sequence[str] | None = None,
        numbers: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.regions = regions
        self.numbers = numbers

    def trigger_params(self) -> dict[str, Any]:
        return {"regions": _as_list(self.regions), "numbers": _as_list(self.numbers)}
