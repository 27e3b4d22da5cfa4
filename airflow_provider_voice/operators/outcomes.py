"""Who was reached, as a dataset: outcome tables written by the send operators and by
:class:`CollectOutcomesOperator`; the redial policy of :class:`~airflow_provider_voice.operators.campaign.SendVoiceCampaignOperator`.

An outcome table has one row per recipient (schema:
:data:`~airflow_provider_voice.models.outcomes.OUTCOME_COLUMNS`), written as CSV and Parquet to
``outcomes_path`` (a local path, URL or ``ObjectStoragePath``; default ``[voice] outcomes_path``
or ``$AIRFLOW_HOME/voice/outcomes``, then ``<dag_id>/<run_id>/<task_id>``) and published as an
Asset. XCom carries the counts per outcome and the file locations, never a number or a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_voice.capabilities.outcome_table import (
    FORMATS,
    OutcomeTableRows,
    OutcomeTableWriter,
    WrittenTable,
    outcome_table_paths,
)
from airflow_provider_voice.delivery import CheckpointKey, CheckpointStore, SuppressionList, checkpoint_store
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.outcomes import NOT_REACHED, RecipientOutcome, check_outcome_names
from airflow_provider_voice.operators.base import VoiceOperator, input_errors, rendered_mapping
from airflow_provider_voice.operators.cdr import default_asset_for, resolve_asset
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.storage import configured_location
from airflow_provider_voice.triggers.base import seconds_arg

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.models.campaign import CampaignHandle

__all__ = [
    "ROUND_DONE",
    "CollectOutcomesOperator",
    "OutcomeOutput",
    "OutcomeTablesMixin",
    "RedialPolicy",
    "campaign_handle_arg",
    "outcome_recipients",
    "round_key",
    "round_name",
]

log = get_logger(__name__)
#: the most rounds a redial may make (each round is a campaign)
MAX_ROUNDS = 10
#: checkpoint record kind: a round's outcome table is written
ROUND_DONE = "outcomes"


class RedialPolicy(BaseModel):
    """Call the unreached again: ``redial={"outcomes": ["no_answer", "busy"], "after": timedelta(hours=2), "max_attempts": 3}``.

    :param outcomes: outcomes that are called again (default ``no_answer``, ``busy``); ``answered``
        is never called again.
    :param after: wait this long after a round ended before the next one (timedelta or seconds).
    :param max_attempts: rounds in all, the first send included (2-10).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcomes: tuple[str, ...] = NOT_REACHED
    after: timedelta = timedelta(0)
    max_attempts: int = Field(default=2, ge=2, le=MAX_ROUNDS)

    @field_validator("outcomes", mode="before")
    @classmethod
    def _outcomes(cls, value: Any) -> tuple[str, ...]:
        names = check_outcome_names(value, field="redial.outcomes")
        if not names:
            raise ValueError("name at least one outcome to call again")
        if "answered" in names:
            raise ValueError("answered people are never called again")
        return names

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = timedelta(seconds=value)
        if isinstance(value, timedelta) and value.total_seconds() < 0:
            raise ValueError("a wait of 0 seconds or more")
        return value

    @classmethod
    def from_arg(cls, value: Any) -> RedialPolicy | None:
        """The policy from an operator argument (None / empty: no redial); errors name ``redial.<field>``."""
        if value in (None, {}, False):
            return None
        if isinstance(value, RedialPolicy):
            return value
        if not isinstance(value, Mapping):
            raise ValidationError(
                "redial", value, 'a mapping such as {"outcomes": ["no_answer"], "after": 7200, "max_attempts": 3}'
            )
        try:
            return cls.model_validate(dict(value))
        except ValidationError:
            raise
        except Exception as exc:  # pydantic's error, said with the field name
            errors = list(exc.errors()) if hasattr(exc, "errors") else []
            first: dict[str, Any] = dict(errors[0]) if errors else {}
            where = ".".join(str(p) for p in first.get("loc", ())) or "redial"
            raise ValidationError(f"redial.{where}", first.get("input"), first.get("msg", str(exc))) from None


