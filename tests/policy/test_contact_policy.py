"""Contact policies: local windows across DST, holidays, several zones, frequency rules, bad input.

Clocks are explicit datetimes. The sweep compares every answer with a brute-force reference read
straight from the local wall clock (``at.astimezone(ZoneInfo(zone))``): the property "no call
outside a window" rests on it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Container
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from phonenumbers.timezone import _country_level_time_zones_for_number, time_zones_for_number

from airflow_provider_voice.delivery.contact_policy import (
    FR_MARKETING,
    IN_TRAI_COMMERCIAL,
    PRESETS,
    US_TCPA,
    ContactPolicy,
    DailyWindow,
    ZoneSchedule,
    country_of,
    recipient_zones,
)
from airflow_provider_voice.errors import ValidationError

PARIS = ("Europe/Paris",)
DAY = 86_400.0


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# -- France: DST, lunch, evening, holidays --------------------------------------------------------
def test_fr_marketing_next_open_across_the_march_dst_change():
    # Sat 28 March 12:00 UTC: weekend; clocks go 02:00 -> 03:00 on Sun 29; Monday 10:00 CEST = 08:00 UTC
    assert FR_MARKETING.next_open(PARIS, utc(2026, 3, 28, 12), country="FR") == utc(2026, 3, 30, 8)
    assert not FR_MARKETING.is_open(PARIS, utc(2026, 3, 29, 9), country="FR")  # Sunday
    assert FR_MARKETING.intervals(PARIS, utc(2026, 3, 27), utc(2026, 3, 31), country="FR") == [
        (utc(2026, 3, 27, 9), utc(2026, 3, 27, 12)),  # Friday, still CET (UTC+1)
        (utc(2026, 3, 27, 13), utc(2026, 3, 27, 19)),
        (utc(2026, 3, 30, 8), utc(2026, 3, 30, 11)),  # Monday, CEST (UTC+2)
        (utc(2026, 3, 30, 12), utc(2026, 3, 30, 18)),
    ]


def test_fr_marketing_next_open_across_the_october_dst_change():
    # clocks go 03:00 -> 02:00 on Sun 25 October: Monday 10:00 CET = 09:00 UTC
    assert FR_MARKETING.next_open(PARIS, utc(2026, 10, 24, 12), country="FR") == utc(2026, 10, 26, 9)
    assert FR_MARKETING.open_until(PARIS, utc(2026, 10, 26, 9), country="FR") == utc(2026, 10, 26, 12)
    assert FR_MARKETING.is_open(PARIS, utc(2026, 10, 26, 11, 59), country="FR")
    assert not FR_MARKETING.is_open(PARIS, utc(2026, 10, 26, 12, 30), country="FR")  # 13:30 CET, lunch
    assert FR_MARKETING.is_open(PARIS, utc(2026, 10, 26, 18, 59), country="FR")  # 19:59 CET
    assert not FR_MARKETING.is_open(PARIS, utc(2026, 10, 26, 19), country="FR")  # 20:00 CET


def test_fr_marketing_lunch_gap_and_evening_are_closed():
    monday = (2026, 3, 30)  # CEST, UTC+2
    assert FR_MARKETING.is_open(PARIS, utc(*monday, 8), country="FR")  # 10:00 opens
    assert not FR_MARKETING.is_open(PARIS, utc(*monday, 7, 59, 59), country="FR")
    assert FR_MARKETING.is_open(PARIS, datetime(*monday, 10, 59, 59, 999999, tzinfo=timezone.utc), country="FR")
    assert not FR_MARKETING.is_open(PARIS, utc(*monday, 11), country="FR")  # 13:00 lunch
    assert not FR_MARKETING.is_open(PARIS, utc(*monday, 11, 30), country="FR")
    assert FR_MARKETING.is_open(PARIS, utc(*monday, 12), country="FR")  # 14:00
    assert FR_MARKETING.open_until(PARIS, utc(*monday, 9), country="FR") == utc(*monday, 11)
    assert FR_MARKETING.open_until(PARIS, utc(*monday, 11, 30), country="FR") is None
    assert FR_MARKETING.next_open(PARIS, utc(*monday, 11, 30), country="FR") == utc(*monday, 12)
    assert not FR_MARKETING.is_open(PARIS, utc(*monday, 18), country="FR")  # 20:00 local
    assert FR_MARKETING.next_open(PARIS, utc(*monday, 18), country="FR") == utc(2026, 3, 31, 8)
    # a local datetime is the same instant
    assert FR_MARKETING.is_open(PARIS, datetime(*monday, 19, 59, tzinfo=ZoneInfo("Europe/Paris")), country="FR")


def test_fr_public_holidays_are_closed():
    assert not FR_MARKETING.is_open(PARIS, utc(2026, 5, 1, 9), country="FR")  # Friday, Fête du Travail
    assert not FR_MARKETING.is_open(PARIS, utc(2026, 7, 14, 9), country="FR")  # Tuesday, 14 juillet
    assert FR_MARKETING.is_open(PARIS, utc(2026, 7, 15, 9), country="FR")
    # Thursday 30 April 20:30 CEST: closed; Friday 1 May holiday, weekend; Monday 4 May 10:00 CEST
    assert FR_MARKETING.next_open(PARIS, utc(2026, 4, 30, 18, 30), country="FR") == utc(2026, 5, 4, 8)
    assert FR_MARKETING.next_open(PARIS, utc(2026, 7, 13, 18), country="FR") == utc(2026, 7, 15, 8)


def test_holiday_country_subdivision_and_unknown_countries():
    good_friday = utc(2026, 4, 3, 9)  # a holiday in Moselle (57) only
    assert FR_MARKETING.is_open(PARIS, good_friday, country="FR")
    assert not FR_MARKETING.is_open(PARIS, good_friday, country="FR", subdivision="57")
    # no country, or one the holidays library does not know: no holidays (documented)
    assert FR_MARKETING.is_open(PARIS, utc(2026, 5, 1, 9))
    assert FR_MARKETING.is_open(PARIS, utc(2026, 5, 1, 9), country="XX")
    with pytest.raises(ValidationError, match="subdivision of FR") as err:
        FR_MARKETING.is_open(PARIS, utc(2026, 5, 1, 9), country="FR", subdivision="XX")
    assert err.value.field == "subdivision"
    # a policy that does not skip holidays ignores country and subdivision
    assert US_TCPA.is_open(("America/New_York",), utc(2026, 7, 4, 15), country="US", subdivision="XX")


def test_schedule_for_a_number_derives_zones_and_holiday_country():
    schedule = FR_MARKETING.schedule_for("+33612345678")
    assert isinstance(schedule, ZoneSchedule)
    assert (schedule.zones, schedule.country) == (PARIS, "FR")
    assert not schedule.is_open(utc(2026, 5, 1, 9))
    assert schedule.next_open(utc(2026, 4, 30, 18, 30)) == utc(2026, 5, 4, 8)
    assert FR_MARKETING.schedule(PARIS, "fr") is schedule  # one schedule per zone class, cached
    assert FR_MARKETING.schedule(["Europe/Paris", "Europe/Paris"], "FR") is schedule


# -- United States: several zones, DST, unknown zones ---------------------------------------------
def test_us_tcpa_alaska_number_is_open_only_when_open_in_anchorage_and_adak():
    zones = recipient_zones("+19075550123")
    assert zones == ("America/Adak", "America/Anchorage")
    # summer: Anchorage UTC-8, Adak UTC-9; 08:00-21:00 in both = 17:00-05:00 UTC
    assert US_TCPA.intervals(zones, utc(2026, 7, 1, 6), utc(2026, 7, 2, 6)) == [
        (utc(2026, 7, 1, 17), utc(2026, 7, 2, 5)),
    ]
    assert not US_TCPA.is_open(zones, utc(2026, 7, 1, 16, 59))  # Anchorage 08:59, Adak 07:59
    assert US_TCPA.is_open(("America/Anchorage",), utc(2026, 7, 1, 16, 59))
    assert US_TCPA.is_open(zones, utc(2026, 7, 2, 4, 59))  # Anchorage 20:59
    assert not US_TCPA.is_open(zones, utc(2026, 7, 2, 5))  # Anchorage 21:00
    assert US_TCPA.next_open(zones, utc(2026, 7, 1, 6)) == utc(2026, 7, 1, 17)
    assert US_TCPA.open_until(zones, utc(2026, 7, 1, 20)) == utc(2026, 7, 2, 5)
    # winter: Anchorage UTC-9 -> 18:00-06:00 UTC
    assert US_TCPA.next_open(zones, utc(2026, 1, 15, 7)) == utc(2026, 1, 15, 18)


def test_us_tcpa_new_york_across_both_dst_changes():
    ny = recipient_zones("+12125550123")
    assert ny == ("America/New_York",)
    # Sun 8 March: 02:00 EST -> 03:00 EDT
    assert US_TCPA.intervals(ny, utc(2026, 3, 7), utc(2026, 3, 9, 12)) == [
        (utc(2026, 3, 7), utc(2026, 3, 7, 2)),  # Friday's window, 21:00 EST
        (utc(2026, 3, 7, 13), utc(2026, 3, 8, 2)),  # Saturday, EST (UTC-5)
        (utc(2026, 3, 8, 12), utc(2026, 3, 9, 1)),  # Sunday, EDT (UTC-4)
    ]
    assert US_TCPA.next_open(ny, utc(2026, 3, 8, 3)) == utc(2026, 3, 8, 12)
    # Sun 1 November: 02:00 EDT -> 01:00 EST
    assert US_TCPA.intervals(ny, utc(2026, 10, 31, 6), utc(2026, 11, 2, 6)) == [
        (utc(2026, 10, 31, 12), utc(2026, 11, 1, 1)),  # Saturday, EDT
        (utc(2026, 11, 1, 13), utc(2026, 11, 2, 2)),  # Sunday, EST
    ]
    assert US_TCPA.next_open(ny, utc(2026, 11, 1, 2)) == utc(2026, 11, 1, 13)


def test_us_555_number_gets_every_nanp_zone_and_the_most_restrictive_window():
    zones = recipient_zones("+15555550123")
    assert len(zones) == 42
    assert {"America/New_York", "America/St_Johns", "Pacific/Guam", "Pacific/Pago_Pago", "Pacific/Honolulu"} <= set(
        zones
    )
    assert country_of("+15555550123") is None
    # winter: 08:00 in Guam (UTC+10) to 21:00 in St John's (UTC-3:30) = 22:00-00:30 UTC
    assert US_TCPA.intervals(zones, utc(2026, 1, 10, 12), utc(2026, 1, 11, 12)) == [
        (utc(2026, 1, 10, 22), utc(2026, 1, 11, 0, 30)),
    ]
    # summer (St John's UTC-2:30): 22:00-23:30 UTC
    assert US_TCPA.intervals(zones, utc(2026, 7, 10, 12), utc(2026, 7, 11, 12)) == [
        (utc(2026, 7, 10, 22), utc(2026, 7, 10, 23, 30)),
    ]
    assert US_TCPA.next_open(zones, utc(2026, 7, 10, 12)) == utc(2026, 7, 10, 22)
    # "hold": no zone, never open
    held = US_TCPA.model_copy(update={"timezone_fallback": "hold"})
    assert held.zones_for("+15555550123") == ()
    assert recipient_zones("+15555550123", fallback="hold") == ()
    assert held.next_open((), utc(2026, 7, 10, 12)) is None
    assert not held.is_open((), utc(2026, 7, 10, 22, 30))
    assert held.intervals((), utc(2026, 7, 10), utc(2026, 7, 11)) == []
    # a known number is not held
    assert held.zones_for("+12125550123") == ("America/New_York",)


def test_in_trai_commercial_in_calcutta():
    zones = recipient_zones("+919876543210")
    assert zones == ("Asia/Calcutta",)
    assert not IN_TRAI_COMMERCIAL.is_open(zones, utc(2026, 6, 1, 3, 29))  # 08:59 IST
    assert IN_TRAI_COMMERCIAL.is_open(zones, utc(2026, 6, 1, 3, 30))  # 09:00 IST
    assert IN_TRAI_COMMERCIAL.is_open(zones, utc(2026, 6, 7, 15, 29))  # Sunday 20:59 IST: every day
    assert not IN_TRAI_COMMERCIAL.is_open(zones, utc(2026, 6, 1, 15, 30))  # 21:00 IST
    assert IN_TRAI_COMMERCIAL.next_open(zones, utc(2026, 6, 1, 16)) == utc(2026, 6, 2, 3, 30)
    assert IN_TRAI_COMMERCIAL.open_until(zones, utc(2026, 6, 1, 12)) == utc(2026, 6, 1, 15, 30)


def test_transactional_exemption_opens_everything_but_keeps_the_refusal_pause():
    alerts = FR_MARKETING.for_purpose("transactional")
    assert alerts.purpose == "transactional" and FR_MARKETING.purpose == "marketing"
    assert alerts.exempt and not FR_MARKETING.exempt
    sunday_night = utc(2026, 3, 29, 22)
    assert alerts.is_open(PARIS, sunday_night, country="FR")
    assert alerts.is_open((), sunday_night)  # even with no known zone
    assert alerts.next_open(PARIS, sunday_night) == sunday_night
    assert alerts.open_until(PARIS, sunday_night) == sunday_night + alerts.horizon
    assert alerts.intervals(PARIS, sunday_night, sunday_night + timedelta(hours=1)) == [
        (sunday_night, sunday_night + timedelta(hours=1))
    ]
    now = 1_800_000_000.0
    assert alerts.frequency_hold([now - i * DAY for i in range(1, 6)], [], now) is None
    assert alerts.frequency_hold([], [now - DAY], now) == ("refusal_pause", now + 59 * DAY)
    # not exempt when the policy does not say so
    strict = ContactPolicy(purpose="transactional", windows=["09:00-18:00"])
    assert not strict.is_open(PARIS, sunday_night)


# -- gaps, folds, 24:00 ----------------------------------------------------------------------------
def test_spring_forward_gap_starts_the_window_at_the_first_valid_instant():
    policy = ContactPolicy(windows=["02:30-04:00"])
    # Paris, 29 March 2026: 02:00 CET -> 03:00 CEST at 01:00 UTC
    assert policy.intervals(PARIS, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),
    ]
    inside = ContactPolicy(windows=["02:15-02:45"])  # wholly in the gap: does not open that day
    assert inside.next_open(PARIS, utc(2026, 3, 28, 12)) == utc(2026, 3, 30, 0, 15)


def test_fall_back_fold_covers_the_whole_real_interval():
    policy = ContactPolicy(windows=["01:00-03:00"])
    # Paris, 25 October 2026: 03:00 CEST -> 02:00 CET at 01:00 UTC: 01:00-03:00 local lasts 3 hours
    assert policy.intervals(PARIS, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [
        (utc(2026, 10, 24, 23), utc(2026, 10, 25, 2)),
    ]
    # a window ending inside the repeated hour opens again when that hour repeats
    early = ContactPolicy(windows=["00:00-02:30"])
    assert early.intervals(PARIS, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [
        (utc(2026, 10, 24, 22), utc(2026, 10, 25, 0, 30)),
        (utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30)),
    ]


def test_windows_ending_at_24_00_join_the_next_day():
    window = DailyWindow.model_validate("22:00-24:00")
    assert window.end == time.max and window.ends_at_midnight
    assert window.model_dump(mode="json") == {"start": "22:00", "end": "24:00"}
    assert window.contains(time(23, 59, 59, 999999)) and not window.contains(time(21, 59))
    policy = ContactPolicy(windows=["00:00-02:00", "22:00-24:00"])
    assert policy.intervals(("UTC",), utc(2026, 1, 1, 12), utc(2026, 1, 3, 12)) == [
        (utc(2026, 1, 1, 22), utc(2026, 1, 2, 2)),
        (utc(2026, 1, 2, 22), utc(2026, 1, 3, 2)),
    ]
    assert policy.open_until(("UTC",), utc(2026, 1, 1, 23)) == utc(2026, 1, 2, 2)
    always = ContactPolicy()
    assert always.open_until(("UTC",), utc(2026, 1, 1)) == utc(2026, 1, 1) + always.horizon  # capped
    assert always.intervals(("UTC",), utc(2026, 1, 1), utc(2026, 3, 1)) == [(utc(2026, 1, 1), utc(2026, 3, 1))]


# -- the sweep: every answer against the wall clock -----------------------------------------------
CUSTOM = ContactPolicy(
    name="sweep",
    weekdays=["mon", "wed", "sat", "sun"],
    windows="00:00-01:30, 02:30-04:00, 22:00-24:00",
    skip_public_holidays=True,
)
SWEEP_ZONES = [
    ("Europe/Paris",),
    ("America/New_York",),
    ("Asia/Kolkata",),
    ("Asia/Kathmandu",),  # UTC+5:45
    ("America/St_Johns",),  # UTC-3:30
    ("Australia/Lord_Howe",),  # a 30-minute DST shift, 5 April
    ("Pacific/Chatham",),  # UTC+13:45 -> +12:45, 5 April
    ("America/Santiago",),  # falls back at midnight, 5 April
    ("Australia/Sydney",),
    ("Africa/Casablanca",),
    ("America/Adak", "America/Anchorage"),
    ("America/New_York", "Europe/Paris"),
    ("Australia/Sydney", "Pacific/Chatham"),
]
SWEEP_START = utc(2026, 3, 20)  # Paris springs forward 29 March; the south falls back 5 April; Easter Monday 6 April
SWEEP_STEPS = 21 * 96  # three weeks, every 15 minutes
_FR_HOLIDAYS = holidays.country_holidays("FR", years=[2026])


def _open_in(policy: ContactPolicy, local: datetime, days_off: Container[date]) -> bool:
    """Whether one zone's wall clock is open: an allowed weekday, not a holiday, inside a window."""
    if local.weekday() not in policy.weekdays or local.date() in days_off:
        return False
    clock = local.time()
    return any(w.start <= clock and (w.end == time.max or clock < w.end) for w in policy.windows)


