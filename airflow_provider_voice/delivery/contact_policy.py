"""Contact policies: when a person may lawfully be called or texted, and how often.

A :class:`ContactPolicy` says on which local weekdays and in which local time windows a person
may be contacted (in the recipient's own time zone), whether public holidays are closed, and
the frequency rules (a minimum gap between contacts, at most N contacts per rolling period, a
pause after a refusal). Presets encode the rules of France (:data:`FR_MARKETING`), the United
States (:data:`US_TCPA`) and India (:data:`IN_TRAI_COMMERCIAL`); :data:`PRESETS` holds them by name.

Everything is pure Python (no Airflow, no vendor): the delivery engine and the operators ask

* :func:`recipient_zones` — the IANA time zones of a number (an explicit ``timezone`` wins; else
  the zones ``phonenumbers`` gives for the number's prefix; a number whose zone is unknown,
  ``Etc/Unknown`` such as the fictional ``+1 555`` range, gets every zone of its country calling
  code with ``timezone_fallback="country"``, or none — held — with ``"hold"``);
* :meth:`ContactPolicy.schedule` — a :class:`ZoneSchedule` for one "zone class" (policy, zones,
  holiday country, subdivision), built once and shared by every recipient of that class, that
  answers :meth:`~ZoneSchedule.is_open`, :meth:`~ZoneSchedule.next_open`,
  :meth:`~ZoneSchedule.open_until` and :meth:`~ZoneSchedule.intervals` in UTC instants;
* :meth:`ContactPolicy.frequency_hold` — whether a person's contact history allows a contact now.

**The rule, exactly.** An instant ``t`` is open for a set of zones when, in *every* zone, the
local wall-clock time of ``t`` (``t.astimezone(ZoneInfo(zone))``) falls on an allowed weekday,
is not a public holiday (when ``skip_public_holidays``; the holiday calendar is that local date's)
and is inside one of the windows (``start <= local time < end``). Consequences:

* **several zones: the most restrictive.** A number that ``phonenumbers`` maps to several zones
  (``+1 907``: Anchorage and Adak) is open only when it is open in all of them (the intersection):
  08:00-21:00 for both is 09:00-21:00 Anchorage time = 08:00-20:00 Adak time.
* **unknown zone, ``+1 555``**: the country-level zones of ``+1`` are all 42 zones of the North
  American Numbering Plan (US, Canada, the Caribbean, Guam and Saipan at UTC+10, American Samoa
  at UTC-11...). Their intersection is tiny: :data:`US_TCPA` is open 22:00-00:30 UTC while
  St John's is on standard time (UTC-3:30) and 22:00-23:30 UTC while it keeps summer time
  (08:00-09:30 in Guam, 19:30-21:00 in St John's). Use ``timezone_fallback="hold"`` to hold such
  numbers instead, or give each recipient's zone (``timezone``).
* **spring-forward gaps**: a window starting at a local time that does not exist that day
  (02:30 when clocks jump 02:00→03:00) opens at the first instant after the gap (03:00); a window
  wholly inside the gap does not open that day.
* **fall-back folds**: a repeated local time is open both times it occurs. A window 01:00-03:00
  over a 03:00→02:00 change covers the whole real interval (three hours); a window ending at
  02:30 closes at the first 02:30 and opens again for the repeated 02:00-02:30.
* **24:00**: a window may end at ``"24:00"`` (end of the day); it is stored as
  :attr:`datetime.time.max` and written back as ``"24:00"``. Windows never run overnight:
  22:00-02:00 is two windows, ``22:00-24:00`` and ``00:00-02:00``.
* **holidays** come from the ``holidays`` library for the country passed as ``country`` (e.g.
  :func:`country_of` the number) and ``subdivision`` (``"57"`` Moselle...). A country the library
  does not know, or no country, has no holidays; an unknown subdivision is a
  :class:`~airflow_provider_voice.errors.ValidationError`.
* **transactional exemption**: with ``exempt_transactional=True`` and ``purpose="transactional"``,
  weekdays, windows, holidays, ``min_gap`` and ``max_contacts`` are not enforced (always open, even
  with no known zone); the pause after a refusal still is.

Offsets are read from ``zoneinfo`` (the ``tzdata`` rules), so schedules are DST-correct; offset
changes are found by sampling every 3 hours and bisecting to the second (no zone changes its
offset twice within 3 hours in the tz database's current rules).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from functools import cache, lru_cache
from itertools import pairwise
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import is_number_type_geographical
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_serializer, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import Self

from airflow_provider_voice.errors import ValidationError

__all__ = [
    "FR_MARKETING",
    "IN_TRAI_COMMERCIAL",
    "PRESETS",
    "US_TCPA",
    "ContactPolicy",
    "DailyWindow",
    "HoldReason",
    "ZoneSchedule",
    "country_of",
    "recipient_zones",
]

#: why :meth:`ContactPolicy.frequency_hold` holds a contact
HoldReason = Literal["min_gap", "max_contacts", "refusal_pause"]
Purpose = Literal["marketing", "transactional"]
TimezoneFallback = Literal["country", "hold"]

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)
_SECOND = 1_000_000  # microseconds
_DAY = 86_400 * _SECOND
#: instants are kept as integer microseconds since the epoch; schedules are computed in chunks of this size
_CHUNK = 16 * _DAY
#: offset changes are looked for at this step (seconds), then bisected to the second
_OFFSET_STEP = 3 * 3600
#: chunks kept per schedule (a long-lived triggerer would otherwise keep every chunk it ever saw)
_MAX_CHUNKS = 256
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")
_E164 = re.compile(r"^\+[1-9]\d{2,16}$")
_UNKNOWN_ZONE = "Etc/Unknown"
_NON_GEO_REGION = "001"
#: between the two ends of a range in labels and :meth:`ContactPolicy.describe` (``Mon-Fri``, ``10:00-13:00``)
_DASH = "\N{EN DASH}"
_HOLD_PRIORITY = {"min_gap": 0, "max_contacts": 1, "refusal_pause": 2}


def _validation_error(exc: PydanticValidationError, field: str) -> ValidationError:
    """One :class:`ValidationError` for pydantic's errors: the first one's field, input and message.

    :param exc: what pydantic raised.
    :param field: the argument name the location is appended to (``"contact_policy"``).
    """
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return ValidationError(f"{field}.{loc}" if loc else field, first.get("input"), message)


def _parse_time(value: Any, *, end: bool) -> Any:
    """``"HH:MM[:SS[.ffffff]]"`` as a :class:`~datetime.time`; ``"24:00"`` (an end only) as ``time.max``.

    :param value: a string, a ``time`` (must be naive) or anything else (left to pydantic).
    :param end: whether the value is a window's end (``24:00`` allowed).
    :raises ValueError: not a local time of day.
    """
    if isinstance(value, str):
        text = value.strip()
        match = _TIME.match(text)
        if not match:
            raise ValueError(f"a local time HH:MM (got {value!r})")
        hour, minute = int(match[1]), int(match[2])
        second = int(match[3] or 0)
        micro = int((match[4] or "0").ljust(6, "0"))
        if hour == 24 and minute == second == micro == 0:
            if not end:
                raise ValueError("24:00 can only end a window")
            return time.max
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"a local time 00:00-23:59 (got {value!r})")
        return time(hour, minute, second, micro)
    if isinstance(value, time) and value.tzinfo is not None:
        raise ValueError("a local time without tzinfo (windows are in the recipient's own zone)")
    return value


def _time_us(value: time) -> int:
    """Microseconds since midnight of a time of day."""
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _SECOND + value.microsecond


def _clock(value: time) -> str:
    """``"HH:MM"`` (or with seconds when it has some); ``time.max`` is ``"24:00"``."""
    if value == time.max:
        return "24:00"
    if value.second or value.microsecond:
        return value.isoformat()
    return value.strftime("%H:%M")


class DailyWindow(BaseModel):
    """A local time window of a day, ``start`` (included) to ``end`` (excluded), in the recipient's zone.

    Build it from ``"10:00-13:00"``, a ``(start, end)`` pair of ``time`` objects or ``"HH:MM"``
    strings, or ``{"start": ..., "end": ...}``. ``end`` may be ``"24:00"``: the end of the day,
    stored as :attr:`datetime.time.max` (:attr:`ends_at_midnight`) and written back as ``"24:00"``.
    ``start`` must be before ``end``: a window never runs overnight (22:00-02:00 is two windows,
    ``22:00-24:00`` and ``00:00-02:00``).

    :param start: the local time the window opens.
    :param end: the local time it closes (``time.max`` / ``"24:00"``: midnight at the end of the day).
    :raises ValidationError: (field ``window.<part>``) not a time, tz-aware, or ``start >= end``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _validation_error(exc, "window") from None

    # pydantic calls a custom __init__ when validating (model_validate, nested fields) and would wrap
    # this error in its own; marked as the base __init__, it is only called for direct construction
    setattr(__init__, "__pydantic_base_init__", True)  # noqa: B010

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate ``obj`` (a string, a pair, a mapping) as a window.

        :param obj: ``"10:00-13:00"``, ``(start, end)`` or ``{"start": ..., "end": ...}``.
        :param args: passed to pydantic's ``model_validate``.
        :param kwargs: passed to pydantic's ``model_validate``.
        :raises ValidationError: (field ``window.<part>``) see the class docstring.
        """
        try:
            return super().model_validate(obj, *args, **kwargs)
        except PydanticValidationError as exc:
            raise _validation_error(exc, "window") from None

    @model_validator(mode="before")
    @classmethod
    def _from_text_or_pair(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = re.split(r"\s*[-\N{EN DASH}]\s*", value.strip())
            if len(parts) != 2:
                raise ValueError(f"a window 'HH:MM-HH:MM' (got {value!r})")
            return {"start": parts[0], "end": parts[1]}
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise ValueError(f"a (start, end) pair (got {len(value)} items)")
            return {"start": value[0], "end": value[1]}
        return value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _local_time(cls, value: Any, info: ValidationInfo) -> Any:
        return _parse_time(value, end=info.field_name == "end")

    @model_validator(mode="after")
    def _start_before_end(self) -> DailyWindow:
        if not self.start < self.end:
            raise ValueError(
                f"start {_clock(self.start)} must be before end {_clock(self.end)}; an overnight window "
                "(22:00-02:00) is two windows: 22:00-24:00 and 00:00-02:00"
            )
        return self

    @field_serializer("start", "end", when_used="json")
    def _write_time(self, value: time) -> str:
        return _clock(value)

    @property
    def ends_at_midnight(self) -> bool:
        """Whether the window runs to the end of the day (``end`` given as ``"24:00"``)."""
        return self.end == time.max

    @property
    def start_us(self) -> int:
        """The start as microseconds since local midnight."""
        return _time_us(self.start)

    @property
    def end_us(self) -> int:
        """The end as microseconds since local midnight (a full day for ``24:00``)."""
        return _DAY if self.ends_at_midnight else _time_us(self.end)

    def contains(self, local: time) -> bool:
        """Whether a local time of day is inside the window (``start <= local < end``).

        :param local: a wall-clock time (its ``fold`` and ``tzinfo`` are ignored).
        """
        value = _time_us(local)
        return self.start_us <= value < self.end_us

    def label(self) -> str:
        """``"10:00-13:00"``, written with an en dash (``24:00`` for the end of the day)."""
        return f"{_clock(self.start)}{_DASH}{_clock(self.end)}"


_ALL_DAY = DailyWindow(start=time(0), end=time.max)


def _weekday(item: Any) -> int:
    """One weekday, 0 (Monday) to 6 (Sunday), from an int or a name (``"mon"``, ``"Monday"``).

    :param item: the value given.
    :raises ValueError: not a weekday.
    """
    if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
        return item
    if isinstance(item, str):
        text = item.strip().lower()
        if text.isdigit() and 0 <= int(text) <= 6:
            return int(text)
        if text in _DAY_NAMES:
            return _DAY_NAMES.index(text)
        if text in _FULL_DAY_NAMES:
            return _FULL_DAY_NAMES.index(text)
    raise ValueError(f"a weekday 0 (Monday) to 6 (Sunday) or a name mon..sun (got {item!r})")


def _weekday_items(text: str) -> list[int]:
    """Weekdays of a string: ``"mon-fri"``, ``"mon,wed,fri"``, ``"sat sun"`` (a range may wrap: ``"fri-mon"``).

    :param text: the string.
    :raises ValueError: a part is not a weekday.
    """
    days: list[int] = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        ends = re.split(r"[-\N{EN DASH}]", part)
        if len(ends) == 2:
            first, last = _weekday(ends[0]), _weekday(ends[1])
            days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            days.append(_weekday(part))
    return days


def _duration(value: timedelta) -> str:
    """A short human duration: ``"30 days"``, ``"1 day"``, ``"2 h"``, ``"1 h 30 min"``, ``"45 s"``."""
    total = int(value.total_seconds())
    if total % 86_400 == 0:
        days = total // 86_400
        return f"{days} day{'s' if days != 1 else ''}"
    parts = []
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    for amount, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")):
        if amount:
            parts.append(f"{amount} {unit}")
    return " ".join(parts) or f"{value.total_seconds():g} s"


def _describe_days(days: frozenset[int]) -> str:
    """``"every day"``, ``"Mon-Fri"``, ``"Mon, Wed, Fri"``, ``"no day"``."""
    if len(days) == 7:
        return "every day"
    if not days:
        return "no day"
    ordered = sorted(days)
    names = [_DAY_NAMES[d].capitalize() for d in ordered]
    if len(ordered) > 2 and ordered[-1] - ordered[0] == len(ordered) - 1:
        return f"{names[0]}{_DASH}{names[-1]}"
    return ", ".join(names)


class ContactPolicy(BaseModel):
    """When and how often one person may be contacted: local weekdays and windows, holidays, caps.

    Build one directly, with :meth:`from_arg` (a preset name such as ``"FR_MARKETING"``, a mapping
    of these fields, optionally with ``"preset"`` to start from one), or take a preset from
    :data:`PRESETS`. See the module docstring for the exact rule (multi-zone numbers, DST gaps and
    folds, 24:00, holidays). ``model_dump(mode="json")`` gives JSON primitives that
    :meth:`model_validate` reads back (XCom, trigger kwargs).

    :param name: a label for logs (the preset's name for presets).
    :param purpose: ``"marketing"`` (default) or ``"transactional"`` (alerts, reminders...).
    :param exempt_transactional: with ``purpose="transactional"``, weekdays, windows, holidays,
        ``min_gap`` and ``max_contacts`` are not enforced (only ``pause_after_refusal`` is).
    :param weekdays: allowed local weekdays, 0 = Monday .. 6 = Sunday; names (``"mon"``,
        ``"Monday"``) and strings (``"mon-fri"``, ``"mon,wed"``) are accepted; default all seven.
        An empty set is allowed and never opens (:meth:`next_open` is None).
    :param windows: the local windows of an allowed day, each a :class:`DailyWindow` or
        ``"10:00-13:00"`` / ``(start, end)``; a single string may list several
        (``"10:00-13:00,14:00-20:00"``). Sorted on validation; may touch, never overlap; default
        ``00:00-24:00``. Empty never opens.
    :param skip_public_holidays: public holidays of the recipient's country (``country`` /
        ``subdivision`` of the methods) are closed.
    :param min_gap: the least time between two contacts of one person.
    :param max_contacts: at most this many contacts per ``period`` (a rolling window); give both or neither.
    :param period: the rolling window of ``max_contacts``.
    :param pause_after_refusal: no contact for this long after the person refused one.
    :param timezone_fallback: a number whose zone ``phonenumbers`` does not know (``Etc/Unknown``):
        ``"country"`` (default) uses every zone of its country calling code (the most restrictive
        intersection, see the module docstring), ``"hold"`` gives no zone: never open.
    :param horizon: how far :meth:`next_open` looks ahead (default 400 days; at most 10 years);
        also the cap of :meth:`open_until`.
    :param send_margin: how long a window must still be open for a send to start in it (default
        5 minutes: a call queued at 19:58 may ring after 20:00); 0 to 1 day. Applied by the
        delivery planner, not by :meth:`is_open`.
    :raises ValidationError: (field ``contact_policy.<field>``) a bad value: overlapping windows,
        ``max_contacts`` without ``period``, a non-positive duration, an unknown weekday...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    purpose: Purpose = "marketing"
    exempt_transactional: bool = False
    weekdays: frozenset[int] = frozenset(range(7))
    windows: tuple[DailyWindow, ...] = (_ALL_DAY,)
    skip_public_holidays: bool = False
    min_gap: timedelta | None = None
    max_contacts: int | None = None
    period: timedelta | None = None
    pause_after_refusal: timedelta | None = None
    timezone_fallback: TimezoneFallback = "country"
    horizon: timedelta = timedelta(days=400)
    send_margin: timedelta = timedelta(minutes=5)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise _validation_error(exc, "contact_policy") from None

    # pydantic calls a custom __init__ when validating (model_validate, nested fields) and would wrap
    # this error in its own; marked as the base __init__, it is only called for direct construction
    setattr(__init__, "__pydantic_base_init__", True)  # noqa: B010

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate a mapping of fields (e.g. a ``model_dump(mode="json")``) as a policy.

        :param obj: the mapping (or a :class:`ContactPolicy`).
        :param args: passed to pydantic's ``model_validate``.
        :param kwargs: passed to pydantic's ``model_validate``.
        :raises ValidationError: (field ``contact_policy.<field>``) a bad value.
        """
        try:
            return super().model_validate(obj, *args, **kwargs)
        except PydanticValidationError as exc:
            raise _validation_error(exc, "contact_policy") from None

    # -- validation ----------------------------------------------------------------------------
    @field_validator("name")
    @classmethod
    def _non_empty_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a non-empty label")
        return value.strip()

    @field_validator("weekdays", mode="before")
    @classmethod
    def _read_weekdays(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(_weekday_items(value))
        if isinstance(value, (int, bool)):
            return frozenset({_weekday(value)})
        if isinstance(value, Iterable) and not isinstance(value, Mapping):
            return frozenset(_weekday(item) for item in value)
        return value

    @field_validator("windows", mode="before")
    @classmethod
    def _read_windows(cls, value: Any) -> Any:
        if isinstance(value, (str, DailyWindow, Mapping)):
            items: list[Any] = [value]
            if isinstance(value, str):
                items = [part for part in value.split(",") if part.strip()]
            return tuple(items)
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_clock(v) for v in value):
            return (tuple(value),)  # one (start, end) pair, not two windows
        return value

    @field_validator("windows")
    @classmethod
    def _sorted_disjoint(cls, value: tuple[DailyWindow, ...]) -> tuple[DailyWindow, ...]:
        ordered = tuple(sorted(value, key=lambda w: (w.start_us, w.end_us)))
        for before, after in pairwise(ordered):
            if after.start_us < before.end_us:
                raise ValueError(f"windows {before.label()} and {after.label()} overlap")
        return ordered

    @field_validator("min_gap", "period", "pause_after_refusal", "horizon")
    @classmethod
    def _positive(cls, value: timedelta | None, info: ValidationInfo) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"{info.field_name} must be a positive duration")
        if info.field_name == "horizon" and value is not None and value > timedelta(days=3660):
            raise ValueError("horizon is at most 10 years (3660 days)")
        return value

    @field_validator("send_margin")
    @classmethod
    def _margin(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(days=1):
            raise ValueError("send_margin is between 0 and 1 day")
        return value

    @field_validator("max_contacts")
    @classmethod
    def _at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("max_contacts must be at least 1 (use weekdays=[] to never contact)")
        return value

    @model_validator(mode="after")
    def _cap_and_period(self) -> ContactPolicy:
        if (self.max_contacts is None) != (self.period is None):
            raise ValueError("max_contacts and period go together: give both (at most N per period) or neither")
        return self

    @field_serializer("weekdays", when_used="json")
    def _write_weekdays(self, value: frozenset[int]) -> list[int]:
        return sorted(value)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_arg(cls, value: Any) -> ContactPolicy | None:
        """The policy an operator argument names: a policy, a preset name, a mapping, or None.

        :param value: a :class:`ContactPolicy` (returned as is); a preset name (``"FR_MARKETING"``,
            ``"us_tcpa"``: case-insensitive); a mapping of fields, optionally with ``"preset"``
            naming the preset its other keys modify (``{"preset": "FR_MARKETING", "purpose":
            "transactional"}``); a JSON object string of such a mapping; or None.
        :returns: the policy, or None for None.
        :raises ValidationError: (field ``contact_policy``) anything else, naming the presets;
            (field ``contact_policy.<field>``) a bad field value.
        """
        if value is None or isinstance(value, ContactPolicy):
            return value
        allowed = f"a preset name ({', '.join(PRESETS)}), a ContactPolicy, or a mapping of its fields"
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValidationError("contact_policy", value, f"not valid JSON; {allowed}") from None
            elif text.upper() in PRESETS:
                return PRESETS[text.upper()]
            else:
                raise ValidationError("contact_policy", value, f"unknown preset; {allowed}")
        if isinstance(value, Mapping):
            data = dict(value)
            preset = data.pop("preset", None)
            if preset is not None:
                if not isinstance(preset, str) or preset.strip().upper() not in PRESETS:
                    raise ValidationError("contact_policy.preset", preset, f"one of {', '.join(PRESETS)}")
                base = PRESETS[preset.strip().upper()]
                if set(data) - {"name", "purpose"} and "name" not in data:
                    data["name"] = f"{base.name} (modified)"
                data = {**base.model_dump(), **data}
            return cls.model_validate(data)
        raise ValidationError("contact_policy", value, allowed)

    def for_purpose(self, purpose: Purpose) -> ContactPolicy:
        """A copy of this policy for another purpose (``"marketing"`` or ``"transactional"``).

        :param purpose: the purpose of the contacts.
        :raises ValidationError: not one of the two.
        """
        if purpose not in ("marketing", "transactional"):
            raise ValidationError("purpose", purpose, "'marketing' or 'transactional'")
        return self if purpose == self.purpose else self.model_copy(update={"purpose": purpose})

    # -- what is enforced -----------------------------------------------------------------------
    @property
    def exempt(self) -> bool:
        """Whether this policy's contacts are exempt (transactional with ``exempt_transactional``)."""
        return self.exempt_transactional and self.purpose == "transactional"

    @property
    def never_open(self) -> bool:
        """Whether no instant can ever be open (no weekday or no window, and not exempt)."""
        return not self.exempt and not (self.weekdays and self.windows)

    # -- zones ----------------------------------------------------------------------------------
    def zones_for(self, number_e164: str, timezone: str | None = None, region: str | None = None) -> tuple[str, ...]:
        """:func:`recipient_zones` with this policy's ``timezone_fallback``.

        :param number_e164: the number (``"+33612345678"``).
        :param timezone: the recipient's IANA zone when the data gives one (it wins).
        :param region: ISO region to read a number written without ``+country``.
        :returns: the zones (empty: unknown, the recipient is held).
        :raises ValidationError: a bad ``timezone`` (field ``timezone_field``) or number (field ``number``).
        """
        return recipient_zones(number_e164, timezone, region, fallback=self.timezone_fallback)

    def schedule(
        self, zones: Iterable[str] | str, country: str | None = None, subdivision: str | None = None
    ) -> ZoneSchedule:
        """The :class:`ZoneSchedule` of one zone class (cached: build once, reuse for every recipient).

        :param zones: the recipient's IANA zones (:func:`recipient_zones`); several: open only when
            open in all; none: never open (unless exempt).
        :param country: ISO country of the public holidays (:func:`country_of`); ignored unless
            ``skip_public_holidays``; unknown to the ``holidays`` library or None: no holidays.
        :param subdivision: the holidays' subdivision (state, département code...), with ``country``.
        :raises ValidationError: an unknown zone (field ``zones``) or subdivision (field ``subdivision``).
        """
        names = (zones,) if isinstance(zones, str) else tuple(zones)
        key_zones = tuple(sorted(set(names)))
        if self.exempt or not self.skip_public_holidays:
            country = subdivision = None
        if self.exempt:
            key_zones = ()
        holiday_country = _holiday_country(country)
        return _schedule(self, key_zones, holiday_country, (subdivision or None) if holiday_country else None)

    def schedule_for(
        self,
        number_e164: str,
        *,
        timezone: str | None = None,
        region: str | None = None,
        subdivision: str | None = None,
    ) -> ZoneSchedule:
        """The schedule of one number: its zones (:meth:`zones_for`) and holiday country (:func:`country_of`).

        :param number_e164: the number.
        :param timezone: the recipient's IANA zone when the data gives one.
        :param region: the recipient's ISO region: reads a national number, and is the holiday
            country when the number's own region is unknown.
        :param subdivision: the holidays' subdivision.
        :raises ValidationError: a bad timezone, number, zone or subdivision.
        """
        zones = self.zones_for(number_e164, timezone, region)
        country = country_of(number_e164, region) or (region.upper() if region else None)
        return self.schedule(zones, country, subdivision)

    # -- window questions (each builds or reuses the zone class's schedule) -----------------------
    def is_open(
        self,
        zones: Iterable[str] | str,
        at: datetime,
        *,
        country: str | None = None,
        subdivision: str | None = None,
    ) -> bool:
        """Whether a contact is allowed at the instant ``at`` (see :meth:`ZoneSchedule.is_open`).

        :param zones: the recipient's zones.
        :param at: an aware datetime.
        :param country: holiday country (see :meth:`schedule`).
        :param subdivision: holiday subdivision.
        :raises ValidationError: a naive ``at``, an unknown zone or subdivision.
        """
        return self.schedule(zones, country, subdivision).is_open(at)

    def next_open(
        self,
        zones: Iterable[str] | str,
        after: datetime,
        *,
        country: str | None = None,
        subdivision: str | None = None,
    ) -> datetime | None:
        """The earliest instant ``>= after`` when a contact is allowed (see :meth:`ZoneSchedule.next_open`).

        :param zones: the recipient's zones.
        :param after: an aware datetime.
        :param country: holiday country (see :meth:`schedule`).
        :param subdivision: holiday subdivision.
        :returns: a UTC datetime, or None when nothing opens within ``horizon`` (or no zone).
        :raises ValidationError: a naive ``after``, an unknown zone or subdivision.
        """
        return self.schedule(zones, country, subdivision).next_open(after)

    def open_until(
        self,
        zones: Iterable[str] | str,
        at: datetime,
        *,
        country: str | None = None,
        subdivision: str | None = None,
    ) -> datetime | None:
        """The end of the open interval holding ``at`` (see :meth:`ZoneSchedule.open_until`).

        :param zones: the recipient's zones.
        :param at: an aware datetime.
        :param country: holiday country (see :meth:`schedule`).
        :param subdivision: holiday subdivision.
        :returns: a UTC datetime (at most ``at + horizon``), or None when closed at ``at``.
        :raises ValidationError: a naive ``at``, an unknown zone or subdivision.
        """
        return self.schedule(zones, country, subdivision).open_until(at)

    def intervals(
        self,
        zones: Iterable[str] | str,
        start: datetime,
        end: datetime,
        *,
        country: str | None = None,
        subdivision: str | None = None,
    ) -> list[tuple[datetime, datetime]]:
        """The open intervals within ``[start, end)`` (see :meth:`ZoneSchedule.intervals`).

        :param zones: the recipient's zones.
        :param start: an aware datetime.
        :param end: an aware datetime.
        :param country: holiday country (see :meth:`schedule`).
        :param subdivision: holiday subdivision.
        :returns: ``(open, close)`` UTC pairs, sorted, disjoint, clipped to ``[start, end)``.
        :raises ValidationError: naive datetimes, an unknown zone or subdivision.
        """
        return self.schedule(zones, country, subdivision).intervals(start, end)

    # -- frequency --------------------------------------------------------------------------------
    def frequency_hold(
        self, contacts: Sequence[float], refusals: Sequence[float], now: float
    ) -> tuple[HoldReason, float] | None:
        """Whether one person's history holds a contact now, and until when.

        Rules: ``min_gap`` after the latest contact; at most ``max_contacts`` contacts in the
        rolling ``period`` ending now (a contact at ``now - period`` or earlier no longer counts);
        ``pause_after_refusal`` after the latest refusal. With the transactional exemption only
        the refusal pause applies. When several rules hold, the one that lasts longest is given
        (on a tie: ``refusal_pause``, then ``max_contacts``, then ``min_gap``): its time is the
        earliest at which every rule allows a contact, provided none is made in between.

        :param contacts: POSIX timestamps of the person's earlier contacts (any order).
        :param refusals: POSIX timestamps of the person's refusals (any order).
        :param now: the POSIX time of the contact being considered.
        :returns: None when a contact is allowed now, else ``(reason, not_before)``: ``reason`` is
            ``"min_gap"``, ``"max_contacts"`` or ``"refusal_pause"``; ``not_before`` the earliest
            POSIX time of the next allowed contact (``max_contacts``: when enough of the oldest
            contacts in the period have aged out; ``refusal_pause``: the refusal + the pause).
        """
        holds: list[tuple[HoldReason, float]] = []
        if self.pause_after_refusal is not None and refusals:
            until = max(refusals) + self.pause_after_refusal.total_seconds()
            if now < until:
                holds.append(("refusal_pause", until))
        if not self.exempt:
            if self.min_gap is not None and contacts:
                until = max(contacts) + self.min_gap.total_seconds()
                if now < until:
                    holds.append(("min_gap", until))
            if self.max_contacts is not None and self.period is not None:
                period = self.period.total_seconds()
                recent = sorted(c for c in contacts if c > now - period)
                if len(recent) >= self.max_contacts:
                    holds.append(("max_contacts", recent[len(recent) - self.max_contacts] + period))
        if not holds:
            return None
        return max(holds, key=lambda hold: (hold[1], _HOLD_PRIORITY[hold[0]]))

    # -- logs -------------------------------------------------------------------------------------
    def describe(self) -> str:
        """A one-line summary for logs.

        E.g. ``"FR_MARKETING (marketing): Mon-Fri 10:00-13:00, 14:00-20:00 recipient-local, no
        public holidays, ≤4 per 30 days, 60 days after a refusal"`` (ranges written with en dashes).
        """
        refusal = (
            f"{_duration(self.pause_after_refusal)} after a refusal" if self.pause_after_refusal is not None else None
        )
        if self.exempt:
            rules = ["exempt: any time, no cap", *([refusal] if refusal else [])]
            return f"{self.name} ({self.purpose}): {', '.join(rules)}"
        windows = ", ".join(w.label() for w in self.windows) or "no window"
        parts = [f"{_describe_days(self.weekdays)} {windows} recipient-local"]
        if self.never_open:
            parts.append("never open")
        if self.skip_public_holidays:
            parts.append("no public holidays")
        if self.min_gap is not None:
            parts.append(f"≥{_duration(self.min_gap)} between contacts")
        if self.max_contacts is not None and self.period is not None:
            parts.append(f"≤{self.max_contacts} per {_duration(self.period)}")
        if refusal:
            parts.append(refusal)
        if self.timezone_fallback == "hold":
            parts.append("unknown zone: held")
        return f"{self.name} ({self.purpose}): {', '.join(parts)}"


