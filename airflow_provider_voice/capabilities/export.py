"""Write call-report rows (Kaleyra ``dial``/``c2cstatus``/``followup``, Velip ``GetCallStatus``) to
a JSONL or CSV file, atomically, as they stream in.

Rows may be pydantic models or mappings. JSONL keeps every field of every row. CSV columns are
the model's declared fields followed by the extra fields of the first row; a field first seen
later cannot be added to a CSV already begun: it is left out and named once in the log and in
:attr:`ExportResult.dropped_columns` (use JSONL to keep everything).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.storage import open_atomic, resolve_destination

__all__ = ["ExportResult", "ExportRow", "FileFormat", "export_records", "guess_file_format"]

log = get_logger(__name__)

FileFormat = Literal["jsonl", "csv"]
#: a row to export: a pydantic model (its fields, extras included) or a mapping
ExportRow = BaseModel | Mapping[str, Any]
_FLUSH_BYTES = 1 << 20


@dataclass
class ExportResult:
    """What :func:`export_records` wrote (the export operators' XCom value, see :meth:`to_dict`).

    :param path: destination URL.
    :param rows: rows written.
    :param bytes: file size.
    :param file_format: ``jsonl`` or ``csv``.
    :param columns: CSV columns (empty for JSONL).
    :param dropped_columns: fields left out of a CSV (first seen after the header was written).
    :param seconds: time spent, fetching included.
    """

    path: str
    rows: int
    bytes: int
    file_format: str
    columns: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


def guess_file_format(destination: Any) -> FileFormat:
    """``jsonl`` for ``.jsonl``/``.ndjson``, ``csv`` for ``.csv``; raises :class:`ValidationError` otherwise."""
    name = str(getattr(resolve_destination(destination), "name", destination)).lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise ValidationError("destination", str(destination), "end it with .jsonl, .ndjson or .csv, or give file_format")


def _as_dict(row: ExportRow) -> dict[str, Any]:
    if isinstance(row, BaseModel):
        return row.model_dump(mode="json", by_alias=False)
    if isinstance(row, Mapping):
        return dict(row)
    raise TypeError(f"cannot export a {type(row).__name__} row")


def _columns_for(row: ExportRow, first: Mapping[str, Any]) -> list[str]:
    if isinstance(row, BaseModel):
        declared = list(type(row).model_fields)
        return declared + [k for k in first if k not in declared]
    return list(first)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def export_records(
    rows: Iterable[ExportRow], destination: Any, *, file_format: FileFormat | None = None
) -> ExportResult:
    """Stream ``rows`` to ``destination`` (local path, ``file://``/``s3://``... URL or
    ``ObjectStoragePath``) as JSONL or CSV, atomically: the file only appears, complete, when
    every row was written; an error while fetching or writing leaves nothing at the destination.

    :param rows: models or mappings (e.g. ``client.iterate(api.dial_flow(...))``).
    :param destination: where to write (a path or URL, as :func:`~airflow_provider_voice.storage.resolve_destination` reads it).
    :param file_format: ``jsonl`` or ``csv``; guessed from the destination's suffix when omitted.
    :returns: an :class:`ExportResult`.
    """
    fmt = file_format or guess_file_format(destination)
    if fmt not in ("jsonl", "csv"):
        raise ValidationError("file_format", fmt, "'jsonl' or 'csv'")
    started = time.monotonic()
    count = 0
    columns: list[str] = []
    dropped: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header_written = False
    with open_atomic(destination) as target:
        for row in rows:
            data = _as_dict(row)
            if fmt == "jsonl":
                buffer.write(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str))
                buffer.write("\n")
            else:
                if not header_written:
                    columns = _columns_for(row, data)
                    writer.writerow(columns)
                    header_written = True
                extra = [k for k in data if k not in columns and k not in dropped]
                if extra:
                    dropped.extend(extra)
                    log.warning("CSV export: field(s) %s first seen after the header; not written (use JSONL)", extra)
                writer.writerow([_cell(data.get(name)) for name in columns])
            count += 1
            if buffer.tell() >= _FLUSH_BYTES:
                target.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            target.write(buffer.getvalue().encode("utf-8"))
    result = ExportResult(
        path=target.url,
        rows=count,
        bytes=target.bytes_written,
        file_format=fmt,
        columns=columns,
        dropped_columns=dropped,
        seconds=time.monotonic() - started,
    )
    log.info("exported %d rows to %s (%s, %d bytes)", count, result.path, fmt, result.bytes)
    return result