def reference_open(policy: ContactPolicy, zones: tuple[str, ...], at: datetime, country: str | None) -> bool:
    """Straight from the definition: in every zone, the local wall clock is on an open day, in a window."""
    if policy.exempt:
        return True
    days_off = _FR_HOLIDAYS if (policy.skip_public_holidays and country == "FR") else {}
    return bool(zones) and all(_open_in(policy, at.astimezone(ZoneInfo(zone)), days_off) for zone in zones)


_GRID = [SWEEP_START + timedelta(minutes=15 * i) for i in range(SWEEP_STEPS)]
_SWEEP_END = _GRID[-1] + timedelta(minutes=15)
_LOCAL: dict[str, list[datetime]] = {}  # each zone's wall clock at each grid instant, shared by the policies


def _reference_grid(policy: ContactPolicy, zones: tuple[str, ...]) -> list[bool]:
    days_off = _FR_HOLIDAYS if policy.skip_public_holidays else {}
    columns = [_LOCAL.setdefault(z, [at.astimezone(ZoneInfo(z)) for at in _GRID]) for z in zones]
    return [all(_open_in(policy, column[i], days_off) for column in columns) for i in range(SWEEP_STEPS)]


def _covered(spans: list[tuple[datetime, datetime]]) -> list[bool]:
    """Which grid instants fall inside one of the (sorted, disjoint) spans."""
    out, k = [], 0
    for at in _GRID:
        while k < len(spans) and spans[k][1] <= at:
            k += 1
        out.append(k < len(spans) and spans[k][0] <= at)
    return out