def _is_clock(value: Any) -> bool:
    """Whether a value is one time of day (a ``time`` or ``"HH:MM"``), not a whole window."""
    return isinstance(value, time) or (isinstance(value, str) and bool(_TIME.match(value.strip())))


# -- presets ---------------------------------------------------------------------------------------
FR_MARKETING = ContactPolicy(
    name="FR_MARKETING",
    exempt_transactional=True,
    weekdays="mon-fri",
    windows=("10:00-13:00", "14:00-20:00"),
    skip_public_holidays=True,
    max_contacts=4,
    period=timedelta(days=30),
    pause_after_refusal=timedelta(days=60),
)
"""France, telephone canvassing (démarchage téléphonique). Code de la consommation, art. L.223-1
and D.223-9 (décret n° 2022-1313 du 13 octobre 2022, in force 1 March 2023): only Monday to
Friday, 10:00-13:00 and 14:00-20:00, never on Saturdays, Sundays or public holidays (the
recipient's local time: give ``country="FR"`` and, for Alsace-Moselle, ``subdivision``); at most
4 solicitations per 30 calendar days; after a refusal, no new solicitation for 60 days.
Transactional contacts (an ongoing contract's alerts and reminders) are exempt."""

US_TCPA = ContactPolicy(name="US_TCPA", exempt_transactional=True, windows=("08:00-21:00",))
"""United States, Telephone Consumer Protection Act: 47 U.S.C. § 227 and 47 CFR § 64.1200(c)(1):
no telephone solicitation before 8 a.m. or after 9 p.m. local time at the called party's
location, every day. Transactional (non-telemarketing) calls are exempt. State "mini-TCPA" laws
(e.g. Florida, Oklahoma: 8 a.m.-8 p.m., holiday bans) are stricter and not included: build a
custom policy for them."""