def round_key(key: CheckpointKey, round_number: int) -> CheckpointKey:
    """The checkpoint key of redial round ``round_number`` (round 1 is the task's own key):
    each round is its own exactly-once delivery."""
    if round_number <= 1:
        return key
    return CheckpointKey(key.dag_id, f"{key.task_id}~round{round_number}", key.run_id, key.map_index, key.namespace)


def round_name(name: str, round_number: int, limit: int = 50) -> str:
    """The campaign name of round ``round_number`` (``"<name> r2"``): Velip refuses a second active
    campaign with the same name and day. Kept within ``limit`` characters when the name was."""
    if round_number <= 1:
        return name
    suffix = f" r{round_number}"
    if len(name) + len(suffix) > limit >= len(name):
        return name[: limit - len(suffix)] + suffix
    return name + suffix


def default_outcomes_location() -> str:
    """``[voice] outcomes_path`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/outcomes`` (a directory)."""
    return configured_location("outcomes_path", "outcomes")


def campaign_handle_arg(value: Any, field: str = "campaign") -> CampaignHandle:
    """A campaign handle from an operator argument: the send task's XCom (a dict, or its JSON text), or a handle."""
    from airflow_provider_voice.models.campaign import CampaignHandle

    if isinstance(value, CampaignHandle):
        return value
    value = rendered_mapping(value, field=field, rule="the send task's XCom (a mapping, or its JSON text)")
    if not isinstance(value, Mapping) or not value.get("vendor"):
        raise ValidationError(field, value, "the send task's XCom: a mapping with vendor and campaign_ids")
    return CampaignHandle.model_validate(dict(value))


def outcome_recipients(source: Any, outcomes: Sequence[str], *, field: str = "recipients") -> OutcomeTableRows:
    """An outcome table as a recipient source keeping only ``outcomes``; an empty selection skips the
    task (:class:`AirflowSkipException`: nobody left to reach is not a failure)."""
    names = check_outcome_names(outcomes, field="recipient_outcomes")
    rows = OutcomeTableRows(source, outcomes=names, field=field)
    kept = sum(1 for _ in rows.outcome_rows())
    if kept == 0:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(rows.counts.items())) or "no rows"
        raise AirflowSkipException(
            f"no recipient with outcome {' or '.join(names)} in the outcome table ({rows.read} rows: {counts}): nothing to send"
        )
    log.info("outcome table: %d of %d rows have outcome %s", kept, rows.read, " or ".join(names))
    return rows


class OutcomeOutput:
    """Where and how a task writes its outcome tables, and the Asset it publishes.

    :param path: ``outcomes_path`` as rendered (None: the default location).
    :param formats: ``"both"`` (default), ``"csv"`` or ``"parquet"``.
    :param asset: the Asset published (see :meth:`asset_for`).
    """

    def __init__(self, path: Any, formats: Any, asset: Asset | None) -> None:
        self.path = path
        self.formats = (
            FORMATS if formats in (None, "both") else ((formats,) if isinstance(formats, str) else tuple(formats))
        )
        outcome_table_paths("x", self.formats)  # a bad format fails at parse time
        self.asset = asset

    @staticmethod
    def asset_for(path: Any, asset: Asset | str | bool | None) -> Asset | None:
        """The Asset: ``asset`` as given (a string is its URI), none for ``False``, else derived from
        ``path`` (the folder before a template), or the default outcomes folder."""
        if asset is False:
            return None
        if path in (None, ""):
            if asset is None or asset is True:
                return default_asset_for(default_outcomes_location())
            return resolve_asset("", asset)
        return resolve_asset(path, asset)

    def stem(self, context: Any, suffix: str = "") -> Any:
        """The destination stem of this task instance's table (``suffix``: ``.round2``...)."""
        from airflow_provider_voice.capabilities.recipients import rejects_name_from_context, safe_name

        if self.path not in (None, ""):
            base = str(self.path) if not hasattr(self.path, "joinpath") else self.path
            if suffix:
                paths = outcome_table_paths(base, self.formats)
                first = next(iter(paths.values()))
                return first.parent / (first.name.rsplit(".", 1)[0] + suffix)
            return base
        name = safe_name(rejects_name_from_context(context))
        return default_outcomes_location().rstrip("/") + "/" + name + suffix

    def write(self, rows: Iterable[RecipientOutcome], stem: Any) -> WrittenTable:
        """Write ``rows`` (CSV and/or Parquet, atomically) to ``stem``."""
        with OutcomeTableWriter(stem, formats=self.formats) as table:
            table.add_all(rows)
        return table.written

    def publish(self, context: Any, written: WrittenTable, **extra: Any) -> None:
        """Set the extra of this run's Asset event (files, counts; no number)."""
        if self.asset is not None and context is not None and "outlet_events" in context:
            context["outlet_events"][self.asset].extra = {**written.summary(), **extra}

    def paths(self, stem: Any) -> dict[str, Any]:
        return outcome_table_paths(stem, self.formats)