@pytest.mark.parametrize("policy", [FR_MARKETING, US_TCPA, IN_TRAI_COMMERCIAL, CUSTOM], ids=lambda p: p.name)
def test_sweep_is_open_and_next_open_agree_with_the_wall_clock(policy):
    """Every 15 minutes over three weeks, 13 zone sets: is_open, next_open, open_until, intervals."""
    for zones in SWEEP_ZONES:
        schedule = policy.schedule(zones, "FR")
        expected = _reference_grid(policy, zones)
        got = [schedule.is_open(at) for at in _GRID]
        wrong = [_GRID[i].isoformat() for i in range(SWEEP_STEPS) if got[i] != expected[i]]
        assert wrong == [], f"{policy.name} {zones}: is_open differs at {wrong[:5]}"
        assert any(expected) and not all(expected), f"{policy.name} {zones}: a sweep with nothing to see"
        spans = schedule.intervals(_GRID[0], _SWEEP_END)
        assert _covered(spans) == expected

        next_grid_open = [SWEEP_STEPS] * (SWEEP_STEPS + 1)  # index of the first open grid step at or after i
        for i in range(SWEEP_STEPS - 1, -1, -1):
            next_grid_open[i] = i if expected[i] else next_grid_open[i + 1]
        checked: set[datetime] = set()
        for i, at in enumerate(_GRID):
            found = schedule.next_open(at)
            if expected[i]:
                assert found == at
                until = schedule.open_until(at)
                assert until is not None and until > at
                if until not in checked:  # the end of the open interval: open just before, closed at it
                    checked.add(until)
                    assert not reference_open(policy, zones, until, "FR"), (zones, at, until)
                    assert reference_open(policy, zones, until - timedelta(microseconds=1), "FR"), (zones, until)
                continue
            assert schedule.open_until(at) is None
            assert found is not None and found > at
            # nothing open on the grid between at and found, and found is not after the next open step
            k = next_grid_open[i]
            assert found <= (_GRID[k] if k < SWEEP_STEPS else found), (zones, at, found)
            assert k == SWEEP_STEPS or found > _GRID[k - 1], (zones, at, found)
            if found not in checked:  # the first open instant: open at it, closed just before
                checked.add(found)
                assert reference_open(policy, zones, found, "FR"), (zones, at, found)
                assert not reference_open(policy, zones, found - timedelta(microseconds=1), "FR"), (zones, found)


