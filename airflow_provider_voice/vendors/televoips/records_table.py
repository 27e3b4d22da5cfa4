"""The TeleVoIPs CDR report as a typed table (``source_format="televoips_cdr"``).

One row per line of the CDR CSV that :class:`~airflow_provider_voice.operators.cdr.DownloadCdrReportOperator`
writes, with the types of :class:`~airflow_provider_voice.vendors.televoips.cdr.CdrRecord`: ``calldate``
a timestamp (UTC by default: TeleVoIPs does not state its zone), ``duration``/``billsec`` non-negative
integers, ``disposition`` normalized the same way (``NOANSWER`` -> ``NO ANSWER``), ``id``/``uniqueid``
kept as text (they look like floats, ``1629900254.9521335``, but a float would lose digits). The
spec's ``cunm`` header is read as ``cnum``; the webhook's ``userfield`` is a column too.
"""

from __future__ import annotations

import functools

from airflow_provider_voice.capabilities.records_table import (
    RecordsLayout,
    TableColumn,
    integer_column,
    text_column,
    timestamp_column,
)
from airflow_provider_voice.vendors.televoips.cdr import CDR_CORE_FIELDS, CDR_FIELD_ALIASES, CDR_FIELDS, Disposition

__all__ = ["CDR_TABLE"]

_MEANINGS: dict[str, str] = {
    "id": "the unique channel identifier (text: it looks like a float but a float would lose digits)",
    "calldate": "when the call started (UTC)",
    "clid": "the caller ID, as TeleVoIPs escapes it",
    "src": "the source number / extension",
    "dst": "the destination number / extension",
    "dcontext": "where the call is going (dial plan context)",
    "channel": "the channel used",
    "dstchannel": "the destination channel",
    "lastapp": "the last application",
    "lastdata": "the last application's data",
    "duration": "seconds of the call in the system",
    "billsec": "billed seconds",
    "disposition": "ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION (others as given)",
    "amaflags": "AMA flags (not used by TeleVoIPs)",
    "accountcode": "account code (not used by TeleVoIPs)",
    "uniqueid": "the unique channel identifier (text)",
    "userfield": "the webhook's user field",
    "did": "the number called, for incoming calls",
    "recordingfile": "the voicemail recording of a missed call",
    "cnum": "the caller ID number (the spec's cunm)",
    "cnam": "the caller ID name",
    "outbound_cnum": "the extension's outbound caller ID",
    "outbound_cnam": "not used by TeleVoIPs",
    "dst_cnam": "not used by TeleVoIPs",
}


@functools.lru_cache(maxsize=256)
def _disposition(text: str) -> str:
    """The disposition as :class:`~airflow_provider_voice.vendors.televoips.cdr.CdrRecord` reads it."""
    value = " ".join(text.upper().split())
    value = {"NOANSWER": "NO ANSWER", "NO_ANSWER": "NO ANSWER"}.get(value, value)
    try:
        return Disposition(value).value
    except ValueError:
        return value


def _column(name: str) -> TableColumn:
    meaning = _MEANINGS[name]
    if name == "calldate":
        return timestamp_column(name, meaning, required=True)
    if name in ("duration", "billsec"):
        return integer_column(name, meaning, required=True, minimum=0)
    if name == "amaflags":
        return integer_column(name, meaning)
    if name == "disposition":
        return text_column(name, meaning, required=True, normalize=_disposition)
    return text_column(name, meaning)


_NAMES = (*CDR_FIELDS[: CDR_FIELDS.index("uniqueid") + 1], "userfield", *CDR_FIELDS[CDR_FIELDS.index("uniqueid") + 1 :])

#: the TeleVoIPs CDR CSV (``DownloadCdrReportOperator``'s file) as a table
CDR_TABLE = RecordsLayout(
    name="televoips_cdr",
    title="TeleVoIPs CDR report (CSV)",
    columns=tuple(_column(name) for name in _NAMES),
    signature=frozenset(CDR_CORE_FIELDS),
    required_columns=CDR_CORE_FIELDS,
    aliases=dict(CDR_FIELD_ALIASES),
    timezone="UTC",
    file_formats=("csv",),
    produced_by="DownloadCdrReportOperator",
)
