"""Kaleyra OBD (outbound dialling): ``voice.call``, ``voice.json``, ``voice.status``, ``voice.groupstatus``.

These methods go to the ``obd`` base URL (``https://obd.kaleyra.com/api/v1/`` by default,
configurable per connection). Answers are parsed alike in JSON and XML. Limits checked before
sending: at most 200 numbers per ``voice.call``, ``retries`` 0-2, ``delay`` <= 900 s,
``scheduletime`` at least 15 minutes ahead and at most 60 days ahead (sent as EPOCH seconds,
which carries no time-zone doubt), ``play`` or ``message`` required.

Kaleyra documents no idempotency key: ``voice.call`` / ``voice.json`` are never resent after an
ambiguous failure, and a lost answer leaves the request in doubt (``voice.groupstatus`` needs the
group id that answer carried).
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.kaleyra.api_core import KaleyraCore, KaleyraReply, records

__all__ = [
    "KALEYRA_MAX_NUMBERS",
    "KaleyraObdCall",
    "KaleyraObdEndpoints",
    "KaleyraObdResult",
    "kaleyra_number",
    "kaleyra_numbers",
    "kaleyra_schedule",
]

KALEYRA_MAX_NUMBERS = 200
MIN_SCHEDULE_SECONDS = 15 * 60
MAX_SCHEDULE_SECONDS = 60 * 86400
NUMBER_RE = re.compile(r"^\+?\d{10,15}$")
#: a comma-joined list of numbers that :data:`NUMBER_RE` accepts one by one
NUMBERS_RE = re.compile(r"\+?\d{10,15}(?:,\+?\d{10,15})*")


class KaleyraObdCall(BaseModel):
    """One OBD call: ``id`` (``<group>-<n>``), ``mobile``, ``status`` (SENT, COMPLETED, NOANSWER,
    BUSY, FAILED, CONGESTION, CHANUNAVAIL, DND...) and ``senttime``."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    id: str | None = None
    mobile: str = ""
    status: str = ""
    senttime: str | None = None


class KaleyraObdResult(BaseModel):
    """Answer of ``voice.call`` / ``voice.json`` / ``voice.status`` / ``voice.groupstatus``:
    the group id (when given) and the calls."""

    model_config = ConfigDict(extra="allow")

    group_id: str | None = None
    calls: list[KaleyraObdCall] = Field(default_factory=list)
    message: str = ""


def _result(reply: KaleyraReply) -> KaleyraObdResult:
    """The calls and group id of an OBD answer; a 200 that names neither is malformed (never "all accepted")."""
    data = reply.data
    if not isinstance(data, (Mapping, list)):
        raise MalformedResponseError("OBD answer has no 'data' (call ids)", vendor="kaleyra", endpoint="voice")
    group_id = data.get("group_id") if isinstance(data, Mapping) else None
    if group_id in (None, ""):
        group_id = None
    elif isinstance(group_id, bool) or not isinstance(group_id, (str, int)):
        raise MalformedResponseError("OBD answer's group_id is not an id", vendor="kaleyra", endpoint="voice")
    rows = [row for row in records(data, "voice") if "mobile" in row or "id" in row]
    for row in rows:
        if row.get("id") in (None, "") or row.get("status") in (None, ""):
            raise MalformedResponseError(
                "OBD answer has a call without id or status", vendor="kaleyra", endpoint="voice"
            )
    if group_id is None and not rows:
        raise MalformedResponseError("OBD answer names no call and no group_id", vendor="kaleyra", endpoint="voice")
    return KaleyraObdResult.model_validate(
        {"group_id": None if group_id is None else str(group_id), "calls": rows, "message": reply.message}
    )


def kaleyra_number(value: Any, field: str = "numbers") -> str:
    """A number as Kaleyra wants it (10 digits for India, country code + number elsewhere).

    A ``PhoneNumber`` or a ``+E.164`` string is rendered that way; bare digits are sent as given."""
    text = getattr(value, "kaleyra", None) or str(value).strip()
    if text.startswith("+"):
        try:
            text = PhoneNumber.parse(text).kaleyra
        except ValidationError:
            pass
    if not NUMBER_RE.match(text):
        raise ValidationError(field, value, "10 to 15 digits (10-digit mobile number for India)")
    return text