# -- frequency -------------------------------------------------------------------------------------
NOW = 1_800_000_000.0


def test_frequency_allows_a_person_without_history():
    assert FR_MARKETING.frequency_hold([], [], NOW) is None
    assert FR_MARKETING.frequency_hold([NOW - 1 * DAY, NOW - 2 * DAY, NOW - 3 * DAY], [], NOW) is None


def test_frequency_max_contacts_in_a_rolling_period():
    contacts = [NOW - 20 * DAY, NOW - 40 * DAY, NOW - 10 * DAY, NOW - 5 * DAY, NOW - 1 * DAY]
    # four in the last 30 days: the oldest of them (20 days ago) ages out in 10 days
    assert FR_MARKETING.frequency_hold(contacts, [], NOW) == ("max_contacts", NOW + 10 * DAY)
    assert FR_MARKETING.frequency_hold(contacts, [], NOW + 10 * DAY) is None
    # a contact exactly one period ago no longer counts
    assert FR_MARKETING.frequency_hold([NOW - 30 * DAY, NOW - 3 * DAY, NOW - 2 * DAY, NOW - DAY], [], NOW) is None
    # six in the period (e.g. sent before the policy): three must age out
    six = [NOW - d * DAY for d in (29, 25, 20, 15, 10, 5)]
    assert FR_MARKETING.frequency_hold(six, [], NOW) == ("max_contacts", NOW + 10 * DAY)