def log_table(written: WrittenTable, what: str) -> None:
    """One log line: the counts per outcome and where the table is."""
    counts = ", ".join(f"{k} {v:,}" for k, v in written.counts.items() if v) or "no rows"
    log.info("%s: %s rows (%s) -> %s", what, f"{written.rows:,}", counts, ", ".join(written.files.values()))


def read_path(output: OutcomeOutput, stem: Any) -> Any:
    """The file a table is read back from: the Parquet file when written, else the CSV."""
    paths = output.paths(stem)
    return paths.get("parquet") or paths["csv"]


def read_round(output: OutcomeOutput, stem: Any) -> Iterator[RecipientOutcome]:
    """The rows of a round's table."""
    return OutcomeTableRows(read_path(output, stem)).outcome_rows()


def round_record(store: CheckpointStore, key: CheckpointKey) -> dict[str, Any] | None:
    """The record a finished round left in its checkpoint (its outcome table is written), or None."""
    done = None
    for record in store.load(key):
        if record.get("t") == ROUND_DONE:
            done = record
    return done


def written_from(record: Mapping[str, Any]) -> WrittenTable:
    """The :class:`WrittenTable` a round record describes."""
    return WrittenTable(
        files=dict(record.get("files") or {}),
        rows=int(record.get("rows") or 0),
        counts=dict(record.get("counts") or {}),
    )


def combine_rounds(output: OutcomeOutput, stems: Sequence[Any], destination: Any) -> WrittenTable:
    """The final table: every recipient of round 1 once, with the latest round's outcome and the
    attempts of every round added up (a redial's row ids are round 1's)."""
    latest: dict[tuple[str, str], RecipientOutcome] = {}
    attempts: dict[tuple[str, str], int] = {}
    for stem in stems[1:]:
        for row in read_round(output, stem):
            person = (row.row_id, row.number)  # an id column may repeat: the number tells them apart
            latest[person] = row
            attempts[person] = attempts.get(person, 0) + row.attempts

    def rows() -> Iterator[RecipientOutcome]:
        for row in read_round(output, stems[0]):
            person = (row.row_id, row.number)
            later = latest.get(person)
            if later is None:
                yield row
            else:
                yield later.model_copy(update={"attempts": row.attempts + attempts[person]})

    return output.write(rows(), destination)


_RENDERED: Any = object()


