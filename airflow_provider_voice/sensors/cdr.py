"""Sensor that waits until TeleVoIPs has compiled the CDR report (``GET /reports/cdrs`` answers 201)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_voice.sensors.base import PollingSensor, lazy_trigger_class
from airflow_provider_voice.triggers.base import PollingTrigger

if TYPE_CHECKING:  # imported when the sensor first runs (lazy_trigger_class)
    from airflow_provider_voice.triggers.cdr import CdrReportTrigger  # noqa: F401

__all__ = ["CdrReportSensor"]


class CdrReportSensor(PollingSensor):
    """Waits until the TeleVoIPs CDR report of the previous day is complete.

    Each check calls ``GET /reports/cdrs``: the first call of the day *requests* the report (202
    ``requested``), later ones see 202 ``processing`` and finally 201 ``complete``. TeleVoIPs
    compiles one report per day and never recreates it, so checking again is harmless.

    :param conn_id: TeleVoIPs connection id (needs the reports key). Templated.
    :param deferrable: wait in the triggerer (:class:`~airflow_provider_voice.triggers.cdr.CdrReportTrigger`)
        instead of a worker slot; default from ``[operators] default_deferrable``. The first check
        runs on the worker: a report already complete does not defer.
    :param poke_interval: seconds between checks (all modes).
    :param timeout: seconds before giving up (deferrable: the trigger makes one last check at the deadline).
        ``mode`` (``poke`` / ``reschedule``), ``soft_fail`` and the other sensor arguments work as usual.

    Pushes to XCom (return value): ``{"id": <report id>, "url": <CSV url>, "day": "YYYY-MM-DD"}``,
    the ``report`` of :class:`~airflow_provider_voice.operators.cdr.DownloadCdrReportOperator`.
    Fails on :class:`~airflow_provider_voice.errors.AuthError` (403 ``Access Denied``) and
    :class:`~airflow_provider_voice.errors.VendorRejectedError` (400); rate limits, 5xx and network
    errors are checked again at the next poke.
    """

    trigger_class: ClassVar[type[PollingTrigger]] = lazy_trigger_class(
        "airflow_provider_voice.triggers.cdr:CdrReportTrigger"
    )
    vendors: ClassVar[tuple[str, ...]] = ("televoips",)
    ui_color = "#e8f4fd"

    def __init__(self, *, conn_id: str = "televoips_default", poke_interval: float = 60.0, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, poke_interval=poke_interval, **kwargs)
