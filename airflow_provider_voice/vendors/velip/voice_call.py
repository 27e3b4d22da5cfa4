"""Velip single call: ``MakeTTSCall`` type 0 (play the text, hang up); status from ``GetCallStatus``.

Choices (``docs/vendors/velip.md``): the call carries ``ctid`` = a 15-character base-36 hash of the
caller's key (:func:`~airflow_provider_voice.vendors.velip.sms.velip_ctid`), so a repeat with the
same key is refused with code 220 on accounts with unique ctids, and a call whose answer was lost
is found again with ``GetCallStatus`` by ``ctid``. Scheduled calls (``repeat``) are not offered: a
scheduled call has no ``cd_id`` to follow.
"""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_voice.capabilities.voice_call import VoiceCallBackend, VoiceCallRequest, mapped_call
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.voice_call import VoiceCallHandle, VoiceCallStatus
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.api_campaigns import VelipCallResult
from airflow_provider_voice.vendors.velip.api_messaging import is_duplicate_ctid
from airflow_provider_voice.vendors.velip.outcomes import velip_key, velip_outcome
from airflow_provider_voice.vendors.velip.records import VelipCallRecord, VelipCallStatusPage
from airflow_provider_voice.vendors.velip.sms import velip_ctid

__all__ = ["VELIP_CALL_OPTIONS", "VelipVoiceCall"]

#: ``vendor_options`` passed through to ``MakeTTSCall``
VELIP_CALL_OPTIONS = ("voice", "content", "priority", "rurl")


class VelipVoiceCall(VoiceCallBackend[VelipApi]):
    """Call one person with Velip ``MakeTTSCall`` type 0: Velip reads ``message`` (TTS; or plays
    ``vendor_options["content"]``, an audio id) and hangs up.

    ``vendor_options``: ``voice`` (TTS voice), ``content``, ``priority``, ``rurl`` (webhook at the
    end of the call). The outcome is ``GetCallStatus``'s ``cd_status`` through the Velip outcome
    table (``OK`` answered, ``NA`` no answer, ``EK``/``IK`` invalid number, ``CK``/``BK`` blocked).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "velip"
    label: ClassVar[str] = "Velip"
    option_names: ClassVar[tuple[str, ...]] = VELIP_CALL_OPTIONS
    audio_option: ClassVar[str] = "content"

    def check(self, request: VoiceCallRequest) -> None:
        """The request builder's own checks (number digits, options), run once without sending."""
        self.api.make_tts_call(
            request.number, type=0, text=request.message, ctid=velip_ctid("check"), **request.options
        )

    def call_request(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle]:
        """``MakeTTSCall`` type 0 with ``ctid`` derived from ``key``; its result the handle (``cd_id``)."""
        ctid = velip_ctid(key)
        masked = request.masked

        def handle(result: VelipCallResult) -> VoiceCallHandle:
            return VoiceCallHandle(vendor=self.vendor, call_id=result.cd_id, ctid=result.ctid or ctid, number=masked)

        call = self.api.make_tts_call(request.number, type=0, text=request.message, ctid=ctid, **request.options)
        return mapped_call(call, handle)

    def lookup_call(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle | None]:
        """``GetCallStatus`` by the ``ctid`` of ``key``: the call placed with it, or None when Velip lists none.

        A listed row counts when it carries that ``ctid`` (or carries none and is the only row, to
        the same number); anything else is not taken as this call.
        """
        ctid = velip_ctid(key)
        digits = velip_key(request.number.velip)
        masked = request.masked

        def found(page: VelipCallStatusPage) -> VoiceCallHandle | None:
            rows = [c for c in page.calls if (c.ctid or "").strip() == ctid]
            if not rows:
                rows = [c for c in page.calls if not c.ctid and velip_key(c.dest) == digits]
                rows = rows if len(rows) == 1 else []
            if not rows:
                return None
            return VoiceCallHandle(vendor=self.vendor, call_id=rows[-1].cd_id, ctid=ctid, number=masked)

        return mapped_call(self.api.get_call_status(ctid=ctid), found)

    def is_duplicate(self, exc: BaseException) -> bool:
        """Velip's code 220: the ``ctid`` was used before (the call was placed)."""
        return is_duplicate_ctid(exc)

    def status_call(self, handle: VoiceCallHandle) -> Call[VelipCallStatusPage]:
        """``GetCallStatus`` by ``cd_id`` (or by ``ctid`` for a call without one)."""
        if handle.call_id:
            return self.api.get_call_status(cd_id=handle.call_id)
        if handle.ctid:
            return self.api.get_call_status(ctid=handle.ctid)
        raise ValidationError("call_id", None, "the Velip cd_id (or the ctid) of the call", vendor=self.vendor)

    def interpret(self, handle: VoiceCallHandle, answer: VelipCallStatusPage) -> VoiceCallStatus:
        """The call's row as a :class:`VoiceCallStatus` (``pending`` while not listed or not ended)."""
        rows: list[VelipCallRecord]
        if handle.call_id:
            rows = [c for c in answer.calls if c.cd_id == handle.call_id]
        else:
            rows = [c for c in answer.calls if (c.ctid or "") == handle.ctid]
        if not rows:
            return VoiceCallStatus(vendor=self.vendor, call_id=handle.call_id, outcome="pending")
        row = rows[-1]
        outcome, detail = velip_outcome(row.cd_status)
        return VoiceCallStatus(
            vendor=self.vendor,
            call_id=row.cd_id,
            outcome=outcome,
            vendor_status=(row.cd_status or "").strip().upper() or None,
            detail=detail,
            duration=float(row.dur) if row.dur is not None and outcome != "pending" else None,
            raw=row.model_dump(mode="json"),
        )
