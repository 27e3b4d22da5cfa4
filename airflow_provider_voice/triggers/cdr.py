"""Trigger that waits, in the triggerer, for the TeleVoIPs CDR report to be complete (HTTP 201)."""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.transport import Call
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult
from airflow_provider_voice.vendors.televoips import CdrReport, TeleVoipsApi

__all__ = ["CdrReportTrigger", "cdr_report_result"]


def cdr_report_result(report: CdrReport) -> PollResult:
    """One poll of ``GET /reports/cdrs`` as a verdict: done at 201 ``complete``; payload ``{id, url, day}``
    (the :class:`CdrReport` itself is the verdict's ``value``, for the worker)."""
    state = f"CDR report {report.id} is {report.status} (HTTP {report.http_status})"
    return PollResult(done=report.is_complete, message=state, payload=report.handle(), value=report)


class CdrReportTrigger(PollingTrigger):
    """Polls ``GET /reports/cdrs`` asynchronously until the report answers 201 ``complete``.

    :param conn_id: the TeleVoIPs connection id (reports key).
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline, ISO 8601 (``triggers.base.deadline_after(seconds)``); at
        the deadline one last poll is made, then a ``timeout`` event is sent. None: no deadline.

    Events (see :class:`~airflow_provider_voice.triggers.base.PollingTrigger`):
    ``{"status": "success", "message", "id", "url", "day"}``; ``{"status": "timeout", "message",
    "id", "url", "day"}`` (the message says the report's last status and the deadline);
    ``{"status": "error", "message"}`` for an auth failure (403 ``Access Denied``), a vendor
    refusal (400) or a missing connection. Rate limits, 5xx and network errors are polled again.
    """

    def check(self, hook: VoiceHook[TeleVoipsApi]) -> Call[PollResult]:
        # the same request, its parse wrapped: a Call[CdrReport] turned into a Call[PollResult]
        request: Call[Any] = hook.api.request_cdr_report()
        parse = request.parse
        return dataclasses.replace(request, parse=lambda response: cdr_report_result(parse(response)))