IN_TRAI_COMMERCIAL = ContactPolicy(name="IN_TRAI_COMMERCIAL", exempt_transactional=True, windows=("09:00-21:00",))
"""India, TRAI Telecom Commercial Communications Customer Preference Regulations, 2018 (TCCCPR):
promotional commercial communications only between 09:00 and 21:00 (IST), every day.
Transactional and service messages are exempt."""

PRESETS: dict[str, ContactPolicy] = {
    "FR_MARKETING": FR_MARKETING,
    "US_TCPA": US_TCPA,
    "IN_TRAI_COMMERCIAL": IN_TRAI_COMMERCIAL,
}
"""The presets by name (what :meth:`ContactPolicy.from_arg` accepts as a string)."""


# -- time zones of a number ------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _zone_info(name: str, field: str = "zones") -> ZoneInfo:
    """The :class:`ZoneInfo` of an IANA name.

    :param name: ``"Europe/Paris"``.
    :param field: the argument name used in errors.
    :raises ValidationError: not a zone of the tz database.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValidationError(field, name, "an IANA time zone name such as 'Europe/Paris'") from None


class _RegionTypes(NamedTuple):
    """One region's number-type patterns, compiled once: what :func:`phonenumbers.number_type` checks."""

    general: tuple[frozenset[int], re.Pattern[str] | None] | None
    non_geographic: tuple[tuple[frozenset[int], re.Pattern[str] | None], ...]
    fixed_line: tuple[frozenset[int], re.Pattern[str] | None] | None
    mobile: tuple[frozenset[int], re.Pattern[str] | None] | None
    same_mobile_and_fixed_line: bool
    leading_digits: re.Pattern[str] | None


