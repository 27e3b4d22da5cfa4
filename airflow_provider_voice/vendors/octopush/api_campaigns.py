"""Octopush Voice-SMS campaign send: ``POST /voice-campaign/send``.

Every field of the spec is supported and checked before sending (text 1-1224 characters, at most
500 recipients with ``param1..5``, sender 3-11 letters/digits, ``send_at`` ISO 8601, purpose
``alert``/``wholesale``, type ``voice_sms``, voice gender and language, the three booleans and
``request_id`` of at most 20 characters). The rules that a campaign checks earlier, under its own
argument names (:class:`~airflow_provider_voice.vendors.octopush.campaign.OctopushCampaigns`), are
the functions :func:`check_text`, :func:`check_sender`, :func:`check_voice_language` and
:func:`check_voice_gender`: each rule is written once, here.

Idempotency: with a ``request_id`` the call is marked idempotent, so the HTTP core resends it
after a timeout, a reset or a 5xx with the *same* ``request_id``; Octopush refuses a repeat within
24 h (HTTP 409 ``Duplicate request_id.`` naming the first ticket): the client raises
:class:`~airflow_provider_voice.errors.VendorRejectedError` (``status_code`` 409) and
:func:`duplicate_ticket` turns it into an :class:`OctopushDuplicateRequest` — the frame was
accepted earlier.
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from airflow_provider_voice.errors import MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call, json_body
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.octopush.api_core import OCTOPUSH_API_PREFIX, OctopushCore

__all__ = [
    "OCTOPUSH_LANGUAGES",
    "OCTOPUSH_MAX_RECIPIENTS",
    "OCTOPUSH_MAX_TEXT",
    "OCTOPUSH_PURPOSES",
    "OCTOPUSH_VOICE_GENDERS",
    "OctopushCampaignEndpoints",
    "OctopushDuplicateRequest",
    "OctopushVoiceTicket",
    "check_sender",
    "check_text",
    "check_voice_gender",
    "check_voice_language",
    "duplicate_ticket",
    "encode_recipients",
    "octopush_recipient",
]

OCTOPUSH_MAX_RECIPIENTS = 500
OCTOPUSH_MAX_TEXT = 1224
OCTOPUSH_LANGUAGES = (
    "en-US", "en-GB", "el-GR", "pl-PL", "hu-HU", "sv-SE", "de-DE", "es-ES", "es-LA", "fr-FR", "it-IT", "pt-BR", "ru-RU",
)  # fmt: skip
OCTOPUSH_VOICE_GENDERS = ("male", "female")
OCTOPUSH_PURPOSES = ("alert", "wholesale")
SENDER_RE = re.compile(r"^[A-Za-z0-9]{3,11}$")
VENDOR = "octopush"
PHONE_RE = re.compile(r"^\+\d{8,15}$")
PARAMS = tuple(f"param{i}" for i in range(1, 6))
SEND_PATH = f"{OCTOPUSH_API_PREFIX}/voice-campaign/send"
ENDPOINT = "voice-campaign/send"


class OctopushVoiceTicket(BaseModel):
    """The send answer: ``ticket_number``, ``number_of_contacts``, ``total_cost``,
    ``estimated_duration`` (seconds) and ``residual_credit``."""

    model_config = ConfigDict(extra="allow")

    ticket_number: str
    number_of_contacts: int = 0
    total_cost: float | None = None
    estimated_duration: float | None = None
    residual_credit: float | None = None
    duplicate: bool = False


class OctopushDuplicateRequest(OctopushVoiceTicket):
    """HTTP 409 ``Duplicate request_id.``: this ``request_id`` was accepted earlier (``ticket_number``
    names that ticket); nothing was sent again. Counts and cost of the first answer are unknown."""

    duplicate: bool = True


def octopush_recipient(
    item: Mapping[str, Any] | Any, position: int = 0, params: Mapping[str, str] | None = None
) -> dict[str, str]:
    """One ``recipients[]`` entry: ``{"phone_number": "+E164", "param1".."param5"}``.

    ``item`` is a dict with ``phone_number`` (and ``param1..5``), a
    :class:`~airflow_provider_voice.models.Recipient` (``params`` maps ``param1..5`` to variable
    names; by default variables named ``param1..5`` are sent) or a number.
    """
    number_attr = getattr(item, "number", None)
    if isinstance(number_attr, PhoneNumber) and not isinstance(item, Mapping):  # fast path: a validated Recipient
        out = {"phone_number": number_attr.e164}
        variables = item.variables
        if variables:
            for slot in PARAMS:
                value = variables.get((params or {}).get(slot, slot))
                if value not in (None, ""):
                    out[slot] = str(value)
        return out
    if isinstance(item, Mapping):
        number: Any = item.get("phone_number", item.get("number"))
        values: Mapping[str, Any] = item
    else:
        number = getattr(item, "number", item)
        values = getattr(item, "variables", None) or {}
    phone = getattr(number, "octopush", None) or str(number).strip()
    if not PHONE_RE.match(phone):
        raise ValidationError(f"recipients[{position}].phone_number", number, "'+' and 8 to 15 digits (E.164)")
    out = {"phone_number": phone}
    for slot in PARAMS:
        source = (params or {}).get(slot, slot)
        value = values.get(source)
        if value not in (None, ""):
            out[slot] = str(value)
    return out


def encode_recipients(
    items: Iterable[Mapping[str, Any] | Any], params: Mapping[str, str] | None = None
) -> tuple[str, int]:
    """The ``recipients`` array as JSON text, and how many entries it has (:func:`octopush_recipient` each).

    Validated :class:`~airflow_provider_voice.models.Recipient` objects without ``param1..5``
    values (the usual campaign frame) are written straight from their E.164 numbers (``+`` and
    digits: nothing to escape), without a dict per recipient; any other frame goes through
    :func:`octopush_recipient` and ``json.dumps``.
    """
    items = items if isinstance(items, list) else list(items)
    numbers: list[str] = []
    for item in items:
        number = getattr(item, "number", None)
        if not isinstance(number, PhoneNumber) or isinstance(item, Mapping) or getattr(item, "variables", None):
            break
        numbers.append(number)
    else:
        if numbers:
            return '[{"phone_number":"' + '"},{"phone_number":"'.join(numbers) + '"}]', len(numbers)
    rows = [octopush_recipient(item, i, params) for i, item in enumerate(items)]
    return jsonlib.dumps(rows, ensure_ascii=False, separators=(",", ":")), len(rows)


def check_text(text: Any, field: str = "text") -> str:
    """The text read to each person: 1 to :data:`OCTOPUSH_MAX_TEXT` characters.

    :param text: the text.
    :param field: the argument name in the error (``"text"``, a campaign's ``"message"``).
    :raises ValidationError: not a string, empty or too long.
    """
    if not isinstance(text, str) or not 1 <= len(text) <= OCTOPUSH_MAX_TEXT:
        got = len(text) if isinstance(text, str) else 0
        raise ValidationError(field, text, f"1 to {OCTOPUSH_MAX_TEXT} characters (got {got})", vendor=VENDOR)
    return text


def check_sender(sender: Any, field: str = "sender") -> str | None:
    """The sender: None (the account's default) or 3 to 11 letters or digits.

    :param sender: the sender.
    :param field: the argument name in the error (``"sender"``, ``"vendor_options.sender"``).
    :raises ValidationError: any other value.
    """
    if sender is not None and not (isinstance(sender, str) and SENDER_RE.match(sender)):
        raise ValidationError(field, sender, "3 to 11 letters or digits (a-zA-Z0-9)", vendor=VENDOR)
    return sender


def check_voice_language(language: Any, field: str = "voice_language") -> str | None:
    """The voice language: None or one of :data:`OCTOPUSH_LANGUAGES`.

    :param language: the language (``fr-FR``...).
    :param field: the argument name in the error (``"voice_language"``, a campaign's ``"language"``).
    :raises ValidationError: any other value.
    """
    if language is not None and language not in OCTOPUSH_LANGUAGES:
        raise ValidationError(field, language, "one of " + ", ".join(OCTOPUSH_LANGUAGES), vendor=VENDOR)
    return None if language is None else str(language)


def check_voice_gender(gender: Any, field: str = "voice_gender") -> str | None:
    """The voice: None or one of :data:`OCTOPUSH_VOICE_GENDERS` (``male``, ``female``).

    :param gender: the voice.
    :param field: the argument name in the error (``"voice_gender"``, a campaign's ``"voice"``).
    :raises ValidationError: any other value.
    """
    if gender is not None and gender not in OCTOPUSH_VOICE_GENDERS:
        raise ValidationError(field, gender, "Octopush voices are male or female", vendor=VENDOR)
    return None if gender is None else str(gender)


def _send_at(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat(timespec="seconds")
    text = value.strip()
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValidationError("send_at", value, "an ISO 8601 date-time, e.g. 2018-10-03T07:42:39-07:00") from None
    return text


class OctopushCampaignEndpoints(OctopushCore):
    """Octopush Voice-SMS campaign send (``POST /voice-campaign/send``)."""

    @endpoint
    def send_voice_sms(
        self,
        *,
        text: str,
        recipients: Iterable[Mapping[str, Any] | Any],
        sender: str | None = None,
        send_at: datetime | str | None = None,
        purpose: str | None = "alert",
        type: str = "voice_sms",
        voice_gender: str | None = None,
        voice_language: str | None = None,
        auto_delete_optout_contacts: bool | None = None,
        get_back_pressed_keys: bool | None = None,
        simulation_mode: bool | None = None,
        request_id: str | None = None,
        params: Mapping[str, str] | None = None,
        encode_body: bool = False,
    ) -> Call[OctopushVoiceTicket]:
        """Send a Voice-SMS to 1..500 recipients (one frame of a campaign).

        :param text: the message read to each person (1-1224 characters).
        :param recipients: dicts ``{"phone_number", "param1".."param5"}``, ``Recipient`` objects or numbers.
        :param sender: 3-11 letters or digits.
        :param send_at: ISO 8601 or an aware datetime.
        :param purpose: ``alert`` or ``wholesale``.
        :param type: ``voice_sms``.
        :param voice_gender: ``male``/``female``.
        :param voice_language: one of :data:`OCTOPUSH_LANGUAGES`.
        :param request_id: idempotency key (<= 20 characters), reuse it when resending the same frame.
        :param params: ``param1..5`` -> recipient variable name (for ``Recipient`` objects).
        :param encode_body: encode the JSON body here, once (:func:`encode_recipients`), and send it as
            ``application/json`` bytes (the campaign frames' request: the same checks and fields, without
            a dict of every recipient for the HTTP client to encode); default False: ``Call.json``.
        :returns: :class:`OctopushVoiceTicket`. A repeat of an accepted ``request_id`` raises
            ``VendorRejectedError`` (409): :func:`duplicate_ticket` reads it.
        """
        check_text(text)  # before the recipients: a bad text is named first
        if encode_body:
            encoded, count = encode_recipients(recipients, params)
        else:
            rows = [octopush_recipient(item, i, params) for i, item in enumerate(recipients)]
            count = len(rows)
        body = self._voice_sms_fields(
            text=text, count=count, sender=sender, send_at=send_at, purpose=purpose, type=type,
            voice_gender=voice_gender, voice_language=voice_language,
            auto_delete_optout_contacts=auto_delete_optout_contacts, get_back_pressed_keys=get_back_pressed_keys,
            simulation_mode=simulation_mode, request_id=request_id,
        )  # fmt: skip
        if not encode_body:
            return Call(
                endpoint=ENDPOINT,
                method="POST",
                path=SEND_PATH,
                json={"text": body.pop("text"), "recipients": rows, **body},
                parse=self._ticket_parser(),
                idempotent=request_id is not None,
            )
        fields = jsonlib.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        content = ('{"recipients":' + encoded + "," + fields[1:]).encode("utf-8")  # body always has "text"
        return Call(
            endpoint=ENDPOINT,
            method="POST",
            path=SEND_PATH,
            content=content,
            headers={"Content-Type": "application/json"},
            parse=self._ticket_parser(),
            idempotent=request_id is not None,
        )

    @staticmethod
    def _voice_sms_fields(
        *,
        text: str,
        count: int,
        sender: str | None,
        send_at: datetime | str | None,
        purpose: str | None,
        type: str,
        voice_gender: str | None,
        voice_language: str | None,
        auto_delete_optout_contacts: bool | None,
        get_back_pressed_keys: bool | None,
        simulation_mode: bool | None,
        request_id: str | None,
    ) -> dict[str, Any]:
        """The checked fields of a send other than ``recipients`` (``count`` of them), None ones left out."""
        check_text(text)
        if not count:
            raise ValidationError("recipients", [], "at least one recipient")
        if count > OCTOPUSH_MAX_RECIPIENTS:
            raise ValidationError(
                "recipients", f"<{count} recipients>", f"at most {OCTOPUSH_MAX_RECIPIENTS} per request"
            )
        check_sender(sender)
        if purpose is not None and purpose not in OCTOPUSH_PURPOSES:
            raise ValidationError("purpose", purpose, "alert or wholesale")
        if type != "voice_sms":
            raise ValidationError("type", type, "voice_sms")
        check_voice_gender(voice_gender)
        check_voice_language(voice_language)
        if request_id is not None and not 1 <= len(request_id) <= 20:
            raise ValidationError("request_id", request_id, "1 to 20 characters")
        body: dict[str, Any] = {
            "text": text,
            "type": type,
            "purpose": purpose,
            "sender": sender,
            "send_at": _send_at(send_at),
            "voice_gender": voice_gender,
            "voice_language": voice_language,
            "auto_delete_optout_contacts": auto_delete_optout_contacts,
            "get_back_pressed_keys": get_back_pressed_keys,
            "simulation_mode": simulation_mode,
            "request_id": request_id,
        }
        return {k: v for k, v in body.items() if v is not None}

    def _ticket_parser(self) -> Any:
        def parse(response: httpx.Response) -> OctopushVoiceTicket:
            payload = json_body(response, vendor=self.vendor, endpoint=ENDPOINT)
            if isinstance(payload, Mapping) and "ticket_number" not in payload and "vocal_ticket" in payload:
                payload = {**payload, "ticket_number": payload["vocal_ticket"]}
            # the spec's success: a ticket and the number of contacts it covers
            ticket = payload.get("ticket_number") if isinstance(payload, Mapping) else None
            contacts = payload.get("number_of_contacts") if isinstance(payload, Mapping) else None
            if not isinstance(ticket, str) or not ticket.strip():
                raise MalformedResponseError("send answer has no ticket_number", vendor=self.vendor, endpoint=ENDPOINT)
            if isinstance(contacts, bool) or not isinstance(contacts, int) or contacts < 0:
                raise MalformedResponseError(
                    "send answer has no number_of_contacts", vendor=self.vendor, endpoint=ENDPOINT
                )
            return OctopushVoiceTicket.model_validate(payload)

        return parse


def duplicate_ticket(exc: VendorRejectedError) -> OctopushDuplicateRequest | None:
    """The :class:`OctopushDuplicateRequest` an HTTP 409 ``Duplicate request_id`` error stands for, else None."""
    payload = exc.payload if isinstance(exc.payload, Mapping) else {}
    is_dup = exc.status_code == 409 or "duplicate" in str(exc.vendor_message or "").lower()
    if not is_dup or exc.endpoint not in (ENDPOINT, None):
        return None
    ticket = payload.get("ticket_number") or payload.get("vocal_ticket") or ""
    return OctopushDuplicateRequest(ticket_number=str(ticket))
