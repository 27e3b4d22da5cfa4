"""Typed errors raised by every layer of the provider.

Callers branch on the class (and on the structured attributes), never on message text.
Errors never carry API keys or tokens: the constructors pass the message and every stored field
(``vendor_message``, ``payload``, ``field_errors``, ``vendor_code``, ``value``...) through
:func:`airflow_provider_voice.redaction.redact_value` once, so ``str(exc)``, ``exc.args`` and
``exc.__dict__`` are clean whoever builds the error (a vendor may echo request headers in its body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_voice.redaction import redact, redact_value

__all__ = [
    "AuthError",
    "CapabilityNotSupportedError",
    "MalformedResponseError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "VendorRejectedError",
    "VoiceProviderError",
]


class VoiceProviderError(Exception):
    """Base class of every error the provider raises.

    :param message: human readable text (secrets are removed here, whoever built it).
    :param vendor: ``"velip"``, ``"televoips"``, ``"octopush"`` or ``"kaleyra"`` when known.
    :param endpoint: the vendor endpoint being called (e.g. ``"MakeTTSCall"``), when known.
    """

    def __init__(self, message: str, *, vendor: str | None = None, endpoint: str | None = None) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.vendor = vendor
        self.endpoint = redact_value(endpoint)

    def __str__(self) -> str:
        where = ":".join(p for p in (self.vendor, self.endpoint) if p)
        return f"[{where}] {self.message}" if where else self.message


class ValidationError(VoiceProviderError, ValueError):
    """Input rejected before any request was sent.

    :param field: the parameter or field at fault (``"text"``, ``"recipients[3].number"``...).
    :param value: the offending value (phone numbers are shown as given: they are the caller's input).
    :param rule: what is allowed.
    """

    def __init__(self, field: str, value: Any, rule: str, *, vendor: str | None = None) -> None:
        self.field = redact_value(field)
        self.value = value = redact_value(value)
        self.rule = rule = redact_value(rule)
        shown = repr(value)
        if len(shown) > 80:
            shown = f"{shown[:60]}... ({len(value) if hasattr(value, '__len__') else '?'} long)"
        super().__init__(f"invalid {field}={shown}: {rule}", vendor=vendor)


class AuthError(VoiceProviderError):
    """The vendor refused the credentials (HTTP 401/403 or an auth status code). Never retried.

    :param message: human readable text.
    :param status_code: the HTTP status, when the refusal came with one.
    :param vendor_code: the vendor's own code for the refusal, when it gives one.
    :param vendor: the vendor, when known (see :class:`VoiceProviderError`).
    :param endpoint: the vendor endpoint being called, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        vendor_code: str | None = None,
        vendor: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.status_code = status_code
        self.vendor_code = redact_value(vendor_code)


class VendorRejectedError(VoiceProviderError):
    """The vendor understood the request and refused it.

    :param vendor_code: the vendor's own code (Velip ``status_code``, Kaleyra ``E542``, Octopush ``442``...).
    :param vendor_message: the vendor's message.
    :param field_errors: per-field errors when the vendor gives them (Octopush ``errors``).
    :param status_code: the HTTP status.
    :param payload: the vendor's body (values under credential keys such as ``x-api-key`` are masked).
    :param vendor: the vendor, when known (see :class:`VoiceProviderError`).
    :param endpoint: the vendor endpoint being called, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        vendor_code: str | None = None,
        vendor_message: str | None = None,
        field_errors: Mapping[str, Mapping[str, Any]] | None = None,
        status_code: int | None = None,
        payload: Any = None,
        vendor: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.vendor_code = redact_value(vendor_code)
        self.vendor_message = redact_value(vendor_message)
        self.field_errors: Mapping[str, Mapping[str, Any]] = redact_value(dict(field_errors or {}))
        self.status_code = status_code
        self.payload = redact_value(payload)


class RateLimitedError(VoiceProviderError):
    """HTTP 429 (or 408) after all retries; ``retry_after`` is the vendor's hint in seconds.

    :param message: human readable text.
    :param retry_after: seconds the vendor asked to wait (``Retry-After``), if it said.
    :param status_code: the HTTP status (429 or 408).
    :param vendor: the vendor, when known (see :class:`VoiceProviderError`).
    :param endpoint: the vendor endpoint being called, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int = 429,
        vendor: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.retry_after = retry_after
        self.status_code = status_code


class ServerError(VoiceProviderError):
    """HTTP 5xx from the vendor.

    :param message: human readable text.
    :param status_code: the HTTP status.
    :param vendor: the vendor, when known (see :class:`VoiceProviderError`).
    :param endpoint: the vendor endpoint being called, when known.
    """

    def __init__(
        self, message: str, *, status_code: int, vendor: str | None = None, endpoint: str | None = None
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.status_code = status_code


class TransportError(VoiceProviderError):
    """The exchange failed below HTTP (connection refused/reset, DNS, TLS...).

    ``may_have_been_accepted`` is True when the request may have reached the vendor (the
    connection broke after the request was written): such a request is never resent blindly.

    :param message: human readable text.
    :param may_have_been_accepted: whether the request may have reached the vendor.
    :param vendor: the vendor, when known (see :class:`VoiceProviderError`).
    :param endpoint: the vendor endpoint being called, when known.
    """

    def __init__(
        self, message: str, *, may_have_been_accepted: bool, vendor: str | None = None, endpoint: str | None = None
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.may_have_been_accepted = may_have_been_accepted


class RequestTimeoutError(TransportError):
    """No answer in time. After a write, the vendor may have accepted the request."""


class MalformedResponseError(VoiceProviderError):
    """The vendor answered with a body that does not match its documented shape (or is too big).

    A 2xx answer of this kind is never taken as a success: after a write, the request is in doubt.

    :param status_code: the HTTP status of the answer, when one was received.
    :param excerpt: the start of the body (at most ~200 characters), secrets and phone numbers masked.
    :param vendor: the vendor, when known (see :class:`VoiceProviderError`).
    :param endpoint: the vendor endpoint being called, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        excerpt: str | None = None,
        vendor: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor, endpoint=endpoint)
        self.status_code = status_code
        self.excerpt = redact_value(excerpt)


class CapabilityNotSupportedError(VoiceProviderError):
    """The connection's vendor cannot do what was asked; the message names the vendors that can."""
