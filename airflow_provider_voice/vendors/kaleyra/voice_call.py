"""Kaleyra single call: OBD ``voice.call`` with one number and ``message``; status from ``voice.status``.

Choices (``docs/vendors/kaleyra.md``): the caller's key goes in ``custom`` (letters and digits, at
most 32), for the CDRs and callbacks; Kaleyra documents no idempotency key and no lookup by it, so
a call whose answer was lost is in doubt and never resent. The answer's first call id
(``<group>-1``) is followed with ``voice.status``; an answer with only a ``group_id`` is followed
with ``voice.groupstatus``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from airflow_provider_voice.capabilities.voice_call import VoiceCallBackend, VoiceCallRequest, mapped_call
from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.voice_call import VoiceCallHandle, VoiceCallStatus
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION
from airflow_provider_voice.vendors.kaleyra.api_obd import KaleyraObdCall, KaleyraObdResult
from airflow_provider_voice.vendors.kaleyra.outcomes import kaleyra_outcome

__all__ = ["KALEYRA_CALL_OPTIONS", "KaleyraVoiceCall", "kaleyra_custom"]

#: ``vendor_options`` passed through to ``voice.call``
KALEYRA_CALL_OPTIONS = ("play", "retries", "campaign", "callback", "meta")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def kaleyra_custom(key: str) -> str:
    """The ``custom`` reference of a call's key: its letters and digits, at most 32."""
    return _NOT_ALNUM.sub("", key)[:32]


class KaleyraVoiceCall(VoiceCallBackend[KaleyraApi]):
    """Call one person with Kaleyra OBD ``voice.call``: Kaleyra reads ``message`` (English text) or
    plays ``vendor_options["play"]`` (a sound file or ``ivr:<id>``, which takes priority).

    ``vendor_options``: ``play``, ``retries`` (0-2 more attempts when unanswered), ``campaign``,
    ``callback`` (URL at the end of the call), ``meta`` (dict). Numbers without a country code are
    Indian. The outcome is ``voice.status``'s status through the Kaleyra outcome table
    (``COMPLETED``/``ANSWER`` answered, ``NOANSWER`` no answer, ``BUSY``, ``FAILED``...; ``SENT`` pending).

    :param access: the vendor API and its clients (``hook.access``).
    """

    vendor: ClassVar[str] = "kaleyra"
    label: ClassVar[str] = "Kaleyra"
    option_names: ClassVar[tuple[str, ...]] = KALEYRA_CALL_OPTIONS
    audio_option: ClassVar[str] = "play"
    default_region: ClassVar[str | None] = DEFAULT_REGION

    def _build(self, request: VoiceCallRequest, custom: str | None) -> Call[KaleyraObdResult]:
        options: dict[str, Any] = dict(request.options)
        play = options.pop("play", None)
        return self.api.voice_call(
            [request.number], play=play, message=None if play else request.message, custom=custom, **options
        )

    def check(self, request: VoiceCallRequest) -> None:
        """The request builder's own checks (number form, ``retries`` 0-2), run once without sending."""
        self._build(request, None)

    def call_request(self, request: VoiceCallRequest, *, key: str) -> Call[VoiceCallHandle]:
        """``voice.call`` to the one number, ``custom`` = the key; its result the handle (call id, group id)."""
        masked = request.masked

        def handle(result: KaleyraObdResult) -> VoiceCallHandle:
            if len(result.calls) > 1:
                raise MalformedResponseError(
                    f"voice.call for one number listed {len(result.calls)} calls",
                    vendor=self.vendor,
                    endpoint="voice.call",
                )
            call_id = result.calls[0].id if result.calls else None
            return VoiceCallHandle(vendor=self.vendor, call_id=call_id, group_id=result.group_id, number=masked)

        return mapped_call(self._build(request, kaleyra_custom(key) or None), handle)

    def status_call(self, handle: VoiceCallHandle) -> Call[KaleyraObdResult]:
        """``voice.status`` for the call id (``voice.groupstatus`` for a group id only)."""
        if handle.call_id:
            return self.api.voice_status(handle.call_id)
        if handle.group_id:
            return self.api.voice_groupstatus(handle.group_id)
        raise ValidationError("call_id", None, "the Kaleyra OBD call id (or group id) of the call", vendor=self.vendor)

    def interpret(self, handle: VoiceCallHandle, answer: KaleyraObdResult) -> VoiceCallStatus:
        """The call's row as a :class:`VoiceCallStatus` (``pending`` while ``SENT`` or not listed)."""
        rows: list[KaleyraObdCall] = [c for c in answer.calls if handle.call_id and (c.id or "") == handle.call_id]
        if not rows and len(answer.calls) == 1 and (not handle.call_id or not answer.calls[0].id):
            rows = answer.calls  # the one row of a group of one, or a row without an id
        if not rows:
            return VoiceCallStatus(vendor=self.vendor, call_id=handle.call_id, outcome="pending")
        row = rows[0]
        outcome, detail = kaleyra_outcome(row.status)
        return VoiceCallStatus(
            vendor=self.vendor,
            call_id=row.id or handle.call_id,
            outcome=outcome,
            vendor_status=(row.status or "").strip().upper() or None,
            detail=detail,
            raw=row.model_dump(mode="json"),
        )
