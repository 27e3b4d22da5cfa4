"""TeleVoIPs CDR reports: ``GET /reports/cdrs`` (request / poll) and the CSV file download.

Lifecycle (spec): the first request of a day answers **202** ``requested``, then **202**
``processing`` while the CSV of the *previous day* is compiled (minutes), then **201**
``complete`` with the file ``url``. A report is made once per day and never recreated, so
asking again is harmless. Errors: **403** ``'Access Denied'`` (no or wrong ``x-api-key``)
-> :class:`~airflow_provider_voice.errors.AuthError`; **400** ``'There was a problem processing
your request.'`` -> :class:`~airflow_provider_voice.errors.VendorRejectedError`. The download
answers 200 with the CSV, **401** ``{"message": "Unauthorized"}`` / **403**
``{"message": "Forbidden"}`` -> :class:`AuthError`.

The download is never read into memory: :meth:`TeleVoipsReportEndpoints.cdr_file_call` builds the
call and the caller opens it with ``client.stream(call)`` (sync or async client; see
:mod:`airflow_provider_voice.vendors.televoips.cdr_download`). The ``x-api-key`` is only ever sent to the configured
API host: a report ``url`` pointing elsewhere is refused.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import httpx

from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VoiceProviderError
from airflow_provider_voice.redaction import redact
from airflow_provider_voice.transport import Call, Flow, Sleep, json_body
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsCore
from airflow_provider_voice.vendors.televoips.cdr import CdrReport

__all__ = ["CdrReportNotReadyError", "TeleVoipsReportEndpoints"]

CDR_REPORT_STATUSES = frozenset({"requested", "processing", "complete"})


class CdrReportNotReadyError(VoiceProviderError):
    """The CDR report was still being compiled when the wait ended.

    :param message: human readable text.
    :param report: the last :class:`~airflow_provider_voice.vendors.televoips.cdr.CdrReport` seen (or None).
    :param vendor: the vendor (``televoips``).
    :param endpoint: the endpoint that was polled.
    """

    def __init__(
        self,
        message: str,
        *,
        report: CdrReport | None = None,
        vendor: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.report = report


class TeleVoipsReportEndpoints(TeleVoipsCore):
    """TeleVoIPs CDR report endpoints: :meth:`request_cdr_report`, :meth:`wait_for_cdr_report`
    (a polling flow) and :meth:`cdr_file_call` (the streamed download)."""

    @endpoint
    def request_cdr_report(self) -> Call[CdrReport]:
        """``GET /reports/cdrs``: request (or poll) the CDR report of the previous day.

        :returns: a :class:`CdrReport` (``id``, ``url``, ``status`` and ``http_status`` 202/201).
        """
        return Call(
            endpoint="GET /reports/cdrs",
            method="GET",
            path="/reports/cdrs",
            auth="reports",
            parse=self._parse_cdr_report,
        )

    @endpoint
    def wait_for_cdr_report(self, *, poll_interval: float = 30.0, timeout: float = 3600.0) -> Flow[CdrReport]:
        """Poll ``GET /reports/cdrs`` every ``poll_interval`` seconds until it answers 201.

        :param poll_interval: seconds between polls (> 0).
        :param timeout: how long to wait in total; the last poll happens at the deadline.
        :returns: the complete :class:`CdrReport`; raises :class:`CdrReportNotReadyError` when
            the report is still not ready after ``timeout``.
        """
        if not poll_interval > 0:
            raise ValidationError("poll_interval", poll_interval, "a number of seconds > 0", vendor=self.vendor)
        if not timeout >= 0:
            raise ValidationError("timeout", timeout, "a number of seconds >= 0", vendor=self.vendor)
        return self._wait_flow(poll_interval, timeout)

    def _wait_flow(self, poll_interval: float, timeout: float) -> Flow[CdrReport]:
        polls = 1 + math.ceil(timeout / poll_interval)
        report: CdrReport | None = None
        for attempt in range(polls):
            report = yield self.request_cdr_report()
            if report.is_complete:
                return report
            if attempt < polls - 1:
                yield Sleep(min(poll_interval, max(0.0, timeout - attempt * poll_interval)))
        raise CdrReportNotReadyError(
            f"CDR report {report.id if report else '?'} still {report.status if report else 'unknown'} "
            f"after {timeout:.0f} s ({polls} polls)",
            report=report,
            vendor=self.vendor,
            endpoint="GET /reports/cdrs",
        )

    def cdr_file_call(self, report: CdrReport | str) -> Call[httpx.Response]:
        """The download of a complete report's CSV, to open with ``client.stream(call)``.

        :param report: a complete :class:`CdrReport` or its ``url``.
        Raises :class:`ValidationError` for a report that is not complete or a URL outside the
        API host (the reports key is never sent to another host).
        """
        if isinstance(report, CdrReport):
            if not report.is_complete:
                raise ValidationError(
                    "report",
                    report.id,
                    f"the report is {report.status!r}; download it once it is 'complete' (HTTP 201)",
                )
            url = report.url
        else:
            url = str(report)
        path = self._path_on_api_host(url)
        return Call(
            endpoint="GET /reports/cdrs/{id}/{file}",
            method="GET",
            path=path,
            auth="reports",
            headers={"Accept": "text/csv, */*;q=0.5"},
            parse=lambda response: response,
        )

    # -- helpers ---------------------------------------------------------------------------
    def _path_on_api_host(self, url: str) -> str:
        base = self.base_urls["default"].rstrip("/")
        target = urlsplit(url)
        if not target.scheme:  # a relative URL: resolve against the API
            path = url if url.startswith("/") else "/" + url
            return path
        base_parts = urlsplit(base)
        same_origin = (target.scheme, target.hostname, target.port) == (
            base_parts.scheme,
            base_parts.hostname,
            base_parts.port,
        )
        prefix = base_parts.path.rstrip("/")
        if not same_origin or not (target.path == prefix or target.path.startswith(prefix + "/")):
            raise ValidationError(
                "report.url",
                redact(url),
                f"the CDR file must be on the TeleVoIPs API host {base}; the reports key is not sent elsewhere",
                vendor=self.vendor,
            )
        path = target.path[len(prefix) :]
        return path + (f"?{target.query}" if target.query else "")

    def _parse_cdr_report(self, response: httpx.Response) -> CdrReport:
        payload = json_body(response, vendor=self.vendor, endpoint="GET /reports/cdrs")
        if not isinstance(payload, dict) or not payload.get("id") or not payload.get("url"):
            raise MalformedResponseError(
                f"expected {{id, url, status}}, got {redact(str(payload))[:200]!r}",
                vendor=self.vendor,
                endpoint="GET /reports/cdrs",
            )
        status = str(payload.get("status") or "").strip().lower()
        if status not in CDR_REPORT_STATUSES:
            status = "complete" if response.status_code == 201 else (status or "processing")
        return CdrReport.model_validate({**payload, "status": status, "http_status": response.status_code})
