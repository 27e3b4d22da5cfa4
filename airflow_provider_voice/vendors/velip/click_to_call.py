"""Velip click-to-call: ``MakeTTSCall`` type 3 (``dest`` = agent, ``dest2`` = customer), outcome from ``GetCallStatus``."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_voice.capabilities.base import ClickToCallBackend
from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.click_to_call import ClickToCallHandle, ClickToCallState, ClickToCallStatus
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.api_messaging import check_velip_ctid
from airflow_provider_voice.vendors.velip.records import VelipCallStatusPage

__all__ = ["VELIP_C2C_OPTIONS", "VelipClickToCall", "velip_c2c_state"]

log = get_logger(__name__)

#: options passed through to ``MakeTTSCall``
VELIP_C2C_OPTIONS = ("content", "voice", "ctid", "rurl", "priority")
#: ``cd_status`` -> state. Velip reports one status for the joined call (no per-leg status).
_STATES = {
    "OK": ClickToCallState.CONNECTED,
    "NA": ClickToCallState.AGENT_UNREACHED,
    "EK": ClickToCallState.FAILED,
    "IK": ClickToCallState.FAILED,
    "CK": ClickToCallState.FAILED,
    "BK": ClickToCallState.FAILED,
}


def velip_c2c_state(cd_status: str | None) -> ClickToCallState:
    """Map Velip's ``cd_status`` (OK, NA, EK, IK, CK, BK; anything else, e.g. ``PD``, = not ended)."""
    return _STATES.get((cd_status or "").strip().upper(), ClickToCallState.PENDING)


class VelipClickToCall(ClickToCallBackend[VelipApi]):
    """Join an agent and a customer with Velip ``MakeTTSCall`` type 3, keeping both numbers private.

    Velip calls ``dest`` (the agent), plays ``message`` (TTS; or ``content``, an audio id), then
    joins ``dest2`` (the customer). ``vendor_options``: ``content``, ``voice``, ``ctid`` (<= 15
    letters/digits; track a call by it), ``rurl`` (webhook), ``priority``. Velip's
    ``GetCallStatus`` gives one status for the joined call: ``OK`` -> connected, ``NA`` -> the
    agent did not answer, ``EK``/``IK``/``CK``/``BK`` -> failed.

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "velip"
    label: ClassVar[str] = "Velip"
    option_names: ClassVar[tuple[str, ...]] = VELIP_C2C_OPTIONS

    def place(
        self, agent: Any, customer: Any, *, message: str | None, region: str | None, options: dict[str, Any]
    ) -> ClickToCallHandle:
        """``MakeTTSCall`` type 3; returns the ``cd_id`` (and ``ctid`` when given)."""
        if isinstance(agent, (list, tuple)) or isinstance(customer, (list, tuple)):
            raise ValidationError("agent/customer", [agent, customer], "Velip joins exactly one agent and one customer")
        if not message and not options.get("content"):
            raise ValidationError(
                "message",
                message,
                "Velip plays a message to the agent first: give message (TTS text) or vendor_options content",
            )
        dest = PhoneNumber.parse(agent, region, field="agent")
        dest2 = PhoneNumber.parse(customer, region, field="customer")
        ctid = check_velip_ctid(options.pop("ctid", None))
        call = self.api.make_tts_call(dest, type=3, dest2=dest2, text=message or None, ctid=ctid, **options)
        result = self.access.client().send(call)
        if not result.cd_id and not ctid:
            raise MalformedResponseError(
                "MakeTTSCall was accepted but the answer has no cd_id", vendor=self.vendor, endpoint="MakeTTSCall"
            )
        log.info("Velip click-to-call placed: %s", result.cd_id or ctid)
        return ClickToCallHandle(vendor=self.vendor, call_id=result.cd_id, ctid=result.ctid or ctid)

    def status_call(self, handle: ClickToCallHandle) -> Call[VelipCallStatusPage]:
        """``GetCallStatus`` by ``cd_id`` (or by ``ctid`` for a call without one)."""
        if handle.call_id:
            return self.api.get_call_status(cd_id=handle.call_id)
        if handle.ctid:
            return self.api.get_call_status(ctid=handle.ctid)
        raise ValidationError("call_id", None, "the Velip cd_id (or the ctid) of the call")

    def interpret(self, handle: ClickToCallHandle, answer: VelipCallStatusPage) -> ClickToCallStatus:
        """The call's record as a :class:`ClickToCallStatus` (pending while not listed or ``PD``)."""
        calls = [c for c in answer.calls if not handle.call_id or c.cd_id == handle.call_id]
        if not calls:
            return ClickToCallStatus(vendor=self.vendor, call_id=handle.call_id, state=ClickToCallState.PENDING)
        record = calls[-1]
        return ClickToCallStatus(
            vendor=self.vendor,
            call_id=record.cd_id,
            state=velip_c2c_state(record.cd_status),
            agent_status=record.cd_status,
            customer_status=None,
            duration=record.dur,
            raw=record.model_dump(mode="json"),
        )