def test_frequency_refusal_pause():
    assert FR_MARKETING.frequency_hold([], [NOW - 10 * DAY], NOW) == ("refusal_pause", NOW + 50 * DAY)
    assert FR_MARKETING.frequency_hold([], [NOW - 61 * DAY], NOW) is None
    assert FR_MARKETING.frequency_hold([], [NOW - 70 * DAY, NOW - 59 * DAY], NOW) == ("refusal_pause", NOW + DAY)
    # refusal and cap both hold: the one lasting longer is given
    four = [NOW - d * DAY for d in (4, 3, 2, 1)]
    assert FR_MARKETING.frequency_hold(four, [NOW - DAY], NOW) == ("refusal_pause", NOW + 59 * DAY)
    assert FR_MARKETING.frequency_hold(four, [NOW - 59.99 * DAY], NOW) == ("max_contacts", NOW + 26 * DAY)


def test_frequency_min_gap_and_the_exemption():
    policy = ContactPolicy(min_gap=timedelta(hours=2), max_contacts=2, period=timedelta(days=1))
    assert policy.frequency_hold([NOW - 3600], [], NOW) == ("min_gap", NOW + 3600)
    assert policy.frequency_hold([NOW - 3 * 3600], [], NOW) is None
    assert policy.frequency_hold([NOW - 10 * 3600, NOW - 3 * 3600], [], NOW) == ("max_contacts", NOW + 14 * 3600)
    # both hold: the one lasting longer is given; on a tie, max_contacts before min_gap
    assert policy.frequency_hold([NOW - 23.5 * 3600, NOW - 1800], [], NOW) == ("min_gap", NOW + 5400)
    assert policy.frequency_hold([NOW - 23 * 3600, NOW - 3600], [], NOW) == ("max_contacts", NOW + 3600)
    exempt = policy.model_copy(update={"exempt_transactional": True}).for_purpose("transactional")
    assert exempt.frequency_hold([NOW - 60, NOW - 30], [], NOW) is None
    no_exemption = policy.for_purpose("transactional")
    assert no_exemption.frequency_hold([NOW - 60], [], NOW) == ("min_gap", NOW - 60 + 7200)