class OutcomeTablesMixin:
    """Mixed into the operators that write outcome tables: :meth:`outcome_output` from the rendered
    ``outcomes_path``, ``outcomes_format`` and the Asset chosen at parse time."""

    outcomes_path: Any
    outcomes_format: Any
    outcome_asset: Asset | None
    recipient_outcomes: tuple[str, ...] | None
    region_field: str | None
    id_field: str | None

    def outcome_output(self, path: Any = _RENDERED) -> OutcomeOutput:
        """Where this task writes its tables (``path``: before rendering, at parse time)."""
        return OutcomeOutput(
            self.outcomes_path if path is _RENDERED else path, self.outcomes_format, self.outcome_asset
        )

    @staticmethod
    def outcome_asset_arg(
        kwargs: dict[str, Any], path: Any, asset: Asset | str | bool | None, *, wanted: bool
    ) -> Asset | None:
        """Before ``BaseOperator.__init__``: the Asset the tables publish (None when no table is
        ``wanted``), added to ``kwargs["outlets"]``."""
        chosen = OutcomeOutput.asset_for(path, asset) if wanted else None
        if chosen is not None:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), chosen]
        return chosen

    def set_outcome_tables(
        self,
        *,
        outcomes_path: Any,
        outcomes_format: Any,
        asset: Asset | None,
        region_field: str | None = None,
        id_field: str | None = None,
        recipient_outcomes: Sequence[str] | None = None,
    ) -> None:
        """Keep the outcome-table and recipient-reading arguments (checked: an unknown outcome or
        format fails at parse time)."""
        with input_errors():
            self.recipient_outcomes = (
                None
                if recipient_outcomes is None
                else check_outcome_names(recipient_outcomes, field="recipient_outcomes")
            )
            self.region_field = region_field
            self.id_field = id_field
            self.outcomes_path = outcomes_path
            self.outcomes_format = outcomes_format
            self.outcome_asset = asset
            self.outcome_output(outcomes_path)


