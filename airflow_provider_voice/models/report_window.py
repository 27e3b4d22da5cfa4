"""Calendar days of a report query, in the vendor's time zone.

Vendors filter their call reports by *day* in their own zone (Kaleyra: India, Velip: Brazil).
:func:`vendor_date` turns what a DAG author passes (a ``date``, an aware or naive ``datetime``, an
ISO ``"2024-05-01"``, ``"2024/05/01"`` or ``"01/05/2024"``) into that day; :func:`interval_days`
turns an Airflow data interval ``[start, end)`` into the first and last day it touches.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pendulum

from airflow_provider_voice.errors import ValidationError

__all__ = ["interval_days", "vendor_date"]

_YMD = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def vendor_date(value: Any, tz: str, *, field: str) -> dt.date:
    """The calendar day ``value`` means in zone ``tz``.

    An aware datetime is converted to ``tz`` first; a naive one is taken as already in ``tz``.
    Strings: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``DD/MM/YYYY`` (Kaleyra's two forms), or an ISO
    date-time. Raises :class:`ValidationError` naming ``field`` otherwise.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return pendulum.instance(value).in_timezone(tz).date()
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            match = _YMD.fullmatch(text)
            if match:
                year, month, day = (int(g) for g in match.groups())
                return dt.date(year, month, day)
            match = _DMY.fullmatch(text)
            if match:
                day, month, year = (int(g) for g in match.groups())
                return dt.date(year, month, day)
        except ValueError as exc:
            raise ValidationError(field, value, f"not a calendar date ({exc})") from None
        try:
            parsed = pendulum.parse(text, tz=tz)
        except Exception:
            parsed = None
        if isinstance(parsed, dt.datetime):
            return vendor_date(parsed, tz, field=field)
        if isinstance(parsed, dt.date):
            return parsed
    raise ValidationError(field, value, "a date, a datetime, 'YYYY-MM-DD', 'YYYY/MM/DD' or 'DD/MM/YYYY'")


def interval_days(start: Any, end: Any, tz: str) -> tuple[dt.date, dt.date]:
    """First and last day (in ``tz``) touched by the half-open interval ``[start, end)``.

    A daily Airflow interval ``[2024-05-01 00:00, 2024-05-02 00:00)`` in ``tz`` gives
    ``(2024-05-01, 2024-05-01)``. ``start == end`` (a manual run) gives that one day.
    """
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        raise ValidationError("data_interval", (start, end), "two datetimes")
    if end < start:
        raise ValidationError("data_interval", (str(start), str(end)), "the end is before the start")
    first = vendor_date(start, tz, field="data_interval_start")
    last_instant = end - dt.timedelta(microseconds=1) if end > start else end
    last = vendor_date(last_instant, tz, field="data_interval_end")
    return first, max(first, last)
