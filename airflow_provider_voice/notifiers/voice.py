"""Call the on-call people when a task or a DAG fails: Velip ``MakeTTSCall`` type 0 or Kaleyra ``voice.call``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.notifiers.base import DEFAULT_TEXT, Target, VoiceNotifierBase
from airflow_provider_voice.transport import Call

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.voice_call import VoiceCallCapability
    from airflow_provider_voice.hooks.base import VoiceHook
    from airflow_provider_voice.models.voice_call import VoiceCallHandle

__all__ = ["VoiceCallNotifier", "send_voice_call_notification"]


class VoiceCallNotifier(VoiceNotifierBase):
    """Phone someone and read them a message from a task or DAG callback (``on_failure_callback``...).

    The connection type picks the vendor (the single-call capability of ``SendVoiceCallOperator``):

    * **Velip** (``MakeTTSCall`` type 0). ``vendor_options``: ``voice``, ``content`` (an audio id
      instead of the text), ``priority``, ``rurl``. Each call carries a ``ctid`` derived from its
      dedup key, so Velip refuses a repeat within the window (code 220) on accounts with unique
      ctids. Velip also refuses a second call to one number within 10 s (code 244, ``httpdup``).
    * **Kaleyra** (OBD ``voice.call``, English text). ``vendor_options``: ``play``, ``retries``,
      ``campaign``, ``callback``, ``meta``. Numbers without a country code are Indian.

    The notifier does not wait for the call's outcome (it places the call and returns); one failure
    does not call a number twice with the same text within ``dedup_window``; it never raises into
    Airflow's callback machinery nor waits longer than ``timeout``
    (see :mod:`airflow_provider_voice.notifiers.base`).

    :param conn_id: a Velip or Kaleyra connection (templated).
    :param to: the number(s) to call: one, a list, or a comma-separated string (templated).
    :param message: what is read to them (templated; default: the DAG, the task and the run that failed).
    :param vendor_options: vendor options (above; a dict or a JSON object string; templated).
    :param dedup_window: seconds (or a ``timedelta``) during which the same failure does not call the
        same number again with the same message (default 1 hour; 0/None: no deduplication).
    :param dedup_key: replaces the failure's identity in the dedup key (templated).
    :param notifications_path: where the dedup log lives (default ``[voice] notifications_path``).
    :param default_region: region of numbers without a country code.
    :param timeout: seconds the whole notification may take (default 10).

    What became of each call (its vendor id) is logged and kept in ``last_results``.
    """

    template_fields: Sequence[str] = ("conn_id", "to", "message", "vendor_options", "dedup_key")
    channel: ClassVar[str] = "call"
    text_field: ClassVar[str] = "message"
    vendors: ClassVar[tuple[str, ...]] = ("velip", "kaleyra")
    purpose: ClassVar[str] = "VoiceCallNotifier"

    def __init__(
        self,
        *,
        conn_id: str,
        to: Any,
        message: str | None = DEFAULT_TEXT,
        vendor_options: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, to=to, **kwargs)
        self.message = message
        self.vendor_options = vendor_options

    def capability(self, hook: VoiceHook[Any]) -> VoiceCallCapability:
        """The connection's single-call capability (``hook.voice_call()``)."""
        return hook.voice_call()

    def options(self) -> dict[str, Any]:
        """``vendor_options`` after rendering: a mapping, or a JSON object string."""
        value = self.vendor_options
        if value in (None, ""):
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError("vendor_options", value, "a mapping, or a JSON object string") from None
        if not isinstance(value, Mapping):
            raise ValidationError("vendor_options", value, "a mapping of option names to values")
        return dict(value)

    def check(self, capability: VoiceCallCapability, text: Any) -> str:
        """The message: a string that is not blank (empty only with an audio option, which ``target`` checks)."""
        if text is None or text == "":
            return ""
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(
                "message", text, "the text read to the person must not be blank", vendor=capability.vendor
            )
        return text.strip()

    def target(self, capability: VoiceCallCapability, number: str, text: str) -> Target:
        """One call checked by the vendor (number, text, options)."""
        request = capability.prepare(number, text or None, default_region=self.default_region, options=self.options())
        return Target(request.number, request)

    def request(self, capability: VoiceCallCapability, target: Target, text: str, *, key: str) -> Call[VoiceCallHandle]:
        """The vendor's call request (its result: the call's handle)."""
        return capability.call_request(target.payload, key=key)

    def reference(self, result: Any) -> str | None:
        """The call id (or correlation / group id)."""
        from airflow_provider_voice.models.voice_call import VoiceCallHandle

        return result.ref if isinstance(result, VoiceCallHandle) else super().reference(result)


#: the function form, as ``send_slack_notification`` / ``send_sns_notification``:
#: ``on_failure_callback=send_voice_call_notification(conn_id=..., to=..., message=...)``
send_voice_call_notification = VoiceCallNotifier
