"""What a send is expected to cost: a price table per vendor, channel and country.

A :class:`PriceTable` holds, for each vendor (``velip``, ``octopush``, ``kaleyra``, ``televoips``) and
channel (``voice``, ``sms``), a price per contact (``default``) with per-country overrides (the ISO
region of the number: ``FR``, ``IN``...), and for voice an optional price per billed minute
(``per_minute`` with ``expected_minutes``: Kaleyra bills credits per *started* minute, so the expected
minutes are rounded up unless ``round_up_minutes`` is false). SMS prices are per message part:
:meth:`PriceTable.estimate` multiplies them by ``segments``. The written form::

    {
      "currency": "EUR",
      "octopush": {"voice": {"default": 0.05, "FR": 0.05}, "sms": {"default": 0.045, "BE": 0.07}},
      "kaleyra": {"currency": "INR", "voice": {"per_minute": 0.6, "expected_minutes": 1}}
    }

``currency`` is the table's; a vendor may give its own. Build a table from such a mapping, a JSON
file (local path, ``file://`` or object-storage URL), inline JSON, or the Airflow option
``[voice] price_table`` (either of the last two): :meth:`PriceTable.load`, :meth:`PriceTable.from_config`.
A mistake is a :class:`~airflow_provider_voice.errors.ValidationError` naming the field path
(``price_table.octopush.voice.FR``) and the value.

**An unknown price is never zero.** Recipients of a country with no price (no override, no default)
are counted in :attr:`Estimate.unpriced`, and :attr:`Estimate.total` is then None; the priced part is
in :attr:`Estimate.priced_total`, and :meth:`Estimate.summary` says both.

:data:`DEFAULT_SIMULATOR_PRICES` is what the project's simulator charges (Octopush, Kaleyra); the
Velip and TeleVoIPs simulators charge nothing documented, so they are unpriced there.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.storage import resolve_location

__all__ = [
    "CHANNELS",
    "DEFAULT_SIMULATOR_PRICES",
    "UNKNOWN_COUNTRY",
    "VENDORS",
    "ChannelPrices",
    "Estimate",
    "PriceTable",
    "VendorPrices",
    "countries_of",
]

VENDORS = ("velip", "octopush", "kaleyra", "televoips")
CHANNELS = ("voice", "sms")
#: the country of a number whose region is unknown (non-geographic, unparsable)
UNKNOWN_COUNTRY = "ZZ"

Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3,12}$")]


def _is_region(key: Any) -> bool:
    return isinstance(key, str) and len(key) == 2 and key.isascii() and key.isalpha()


class ChannelPrices(BaseModel):
    """The prices of one vendor's channel; in the written form, country codes sit beside ``default``.

    :param default: price per contact (SMS: per message part) where no country override applies.
    :param countries: ISO region -> price per contact, overriding ``default`` (written as ``"FR": 0.05``).
    :param per_minute: voice only: price per billed minute, added to the per-contact price (0 when absent).
    :param expected_minutes: voice only: the minutes a contact is expected to be billed (with ``per_minute``).
    :param round_up_minutes: bill started minutes (``expected_minutes`` rounded up), as Kaleyra does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Price | None = None
    countries: dict[str, Price] = Field(default_factory=dict)
    per_minute: Price | None = None
    expected_minutes: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    round_up_minutes: bool = True

    @model_validator(mode="before")
    @classmethod
    def _country_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] = {}
        countries = dict(data.get("countries") or {}) if isinstance(data.get("countries"), Mapping) else None
        for key, value in data.items():
            if key not in cls.model_fields and _is_region(key):
                if countries is None:
                    countries = {}
                countries[key.upper()] = value
            else:
                out[key] = value
        if countries is not None:
            out["countries"] = countries
        return out

    @field_validator("countries", mode="before")
    @classmethod
    def _regions(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for key in value:
                if not _is_region(key):
                    raise ValueError(f"{key!r} is not an ISO region code (two letters: FR, IN...)")
            return {key.upper(): price for key, price in value.items()}
        return value

    @model_validator(mode="after")
    def _minutes(self) -> ChannelPrices:
        if self.per_minute is not None and self.expected_minutes is None:
            raise ValueError("per_minute needs expected_minutes (the minutes a contact is expected to be billed)")
        return self

    def per_contact(self, country: str, *, segments: int = 1) -> float | None:
        """The price of one contact in ``country`` (None: no price for it).

        :param country: ISO region of the number.
        :param segments: message parts (SMS): the per-contact price is per part.
        """
        base = self.countries.get(country.upper(), self.default)
        if self.per_minute is None:
            return None if base is None else base * segments
        minutes = self.expected_minutes or 0.0
        if self.round_up_minutes:
            minutes = float(math.ceil(minutes - 1e-9))
        return (base or 0.0) * segments + self.per_minute * minutes


class VendorPrices(BaseModel):
    """One vendor's prices.

    :param currency: the currency of these prices, when not the table's.
    :param voice: voice prices (calls, voice messages).
    :param sms: SMS prices (per message part; no ``per_minute``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: Currency | None = None
    voice: ChannelPrices | None = None
    sms: ChannelPrices | None = None

    @field_validator("sms")
    @classmethod
    def _no_minutes(cls, value: ChannelPrices | None) -> ChannelPrices | None:
        if value is not None and value.per_minute is not None:
            raise ValueError("per_minute is for voice: an SMS is priced per message part")
        return value

    def channel(self, channel: str) -> ChannelPrices | None:
        """The prices of ``channel`` (None: not priced)."""
        return self.voice if channel == "voice" else self.sms


class Estimate(BaseModel):
    """The estimated cost of one send.

    :param vendor: the vendor.
    :param channel: ``voice`` or ``sms``.
    :param currency: the currency of the figures ("" when nothing is priced).
    :param segments: message parts per SMS.
    :param recipients: recipients counted.
    :param total: the estimated cost; None when any recipient has no price (an unknown is never zero).
    :param priced_total: the cost of the recipients that have a price.
    :param by_country: cost per priced country.
    :param unpriced: recipients per country with no price.
    """

    model_config = ConfigDict(frozen=True)

    vendor: str
    channel: str
    currency: str
    segments: int = 1
    recipients: int = 0
    total: float | None = None
    priced_total: float = 0.0
    by_country: dict[str, float] = Field(default_factory=dict)
    unpriced: dict[str, int] = Field(default_factory=dict)

    def summary(self) -> str:
        """One line for the task log: the total, or why it is unknown and what the priced part costs."""
        what = f"{self.vendor} {self.channel}" + (f", {self.segments} parts each" if self.segments != 1 else "")
        if self.total is not None:
            countries = ", ".join(f"{c} {_money(v)}" for c, v in sorted(self.by_country.items()))
            shown = f"; {countries}" if len(self.by_country) > 1 else ""
            return f"estimated cost: {_money(self.total)} {self.currency} for {self.recipients:,} recipients ({what}{shown})"
        missing = sum(self.unpriced.values())
        where = ", ".join(f"{c} {n:,}" for c, n in sorted(self.unpriced.items(), key=lambda kv: (-kv[1], kv[0])))
        if missing == self.recipients:
            return f"estimated cost unknown: no price for any of the {self.recipients:,} recipients ({what}; {where})"
        return (
            f"estimated cost unknown: {missing:,} of {self.recipients:,} recipients have no price ({where}); "
            f"the {self.recipients - missing:,} priced ones cost {_money(self.priced_total)} {self.currency} ({what})"
        )


class _MissingCurrency(ValueError):
    def __init__(self, vendor: str) -> None:
        super().__init__(f"{vendor} has prices but no currency: give one for the table or for {vendor}")
        self.vendor = vendor


def _money(value: float) -> str:
    return f"{value:,.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.4g}"


class PriceTable(BaseModel):
    """Prices per vendor and channel (see the module docstring for the written form).

    :param currency: the currency of every price whose vendor does not give its own.
    :param velip: Velip prices.
    :param octopush: Octopush prices.
    :param kaleyra: Kaleyra prices.
    :param televoips: TeleVoIPs prices.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: Currency | None = None
    velip: VendorPrices | None = None
    octopush: VendorPrices | None = None
    kaleyra: VendorPrices | None = None
    televoips: VendorPrices | None = None

    @model_validator(mode="after")
    def _currencies(self) -> PriceTable:
        for vendor in VENDORS:
            prices = self.vendor_prices(vendor)
            if prices is not None and (prices.voice or prices.sms) and not (prices.currency or self.currency):
                raise _MissingCurrency(vendor)
        return self

    def vendor_prices(self, vendor: str) -> VendorPrices | None:
        """``vendor``'s prices (None: not priced at all).

        :raises ValidationError: an unknown vendor.
        """
        prices: VendorPrices | None = getattr(self, _vendor(vendor))
        return prices

    # -- building -------------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "price_table") -> PriceTable:
        """A table from its written form.

        :param data: the mapping (see the module docstring).
        :param origin: the name errors give the table (``price_table``, a file name).
        :raises ValidationError: a field is wrong; ``field`` is its path (``price_table.octopush.voice.FR``).
        """
        if not isinstance(data, Mapping):
            raise ValidationError(origin, data, "a JSON object of vendors: {'currency': 'EUR', 'octopush': {...}}")
        try:
            return cls.model_validate(dict(data))
        except PydanticValidationError as exc:
            raise _invalid(exc, origin) from None

    @classmethod
    def load(cls, source: Any, *, conn_id: str | None = None) -> PriceTable:
        """A table from a :class:`PriceTable`, a mapping, inline JSON (text starting with ``{``), or a
        JSON file (a path, a ``file://`` or object-storage URL, an ``ObjectStoragePath``).

        :param source: where the table is.
        :param conn_id: the Airflow connection of the object storage, if any.
        :raises ValidationError: the file is missing or not JSON, or a field is wrong.
        """
        if isinstance(source, PriceTable):
            return source
        if isinstance(source, Mapping):
            return cls.from_mapping(source)
        if isinstance(source, str) and source.strip().startswith("{"):
            return cls.from_mapping(_json(source, "price_table", "inline JSON"))
        path = resolve_location(source, field="price_table", conn_id=conn_id)
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ValidationError("price_table", str(source), "an existing JSON file (not found)") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ValidationError("price_table", str(source), f"a readable UTF-8 JSON file ({err})") from None
        name = os.path.basename(str(source).rstrip("/")) or "price_table"
        return cls.from_mapping(_json(text, str(source), "the file"), origin=name)

    @classmethod
    def from_config(cls, default: PriceTable | None = None) -> PriceTable:
        """The table of ``[voice] price_table`` (a JSON file path or URL, or inline JSON).

        :param default: the table when the option is empty (default: an empty table, every price unknown).
        :raises ValidationError: the option names a missing or invalid table.
        """
        try:
            from airflow.configuration import conf

            configured = conf.get("voice", "price_table", fallback=None)
        except Exception:  # plain Python use without an Airflow configuration
            configured = os.environ.get("AIRFLOW__VOICE__PRICE_TABLE")
        if not configured or not str(configured).strip():
            return default if default is not None else cls()
        return cls.load(str(configured).strip())

    # -- pricing --------------------------------------------------------------------------------------
    def currency_of(self, vendor: str) -> str:
        """The currency of ``vendor``'s prices ("" when none is given)."""
        prices = self.vendor_prices(vendor)
        return (prices.currency if prices is not None and prices.currency else None) or self.currency or ""

    def price(self, vendor: str, channel: str, country: str, *, segments: int = 1) -> float | None:
        """The price of one contact of ``vendor``'s ``channel`` in ``country`` (None: unknown).

        :param vendor: ``velip``, ``octopush``, ``kaleyra`` or ``televoips``.
        :param channel: ``voice`` or ``sms``.
        :param country: ISO region of the number.
        :param segments: message parts per SMS (must be 1 for voice).
        :raises ValidationError: an unknown vendor or channel, or segments out of range.
        """
        prices = self.vendor_prices(vendor)
        channel_prices = None if prices is None else prices.channel(_channel(channel))
        if channel_prices is None:
            return None
        return channel_prices.per_contact(country, segments=_segments(channel, segments))

    def estimate(
        self, vendor: str, channel: str, counts_by_country: Mapping[str, int], *, segments: int = 1
    ) -> Estimate:
        """The estimated cost of sending ``channel`` through ``vendor`` to these recipients.

        :param vendor: ``velip``, ``octopush``, ``kaleyra`` or ``televoips``.
        :param channel: ``voice`` or ``sms``.
        :param counts_by_country: recipients per ISO region (:func:`countries_of` counts them;
            ``ZZ``, ``""`` or None for an unknown region).
        :param segments: message parts per SMS (each billed as one SMS); 1 for voice.
        :returns: the :class:`Estimate` (``total`` None when any recipient has no price).
        :raises ValidationError: an unknown vendor or channel, a negative count, segments out of range.
        """
        vendor, channel = _vendor(vendor), _channel(channel)
        segments = _segments(channel, segments)
        by_country: dict[str, float] = {}
        unpriced: dict[str, int] = {}
        recipients = 0
        for raw, count in counts_by_country.items():
            country = (raw or UNKNOWN_COUNTRY).upper()
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValidationError(f"counts_by_country[{country}]", count, "a number of recipients (0 or more)")
            if count == 0:
                continue
            recipients += count
            unit = self.price(vendor, channel, country, segments=segments)
            if unit is None:
                unpriced[country] = unpriced.get(country, 0) + count
            else:
                by_country[country] = round(by_country.get(country, 0.0) + unit * count, 6)
        priced_total = round(sum(by_country.values()), 6)
        return Estimate(
            vendor=vendor,
            channel=channel,
            currency=self.currency_of(vendor),
            segments=segments,
            recipients=recipients,
            total=None if unpriced else priced_total,
            priced_total=priced_total,
            by_country=by_country,
            unpriced=unpriced,
        )


def countries_of(numbers: Iterable[Any]) -> dict[str, int]:
    """Recipients per ISO region (``ZZ``: unknown), for :meth:`PriceTable.estimate`.

    :param numbers: :class:`~airflow_provider_voice.models.PhoneNumber` objects or E.164 strings.
    """
    counts: dict[str, int] = {}
    for number in numbers:
        try:
            phone = number if isinstance(number, PhoneNumber) else PhoneNumber.parse(number, strict=False)
            region = phone.region or UNKNOWN_COUNTRY
        except ValidationError:
            region = UNKNOWN_COUNTRY
        counts[region] = counts.get(region, 0) + 1
    return counts


def _vendor(vendor: str) -> str:
    name = str(vendor).strip().lower()
    if name not in VENDORS:
        raise ValidationError("vendor", vendor, f"one of {', '.join(VENDORS)}")
    return name


def _channel(channel: str) -> str:
    name = str(channel).strip().lower()
    if name not in CHANNELS:
        raise ValidationError("channel", channel, f"one of {', '.join(CHANNELS)}")
    return name


def _segments(channel: str, segments: int) -> int:
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValidationError("segments", segments, "a number of message parts (1 or more)")
    if channel == "voice" and segments != 1:
        raise ValidationError("segments", segments, "1 for voice (parts are an SMS notion)")
    return segments


def _json(text: str, where: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationError(
            "price_table", where, f"JSON ({what}: {err.msg} at line {err.lineno} column {err.colno})"
        ) from None


def _invalid(exc: PydanticValidationError, origin: str) -> ValidationError:
    """The first problem of ``exc`` as the provider's error: the field path, the value, the rule."""
    problems = exc.errors()
    first = problems[0]
    path = ".".join([origin, *(str(part) for part in first["loc"] if part != "countries")])
    rule, value = str(first["msg"]).removeprefix("Value error, "), first.get("input")
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, _MissingCurrency):
        path, value = f"{origin}.{cause.vendor}.currency", None
    if first.get("type") == "extra_forbidden":
        rule = (
            f"not a known field here ({'/'.join(VENDORS)}, currency, voice, sms, default, per_minute, "
            "expected_minutes, round_up_minutes) nor an ISO region code (FR, IN...)"
        )
    if len(problems) > 1:
        rule += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return ValidationError(path, value, rule)


#: What the project's simulator charges (``airflow_provider_voice.testing``; tests/policy/test_pricing.py
#: checks these figures against it so they cannot drift):
#:
#: * Octopush voice: ``SimulatorConfig.octopush_cost_per_contact`` (testing/state.py, 0.05) per contact,
#:   in euros (the simulator's balance unit, testing/octopush.py ``check_balance``);
#: * Kaleyra voice: ``credits`` = 0.6 per started minute of a call (testing/kaleyra.py, click-to-call and
#:   dial logs), one minute expected;
#: * Velip, TeleVoIPs: the simulators charge nothing documented, so they stay unpriced.
DEFAULT_SIMULATOR_PRICES = PriceTable.from_mapping(
    {
        "octopush": {"currency": "EUR", "voice": {"default": 0.05}},
        "kaleyra": {"currency": "credits", "voice": {"per_minute": 0.6, "expected_minutes": 1}},
    }
)