# -- building policies, presets, serialisation -----------------------------------------------------
def test_presets_are_what_the_law_says():
    assert set(PRESETS) == {"FR_MARKETING", "US_TCPA", "IN_TRAI_COMMERCIAL"}
    assert FR_MARKETING.weekdays == frozenset(range(5))
    assert [w.label() for w in FR_MARKETING.windows] == ["10:00–13:00", "14:00–20:00"]  # noqa: RUF001
    assert (FR_MARKETING.max_contacts, FR_MARKETING.period) == (4, timedelta(days=30))
    assert FR_MARKETING.pause_after_refusal == timedelta(days=60)
    assert FR_MARKETING.skip_public_holidays and FR_MARKETING.exempt_transactional
    assert FR_MARKETING.send_margin == timedelta(minutes=5)
    assert [w.label() for w in US_TCPA.windows] == ["08:00–21:00"]  # noqa: RUF001
    assert US_TCPA.weekdays == frozenset(range(7))
    assert [w.label() for w in IN_TRAI_COMMERCIAL.windows] == ["09:00–21:00"]  # noqa: RUF001
    assert FR_MARKETING.describe() == (
        "FR_MARKETING (marketing): Mon–Fri 10:00–13:00, 14:00–20:00 recipient-local, no public holidays, "  # noqa: RUF001
        "≤4 per 30 days, 60 days after a refusal"
    )
    assert US_TCPA.describe() == "US_TCPA (marketing): every day 08:00–21:00 recipient-local"  # noqa: RUF001
    assert "exempt" in FR_MARKETING.for_purpose("transactional").describe()


