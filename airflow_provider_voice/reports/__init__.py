"""Call records to files: streamed, atomic writes of TeleVoIPs CDR CSVs and of Kaleyra / Velip
call reports (JSONL or CSV), to a local path or an Airflow ``ObjectStoragePath``.

No Airflow import at module level: the vendor clients and these helpers work in plain Python.
"""

from __future__ import annotations

from airflow_provider_voice.reports.cdr import (
    CdrDownloadResult,
    CdrHeaderCheck,
    CdrStreamScanner,
    adownload_cdr_report,
    check_cdr_header,
    download_cdr_report,
)
from airflow_provider_voice.reports.export import ExportResult, export_records, guess_file_format
from airflow_provider_voice.reports.storage import AtomicFile, describe_destination, open_atomic, resolve_destination

__all__ = [
    "AtomicFile",
    "CdrDownloadResult",
    "CdrHeaderCheck",
    "CdrStreamScanner",
    "ExportResult",
    "adownload_cdr_report",
    "check_cdr_header",
    "describe_destination",
    "download_cdr_report",
    "export_records",
    "guess_file_format",
    "open_atomic",
    "resolve_destination",
]
