"""Trigger that waits, in the triggerer, for the TeleVoIPs CDR report to be complete (HTTP 201)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voice.errors import VoiceProviderError
from airflow_provider_voice.hooks.televoips import TeleVoipsHook

__all__ = ["CdrReportTrigger"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class CdrReportTrigger(BaseTrigger):
    """Polls ``GET /reports/cdrs`` asynchronously until the report answers 201 ``complete``.

    :param conn_id: the TeleVoIPs connection id.
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline (ISO 8601 string or aware datetime); after it one
        last poll is made, then a ``timeout`` event is sent. None waits until the report is ready.

    Events: ``{"status": "success", "message", "id", "url", "day"}``;
    ``{"status": "timeout", "message", "id", "report_status"}`` (after the final poll);
    ``{"status": "error", "message", "error_type"}`` (auth failure, vendor error, network
    failure after the transport's retries).
    """

    def __init__(self, *, conn_id: str, poll_interval: float = 60.0, deadline: str | dt.datetime | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        if isinstance(deadline, str):
            deadline = dt.datetime.fromisoformat(deadline.replace("Z", "+00:00"))
        if deadline is not None and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=dt.timezone.utc)
        self.deadline: dt.datetime | None = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "deadline": None if self.deadline is None else _iso(self.deadline),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            client = await TeleVoipsHook(conn_id=self.conn_id).aget_client()
        except Exception as exc:  # bad connection: report it, do not crash the triggerer
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": f"cannot build the TeleVoIPs client: {exc}",
                    "error_type": type(exc).__name__,
                }
            )
            return
        polls = 0
        try:
            while True:
                report = await client.request_cdr_report()
                polls += 1
                if report.is_complete:
                    yield TriggerEvent(
                        {"status": "success", "message": f"CDR report {report.id} is complete", **report.handle()}
                    )
                    return
                now = _utcnow()
                if self.deadline is not None and now >= self.deadline:
                    yield TriggerEvent(
                        {
                            "status": "timeout",
                            "message": f"CDR report {report.id} still {report.status} at the deadline "
                            f"{_iso(self.deadline)} after {polls} polls",
                            "id": report.id,
                            "report_status": report.status,
                        }
                    )
                    return
                wait = self.poll_interval
                if self.deadline is not None:
                    wait = min(wait, max(0.0, (self.deadline - now).total_seconds()))
                self.log.info("CDR report %s is %s; next poll in %.0f s", report.id, report.status, wait)
                await asyncio.sleep(wait)
        except VoiceProviderError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc), "error_type": type(exc).__name__})
        finally:
            await client.aclose()