@pytest.mark.parametrize("policy", [*PRESETS.values(), CUSTOM, ContactPolicy(min_gap=timedelta(hours=1))])
def test_json_dump_round_trips(policy):
    dumped = policy.model_dump(mode="json")
    assert dumped["weekdays"] == sorted(policy.weekdays)
    assert ContactPolicy.model_validate(dumped) == policy
    assert ContactPolicy.from_arg(dumped) == policy
    assert ContactPolicy.model_validate(policy.model_dump()) == policy


def test_building_from_strings_tuples_and_names():
    policy = ContactPolicy(
        weekdays="mon-fri",
        windows=[("14:00", "20:00"), "10:00-13:00"],
        period="P7D",
        max_contacts=2,
    )
    assert policy.weekdays == frozenset(range(5))
    assert [w.label() for w in policy.windows] == ["10:00–13:00", "14:00–20:00"]  # sorted  # noqa: RUF001
    assert ContactPolicy(windows=(time(8), time(9))).windows == (DailyWindow(start=time(8), end=time(9)),)
    assert ContactPolicy(weekdays=["Saturday", "sun", 0]).weekdays == frozenset({0, 5, 6})
    assert ContactPolicy(weekdays="fri-mon").weekdays == frozenset({4, 5, 6, 0})
    assert (
        ContactPolicy(windows="08:00-09:00,12:00-13:00")
        .describe()
        .startswith("custom (marketing): every day 08:00–09:00, 12:00–13:00")  # noqa: RUF001
    )
    assert ContactPolicy.from_arg("fr_marketing") is FR_MARKETING
    assert ContactPolicy.from_arg(" US_TCPA ") is US_TCPA
    assert ContactPolicy.from_arg(None) is None
    assert ContactPolicy.from_arg(CUSTOM) is CUSTOM
    modified = ContactPolicy.from_arg({"preset": "FR_MARKETING", "windows": ["10:00-12:00"]})
    assert modified is not None and modified.name == "FR_MARKETING (modified)"
    assert modified.max_contacts == 4 and [w.label() for w in modified.windows] == ["10:00–12:00"]  # noqa: RUF001
    alerts = ContactPolicy.from_arg('{"preset": "fr_marketing", "purpose": "transactional"}')
    assert alerts is not None and alerts.exempt and alerts.name == "FR_MARKETING"


def test_empty_weekdays_or_windows_never_open():
    closed = ContactPolicy(weekdays=[])
    assert closed.next_open(PARIS, utc(2026, 1, 1)) is None
    assert not closed.is_open(PARIS, utc(2026, 1, 1, 12))
    assert "never open" in closed.describe()
    assert ContactPolicy(windows=[]).next_open(PARIS, utc(2026, 1, 1)) is None
    # a short horizon limits the search
    weekly = ContactPolicy(weekdays=["sun"], horizon=timedelta(days=2))
    assert weekly.next_open(("UTC",), utc(2026, 1, 5)) is None  # Monday: Sunday is 6 days away
    assert weekly.next_open(("UTC",), utc(2026, 1, 9, 12)) == utc(2026, 1, 11)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"windows": ["10:00-13:00", "12:00-14:00"]}, "contact_policy.windows", "overlap"),
        ({"windows": ["22:00-02:00"]}, "contact_policy.windows.0", "two windows"),
        ({"windows": ["24:00-24:00"]}, "contact_policy.windows.0.start", "24:00 can only end"),
        ({"windows": ["10:00-25:00"]}, "contact_policy.windows.0.end", "00:00-23:59"),
        ({"windows": ["ten to one"]}, "contact_policy.windows.0", "HH:MM-HH:MM"),
        ({"max_contacts": 4}, "contact_policy", "go together"),
        ({"period": timedelta(days=1)}, "contact_policy", "go together"),
        ({"max_contacts": 0, "period": timedelta(days=1)}, "contact_policy.max_contacts", "at least 1"),
        ({"min_gap": timedelta(0)}, "contact_policy.min_gap", "positive"),
        ({"horizon": timedelta(days=5000)}, "contact_policy.horizon", "10 years"),
        ({"send_margin": timedelta(days=2)}, "contact_policy.send_margin", "between 0 and 1 day"),
        ({"weekdays": ["funday"]}, "contact_policy.weekdays", "mon..sun"),
        ({"weekdays": [7]}, "contact_policy.weekdays", "6 (Sunday)"),
        ({"purpose": "political"}, "contact_policy.purpose", "marketing"),
        ({"colour": "blue"}, "contact_policy.colour", "Extra inputs"),
    ],
)
def test_bad_policies_are_refused_with_the_field(kwargs, field, words):
    with pytest.raises(ValidationError, match=re.escape(words)) as err:
        ContactPolicy(**kwargs)
    assert err.value.field == field
    with pytest.raises(ValidationError) as again:
        ContactPolicy.from_arg(kwargs)
    assert again.value.field == field


