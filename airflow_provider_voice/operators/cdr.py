"""Download the TeleVoIPs CDR report to a local path or object storage, streamed and atomic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowException

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.report_window import interval_days, run_window
from airflow_provider_voice.operators.base import VoiceOperator, deferrable_arg, rendered_mapping
from airflow_provider_voice.operators.links import CdrConsoleLink
from airflow_provider_voice.storage import location_uri, resolve_destination
from airflow_provider_voice.triggers.base import TRANSIENT_ERRORS, deadline_after, event_error, seconds_arg
from airflow_provider_voice.vendors.televoips import (
    CdrReport,
    CdrReportNotReadyError,
    HeaderPolicy,
    download_cdr_report,
)

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.triggers.cdr import CdrReportTrigger

__all__ = ["DownloadCdrReportOperator", "default_asset_for", "storage_destination"]

_DEFER_TIMEOUT_SLACK = dt.timedelta(minutes=5)


def storage_destination(destination: Any, storage_conn_id: str | None = None) -> Any:
    """What to write to, by the one rule of :mod:`airflow_provider_voice.storage`: an object-storage
    URL becomes an ``ObjectStoragePath`` (with ``storage_conn_id``), a path or ``file://`` URL a local
    path, and an ``ObjectStoragePath`` is used as it is.

    :param destination: local path, ``file://``/``s3://``... URL or ``ObjectStoragePath``.
    :param storage_conn_id: the Airflow connection of the object storage, if any.
    """
    return resolve_destination(destination, conn_id=storage_conn_id)


def resolve_asset(destination: Any, asset: Asset | str | bool | None) -> Asset | None:
    """The Asset a writer publishes: ``asset`` as given (a string is its URI), none for ``False``,
    or :func:`default_asset_for` the destination for ``None``/``True``."""
    if asset is None or asset is True:
        return default_asset_for(destination)
    if asset is False:
        return None
    return asset if isinstance(asset, Asset) else Asset(name=str(asset), uri=str(asset))


def default_asset_for(destination: Any) -> Asset | None:
    """The Asset a writer of ``destination`` publishes when none is given.

    A templated destination (``.../cdrs/{{ ds }}.csv``) gives the folder before the first
    template (``.../cdrs``), so every run updates the same Asset; a fixed destination gives the
    file itself. Local paths become ``file://`` URIs. None when nothing static is left.
    """
    text = str(destination)
    if "{{" in text:
        static = text.split("{{", 1)[0]
        text = static[: static.rfind("/")] if "/" in static else ""
    if not text or text.endswith(":/") or text.endswith("://"):
        return None
    text = location_uri(text)  # local paths and file:// URLs as file:///absolute URIs
    parts = urlsplit(text)
    if parts.scheme not in ("", "file") and "@" in parts.netloc:
        # an Asset names the place, not the connection: s3://aws_default@bucket/x -> s3://bucket/x
        text = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return Asset(name=text, uri=text)


def _report_from(value: Any) -> CdrReport | str | None:
    """A report handle from the sensor's XCom (dict), a rendered string of it, or a file URL."""
    if value in (None, ""):
        return None
    if isinstance(value, CdrReport):
        return value
    if isinstance(value, str) and not value.strip().startswith("{"):
        return value.strip()
    value = rendered_mapping(value, field="report", rule="a {id, url, day} mapping or the CSV url")
    if isinstance(value, dict) and value.get("url"):
        return CdrReport(id=str(value.get("id") or "?"), url=str(value["url"]), status="complete", http_status=201)
    raise ValidationError("report", value, "a {id, url, day} mapping (the CdrReportSensor's XCom) or the CSV url")


