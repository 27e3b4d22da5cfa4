"""Send a voice campaign on Velip, Octopush or Kaleyra — the connection type picks the vendor."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import pydantic
from airflow.sdk import BaseHook, BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from airflow_provider_voice.campaigns import CampaignIncompleteError, validate_recipients
from airflow_provider_voice.campaigns.recipients import rejects_name_from_context
from airflow_provider_voice.delivery import CheckpointKey, DeliveryEngine, SuppressionList, checkpoint_store
from airflow_provider_voice.errors import ValidationError, VoiceProviderError
from airflow_provider_voice.models.campaign import CampaignHandle, CampaignSpec
from airflow_provider_voice.operators.base import FailFastMixin, max_rejected_share_arg, rendered_options, try_number
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import RetryPolicy
from airflow_provider_voice.triggers.campaign import CampaignCompletionTrigger, campaign_done, deadline_after

__all__ = ["CampaignInputError", "SendVoiceCampaignOperator"]

log = get_logger(__name__)


class CampaignInputError(ValidationError, AirflowFailException):
    """A :class:`ValidationError` that also tells Airflow not to retry (bad input stays bad)."""


def _fail_fast(exc: ValidationError) -> CampaignInputError:
    return CampaignInputError(exc.field, exc.value, exc.rule, vendor=exc.vendor)


class SendVoiceCampaignOperator(FailFastMixin, BaseOperator):
    """Call a list of people with a voice message, each exactly once, on the connection's vendor.

    The connection type picks the vendor (``velip``, ``octopush`` or ``kaleyra``); everything is
    validated before the first request (numbers, text length, sender, language, schedule,
    vendor options). Recipients are split into vendor-sized frames and sent with bounded async
    concurrency, with progress lines (sent/total, rate, ETA). Every accepted frame is
    checkpointed, so a retried task resumes after it; a frame whose fate is unknown is reconciled
    with the vendor (Octopush ``request_id``, Velip ``cp_ctid``) and otherwise reported — the
    task fails listing those recipients — and **not** resent unless ``resend_in_doubt=True``.

    :param conn_id: a Velip, Octopush or Kaleyra connection (templated).
    :param recipients: a list (numbers, dicts with ``number``/``name``/variables, ``Recipient``),
        an XCom, a CSV/JSON/JSONL path or an ``ObjectStoragePath`` (templated).
    :param campaign_name: the campaign's name (templated).
    :param message: TTS text (templated). Kaleyra: ``{name}``/``{variable}`` placeholders give
        per-recipient messages.
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
    :param wait_for_completion: after sending, wait until every call has ended.
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``).
    :param poll_interval: seconds between status polls when waiting.
    :param completion_timeout: longest wait for completion (seconds or timedelta).
    :param target_answered_share: stop waiting once this share of calls is answered.
    :param request_timeout: HTTP timeout per request (seconds).
    :param retry_policy: HTTP retry policy.
    :param progress_interval: seconds between progress lines.
    :param engine_options: advanced :class:`DeliveryEngine` arguments (``reconcile_delay``,
        ``max_frame_attempts``, ``backoff_initial``, ``backoff_max``).
    :returns: pushes a small normalized result to XCom (never the recipients): ``vendor``,
        ``conn_id``, ``name``, ``campaign_ids``, ``accepted``, ``rejected``, ``suppressed``,
        ``invalid``, ``duplicates``, ``in_doubt``, ``resumed``, ``cost``, ``estimated_duration``,
        ``started_at``, ``schedule``, ``extra``; plus ``status`` when waiting for completion.
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
    )
    template_fields_renderers = {"vendor_options": "json", "message": "txt"}
    ui_color = "#bbdefb"

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
        skip_invalid: bool = False,
        rejects_path: Any = None,
        suppression: Any = None,
        concurrency: int = 16,
        checkpoint_path: Any = None,
        resend_in_doubt: bool = False,
        max_rejected_share: float = 0.0,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        completion_timeout: float | timedelta = timedelta(hours=12),
        target_answered_share: float | None = None,
        request_timeout: float | None = None,
        retry_policy: RetryPolicy | None = None,
        progress_interval: float = 10.0,
        engine_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        self.skip_invalid = skip_invalid
        self.rejects_path = rejects_path
        self.suppression = suppression
        self.concurrency = concurrency
        self.checkpoint_path = checkpoint_path
        self.resend_in_doubt = resend_in_doubt
        self.max_rejected_share = max_rejected_share_arg(max_rejected_share)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.completion_timeout = (
            completion_timeout.total_seconds()
            if isinstance(completion_timeout, timedelta)
            else float(completion_timeout)
        )
        self.target_answered_share = target_answered_share
        self.request_timeout = request_timeout
        self.retry_policy = retry_policy
        self.progress_interval = progress_interval
        self.engine_options = dict(engine_options or {})
        self._engine: DeliveryEngine[Any] | None = None

    # -- hook ------------------------------------------------------------------------------------
    def _hook_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.request_timeout:
            params["timeout"] = float(self.request_timeout)
        if self.retry_policy is not None:
            params["retry"] = self.retry_policy
        return params

    @cached_property
    def hook(self) -> Any:
        """The vendor hook picked by the connection type (built at execute time, never at parse time)."""
        return BaseHook.get_hook(self.conn_id, hook_params=self._hook_params())

    # -- execute -----------------------------------------------------------------------------------
    def build_spec(self) -> CampaignSpec:
        """The :class:`CampaignSpec` from the (rendered) arguments; bad values raise :class:`ValidationError`."""
        try:
            return CampaignSpec(
                name=self.campaign_name,
                message=self.message or None,
                audio=self.audio or None,
                voice=self.voice or None,
                language=self.language or None,
                schedule=self.schedule or None,
                vendor_options=rendered_options(self.vendor_options),
            )
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "campaign"
            raise ValidationError(
                where if where != "name" else "campaign_name", first.get("input"), first.get("msg", "invalid")
            ) from None

    def execute(self, context: Any) -> dict[str, Any]:
        try:
            backend = self.hook.capability("campaign")
            spec = self.build_spec()
            backend.validate(spec)
            recipients = validate_recipients(
                self.recipients,
                backend,
                spec,
                default_region=self.default_region,
                number_field=self.number_field,
                skip_invalid=self.skip_invalid,
                rejects_path=self.rejects_path,
                rejects_name=rejects_name_from_context(context),
            )
            suppression = SuppressionList.load(self.suppression, default_region=self.default_region)
            store = checkpoint_store(self.checkpoint_path)
        except ValidationError as exc:
            raise _fail_fast(exc) from None
        key = CheckpointKey.from_context(context)
        attempt = try_number(context)
        self.log.info(
            "%s campaign %r: %d recipients (%d rows, %d invalid skipped, %d duplicates), suppression list of %d numbers; checkpoint %s",
            backend.vendor, spec.name, recipients.valid, recipients.rows, recipients.invalid, recipients.duplicates,
            len(suppression), store.location(key),
        )  # fmt: skip
        engine_options = {
            "progress_interval": self.progress_interval,
            "attempt": attempt,
            "max_rejected_share": self.max_rejected_share,
            **self.engine_options,
        }
        try:
            handle = backend.send_campaign(
                spec,
                recipients,
                key=key,
                store=store,
                concurrency=self.concurrency,
                suppression=suppression,
                resend_in_doubt=self.resend_in_doubt,
                total=recipients.valid,
                engine_options=engine_options,
                engine_hook=self._keep_engine,
            )
        except CampaignIncompleteError as exc:
            self.log.error("partial result: %s", self._with_counts(exc.handle, recipients).model_dump(mode="json"))
            raise
        finally:
            self._engine = None
        result = {
            **self._with_counts(handle, recipients).model_dump(mode="json"),
            "rejects_path": recipients.rejects_path,
        }
        self.log.info(
            "%s campaign %r sent: %d accepted (%d by earlier tries), %d rejected, %d suppressed, ids %s",
            backend.vendor, spec.name, handle.accepted, handle.resumed, handle.rejected, handle.suppressed, handle.campaign_ids[:10],
        )  # fmt: skip
        if not self.wait_for_completion:
            return result
        if self.deferrable:
            self.defer(
                trigger=CampaignCompletionTrigger(
                    conn_id=self.conn_id,
                    handle=result,
                    poll_interval=self.poll_interval,
                    deadline=deadline_after(self.completion_timeout),
                    target_answered_share=self.target_answered_share,
                    hook_params=self._hook_params(),
                ),
                method_name="execute_complete",
                kwargs={"result": result},
            )
        return {**result, "status": self._wait(backend, handle)}

    @staticmethod
    def _with_counts(handle: CampaignHandle, recipients: Any) -> CampaignHandle:
        return handle.model_copy(update={"invalid": recipients.invalid, "duplicates": recipients.duplicates})

    def _keep_engine(self, engine: DeliveryEngine[Any]) -> None:
        self._engine = engine

    def _wait(self, backend: Any, handle: CampaignHandle) -> dict[str, Any]:
        """Blocking wait (``deferrable=False``): poll until done or the completion timeout."""
        deadline = time.monotonic() + self.completion_timeout
        while True:
            final = time.monotonic() >= deadline
            status = backend.campaign_status(handle)
            self.log.info("%s", status.message or status.summary())
            if campaign_done(status, self.target_answered_share):
                return status.model_dump(mode="json")
            if final:
                raise AirflowSensorTimeout(
                    f"campaign not finished after {self.completion_timeout:.0f} s: {status.summary()}"
                )
            time.sleep(max(0.0, min(self.poll_interval, deadline - time.monotonic())))

    def execute_complete(
        self, context: Any, event: dict[str, Any], result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Resume after the completion trigger: the send result plus the final ``status``."""
        if event.get("status") == "success":
            self.log.info("%s", event.get("message"))
            # dag.test() drops defer() kwargs: the trigger echoes the handle in its event
            return {**(result or event.get("handle") or {}), "status": event.get("campaign_status")}
        if event.get("status") == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        raise VoiceProviderError(f"waiting for the campaign failed: {event.get('message')}")

    def on_kill(self) -> None:
        """Stop sending new frames (frames in flight finish and are checkpointed)."""
        engine = self._engine
        if engine is not None:
            engine.request_stop()
