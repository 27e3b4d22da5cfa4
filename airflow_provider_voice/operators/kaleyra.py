"""Kaleyra-only call operations: follow-ups (``followup``) and the progressive dialer (``autodial.*``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

from airflow.sdk import BaseOperator

from airflow_provider_voice.capabilities.recipients import rejects_name_from_context, validate_recipients
from airflow_provider_voice.delivery import (
    Channel,
    CheckpointKey,
    DeliveryEngine,
    Frame,
    FrameResult,
    SuppressionList,
    checkpoint_store,
)
from airflow_provider_voice.delivery.engine import concurrency_arg
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.hooks.base import get_voice_hook
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.operators.base import FailFastMixin, max_rejected_share_arg, try_number
from airflow_provider_voice.operators.campaign import CampaignInputError
from airflow_provider_voice.vendors.base import AsyncVendorClient
from airflow_provider_voice.vendors.kaleyra.api_calls import (
    AUTODIAL_IMPORT_MAX,
    FOLLOWUP_TIME_FORMAT,
    check_dialer_name,
    format_followup_time,
    kaleyra_number,
)

__all__ = ["KaleyraDialerChannel", "KaleyraDialerUploadOperator", "KaleyraFollowUpOperator"]

FOLLOWUP_ACTIONS = ("create", "edit", "delete")
#: how ``followup.reports`` shows ``ontime`` (``14-10-2015 07:00:00 PM``)
REPORT_ONTIME_FORMATS = ("%d-%m-%Y %I:%M:%S %p", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", FOLLOWUP_TIME_FORMAT)


def _kaleyra_hook(conn_id: str, what: str) -> Any:
    return get_voice_hook(conn_id, vendors=("kaleyra",), purpose=what)


def _report_minute(text: str | None) -> str | None:
    """A ``followup.reports`` ``ontime`` as ``dd-mm-yyyy hh-mm`` (None when unreadable)."""
    for fmt in REPORT_ONTIME_FORMATS:
        try:
            return dt.datetime.strptime((text or "").strip(), fmt).strftime(FOLLOWUP_TIME_FORMAT)
        except ValueError:
            continue
    return None


class KaleyraFollowUpOperator(FailFastMixin, BaseOperator):
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
        default_region: str = "IN",
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

    @cached_property
    def hook(self) -> Any:
        return _kaleyra_hook(self.conn_id, "call follow-ups")

    def execute(self, context: Any) -> dict[str, Any]:
        api, client = self.hook.api, self.hook.client
        if self.action == "delete":
            call = api.followup_delete(self.followup_id, **self._delete_fields())
            reply = client.http.send(call)
            self.log.info("follow-up %s deleted", self.followup_id)
            return {"action": "delete", "id": str(self.followup_id), "message": reply.message, "existing": False}
        fields = {
            "phone": self.phone,
            "name": self.name,
            "follower": self.follower,
            "ontime": self.ontime,
            "autocall": bool(self.autocall),
            "notes": self.notes or None,
            "default_region": self.default_region,
        }
        if self.action == "edit":
            call = api.followup_edit(self.followup_id, **fields)  # validated before sending
            followup_id = client.http.send(call)
            self.log.info("follow-up %s updated", followup_id)
            return {"action": "edit", "id": followup_id, "message": "updated", "existing": False}
        call = api.followup_create(**fields)  # validated before sending
        if self.skip_if_exists:
            found = self._existing(call)
            if found:
                self.log.info("follow-up already scheduled (id %s): not creating it again", found)
                return {"action": "create", "id": found, "message": "already scheduled", "existing": True}
        followup_id = client.http.send(call)
        self.log.info("follow-up %s created for %s", followup_id, format_followup_time(self.ontime))
        return {"action": "create", "id": followup_id, "message": "created", "existing": False}

    def _delete_fields(self) -> dict[str, Any]:
        """What ``action=delete`` must carry (the spec marks phone, name, follower, ontime mandatory):
        the operator's values, the missing ones taken from the follow-up as ``followup.reports`` lists it."""
        fields = {"phone": self.phone, "name": self.name, "follower": self.follower, "ontime": self.ontime}
        if any(value in (None, "") for value in fields.values()):
            wanted = str(self.followup_id or "").strip()
            flow = self.hook.api.followup_reports_flow()
            row = next((r for r in self.hook.client.http.iterate(flow) if str(r.id or "").strip() == wanted), None)
            if row is None:
                raise ValidationError(
                    "followup_id",
                    self.followup_id,
                    "not listed by followup.reports: pass phone, name, follower and ontime to delete it",
                )
            found = {
                "phone": row.phone,
                "name": row.name,
                "follower": row.follower,
                "ontime": _report_minute(row.ontime),
            }
            fields = {key: found[key] if value in (None, "") else value for key, value in fields.items()}
        return {
            **fields,
            "autocall": bool(self.autocall),
            "notes": self.notes or None,
            "default_region": self.default_region,
        }

    def _existing(self, call: Any) -> str | None:
        """The id of a follow-up with the same phone, follower, name and minute, if Kaleyra lists one."""
        fields = call.data
        flow = self.hook.api.followup_reports_flow(follower=fields["follower"], number=fields["phone"])
        for row in self.hook.client.http.iterate(flow):
            if (
                (row.phone or "") == fields["phone"]
                and (row.follower or "") == fields["follower"]
                and (row.name or "").strip() == fields["name"]
                and _report_minute(row.ontime) == fields["ontime"]
            ):
                return row.id
        return None


