"""The blacklist capability protocol shared by the vendors that have one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from airflow_provider_voice.models.blacklist import BlacklistResult
from airflow_provider_voice.models.phone import PhoneNumber

__all__ = ["BlacklistCapability"]


@runtime_checkable
class BlacklistCapability(Protocol):
    """What :class:`~airflow_provider_voice.operators.blacklist.BlacklistNumbersOperator` needs of a vendor.

    ``numbers`` are validated :class:`PhoneNumber` objects (the operator parses and deduplicates).
    ``owned_number`` is the account number an opt-out applies to (TeleVoIPs); vendors without the
    notion refuse it. Both methods return a :class:`BlacklistResult` (numbers changed and refused).
    """

    vendor: ClassVar[str]
    supports_unblock: ClassVar[bool]

    def block(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult: ...

    def unblock(self, numbers: Sequence[PhoneNumber], *, owned_number: Any = None) -> BlacklistResult: ...
