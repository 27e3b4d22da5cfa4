"""Velip call records: ``GetCallStatus`` (one page) and a cursor flow over every page.

``GetCallStatus`` filters on ``cd_id``, ``ctid``, ``cp_id`` and the call day
(``date_start``/``date_end``, ``YYYY-MM-DD`` in Velip's zone, Brazil time); ``maxreg`` rows per
answer (default 1000, at most 5000); the answer's ``pagination {has_more, next_id}`` is passed
back as ``last_id``. Velip allows about 200 list requests per hour and answers 429 with
``Retry-After`` beyond: the transport sleeps through short waits and raises
:class:`~airflow_provider_voice.errors.RateLimitedError` for long ones (so a task can retry later).

Sent as GET (query string): a read, so the transport may resend it after a 5xx or a timeout.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.report_window import vendor_date
from airflow_provider_voice.transport import Call, Emit, PagedFlow, json_body
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.velip.api_core import VelipCore
from airflow_provider_voice.vendors.velip.records import VelipCallRecord, VelipCallStatusPage

__all__ = ["MAXREG_DEFAULT", "MAXREG_LIMIT", "VELIP_TIMEZONE", "VelipReportEndpoints"]

#: zone of Velip's call days (``date_start``/``date_end``)
VELIP_TIMEZONE = "America/Sao_Paulo"
MAXREG_DEFAULT = 1000
MAXREG_LIMIT = 5000
#: safety bound of the cursor flow
MAX_PAGES = 100_000


class VelipReportEndpoints(VelipCore):
    """Velip call-record endpoints: :meth:`get_call_status` (one page) and :meth:`call_status_flow`."""

    @endpoint
    def get_call_status(
        self,
        *,
        cd_id: str | None = None,
        ctid: str | None = None,
        cp_id: str | int | None = None,
        date_start: Any = None,
        date_end: Any = None,
        maxreg: int = MAXREG_DEFAULT,
        last_id: str | None = None,
    ) -> Call[VelipCallStatusPage]:
        """``GetCallStatus``: one page of calls.

        :param cd_id: one call (``"c_88700"``).
        :param ctid: the caller's correlation id.
        :param cp_id: a campaign's calls.
        :param date_start: first call day (date, datetime, ``"YYYY-MM-DD"``; aware datetimes are converted to
            Brazil time).
        :param date_end: last call day (same forms as ``date_start``).
        :param maxreg: rows per answer, 1-5000 (Velip default 1000).
        :param last_id: the cursor: ``next_id`` of the previous page.
        :returns: a :class:`VelipCallStatusPage` (``calls``, ``has_more``, ``next_id``).
        """
        if isinstance(maxreg, bool) or not isinstance(maxreg, int) or not 1 <= maxreg <= MAXREG_LIMIT:
            raise ValidationError(
                "maxreg", maxreg, f"an integer from 1 to {MAXREG_LIMIT} (Velip's maximum)", vendor=self.vendor
            )
        fields: dict[str, Any] = {"maxreg": maxreg}
        for name, value in (("cd_id", cd_id), ("ctid", ctid), ("cp_id", cp_id), ("last_id", last_id)):
            if value is None:
                continue
            text = str(value).strip()
            if not text or isinstance(value, bool):
                raise ValidationError(name, value, "a non-empty id", vendor=self.vendor)
            fields[name] = text
        days = {}
        for name, value in (("date_start", date_start), ("date_end", date_end)):
            if value is not None:
                days[name] = vendor_date(value, VELIP_TIMEZONE, field=name)
                fields[name] = days[name].isoformat()
        if len(days) == 2 and days["date_start"] > days["date_end"]:
            raise ValidationError(
                "date_start",
                fields["date_start"],
                f"must not be after date_end {fields['date_end']}",
                vendor=self.vendor,
            )
        call = self.call("GetCallStatus", method="GET", **fields)

        def parse(response: httpx.Response) -> VelipCallStatusPage:
            ret = self.unwrap(response, "GetCallStatus")  # the status check
            return self._call_status_page(ret, json_body(response, vendor=self.vendor, endpoint="GetCallStatus"))

        return dataclasses.replace(call, parse=parse)

    def call_status_flow(
        self, *, maxreg: int = MAXREG_LIMIT, last_id: str | None = None, **filters: Any
    ) -> PagedFlow[VelipCallRecord, int]:
        """Every call matching ``filters`` (as :meth:`get_call_status`), following the ``last_id``
        cursor until ``has_more`` is false; emits the :class:`VelipCallRecord` rows page by page
        and returns their count. A cursor that does not move raises :class:`MalformedResponseError`."""
        total = 0
        cursor = last_id
        for _ in range(MAX_PAGES):
            page: VelipCallStatusPage = yield self.get_call_status(maxreg=maxreg, last_id=cursor, **filters)
            if page.calls:
                total += len(page.calls)
                yield Emit(list(page.calls))
            if not page.has_more:
                return total
            next_id = page.next_id or (page.calls[-1].cd_id if page.calls else None)
            if not next_id or next_id == cursor:
                raise MalformedResponseError(
                    f"GetCallStatus says has_more but its cursor does not move (last_id={cursor!r})",
                    vendor=self.vendor,
                    endpoint="GetCallStatus",
                )
            cursor = next_id
        raise MalformedResponseError(
            f"GetCallStatus returned more than {MAX_PAGES} pages", vendor=self.vendor, endpoint="GetCallStatus"
        )

    def _call_status_page(self, ret: dict[str, Any], body: Any = None) -> VelipCallStatusPage:
        """A page from the answer: ``calls`` (and ``pagination``) inside ``return`` or beside it
        (both are seen); an answer with neither is a :class:`MalformedResponseError`, never an empty page."""
        outer = body if isinstance(body, dict) else {}
        calls = _located(ret, outer, "calls", self.vendor)
        if calls is _MISSING:
            raise MalformedResponseError(
                "GetCallStatus answer has no 'calls' (neither inside 'return' nor beside it): "
                f"keys {sorted(ret)} in 'return', {sorted(k for k in outer if k != 'return')} beside it",
                vendor=self.vendor,
                endpoint="GetCallStatus",
            )
        if calls is None or calls == {}:
            calls = []  # an empty PHP array may come as null or {}
        elif isinstance(calls, dict) and all(str(k).isdigit() for k in calls):
            calls = [calls[k] for k in sorted(calls, key=lambda k: int(k))]
        if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
            raise MalformedResponseError(
                "GetCallStatus 'calls' is not a list of calls", vendor=self.vendor, endpoint="GetCallStatus"
            )
        pagination = _located(ret, outer, "pagination", self.vendor)
        pagination = {} if pagination is _MISSING or pagination is None else pagination
        if not isinstance(pagination, dict):
            raise MalformedResponseError(
                f"GetCallStatus 'pagination' is not an object: {pagination!r}"[:200],
                vendor=self.vendor,
                endpoint="GetCallStatus",
            )
        has_more = pagination.get("has_more", False)
        if isinstance(has_more, str):
            has_more = has_more.strip().lower() in ("1", "true", "yes")
        next_id = pagination.get("next_id")
        return VelipCallStatusPage(
            calls=[VelipCallRecord.model_validate(call) for call in calls],
            has_more=bool(has_more),
            next_id=str(next_id) if next_id not in (None, "") else None,
        )


_MISSING: Any = object()


def _located(ret: dict[str, Any], outer: dict[str, Any], key: str, vendor: str) -> Any:
    """``key`` from inside ``return`` or beside it; both present with different values is malformed."""
    inside, beside = ret.get(key, _MISSING), outer.get(key, _MISSING)
    if inside is not _MISSING and beside is not _MISSING and inside != beside:
        raise MalformedResponseError(
            f"GetCallStatus answer has two different {key!r}: inside 'return' and beside it",
            vendor=vendor,
            endpoint="GetCallStatus",
        )
    return inside if inside is not _MISSING else beside
