"""Kaleyra blacklist: ``method=block`` (numbers comma-separated, chunked) and ``action=delete`` to undo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from airflow_provider_voice.capabilities.base import VendorCapability
from airflow_provider_voice.errors import ValidationError, VendorRejectedError
from airflow_provider_voice.models.blacklist import BlacklistFailure, BlacklistResult
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.redaction import get_logger
from airflow_provider_voice.vendors.access import VendorAccess
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_calls import BLOCK_CHUNK_SIZE
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION

__all__ = ["KaleyraBlacklist"]

log = get_logger(__name__)


class KaleyraBlacklist(VendorCapability[KaleyraApi]):
    """Block or unblock numbers on a Kaleyra Voice account.

    Numbers go :data:`~airflow_provider_voice.vendors.kaleyra.api_calls.BLOCK_CHUNK_SIZE` per request.
    A chunk Kaleyra refuses (``E...`` status) is recorded in ``failed`` and the next chunks are
    still sent; authentication and transport errors stop the run (the chunks already accepted are
    in the log). Blocking is idempotent, so a task retry simply blocks the same numbers again.

    :param access: the vendor API and its clients (``hook.access``).
    :param chunk_size: numbers per request.
    """

    vendor: ClassVar[str] = "kaleyra"
    supports_unblock: ClassVar[bool] = True
    default_region: ClassVar[str | None] = DEFAULT_REGION

    def __init__(self, access: VendorAccess[KaleyraApi], *, chunk_size: int = BLOCK_CHUNK_SIZE) -> None:
        super().__init__(access)
        self.chunk_size = chunk_size

    def block(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult:
        """Blacklist ``numbers``."""
        return self._run("block", numbers, owned_number)

    def unblock(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult:
        """Remove ``numbers`` from the blacklist."""
        return self._run("unblock", numbers, owned_number)

    def _run(self, action: str, numbers: Sequence[PhoneNumber], owned_number: Any) -> BlacklistResult:
        if owned_number is not None:
            raise ValidationError(
                "owned_number", owned_number, "Kaleyra blacklists numbers account-wide: leave owned_number unset"
            )
        numbers = list(dict.fromkeys(numbers))
        result = BlacklistResult(action=action, vendor=self.vendor, requested=len(numbers))  # type: ignore[arg-type]
        if not numbers:
            return result
        client = self.access.client()
        build = self.api.block if action == "block" else self.api.unblock
        total_chunks = (len(numbers) + self.chunk_size - 1) // self.chunk_size
        for index in range(0, len(numbers), self.chunk_size):
            chunk = numbers[index : index + self.chunk_size]
            result.requests += 1
            try:
                client.run(build(chunk, chunk_size=self.chunk_size))
            except VendorRejectedError as exc:
                log.warning("Kaleyra refused %s of %d numbers: %s", action, len(chunk), exc)
                result.failed.extend(
                    BlacklistFailure(number=str(n), error=str(exc), vendor_code=exc.vendor_code) for n in chunk
                )
                continue
            result.changed.extend(str(n) for n in chunk)
            log.info(
                "Kaleyra %s: request %d/%d accepted (%d/%d numbers)",
                action,
                result.requests,
                total_chunks,
                len(result.changed),
                len(numbers),
            )
        return result
