"""Connect an agent and a customer on the phone: Kaleyra ``dial.click2call`` or Velip ``MakeTTSCall`` type 3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_voice.errors import VoiceProviderError
from airflow_provider_voice.operators.base import VoiceOperator, deferrable_arg, fail_fast, rendered_options
from airflow_provider_voice.operators.links import ClickToCallConsoleLink
from airflow_provider_voice.triggers.base import deadline_after, event_error, seconds_arg

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.capabilities.protocols import ClickToCallCapability

__all__ = ["ClickToCallOperator"]


def finish_click_to_call(result: Mapping[str, Any], *, require_connected: bool) -> dict[str, Any]:
    """The final XCom of a finished call; :class:`AirflowFailException` if ``require_connected`` and it did not connect."""
    from airflow_provider_voice.models.click_to_call import ClickToCallState

    out = dict(result)
    if require_connected and out.get("state") != ClickToCallState.CONNECTED.value:
        raise AirflowFailException(
            f"click-to-call {out.get('call_id')} ended {out.get('state')} "
            f"(agent {out.get('agent_status')}, customer {out.get('customer_status')}); require_connected=True"
        )
    return out


class ClickToCallOperator(VoiceOperator):
    """Ring the agent, then bridge the customer, without showing either number to the other.

    The connection type picks the vendor:

    * **Kaleyra** (``dial.click2call``): ``agent`` is the first leg (``caller``; a list rings
      several agents, the first to answer wins), ``customer`` the second (``receiver``; a list, or
      ``"ivr:<id>"``). ``vendor_options``: ``retry`` (0-2), ``delay`` (s), ``caller_id``, ``custom``,
      ``meta`` (dict), ``callback`` (URL template with ``{caller}``, ``{receiver}``, ``{status}``,
      ``{status1}``, ``{status2}``, ``{duration}``, ``{billsec}``, ``{starttime}``, ``{endtime}``,
      ``{recordpath}``, ``{callerid}``, ``{id}``; sent URL-encoded as the spec shows).
    * **Velip** (``MakeTTSCall`` type 3): ``agent`` = ``dest``, ``customer`` = ``dest2``;
      ``message`` is the text spoken to the agent before the customer is joined (required unless
      ``vendor_options`` has ``content``, an audio id). ``vendor_options``: ``voice``, ``content``,
      ``ctid``, ``rurl``, ``priority``.

    The call is placed once: a task retry after an ambiguous failure (timeout after sending) does
    not ring the people again unless ``retries`` says so (the vendors have no idempotency key).
    Once the call is placed, a failure while waiting for its outcome (a timeout, an unreadable
    status) fails the task without a retry: a retry would ring both people again.

    :param conn_id: a Kaleyra or Velip connection.
    :param agent: the agent's number(s). Templated.
    :param customer: the customer's number(s). Templated.
    :param message: Velip only: the text played to the agent. Templated.
    :param vendor_options: vendor-specific options (above). Templated.
    :param default_region: region of numbers without a country code (Kaleyra default ``IN``).
    :param wait_for_completion: wait until the call has ended and push its outcome.
    :param require_connected: with ``wait_for_completion``, fail unless both people were connected.
    :param poll_interval: seconds between status reads while waiting.
    :param timeout: seconds to wait for the outcome (default 1 hour).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).

    XCom: ``{"vendor", "call_id", "ctid"}``; when waiting, the outcome is added: ``state``
    (``connected``, ``agent_unreached``, ``customer_unreached``, ``failed``), ``agent_status``,
    ``customer_status``, ``duration``. The UI's "Vendor console" link opens the vendor's console
    (:mod:`~airflow_provider_voice.operators.links`).
    """

    template_fields: Sequence[str] = ("conn_id", "agent", "customer", "message", "vendor_options")
    template_fields_renderers = {"vendor_options": "json"}
    ui_color = "#e6f0ff"
    operator_extra_links = (ClickToCallConsoleLink(),)

    def __init__(
        self,
        *,
        conn_id: str,
        agent: Any,
        customer: Any,
        message: str | None = None,
        vendor_options: Mapping[str, Any] | None = None,
        default_region: str | None = None,
        wait_for_completion: bool = False,
        require_connected: bool = False,
        poll_interval: float = 15.0,
        timeout: float = 3600.0,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.agent = agent
        self.customer = customer
        self.message = message
        self.vendor_options = vendor_options  # may be a template string: read at execute time
        self.default_region = default_region
        self.wait_for_completion = wait_for_completion
        self.require_connected = require_connected
        self.poll_interval = seconds_arg("poll_interval", poll_interval)
        self.timeout = seconds_arg("timeout", timeout)
        self.deferrable = deferrable_arg(deferrable)

    @cached_property
    def capability(self) -> ClickToCallCapability:
        """The connection's click-to-call capability."""
        return self.hook.click_to_call()

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_provider_voice.triggers.click_to_call import ClickToCallTrigger

        handle = self.capability.connect(
            self.agent,
            self.customer,
            message=self.message or None,
            default_region=self.default_region,
            **rendered_options(self.vendor_options),
        )
        placed = handle.to_xcom()
        self.log.info("%s click-to-call placed: %s", handle.vendor, handle.call_id or handle.ctid)
        if not self.wait_for_completion:
            return placed
        trigger = ClickToCallTrigger(
            conn_id=self.conn_id,
            poll_interval=float(self.poll_interval),
            deadline=deadline_after(float(self.timeout)),
            call_id=handle.call_id,
            ctid=handle.ctid,
        )
        if self.deferrable:
            self.defer(
                trigger=trigger,
                method_name="execute_complete",
                timeout=timedelta(seconds=float(self.timeout) + max(60.0, float(self.poll_interval))),
            )
        try:  # blocking wait: the trigger's own check, with the hook's blocking client
            outcome = trigger.wait(self.hook, timeout=float(self.timeout))
        except VoiceProviderError as exc:  # a task retry would place the call again
            raise fail_fast(exc) from exc
        if not outcome.done:
            raise AirflowFailException(
                f"click-to-call {handle.call_id or handle.ctid} not finished after {self.timeout:.0f} s "
                "(the call was placed; it was not cancelled; not retried: a retry would ring both people again)"
            )
        self.log.info("%s", outcome.message)
        return {**placed, **finish_click_to_call(outcome.result.payload, require_connected=self.require_connected)}

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: the call's outcome, or an error naming the call id."""
        event = event or {}
        if event.get("status") == "success":
            outcome = {k: v for k, v in event.items() if k not in ("status", "message")}
            return {"ctid": None, **finish_click_to_call(outcome, require_connected=self.require_connected)}
        failure = (
            f"click-to-call {event.get('call_id') or event.get('ctid')} {event.get('status', 'error')}: "
            f"{event.get('message')} (the call was placed; it was not cancelled; not retried: a retry would ring "
            "both people again)"
        )
        raise event_error(event, failure) or AirflowFailException(failure)
