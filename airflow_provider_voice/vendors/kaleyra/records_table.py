"""Kaleyra call reports as a typed table (``source_format="kaleyra_calls"``).

One row per call of the ``dial`` (incoming calls forwarded to agents) and ``dial.c2cstatus``
(click-to-call log) reports, as :class:`~airflow_provider_voice.operators.reports.KaleyraCallReportOperator`
writes them (CSV or JSONL; the fields of :class:`~airflow_provider_voice.vendors.kaleyra.records.KaleyraCallRecord`).
``start_time``/``end_time`` are Kaleyra's India-time text, stored as UTC timestamps; ``date`` (a
display form, ``2024-05-01 07:00 PM``) stays text; ``duration``/``billsec`` are integers,
``credits`` a float. (``followup.reports`` rows are another shape: they are not call records.)
"""

from __future__ import annotations

from airflow_provider_voice.capabilities.records_table import (
    RecordsLayout,
    float_column,
    integer_column,
    text_column,
    timestamp_column,
)
from airflow_provider_voice.vendors.kaleyra.api_reports import KALEYRA_TIMEZONE

__all__ = ["KALEYRA_CALLS_TABLE"]

#: Kaleyra ``dial`` / ``dial.c2cstatus`` exports as a table
KALEYRA_CALLS_TABLE = RecordsLayout(
    name="kaleyra_calls",
    title="Kaleyra call report (dial / c2cstatus; CSV or JSONL)",
    columns=(
        text_column("id", "Kaleyra's call id"),
        text_column("uniqid", "the channel's unique id (dial)"),
        text_column("parent_id", "the parent call's id (dial)"),
        text_column("callfrom", "the caller's number"),
        text_column("callto", "the number called"),
        text_column("agent", "the agent who took the call"),
        text_column("caller_id", "the caller ID shown"),
        timestamp_column("start_time", "when the call started (UTC; Kaleyra sends India time)"),
        timestamp_column("end_time", "when the call ended (UTC; empty while in progress)"),
        text_column("date", "Kaleyra's display date, as sent (dial)"),
        integer_column("duration", "the caller's seconds", minimum=0),
        integer_column("billsec", "the receiver's (billed) seconds", minimum=0),
        float_column("credits", "credits charged"),
        text_column("status", "the first leg's outcome (ANSWER, BUSY, CANCEL, FAILED, NOANSWER...)"),
        text_column("status2", "the second leg's outcome (click-to-call)"),
        text_column("recording", "the recording's URL"),
        text_column("notes", "notes"),
        text_column("location", "the caller's circle (KARNATAKA...)"),
        text_column("provider", "the caller's network"),
    ),
    signature=frozenset({"callfrom", "callto", "start_time", "status"}),
    required_columns=("id", "callfrom", "callto", "start_time", "status"),
    aliases={"parentid": "parent_id"},
    timezone=KALEYRA_TIMEZONE,
    file_formats=("csv", "jsonl"),
    produced_by="KaleyraCallReportOperator (report='dial' or 'c2cstatus')",
)