_TYPE_UNKNOWN, _TYPE_NON_GEO, _TYPE_FIXED, _TYPE_MOBILE = range(4)


def _desc(desc: Any) -> tuple[frozenset[int], re.Pattern[str] | None] | None:
    """A number description's possible lengths and compiled pattern (None when absent)."""
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return frozenset(desc.possible_length or ()), re.compile(pattern) if pattern else None


def _matches(nsn: str, desc: tuple[frozenset[int], re.Pattern[str] | None] | None) -> bool:
    """``phonenumbers``' ``_is_number_matching_desc``: the length is possible and the pattern matches whole."""
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return pattern is not None and pattern.fullmatch(nsn) is not None


@cache
def _region_types(region: str, country_code: int) -> _RegionTypes | None:
    """The compiled patterns of a region (``"001"``: the non-geographic entity of ``country_code``)."""
    if region == _NON_GEO_REGION:
        metadata = PhoneMetadata.metadata_for_nongeo_region(country_code, None)
    else:
        metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    others = (
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    )
    return _RegionTypes(
        general=_desc(metadata.general_desc),
        non_geographic=tuple(desc for desc in map(_desc, others) if desc is not None and desc[1] is not None),
        fixed_line=_desc(metadata.fixed_line),
        mobile=_desc(metadata.mobile),
        same_mobile_and_fixed_line=bool(metadata.same_mobile_and_fixed_line_pattern),
        leading_digits=re.compile(metadata.leading_digits) if metadata.leading_digits else None,
    )