class CollectOutcomesOperator(OutcomeTablesMixin, VoiceOperator):
    """Write the outcome table of a campaign sent earlier (by another task or another run).

    Joins the send's recipients, its checkpoint and the vendor's per-call records (Velip
    ``GetCallStatus``, Kaleyra ``voice.groupstatus``, Octopush delivery reports received by the
    webhook receiver) into one row per recipient: see
    :mod:`airflow_provider_voice.capabilities.outcomes`. Recipients the vendor has not reported yet
    are ``pending`` (never counted as reached); with ``wait_for_completion`` the task first waits
    until every call has ended.

    :param conn_id: the campaign's connection (templated).
    :param campaign: the send task's XCom (``"{{ ti.xcom_pull(task_ids='send') }}"`` or
        ``send.output``): vendor, campaign ids and the checkpoint it was sent with (templated).
    :param recipients: the same recipients the send was given (list, file, URL, ``ObjectStoragePath``) (templated).
    :param default_region: as for the send (templated).
    :param number_field: as for the send.
    :param region_field: as for the send.
    :param id_field: column/key of the row id (default ``row_id``/``id``, else the line).
    :param suppression: the send's suppression list (labels the ``suppressed`` rows) (templated).
    :param checkpoint_path: the send's checkpoint location (default ``[voice] checkpoint_path``) (templated).
    :param send_task_id: the send's task id when ``campaign`` does not say it (older handles).
    :param outcomes_path: where to write (see the module docstring) (templated).
    :param outcomes_format: ``"both"`` (default), ``"csv"`` or ``"parquet"``.
    :param outcomes_asset: the Asset to publish (default from ``outcomes_path``; ``False``: none).
    :param wait_for_completion: wait until the campaign has ended first (blocking polls).
    :param poll_interval: seconds between status polls.
    :param completion_timeout: longest wait (seconds or timedelta).
    :returns: XCom ``{"rows", "counts", "csv_path", "parquet_path", "invalid", "vendor", "campaign_ids"}``:
        counts only (``invalid``: input rows left out of the table because their number is invalid).
    """

    template_fields = (
        "conn_id",
        "campaign",
        "recipients",
        "default_region",
        "suppression",
        "checkpoint_path",
        "outcomes_path",
    )
    template_fields_renderers = {"campaign": "json"}
    ui_color = "#c8e6c9"

    def __init__(
        self,
        *,
        conn_id: str,
        campaign: Any,
        recipients: Any,
        default_region: str | None = None,
        number_field: str | None = None,
        region_field: str | None = None,
        id_field: str | None = None,
        suppression: Any = None,
        checkpoint_path: Any = None,
        send_task_id: str | None = None,
        outcomes_path: Any = None,
        outcomes_format: str = "both",
        outcomes_asset: Asset | str | bool | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 30.0,
        completion_timeout: float | timedelta = timedelta(hours=12),
        **kwargs: Any,
    ) -> None:
        asset = self.outcome_asset_arg(kwargs, outcomes_path, outcomes_asset, wanted=True)
        super().__init__(**kwargs)
        self.set_outcome_tables(
            outcomes_path=outcomes_path, outcomes_format=outcomes_format, asset=asset,
            region_field=region_field, id_field=id_field,
        )  # fmt: skip
        self.conn_id = conn_id
        self.campaign = campaign
        self.recipients = recipients
        self.default_region = default_region
        self.number_field = number_field
        self.suppression = suppression
        self.checkpoint_path = checkpoint_path
        self.send_task_id = send_task_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = seconds_arg("poll_interval", poll_interval)
        self.completion_timeout = seconds_arg(
            "completion_timeout",
            completion_timeout.total_seconds() if isinstance(completion_timeout, timedelta) else completion_timeout,
        )

    def send_key(self, handle: CampaignHandle, context: Any) -> CheckpointKey:
        """The send's checkpoint key: from the handle (``checkpoint``), else ``send_task_id`` in this run."""
        recorded = handle.checkpoint
        if recorded:
            return CheckpointKey(**recorded)
        if not self.send_task_id:
            raise ValidationError(
                "send_task_id", None, "the campaign's XCom does not name its checkpoint: give the send's task id"
            )
        own = CheckpointKey.from_context(context)
        return CheckpointKey(own.dag_id, self.send_task_id, own.run_id, -1, own.namespace)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the recipients file and the suppression list read, the outcome table written;
        None without OpenLineage (see :mod:`~airflow_provider_voice.operators.lineage`)."""
        from airflow_provider_voice.operators.lineage import operator_lineage, outcome_table_locations

        tables = outcome_table_locations(self.outcome_output(), task_instance)
        return operator_lineage(inputs=[self.recipients, self.suppression], tables=tables)

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_voice.models.recipients import RecipientSource

        with input_errors():
            handle = campaign_handle_arg(self.campaign)
            backend = self.hook.campaigns()
            if backend.vendor != handle.vendor:
                raise ValidationError(
                    "conn_id", self.conn_id, f"a {handle.vendor} connection (the campaign was sent on {handle.vendor})"
                )
            key = self.send_key(handle, context)
            store: CheckpointStore = checkpoint_store(self.checkpoint_path)
            suppression = SuppressionList.load(self.suppression, default_region=self.default_region)
            source = RecipientSource(
                self.recipients,
                default_region=self.default_region,
                number_field=self.number_field,
                region_field=self.region_field,
                id_field=self.id_field,
            )
        if self.wait_for_completion:
            from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger

            trigger = CampaignCompletionTrigger(
                conn_id=self.conn_id, handle=handle.model_dump(mode="json"), poll_interval=self.poll_interval
            )
            outcome = trigger.wait(backend, timeout=self.completion_timeout)
            if not outcome.done:
                raise AirflowSensorTimeout(
                    f"campaign not finished after {self.completion_timeout:.0f} s: {outcome.message}"
                )
        rows = backend.collect_outcomes(handle, source, key=key, store=store, suppression=suppression)

        def every_row() -> Iterator[RecipientOutcome]:  # one pass over the recipients: read, parse, join
            yield from rows
            report = source.report
            if report.valid == 0:  # raised inside the write: nothing is left at the destination
                raise ValidationError(
                    "recipients", f"<{report.rows} rows>", f"no valid recipient ({report.invalid_count} invalid)"
                )
            if report.invalid_count:
                log.warning(
                    "%d invalid row(s) left out of the outcome table (never recipients of the send)",
                    report.invalid_count,
                )

        output = self.outcome_output()
        written = output.write(every_row(), output.stem(context))
        log_table(written, f"{handle.vendor} campaign {handle.name!r} outcomes")
        output.publish(context, written, vendor=handle.vendor, campaign_ids=handle.campaign_ids[:50])
        return {
            **written.summary(),
            "invalid": source.report.invalid_count,  # rows left out of the table (never recipients)
            "vendor": handle.vendor,
            "campaign_ids": handle.campaign_ids,
        }
