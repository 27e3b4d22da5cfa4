"""Send SMS to many recipients, each exactly once: TeleVoIPs ``POST /messages`` or Velip ``MakeSMS``."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

from airflow_provider_voice.delivery import (
    CheckpointKey,
    DeliveryEngine,
    DeliveryIncompleteError,
    DeliveryReport,
    SuppressionList,
    checkpoint_store,
)
from airflow_provider_voice.delivery.engine import concurrency_arg, validation_workers_arg
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.operators.base import (
    VoiceOperator,
    deferrable_arg,
    input_errors,
    max_rejected_share_arg,
    try_number,
)
from airflow_provider_voice.operators.links import SmsConsoleLink
from airflow_provider_voice.operators.outcomes import OutcomeTablesMixin, log_table, outcome_recipients
from airflow_provider_voice.operators.policy import ContactPolicyMixin, take_contact_policy_args
from airflow_provider_voice.storage import describe_destination, open_atomic, resolve_destination
from airflow_provider_voice.triggers.base import seconds_arg

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.recipients import ValidatedRecipients
    from airflow_provider_voice.capabilities.sms_delivery import SmsDeliveryChannel, SmsOutcome
    from airflow_provider_voice.capabilities.sms_text import SmsText

__all__ = ["SendSMSOperator"]

RESULT_COLUMNS = ("number", "status", "message_id", "error", "vendor_code")
#: seconds between two reads of the delivery reports while ``wait_for_delivery`` runs
DELIVERY_POLL_SECONDS = 5.0


class _SmsRecipientCheck:
    """Adapter for :func:`validate_recipients`: a recipient is valid when its text renders."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor

    def validate_recipient(self, spec: SmsText, recipient: Recipient, position: int) -> None:
        spec.render(recipient, position=position)


class SendSMSOperator(ContactPolicyMixin, OutcomeTablesMixin, VoiceOperator):
    """Text a list of people, each exactly once, on the connection's vendor.

    * **TeleVoIPs** (``POST /messages``, form ``from``/``to``/``content``): ``sender`` is required
      and must be a number the account owns and has enabled for texting. TeleVoIPs documents no
      endpoint listing those numbers: list them in the connection extra ``owned_numbers`` to have
      ``sender`` checked before anything is sent; otherwise TeleVoIPs' HTTP 400 "Unable to send
      message" is reported with its documented causes, and the task stops after
      ``abort_after_rejections`` refusals in a row without any success. Numbers without a country
      code are North American (``US``).
    * **Velip** (``MakeSMS``: ``dest``, ``message``, ``ctid``): no sender; each message carries a
      ``ctid`` derived from the task instance and the recipient.

    Every recipient is validated first (number, and the text rendered for them); bad input fails
    the task before any message is sent, without retries. Messages go out with bounded
    concurrency through the provider's delivery engine, with progress lines; every accepted
    message is checkpointed, so a retried task does not text anyone twice. A message whose fate
    is unknown (timeout after sending) is looked up (TeleVoIPs ``GET /messages``) and otherwise
    reported, not resent, unless ``resend_in_doubt=True``.

    **Text.** ``text`` is rendered by Airflow (Jinja: ``{{ dag_run.run_after | ds }}``, ``{{ params.x }}``); then
    ``${name}``, ``${number}`` and every recipient variable (CSV column / JSON key) are filled per
    recipient (``$$`` is a literal ``$``). A missing variable is a validation error.

    :param conn_id: a TeleVoIPs or Velip connection (templated).
    :param recipients: list (numbers, ``{"number", "name", ...}`` rows, ``Recipient``), XCom,
        CSV/JSON/JSONL path, URL or ``ObjectStoragePath`` (templated).
    :param text: the message (templated; see above).
    :param sender: TeleVoIPs ``from`` number (templated).
    :param validation_workers: processes that parse the numbers of a long recipient list besides
        the task's own (default 1: none). With 2 or more, the rows after the first 50,000 are parsed
        ahead in a process pool (order, line numbers and every check unchanged); worth it only with
        free cores (see ``docs/scale.md``).
    :param suppression: numbers never to text: list, ``.txt``/``.csv``/``.json`` file, URL,
        ``ObjectStoragePath`` or ``Asset`` (e.g. the ``suppression_file`` kept by
        ``BlacklistNumbersOperator``) (templated). It is read completely before anything is sent:
        a missing file, an unreadable file or an entry that is not a valid number fails the task
        (see :class:`~airflow_provider_voice.delivery.SuppressionList`).
    :param suppression_missing_ok: a ``suppression`` file that does not exist yet (an opt-out file
        that ``BlacklistNumbersOperator`` creates on its first run) suppresses nothing, with a
        WARNING in the log, instead of failing the task (default False: a mistyped path is an error).
    :param default_region: region of numbers without a country code (templated).
    :param number_field: column/key of the number (auto-detected).
    :param skip_invalid: leave invalid rows out (counted) instead of failing.
    :param rejects_path: with ``skip_invalid=True``, where every left-out row is written as CSV
        ``line,value,reason`` (local path, URL or ``ObjectStoragePath``; default ``[voice]
        rejects_path`` or ``$AIRFLOW_HOME/voice/rejects/<dag_id>/<run_id>/<task_id>.csv``; a retry
        overwrites it). Its location is pushed to XCom as ``rejects_path``.
    :param concurrency: messages in flight (default 8).
    :param checkpoint_path: where checkpoints live (local dir, ``file://``, ``s3://``...; default
        ``[voice] checkpoint_path`` or ``$AIRFLOW_HOME/voice/checkpoints``) (templated).
    :param resend_in_doubt: resend messages whose fate is unknown (risk: texting twice).
    :param results_path: write one row per recipient (``number, status, message_id, error,
        vendor_code``; ``.jsonl``/``.json``/``.csv``) here, atomically (templated).
    :param inline_results_limit: without ``results_path``, per-recipient results are pushed to
        XCom when there are at most this many recipients (default 100).
    :param abort_after_rejections: stop when this many messages in a row were refused before any
        was accepted (0 = never).
    :param max_rejected_share: largest share of recipients the vendor may refuse (of those it
        answered) for the task to succeed; default 0.0: any refusal fails the task (after every
        other message was sent and checkpointed; the error lists the refusals). Nothing accepted at
        all always fails. Refusals are not retried by Airflow: fix the cause and clear the task.
    :param fail_on_rejected: older spelling: ``True`` is ``max_rejected_share=0``, ``False`` is
        ``max_rejected_share=1`` (only "nothing accepted" fails). Prefer ``max_rejected_share``.
    :param progress_interval: seconds between progress lines.
    :param region_field: column/key of each row's ISO region for a mixed-country file.
    :param id_field: column/key of each row's id (the outcome table's ``row_id``; default ``row_id``/``id``, else the line).
    :param recipient_outcomes: read ``recipients`` as an outcome table and keep the rows with these
        outcomes (e.g. the ``no_answer`` of a voice campaign: text them instead); none left: skipped.
    :param outcomes_path: write the outcome table (one row per recipient: ``answered`` = delivered,
        ``failed``/``blocked``/``invalid_number``/``opted_out`` from TeleVoIPs' ``message-failed``,
        ``pending`` while no report came, ``rejected``, ``suppressed``, ``not_sent``) as CSV and Parquet
        here (see :class:`~airflow_provider_voice.operators.outcomes.OutcomeOutput`) (templated).
        Delivery reports come from TeleVoIPs' messaging webhooks (the connection's ``webhook_auth``);
        Velip documents none (its sent messages stay ``pending``).
    :param outcomes_format: ``"both"`` (default), ``"csv"`` or ``"parquet"``.
    :param outcomes_asset: the Asset published with the table (default derived from ``outcomes_path``; ``False``: none).
    :param wait_for_delivery: with ``outcomes_path``, wait up to this long (seconds or timedelta) for
        the delivery reports of every sent message before writing the table (default 0: write at once).
    :param contact_policy: text people only when the policy allows it, in their time zone (a
        :class:`~airflow_provider_voice.delivery.contact_policy.ContactPolicy`, a preset name, a mapping;
        default ``[voice] contact_policy``; ``False``: none): the others are held and texted when their
        window opens (deferred in between when ``deferrable``), never dropped (see
        :mod:`~airflow_provider_voice.operators.policy`, docs/compliance.md).
    :param timezone_field: column of each row's IANA time zone (default: from the number).
    :param subdivision_field: column of each row's public-holiday subdivision.
    :param contact_deadline: longest time recipients may stay held (default 7 days); those still held
        then are not texted and the task fails saying how many and why.
    :param over_cap: over a frequency rule: ``"defer"`` or ``"skip"`` (counted).
    :param contact_ledger_path: the contact ledger of the frequency rules (default ``[voice] contact_ledger_path``).
    :param dry_run: validate and plan everything, estimate the cost, text nobody.
    :param max_cost: refuse to send (before any message) when the estimate is higher, or unknown.
    :param price_table: prices of the estimate (default ``[voice] price_table``; per message segment).
    :param deferrable: wait for a contact window in the triggerer (default ``[operators] default_deferrable``).

    XCom: ``vendor``, ``accepted`` (all tries), ``accepted_now``, ``resumed``, ``rejected``,
    ``suppressed``, ``invalid``, ``duplicates``, ``in_doubt``, ``not_sent``, ``total``,
    ``failed_numbers`` (refused this try, at most ``inline_results_limit``), ``results_path``,
    ``results`` (inline, small sends only), ``checkpoint``; with ``outcomes_path``, ``outcomes``
    (``rows``, ``counts`` per outcome, ``csv_path``, ``parquet_path``). The UI's "Vendor console" link
    opens the vendor's console once a message was accepted (:mod:`~airflow_provider_voice.operators.links`).
    """

    template_fields: Sequence[str] = (
        "conn_id",
        "recipients",
        "text",
        "sender",
        "suppression",
        "default_region",
        "checkpoint_path",
        "results_path",
        "rejects_path",
        "outcomes_path",
        "contact_ledger_path",
        "contact_policy",
    )
    template_fields_renderers = {"text": "txt"}
    ui_color = "#dcedc8"
    operator_extra_links = (SmsConsoleLink(),)

    def __init__(
        self,
        *,
        conn_id: str,
        recipients: Any,
        text: str,
        sender: str | None = None,
        suppression: Any = None,
        suppression_missing_ok: bool = False,
        default_region: str | None = None,
        number_field: str | None = None,
        skip_invalid: bool = False,
        rejects_path: Any = None,
        validation_workers: int = 1,
        concurrency: int = 8,
        checkpoint_path: Any = None,
        resend_in_doubt: bool = False,
        results_path: Any = None,
        inline_results_limit: int = 100,
        abort_after_rejections: int = 10,
        max_rejected_share: float = 0.0,
        fail_on_rejected: bool | None = None,
        progress_interval: float = 10.0,
        region_field: str | None = None,
        id_field: str | None = None,
        recipient_outcomes: Sequence[str] | None = None,
        outcomes_path: Any = None,
        outcomes_format: str = "both",
        outcomes_asset: Asset | str | bool | None = None,
        wait_for_delivery: float | timedelta = 0.0,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        with input_errors():
            wait = wait_for_delivery.total_seconds() if isinstance(wait_for_delivery, timedelta) else wait_for_delivery
            wait = seconds_arg("wait_for_delivery", wait) if wait else 0.0
        asset = self.outcome_asset_arg(kwargs, outcomes_path, outcomes_asset, wanted=outcomes_path not in (None, ""))
        policy_args = take_contact_policy_args(kwargs)  # contact_policy=, dry_run=... (see ContactPolicyMixin)
        super().__init__(**kwargs)
        concurrency_arg(concurrency)
        with input_errors():
            self.set_contact_policy(**policy_args)
        self.deferrable = deferrable_arg(deferrable)
        self.set_outcome_tables(
            outcomes_path=outcomes_path, outcomes_format=outcomes_format, asset=asset,
            region_field=region_field, id_field=id_field, recipient_outcomes=recipient_outcomes,
        )  # fmt: skip
        self.wait_for_delivery = float(wait)
        self.conn_id = conn_id
        self.recipients = recipients
        self.text = text
        self.sender = sender
        self.suppression = suppression
        self.suppression_missing_ok = suppression_missing_ok
        self.default_region = default_region
        self.number_field = number_field
        self.skip_invalid = skip_invalid
        self.rejects_path = rejects_path
        self.validation_workers = validation_workers_arg(validation_workers)
        self.concurrency = concurrency
        self.checkpoint_path = checkpoint_path
        self.resend_in_doubt = resend_in_doubt
        self.results_path = results_path
        self.inline_results_limit = inline_results_limit
        self.abort_after_rejections = abort_after_rejections
        if fail_on_rejected is not None:
            max_rejected_share = 0.0 if fail_on_rejected else 1.0
        self.max_rejected_share = max_rejected_share_arg(max_rejected_share)
        self.progress_interval = progress_interval
        self._engine: DeliveryEngine[Any] | None = None

    # -- execute ---------------------------------------------------------------------------------
    def prepare(self, context: Any = None) -> tuple[Any, SmsText, str | None, ValidatedRecipients, SuppressionList]:
        """Everything checked before the first message: capability, text, sender, recipients, suppression."""
        from airflow_provider_voice.capabilities.recipients import rejects_name_from_context, validate_recipients
        from airflow_provider_voice.capabilities.sms_text import SmsText

        sms = self.hook.sms()
        with input_errors():
            text = SmsText(self.text)
            sender = sms.check_sender(self.sender)
            region = self.default_region or sms.default_region
            source = self.recipients
            if self.recipient_outcomes is not None:
                source = outcome_recipients(self.recipients, self.recipient_outcomes)
            recipients = validate_recipients(
                source,
                _SmsRecipientCheck(sms.vendor),
                text,
                default_region=region,
                number_field=self.number_field,
                region_field=self.region_field,
                id_field=self.id_field,
                skip_invalid=self.skip_invalid,
                validation_workers=self.validation_workers,
                rejects_path=self.rejects_path,
                rejects_name=rejects_name_from_context(context),
            )
            suppression = SuppressionList.load(
                self.suppression, default_region=region, missing_ok=self.suppression_missing_ok
            )
            if suppression.missing:
                self.log.warning(
                    "suppression list %s does not exist yet: nothing is suppressed (suppression_missing_ok=True)",
                    suppression.source,
                )
        return sms, text, sender, recipients, suppression

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_voice.capabilities.sms_delivery import SmsDeliveryChannel

        sms, text, sender, recipients, suppression = self.prepare(context)
        store = checkpoint_store(self.checkpoint_path)
        key = CheckpointKey.from_context(context)
        self.log.info(
            "%s SMS: %d recipients (%d rows, %d invalid skipped, %d duplicates), suppression list of %d numbers; checkpoint %s",
            sms.vendor, recipients.valid, recipients.rows, recipients.invalid, recipients.duplicates,
            len(suppression), store.location(key),
        )  # fmt: skip
        if self.dry_run_only:
            return self._dry_run(sms, text, recipients, suppression, store, key)
        if self.max_cost is not None and not store.state(key).frames:  # before the first message only
            with input_errors():
                self.check_cost(self._estimate(sms, text, self.would_send(recipients, store, key)[0], suppression))
        planner = self.contact_planner(store, key)
        while True:
            items: Iterable[Recipient] = recipients
            plan = None
            if planner is not None:  # only the recipients whose window is open now (see operators/policy.py)
                plan, sent = self.plan_now(planner, recipients, store, key, f"{sms.vendor} SMS")
                if plan.due == 0 and plan.next_wake is not None:
                    self._wait_for_window(plan.next_wake)
                    continue
                items = planner.due(recipients, sent=sent)
            channel = SmsDeliveryChannel(sms, text, sender=sender, abort_after_rejections=self.abort_after_rejections)
            report, incomplete = self._deliver(context, sms, channel, items, store, key, suppression,
                                               recipients.valid if plan is None else plan.due)  # fmt: skip
            if planner is not None:
                self.record_contacts(recipients, store, key)
            if incomplete is not None or plan is None or plan.due == 0:
                break  # no policy, a failed slice, or nothing was due and nobody waits: this plan is final
            # plan again: the slice is in the checkpoint; a window that closed while it was sent holds the rest
        result = self._result(sms.vendor, report, recipients, channel, suppression, store, key)
        if plan is not None:
            result["contact_policy"] = self.plan_summary(plan)
        if self.outcomes_path not in (None, ""):  # written for a partial send too: it says who got nothing
            result["outcomes"] = self._write_outcomes(
                context, sms, recipients, suppression, store, key, held=self.held_detail(result.get("contact_policy"))
            )
        if incomplete is not None:
            self.log.error(
                "partial result: %s", {k: v for k, v in result.items() if k not in ("results", "failed_numbers")}
            )
            raise incomplete
        self.log.info(
            "%s SMS sent: %d accepted (%d by earlier tries), %d rejected, %d suppressed",
            sms.vendor, result["accepted"], result["resumed"], result["rejected"], result["suppressed"],
        )  # fmt: skip
        self.raise_unsent([result])
        return result

    def execute_window(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Resume when a contact window opens: the send goes on from its checkpoint (nobody twice)."""
        return self.execute(context)

    def _deliver(
        self, context: Any, sms: Any, channel: SmsDeliveryChannel, items: Iterable[Recipient], store: Any,
        key: CheckpointKey, suppression: SuppressionList, total: int,
    ) -> tuple[DeliveryReport, DeliveryIncompleteError | None]:  # fmt: skip
        """One exactly-once pass of the engine over ``items`` (the checkpoint of ``key``)."""
        self._engine = engine = DeliveryEngine(
            channel,
            store=store,
            key=key,
            concurrency=self.concurrency,
            suppression=suppression,
            resend_in_doubt=self.resend_in_doubt,
            total=total,
            label=f"{sms.vendor} SMS",
            progress_interval=self.progress_interval,
            attempt=try_number(context),
            max_rejected_share=self.max_rejected_share,
        )
        try:
            return engine.run_sync(items), None
        except DeliveryIncompleteError as exc:
            return exc.report, exc
        finally:
            self._engine = None

    def _wait_for_window(self, when: float) -> None:
        """Wait until ``when`` (a contact window opens): deferred (``DateTimeTrigger``), or asleep."""
        moment = datetime.fromtimestamp(when, timezone.utc)
        self.log.info(
            "the next contact window opens at %s (in %.0f s)", moment.isoformat(timespec="seconds"), when - time.time()
        )
        if when <= time.time():
            return
        if self.deferrable:
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            self.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_window")
        time.sleep(max(0.0, when - time.time()))

    def _estimate(
        self, sms: Any, text: SmsText, would: Callable[[], Iterable[Recipient]], suppression: SuppressionList
    ) -> dict[str, Any]:
        """The estimated cost: the price table's price per segment of each rendered message."""
        from airflow_provider_voice.capabilities.sms_text import sms_segments

        counts: dict[str, int] = {}
        segments = 0
        messages = 0
        suppressed = 0
        for recipient in would():
            if str(recipient.number) in suppression:
                suppressed += 1
                continue
            region = recipient.number.region or "ZZ"
            parts = sms_segments(text.render(recipient))
            counts[region] = counts.get(region, 0) + parts
            segments += parts
            messages += 1
        estimate: dict[str, Any] = {"messages": messages, "segments": segments, "suppressed": suppressed}
        priced = self.prices().estimate(sms.vendor, "sms", counts)  # counts: segments per country
        return {
            **priced.model_dump(mode="json"),
            "why": priced.summary(),
            "source": "price_table (per segment)",
            **estimate,
        }

    def _dry_run(
        self, sms: Any, text: SmsText, recipients: ValidatedRecipients, suppression: SuppressionList, store: Any,
        key: CheckpointKey,
    ) -> dict[str, Any]:  # fmt: skip
        """Everything but the messages: counts, the schedule per time zone, segments and the cost."""
        would, plan = self.would_send(recipients, store, key)
        if plan is not None:
            self.log_plan(plan, "dry run")
        estimate = self._estimate(sms, text, would, suppression)
        result = self.dry_run_result(
            sms.vendor, recipients, estimate, plan,
            messages=estimate["messages"], segments=estimate["segments"], suppressed=estimate["suppressed"],
        )  # fmt: skip
        self.log.info(
            "dry run of %s SMS: nobody was texted; %d messages (%d segments) would be sent, %d suppressed; "
            "estimated cost: %s %s", sms.vendor, estimate["messages"], estimate["segments"], estimate["suppressed"],
            estimate.get("total"), estimate.get("currency") or "",
        )  # fmt: skip
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the recipients file and the suppression list read, the results file and the
        outcome table written; None without OpenLineage (see :mod:`~airflow_provider_voice.operators.lineage`)."""
        from airflow_provider_voice.operators.lineage import operator_lineage, outcome_table_locations

        tables = outcome_table_locations(self.outcome_output(), task_instance) if self.outcomes_path else []
        return operator_lineage(inputs=[self.recipients, self.suppression], outputs=[self.results_path], tables=tables)

    # -- results ---------------------------------------------------------------------------------
    def _result(
        self,
        vendor: str,
        report: DeliveryReport,
        recipients: ValidatedRecipients,
        channel: SmsDeliveryChannel,
        suppression: SuppressionList,
        store: Any,
        key: CheckpointKey,
    ) -> dict[str, Any]:
        failed = [o.number for o in channel.outcomes.values() if o.status == "rejected"]
        result: dict[str, Any] = {
            "vendor": vendor,
            "total": recipients.valid,
            "accepted": report.accepted,
            "accepted_now": report.accepted_now,
            "resumed": report.resumed,
            "rejected": report.rejected,
            "suppressed": report.suppressed,
            "invalid": recipients.invalid,
            "duplicates": recipients.duplicates,
            "in_doubt": len(report.in_doubt),
            "not_sent": len(report.not_sent),
            "rejects_path": recipients.rejects_path,
            "failed_numbers": failed[: self.inline_results_limit],
            "results_path": None,
            "checkpoint": report.checkpoint,
        }
        if self.results_path in (None, "") and recipients.valid > self.inline_results_limit:
            self.log.info("%d recipients: per-recipient results not kept (set results_path)", recipients.valid)
            return result
        rows = list(self._rows(report, recipients, channel, suppression, store, key))
        if self.results_path not in (None, ""):
            path = resolve_destination(self.results_path)
            with open_atomic(path) as handle:
                handle.write(_render_rows(rows, str(getattr(path, "name", path))))
            result["results_path"] = describe_destination(path)
            self.log.info("per-recipient results: %s", result["results_path"])
        else:
            result["results"] = rows
        return result

    @staticmethod
    def _rows(
        report: DeliveryReport,
        recipients: ValidatedRecipients,
        channel: SmsDeliveryChannel,
        suppression: SuppressionList,
        store: Any,
        key: CheckpointKey,
    ) -> Any:
        """One row per recipient: this try's outcome, else an earlier try's accepted message, else why not."""
        from airflow_provider_voice.capabilities.sms_delivery import SmsOutcome

        hasher = key.member_hasher()
        earlier: dict[str, str | None] = {}
        for frame in store.state(key).with_status("done"):
            refs = frame.result.refs if frame.result else []
            for member, ref in zip(frame.members, refs + [None] * len(frame.members), strict=False):
                earlier[member] = ref
        in_doubt, not_sent = set(report.in_doubt), set(report.not_sent)
        for recipient in recipients:
            number = str(recipient.number)
            outcome: SmsOutcome | None = channel.outcomes.get(number)
            if number in in_doubt:
                outcome = SmsOutcome(number, "in_doubt", error="the vendor may have it; not resent")
            elif outcome is None:
                member = hasher(number)
                if member in earlier:
                    outcome = SmsOutcome(number, "sent", message_id=earlier[member])
                elif number in suppression:
                    outcome = SmsOutcome(number, "suppressed")
                elif number in not_sent:
                    outcome = SmsOutcome(number, "not_sent", error="not sent (safe to retry)")
                else:
                    outcome = SmsOutcome(number, "not_sent")
            yield {
                "number": outcome.number,
                "status": outcome.status,
                "message_id": outcome.message_id,
                "error": outcome.error,
                "vendor_code": outcome.vendor_code,
            }

    def _write_outcomes(
        self,
        context: Any,
        sms: Any,
        recipients: ValidatedRecipients,
        suppression: SuppressionList,
        store: Any,
        key: CheckpointKey,
        held: str | None = None,
    ) -> dict[str, Any]:
        """The outcome table of this send (after waiting up to ``wait_for_delivery`` for the reports)."""
        from airflow_provider_voice.capabilities.outcomes import OutcomeJoin, group_records

        message_ids = [
            ref for frame in store.state(key).with_status("done") for ref in (frame.result.refs if frame.result else [])
        ]
        ends = time.monotonic() + self.wait_for_delivery
        records = group_records(sms.delivery_records(message_ids))
        while getattr(sms, "reports_delivery", False) and len(records) < len(message_ids) and time.monotonic() < ends:
            self.log.info("delivery reports for %d of %d messages: waiting", len(records), len(message_ids))
            time.sleep(min(DELIVERY_POLL_SECONDS, max(0.0, ends - time.monotonic())))
            records = group_records(sms.delivery_records(message_ids))
        join = OutcomeJoin(
            key=key,
            store=store,
            records=records,
            outcome_key=str,
            vendor=sms.vendor,
            conn_id=str(self.conn_id),
            channel="sms",
            suppression=suppression,
            no_record_detail=sms.no_record_detail(),
            record_ref=lambda refs: refs[0] if refs else None,
            not_sent_detail=held or OutcomeJoin.not_sent_detail,
        )
        output = self.outcome_output()
        refused: list[str] = []
        written = output.write(self.tap_refusals(join.outcomes(recipients), refused), output.stem(context))
        self.record_refusals(refused, key)
        log_table(written, f"{sms.vendor} SMS outcomes")
        output.publish(context, written, vendor=sms.vendor)
        return written.summary()

    def on_kill(self) -> None:
        """Stop sending new messages (messages in flight finish and are checkpointed)."""
        engine = self._engine
        if engine is not None:
            engine.request_stop()


def _render_rows(rows: list[dict[str, Any]], name: str) -> bytes:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(RESULT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode("utf-8")
    if lowered.endswith(".json") and not lowered.endswith(".jsonl"):
        return json.dumps(rows, indent=1).encode("utf-8")
    return "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