def _number_kind(nsn: str, types: _RegionTypes) -> int:
    """The type class of a national significant number, in the order ``phonenumbers.number_type`` tests."""
    if not _matches(nsn, types.general):
        return _TYPE_UNKNOWN
    for desc in types.non_geographic:
        if _matches(nsn, desc):
            return _TYPE_NON_GEO
    if _matches(nsn, types.fixed_line):
        return _TYPE_FIXED  # FIXED_LINE or FIXED_LINE_OR_MOBILE: geographic either way
    if not types.same_mobile_and_fixed_line and _matches(nsn, types.mobile):
        return _TYPE_MOBILE
    return _TYPE_UNKNOWN


class _CountryData(NamedTuple):
    """What the zone lookup needs of one calling code, computed once."""

    regions: tuple[str, ...]
    #: phonenumbers' country-level zones (``Etc/Unknown`` when it has none)
    zones: tuple[str, ...]
    #: whether its mobile numbers are geographic (then they get their prefix's zones)
    geo_mobile: bool
    #: the lengths of the TIMEZONE_DATA prefixes a number of this code can match, longest first
    prefix_lengths: tuple[int, ...]


@cache
def _tzdata() -> tuple[dict[str, Any], int]:
    """``phonenumbers.tzdata``'s prefix -> zones table and its longest prefix, loaded on first use: the
    table takes tens of ms to import and DAG files import this module (a policy argument is checked
    when the DAG is parsed, before any number is looked up)."""
    from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

    return TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX


