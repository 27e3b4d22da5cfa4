"""Kaleyra progressive dialer: adding people to a dialer campaign (``autodial.import`` / ``autodial.add``).

:class:`KaleyraDialerChannel` is the delivery-engine channel the
:class:`~airflow_provider_voice.operators.kaleyra.KaleyraDialerUploadOperator` sends through: the
engine cuts the recipients into frames of at most :data:`~.api_calls.AUTODIAL_IMPORT_MAX` rows (one
request each), checkpoints every accepted request and never resends one whose fate is unknown
(Kaleyra offers no way to list a dialer campaign, so such a request stays in doubt).
:class:`KaleyraNumberCheck` checks each recipient the way Kaleyra will read it, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_voice.delivery import Channel, Frame, FrameResult
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.vendors.access import VendorAccess
from airflow_provider_voice.vendors.base import AsyncVendorClient
from airflow_provider_voice.vendors.kaleyra.api_calls import AUTODIAL_IMPORT_MAX, kaleyra_number

if TYPE_CHECKING:  # the package exports this module: importing it at run time would be circular
    from airflow_provider_voice.vendors.kaleyra import KaleyraApi

__all__ = ["DIALER_METHODS", "KaleyraDialerChannel", "KaleyraNumberCheck"]

#: how people are added: ``import`` (many rows per request) or ``add`` (one number per request)
DIALER_METHODS = ("import", "add")


class KaleyraDialerChannel(Channel[Recipient]):
    """Delivery-engine channel adding recipients to a Kaleyra progressive dialer campaign.

    ``method="import"``: ``autodial.import`` with up to ``rows_per_request`` (<= 1000) rows per
    request, each row ``{"number", "name", <variables>}``; ``method="add"``: ``autodial.add``,
    one number per request with its variables as ``meta``. Kaleyra offers no way to list a
    dialer campaign, so a request whose fate is unknown stays in doubt (not resent).

    :param access: the Kaleyra API and its clients (``hook.access``).
    :param campaign: the dialer campaign's unique name.
    :param method: ``import`` or ``add``.
    :param rows_per_request: rows per ``autodial.import`` request (1 for ``add``).
    """

    unit = "numbers"

    def __init__(
        self,
        access: VendorAccess[KaleyraApi],
        campaign: str,
        *,
        method: str = "import",
        rows_per_request: int = AUTODIAL_IMPORT_MAX,
    ) -> None:
        self.access = access
        self.campaign = campaign
        self.method = method
        self.frame_size = 1 if method == "add" else rows_per_request
        self.name = f"kaleyra autodial.{method} {campaign!r}"
        self._client: AsyncVendorClient[KaleyraApi] | None = None

    async def start(self) -> None:
        """Open the asyncio client the frames are sent with."""
        self._client = self.access.async_client()

    async def stop(self) -> None:
        """Close the client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @staticmethod
    def row(recipient: Recipient) -> dict[str, Any]:
        """One ``autodial.import`` row: ``{"number", "name", <variables>}``.

        :param recipient: the person to add.
        """
        extra = {"name": recipient.name} if recipient.name else {}
        return {"number": recipient.number, **extra, **recipient.variables}

    async def send(self, frame: Frame[Recipient]) -> FrameResult:
        """Send one frame (one request); rows Kaleyra did not process count as refused.

        :param frame: the recipients of this request.
        """
        assert self._client is not None, "start() opens the client"
        api = self.access.api
        if self.method == "add":
            recipient = frame.items[0]
            extra = {"name": recipient.name} if recipient.name else {}
            call = api.autodial_add(self.campaign, recipient.number, {**extra, **recipient.variables})
        else:
            call = api.autodial_import(self.campaign, [self.row(r) for r in frame.items])
        upload = await self._client.send(call)
        processed = upload.processed if upload.processed is not None else len(frame)
        return FrameResult(
            accepted=processed,
            rejected=max(0, len(frame) - processed),
            info={"total": upload.total, "processed": upload.processed},
        )

    def summarize(self, results: Sequence[FrameResult]) -> dict[str, Any]:
        """``processed`` (rows Kaleyra processed) and ``skipped_by_kaleyra`` (rows it did not).

        :param results: every frame's result.
        """
        return {"processed": sum(r.accepted for r in results), "skipped_by_kaleyra": sum(r.rejected for r in results)}


class KaleyraNumberCheck:
    """Checks a recipient's number the way Kaleyra reads it (``validate_recipients``' backend)."""

    vendor: ClassVar[str] = "kaleyra"

    def validate_recipient(self, spec: object, recipient: Recipient, position: int) -> None:
        """Raise ``ValidationError`` when Kaleyra cannot dial ``recipient``.

        :param spec: unused (the dialer has no campaign spec).
        :param recipient: the recipient read from the source.
        :param position: its position in the source (names the error field).
        """
        kaleyra_number(recipient.number, f"recipients[{position}]")
