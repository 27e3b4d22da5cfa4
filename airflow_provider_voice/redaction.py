"""Keeping secrets secret and phone numbers partially hidden.

* :func:`register_secret` records an API key or token: it is handed to Airflow's secrets masker
  (when Airflow's Task SDK is importable) and replaced by ``***`` in every log line that passes
  through :class:`RedactingFilter` and in every error the provider raises.
* :func:`redact` removes registered secrets and any value written next to a credential name
  (``tsid='…'``, ``tsid="…"``, ``x-api-key: …``, ``"api_key": "…"``, ``token=…``,
  ``Authorization: Bearer …``, ``https://user:password@host``), registered or not.
* :func:`redact_value` does the same through dicts, lists and tuples (values under a credential
  key are replaced whole): the error classes store vendor payloads through it.
* :func:`mask_phone` shows a phone number as country code + last digits (``+33*******78``);
  :func:`mask_phones` masks, in free text, only what *parses* as a phone number (E.164 with or
  without ``+``, national forms of the regions in :data:`PHONE_REGIONS`), and leaves dates, times,
  ISO timestamps, IP addresses, paths and URLs, UUIDs, version strings and byte counts readable.
* :func:`get_logger` returns a logger carrying the filter; the provider's modules log through it.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, overload

from pydantic import AfterValidator, PlainSerializer, SecretStr

__all__ = [
    "PHONE_REGIONS",
    "RedactingFilter",
    "VendorSecret",
    "get_logger",
    "is_secret_name",
    "mask_phone",
    "mask_phones",
    "redact",
    "redact_value",
    "register_secret",
]

_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
_secrets_re: re.Pattern[str] | None = None

# -- credentials ------------------------------------------------------------------------------
#: a name (header, JSON key, query parameter, keyword) whose value is always a credential
_SECRET_NAME = (
    r"(?:proxy-authorization|authorization|x-api-key"
    r"|[\w-]*?(?:api[-_]?key|apikey|api[-_]login|token|tsid|secret|password|passwd))"
)
_SECRET_NAME_RE = re.compile(_SECRET_NAME, re.IGNORECASE)
_SCHEME = r"(?:bearer|basic|token)\s+"
# name=value, name: value, name='value', name="value", "name": "value", name => value (also \"-escaped)
_PAIR_RE = re.compile(
    rf"""(?ix)
    (?<![\w-])
    (?P<pre>(?P<q>\\?["']?)(?P<name>{_SECRET_NAME})(?P=q)\s*(?:=>|[:=])\s*)
    (?:
        (?P<vq>\\?["'])(?P<vs1>{_SCHEME})?(?P<v1>(?:(?!(?P=vq)).)*)(?P=vq)
      | (?P<vs2>{_SCHEME})?(?P<v2>[^\s"',;&(){{}}\[\]<>][^\s"',;&)\]}}>]*)
    )
    """
)
# ('x-api-key', 'value') as in a repr of header tuples
_TUPLE_RE = re.compile(
    rf"""(?ix)(?P<pre>(?P<q>["'])(?P<name>{_SECRET_NAME})(?P=q)\s*,\s*)(?P<vq>["'])(?P<v>(?:(?!(?P=vq)).)*)(?P=vq)"""
)
_BEARER_RE = re.compile(r"(?i)(?<![\w-])(?P<s>bearer\s+)(?P<v>[\w\-.~+/]{4,}=*)")
_USERINFO_RE = re.compile(r"(?i)(?P<pre>[a-z][a-z0-9+.\-]*://[^/\s:@]+:)(?P<v>[^/\s@]+)(?=@)")


def is_secret_name(name: Any) -> bool:
    """Whether ``name`` (a header, key or parameter name) holds a credential (``tsid``, ``x-api-key``...)."""
    return isinstance(name, str) and _SECRET_NAME_RE.fullmatch(name.strip()) is not None


def register_secret(value: str | None) -> None:
    """Record ``value`` as a secret: it is masked in logs, errors and Airflow's masker from now on.

    :param value: the credential; values shorter than 4 characters are ignored (they would mask
        ordinary text). Its URL-encoded form is recorded too.
    """
    global _secrets_re
    if not isinstance(value, str) or len(value) < 4:
        return
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))
    _tell_airflow(value)


def _registered(value: SecretStr) -> SecretStr:
    register_secret(value.get_secret_value())
    return value


#: pydantic field type of a credential a vendor *returns* (Velip ``GetUserID`` ``tsid``): registered
#: with the secrets masker as soon as it is parsed, shown as ``SecretStr('**********')`` by ``repr``
#: and ``str``, dumped as ``"***"`` (``model_dump()``, JSON, XCom); read it with ``.get_secret_value()``
VendorSecret = Annotated[SecretStr, AfterValidator(_registered), PlainSerializer(lambda _: _MASK, return_type=str)]

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


def _pair_sub(match: re.Match[str]) -> str:
    if match.group("vq") is not None:
        if not match.group("v1"):
            return match.group(0)
        quote = match.group("vq")
        return f"{match.group('pre')}{quote}{match.group('vs1') or ''}{_MASK}{quote}"
    if match.group("v2") == _MASK:
        return match.group(0)
    return f"{match.group('pre')}{match.group('vs2') or ''}{_MASK}"


def redact(text: str, *, phones: bool = False) -> str:
    """Remove registered secrets and credential-looking values from ``text``.

    :param text: any text (a message, a response excerpt, a repr).
    :param phones: also mask phone numbers (:func:`mask_phones`; used for log lines).
    """
    if not isinstance(text, str):
        text = str(text)
    pattern = _secrets_re
    if pattern is not None:
        text = pattern.sub(_MASK, text)
    text = _PAIR_RE.sub(_pair_sub, text)
    text = _TUPLE_RE.sub(
        lambda m: f"{m.group('pre')}{m.group('vq')}{_MASK}{m.group('vq')}" if m.group("v") else m.group(0), text
    )
    text = _BEARER_RE.sub(lambda m: m.group(0) if m.group("v") == _MASK else f"{m.group('s')}{_MASK}", text)
    text = _USERINFO_RE.sub(lambda m: f"{m.group('pre')}{_MASK}", text)
    if phones:
        text = mask_phones(text)
    return text


_MAX_DEPTH = 20


@overload
def redact_value(value: str, *, _depth: int = 0) -> str: ...
@overload
def redact_value(value: None, *, _depth: int = 0) -> None: ...
@overload
def redact_value(value: Any, *, _depth: int = 0) -> Any: ...
def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """``value`` without secrets: strings through :func:`redact`, mappings, lists and tuples walked
    (a value under a credential key such as ``"x-api-key"`` or ``"tsid"`` becomes ``"***"``).

    Values with nothing to hide are returned unchanged (the same object).

    :param value: a string, a JSON-like structure, or any other object (returned as is).
    """
    if _depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        cleaned = redact(value)
        return value if cleaned == value else cleaned
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        cleaned = redact(text)
        return value if cleaned == text else cleaned.encode("utf-8")
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            if is_secret_name(key) and item not in (None, "", _MASK):
                new: Any = _MASK
            else:
                new = redact_value(item, _depth=_depth + 1)
            changed = changed or new is not item
            out[key] = new
        if not changed:
            return value
        mapping_class: Any = type(value)  # any Mapping class: its constructor is tried, else a dict
        try:
            return mapping_class(out)  # keep dict subclasses (httpx.Headers is not a Mapping subclass here)
        except Exception:
            return out
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and is_secret_name(value[0]) and value[1] not in (None, "", _MASK):
            pair_class: Any = type(value)  # list, tuple or a subclass built from an iterable
            return pair_class([value[0], _MASK])  # a (name, value) header pair
        items = [redact_value(item, _depth=_depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items) if isinstance(value, list) else tuple(items)
    return value


# -- phone numbers ----------------------------------------------------------------------------
#: regions whose national forms (``(415) 555-2671``, ``06 12 34 56 78``...) are recognised in log
#: text; set ``AIRFLOW_PROVIDER_VOICE_PHONE_REGIONS=US,IN,...`` to change them
PHONE_REGIONS: tuple[str, ...] = tuple(
    r.strip().upper()
    for r in os.environ.get("AIRFLOW_PROVIDER_VOICE_PHONE_REGIONS", "US,IN,BR,FR,GB").split(",")
    if r.strip()
)

# spans that are never phone numbers: hidden before looking for numbers
_PROTECTED_RE = re.compile(
    r"""(?xi)
      [a-z][a-z0-9+.\-]*://[^\s?#"'<>]*                                # URL (its query string is still scanned)
    | (?<![\w.])(?:~|\.{1,2})?(?:/[\w.\-~@%]+)+/?                       # absolute / relative path
    | (?<![\w.])[a-z]:\\[^\s"'<>]*                                      # Windows path
    | [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}       # UUID
    | (?<![\d+])\d{4}-\d{1,2}-\d{1,2}
        (?:[T\ _]\d{1,2}(?::\d{2}){1,2}(?:[.,]\d+)?)?
        (?:\ ?(?:Z|[+-]\d{2}(?::?\d{2})?)(?!\d))?                       # ISO date / timestamp
    | (?<![\d+])\d{8}T\d{4,6}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?         # ISO basic timestamp
    | (?<![\d+])(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])
        (?:[T_\-]?\d{2,6})?(?!\d)                                       # compact date(-time) 20261201[1030]
    | (?<![\d./\-])(?:\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}
        |\d{4}[./]\d{1,2}[./]\d{1,2})(?![\d./\-])                        # 01/12/2026, 14-03-2026, 2026.12.01
    | (?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?
        (?:\ ?[ap]\.?m\.?)?(?:\ ?(?:Z|[+-]\d{2}:?\d{2}))?(?!\d)          # times, with a zone
    | (?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\d.])            # IPv4 (and port)
    | (?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])             # IPv6
    """
)
# a phone-shaped run: optional + (or URL-encoded %2B), digit groups with single separators,
# parenthesised area codes; never glued to a word, a path, a version or a longer number
_CANDIDATE_RE = re.compile(
    r"""(?x)
    (?<![\w.\-/\\+%@#])
    (?P<num>
        (?:(?:\+|%2[Bb])\ ?)?
        (?:\(\d{1,5}\)|\d+)
        (?:(?:[\ .\-]|\ ?(?=\()|(?<=\))\ ?)(?:\(\d{1,5}\)|\d+))*
    )
    (?!\w|[.\-]?\d|[/\\])
    """
)
# words after a number that make it a count or a size
_UNIT_AFTER_RE = re.compile(
    r"""(?ix)\ ?(?:bytes?|octets?|[kmgtp]i?b|b|bits?|ms|us|µs|ns|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?
    |rows?|records?|lines?|items?|entries|frames?|chunks?|pages?|chars?|characters|x|times)\b|\ ?%"""
)
# words before a number that make it a count, a size or a clock value
_LABEL_BEFORE_RE = re.compile(
    r"(?i)\b(?:bytes|size|length|offset|epoch|timestamp|ts|pid|port|duration|elapsed|count|total)\s*[:=]?\s*$"
)
_PHONE_MIN_DIGITS = 8
_PHONE_MAX_DIGITS = 15


def mask_phone(number: str) -> str:
    """Mask a phone number, keeping the country code (when it starts with ``+``) and the last 2 digits.

    >>> mask_phone("+33612345678")
    '+33*******78'

    :param number: a phone number in any written form.
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


def _parsed(text: str, region: str | None) -> Any:
    import phonenumbers

    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _valid(text: str, region: str | None = None) -> bool:
    import phonenumbers

    parsed = _parsed(text, region)
    return parsed is not None and phonenumbers.is_valid_number(parsed)


def _possible(text: str) -> bool:
    import phonenumbers

    parsed = _parsed(text, None)
    return (
        parsed is not None
        and phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE
    )


def _is_phone(candidate: str) -> bool:
    """Whether a phone-shaped run really is a phone number (see :func:`mask_phones`)."""
    text = candidate.strip()
    digits = re.sub(r"\D", "", text)
    international = text.startswith("+") or text[:3].upper() == "%2B"
    if text.startswith("00") and not international and len(digits) > 10:
        international, digits = True, digits[2:]
    if not _PHONE_MIN_DIGITS <= len(digits) <= _PHONE_MAX_DIGITS:
        return False
    if international:  # written as E.164: a phone when its length fits its country
        return _valid("+" + digits) or _possible("+" + digits)
    separators = set(re.sub(r"[\d()]", "", text))
    groups = re.findall(r"\d+", text)
    if len(groups) > 1 and len(groups[-1]) == 1:  # an id with a counter (Kaleyra ``217691534-1``)
        return False
    if separators == {"."} and (
        len(groups) == 2  # a decimal number
        or (len(groups) == 4 and all(len(g) <= 3 for g in groups))  # an IPv4 address
        or any(len(g) == 1 for g in groups)  # a version string (10.0.19041.1237)
    ):
        return False
    bare = text.isdigit()
    leading_zero = digits.startswith("0")
    # digits that already carry the country code (Velip, Kaleyra, TeleVoIPs send numbers like this)
    if not leading_zero and len(digits) >= 10:
        if _valid("+" + digits) or (len(digits) >= 11 and _possible("+" + digits)):
            return True
    if bare and not leading_zero:
        # a bare national number: 10-digit North American or Indian mobile only (ids and sizes stay)
        if len(digits) != 10 or digits[0] == "1":
            return False
        import phonenumbers

        if _valid(digits, "US"):
            return True
        parsed = _parsed(digits, "IN")
        return (
            parsed is not None
            and phonenumbers.is_valid_number(parsed)
            and phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        )
    if len(digits) < 9:
        return False
    return any(_valid(text, region) for region in PHONE_REGIONS)


def _shadow(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with the protected spans (dates, paths, IPs...) blanked out, and those spans."""
    spans = [m.span() for m in _PROTECTED_RE.finditer(text) if m.end() > m.start()]
    if not spans:
        return text, spans
    chars = list(text)
    for start, end in spans:
        chars[start:end] = "x" * (end - start)
    return "".join(chars), spans


def mask_phones(text: str) -> str:
    """Mask every phone number in free text, and nothing else.

    A phone-shaped run is masked when it parses as a phone number: ``+`` / ``%2B`` / ``00`` then a
    number whose length fits its country; digits that carry a country code and form a valid number
    (``5511987654321``); a 10-digit North-American number or Indian mobile; a national form with
    separators or a trunk ``0`` valid in one of :data:`PHONE_REGIONS` (``(415) 555-2671``,
    ``06 12 34 56 78``). Dates, times, ISO timestamps, IP addresses, paths and URLs (their query
    strings are scanned), UUIDs, version strings, decimals and numbers labelled as sizes, counts
    or durations (``1048576 bytes``, ``size=…``) are left as they are.

    :param text: a log line or any free text.
    """
    if not any(ch.isdigit() for ch in text):
        return text
    shadow, spans = _shadow(text)
    starts = [s for s, _ in spans]
    out: list[str] = []
    last = 0
    for match in _CANDIDATE_RE.finditer(shadow):
        start, end = match.span("num")
        for piece_start, piece_end in _pieces(shadow, start, end):
            original = text[piece_start:piece_end]
            stripped = original.rstrip()
            piece_end = piece_start + len(stripped)
            if _protected(starts, spans, piece_start, piece_end) or _labelled(text, piece_start, piece_end):
                continue
            if _is_phone(stripped):
                out.append(text[last:piece_start])
                out.append(
                    mask_phone(stripped.replace("%2B", "+").replace("%2b", "+")).replace("+", _plus(stripped), 1)
                )
                last = piece_end
    out.append(text[last:])
    return "".join(out)


def _plus(original: str) -> str:
    return original[:3] if original[:3].upper() == "%2B" else "+"


def _pieces(shadow: str, start: int, end: int) -> Iterable[tuple[int, int]]:
    """The run itself, or its space-separated parts when it is longer than any phone number
    (``33612345678 33698765432``: two numbers in a list)."""
    run = shadow[start:end]
    if len(re.sub(r"\D", "", run)) <= _PHONE_MAX_DIGITS or " " not in run:
        return [(start, end)]
    parts = []
    for part in re.finditer(r"\S+", run):
        parts.append((start + part.start(), start + part.end()))
    return parts


def _protected(starts: list[int], spans: list[tuple[int, int]], start: int, end: int) -> bool:
    index = bisect.bisect_right(starts, end) - 1
    while index >= 0:
        span_start, span_end = spans[index]
        if span_end <= start:
            return False
        if span_start < end:
            return True
        index -= 1
    return False


def _labelled(text: str, start: int, end: int) -> bool:
    """A number followed by a unit (``1048576 bytes``) or preceded by a size/clock label (``size=…``)."""
    if text[start:end].lstrip()[:1] in ("+", "%"):
        return False
    return bool(_UNIT_AFTER_RE.match(text, end)) or bool(_LABEL_BEFORE_RE.search(text[max(0, start - 24) : start]))


class RedactingFilter(logging.Filter):
    """Logging filter that rewrites each record's message without secrets (and with masked phones).

    :param mask_phones: mask phone numbers (default True; set the environment variable
        ``AIRFLOW_PROVIDER_VOICE_SHOW_PHONES=1`` to see them in full while debugging).
    """

    def __init__(self, mask_phones: bool | None = None) -> None:
        super().__init__()
        if mask_phones is None:
            mask_phones = os.environ.get("AIRFLOW_PROVIDER_VOICE_SHOW_PHONES", "") not in ("1", "true", "True")
        self.mask_phones = mask_phones

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it.

        :param record: the log record.
        """
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
    """A logger whose records are redacted before any handler sees them.

    :param name: the logger name (``__name__``).
    """
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def _protect(names: Iterable[str]) -> None:
    for name in names:
        get_logger(name)


# httpx/httpcore log request lines (URLs may carry numbers in query strings); httpx2/httpcore2, their
# successors (starlette's TestClient prefers them; openlineage-python brings them), log the same lines
_protect(["httpx", "httpcore", "httpx2", "httpcore2"])
