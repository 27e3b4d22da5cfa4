"""Contact-policy benchmark: time zones of 100,000 numbers, zone-class schedules, window questions.

Setup (not measured): ``--numbers`` distinct numbers from eight countries (FR, US, IN, BR, AU, GB,
DE, JP), an eighth each, made from ``phonenumbers``' example fixed-line and mobile numbers of the
country (and, for the US, a dozen area codes plus the fictional ``555`` range) with their last
digits drawn at random (seeded), so both valid and invalid numbers, single- and multi-zone
prefixes occur.

Measured, each a wall time and a rate:

* **recipient_zones** — :func:`~airflow_provider_voice.delivery.contact_policy.recipient_zones`
  over every number: a cold pass (every number new: the per-number cache misses), then a warm
  pass over the first 50,000 (cache hits); beside it ``phonenumbers.parse`` +
  ``time_zones_for_number`` on 10,000 of them, the reference it reproduces. The figure for
  1,000,000 cold calls is extrapolated. Then ``country_of`` (cold).
* **equivalence** — ``recipient_zones`` against ``phonenumbers`` for every supported region's
  example number of every type (and a variant of each with other last digits): mismatches, expected 0.
* **schedule building** — the first use of the ``holidays`` library (its import and first
  calendar: paid once per process) alone; then, for each policy (the three presets and a custom one with holidays),
  each zone class (distinct ``(zones, country)`` of the numbers) built afresh (the schedule cache
  cleared first) and asked one ``is_open``, which computes its first 16 days: per class mean and
  maximum, and the class count.
* **window questions** — per policy, ``is_open(now)`` then ``next_open(now)`` for every number,
  grouped by zone class (one :class:`ZoneSchedule` per class, as the planner does), schedules
  already built; then ``policy.is_open(zones, now, country=...)`` per number, ungrouped (the
  class looked up in the cache every time).

``now`` is Monday 30 March 2026 09:00 UTC. Figures are printed, never asserted. A few seconds.
Run: ``python benchmarks/bench_contact_policy.py [--numbers 100000]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

NOW = datetime(2026, 3, 30, 9, tzinfo=timezone.utc)
COUNTRIES = ("FR", "US", "IN", "BR", "AU", "GB", "DE", "JP")
US_AREA_CODES = ("212", "305", "312", "415", "503", "602", "713", "808", "907", "617", "555", "800")


def templates(region: str) -> list[str]:
    """E.164 example numbers of a region (fixed line, mobile; US: several area codes)."""
    found = []
    for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            found.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    if region == "US":
        found += [f"+1{code}2345678" for code in US_AREA_CODES]
    return found


def make_numbers(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct numbers, an equal share per country, last 4-6 digits random."""
    rng = random.Random(seed)
    shapes = {region: templates(region) for region in COUNTRIES}
    numbers: set[str] = set()
    while len(numbers) < count:
        region = COUNTRIES[len(numbers) % len(COUNTRIES)]
        base = rng.choice(shapes[region])
        keep = len(base) - rng.randint(4, 6)
        numbers.add(base[:keep] + "".join(rng.choice("0123456789") for _ in range(len(base) - keep)))
    out = sorted(numbers)
    rng.shuffle(out)
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def rate(label: str, count: int, seconds: float) -> str:
    """One figure: label, count, seconds, per second, microseconds per call."""
    per = count / seconds if seconds else float("inf")
    return f"  {label:<52} {count:>9,} in {seconds:7.3f} s  {per:>12,.0f}/s  {1e6 * seconds / max(count, 1):7.2f} µs"