@cache
def _country_data(country_code: int) -> _CountryData:
    """A calling code's regions, country-level zones, geographic mobiles and prefix lengths."""
    table, longest = _tzdata()
    regions = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()))
    code = str(country_code)
    zones: tuple[str, ...] = (_UNKNOWN_ZONE,)
    for length in range(longest, 0, -1):  # as phonenumbers' _country_level_time_zones_for_number
        prefix = code[: 1 + length]
        if prefix in table:
            zones = tuple(table[prefix])
            break
    # calling codes are prefix-free: a key a number of this code can match starts with the code or begins it
    lengths = {len(key) for key in table if key.startswith(code) or code.startswith(key)}
    return _CountryData(
        regions,
        zones,
        is_number_type_geographical(PhoneNumberType.MOBILE, country_code),
        tuple(sorted((n for n in lengths if n <= longest), reverse=True)),
    )


_CODES = {str(code): code for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}


def _split(digits: str) -> tuple[int, str] | None:
    """``(country calling code, national significant number)`` of E.164 digits (no ``+``), or None."""
    for length in (1, 2, 3):
        code = _CODES.get(digits[:length])
        if code is not None:
            return code, digits[length:]
    return None


def _region_and_kind(country_code: int, nsn: str) -> tuple[str | None, int]:
    """The number's region (as :func:`phonenumbers.region_code_for_number`) and type class."""
    regions = _country_data(country_code).regions
    if len(regions) == 1:
        types = _region_types(regions[0], country_code)
        return regions[0], (_number_kind(nsn, types) if types is not None else _TYPE_UNKNOWN)
    for candidate in regions:  # as phonenumbers' _region_code_for_number_from_list
        types = _region_types(candidate, country_code)
        if types is None:
            continue
        if types.leading_digits is not None:
            if types.leading_digits.match(nsn):
                return candidate, _number_kind(nsn, types)
        else:
            kind = _number_kind(nsn, types)
            if kind != _TYPE_UNKNOWN:
                return candidate, kind
    return None, _TYPE_UNKNOWN


