"""Send a voice campaign on Velip, Octopush or Kaleyra — the connection type picks the vendor."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pydantic
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_voice.delivery import CheckpointKey, DeliveryEngine, SuppressionList, checkpoint_store
from airflow_provider_voice.delivery.engine import concurrency_arg, engine_options_arg, validation_workers_arg
from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.operators.base import (
    CampaignInputError,
    VoiceOperator,
    deferrable_arg,
    input_errors,
    max_rejected_share_arg,
    rendered_options,
    try_number,
)
from airflow_provider_voice.operators.links import CampaignConsoleLink
from airflow_provider_voice.operators.outcomes import (
    ROUND_DONE,
    OutcomeTablesMixin,
    RedialPolicy,
    combine_rounds,
    log_table,
    outcome_recipients,
    read_path,
    round_key,
    round_name,
    round_record,
    written_from,
)
from airflow_provider_voice.operators.policy import ContactPolicyMixin, take_contact_policy_args
from airflow_provider_voice.redaction import get_logger, redact
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.triggers.base import event_error, seconds_arg

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.recipients import ValidatedRecipients
    from airflow_provider_voice.models.campaign import CampaignHandle, CampaignSpec
    from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger

__all__ = ["CampaignInputError", "CampaignKilledError", "SendVoiceCampaignOperator"]

log = get_logger(__name__)
#: default seconds ``on_kill`` gives the vendor to stop the campaigns (Airflow sends SIGKILL 5 s after SIGTERM)
DEFAULT_CANCEL_TIMEOUT = 3.0
#: extra seconds ``on_kill`` waits for a cancel past its own timeout before giving up on it
_CANCEL_GRACE_SECONDS = 0.5


class CampaignKilledError(VoiceProviderError, AirflowFailException):
    """The task was killed (``on_kill``) while it sent or waited; not retried by Airflow.

    The message says what was stopped on the vendor's side and what keeps running.

    :param message: what happened.
    :param stopped: vendor ids of the campaigns stopped (Velip: paused).
    :param running: vendor ids of the campaigns that keep running (the vendor cannot stop them,
        or stopping them failed).
    :param vendor: the connection's vendor.
    """

    def __init__(self, message: str, *, stopped: list[str], running: list[str], vendor: str | None = None) -> None:
        super().__init__(message, vendor=vendor)
        self.stopped = list(stopped)
        self.running = list(running)


class _RemoteWork:
    """What one ``execute`` started on the vendor, shared with ``on_kill``.

    ``on_kill`` runs in another thread, or in a signal handler interrupting ``execute`` on the same
    thread: the state is plain attributes written in one order (``killed`` before reading
    ``finished`` there, ``finished`` before reading ``killed`` in ``execute``, so a kill is never
    missed by both), and a reentrant lock held only to claim ids, never during I/O.
    """

    def __init__(self) -> None:
        self.backend: Any = None
        self.store: Any = None
        self.key: CheckpointKey | None = None
        self.engine: DeliveryEngine[Any] | None = None
        self.handle: CampaignHandle | None = None
        self.killed = False
        self.finished = False
        self.stopped: list[str] = []
        self.running: list[str] = []
        self._claimed: set[str] = set()
        self._unsettled: set[str] = set()
        self._lock = threading.RLock()

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None  # a copy of the operator owns none of this execute's remote work

    def campaign_ids(self) -> list[str]:
        """Vendor ids accepted so far: the send's handle, and what the engine's report holds now
        (earlier tries' frames included: the handle a wait polls has them too)."""
        seen: dict[str, None] = {}
        handle, engine = self.handle, self.engine
        if handle is not None:
            seen.update(dict.fromkeys(handle.campaign_ids))
        report = engine.report if engine is not None else None
        if report is not None:
            seen.update(dict.fromkeys(report.refs))
        return list(seen)

    def claim(self) -> list[str]:
        """The ids nobody has stopped or reported yet, now claimed by the caller (who settles them)."""
        with self._lock:
            fresh = [ref for ref in self.campaign_ids() if ref not in self._claimed]
            self._claimed.update(fresh)
            self._unsettled.update(fresh)
        return fresh

    def settle(self, ids: list[str], stopped: list[str]) -> None:
        """Record the outcome of a claim: ``stopped`` were stopped, the other ``ids`` keep running."""
        with self._lock:
            self.stopped.extend(ref for ref in ids if ref in stopped)
            self.running.extend(ref for ref in ids if ref not in stopped)
            self._unsettled.difference_update(ids)

    def wait_settled(self, seconds: float) -> list[str]:
        """Wait (at most ``seconds``) for claims being stopped elsewhere; returns the ids still unsettled."""
        ends = time.monotonic() + seconds
        while self._unsettled and time.monotonic() < ends:
            time.sleep(0.01)
        with self._lock:
            return sorted(self._unsettled)


def _run_bounded(action: Callable[[], Any], seconds: float) -> tuple[bool, Any, BaseException | None]:
    """Run ``action`` in a daemon thread for at most ``seconds``: ``(finished, value, error)``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = action()
        except BaseException as exc:  # handed to the caller, which logs it
            box["error"] = exc

    worker = threading.Thread(target=target, name="voice-campaign-cancel", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        return False, None, None
    return True, box.get("value"), box.get("error")


class SendVoiceCampaignOperator(ContactPolicyMixin, OutcomeTablesMixin, VoiceOperator):
    """Call a list of people with a voice message, each exactly once, on the connection's vendor.

    The connection type picks the vendor (``velip``, ``octopush`` or ``kaleyra``); everything is
    validated before the first request (numbers, text length, sender, language, schedule,
    vendor options). Recipients are split into vendor-sized frames and sent with bounded async
    concurrency, with progress lines (sent/total, rate, ETA). Every accepted frame is
    checkpointed, so a retried task resumes after it; a frame whose fate is unknown is reconciled
    with the vendor (Octopush ``request_id``, Velip ``cp_ctid``) and otherwise reported — the
    task fails listing those recipients — and **not** resent unless ``resend_in_doubt=True``.

    **Killed** (``on_kill``: the task marked failed, ``execution_timeout``, SIGTERM) while it sends
    or waits in the blocking wait: no new frame is sent (frames in flight finish and are
    checkpointed), and every campaign the vendor accepted for this task instance (earlier tries'
    included) is stopped where the vendor allows it: Velip pauses them (``ChangeCampaign
    active=0``), within ``cancel_timeout``. Octopush and Kaleyra cannot stop an accepted campaign:
    the task log says at WARNING which campaign ids keep running. A failed or late cancel is logged
    as an error, never raised by ``on_kill``. The task then fails with
    :class:`CampaignKilledError` (not retried), which lists what was stopped and what keeps
    running. The paused campaigns are recorded in the checkpoint: the next try (a cleared task, a
    retry after ``execution_timeout``) resumes them first (``ChangeCampaign active=1``; XCom
    ``resumed_campaigns``), then sends the recipients not accepted yet.

    :param conn_id: a Velip, Octopush or Kaleyra connection (templated).
    :param recipients: a list (numbers, dicts with ``number``/``name``/variables, ``Recipient``),
        an XCom, a CSV/JSON/JSONL path or an ``ObjectStoragePath`` (templated).
    :param campaign_name: the campaign's name (templated).
    :param message: TTS text (templated). ``{name}``, ``{number}`` and ``{<variable>}`` placeholders
        give per-recipient messages on every campaign vendor (Velip, Octopush, Kaleyra); recipients
        with the same rendered text share frames, so distinct texts cost frames (see
        docs/operators/campaigns.md, "Personalised messages"). ``{{``/``}}`` are literal braces.
    :param audio: audio reference instead of text (Velip content id, Kaleyra ``123.sound`` / ``ivr:1234``)
        (templated).
    :param voice: TTS voice (Velip voice name; Octopush ``male``/``female``) (templated).
    :param language: Octopush ``voice_language`` (``fr-FR``...) (templated).
    :param schedule: start time (aware datetime or ISO 8601; Kaleyra: >= 15 min ahead) (templated).
    :param vendor_options: typed per vendor — see ``VelipCampaignOptions``,
        ``OctopushCampaignOptions``, ``KaleyraCampaignOptions`` (templated: a mapping, or a string
        that renders to a JSON object such as ``"{{ params.options | tojson }}"``).
    :param default_region: region for numbers without a country code (``"FR"``, ``"IN"``) (templated).
    :param number_field: column/key of the number in files and dicts (auto-detected by default).
    :param skip_invalid: leave invalid numbers out (counted, and each written to the rejects
        file) instead of failing.
    :param rejects_path: with ``skip_invalid=True``, where every left-out row is written as CSV
        ``line,value,reason`` (local path, URL or ``ObjectStoragePath``; default ``[voice]
        rejects_path`` or ``$AIRFLOW_HOME/voice/rejects/<dag_id>/<run_id>/<task_id>.csv``; a retry
        overwrites it). Its location is pushed to XCom as ``rejects_path``.
    :param validation_workers: processes that parse the numbers of a long recipient list besides
        the task's own (default 1: none). With 2 or more, the rows after the first 50,000 are parsed
        ahead in a process pool (order, line numbers and every check unchanged); worth it only with
        free cores (see ``docs/scale.md``).
    :param suppression: numbers never to call: list, file (``.txt``/``.csv``/``.json``),
        ``ObjectStoragePath`` or ``Asset`` (templated).
    :param concurrency: frames in flight (default 16).
    :param checkpoint_path: where checkpoints live: a local directory, ``file://`` or an
        object-storage URL (``s3://bucket/prefix``) / ``ObjectStoragePath``; default
        ``[voice] checkpoint_path`` or ``$AIRFLOW_HOME/voice/checkpoints`` (templated).
    :param resend_in_doubt: resend frames the vendor cannot account for (risk: calling twice).
    :param max_rejected_share: largest share of recipients the vendor may refuse (of those it
        answered) for the task to succeed; default 0.0: any refusal fails the task, after every
        other frame was sent and checkpointed. Nothing accepted at all always fails. A refusal is
        not retried by Airflow (the same request would be refused again): fix the cause and clear
        the task; the checkpoint sends only the recipients not accepted yet.
    :param region_field: column/key of each row's ISO region (``FR``, ``BR``...) for a mixed-country
        file: a national number is read in its row's region (blank: ``default_region``).
    :param id_field: column/key of each row's id, copied to the outcome table's ``row_id`` (default:
        a ``row_id`` or ``id`` column, else the line / position).
    :param recipient_outcomes: read ``recipients`` as an outcome table (CSV or Parquet written by this
        operator, ``SendSMSOperator`` or ``CollectOutcomesOperator``) and keep only the rows with these
        outcomes, e.g. ``["no_answer", "busy"]``. No row left: the task is skipped
        (``AirflowSkipException``), not failed.
    :param wait_for_completion: after sending, wait until every call has ended, then write the
        outcome table (one row per recipient: see ``outcomes_path``).
    :param outcomes_path: where the outcome table is written (CSV and Parquet: ``<stem>.csv`` and
        ``<stem>.parquet``; a path ending in ``.csv`` / ``.parquet`` names one file and the other
        goes beside it; local path, URL or ``ObjectStoragePath``; default ``[voice] outcomes_path`` or
        ``$AIRFLOW_HOME/voice/outcomes``, then ``<dag_id>/<run_id>/<task_id>``) (templated). Needs
        ``wait_for_completion=True`` (or ``redial``): a table before the calls ended would be all ``pending``.
    :param outcomes_format: ``"both"`` (default), ``"csv"`` or ``"parquet"``.
    :param outcomes_asset: the Asset published with each table (an ``Asset`` or URI; default derived
        from ``outcomes_path``; ``False``: none). Its event's extra holds the files and the counts.
    :param redial: call the unreached again, e.g. ``{"outcomes": ["no_answer", "busy"], "after":
        timedelta(hours=2), "max_attempts": 3}`` (see :class:`~airflow_provider_voice.operators.outcomes.RedialPolicy`):
        after each round ends, the recipients with those outcomes are called again ``after`` later
        (deferred in the triggerer when ``deferrable``), up to ``max_attempts`` rounds in all. Each
        round is its own exactly-once delivery (its own checkpoint: a retry never calls anybody twice
        in a round) and writes ``<stem>.round<N>.csv/.parquet``; the final table has every recipient
        once with their latest outcome and all attempts added up. Answered people are never called again.
    :param contact_policy: call people only when the law allows it, in **their** time zone: a
        :class:`~airflow_provider_voice.delivery.contact_policy.ContactPolicy`, a preset name
        (``"FR_MARKETING"``, ``"US_TCPA"``, ``"IN_TRAI_COMMERCIAL"``) or a mapping of its fields; default
        ``[voice] contact_policy``; ``False``: none. Recipients outside their window are held and
        called when it opens (the task defers until then), never dropped; see
        :mod:`~airflow_provider_voice.operators.policy` and docs/compliance.md.
    :param timezone_field: column of each row's IANA time zone (default: from the number).
    :param subdivision_field: column of each row's public-holiday subdivision (``"57"``, ``"CA"``).
    :param contact_deadline: longest time recipients may stay held (from the first plan; default 7 days):
        those still held then are not called and the task fails saying how many and why.
    :param over_cap: over a frequency rule: ``"defer"`` (held until allowed) or ``"skip"`` (counted).
    :param contact_ledger_path: the contact ledger of the frequency rules (default ``[voice] contact_ledger_path``).
    :param dry_run: validate everything (numbers, text, options, policy), plan the send and estimate
        its cost, and return without calling anyone (XCom: counts, frames, distinct texts, the schedule
        per time zone, the estimate).
    :param max_cost: refuse to send (before any call) when the estimate is higher, or unknown.
    :param price_table: prices of the estimate (a :class:`~airflow_provider_voice.delivery.pricing.PriceTable`,
        a mapping or a JSON file; default ``[voice] price_table``; Octopush answers the exact cost itself).
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``).
    :param poll_interval: seconds between status polls when waiting.
    :param completion_timeout: longest wait for completion (seconds or timedelta).
    :param target_answered_share: stop waiting once this share of calls is answered.
    :param request_timeout: HTTP timeout per request (seconds).
    :param retry_policy: HTTP retry policy of every request (a
        :class:`~airflow_provider_voice.transport.RetryPolicy`; kept as :attr:`request_retry`, never
        as Airflow's task ``retry_policy``). An Airflow task retry policy given here is Airflow's.
    :param progress_interval: seconds between progress lines.
    :param cancel_timeout: longest time ``on_kill`` spends stopping the campaigns on the vendor
        (seconds, default 3: Airflow sends SIGKILL 5 s after SIGTERM).
    :param engine_options: advanced :class:`DeliveryEngine` arguments (``reconcile_delay``,
        ``max_frame_attempts``, ``backoff_initial``, ``backoff_max``).
    :returns: pushes a small normalized result to XCom (never the recipients): ``vendor``,
        ``conn_id``, ``name``, ``campaign_ids``, ``accepted``, ``rejected``, ``suppressed``,
        ``invalid``, ``duplicates``, ``in_doubt``, ``resumed``, ``cost``, ``estimated_duration``,
        ``started_at``, ``schedule``, ``extra`` (``distinct_texts``...), ``checkpoint``; plus, when
        waiting for completion, ``status`` and ``outcomes`` (``rows``, ``counts`` per outcome,
        ``csv_path``, ``parquet_path``) and, with ``redial``, ``rounds`` (per round: accepted,
        campaign ids, counts). The UI's "Vendor console" link opens the first campaign on the
        vendor's console (:mod:`~airflow_provider_voice.operators.links`).
    """

    template_fields = (
        "conn_id",
        "recipients",
        "campaign_name",
        "message",
        "audio",
        "voice",
        "language",
        "schedule",
        "vendor_options",
        "default_region",
        "suppression",
        "checkpoint_path",
        "rejects_path",
        "outcomes_path",
        "contact_ledger_path",
        "contact_policy",
    )
    template_fields_renderers = {"vendor_options": "json", "message": "txt"}
    ui_color = "#bbdefb"
    operator_extra_links = (CampaignConsoleLink(),)

    def __init__(
        self,
        *,
        conn_id: str,
        recipients: Any,
        campaign_name: str,
        message: str | None = None,
        audio: str | None = None,
        voice: str | None = None,
        language: str | None = None,
        schedule: datetime | str | None = None,
        vendor_options: Mapping[str, Any] | None = None,
        default_region: str | None = None,
        number_field: str | None = None,
        region_field: str | None = None,
        id_field: str | None = None,
        recipient_outcomes: Sequence[str] | None = None,
        skip_invalid: bool = False,
        rejects_path: Any = None,
        validation_workers: int = 1,
        suppression: Any = None,
        concurrency: int = 16,
        checkpoint_path: Any = None,
        resend_in_doubt: bool = False,
        max_rejected_share: float = 0.0,
        wait_for_completion: bool = False,
        outcomes_path: Any = None,
        outcomes_format: str = "both",
        outcomes_asset: Asset | str | bool | None = None,
        redial: Mapping[str, Any] | RedialPolicy | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        completion_timeout: float | timedelta = timedelta(hours=12),
        target_answered_share: float | None = None,
        request_timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
        progress_interval: float = 10.0,
        cancel_timeout: float = DEFAULT_CANCEL_TIMEOUT,
        engine_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            kwargs["retry_policy"] = retry_policy  # Airflow's own task retry policy: BaseOperator's
            retry_policy = None
        with input_errors():
            policy = RedialPolicy.from_arg(redial)
            wants_outcomes = bool(wait_for_completion or policy)
            if outcomes_path not in (None, "") and not wants_outcomes:
                raise ValidationError(
                    "outcomes_path",
                    str(outcomes_path),
                    "needs wait_for_completion=True (or redial): before the calls end every row would be "
                    "pending; CollectOutcomesOperator writes the table of a campaign sent earlier",
                )
        asset = self.outcome_asset_arg(kwargs, outcomes_path, outcomes_asset, wanted=wants_outcomes)
        policy_args = take_contact_policy_args(kwargs)  # contact_policy=, dry_run=... (see ContactPolicyMixin)
        super().__init__(**kwargs)
        with input_errors():
            self.set_contact_policy(**policy_args)
        self.set_outcome_tables(
            outcomes_path=outcomes_path, outcomes_format=outcomes_format, asset=asset,
            region_field=region_field, id_field=id_field, recipient_outcomes=recipient_outcomes,
        )  # fmt: skip
        self.conn_id = conn_id
        self.recipients = recipients
        self.campaign_name = campaign_name
        self.message = message
        self.audio = audio
        self.voice = voice
        self.language = language
        self.schedule = schedule
        self.vendor_options = vendor_options  # may be a template string: read at execute time
        self.default_region = default_region
        self.number_field = number_field
        self.redial = policy
        self.skip_invalid = skip_invalid
        self.rejects_path = rejects_path
        self.validation_workers = validation_workers_arg(validation_workers)
        self.suppression = suppression
        self.concurrency = concurrency_arg(concurrency)
        self.checkpoint_path = checkpoint_path
        self.resend_in_doubt = resend_in_doubt
        self.max_rejected_share = max_rejected_share_arg(max_rejected_share)
        self.wait_for_completion = bool(wait_for_completion or policy)
        self.deferrable = deferrable_arg(deferrable)
        self.poll_interval = seconds_arg("poll_interval", poll_interval)
        self.completion_timeout = (
            completion_timeout.total_seconds()
            if isinstance(completion_timeout, timedelta)
            else float(completion_timeout)
        )
        self.target_answered_share = target_answered_share
        self.request_timeout = request_timeout
        #: the HTTP retry policy (``retry_policy``); ``self.retry_policy`` stays Airflow's task retry policy
        self.request_retry = retry_policy
        self.progress_interval = progress_interval
        if isinstance(cancel_timeout, bool) or not isinstance(cancel_timeout, (int, float)) or not cancel_timeout > 0:
            raise ValidationError("cancel_timeout", cancel_timeout, "a number of seconds > 0")
        self.cancel_timeout = float(cancel_timeout)
        self.engine_options = engine_options_arg(engine_options)
        self._remote: _RemoteWork | None = None

    # -- hook ------------------------------------------------------------------------------------
    def hook_params(self) -> dict[str, Any]:
        """The request timeout and retry policy, when given (the completion trigger gets the same)."""
        params: dict[str, Any] = {}
        if self.request_timeout:
            params["timeout"] = float(self.request_timeout)
        if self.request_retry is not None:
            params["retry"] = self.request_retry
        return params

    def _completion_trigger(self, handle: dict[str, Any], deadline: str | None) -> CampaignCompletionTrigger:
        """The wait for ``handle``: deferred to the triggerer, or run in the worker (:meth:`_wait`)."""
        from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger

        return CampaignCompletionTrigger(
            conn_id=self.conn_id,
            handle=handle,
            poll_interval=self.poll_interval,
            deadline=deadline,
            target_answered_share=self.target_answered_share,
            hook_params=self.hook_params(),
        )

    # -- execute -----------------------------------------------------------------------------------
    def build_spec(self) -> CampaignSpec:
        """The :class:`CampaignSpec` from the (rendered) arguments; bad values raise :class:`ValidationError`."""
        from airflow_provider_voice.models.campaign import CampaignSpec

        if not isinstance(self.campaign_name, str) or not self.campaign_name.strip():
            raise ValidationError(
                "campaign_name", self.campaign_name, "a non-blank name (a template that rendered to nothing?)"
            )
        try:
            return CampaignSpec(
                name=self.campaign_name,
                message=self.message or None,
                audio=self.audio or None,
                voice=self.voice or None,
                language=self.language or None,
                # typed datetime | None for readers; its before-validator parses ISO text too
                schedule=self.schedule or None,  # type: ignore[arg-type]
                vendor_options=rendered_options(self.vendor_options),
            )
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "campaign"
            raise ValidationError(
                where if where != "name" else "campaign_name", first.get("input"), first.get("msg", "invalid")
            ) from None

    def execute(self, context: Any) -> dict[str, Any]:
        return self._advance(context)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the recipients file and the suppression list read, the outcome table written
        (with ``wait_for_completion``); None without OpenLineage (see :mod:`~airflow_provider_voice.operators.lineage`)."""
        from airflow_provider_voice.operators.lineage import operator_lineage, outcome_table_locations

        tables = outcome_table_locations(self.outcome_output(), task_instance) if self.wait_for_completion else []
        return operator_lineage(inputs=[self.recipients, self.suppression], tables=tables)

    def _recipients(
        self, source: Any, backend: Any, spec: CampaignSpec, context: Any, *, first: bool = True
    ) -> ValidatedRecipients[CampaignSpec]:
        """The validated recipients of a round: round 1 reads ``recipients`` (an outcome table when
        ``recipient_outcomes`` is set); a redial round reads the previous round's table."""
        from airflow_provider_voice.capabilities.recipients import rejects_name_from_context, validate_recipients

        return validate_recipients(
            source,
            backend,
            spec,
            default_region=self.default_region,
            number_field=self.number_field if first else None,
            region_field=self.region_field if first else None,
            id_field=self.id_field if first else None,
            skip_invalid=self.skip_invalid,
            validation_workers=self.validation_workers,
            rejects_path=self.rejects_path if first else False,
            rejects_name=rejects_name_from_context(context),
        )

    def _advance(
        self, context: Any, *, completed_round: int | None = None, completed_status: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send, wait, write the outcomes and redial, round after round, from what is durable.

        Every round's state is in its checkpoint (the frames accepted, then a record once its
        outcome table is written), so ``execute``, ``execute_complete`` (after the completion
        trigger), ``execute_redial`` (after the wait between rounds) and a retry of the task all
        run this same method: a finished round is read back, a round in progress resumes its
        checkpoint (nobody called twice), and the next round starts when it is due.
        """
        from airflow_provider_voice.capabilities.outcome_table import OutcomeTableRows

        remote = self._remote = _RemoteWork()
        with input_errors():
            backend = remote.backend = self.hook.campaigns()
            if self.redial is not None and not backend.reports_outcomes:
                # every outcome would stay pending: nobody would be called again, and the task would end green
                raise ValidationError(
                    "redial",
                    dict(self.redial.model_dump(mode="json")),
                    f"needs per-call outcomes, and this {backend.vendor} connection reports none (Octopush: only "
                    "through delivery-report webhooks; set webhook_auth on the connection, see docs/events.md)",
                    vendor=backend.vendor,
                )
            spec = self.build_spec()
            backend.validate(spec)
            if spec.schedule is not None and self.policy() is not None:
                raise ValidationError(
                    "schedule", spec.schedule.isoformat(),
                    "cannot be combined with a contact_policy: the policy decides when each recipient is called "
                    "(remove schedule, or contact_policy=False)",
                )  # fmt: skip
            source = self.recipients
            if self.recipient_outcomes is not None:
                source = outcome_recipients(self.recipients, self.recipient_outcomes)
            recipients = self._recipients(source, backend, spec, context)
            suppression = SuppressionList.load(self.suppression, default_region=self.default_region)
            store = checkpoint_store(self.checkpoint_path)
        base_key = CheckpointKey.from_context(context)
        remote.store, remote.key = store, base_key
        self.log.info(
            "%s campaign %r: %d recipients (%d rows, %d invalid skipped, %d duplicates), suppression list of %d numbers; checkpoint %s",
            backend.vendor, spec.name, recipients.valid, recipients.rows, recipients.invalid, recipients.duplicates,
            len(suppression), store.location(base_key),
        )  # fmt: skip
        if self.dry_run_only:  # before anything that calls: not even a paused campaign is resumed
            return self._dry_run(backend, spec, recipients, suppression, store, base_key)
        resumed = self._resume_paused(backend, store, base_key) if getattr(backend, "can_cancel", False) else []
        if self.max_cost is not None and not store.state(base_key).frames:  # before the first call only
            with input_errors():
                self.check_cost(self._estimate(backend, spec, recipients, suppression, store, base_key))
        policy = self.redial
        output = self.outcome_output()
        last_round = policy.max_attempts if policy else 1
        rounds: list[dict[str, Any]] = []
        stems: list[Any] = []
        first: dict[str, Any] | None = None
        current = recipients
        for number in range(1, last_round + 1):
            key = round_key(base_key, number)
            remote.key = key
            stem = output.stem(context, f".round{number}" if policy else "")
            done = round_record(store, key)
            if done is None:
                if number > 1 and policy is not None:
                    self._gate(remote, float(rounds[-1]["ts"]) + policy.after.total_seconds(), number)
                round_spec = spec if number == 1 else spec.model_copy(update={"name": round_name(spec.name, number)})
                handle, result = self._send_round(
                    context, remote, backend, round_spec, current, suppression, store, key, number
                )
                if number == 1:
                    result = {**result, "rejects_path": recipients.rejects_path, "resumed_campaigns": resumed}
                if not self.wait_for_completion:
                    self._finish(remote, spec.name, "after sending")
                    self.raise_unsent([result])
                    return result
                status = self._await_round(remote, backend, handle, result, number, completed_round, completed_status)
                rows = backend.collect_outcomes(
                    handle, current, key=key, store=store, suppression=suppression, round=number,
                    not_sent_detail=self.held_detail(result.get("contact_policy")),
                )  # fmt: skip
                refused: list[str] = []
                written = output.write(self.tap_refusals(rows, refused), stem)
                self.record_refusals(refused, key)
                log_table(written, f"{backend.vendor} campaign {round_spec.name!r} outcomes (round {number})")
                done = {
                    "t": ROUND_DONE, "round": number, "ts": round(time.time(), 3), "rows": written.rows,
                    "counts": written.counts, "files": written.files, "result": result, "status": status,
                }  # fmt: skip
                store.append_sync(key, [done])
            else:
                self.log.info("round %d of %s campaign %r: finished earlier (%s)", number, backend.vendor, spec.name, done.get("counts"))  # fmt: skip
            rounds.append(done)
            stems.append(stem)
            if first is None:
                first = dict(done["result"])
            if number == last_round or policy is None:
                break
            again = OutcomeTableRows(read_path(output, stem), outcomes=policy.outcomes)
            left = sum(1 for _ in again.outcome_rows())
            unknown = again.counts.get("pending", 0)
            if unknown:
                self.log.warning(
                    "round %d: %d recipient(s) still pending (no outcome reported yet) are not called again",
                    number, unknown,
                )  # fmt: skip
            if left == 0:
                self.log.info("round %d: nobody with outcome %s to call again: the redial ends", number, " or ".join(policy.outcomes))  # fmt: skip
                break
            self.log.info("round %d: %d recipients with outcome %s are called again", number, left, " or ".join(policy.outcomes))  # fmt: skip
            with input_errors():
                current = self._recipients(again, backend, spec, context, first=False)
        self._finish(remote, spec.name, "after the wait")
        assert first is not None
        if policy is None:
            final = written_from(rounds[-1])
        else:
            final = combine_rounds(output, stems, output.stem(context))
            log_table(final, f"{backend.vendor} campaign {spec.name!r} outcomes after {len(rounds)} round(s)")
        output.publish(context, final, vendor=backend.vendor, rounds=len(rounds))
        result = {**first, "status": rounds[-1]["status"], "outcomes": final.summary()}
        if policy is not None:
            result["rounds"] = [
                {"round": r["round"], "accepted": r["result"].get("accepted"), "campaign_ids": r["result"].get("campaign_ids", []),
                 "counts": r["counts"], "files": r["files"]}
                for r in rounds
            ]  # fmt: skip
        self.raise_unsent([r["result"] for r in rounds])
        return result

    def _estimate(
        self, backend: Any, spec: CampaignSpec, recipients: ValidatedRecipients[CampaignSpec],
        suppression: SuppressionList, store: Any, key: CheckpointKey,
    ) -> dict[str, Any]:  # fmt: skip
        """The estimated cost of what this send would still contact (``max_cost``, ``dry_run``)."""
        would, _ = self.would_send(recipients, store, key)
        frames = backend.plan_frames(spec, would(), suppression=suppression)
        return dict(
            backend.estimate_cost(
                spec, would(), by_country=frames["by_country"], prices=self.prices(), suppression=suppression
            )
        )

    def _dry_run(
        self, backend: Any, spec: CampaignSpec, recipients: ValidatedRecipients[CampaignSpec],
        suppression: SuppressionList, store: Any, key: CheckpointKey,
    ) -> dict[str, Any]:  # fmt: skip
        """Everything but the calls: counts, frames, distinct texts, the schedule per time zone, the cost."""
        would, plan = self.would_send(recipients, store, key)
        if plan is not None:
            self.log_plan(plan, "dry run")
        frames = backend.plan_frames(spec, would(), suppression=suppression)
        estimate = dict(
            backend.estimate_cost(
                spec, would(), by_country=frames["by_country"], prices=self.prices(), suppression=suppression
            )
        )
        result = self.dry_run_result(
            backend.vendor, recipients, estimate, plan, conn_id=self.conn_id, name=spec.name, **frames
        )
        self.log.info(
            "dry run of %s campaign %r: nobody was called; %d recipients would be called in %d frames (%d distinct "
            "texts), %d suppressed; estimated cost: %s %s (%s)",
            backend.vendor, spec.name, frames["recipients"], frames["frames"], frames["distinct_texts"],
            frames["suppressed"], estimate.get("total"), estimate.get("currency") or "", estimate.get("source"),
        )  # fmt: skip
        return result

    def _send_round(
        self,
        context: Any,
        remote: _RemoteWork,
        backend: Any,
        spec: CampaignSpec,
        recipients: Any,
        suppression: SuppressionList,
        store: Any,
        key: CheckpointKey,
        number: int,
    ) -> tuple[CampaignHandle, dict[str, Any]]:
        """One round's exactly-once send (the checkpoint of ``key``); returns the handle and its XCom form."""
        from airflow_provider_voice.capabilities.campaign import CampaignIncompleteError

        engine_options = {
            "progress_interval": self.progress_interval,
            "attempt": try_number(context),
            "max_rejected_share": self.max_rejected_share,
            **self.engine_options,
        }
        if remote.killed:  # killed while the recipients were read: send nothing
            raise self._killed_error(remote, spec.name, "before sending")
        planner = self.contact_planner(store, key)
        while True:
            items: Iterable[Recipient] = recipients
            plan = None
            if planner is not None:  # only the recipients whose window is open now (see operators/policy.py)
                plan, sent = self.plan_now(
                    planner, recipients, store, key, f"round {number}" if self.redial else "plan"
                )
                if plan.due == 0 and plan.next_wake is not None:
                    self._gate(remote, plan.next_wake, number, "the next contact window")
                    continue
                items = planner.due(recipients, sent=sent)
            parts: list[tuple[CampaignSpec, Iterable[Recipient], int]] = [
                (spec, items, recipients.valid if plan is None else plan.due)
            ]
            if planner is not None and plan is not None and plan.due and backend.vendor_windows:
                # the vendor stops dialing at a window's end: one send per window end
                parts = [
                    (backend.window_spec(spec, until=end), planner.due(recipients, sent=sent, window=True, until=end),
                     sum(z.due for z in plan.zones.values() if z.open_until == end))
                    for end in plan.due_windows()
                ]  # fmt: skip
            for part_spec, part_items, part_total in parts:
                try:
                    handle = backend.send_campaign(
                        part_spec,
                        part_items,
                        key=key,
                        store=store,
                        concurrency=self.concurrency,
                        suppression=suppression,
                        resend_in_doubt=self.resend_in_doubt,
                        total=part_total,
                        engine_options=engine_options,
                        on_engine=self._keep_engine,
                    )
                except CampaignIncompleteError as exc:
                    remote.handle = exc.handle
                    self.log.error(
                        "partial result: %s", self._with_counts(exc.handle, recipients).model_dump(mode="json")
                    )
                    if planner is not None:
                        self.record_contacts(recipients, store, key)
                    if remote.killed:  # the engine stopped because of on_kill
                        raise self._killed_error(remote, spec.name, "while sending", exc) from exc
                    raise
            if planner is None or plan is None:
                break
            self.record_contacts(recipients, store, key)
            if plan.due == 0:  # nothing was due and nobody waits for a window: this plan is the final word
                break
            # plan again: the slice is in the checkpoint; a window that closed while it was sent holds the rest
        handle = handle.model_copy(update={"round": number})
        remote.handle = handle
        if remote.killed:  # killed while the last frames were in flight
            raise self._killed_error(remote, spec.name, "while sending")
        self.log.info(
            "%s campaign %r sent: %d accepted (%d by earlier tries), %d rejected, %d suppressed, ids %s",
            backend.vendor, spec.name, handle.accepted, handle.resumed, handle.rejected, handle.suppressed, handle.campaign_ids[:10],
        )  # fmt: skip
        result = self._with_counts(handle, recipients).model_dump(mode="json")
        if plan is not None:
            result["contact_policy"] = self.plan_summary(plan)
        return handle, result

    def _await_round(
        self,
        remote: _RemoteWork,
        backend: Any,
        handle: CampaignHandle,
        result: dict[str, Any],
        number: int,
        completed_round: int | None,
        completed_status: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The round's final status: the completion trigger's (when it fired for this round), a
        status that is done already, or a wait (deferred to the triggerer, or blocking)."""
        from airflow_provider_voice.triggers.campaign import campaign_done, deadline_after

        if completed_round == number and completed_status is not None:
            return completed_status
        if self.deferrable:
            status = backend.campaign_status(handle)
            if campaign_done(status, self.target_answered_share):
                self.log.info("%s", status.message or status.summary())
                return status.model_dump(mode="json")
            self._finish(remote, handle.name, "after sending")  # the trigger waits; nothing here to stop
            self.defer(
                trigger=self._completion_trigger(
                    handle.model_dump(mode="json"), deadline_after(self.completion_timeout)
                ),
                method_name="execute_complete",
                kwargs={"result": result},
            )
        return self._wait(backend, handle, remote)

    def _gate(self, remote: _RemoteWork, not_before: float, number: int, what: str = "") -> None:
        """Wait until round ``number`` is due (or ``what``, e.g. the next contact window, opens):
        deferred (Airflow's ``DateTimeTrigger``), or blocking."""
        left = not_before - time.time()
        if left <= 0:
            return
        due = datetime.fromtimestamp(not_before, timezone.utc)
        waiting = what or f"round {number}"
        self.log.info("%s is due at %s (in %.0f s)", waiting, due.isoformat(timespec="seconds"), left)
        if self.deferrable:
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            self._finish(remote, str(self.campaign_name), f"waiting for {waiting}")
            self.defer(trigger=DateTimeTrigger(moment=due), method_name="execute_redial")
        while time.time() < not_before:
            if remote.killed:
                raise self._killed_error(remote, str(self.campaign_name), f"waiting for {waiting}")
            time.sleep(min(0.5, max(0.0, not_before - time.time())))

    def execute_redial(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Resume after a wait (between two rounds, or for a contact window): the send goes on from its
        checkpoints (see :meth:`_advance`)."""
        return self._advance(context)

    @staticmethod
    def _with_counts(handle: CampaignHandle, recipients: Any) -> CampaignHandle:
        return handle.model_copy(update={"invalid": recipients.invalid, "duplicates": recipients.duplicates})

    def _keep_engine(self, engine: DeliveryEngine[Any]) -> None:
        """Called by the backend with the delivery engine before it runs: ``on_kill`` stops it and
        reads what it has accepted so far."""
        remote = self._remote
        if remote is None:
            return
        remote.engine = engine
        if remote.killed:
            engine.request_stop()

    def _wait(self, backend: Any, handle: CampaignHandle, remote: _RemoteWork | None = None) -> dict[str, Any]:
        """Blocking wait (``deferrable=False``): the completion trigger's own check with the blocking
        client until done, the completion timeout, or ``on_kill`` (seen within half a second).
        Rate limits, 5xx and network errors are polled again, as in the triggerer."""

        def interrupt() -> None:
            if remote is not None and remote.killed:
                raise self._killed_error(remote, handle.name, "while waiting for completion")

        trigger = self._completion_trigger(handle.model_dump(mode="json"), None)
        outcome = trigger.wait(backend, timeout=self.completion_timeout, interrupt=interrupt)
        status = outcome.result.value
        if outcome.done:
            self.log.info("%s", outcome.message)
            return dict(outcome.result.payload["campaign_status"])
        raise AirflowSensorTimeout(
            f"campaign not finished after {self.completion_timeout:.0f} s: "
            + (status.summary() if status is not None else outcome.message)
        )

    def execute_complete(
        self, context: Any, event: dict[str, Any], result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the completion trigger: the send result plus the final ``status``."""
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            # dag.test() drops defer() kwargs: the trigger echoes the handle (and its round) in its event
            handle = event.get("handle") or result or {}
            return self._advance(
                context, completed_round=int(handle.get("round") or 1), completed_status=event.get("campaign_status")
            )
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        failure = f"waiting for the campaign failed: {event.get('message')}"
        raise event_error(event, failure) or VoiceProviderError(failure)

    def on_kill(self) -> None:
        """Stop the remote work of the running ``execute``; never raises, bounded in time.

        No new frame is sent (frames in flight finish and are checkpointed); the campaigns the
        vendor accepted so far — and, in the blocking wait, those of the handle waited on — are
        stopped with the backend's ``cancel`` where the vendor allows it (Velip: paused), within
        ``cancel_timeout``; vendors that cannot stop a campaign (Octopush, Kaleyra) get a WARNING
        naming the campaign ids that keep running. A cancel that fails or takes too long is logged
        as an error. ``execute`` then stops and fails with :class:`CampaignKilledError`; frames
        accepted after this call (they were in flight) are stopped or reported by ``execute``.
        Safe to call from another thread or a signal handler, and more than once.
        """
        remote = self._remote
        if remote is None:
            log.info("on_kill: this task is not sending or waiting on a campaign: nothing to stop")
            return
        remote.killed = True  # written before `finished` is read (see _RemoteWork)
        engine = remote.engine
        if engine is not None:
            engine.request_stop()
        if remote.finished:
            log.info("on_kill: the campaign was already sent (or handed to the trigger): nothing to stop")
            return
        log.warning("on_kill: no new frame is sent; stopping the campaigns accepted so far")
        self._stop_remote(remote)

    def _finish(self, remote: _RemoteWork, name: str, when: str) -> None:
        """Mark ``execute`` done with its remote work; a kill that came first fails the task instead."""
        remote.finished = True  # written before `killed` is read (see _RemoteWork)
        if remote.killed:
            raise self._killed_error(remote, name, when)
        self._remote = None

    def _stop_remote(self, remote: _RemoteWork) -> None:
        """Stop (or report) every accepted campaign not handled yet; logs, never raises. The
        campaigns paused are recorded in the checkpoint: the next try resumes them first."""
        ids = remote.claim()
        stopped: list[str] = []
        try:
            if ids:
                stopped = self._stop_campaigns(remote.backend, ids)
        finally:
            remote.settle(ids, stopped)
        if stopped and remote.store is not None and remote.key is not None:
            try:
                remote.store.append_sync(remote.key, [{"t": "paused", "refs": stopped, "ts": round(time.time(), 3)}])
            except Exception as exc:  # logged, never raised (on_kill must not fail)
                log.error(
                    "on_kill: could not record the paused campaigns %s in the checkpoint (a retry will not "
                    "resume them by itself: ChangeCampaign active=1 does): %s", ", ".join(stopped), redact(str(exc)),
                )  # fmt: skip

    def _resume_paused(self, backend: Any, store: Any, key: CheckpointKey) -> list[str]:
        """Resume the campaigns an earlier try's ``on_kill`` paused (recorded in the checkpoint), so
        a retry or a cleared task still calls their people; returns the ids resumed. A resume that
        fails raises (the task must not succeed while its campaigns stay paused)."""
        from airflow_provider_voice.models.campaign import CampaignHandle

        paused: dict[str, None] = {}
        for record in store.load(key):
            if record.get("t") == "paused":
                paused.update(dict.fromkeys(str(r) for r in record.get("refs", [])))
            elif record.get("t") == "resumed":
                for ref in record.get("refs", []):
                    paused.pop(str(ref), None)
        if not paused:
            return []
        ids = list(paused)
        handle = CampaignHandle(
            vendor=backend.vendor, conn_id=self.conn_id, name=str(self.campaign_name), campaign_ids=ids
        )
        resumed = backend.resume(handle, timeout=self.cancel_timeout * 4)
        store.append_sync(key, [{"t": "resumed", "refs": resumed, "ts": round(time.time(), 3)}])
        log.warning(
            "%s campaigns %s were paused when an earlier try was killed: resumed (ChangeCampaign active=1)",
            backend.vendor, ", ".join(resumed),
        )  # fmt: skip
        return resumed

    def _stop_campaigns(self, backend: Any, ids: list[str]) -> list[str]:
        """``backend.cancel`` on ``ids`` within ``cancel_timeout``, or a WARNING when the vendor cannot
        stop a campaign; returns the ids stopped. Every failure is logged, none is raised."""
        from airflow_provider_voice.models.campaign import CampaignHandle

        vendor = backend.vendor
        if not getattr(backend, "can_cancel", False):
            log.warning(
                "on_kill: %s cannot stop a campaign once accepted: %d campaign(s) keep running on %s, ids %s",
                vendor, len(ids), vendor, ", ".join(ids),
            )  # fmt: skip
            return []
        handle = CampaignHandle(vendor=vendor, conn_id=self.conn_id, name=str(self.campaign_name), campaign_ids=ids)
        finished, stopped, error = _run_bounded(
            lambda: backend.cancel(handle, timeout=self.cancel_timeout), self.cancel_timeout + _CANCEL_GRACE_SECONDS
        )
        if not finished:
            log.error(
                "on_kill: stopping %s campaigns %s did not finish within %.1f s: they may keep running",
                vendor, ", ".join(ids), self.cancel_timeout,
            )  # fmt: skip
            return []
        if error is not None:
            done = [ref for ref in getattr(error, "cancelled", []) if ref in ids]
            log.error(
                "on_kill: could not stop %s campaigns %s (stopped: %s): %s: %s",
                vendor, ", ".join(ref for ref in ids if ref not in done), ", ".join(done) or "none",
                type(error).__name__, redact(str(error)),
                exc_info=None if isinstance(error, VoiceProviderError) else error,
            )  # fmt: skip
            return done
        done = [ref for ref in stopped or [] if ref in ids]
        log.warning("on_kill: %s campaigns %s %s", vendor, ", ".join(done), backend.cancel_note or "stopped")
        return done

    def _killed_error(
        self, remote: _RemoteWork, name: str, when: str, cause: BaseException | None = None
    ) -> CampaignKilledError:
        """The error ``execute`` fails with after ``on_kill``: stops what was accepted after the
        kill (frames in flight), then says what was stopped and what keeps running."""
        self._stop_remote(remote)
        unsettled = remote.wait_settled(
            self.cancel_timeout + 2 * _CANCEL_GRACE_SECONDS
        )  # on_kill may still be stopping some
        backend = remote.backend
        vendor = getattr(backend, "vendor", None)
        parts = []
        if unsettled:
            parts.append(
                f"{len(unsettled)} campaign(s) still being stopped (may keep running): " + ", ".join(unsettled)
            )
        if remote.stopped:
            parts.append(f"{len(remote.stopped)} campaign(s) stopped ({backend.cancel_note or 'cancelled'}): "
                         + ", ".join(remote.stopped))  # fmt: skip
        if remote.running:
            parts.append(f"{len(remote.running)} campaign(s) keep running on {vendor}: " + ", ".join(remote.running))
        if not parts:
            parts.append("the vendor had accepted nothing")
        not_sent = len(getattr(cause, "not_sent", ()) or ())
        in_doubt = len(getattr(cause, "in_doubt", ()) or ())
        if not_sent:
            parts.append(f"{not_sent} recipient(s) not sent")
        if in_doubt:
            parts.append(
                f"{in_doubt} recipient(s) in doubt (not reconciled after the kill: the vendor may have accepted "
                "them, and their calls may run)"
            )
        parts.append(
            "not retried; a cleared task resumes from the checkpoint: it resumes the paused campaigns first "
            "and sends the recipients not accepted yet"
        )
        return CampaignKilledError(
            f"task killed {when}: {vendor} campaign {name!r}: " + "; ".join(parts),
            stopped=remote.stopped,
            running=remote.running,
            vendor=vendor,
        )