# -- progressive dialer ------------------------------------------------------------------------------
class KaleyraDialerChannel(Channel[Recipient]):
    """Delivery-engine channel adding recipients to a Kaleyra progressive dialer campaign.

    ``method="import"``: ``autodial.import`` with up to ``rows_per_request`` (<= 1000) rows per
    request, each row ``{"number", "name", <variables>}``; ``method="add"``: ``autodial.add``,
    one number per request with its variables as ``meta``. Kaleyra offers no way to list a
    dialer campaign, so a request whose fate is unknown stays in doubt (not resent).

    :param hook: a Kaleyra hook.
    :param campaign: the dialer campaign's unique name.
    """

    unit = "numbers"

    def __init__(
        self, hook: Any, campaign: str, *, method: str = "import", rows_per_request: int = AUTODIAL_IMPORT_MAX
    ) -> None:
        self.hook = hook
        self.campaign = campaign
        self.method = method
        self.frame_size = 1 if method == "add" else rows_per_request
        self.name = f"kaleyra autodial.{method} {campaign!r}"
        self._client: AsyncVendorClient[Any] | None = None

    async def start(self) -> None:
        self._client = AsyncVendorClient(self.hook.api, timeout=self.hook.timeout, retry=self.hook.retry)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @staticmethod
    def row(recipient: Recipient) -> dict[str, Any]:
        extra = {"name": recipient.name} if recipient.name else {}
        return {"number": recipient.number, **extra, **recipient.variables}

    async def send(self, frame: Frame[Recipient]) -> FrameResult:
        assert self._client is not None
        api = self.hook.api
        if self.method == "add":
            recipient = frame.items[0]
            extra = {"name": recipient.name} if recipient.name else {}
            call = api.autodial_add(self.campaign, recipient.number, {**extra, **recipient.variables})
        else:
            call = api.autodial_import(self.campaign, [self.row(r) for r in frame.items])
        upload = await self._client.http.send(call)
        processed = upload.processed if upload.processed is not None else len(frame)
        return FrameResult(
            accepted=processed,
            rejected=max(0, len(frame) - processed),
            info={"total": upload.total, "processed": upload.processed},
        )

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        return {"processed": sum(r.accepted for r in results), "skipped_by_kaleyra": sum(r.rejected for r in results)}


class _KaleyraNumberCheck:
    vendor = "kaleyra"

    def validate_recipient(self, spec: Any, recipient: Recipient, position: int) -> None:
        kaleyra_number(recipient.number, f"recipients[{position}]")


class KaleyraDialerUploadOperator(FailFastMixin, BaseOperator):
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
    ui_color = "#fff2e0"

    def __init__(
        self,
        *,
        conn_id: str = "kaleyra_default",
        campaign: str,
        recipients: Any,
        method: Literal["import", "add"] = "import",
        rows_per_request: int = AUTODIAL_IMPORT_MAX,
        default_region: str = "IN",
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
        if method not in ("import", "add"):
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

    @cached_property
    def hook(self) -> Any:
        return _kaleyra_hook(self.conn_id, "the progressive dialer")

    def execute(self, context: Any) -> dict[str, Any]:
        hook = self.hook
        try:
            check_dialer_name(self.campaign, "campaign")
            recipients = validate_recipients(
                self.recipients,
                _KaleyraNumberCheck(),  # type: ignore[arg-type]
                None,  # type: ignore[arg-type]
                default_region=self.default_region,
                number_field=self.number_field,
                skip_invalid=self.skip_invalid,
                rejects_name=rejects_name_from_context(context),
            )
            suppression = SuppressionList.load(self.suppression, default_region=self.default_region)
        except ValidationError as exc:
            raise CampaignInputError(exc.field, exc.value, exc.rule, vendor=exc.vendor) from None
        channel = KaleyraDialerChannel(hook, self.campaign, method=self.method, rows_per_request=self.rows_per_request)
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
