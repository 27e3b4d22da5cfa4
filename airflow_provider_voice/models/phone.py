"""E.164 phone numbers, parsed with Google's ``phonenumbers`` and rendered per vendor."""

from __future__ import annotations

import functools
from typing import Any, cast

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from pydantic import GetCoreSchemaHandler, ValidationInfo
from pydantic_core import core_schema

from airflow_provider_voice.errors import ValidationError

__all__ = ["InvalidPhoneNumber", "PhoneNumber"]

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code (give a +country prefix or a default region)",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short for its country",
    ValidationResult.TOO_LONG: "too long for its country",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
}


class InvalidPhoneNumber(ValidationError):
    """A phone number that cannot be parsed or is not valid; says which value and why."""

    def __init__(self, value: Any, reason: str, *, field: str = "phone number") -> None:
        super().__init__(field, value, reason)
        self.reason = reason


#: what :func:`phonenumbers.is_possible_number_with_reason` said per (country code, national length):
#: that answer depends on nothing else (the main region's possible lengths), so it is computed once
_POSSIBLE: dict[tuple[int | None, int], int] = {}
_POSSIBLE_OK = (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY)
#: distinct (text, region, level) readings remembered by :meth:`PhoneNumber.parse` (repeated numbers
#: are not parsed again); about 0.7 kB each
PARSE_CACHE_SIZE = 8192


def _possible(parsed: phonenumbers.PhoneNumber) -> int:
    """``is_possible_number_with_reason(parsed)``, remembered per country code and national length."""
    key = (parsed.country_code, len(phonenumbers.national_significant_number(parsed)))
    found = _POSSIBLE.get(key)
    if found is None:
        found = _POSSIBLE[key] = phonenumbers.is_possible_number_with_reason(parsed)
    return found


def _check(text: str, region: str | None, strict: bool = True) -> phonenumbers.PhoneNumber | str:
    """Parse ``text`` and check it is a possible (and, when ``strict``, valid) number; the parse, or the reason it is not."""
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return _PARSE_REASONS.get(exc.error_type, str(exc))
    possible = _possible(parsed)
    if possible not in _POSSIBLE_OK:
        return _POSSIBLE_REASONS.get(possible, "not a possible number")
    if not strict:
        if possible != ValidationResult.IS_POSSIBLE:  # a local-only form cannot be dialled from elsewhere
            return "needs its area code"
        return parsed
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or f"+{parsed.country_code}"
        return f"not a valid number in {where}"
    return parsed


def _read(text: str, region: str | None, strict: bool) -> PhoneNumber | str:
    """The number ``text`` (stripped, without ``tel:``) is in ``region``, or why not (the first reading's reason, a plain ``str``).

    Bare digits that already carry a country code (``"5511987654321"``) are read as ``+5511987654321``
    when there is no region, or when the national reading with the region is not valid. With
    ``strict=False`` a valid reading wins over a merely possible one.
    """
    with_plus = text.isdigit() and not text.startswith("0")
    if region is None and with_plus:
        text = "+" + text
    readings = [(text, region)] + ([("+" + text, None)] if region is not None and with_plus else [])
    first_error: str | None = None
    for level in (True, False) if not strict else (True,):
        for reading, reading_region in readings:
            found = _check(reading, reading_region, level)
            if not isinstance(found, str):
                return PhoneNumber._make(found)
            first_error = first_error or found
    assert first_error is not None
    return first_error


_read_cached = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(_read)


