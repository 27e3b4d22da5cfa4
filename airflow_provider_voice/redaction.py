"""Keeping secrets secret and phone numbers partially hidden.

* :func:`register_secret` records an API key or token: it is handed to Airflow's secrets masker
  (when Airflow's Task SDK is importable) and replaced by ``***`` in every log line that passes
  through :class:`RedactingFilter` and in every error message built by the provider.
* :func:`mask_phone` shows a phone number as country code + last digits (``+33******78``).
* :func:`get_logger` returns a logger carrying the filter; the provider's modules log through it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["RedactingFilter", "get_logger", "mask_phone", "redact", "register_secret"]

_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None

# header-like "name: value" / "name=value" pairs whose value is always a credential
_AUTH_PAIR_RE = re.compile(
    r"(?i)\b(authorization|x-api-key|api[-_]key|api[-_]login|tsid|bearer)(\"?\s*[:=]\s*\"?|\s+)(?:bearer\s+)?([^\s\"',&;]+)"
)
# a phone-looking run: optional +, 8 to 15 digits, maybe with single spaces/dashes/dots inside
_PHONE_RE = re.compile(r"(?<![\w.])\+?\d(?:[ \-.]?\d){7,14}(?![\w])")


def register_secret(value: str | None) -> None:
    """Record ``value`` as a secret: it is masked in logs and error messages from now on."""
    global _secrets_re
    if not value or len(value) < 4:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))
    _tell_airflow(value)


_pending: set[Any] = set()


def _tell_airflow(value: str) -> None:
    """Hand ``value`` to Airflow's secrets masker (task logs, rendered fields, XCom display).

    Inside an event loop (a trigger) the supervisor must be told asynchronously: the sync call can
    raise ``DeadlockImminentError`` there, so the local masker is updated at once and
    ``amask_secret`` is scheduled on the loop.
    """
    try:
        from airflow.sdk import log as sdk_log
    except Exception:  # Airflow absent (plain vendor-client use): our filter still applies
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        sdk_log.mask_secret(value)
        return
    sdk_log._secrets_masker().add_mask(value, None)
    task = loop.create_task(sdk_log.amask_secret(value))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def mask_phone(number: str) -> str:
    """Mask a phone number, keeping the country code (when it starts with ``+``) and the last 2 digits.

    >>> mask_phone("+33612345678")
    '+33*******78'
    """
    digits = re.sub(r"\D", "", number)
    if len(digits) < 5:
        return _MASK
    keep_head = 0
    if number.strip().startswith("+"):
        keep_head = _country_code_length(digits)
    head = ("+" if keep_head else "") + digits[:keep_head]
    return head + "*" * (len(digits) - keep_head - 2) + digits[-2:]


def _country_code_length(digits: str) -> int:
    import phonenumbers

    for size in (1, 2, 3):
        if phonenumbers.region_code_for_country_code(int(digits[:size])) != "ZZ":
            return size
    return 1


def redact(text: str, *, phones: bool = False) -> str:
    """Remove registered secrets and credential-looking header values from ``text``.

    With ``phones=True`` phone-number-looking runs are masked too (used for log lines).
    """
    pattern = _secrets_re
    if pattern is not None:
        text = pattern.sub(_MASK, text)
    text = _AUTH_PAIR_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)
    if phones:
        text = _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)
    return text


class RedactingFilter(logging.Filter):
    """Logging filter that rewrites each record's message without secrets (and with masked phones).

    :param mask_phones: mask phone numbers (default True; set the environment variable
        ``AIRFLOW_PROVIDER_VOICE_SHOW_PHONES=1`` to see them in full while debugging).
    """

    def __init__(self, mask_phones: bool | None = None) -> None:
        super().__init__()
        if mask_phones is None:
            import os

            mask_phones = os.environ.get("AIRFLOW_PROVIDER_VOICE_SHOW_PHONES", "") not in ("1", "true", "True")
        self.mask_phones = mask_phones

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logger's problem, not ours
            return True
        cleaned = redact(message, phones=self.mask_phones)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    """A logger whose records are redacted before any handler sees them."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def _protect(names: Iterable[str]) -> None:
    for name in names:
        get_logger(name)


# httpx/httpcore log request lines (URLs may carry numbers in query strings)
_protect(["httpx", "httpcore"])
