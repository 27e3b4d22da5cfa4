"""Export call reports for the DAG run's data interval to a JSONL/CSV file (local or object storage).

* :class:`KaleyraCallReportOperator`: Kaleyra ``dial`` (call details), ``dial.c2cstatus``
  (click-to-call log, last 3 days only) or ``followup.reports``; ``limit``/``page`` pagination.
* :class:`VelipCallStatusExportOperator`: Velip ``GetCallStatus``, following the ``last_id`` cursor
  (``maxreg`` up to 5000 per page; 429 ``Retry-After`` honoured by the transport).

Both write atomically (temporary file renamed into place when every page has been fetched and
written), stream rows page by page (constant memory), and publish an Asset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

from airflow.sdk import Asset

from airflow_provider_voice.capabilities.export import FileFormat, export_records
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.report_window import interval_days, previous_day, run_window, vendor_date
from airflow_provider_voice.operators.base import VoiceOperator
from airflow_provider_voice.operators.cdr import resolve_asset, storage_destination
from airflow_provider_voice.vendors.kaleyra import KALEYRA_TIMEZONE
from airflow_provider_voice.vendors.velip import MAXREG_LIMIT, VELIP_TIMEZONE

__all__ = ["KaleyraCallReportOperator", "VelipCallStatusExportOperator"]


class _CallReportExportOperator(VoiceOperator):
    """Shared part: the day range, the destination, the Asset and the export."""

    vendor_timezone: ClassVar[str] = "UTC"
    template_fields: Sequence[str] = ("destination", "conn_id", "date_from", "date_to")

    def __init__(
        self,
        *,
        destination: Any,
        conn_id: str,
        date_from: Any = None,
        date_to: Any = None,
        file_format: FileFormat | None = None,
        storage_conn_id: str | None = None,
        asset: Asset | str | bool | None = None,
        **kwargs: Any,
    ) -> None:
        if file_format not in (None, "jsonl", "csv"):
            raise ValidationError("file_format", file_format, "'jsonl' or 'csv' (or None to use the file suffix)")
        resolved = resolve_asset(destination, asset)
        if resolved is not None:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), resolved]
        super().__init__(**kwargs)
        self.destination = destination
        self.conn_id = conn_id
        self.date_from = date_from
        self.date_to = date_to
        self.file_format = file_format
        self.storage_conn_id = storage_conn_id
        self.asset = resolved

    def days(self, context: Any) -> tuple[dt.date, dt.date]:
        """The first and last day to export, in the vendor's zone: ``date_from``/``date_to`` when
        given, else the days the run's data interval covers; without a (non-empty) data interval,
        the last complete day before ``dag_run.run_after`` (see :func:`run_window`). The log says
        which window was used and why."""
        tz = self.vendor_timezone
        given_from, given_to = self.date_from not in (None, ""), self.date_to not in (None, "")
        window = run_window(context or {})
        if given_from and given_to:
            why = "date_from/date_to as given"
        elif window.source == "data_interval":
            first, last = interval_days(window.start, window.end, tz)
            why = window.describe()
        elif window.source == "run_after" and window.anchor is not None:
            first = last = previous_day(window.anchor, tz)
            why = f"{window.describe()}: the last complete day ({tz}) before it"
        else:
            raise ValidationError(
                "date_from/date_to",
                (self.date_from, self.date_to),
                f"give both when the run has no data interval ({window.reason})",
            )
        if given_from:
            first = vendor_date(self.date_from, tz, field="date_from")
        if given_to:
            last = vendor_date(self.date_to, tz, field="date_to")
        if given_from != given_to:
            why += f"; {'date_from' if given_from else 'date_to'} as given"
        if first > last:
            raise ValidationError("date_from", first.isoformat(), f"must not be after date_to {last.isoformat()}")
        self.log.info("report window %s .. %s (%s): %s", first, last, tz, why)
        return first, last

    def rows(self, first: dt.date, last: dt.date) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def execute(self, context: Any) -> dict[str, Any]:
        first, last = self.days(context)
        self.log.info("exporting %s for %s .. %s", type(self).__name__, first, last)
        rows = self.rows(first, last)  # builds (and validates) the first request before any file is opened
        result = export_records(
            rows, storage_destination(self.destination, self.storage_conn_id), file_format=self.file_format
        )
        self.log.info("%d rows written to %s (%s)", result.rows, result.path, result.file_format)
        if self.asset is not None and context is not None and "outlet_events" in context:
            context["outlet_events"][self.asset].extra = {
                "path": result.path,
                "rows": result.rows,
                "bytes": result.bytes,
                "from": first.isoformat(),
                "to": last.isoformat(),
            }
        return {**result.to_dict(), "from": first.isoformat(), "to": last.isoformat()}


class KaleyraCallReportOperator(_CallReportExportOperator):
    """Writes a Kaleyra call report for the run's days to a JSONL or CSV file.

    :param report: ``dial`` (incoming calls forwarded to agents; default), ``c2cstatus``
        (click-to-call log: Kaleyra keeps 3 days, older days fail before any request) or
        ``followup`` (``followup.reports``).
    :param destination: local path, ``file://``/``s3://``... URL or ``ObjectStoragePath``;
        templated (``".../kaleyra/{{ run_id }}.jsonl"``; ``{{ ds }}`` is undefined without a logical date); the
        suffix picks the format unless ``file_format`` is given.
    :param conn_id: Kaleyra connection id. Templated.
    :param date_from: first day (``YYYY-MM-DD``, dates); templated; default (with ``date_to``): the days of the
        run's data interval in India time (sent as ``YYYY/MM/DD``); a run without one (no logical date, or an
        empty interval) exports the last complete India day before ``dag_run.run_after``, and logs so.
    :param date_to: last day; same forms and default as ``date_from``.
    :param callto: only calls to this number (``dial``/``c2cstatus``).
    :param limit: rows per page (1-1000); pages are fetched until a short one.
    :param file_format: ``jsonl`` or ``csv``.
    :param storage_conn_id: object-storage connection.
    :param asset: Asset to publish (default derived from the destination; ``False``: none).

    Returns (XCom): ``{"path", "rows", "bytes", "file_format", "columns", "dropped_columns",
    "seconds", "from", "to"}``.
    """

    vendor_timezone: ClassVar[str] = KALEYRA_TIMEZONE
    vendors: ClassVar[tuple[str, ...]] = ("kaleyra",)
    template_fields: Sequence[str] = ("destination", "conn_id", "date_from", "date_to", "callto")

    def __init__(
        self,
        *,
        destination: Any,
        report: Literal["dial", "c2cstatus", "followup"] = "dial",
        conn_id: str = "kaleyra_default",
        callto: Any = None,
        limit: int = 200,
        **kwargs: Any,
    ) -> None:
        if report not in ("dial", "c2cstatus", "followup"):
            raise ValidationError("report", report, "'dial', 'c2cstatus' or 'followup'")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit", limit, "an integer from 1 to 1000")
        super().__init__(destination=destination, conn_id=conn_id, **kwargs)
        self.report = report
        self.callto = callto
        self.limit = limit

    def rows(self, first: dt.date, last: dt.date) -> Iterator[Any]:
        api = self.hook.api
        filters: dict[str, Any] = {"fromdate": first, "todate": last, "limit": self.limit}
        if self.report == "followup":
            flow = api.followup_reports_flow(**filters)
        else:
            if self.callto not in (None, ""):
                filters["callto"] = self.callto
            flow = api.c2c_status_flow(**filters) if self.report == "c2cstatus" else api.dial_flow(**filters)
        return self.hook.client.iterate(flow)


class VelipCallStatusExportOperator(_CallReportExportOperator):
    """Writes Velip ``GetCallStatus`` records for the run's days to a JSONL or CSV file.

    :param destination: local path, ``file://``/``s3://``... URL or ``ObjectStoragePath``; templated.
    :param conn_id: Velip connection id. Templated.
    :param date_from: first day; default (with ``date_to``): the data interval's days in Brazil time
        (``date_start``/``date_end`` as ``YYYY-MM-DD``); a run without one (no logical date, or an empty interval)
        exports the last complete Brazil day before ``dag_run.run_after``, and logs so.
    :param date_to: last day; same default as ``date_from``.
    :param cp_id: only this campaign's calls.
    :param ctid: only calls with this correlation id.
    :param maxreg: rows per page (1-5000; default 5000, the fewest requests: Velip allows about
        200 list requests per hour and answers 429 with ``Retry-After`` beyond).
    :param file_format: ``jsonl`` or ``csv``.
    :param storage_conn_id: object-storage connection.
    :param asset: Asset to publish (default derived from the destination; ``False``: none).

    Returns (XCom): as :class:`KaleyraCallReportOperator`.
    """

    vendor_timezone: ClassVar[str] = VELIP_TIMEZONE
    vendors: ClassVar[tuple[str, ...]] = ("velip",)
    template_fields: Sequence[str] = ("destination", "conn_id", "date_from", "date_to", "cp_id", "ctid")

    def __init__(
        self,
        *,
        destination: Any,
        conn_id: str = "velip_default",
        cp_id: Any = None,
        ctid: str | None = None,
        maxreg: int = MAXREG_LIMIT,
        **kwargs: Any,
    ) -> None:
        if isinstance(maxreg, bool) or not isinstance(maxreg, int) or not 1 <= maxreg <= MAXREG_LIMIT:
            raise ValidationError("maxreg", maxreg, f"an integer from 1 to {MAXREG_LIMIT}")
        super().__init__(destination=destination, conn_id=conn_id, **kwargs)
        self.cp_id = cp_id
        self.ctid = ctid
        self.maxreg = maxreg

    def rows(self, first: dt.date, last: dt.date) -> Iterator[Any]:
        api = self.hook.api
        filters: dict[str, Any] = {"date_start": first, "date_end": last, "maxreg": self.maxreg}
        if self.cp_id not in (None, ""):
            filters["cp_id"] = self.cp_id
        if self.ctid not in (None, ""):
            filters["ctid"] = self.ctid
        api.get_call_status(**filters)  # validate before the first request
        return self.hook.client.iterate(api.call_status_flow(**filters))