def _e164_digits(number: str, region: str | None) -> str:
    """The digits (no ``+``) of a number: E.164 as is, anything else parsed with ``phonenumbers``.

    :param number: the number.
    :param region: ISO region for a number written without ``+country``.
    :raises ValidationError: (field ``number``) not a phone number.
    """
    if _E164.match(number):
        return number[1:]
    try:
        parsed = phonenumbers.parse(number, region.upper() if region else None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("number", number, f"a phone number in E.164 form (+country...): {exc}") from None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


@lru_cache(maxsize=1 << 16)
def _number_zones(number: str, region: str | None, fallback: TimezoneFallback) -> tuple[str, ...]:
    """The zones of a number (see :func:`recipient_zones`), cached per number."""
    digits = _e164_digits(number, region)
    split = _split(digits)
    if split is None:
        return ()
    country_code, nsn = split
    data = _country_data(country_code)
    country_zones = data.zones
    geo: tuple[str, ...] = (_UNKNOWN_ZONE,)
    table = _tzdata()[0]
    for length in data.prefix_lengths:  # as time_zones_for_geographical_number, only the lengths that exist
        found = table.get(digits[:length])
        if found is not None:
            geo = tuple(found)
            break
    known_country = () if country_zones == (_UNKNOWN_ZONE,) else country_zones
    if geo == country_zones and fallback == "country":
        return known_country  # every type of number gets these zones: no need to classify it
    kind = _region_and_kind(country_code, nsn)[1]
    if kind == _TYPE_UNKNOWN:
        zones: tuple[str, ...] = (_UNKNOWN_ZONE,)
    elif kind == _TYPE_FIXED or (kind == _TYPE_MOBILE and data.geo_mobile):
        zones = geo
    else:
        zones = country_zones
    if zones == (_UNKNOWN_ZONE,):
        return known_country if fallback == "country" else ()
    return zones


def recipient_zones(
    number_e164: str,
    timezone: str | None = None,
    region: str | None = None,
    *,
    fallback: TimezoneFallback = "country",
) -> tuple[str, ...]:
    """The IANA time zones a recipient may be in.

    An explicit ``timezone`` (a column of the recipient data) wins. Otherwise the zones
    ``phonenumbers`` gives the number (``phonenumbers.timezone.time_zones_for_number``: by prefix
    for fixed lines and geographic mobiles, the whole calling code for mobiles, toll-free and other
    non-geographic numbers). When that is ``Etc/Unknown`` (an invalid number such as ``+1 555``),
    ``fallback="country"`` gives every zone of the number's calling code (``+1``: all 42 zones of
    the North American Numbering Plan), ``"hold"`` gives ``()``. Results are cached per number;
    the type of a number is classified with ``phonenumbers``' own metadata, compiled once, and only
    when its calling code spans several zones.

    :param number_e164: the number, E.164 (``"+33612345678"``); another form is parsed with ``region``.
    :param timezone: the recipient's IANA zone, when the data gives one (blank: none).
    :param region: ISO region to read a number written without ``+country`` (``"FR"``).
    :param fallback: what an unknown zone becomes: ``"country"`` (default) or ``"hold"``.
    :returns: the zones, e.g. ``("America/Adak", "America/Anchorage")``; ``()`` when unknown (held).
    :raises ValidationError: ``timezone`` is not an IANA zone (field ``timezone_field``), or the
        number cannot be read (field ``number``).
    """
    if timezone is not None:
        name = str(timezone).strip()
        if name:
            _zone_info(name, "timezone_field")
            return (name,)
    if fallback not in ("country", "hold"):
        raise ValidationError("timezone_fallback", fallback, "'country' or 'hold'")
    return _number_zones(str(number_e164).strip(), region, fallback)


@lru_cache(maxsize=1 << 16)
def _number_country(number: str, region: str | None) -> str | None:
    """The ISO region of a number (see :func:`country_of`), cached per number."""
    split = _split(_e164_digits(number, region))
    if split is None:
        return None
    found = _region_and_kind(*split)[0]
    return None if found in (None, _NON_GEO_REGION, "ZZ") else found


def country_of(number_e164: str, region: str | None = None) -> str | None:
    """The ISO region of a number, as :func:`phonenumbers.region_code_for_number` says (``"FR"``).

    :param number_e164: the number, E.164.
    :param region: ISO region to read a number written without ``+country``.
    :returns: the region, or None (an invalid number of a shared calling code such as ``+1 555``,
        or a non-geographic ``+800`` number).
    :raises ValidationError: (field ``number``) the number cannot be read.
    """
    return _number_country(str(number_e164).strip(), region)


# -- holidays --------------------------------------------------------------------------------------
@cache
def _holiday_country(country: str | None) -> str | None:
    """The country as the ``holidays`` library knows it, or None (no holidays)."""
    if not country:
        return None
    import holidays  # imported when first needed: it takes a few hundred ms (DAG files import this module)

    code = country.strip().upper()
    return code if code in holidays.list_supported_countries() else None


@lru_cache(maxsize=1024)
def _holiday_days(country: str, subdivision: str | None, year: int) -> frozenset[int]:
    """The public holidays of a country's year, as days since 1970-01-01.

    :raises ValidationError: (field ``subdivision``) the country has no such subdivision.
    """
    import holidays

    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError:
        known = holidays.list_supported_countries().get(country, [])
        raise ValidationError(
            "subdivision",
            subdivision,
            f"a subdivision of {country} in the holidays library: one of {', '.join(known) or '(none)'}",
        ) from None
    return frozenset(day.toordinal() - _EPOCH_ORDINAL for day in calendar)


# -- schedules -------------------------------------------------------------------------------------
def _to_us(value: datetime, field: str) -> int:
    """An aware datetime as microseconds since the epoch.

    :raises ValidationError: not an aware datetime.
    """
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, value, "an aware datetime (e.g. datetime.now(timezone.utc))")
    return (value - _EPOCH) // _ONE_US


def _from_us(value: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=value)


def _offset_us(zone: ZoneInfo, second: int) -> int:
    """The zone's UTC offset (microseconds) at a POSIX second."""
    offset = datetime.fromtimestamp(second, zone).utcoffset()
    return 0 if offset is None else offset // _ONE_US


def _segments(zone: ZoneInfo, start: int, end: int) -> list[tuple[int, int, int]]:
    """``(from, to, offset)`` spans of ``[start, end)`` (microseconds, second-aligned) of constant UTC offset."""
    out: list[tuple[int, int, int]] = []
    first, last = start // _SECOND, -(-end // _SECOND)
    offset = _offset_us(zone, first)
    begin, probe = start, first
    while probe < last:
        ahead = min(probe + _OFFSET_STEP, last)
        if _offset_us(zone, ahead) == offset:
            probe = ahead
            continue
        low, high = probe, ahead  # offset(low) == offset != offset(high): bisect to the second
        while high - low > 1:
            middle = (low + high) // 2
            if _offset_us(zone, middle) == offset:
                low = middle
            else:
                high = middle
        change = min(high * _SECOND, end)
        if change > begin:
            out.append((begin, change, offset))
        begin, probe, offset = change, high, _offset_us(zone, high)
    if begin < end:
        out.append((begin, end, offset))
    return out


