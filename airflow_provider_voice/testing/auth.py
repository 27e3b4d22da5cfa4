"""Credential checks shared by the vendor simulators."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit


def secrets_equal(given: str | None, expected: str) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def authorization_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <t>`` or a bare ``<t>``."""
    if header is None:
        return None
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


def is_loopback_host(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if not host:
        return False
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | None) -> bool:
    """True for an http(s) URL whose host is loopback (the only URLs the simulator calls)."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname)