class DownloadCdrReportOperator(VoiceOperator):
    """Streams the TeleVoIPs CDR CSV to a local path or an ``ObjectStoragePath``, atomically.

    With ``report`` (e.g. ``CdrReportSensor(...).output``) it downloads that report; without it,
    it requests the report itself and waits for it (polling, or deferring when ``deferrable``).
    The body is written chunk by chunk (constant memory) to a temporary file next to the
    destination, renamed into place only when complete: a half-written file is never visible
    and a failed download leaves nothing at the destination. The header is checked against the
    documented CDR columns (``cnum``/``cunm`` both accepted, ``userfield`` and extra columns
    allowed and reported).

    :param destination: where to write: local path, ``file://``/``s3://``/``gs://``... URL or
        ``ObjectStoragePath``. Templated (``"s3://bucket/cdrs/{{ dag_run.run_after | ds }}.csv"``: every run has it).
    :param conn_id: TeleVoIPs connection id. Templated.
    :param report: the report to download: the sensor's XCom ``{id, url, day}`` or the CSV url.
        Templated. None: request it and wait.
    :param storage_conn_id: connection for the object storage (S3/GCS credentials).
    :param poll_interval: seconds between polls when waiting.
    :param wait_timeout: seconds to wait for the report (then
        :class:`~airflow_provider_voice.vendors.televoips.api_reports.CdrReportNotReadyError` or, deferred, a timeout
        failure).
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    :param header_policy: ``core`` (default: fail when calldate/src/dst/duration/billsec/disposition
        is missing), ``strict`` (fail on any missing documented column) or ``off``.
    :param asset: the Asset to publish (an ``Asset`` or URI); default derived from the
        destination (see :func:`default_asset_for`); ``False`` for none. Each run emits an event
        whose extra holds ``path``, ``bytes``, ``rows``, ``day`` and ``report_id``.

    Returns (XCom): ``{"path", "bytes", "rows", "report_id", "day", "columns", "unknown_columns",
    "missing_columns", "seconds"}``. The UI's "Vendor console" link needs the connection's
    ``console_url`` (no TeleVoIPs console is known; :mod:`~airflow_provider_voice.operators.links`).
    """

    template_fields: Sequence[str] = ("destination", "conn_id", "report")
    vendors: ClassVar[tuple[str, ...]] = ("televoips",)
    template_fields_renderers = {"report": "json"}
    ui_color = "#e8f4fd"
    operator_extra_links = (CdrConsoleLink(),)

    def __init__(
        self,
        *,
        destination: Any,
        conn_id: str = "televoips_default",
        report: Any = None,
        storage_conn_id: str | None = None,
        poll_interval: float = 60.0,
        wait_timeout: float = 6 * 3600.0,
        deferrable: bool | None = None,
        header_policy: HeaderPolicy = "core",
        asset: Asset | str | bool | None = None,
        **kwargs: Any,
    ) -> None:
        if header_policy not in ("core", "strict", "off"):
            raise ValidationError("header_policy", header_policy, "'core', 'strict' or 'off'")
        resolved = resolve_asset(destination, asset)
        if resolved is not None:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), resolved]
        super().__init__(**kwargs)
        self.destination = destination
        self.conn_id = conn_id
        self.report = report
        self.storage_conn_id = storage_conn_id
        self.poll_interval = seconds_arg("poll_interval", poll_interval)
        self.wait_timeout = seconds_arg("wait_timeout", wait_timeout)
        self.deferrable = deferrable_arg(deferrable)
        self.header_policy = header_policy
        self.asset = resolved

    def _report_trigger(self, deadline: str | None) -> CdrReportTrigger:
        """The wait for the report: deferred to the triggerer, or run in the worker (``deferrable=False``)."""
        from airflow_provider_voice.triggers.cdr import CdrReportTrigger

        return CdrReportTrigger(conn_id=self.conn_id, poll_interval=self.poll_interval, deadline=deadline)

    def execute(self, context: Any) -> dict[str, Any]:
        report = _report_from(self.report)
        if report is None:
            report = self._wait_for_report()
        return self._download(context, report)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the report's URL read (when ``report`` names it), the CDR file written; None
        without OpenLineage (see :mod:`~airflow_provider_voice.operators.lineage`)."""
        from airflow_provider_voice.operators.lineage import operator_lineage

        return operator_lineage(inputs=[self.report], outputs=[self.destination])

    def _wait_for_report(self) -> CdrReport:
        """Request the report and wait until it is complete: the trigger's own check, polled in the
        worker (``deferrable=False``) or, once the first check finds it not ready, in the triggerer.
        Rate limits, 5xx and network errors are polled again in both (one rule for every wait)."""
        if self.deferrable:
            try:
                first = self._report_trigger(None).poll_once(self.hook)
            except TRANSIENT_ERRORS as exc:
                self.log.warning("CDR report check failed (%s); the trigger polls again", exc)
            else:
                self.log.info("%s", first.message)
                if first.done and isinstance(first.value, CdrReport):
                    return first.value
            self.defer(
                trigger=self._report_trigger(deadline_after(self.wait_timeout)),
                method_name="execute_complete",
                timeout=dt.timedelta(seconds=self.wait_timeout + self.poll_interval) + _DEFER_TIMEOUT_SLACK,
            )
        outcome = self._report_trigger(None).wait(self.hook, timeout=self.wait_timeout)
        last: CdrReport | None = outcome.result.value
        if not outcome.done or last is None:
            raise CdrReportNotReadyError(
                f"CDR report {last.id if last else '?'} still {last.status if last else 'unknown'} after "
                f"{self.wait_timeout:.0f} s ({outcome.polls} polls): {outcome.message}",
                report=last,
                vendor="televoips",
                endpoint="GET /reports/cdrs",
            )
        return last

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: download the report, or fail with the trigger's message."""
        event = event or {}
        if event.get("status") != "success":
            failure = str(event.get("message") or f"unexpected trigger event {event!r}")
            raise event_error(event, failure) or AirflowException(failure)
        if not event.get("url"):
            raise AirflowException(f"the CDR report trigger reported success without the report's url: {event!r}")
        report = CdrReport(id=str(event.get("id")), url=str(event["url"]), status="complete", http_status=201)
        return self._download(context, report)

    def _log_report_window(self, context: Any, day: str | None) -> None:
        """Log which day the report covers and why: TeleVoIPs always serves its previous day's
        records, whatever the run's logical date or data interval (or their absence); warn when
        the run's data interval covers other days (a backfill or a late run)."""
        window = run_window(context or {})
        this_run = window.describe() if window.source == "data_interval" else window.reason
        self.log.info(
            "CDR report window: day %s, chosen by TeleVoIPs (it serves the previous day's records and takes no "
            "date); this run: %s", day or "unknown", this_run,
        )  # fmt: skip
        if window.source == "data_interval" and day:
            first, last = interval_days(window.start, window.end, "UTC")
            if not first.isoformat() <= day <= last.isoformat():
                self.log.warning(
                    "the run's data interval covers %s .. %s (UTC) but TeleVoIPs served the report of %s: it only "
                    "serves the previous day, so a backfill or a late run gets the latest report", first, last, day,
                )  # fmt: skip

    def _download(self, context: Any, report: CdrReport | str) -> dict[str, Any]:
        destination = storage_destination(self.destination, self.storage_conn_id)
        result = download_cdr_report(
            self.hook.client, self.hook.api, report, destination, header_policy=self.header_policy
        )
        self.log.info(
            "CDR report %s (day %s): %d rows, %.1f MB in %.1f s (%.0f MB/s) -> %s",
            result.report_id, result.day, result.rows, result.bytes / 1e6, result.seconds, result.mb_per_s, result.path,
        )  # fmt: skip
        self._log_report_window(context, result.day)
        if result.rows == 0:
            self.log.warning(
                "CDR report %s (day %s) has a header and no rows: TeleVoIPs recorded no call that day",
                result.report_id, result.day,
            )  # fmt: skip
        if result.unknown_columns:
            self.log.warning("undocumented CDR column(s) kept: %s", ", ".join(result.unknown_columns))
        if self.asset is not None and context is not None and "outlet_events" in context:
            context["outlet_events"][self.asset].extra = {
                "path": result.path,
                "bytes": result.bytes,
                "rows": result.rows,
                "day": result.day,
                "report_id": result.report_id,
            }
        return result.to_dict()