def equivalence() -> tuple[int, int]:
    """(numbers checked, mismatches) of recipient_zones against phonenumbers, every region and type."""
    from phonenumbers.timezone import _country_level_time_zones_for_number

    from airflow_provider_voice.delivery.contact_policy import country_of, recipient_zones

    rng = random.Random(3)
    numbers: set[str] = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(11):  # every PhoneNumberType up to VOICEMAIL
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                numbers.update({e164, e164[:-3] + f"{rng.randrange(1000):03d}"})
    checked = wrong = 0
    for number in sorted(numbers):
        parsed = phonenumbers.parse(number)
        if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
            continue
        known = tuple(time_zones_for_number(parsed))
        country = tuple(_country_level_time_zones_for_number(parsed))
        if known == ("Etc/Unknown",):
            want_country, want_hold = (() if country == ("Etc/Unknown",) else country), ()
        else:
            want_country = want_hold = known
        region = phonenumbers.region_code_for_number(parsed)
        checked += 1
        if (
            recipient_zones(number) != want_country
            or recipient_zones(number, fallback="hold") != want_hold
            or country_of(number) != (None if region in (None, "001") else region)
        ):
            wrong += 1
    return checked, wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=100_000, help="distinct numbers (default 100,000)")
    args = parser.parse_args(argv)

    from airflow_provider_voice.delivery import contact_policy as cp

    numbers = make_numbers(args.numbers)
    print(f"contact policy benchmark: {len(numbers):,} numbers ({', '.join(COUNTRIES)}), now={NOW.isoformat()}")

    # -- recipient zones ---------------------------------------------------------------------------
    print("recipient_zones")
    seconds, zones = timed(lambda: [cp.recipient_zones(n) for n in numbers])
    print(rate("cold (every number new)", len(numbers), seconds))
    print(f"  {'-> 1,000,000 cold calls (extrapolated)':<52} {1_000_000 * seconds / len(numbers):27.1f} s")
    warm = numbers[-50_000:]  # the most recent: still in the 65,536-entry cache
    seconds, _ = timed(lambda: [cp.recipient_zones(n) for n in warm])
    print(rate("warm (the last 50,000 again: cache hits)", len(warm), seconds))
    sample = numbers[:10_000]
    seconds, _ = timed(lambda: [time_zones_for_number(phonenumbers.parse(n)) for n in sample])
    print(rate("reference: phonenumbers parse + time_zones_for_number", len(sample), seconds))
    seconds, countries = timed(lambda: [cp.country_of(n) for n in numbers])
    print(rate("country_of (cold)", len(numbers), seconds))
    held = sum(1 for z in zones if not z)
    multi = sum(1 for z in zones if len(z) > 1)
    print(f"  zones: {multi:,} numbers with several zones, {held:,} with none")
    seconds, (checked, wrong) = timed(equivalence)
    print(f"  equivalence with phonenumbers: {checked:,} example numbers, {wrong} mismatches ({seconds:.1f} s)")

    # -- schedules -----------------------------------------------------------------------------------
    custom = cp.ContactPolicy(
        name="custom", weekdays="mon-sat", windows="09:00-12:00,13:30-19:00", skip_public_holidays=True
    )
    policies = [*cp.PRESETS.values(), custom]
    groups: dict[tuple[tuple[str, ...], str | None], list[int]] = defaultdict(list)
    for index, (zone, country) in enumerate(zip(zones, countries, strict=True)):
        groups[(zone, country)].append(index)
    print(f"schedule building ({len(groups)} zone classes: distinct (zones, country) of the numbers)")
    seconds, _ = timed(lambda: cp.FR_MARKETING.schedule(("Europe/Paris",), "FR").is_open(NOW))
    print(f"  first use of the holidays library (import, FR calendar): {1e3 * seconds:.0f} ms (not counted below)")
    for policy in policies:
        cp._schedule.cache_clear()
        costs = []
        for zone, country in groups:
            start = time.perf_counter()
            policy.schedule(zone, country).is_open(NOW)
            costs.append(time.perf_counter() - start)
        print(
            f"  {policy.name:<20} {len(costs):>4} classes: mean {1e3 * sum(costs) / len(costs):6.2f} ms, "
            f"max {1e3 * max(costs):6.2f} ms, total {sum(costs):6.3f} s"
        )

    # -- window questions ------------------------------------------------------------------------------
    print("window questions, grouped by zone class (schedules built)")
    for policy in policies:
        schedules = [(policy.schedule(zone, country), members) for (zone, country), members in groups.items()]

        def ask_open(schedules: list[Any] = schedules) -> int:
            return sum(schedule.is_open(NOW) for schedule, members in schedules for _ in members)

        def ask_next(schedules: list[Any] = schedules) -> int:
            return sum(schedule.next_open(NOW) is not None for schedule, members in schedules for _ in members)

        seconds, opened = timed(ask_open)
        print(rate(f"{policy.name}: is_open ({opened:,} open)", len(numbers), seconds))
        seconds, found = timed(ask_next)
        print(rate(f"{policy.name}: next_open ({len(numbers) - found:,} never)", len(numbers), seconds))

        def ask_each(policy: cp.ContactPolicy = policy) -> int:
            later = NOW + timedelta(hours=11)  # 20:00 UTC: closed in Europe and India, open in the Americas
            return sum(policy.is_open(z, later, country=c) for z, c in zip(zones, countries, strict=True))

        seconds, _ = timed(ask_each)
        print(rate(f"{policy.name}: policy.is_open per number (ungrouped)", len(numbers), seconds))

    # the operators' planning pass: every recipient put in a group (due / held / ...), as before each slice
    from airflow_provider_voice.delivery.contact_plan import ContactPlanner
    from airflow_provider_voice.models.recipients import Recipient

    recipients = []
    for number in numbers:  # the benchmark's numbers include some no operator would accept (+1 555...)
        try:
            recipients.append(Recipient(number=number))
        except ValueError:
            continue
    print("the contact planner over the recipients (what a campaign does before each slice)")
    for policy in (cp.PRESETS["FR_MARKETING"], cp.PRESETS["US_TCPA"]):
        planner = ContactPlanner(policy.model_copy(update={"min_gap": None, "max_contacts": None, "period": None,
                                                           "pause_after_refusal": None}),
                                 deadline=NOW.timestamp() + 7 * 86400)  # fmt: skip
        seconds, plan = timed(lambda p=planner: p.plan(recipients, sent=lambda r: False, now=NOW.timestamp()))
        print(rate(f"{policy.name}: plan ({plan.due:,} due, {plan.held:,} held)", len(recipients), seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