@pytest.mark.parametrize("value", ["NOPE", 42, ["FR_MARKETING"], "{not json"])
def test_unknown_presets_name_the_presets(value):
    with pytest.raises(ValidationError) as err:
        ContactPolicy.from_arg(value)
    assert err.value.field == "contact_policy"
    for name in PRESETS:
        assert name in str(err.value)
    with pytest.raises(ValidationError, match="FR_MARKETING") as preset:
        ContactPolicy.from_arg({"preset": "NOPE"})
    assert preset.value.field == "contact_policy.preset"


def test_bad_times_zones_and_numbers():
    with pytest.raises(ValidationError, match="IANA") as err:
        recipient_zones("+33612345678", timezone="Mars/Olympus_Mons")
    assert err.value.field == "timezone_field"
    with pytest.raises(ValidationError, match="IANA") as zone:
        US_TCPA.is_open(("America/Nowhere",), utc(2026, 1, 1))
    assert zone.value.field == "zones"
    with pytest.raises(ValidationError, match="aware") as naive:
        US_TCPA.is_open(("UTC",), datetime(2026, 1, 1, 12))
    assert naive.value.field == "at"
    with pytest.raises(ValidationError) as number:
        recipient_zones("not a number")
    assert number.value.field == "number"
    with pytest.raises(ValidationError, match="purpose"):
        FR_MARKETING.for_purpose("political")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="tzinfo"):
        DailyWindow(start=time(8, tzinfo=timezone.utc), end=time(9))


# -- recipient zones -------------------------------------------------------------------------------
def test_explicit_timezone_wins_and_blank_is_none():
    assert recipient_zones("+33612345678", timezone="America/Cayenne") == ("America/Cayenne",)
    assert recipient_zones("+33612345678", timezone="  ") == PARIS
    assert recipient_zones("+33 6 12 34 56 78") == PARIS  # not E.164: parsed
    assert recipient_zones("06 12 34 56 78", region="FR") == PARIS
    assert country_of("0612345678", "FR") == "FR"
    assert country_of("+16475550123") == "CA" and recipient_zones("+16475550123") == ("America/Toronto",)
    assert country_of("+80012345678") is None  # non-geographic (international freephone)


# shared calling codes (+1, +7, +44, +39, +47, +61, +262, +590...), geographic mobiles (MX, AR, BR, ID, CN),
# Italian leading zeros, many-zone countries; benchmarks/bench_contact_policy.py checks every region
EQUIVALENCE_REGIONS = (
    "US", "CA", "JM", "PR", "GU", "AS", "BS", "RU", "KZ", "GB", "GG", "JE", "IM", "IT", "VA", "SM", "NO", "SJ",
    "AU", "CX", "CC", "RE", "YT", "GP", "BL", "MF", "FR", "DE", "IN", "BR", "MX", "AR", "ID", "CN", "JP", "CL",
    "NZ", "ZA", "CD", "ES", "PT", "MN",
)  # fmt: skip


def test_recipient_zones_match_phonenumbers():
    """The fast lookup gives what phonenumbers' own ``time_zones_for_number`` gives (then the fallback)."""
    rng = random.Random(7)
    numbers = set()
    for region in EQUIVALENCE_REGIONS:
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                numbers.update({e164, e164[:-2] + f"{rng.randrange(100):02d}", e164 + "9"})
    checked = 0
    for number in sorted(numbers):
        parsed = phonenumbers.parse(number)
        if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
            continue
        known = tuple(time_zones_for_number(parsed))
        unknown = known == ("Etc/Unknown",)
        assert recipient_zones(number, fallback="hold") == (() if unknown else known), number
        country = tuple(_country_level_time_zones_for_number(parsed))
        fallback = () if country == ("Etc/Unknown",) else country
        assert recipient_zones(number) == (fallback if unknown else known), number
        region = phonenumbers.region_code_for_number(parsed)
        assert country_of(number) == (None if region in (None, "001") else region), number
        checked += 1
    assert checked > 200