def _intersect(left: list[tuple[int, int]], right: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intersection of two sorted lists of disjoint half-open intervals."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        low = max(left[i][0], right[j][0])
        high = min(left[i][1], right[j][1])
        if low < high:
            out.append((low, high))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


class ZoneSchedule:
    """When one zone class (a policy, a set of zones, a holiday country and subdivision) is open.

    Built by :meth:`ContactPolicy.schedule` (cached) and shared by every recipient of the class.
    Open intervals are computed in UTC, 16 days at a time, on first use, and kept. All answers are
    aware UTC datetimes. The rule is the module docstring's: open when open in every zone
    (local weekday, holiday, window); an exempt policy is always open; no zone is never open.

    :param policy: the policy.
    :param zones: the IANA zones (sorted, distinct).
    :param country: the holiday country as the ``holidays`` library knows it, or None.
    :param subdivision: the holiday subdivision, or None.
    :raises ValidationError: an unknown zone (field ``zones``) or subdivision (field ``subdivision``).
    """

    __slots__ = (
        "_chunks",
        "_days",
        "_infos",
        "_mode",
        "_windows",
        "country",
        "horizon_us",
        "policy",
        "subdivision",
        "zones",
    )

    def __init__(
        self, policy: ContactPolicy, zones: tuple[str, ...], country: str | None, subdivision: str | None
    ) -> None:
        self.policy = policy
        self.zones = zones
        self.country = country
        self.subdivision = subdivision
        self._infos = tuple(_zone_info(name) for name in zones)
        self._windows = tuple((w.start_us, w.end_us) for w in policy.windows)
        self._days = policy.weekdays
        #: the policy's horizon in microseconds
        self.horizon_us: int = policy.horizon // _ONE_US
        self._chunks: dict[int, tuple[list[int], list[int]]] = {}
        if policy.exempt:
            self._mode = "always"
        elif not zones or policy.never_open:
            self._mode = "never"
        else:
            self._mode = "windows"
        if self._mode == "windows" and policy.skip_public_holidays and country is not None:
            _holiday_days(country, subdivision, datetime.now(_UTC).year)  # an unknown subdivision fails here

    def __repr__(self) -> str:
        where = f", country={self.country!r}" if self.country else ""
        return f"ZoneSchedule({self.policy.name!r}, zones={self.zones!r}{where}, {self._mode})"

    # -- intervals ---------------------------------------------------------------------------------
    def _is_holiday(self, day: int) -> bool:
        """Whether a local date (days since 1970-01-01) is a public holiday of the schedule's country."""
        if self.country is None or not self.policy.skip_public_holidays:
            return False
        year = date.fromordinal(day + _EPOCH_ORDINAL).year
        return day in _holiday_days(self.country, self.subdivision, year)

    def _zone_intervals(self, zone: ZoneInfo, start: int, end: int) -> list[tuple[int, int]]:
        """The open intervals of one zone within ``[start, end)`` (microseconds)."""
        out: list[tuple[int, int]] = []
        for low, high, offset in _segments(zone, start, end):
            for day in range((low + offset) // _DAY, (high - 1 + offset) // _DAY + 1):
                if (day + 3) % 7 not in self._days or self._is_holiday(day):  # 1970-01-01 was a Thursday
                    continue
                base = day * _DAY - offset
                for window_start, window_end in self._windows:
                    begin, finish = max(base + window_start, low), min(base + window_end, high)
                    if begin >= finish:
                        continue
                    if out and out[-1][1] >= begin:
                        out[-1] = (out[-1][0], max(out[-1][1], finish))
                    else:
                        out.append((begin, finish))
        return out

    def _chunk(self, index: int) -> tuple[list[int], list[int]]:
        """The open intervals of chunk ``index`` (``[index * 16 days, (index + 1) * 16 days)``): starts, ends."""
        found = self._chunks.get(index)
        if found is not None:
            return found
        start, end = index * _CHUNK, (index + 1) * _CHUNK
        merged: list[tuple[int, int]] | None = None
        for zone in self._infos:
            spans = self._zone_intervals(zone, start, end)
            merged = spans if merged is None else _intersect(merged, spans)
            if not merged:
                break
        spans = merged or []
        result = ([s for s, _ in spans], [e for _, e in spans])
        if len(self._chunks) >= _MAX_CHUNKS:
            self._chunks.clear()
        self._chunks[index] = result
        return result

    # -- questions -----------------------------------------------------------------------------------
    def is_open(self, at: datetime) -> bool:
        """Whether a contact is allowed at the instant ``at``.

        :param at: an aware datetime.
        :raises ValidationError: (field ``at``) a naive datetime.
        """
        moment = _to_us(at, "at")
        if self._mode != "windows":
            return self._mode == "always"
        starts, ends = self._chunk(moment // _CHUNK)
        i = bisect_right(starts, moment) - 1
        return i >= 0 and moment < ends[i]

    def next_open(self, after: datetime) -> datetime | None:
        """The earliest instant ``>= after`` when a contact is allowed (``after`` itself when open).

        :param after: an aware datetime.
        :returns: a UTC datetime; None when nothing opens before ``after + horizon`` (no weekday,
            no window, no zone).
        :raises ValidationError: (field ``after``) a naive datetime.
        """
        moment = _to_us(after, "after")
        if self._mode != "windows":
            return _from_us(moment) if self._mode == "always" else None
        limit = moment + self.horizon_us
        index = moment // _CHUNK
        while index * _CHUNK < limit:
            starts, ends = self._chunk(index)
            i = bisect_right(ends, moment)  # the first interval ending after the moment
            if i < len(starts):
                found = max(starts[i], moment)
                return _from_us(found) if found < limit else None
            index += 1
        return None

    def open_until(self, at: datetime) -> datetime | None:
        """The end of the open interval holding ``at``: the instant contacts must stop.

        :param at: an aware datetime.
        :returns: a UTC datetime, at most ``at + horizon`` (an always-open policy gives that cap);
            None when closed at ``at``.
        :raises ValidationError: (field ``at``) a naive datetime.
        """
        moment = _to_us(at, "at")
        limit = moment + self.horizon_us
        if self._mode != "windows":
            return _from_us(limit) if self._mode == "always" else None
        index = moment // _CHUNK
        starts, ends = self._chunk(index)
        i = bisect_right(starts, moment) - 1
        if i < 0 or moment >= ends[i]:
            return None
        end = ends[i]
        while end == (index + 1) * _CHUNK and end < limit:  # runs into the next chunk
            index += 1
            starts, ends = self._chunk(index)
            if not starts or starts[0] != end:
                break
            end = ends[0]
        return _from_us(min(end, limit))

    def intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open intervals within ``[start, end)``, sorted, disjoint, clipped to the range.

        :param start: an aware datetime.
        :param end: an aware datetime (an ``end`` not after ``start`` gives ``[]``).
        :returns: ``(open, close)`` pairs of UTC datetimes.
        :raises ValidationError: (field ``start`` / ``end``) a naive datetime.
        """
        low, high = _to_us(start, "start"), _to_us(end, "end")
        if low >= high or self._mode == "never":
            return []
        if self._mode == "always":
            return [(_from_us(low), _from_us(high))]
        out: list[tuple[int, int]] = []
        for index in range(low // _CHUNK, (high - 1) // _CHUNK + 1):
            starts, ends = self._chunk(index)
            for begin, finish in zip(starts, ends, strict=True):
                begin, finish = max(begin, low), min(finish, high)
                if begin >= finish:
                    continue
                if out and out[-1][1] == begin:
                    out[-1] = (out[-1][0], finish)
                else:
                    out.append((begin, finish))
        return [(_from_us(a), _from_us(b)) for a, b in out]


@lru_cache(maxsize=4096)
def _schedule(
    policy: ContactPolicy, zones: tuple[str, ...], country: str | None, subdivision: str | None
) -> ZoneSchedule:
    """The cached :class:`ZoneSchedule` of a zone class (arguments already normalised)."""
    return ZoneSchedule(policy, zones, country, subdivision)
