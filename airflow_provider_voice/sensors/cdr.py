"""Sensor that waits until TeleVoIPs has compiled the CDR report (``GET /reports/cdrs`` answers 201)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_voice.hooks.televoips import TeleVoipsHook
from airflow_provider_voice.triggers.cdr import CdrReportTrigger

__all__ = ["CdrReportSensor"]

#: slack given to Airflow's own deferral timeout beyond the trigger's deadline (the trigger
#: makes a last poll at its deadline and reports the timeout itself)
_DEFER_TIMEOUT_SLACK = dt.timedelta(minutes=5)


class CdrReportSensor(BaseSensorOperator):
    """Waits until the TeleVoIPs CDR report of the previous day is complete.

    Each poke calls ``GET /reports/cdrs``: the first call of the day *requests* the report (202
    ``requested``), later ones see 202 ``processing`` and finally 201 ``complete``. TeleVoIPs
    compiles one report per day and never recreates it, so poking again is harmless.

    :param conn_id: TeleVoIPs connection id (needs the reports key). Templated.
    :param deferrable: wait in the triggerer (:class:`~airflow_provider_voice.triggers.cdr.CdrReportTrigger`)
        instead of a worker slot; default from ``[operators] default_deferrable``.
    :param poke_interval: seconds between polls (all modes). :param timeout: seconds before giving
        up (deferrable: the trigger makes one last poll at the deadline). ``mode`` (``poke`` /
        ``reschedule``), ``soft_fail`` and the other sensor arguments work as usual.

    Pushes to XCom (return value): ``{"id": <report id>, "url": <CSV url>, "day": "YYYY-MM-DD"}``,
    the input of :class:`~airflow_provider_voice.operators.cdr.DownloadCdrReportOperator`.
    Errors: :class:`~airflow_provider_voice.errors.AuthError` (403 ``Access Denied``),
    :class:`~airflow_provider_voice.errors.VendorRejectedError` (400).
    """

    template_fields: Sequence[str] = ("conn_id",)
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        conn_id: str = "televoips_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> TeleVoipsHook:
        """The TeleVoIPs hook (built at execute time)."""
        return TeleVoipsHook(conn_id=self.conn_id)

    def poke(self, context: Any) -> PokeReturnValue:
        report = self.hook.client.request_cdr_report()
        self.log.info("CDR report %s: %s (HTTP %s)", report.id, report.status, report.http_status)
        if report.is_complete:
            return PokeReturnValue(is_done=True, xcom_value=report.handle())
        return PokeReturnValue(is_done=False)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context=context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        timeout = dt.timedelta(seconds=float(self.timeout))
        deadline = dt.datetime.now(dt.timezone.utc) + timeout
        self.defer(
            trigger=CdrReportTrigger(conn_id=self.conn_id, poll_interval=self.poke_interval, deadline=deadline),
            method_name="execute_complete",
            timeout=timeout + dt.timedelta(seconds=self.poke_interval) + _DEFER_TIMEOUT_SLACK,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: return ``{id, url, day}`` or fail with the trigger's message."""
        event = event or {}
        status = event.get("status")
        if status == "success":
            self.log.info("%s", event.get("message"))
            return {"id": event.get("id"), "url": event.get("url"), "day": event.get("day")}
        message = str(event.get("message") or f"unexpected trigger event {event!r}")
        if status == "timeout":
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        raise AirflowException(message)
