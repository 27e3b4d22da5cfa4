"""Test data of the call-records loads: CDR files made by the simulator's own row generator."""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

from airflow_provider_voice.testing.televoips import CDR_HEADER, _cdr_row


def write_cdr(path: Path, rows: int, day: str = "2024-05-01", *, seed: int = 1, bad: Iterable[int] = ()) -> Path:
    """A TeleVoIPs CDR CSV of ``rows`` calls spread over ``day`` (as the simulator serves it); the file
    lines in ``bad`` (the header is line 1) get ``duration=not-a-number``."""
    rng = random.Random(f"{seed}|{day}")
    start = int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp())
    broken = set(bad)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CDR_HEADER)
        for index in range(rows):
            stamp = start + index * 86_400 // max(rows, 1)
            calldate = dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            row = _cdr_row(rng, index, calldate, stamp)
            if index + 2 in broken:
                row[CDR_HEADER.index("duration")] = "not-a-number"
            writer.writerow(row)
    return path
