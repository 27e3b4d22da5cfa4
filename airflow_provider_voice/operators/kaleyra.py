"""Kaleyra-only Airflow operators: follow-ups (``followup``) and the progressive dialer (``autodial.*``).

The Kaleyra logic they run lives in the vendor folder: :mod:`~airflow_provider_voice.vendors.kaleyra.followups`
and :mod:`~airflow_provider_voice.vendors.kaleyra.dialer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from airflow_provider_voice.delivery import CheckpointKey, DeliveryEngine, SuppressionList, checkpoint_store
from airflow_provider_voice.delivery.engine import concurrency_arg
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.operators.base import VoiceOperator, input_errors, max_rejected_share_arg, try_number
from airflow_provider_voice.vendors.kaleyra import (
    AUTODIAL_IMPORT_MAX,
    DEFAULT_REGION,
    DIALER_METHODS,
    FOLLOWUP_ACTIONS,
    KaleyraDialerChannel,
    KaleyraFollowUps,
    KaleyraNumberCheck,
    check_dialer_name,
)

__all__ = ["KaleyraDialerUploadOperator", "KaleyraFollowUpOperator"]


class KaleyraFollowUpOperator(VoiceOperator):
    """Create, edit or delete a Kaleyra call follow-up (``method=followup``).

    A follow-up reminds an agent (``follower``) to call a customer (``phone``) at ``ontime``; with
    ``autocall`` Kaleyra calls them together at that time.

    ``create`` first looks for the same follow-up (same phone, follower, name and minute) in
    ``followup.reports`` and returns its id instead of creating a second one, so a retried task
    does not schedule the call twice (``skip_if_exists=False`` turns this off).

    :param conn_id: a Kaleyra connection.
    :param action: ``create``, ``edit`` or ``delete``.
    :param followup_id: the follow-up to edit or delete (from the ``create`` XCom). Templated.
    :param phone: the customer's number. Templated.
    :param follower: the agent's number. Templated.
    :param name: the follow-up name. Templated.
    :param ontime: when: datetime, ISO text (converted to India time) or ``dd-mm-yyyy hh-mm``. Templated.
    :param autocall: call follower and customer together at ``ontime``.
    :param notes: free text. Templated.
    :param default_region: region of numbers without a country code (default ``IN``).

    XCom: ``{"action", "id", "message", "existing"}`` (``existing`` True when ``create`` found it already there).
    """

    template_fields: Sequence[str] = ("conn_id", "followup_id", "phone", "name", "follower", "ontime", "notes")
    vendors: ClassVar[tuple[str, ...]] = ("kaleyra",)
    hook_purpose: ClassVar[str] = "call follow-ups"
    ui_color = "#fff2e0"

    def __init__(
        self,
        *,
        conn_id: str = "kaleyra_default",
        action: Literal["create", "edit", "delete"] = "create",
        followup_id: Any = None,
        phone: Any = None,
        name: str | None = None,
        follower: Any = None,
        ontime: Any = None,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str = DEFAULT_REGION,
        skip_if_exists: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if action not in FOLLOWUP_ACTIONS:
            raise ValidationError("action", action, "'create', 'edit' or 'delete'")
        self.conn_id = conn_id
        self.action = action
        self.followup_id = followup_id
        self.phone = phone
        self.name = name
        self.follower = follower
        self.ontime = ontime
        self.autocall = autocall
        self.notes = notes
        self.default_region = default_region
        self.skip_if_exists = skip_if_exists

    def execute(self, context: Any) -> dict[str, Any]:
        followups = KaleyraFollowUps(self.hook.access)
        fields: dict[str, Any] = {
            "phone": self.phone,
            "name": self.name,
            "follower": self.follower,
            "ontime": self.ontime,
            "autocall": bool(self.autocall),
            "notes": self.notes or None,
            "default_region": self.default_region,
        }
        if self.action == "delete":
            return followups.delete(self.followup_id, **fields)
        if self.action == "edit":
            return followups.edit(self.followup_id, **fields)
        return followups.create(skip_if_exists=self.skip_if_exists, **fields)


class KaleyraDialerUploadOperator(VoiceOperator):
    """Add people to a Kaleyra progressive dialer campaign (``autodial.import`` / ``autodial.add``).

    Every number is validated first; bad input fails the task before anything is sent. Rows go
    out in requests of at most 1000 (Kaleyra's documented maximum: a bigger request would have
    its extra rows silently dropped) through the provider's delivery engine: each accepted request
    is checkpointed, so a retried task does not add anyone twice. A request whose fate is unknown
    is reported, not resent, unless ``resend_in_doubt=True`` (Kaleyra cannot list the campaign).

    :param conn_id: a Kaleyra connection.
    :param campaign: the dialer campaign's unique name (letters, digits, ``_``, ``-``). Templated.
    :param recipients: list / XCom / CSV-JSON-JSONL path or URL; columns other than the number
        (and ``name``) become the row's custom fields (``{"customname": "customvalue"}``). Templated.
    :param method: ``import`` (default; up to ``rows_per_request`` rows per request) or ``add``
        (one ``autodial.add`` per number, variables as ``meta``).
    :param rows_per_request: 1-1000 (default 1000).
    :param default_region: region of numbers without a country code (default ``IN``).
    :param number_field: column/key of the number.
    :param skip_invalid: leave invalid rows out.
    :param suppression: numbers never to add (list, file, URL, ``Asset``). Templated.
    :param concurrency: requests in flight (default 2).
    :param checkpoint_path: where checkpoints live (see ``SendVoiceCampaignOperator``). Templated.
    :param resend_in_doubt: resend requests whose fate is unknown (risk: adding people twice).
    :param max_rejected_share: largest share of rows Kaleyra may refuse or skip for the task to
        succeed (default 0.0: any refused row fails the task, after everything else was sent).

    XCom: ``campaign``, ``method``, ``accepted`` (processed by Kaleyra, all tries), ``accepted_now``,
    ``resumed``, ``skipped_by_kaleyra`` (rows Kaleyra did not process), ``suppressed``, ``invalid``,
    ``duplicates``, ``requests``, ``in_doubt``, ``not_sent``.
    """

    template_fields: Sequence[str] = ("conn_id", "campaign", "recipients", "suppression", "checkpoint_path")
    vendors: ClassVar[tuple[str, ...]] = ("kaleyra",)
    hook_purpose: ClassVar[str] = "the progressive dialer"
    ui_color = "#fff2e0"

    def __init__(
        self,
        *,
        conn_id: str = "kaleyra_default",
        campaign: str,
        recipients: Any,
        method: Literal["import", "add"] = "import",
        rows_per_request: int = AUTODIAL_IMPORT_MAX,
        default_region: str = DEFAULT_REGION,
        number_field: str | None = None,
        skip_invalid: bool = False,
        suppression: Any = None,
        concurrency: int = 2,
        checkpoint_path: Any = None,
        resend_in_doubt: bool = False,
        max_rejected_share: float = 0.0,
        progress_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_rejected_share = max_rejected_share_arg(max_rejected_share)
        if method not in DIALER_METHODS:
            raise ValidationError("method", method, "'import' (autodial.import) or 'add' (autodial.add)")
        if (
            isinstance(rows_per_request, bool)
            or not isinstance(rows_per_request, int)
            or not 1 <= rows_per_request <= AUTODIAL_IMPORT_MAX
        ):
            raise ValidationError("rows_per_request", rows_per_request, f"an integer from 1 to {AUTODIAL_IMPORT_MAX}")
        self.conn_id = conn_id
        self.campaign = campaign
        self.recipients = recipients
        self.method = method
        self.rows_per_request = rows_per_request
        self.default_region = default_region
        self.number_field = number_field
        self.skip_invalid = skip_invalid
        self.suppression = suppression
        self.concurrency = concurrency_arg(concurrency)
        self.checkpoint_path = checkpoint_path
        self.resend_in_doubt = resend_in_doubt
        self.progress_interval = progress_interval
        self._engine: DeliveryEngine[Any] | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_voice.capabilities.recipients import rejects_name_from_context, validate_recipients

        hook = self.hook
        with input_errors():
            check_dialer_name(self.campaign, "campaign")
            recipients = validate_recipients(
                self.recipients,
                KaleyraNumberCheck(),
                None,
                default_region=self.default_region,
                number_field=self.number_field,
                skip_invalid=self.skip_invalid,
                rejects_name=rejects_name_from_context(context),
            )
            suppression = SuppressionList.load(self.suppression, default_region=self.default_region)
        channel = KaleyraDialerChannel(
            hook.access, self.campaign, method=self.method, rows_per_request=self.rows_per_request
        )
        store = checkpoint_store(self.checkpoint_path)
        key = CheckpointKey.from_context(context)
        self._engine = engine = DeliveryEngine(
            channel,
            store=store,
            key=key,
            concurrency=self.concurrency,
            suppression=suppression,
            resend_in_doubt=self.resend_in_doubt,
            total=recipients.valid,
            label=channel.name,
            progress_interval=self.progress_interval,
            attempt=try_number(context),
            max_rejected_share=self.max_rejected_share,
        )
        try:
            report = engine.run_sync(recipients)
        finally:
            self._engine = None
        result = {
            "campaign": self.campaign,
            "method": self.method,
            "accepted": report.accepted,
            "accepted_now": report.accepted_now,
            "resumed": report.resumed,
            "skipped_by_kaleyra": report.rejected,
            "suppressed": report.suppressed,
            "invalid": recipients.invalid,
            "duplicates": recipients.duplicates,
            "requests": report.frames_sent,
            "in_doubt": len(report.in_doubt),
            "not_sent": len(report.not_sent),
            "rejects_path": recipients.rejects_path,
        }
        self.log.info("dialer campaign %r: %s", self.campaign, result)
        return result

    def on_kill(self) -> None:
        """Stop sending new requests (requests in flight finish and are checkpointed)."""
        if self._engine is not None:
            self._engine.request_stop()
