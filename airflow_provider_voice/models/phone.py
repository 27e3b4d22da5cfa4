"""E.164 phone numbers, parsed with Google's ``phonenumbers`` and rendered per vendor."""

from __future__ import annotations

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


def _checked(text: str, region: str | None, value: Any, field: str, strict: bool = True) -> phonenumbers.PhoneNumber:
    """Parse ``text`` and check it is a possible (and, when ``strict``, valid) number, or raise with the reason."""
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(value, _PARSE_REASONS.get(exc.error_type, str(exc)), field=field) from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise InvalidPhoneNumber(value, _POSSIBLE_REASONS.get(possible, "not a possible number"), field=field)
    if not strict:
        if possible != ValidationResult.IS_POSSIBLE:  # a local-only form cannot be dialled from elsewhere
            raise InvalidPhoneNumber(value, "needs its area code", field=field)
        return parsed
    if not phonenumbers.is_valid_number(parsed):
        where = phonenumbers.region_code_for_number(parsed) or f"+{parsed.country_code}"
        raise InvalidPhoneNumber(value, f"not a valid number in {where}", field=field)
    return parsed


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
        if isinstance(value, PhoneNumber):
            if strict and not value.is_valid:
                raise InvalidPhoneNumber(
                    value.e164, f"not a valid number in {value.region or '+' + str(value.country_code)}", field=field
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidPhoneNumber(value, "expected a string or an integer", field=field)
        text = str(value).strip()
        if text.lower().startswith("tel:"):
            text = text[4:]
        if not text:
            raise InvalidPhoneNumber(value, "empty", field=field)
        region = default_region.upper() if default_region else None
        # bare digits that already carry a country code ("5511987654321") are read as +5511987654321
        # when there is no region, or when the national reading with the region is not valid
        with_plus = text.isdigit() and not text.startswith("0")
        if region is None and with_plus:
            text = "+" + text
        readings = [(text, region)] + ([("+" + text, None)] if region is not None and with_plus else [])
        parsed = None
        first_error: InvalidPhoneNumber | None = None
        for level in (True, False) if not strict else (True,):  # a valid reading wins over a possible one
            for reading, reading_region in readings:
                try:
                    parsed = _checked(reading, reading_region, value, field, strict=level)
                    break
                except InvalidPhoneNumber as exc:
                    first_error = first_error or exc
            if parsed is not None:
                break
        if parsed is None:
            assert first_error is not None
            raise first_error
        number = super().__new__(cls, phonenumbers.format_number(parsed, PhoneNumberFormat.E164))
        number._parsed = parsed
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