class PhoneNumber(str):
    """A valid phone number in E.164 form (``"+5511987654321"``); it *is* that string.

    Build it with :meth:`parse`, which accepts ``"+55 11 98765-4321"``, ``"0033 6 12 34 56 78"``,
    ``"(415) 555-2671"`` with ``default_region="US"``, ints, and ``tel:`` URIs. In pydantic models
    the field validates the same way; the default region comes from the validation context key
    ``"default_region"``.

    Vendor renderings: :attr:`velip` (digits, no ``+``), :attr:`kaleyra` (10-digit national
    number for India, digits with country code elsewhere), :attr:`octopush` (``+E.164``),
    :attr:`televoips` (digits with country code).

    Validation levels: ``strict=True`` (default, for outbound sends) wants a number valid per
    phonenumbers' metadata (an assigned range); ``strict=False`` accepts any *possible* number
    (the right length for its country), for numbers the vendor itself reported, opt-outs and
    blacklists: a person who texted the account from ``+1 987 654 3210`` (a range phonenumbers
    does not know) must still be unsubscribable. :attr:`is_valid` tells the two apart. In pydantic
    models the context key ``"strict_numbers": False`` selects the lenient level.
    """

    __slots__ = ("_parsed",)
    _parsed: phonenumbers.PhoneNumber

    @classmethod
    def parse(
        cls, value: Any, default_region: str | None = None, *, field: str = "phone number", strict: bool = True
    ) -> PhoneNumber:
        """Parse and validate ``value``; raise :class:`InvalidPhoneNumber` naming the value and the reason.

        :param value: the number (string, int, ``tel:`` URI or a :class:`PhoneNumber`).
        :param default_region: ISO region of numbers written without a country code.
        :param field: the name shown in errors.
        :param strict: require a valid number (default); False accepts any possible one (see the class).
        """
        found = cls._parse_or_reason(value, default_region, strict)
        if not isinstance(found, PhoneNumber):  # the reason it is not a number
            raise InvalidPhoneNumber(value.e164 if isinstance(value, PhoneNumber) else value, found, field=field)
        return found

    @classmethod
    def _parse_or_reason(cls, value: Any, default_region: str | None, strict: bool) -> PhoneNumber | str:
        """:meth:`parse`'s number, or the reason it refuses ``value`` (a plain ``str``) instead of the error."""
        if isinstance(value, PhoneNumber):
            if strict and not value.is_valid:
                return f"not a valid number in {value.region or '+' + str(value.country_code)}"
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return "expected a string or an integer"
        text = str(value).strip()
        if text.lower().startswith("tel:"):
            text = text[4:]
        if not text:
            return "empty"
        region = default_region.upper() if default_region else None
        if cls is not PhoneNumber:
            found = _read(text, region, strict)
            return cls._make(found._parsed) if isinstance(found, PhoneNumber) else found
        return _read_cached(text, region, strict)

    @classmethod
    def _make(cls, parsed: phonenumbers.PhoneNumber) -> PhoneNumber:
        """The number of a checked parse."""
        number = str.__new__(cls, phonenumbers.format_number(parsed, PhoneNumberFormat.E164))
        number._parsed = parsed
        return number

    def _pack(self) -> tuple[str, int, int, bool | None, int | None, str | None]:
        """The number as plain values (E.164 and its parse), for :meth:`_unpack` (temporary files, other processes)."""
        p = self._parsed
        return (
            str.__str__(self), cast(int, p.country_code), cast(int, p.national_number),
            p.italian_leading_zero, p.number_of_leading_zeros, p.extension,
        )  # fmt: skip

    @classmethod
    def _unpack(cls, packed: tuple[str, int, int, bool | None, int | None, str | None]) -> PhoneNumber:
        """A number from :meth:`_pack`'s values, not parsed again (it was checked when it was packed)."""
        e164, country_code, national_number, leading_zero, zeros, extension = packed
        number = str.__new__(cls, e164)
        number._parsed = phonenumbers.PhoneNumber(
            country_code=country_code,
            national_number=national_number,
            italian_leading_zero=leading_zero,
            number_of_leading_zeros=zeros,
            extension=extension,
        )
        return number

    @classmethod
    def _restore(cls, e164: str) -> PhoneNumber:
        """Unpickle: the number was checked when it was made (possibly at the lenient level)."""
        return cls.parse(e164, strict=False)

    # -- facts ----------------------------------------------------------------------------
    @property
    def e164(self) -> str:
        return str.__str__(self)

    @property
    def country_code(self) -> int:
        return cast(int, self._parsed.country_code)  # set on every number phonenumbers.parse returns

    @property
    def region(self) -> str | None:
        return phonenumbers.region_code_for_number(self._parsed)

    @property
    def is_valid(self) -> bool:
        """Whether the number is in a range phonenumbers knows as assigned (``strict`` parsing wants it)."""
        return phonenumbers.is_valid_number(self._parsed)

    @property
    def national_number(self) -> str:
        return str(self._parsed.national_number)

    @property
    def digits(self) -> str:
        """Country code and national number, digits only."""
        return self.e164[1:]

    # -- vendor renderings --------------------------------------------------------------
    @property
    def velip(self) -> str:
        """Velip ``dest``: country + area + number, digits only."""
        return self.digits

    @property
    def kaleyra(self) -> str:
        """Kaleyra: the 10-digit national number for India, country code + number elsewhere."""
        return self.national_number if self.country_code == 91 else self.digits

    @property
    def octopush(self) -> str:
        """Octopush ``phone_number``: ``+`` and E.164."""
        return self.e164

    @property
    def televoips(self) -> str:
        """TeleVoIPs ``to``/``from``: country code + number, digits only (``13214567890``)."""
        return self.digits

    def __repr__(self) -> str:
        return f"PhoneNumber({self.e164!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (PhoneNumber._restore, (self.e164,))

    # -- pydantic -------------------------------------------------------------------------
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any, info: ValidationInfo) -> PhoneNumber:
            region = (info.context or {}).get("default_region") if info.context else None
            strict = bool((info.context or {}).get("strict_numbers", True)) if info.context else True
            if isinstance(value, PhoneNumber):  # already checked when it was made (at its own level)
                return value
            try:
                return cls.parse(value, region, strict=strict)
            except InvalidPhoneNumber as exc:
                raise ValueError(exc.reason) from None

        return core_schema.with_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )
