"""The SMS capability protocol: what a vendor must offer to send SMS through the provider."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call

__all__ = ["SmsChannel"]


@runtime_checkable
class SmsChannel(Protocol):
    """One vendor's SMS sending, as the fan-out engine uses it.

    :attr vendor: the vendor name. :attr default_region: region for numbers without a country code.
    :meth check_sender: validate (and normalize) the sender before any message is sent; raise
        :class:`~airflow_provider_voice.errors.ValidationError` when it cannot work.
    :meth message_call: the request that texts ``number`` (returns the vendor's message id);
        ``key`` is a stable per-recipient key (used as a correlation id where the vendor has one).
    :meth explain: turn a vendor refusal into an error that names the documented causes.
    :meth lookup_call: the request listing messages sent between two POSIX times (None when the
        vendor has no such request); :meth find_sent: the id of the message to ``number`` with
        ``text`` in that list. Together they reconcile an SMS whose fate is unknown.
    """

    vendor: ClassVar[str]
    default_region: ClassVar[str | None]

    def check_sender(self, sender: Any) -> str | None: ...

    def message_call(self, number: PhoneNumber, text: str, *, sender: str | None, key: str) -> Call[str]: ...

    def explain(self, exc: Exception) -> Exception: ...

    def lookup_call(self, since: float, until: float) -> Call[Any] | None: ...

    def find_sent(self, messages: Any, number: PhoneNumber, text: str) -> str | None: ...
