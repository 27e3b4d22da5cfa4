"""Export TeleVoIPs SMS messages (``GET /messages``, ``GET /messages/{id}``) to a file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.report_window import run_window
from airflow_provider_voice.operators.base import VoiceOperator
from airflow_provider_voice.storage import describe_destination, open_atomic, resolve_destination
from airflow_provider_voice.vendors.televoips import format_televoips_time

__all__ = ["ExportMessagesOperator"]

#: without a data interval, the export starts this long before ``dag_run.run_after`` (TeleVoIPs'
#: own default window, made explicit and pinned to the run)
FALLBACK_LOOKBACK = dt.timedelta(days=90)
COLUMNS = ("id", "user_id", "number_id", "direction", "to", "from", "content", "time", "read", "Media")
FORMATS = ("jsonl", "json", "csv")


def _guess_format(destination: Any) -> str:
    name = str(getattr(destination, "name", destination)).lower()
    for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt
    return "jsonl"


class ExportMessagesOperator(VoiceOperator):
    """Write the account's SMS messages (TeleVoIPs) to a JSONL, JSON or CSV file.

    The window is ``start``..``end`` when given; otherwise the run's data interval
    (``data_interval_start``/``data_interval_end``, sent as ``yyyy-mm-dd HH:mm:ss`` UTC) when
    ``use_data_interval`` and the run has a non-empty one; a run without one (no logical date:
    REST API, ``airflow dags trigger``; or an empty interval: manual runs) asks for the 90 days
    before ``dag_run.run_after`` up to the time of the request; outside a DAG run (or with
    ``use_data_interval=False``) none is sent, and TeleVoIPs returns the last 90 days. The task
    log says which window was used and why. With ``message_ids``, exactly those messages are
    fetched (``GET /messages/{id}``).

    :param conn_id: a TeleVoIPs connection with the messaging key.
    :param destination: local path, URL (``s3://...``) or ``ObjectStoragePath``; written atomically. Templated.
    :param start: window start (datetime or ISO text). Templated.
    :param end: window end (datetime or ISO text). Templated.
    :param use_data_interval: use the run's data interval (or, without one, the ``run_after``
        fallback above) when ``start``/``end`` are not given; False: send no window.
    :param message_ids: fetch these message ids instead of a window. Templated.
    :param direction: keep only ``inbound`` or ``outbound`` messages.
    :param file_format: ``jsonl``, ``json`` or ``csv`` (guessed from the destination's suffix).

    XCom: ``{"destination", "count", "start", "end", "directions": {"inbound": n, "outbound": m}}``
    (no message content or numbers).
    """

    template_fields: Sequence[str] = ("conn_id", "destination", "start", "end", "message_ids")
    vendors: ClassVar[tuple[str, ...]] = ("televoips",)
    hook_purpose: ClassVar[str] = "reading messages"
    ui_color = "#eef2e6"

    def __init__(
        self,
        *,
        conn_id: str = "televoips_default",
        destination: Any,
        start: Any = None,
        end: Any = None,
        use_data_interval: bool = True,
        message_ids: Sequence[str] | None = None,
        direction: Literal["inbound", "outbound"] | None = None,
        file_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if direction not in (None, "inbound", "outbound"):
            raise ValidationError("direction", direction, "'inbound', 'outbound' or None")
        if file_format is not None and file_format not in FORMATS:
            raise ValidationError("file_format", file_format, f"one of {', '.join(FORMATS)}")
        self.conn_id = conn_id
        self.destination = destination
        self.start = start
        self.end = end
        self.use_data_interval = use_data_interval
        self.message_ids = message_ids
        self.direction = direction
        self.file_format = file_format

    def window(self, context: Any) -> tuple[Any, Any]:
        """``(start, end)`` to ask for (None = not sent), logging which window was used and why.

        ``start``/``end`` as given; else the run's data interval; else (a run without a logical
        date, or with an empty interval) from :data:`FALLBACK_LOOKBACK` before ``dag_run.run_after``
        up to the time of the request; else nothing (TeleVoIPs' default: the last 90 days).
        """
        start = self.start if self.start not in ("", None) else None
        end = self.end if self.end not in ("", None) else None
        if start is not None or end is not None:
            self.log.info("message window: start/end as given")
            return start, end
        if not self.use_data_interval:
            self.log.info("message window: none sent (use_data_interval=False): TeleVoIPs returns the last 90 days")
            return None, None
        window = run_window(context or {})
        if window.source == "data_interval":
            self.log.info("message window: %s", window.describe())
            return window.start, window.end
        if window.source == "run_after" and window.anchor is not None:
            start = window.anchor - FALLBACK_LOOKBACK
            self.log.info(
                "message window: %s .. the time of the request: %s: the %d days before it",
                start.isoformat(), window.describe(), FALLBACK_LOOKBACK.days,
            )  # fmt: skip
            return start, None
        self.log.info("message window: none sent (%s): TeleVoIPs returns the last 90 days", window.describe())
        return None, None

    def execute(self, context: Any) -> dict[str, Any]:
        api, client = self.hook.api, self.hook.client
        if self.message_ids:
            ids = [self.message_ids] if isinstance(self.message_ids, str) else list(self.message_ids)
            messages = [m for message_id in ids for m in client.send(api.get_message(str(message_id)))]
            start = end = None
        else:
            start, end = self.window(context)
            messages = client.send(api.list_messages(start=start, end=end))
        if self.direction:
            kept = [m for m in messages if (m.direction or "").strip().lower() == self.direction]
            unknown = [m for m in messages if (m.direction or "").strip().lower() not in ("inbound", "outbound")]
            if unknown:  # neither direction: left out by the filter, but said so (not silently)
                self.log.warning(
                    "%d message(s) with no or an unknown direction (%s) left out by direction=%r; their ids: %s",
                    len(unknown), ", ".join(sorted({repr(m.direction) for m in unknown})), self.direction,
                    ", ".join(str(m.id) for m in unknown[:20]) + (" ..." if len(unknown) > 20 else ""),
                )  # fmt: skip
            messages = kept
        fmt = self.file_format or _guess_format(self.destination)
        rows = [m.model_dump(by_alias=True, mode="json") for m in messages]
        path = resolve_destination(self.destination)
        with open_atomic(path) as handle:
            handle.write(_render(rows, fmt))
        url = describe_destination(path)
        shown_start = None if start is None else format_televoips_time(start)
        shown_end = None if end is None else format_televoips_time(end, field="end")
        self.log.info(
            "exported %d messages (%s .. %s) to %s",
            len(rows),
            shown_start or "vendor default: last 90 days",
            shown_end or "now",
            url,
        )
        directions = Counter(((m.direction or "").strip().lower() or "unknown") for m in messages)
        return {
            "destination": url,
            "count": len(rows),
            "start": shown_start,
            "end": shown_end,
            "directions": dict(directions),
        }


def _render(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1).encode("utf-8")
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    buffer = io.StringIO()
    extra = sorted({k for r in rows for k in r} - set(COLUMNS))
    writer = csv.DictWriter(buffer, fieldnames=[*COLUMNS, *extra], lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")