def kaleyra_numbers(values: Iterable[Any], field: str) -> list[str]:
    """:func:`kaleyra_number` of each of ``values`` (blank ones left out), faster for ``PhoneNumber``
    objects (a campaign's recipients): rendered without a call per number, then checked at once.

    :param values: numbers (``PhoneNumber`` objects, ``+E.164`` strings, bare digits).
    :param field: the argument name in errors.
    :raises ValidationError: a number Kaleyra does not take (named as :func:`kaleyra_number` would).
    """
    values = list(values)
    rendered: list[str] = []
    for value in values:
        if isinstance(value, PhoneNumber):  # valid E.164: India -> 10-digit national number, else digits
            rendered.append(value.kaleyra if value.startswith("+91") else value[1:])
        elif str(value).strip():
            rendered.append(kaleyra_number(value, field))
    if rendered and not NUMBERS_RE.fullmatch(",".join(rendered)):
        for value in values:  # name the first number that does not fit
            if isinstance(value, PhoneNumber) or str(value).strip():
                kaleyra_number(value, field)
    return rendered


def kaleyra_schedule(
    value: datetime | float | int | str | None, *, now: float | None = None, margin: float = 0.0
) -> int | None:
    """``scheduletime`` as EPOCH seconds, checked: >= 15 minutes (+ ``margin``) and <= 60 days ahead."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        when = float(value)
    elif isinstance(value, str) and value.strip().isdigit():
        when = float(value.strip())
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise ValidationError("scheduletime", value, "EPOCH seconds, an ISO 8601 date-time or a datetime") from None
        when = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
    else:
        raise ValidationError("scheduletime", value, "EPOCH seconds, an ISO 8601 date-time or a datetime")
    current = time.time() if now is None else now
    ahead = when - current
    if ahead < MIN_SCHEDULE_SECONDS + margin:
        minutes = ahead / 60
        raise ValidationError(
            "scheduletime",
            value,
            f"Kaleyra needs at least {(MIN_SCHEDULE_SECONDS + margin) / 60:.0f} minutes ahead (got {minutes:.1f} minutes)",
        )
    if ahead > MAX_SCHEDULE_SECONDS:
        raise ValidationError("scheduletime", value, "Kaleyra accepts at most 2 months ahead (60 days)")
    return int(when)


def _check_common(retries: int | None, delay: int | None, play: str | None, message: str | None) -> None:
    if retries is not None and not 0 <= int(retries) <= 2:
        raise ValidationError("retries", retries, "0 to 2")
    if delay is not None and not 0 <= int(delay) <= 900:
        raise ValidationError("delay", delay, "0 to 900 seconds")
    if not (play or message):
        raise ValidationError("play", play, "give a sound file / IVR reference (play) or a text message")


def _meta(meta: Any) -> str | None:
    if meta is None:
        return None
    return meta if isinstance(meta, str) else jsonlib.dumps(meta, separators=(",", ":"))


class KaleyraObdEndpoints(KaleyraCore):
    """Kaleyra OBD methods (``voice.call``, ``voice.json``, ``voice.status``, ``voice.groupstatus``) on the ``obd`` base URL."""

    @endpoint
    def voice_call(
        self,
        numbers: Iterable[Any] | None = None,
        *,
        group: str | None = None,
        play: str | None = None,
        message: str | None = None,
        retries: int | None = None,
        campaign: str | None = None,
        newgroup: bool | None = None,
        scheduletime: datetime | float | int | str | None = None,
        delay: int | None = None,
        meta: Mapping[str, Any] | str | None = None,
        custom: str | Iterable[str] | None = None,
        callback: str | None = None,
    ) -> Call[KaleyraObdResult]:
        """``voice.call``: one message (``play`` sound/IVR or ``message`` text, English) to up to 200
        ``numbers`` (or a contact ``group``). ``custom``: one reference, or one per number.
        Never resent after an ambiguous failure. Returns :class:`KaleyraObdResult`."""
        if group is None:
            rendered = [kaleyra_number(n, f"numbers[{i}]") for i, n in enumerate(numbers or [])]
            if not rendered:
                raise ValidationError("numbers", [], "at least one number (or a group)")
            if len(rendered) > KALEYRA_MAX_NUMBERS:
                raise ValidationError(
                    "numbers", f"<{len(rendered)} numbers>", f"at most {KALEYRA_MAX_NUMBERS} per voice.call"
                )
        else:
            rendered = []
        _check_common(retries, delay, play, message)
        fields = {
            "numbers": ",".join(rendered) or None,
            "group": group,
            "play": play,
            "message": message,
            "retries": retries,
            "campaign": campaign,
            "newgroup": None if newgroup is None else int(bool(newgroup)),
            "scheduletime": kaleyra_schedule(scheduletime),
            "delay": delay,
            "meta": _meta(meta),
            "custom": custom if custom is None or isinstance(custom, str) else ",".join(custom),
            "callback": callback,
        }
        return self.method_call("voice.call", fields, parse=_result, base="obd", idempotent=False)

    @endpoint
    def voice_json(
        self,
        calls: Iterable[Mapping[str, Any]],
        *,
        play: str | None = None,
        message: str | None = None,
        campaign: str | None = None,
        scheduletime: datetime | float | int | str | None = None,
        callback: str | None = None,
        retries: int | None = None,
        delay: int | None = None,
    ) -> Call[KaleyraObdResult]:
        """``voice.json``: different messages to different numbers in one request.

        ``calls`` items: ``{"to": [numbers] or "n1,n2", "play"/"message", "custom", "meta", "callback",
        "retries"}`` or ``{"group": ...}``; top-level ``play``/``message``/``campaign``/``scheduletime``/
        ``callback``/``retries`` apply to every item that does not set its own. Never resent after an
        ambiguous failure. Returns :class:`KaleyraObdResult` (call ids and ``group_id``)."""
        items: list[dict[str, Any]] = []
        total = 0
        for position, raw in enumerate(calls):
            item = {k: v for k, v in dict(raw).items() if v is not None}
            to = item.get("to")
            if to is not None:
                values = to.split(",") if isinstance(to, str) else list(to)
                rendered = kaleyra_numbers(values, f"calls[{position}].to")
                if not rendered:
                    raise ValidationError(f"calls[{position}].to", to, "at least one number")
                total += len(rendered)
                item["to"] = ",".join(rendered)
            elif "group" not in item:
                raise ValidationError(f"calls[{position}].to", None, "each call needs 'to' numbers or a 'group'")
            _check_common(item.get("retries", retries), None, item.get("play", play), item.get("message", message))
            if "custom" in item and not isinstance(item["custom"], str):
                item["custom"] = ",".join(item["custom"])
            items.append(item)
        if not items:
            raise ValidationError("calls", [], "at least one call")
        _check_common(retries, delay, "-", None)
        body = {
            "play": play,
            "message": message,
            "campaign": campaign,
            "scheduletime": kaleyra_schedule(scheduletime),
            "callback": callback,
            "retries": retries,
            "delay": delay,
            "call": items,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return self.method_call("voice.json", parse=_result, base="obd", idempotent=False, json=body)

    @endpoint
    def voice_status(self, id: str, *, mobile: Any = None) -> Call[KaleyraObdResult]:
        """``voice.status``: status of OBD call ``id`` (``<group>-<n>``), optionally for one ``mobile``.
        A read: retried after timeouts and 5xx. Returns :class:`KaleyraObdResult`."""
        if not id:
            raise ValidationError("id", id, "the OBD call id is required")
        fields = {"id": str(id), "mobile": None if mobile is None else kaleyra_number(mobile, "mobile")}
        return self.method_call("voice.status", fields, parse=_result, base="obd", idempotent=True)

    @endpoint
    def voice_groupstatus(self, groupid: str | int, *, campaign: str | None = None) -> Call[KaleyraObdResult]:
        """``voice.groupstatus``: status of every call of OBD group ``groupid`` (optionally checked
        against its ``campaign``). A read: retried after timeouts and 5xx. Returns :class:`KaleyraObdResult`."""
        if groupid in (None, ""):
            raise ValidationError("groupid", groupid, "the OBD group id is required")
        fields = {"groupid": str(groupid), "campaign": campaign}
        return self.method_call("voice.groupstatus", fields, parse=_result, base="obd", idempotent=True)
