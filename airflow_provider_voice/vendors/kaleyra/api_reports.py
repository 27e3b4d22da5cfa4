"""Kaleyra call reports: ``dial`` (call details), ``dial.c2cstatus`` (click-to-call log) and
``followup.reports``.

Each is a POST with ``method=<name>`` and optional filters ``fromdate``/``todate`` (sent as
``YYYY/MM/DD``; Kaleyra also reads ``DD/MM/YYYY``), ``callto``, ``limit`` (default 50) and
``page`` (default 1). One call = one page (:class:`KaleyraReportPage`); the ``*_flow`` methods
walk the pages until one comes back shorter than ``limit`` and emit every row (drive them with
``client.iterate(api.dial_flow(...))``).

``dial.c2cstatus`` only keeps the last :data:`C2C_RETENTION_DAYS` days: asking for older data is
refused *before* sending with a :class:`~airflow_provider_voice.errors.ValidationError` that says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import pendulum
from pydantic import BaseModel

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.report_window import vendor_date
from airflow_provider_voice.transport import Call, Emit, Flow
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION, KaleyraCore, KaleyraReply, records
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord, KaleyraFollowupRecord, KaleyraReportPage

__all__ = [
    "C2C_RETENTION_DAYS",
    "KALEYRA_DATE_FORMAT",
    "KALEYRA_TIMEZONE",
    "MAX_PAGES",
    "KaleyraReportEndpoints",
]

#: zone Kaleyra's report days are counted in (India Standard Time)
KALEYRA_TIMEZONE = "Asia/Kolkata"
#: ``fromdate``/``todate`` as sent (the spec accepts ``YYYY/MM/DD`` or ``DD/MM/YYYY``)
KALEYRA_DATE_FORMAT = "%Y/%m/%d"
#: ``dial.c2cstatus``: "Last 3 days call logs only will be accessible"
C2C_RETENTION_DAYS = 3
#: the largest ``limit`` accepted by these clients (Kaleyra documents no maximum)
MAX_LIMIT = 1000
#: safety bound of a pagination flow (a vendor that ignored ``page`` would loop forever)
MAX_PAGES = 100_000


class KaleyraReportEndpoints(KaleyraCore):
    """Kaleyra call-report endpoints (``dial``, ``dial.c2cstatus``, ``followup.reports``) and the
    pagination flows over them."""

    # -- one page ---------------------------------------------------------------------------
    @endpoint
    def dial(
        self,
        *,
        call_id: str | None = None,
        fromdate: Any = None,
        todate: Any = None,
        callto: Any = None,
        limit: int = 50,
        page: int = 1,
    ) -> Call[KaleyraReportPage[KaleyraCallRecord]]:
        """``method=dial``: details of incoming calls forwarded to agent numbers (one page).

        :param call_id: a call id (``id``) to fetch one call.
        :param fromdate: first day (date, datetime, ``"YYYY-MM-DD"``, ``"YYYY/MM/DD"`` or ``"DD/MM/YYYY"``).
        :param todate: last day, same forms.
        :param callto: filter on the called number (10-digit Indian mobile, or any form
            :class:`~airflow_provider_voice.models.PhoneNumber` parses).
        :param limit: rows per page (1-1000).
        :param page: page number from 1.
        :returns: a :class:`KaleyraReportPage` of :class:`KaleyraCallRecord`.
        """
        fields = self._report_fields(
            call_id=call_id, fromdate=fromdate, todate=todate, callto=callto, limit=limit, page=page
        )
        return self._report_call("dial", fields, KaleyraCallRecord, "dial", limit, page)

    @endpoint
    def c2c_status(
        self,
        *,
        call_id: str | None = None,
        fromdate: Any = None,
        todate: Any = None,
        callto: Any = None,
        limit: int = 50,
        page: int = 1,
    ) -> Call[KaleyraReportPage[KaleyraCallRecord]]:
        """``method=dial.c2cstatus``: the click-to-call log (one page); ``call_id`` tracks one call.

        Kaleyra keeps only the last :data:`C2C_RETENTION_DAYS` days (India time): a ``fromdate``
        or ``todate`` before that raises :class:`ValidationError` before anything is sent.
        Parameters as :meth:`dial`. Rows carry ``status`` (first leg) and ``status2`` (second leg).
        """
        fields = self._report_fields(
            call_id=call_id, fromdate=fromdate, todate=todate, callto=callto, limit=limit, page=page
        )
        oldest = self.c2c_oldest_day()
        for name in ("fromdate", "todate"):
            if name in fields:
                day = dt.datetime.strptime(fields[name], KALEYRA_DATE_FORMAT).date()
                if day < oldest:
                    raise ValidationError(
                        name,
                        fields[name],
                        f"Kaleyra keeps the click-to-call log (dial.c2cstatus) for the last {C2C_RETENTION_DAYS} "
                        f"days only: the oldest day available today is {oldest:%Y/%m/%d} (India time)",
                        vendor=self.vendor,
                    )
        return self._report_call("dial.c2cstatus", fields, KaleyraCallRecord, "dial", limit, page)

    @endpoint
    def followup_reports(
        self,
        *,
        fromdate: Any = None,
        todate: Any = None,
        follower: Any = None,
        number: Any = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> Call[KaleyraReportPage[KaleyraFollowupRecord]]:
        """``method=followup.reports``: follow-up calls scheduled in the account.

        :param fromdate: first day (forms as :meth:`dial`).
        :param todate: last day (forms as :meth:`dial`).
        :param follower: filter on the follower's number.
        :param number: filter on the follow-up number.
        :param limit: rows per page; the spec lists neither ``limit`` nor ``page`` for this method, so they are only
            sent when given.
        :param page: page number (only sent when given, as ``limit``).
        """
        fields = self._report_fields(fromdate=fromdate, todate=todate, limit=limit, page=page)
        if follower is not None:
            fields["follower"] = self._number(follower, "follower")
        if number is not None:
            fields["number"] = self._number(number, "number")
        return self._report_call("followup.reports", fields, KaleyraFollowupRecord, "followup", limit, page or 1)

    # -- every page ---------------------------------------------------------------------------
    def dial_flow(self, *, limit: int = 200, **filters: Any) -> Flow[int]:
        """Every ``dial`` row matching ``filters`` (as :meth:`dial`), page after page; returns the count."""
        return self.pages_flow(self.dial, limit=limit, **filters)

    def c2c_status_flow(self, *, limit: int = 200, **filters: Any) -> Flow[int]:
        """Every ``dial.c2cstatus`` row matching ``filters`` (as :meth:`c2c_status`); returns the count."""
        return self.pages_flow(self.c2c_status, limit=limit, **filters)

    def followup_reports_flow(self, *, limit: int = 200, **filters: Any) -> Flow[int]:
        """Every ``followup.reports`` row matching ``filters``; returns the count."""
        return self.pages_flow(self.followup_reports, limit=limit, **filters)

    def pages_flow(
        self, build: Callable[..., Call[KaleyraReportPage[Any]]], *, limit: int, **filters: Any
    ) -> Flow[int]:
        """Walk pages 1, 2, ... of one report (``limit`` rows each) until a short or empty page,
        emitting each page's rows. A page identical to the previous one (a server ignoring
        ``page``) also ends the walk. The filters are validated here, before any request."""
        build(limit=limit, page=1, **filters)  # raises ValidationError now, not at the first step
        return self._walk_pages(build, limit, filters)

    def _walk_pages(
        self, build: Callable[..., Call[KaleyraReportPage[Any]]], limit: int, filters: dict[str, Any]
    ) -> Flow[int]:
        total = 0
        previous: list[dict[str, Any]] | None = None
        for page_number in range(1, MAX_PAGES + 1):
            page: KaleyraReportPage[Any] = yield build(limit=limit, page=page_number, **filters)
            dumped = [row.model_dump() for row in page.rows]
            if previous is not None and dumped and dumped == previous:
                # a full page answered again: the vendor ignores ``page``; rows after it may exist
                raise MalformedResponseError(
                    f"page {page_number} repeats page {page_number - 1} ({len(dumped)} rows): the report cannot be "
                    f"read past {total} rows; narrow the date range so it fits one page",
                    vendor=self.vendor,
                    endpoint="report pagination",
                )
            if page.rows:
                total += len(page.rows)
                yield Emit(list(page.rows))
            if page.is_last:
                return total
            previous = dumped
        raise MalformedResponseError(
            f"the report has more than {MAX_PAGES} pages: stopped after {total} rows instead of returning part of it",
            vendor=self.vendor,
            endpoint="report pagination",
        )

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def c2c_oldest_day(today: dt.date | None = None) -> dt.date:
        """The oldest day ``dial.c2cstatus`` still holds (India time)."""
        today = today or pendulum.now(KALEYRA_TIMEZONE).date()
        return today - dt.timedelta(days=C2C_RETENTION_DAYS)

    def _number(self, value: Any, field: str) -> str:
        return PhoneNumber.parse(value, DEFAULT_REGION, field=field).kaleyra

    def _report_fields(
        self,
        *,
        call_id: str | None = None,
        fromdate: Any = None,
        todate: Any = None,
        callto: Any = None,
        limit: int | None = None,
        page: int | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if call_id is not None:
            if not isinstance(call_id, str) or not call_id.strip() or len(call_id) > 100:
                raise ValidationError(
                    "call_id", call_id, "a call id as issued by Kaleyra (non-empty text)", vendor=self.vendor
                )
            fields["id"] = call_id.strip()
        days: dict[str, dt.date] = {}
        for name, value in (("fromdate", fromdate), ("todate", todate)):
            if value is not None:
                days[name] = vendor_date(value, KALEYRA_TIMEZONE, field=name)
                fields[name] = days[name].strftime(KALEYRA_DATE_FORMAT)
        if len(days) == 2 and days["fromdate"] > days["todate"]:
            raise ValidationError(
                "fromdate", fields["fromdate"], f"must not be after todate {fields['todate']}", vendor=self.vendor
            )
        if callto is not None:
            fields["callto"] = self._number(callto, "callto")
        for name, value in (("limit", limit), ("page", page)):
            if value is None:
                continue
            high = MAX_LIMIT if name == "limit" else MAX_PAGES
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValidationError(name, value, f"an integer from 1 to {high}", vendor=self.vendor)
            fields[name] = value
        return fields

    def _report_call(
        self,
        method: str,
        fields: Mapping[str, Any],
        model: type[BaseModel],
        item_tag: str,
        limit: int | None,
        page: int,
    ) -> Call[KaleyraReportPage[Any]]:
        page_model = KaleyraReportPage[model]  # type: ignore[valid-type]

        def parse(reply: KaleyraReply) -> KaleyraReportPage[Any]:
            rows = [model.model_validate(row) for row in _report_rows(reply, item_tag, method, model)]
            return page_model(rows=rows, page=page, limit=limit, message=reply.message)

        return self.method_call(method, fields, parse=parse, idempotent=True)


def _report_rows(reply: KaleyraReply, item_tag: str, method: str, model: type[BaseModel]) -> list[dict[str, Any]]:
    """The rows of a report page. A 200 without ``data`` ("all the response is wrapped inside data"),
    or with rows that are not objects (or carry none of the report's fields), is malformed: never
    read as an empty (last) page."""
    data = reply.data
    if not reply.has_data:
        raise MalformedResponseError(f"{method} answered 200 without 'data'", vendor="kaleyra", endpoint=method)
    if data in (None, "", [], {}):  # an empty page (JSON null/[] or an empty XML element)
        return []
    if isinstance(data, Mapping) and item_tag in data:
        data = data[item_tag]
        data = data if isinstance(data, list) else [data]
    if isinstance(data, list):
        if not all(isinstance(row, Mapping) for row in data):
            raise MalformedResponseError(f"{method} rows are not objects", vendor="kaleyra", endpoint=method)
        return [dict(row) for row in data]
    if isinstance(data, Mapping):
        rows = records(data, item_tag)
        known = set(model.model_fields) | {"parentid"}
        if all(known & set(row) for row in rows):
            return rows
    raise MalformedResponseError(f"{method} 'data' is not a list of rows", vendor="kaleyra", endpoint=method)
