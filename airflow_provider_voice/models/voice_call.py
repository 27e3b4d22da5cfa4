"""One voice call to one person ("call them, say this"), as every vendor reports it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["VoiceCallHandle", "VoiceCallStatus"]


class VoiceCallHandle(BaseModel):
    """A placed call: the vendor and its ids, never the number in clear.

    :param vendor: ``velip`` or ``kaleyra``.
    :param call_id: the vendor's call id (Velip ``cd_id`` like ``c_88700``; Kaleyra ``<group>-<n>``).
    :param ctid: Velip's correlation id the call was placed with (a call can be found by it).
    :param group_id: Kaleyra's OBD group id (the call's status can be read by it when no call id came back).
    :param number: the number called, masked (``+33*******78``), for logs and XCom.
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    call_id: str | None = None
    ctid: str | None = None
    group_id: str | None = None
    number: str | None = None

    @property
    def ref(self) -> str:
        """The id to show: the call id, else the correlation or group id."""
        return self.call_id or self.ctid or self.group_id or "?"

    def to_xcom(self) -> dict[str, Any]:
        """``{"vendor", "call_id", "ctid", "group_id", "number"}`` (JSON values, the number masked)."""
        return self.model_dump(mode="json", include={"vendor", "call_id", "ctid", "group_id", "number"})


class VoiceCallStatus(BaseModel):
    """Where a call stands, with the normalized outcome of
    :data:`~airflow_provider_voice.models.outcomes.OUTCOMES` (``answered``, ``no_answer``, ``busy``,
    ``failed``, ``invalid_number``, ``blocked``; ``pending`` while it has not ended).

    :param vendor: the vendor.
    :param call_id: the vendor's call id (when known).
    :param outcome: the normalized outcome (the vendor's table: ``velip_outcome``, ``kaleyra_outcome``).
    :param vendor_status: the vendor's own status (Velip ``cd_status``, Kaleyra ``status``).
    :param detail: why, when the vendor's status is not a documented one.
    :param duration: seconds of conversation, when the vendor says.
    :param raw: the vendor's row (not pushed to XCom: it holds the number).
    """

    model_config = ConfigDict(extra="allow")

    vendor: str
    call_id: str | None = None
    outcome: str = "pending"
    vendor_status: str | None = None
    detail: str | None = None
    duration: float | None = None
    raw: Any = None

    @property
    def done(self) -> bool:
        """Whether the call has ended (any outcome but ``pending``)."""
        return self.outcome != "pending"

    @property
    def answered(self) -> bool:
        """Whether the person answered."""
        return self.outcome == "answered"

    def to_xcom(self) -> dict[str, Any]:
        """The status as JSON values, without the vendor's raw row."""
        return self.model_dump(mode="json", exclude={"raw"})
