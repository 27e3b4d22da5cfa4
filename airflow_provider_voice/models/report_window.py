"""Report windows: which period a report task covers, and the calendar days of it in a vendor's zone.

Vendors filter their call reports by *day* in their own zone (Kaleyra: India, Velip: Brazil).
:func:`vendor_date` turns what a DAG author passes (a ``date``, an aware or naive ``datetime``, an
ISO ``"2024-05-01"``, ``"2024/05/01"`` or ``"01/05/2024"``) into that day; :func:`interval_days`
turns an Airflow data interval ``[start, end)`` into the first and last day it touches.

Airflow 3 runs do not always have a data interval: a run triggered from the REST API, the UI
without a date, ``airflow dags trigger`` or an asset event has **no logical date** (so no
``ds``/``data_interval_*`` in its context), and a manual run or a trigger timetable's run (the
Airflow 3 default for cron schedules) has an *empty* one (``start == end``). :func:`run_window`
says which case a task context is in and, when there is no usable interval, anchors the window
on ``dag_run.run_after`` (always set); :meth:`RunWindow.describe` is the sentence operators log
so that a fallback is never silent. The fallbacks themselves (one place, documented in
``docs/operators/cdr.md`` and ``docs/operators/sms.md``):

* call-report exports (Kaleyra, Velip): :func:`previous_day` — the last complete calendar day,
  in the vendor's zone, before ``dag_run.run_after``;
* TeleVoIPs message export: the 90 days before ``dag_run.run_after`` up to the time of the request.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pendulum

from airflow_provider_voice.errors import ValidationError

__all__ = ["RunWindow", "interval_days", "previous_day", "run_window", "vendor_date"]

WindowSource = Literal["data_interval", "run_after", "none"]

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


def _read(obj: Any, name: str) -> Any:
    """``obj[name]`` for a mapping, ``obj.name`` for an object (a DagRun), None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _aware(value: Any) -> dt.datetime | None:
    """``value`` as an aware datetime (a naive one is taken as UTC); None for anything else."""
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _iso(value: dt.datetime | None) -> str:
    return "-" if value is None else value.isoformat()


@dataclass(frozen=True)
class RunWindow:
    """The period a task context stands for, and why.

    :param source: ``data_interval`` (the run has a non-empty data interval ``[start, end)``),
        ``run_after`` (no usable interval: the window is anchored on ``anchor``, the run's
        ``dag_run.run_after``) or ``none`` (neither: a task executed outside a DAG run).
    :param start: the data interval's start (``data_interval`` only).
    :param end: the data interval's end (``data_interval`` only).
    :param anchor: the instant a fallback window is computed from (``run_after`` only).
    :param reason: why there is no usable data interval (empty for ``data_interval``).
    """

    source: WindowSource
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    anchor: dt.datetime | None = None
    reason: str = ""

    def describe(self) -> str:
        """One sentence for the task log: the interval, or why there is none and what anchors the fallback."""
        if self.source == "data_interval":
            return f"the run's data interval {_iso(self.start)} .. {_iso(self.end)}"
        if self.source == "run_after":
            return f"{self.reason}; falling back to a window based on dag_run.run_after {_iso(self.anchor)}"
        return f"{self.reason}; no fallback possible"


def run_window(context: Any) -> RunWindow:
    """Which window a task context stands for: its data interval, or ``dag_run.run_after``.

    * a non-empty data interval (``data_interval_start < data_interval_end``): ``data_interval``;
    * an empty interval (``start == end``: a manual run, or a trigger timetable's run) or none at
      all (a run without a logical date: REST API, ``airflow dags trigger``, asset events):
      ``run_after``, anchored on ``dag_run.run_after`` (for an empty interval without a
      ``dag_run`` in the context, on the interval's instant);
    * neither an interval nor a ``dag_run`` (an operator executed by hand): ``none``.

    An interval whose end is before its start raises :class:`ValidationError`.
    """
    start = _aware(_read(context, "data_interval_start"))
    end = _aware(_read(context, "data_interval_end"))
    dag_run = _read(context, "dag_run")
    run_after = _aware(_read(dag_run, "run_after"))
    if start is not None and end is not None:
        if end < start:
            raise ValidationError("data_interval", (start.isoformat(), end.isoformat()), "the end is before the start")
        if end > start:
            return RunWindow("data_interval", start=start, end=end)
        reason = f"the run's data interval is empty ({start.isoformat()}: a manual run or a trigger timetable)"
        return RunWindow("run_after", anchor=run_after or end, reason=reason)
    if _read(context, "logical_date") is None and dag_run is not None:
        reason = "the run has no logical date, so no data interval (triggered from the REST API, the UI, "
        reason += "`airflow dags trigger` or an asset event)"
    else:
        reason = "the context has no data interval"
    if run_after is None:
        return RunWindow("none", reason=reason + " and no dag_run.run_after")
    return RunWindow("run_after", anchor=run_after, reason=reason)


def previous_day(instant: dt.datetime, tz: str) -> dt.date:
    """The last complete calendar day in zone ``tz`` before ``instant`` (the day before its local date)."""
    return vendor_date(instant, tz, field="dag_run.run_after") - dt.timedelta(days=1)
