"""Text the on-call people when a task or a DAG fails: TeleVoIPs ``POST /messages`` or Velip ``MakeSMS``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.notifiers.base import DEFAULT_TEXT, Target, VoiceNotifierBase
from airflow_provider_voice.transport import Call

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.protocols import SmsCapability
    from airflow_provider_voice.hooks.base import VoiceHook

__all__ = ["SmsNotifier", "send_sms_notification"]


class SmsNotifier(VoiceNotifierBase):
    """Send an SMS from a task or DAG callback (``on_failure_callback``, ``on_retry_callback``...).

    The connection type picks the vendor (the SMS capability of ``SendSMSOperator``):

    * **TeleVoIPs** (``POST /messages``): ``sender`` is required, a number the account owns and has
      enabled for texting (checked against the connection extra ``owned_numbers`` when it lists
      them). Numbers without a country code are North American.
    * **Velip** (``MakeSMS``): no sender. Each message carries a ``ctid`` derived from its dedup key,
      so Velip itself refuses a repeat within the window (code 220) on accounts with unique ctids.

    One failure does not text a number twice with the same text within ``dedup_window``, and the
    notifier never raises into Airflow's callback machinery nor waits longer than ``timeout``
    (see :mod:`airflow_provider_voice.notifiers.base`).

    .. code-block:: python

        SendSMSOperator(..., on_failure_callback=SmsNotifier(
            conn_id="televoips_default", sender="13214567890", to=["+14155552671"],
            text="{{ ti.task_id }} failed in {{ dag.dag_id }} (run {{ run_id }})"))

    :param conn_id: a TeleVoIPs or Velip connection (templated).
    :param to: the number(s) to text: one, a list, or a comma-separated string (templated).
    :param text: the message (templated; default: the DAG, the task and the run that failed).
    :param sender: TeleVoIPs ``from`` number (templated; Velip: leave unset).
    :param dedup_window: seconds (or a ``timedelta``) during which the same failure does not text
        the same number again with the same text (default 1 hour; 0/None: no deduplication).
    :param dedup_key: replaces the failure's identity in the dedup key (templated).
    :param notifications_path: where the dedup log lives (default ``[voice] notifications_path``).
    :param default_region: region of numbers without a country code.
    :param timeout: seconds the whole notification may take (default 10).

    What became of each message is logged and kept in ``last_results``.
    """

    template_fields: Sequence[str] = ("conn_id", "to", "text", "sender", "dedup_key")
    channel: ClassVar[str] = "sms"
    text_field: ClassVar[str] = "text"
    vendors: ClassVar[tuple[str, ...]] = ("televoips", "velip")
    purpose: ClassVar[str] = "SmsNotifier"

    def __init__(
        self,
        *,
        conn_id: str,
        to: Any,
        text: str = DEFAULT_TEXT,
        sender: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=conn_id, to=to, **kwargs)
        self.text = text
        self.sender = sender
        self.checked_sender: str | None = None

    def capability(self, hook: VoiceHook[Any]) -> SmsCapability:
        """The connection's SMS capability (``hook.sms()``)."""
        return hook.sms()

    def check(self, capability: SmsCapability, text: Any) -> str:
        """The text (a string, not blank) and the sender, checked for the vendor."""
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("text", text, "the SMS text must not be empty", vendor=capability.vendor)
        self.checked_sender = capability.check_sender(self.sender or None)
        return text.strip()

    def target(self, capability: SmsCapability, number: str, text: str) -> Target:
        """One valid number (the error shows it masked)."""
        from airflow_provider_voice.capabilities.voice_call import parse_one_number

        region = self.default_region or capability.default_region
        return Target(parse_one_number(number, region, field="to", vendor=capability.vendor))

    def request(self, capability: SmsCapability, target: Target, text: str, *, key: str) -> Call[str]:
        """The vendor's SMS request (its result: the message id)."""
        return capability.message_call(target.number, text, sender=self.checked_sender, key=key)


#: the function form, as ``send_slack_notification`` / ``send_sns_notification``:
#: ``on_failure_callback=send_sms_notification(conn_id=..., to=..., text=...)``
send_sms_notification = SmsNotifier
