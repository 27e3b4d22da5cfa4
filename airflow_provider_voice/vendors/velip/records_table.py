"""Velip ``GetCallStatus`` exports as a typed table (``source_format="velip_calls"``).

One row per call, as :class:`~airflow_provider_voice.operators.reports.VelipCallStatusExportOperator`
writes them (CSV or JSONL; the fields of :class:`~airflow_provider_voice.vendors.velip.records.VelipCallRecord`).
``date`` and ``time`` (Brazil time) stay as sent and are combined into ``started_at``, a UTC
timestamp; ``dur`` is an integer, ``value`` (the price) a float.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from airflow_provider_voice.capabilities.records_table import (
    RecordsLayout,
    TableColumn,
    float_column,
    integer_column,
    parse_text,
    parse_timestamp,
    text_column,
)
from airflow_provider_voice.vendors.velip.api_reports import VELIP_TIMEZONE

__all__ = ["VELIP_CALLS_TABLE"]


def _started_at(row: Mapping[str, Any], tz: dt.tzinfo) -> dt.datetime | None:
    """``date`` + ``time`` (Velip's local text) as one UTC timestamp; None when ``date`` is empty."""
    day = parse_text(row.get("date"))
    if day is None:
        return None
    clock = parse_text(row.get("time")) or "00:00:00"
    return parse_timestamp(f"{day} {clock}", tz)


#: Velip ``GetCallStatus`` exports as a table
VELIP_CALLS_TABLE = RecordsLayout(
    name="velip_calls",
    title="Velip GetCallStatus export (CSV or JSONL)",
    columns=(
        text_column("cd_id", "Velip's call id", required=True),
        text_column("ctid", "the correlation id given at send time"),
        text_column("cp_id", "the campaign id"),
        text_column("cd_status", "OK answered, NA not answered, EK bad number, IK no such number, CK/BK blocked"),
        text_column("dest", "the number called"),
        text_column("date", "the call's date, as sent (Brazil time)"),
        text_column("time", "the call's time, as sent (Brazil time)"),
        TableColumn("started_at", "timestamp", "date + time as a UTC timestamp", _started_at, ("date", "time")),
        integer_column("dur", "seconds of the call", minimum=0),
        float_column("value", "the price"),
    ),
    signature=frozenset({"cd_id", "cd_status", "dest"}),
    required_columns=("cd_id", "cd_status", "dest", "date", "time"),
    timezone=VELIP_TIMEZONE,
    file_formats=("csv", "jsonl"),
    produced_by="VelipCallStatusExportOperator",
)
