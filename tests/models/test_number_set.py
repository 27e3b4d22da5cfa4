"""NumberSet: the compact exact set that de-duplicates recipients (8-byte slots, no false positives)."""

from __future__ import annotations

import random

from airflow_provider_voice.models.number_set import NumberSet


def test_agrees_with_a_python_set_on_random_numbers_duplicates_and_odd_strings():
    rng = random.Random(7)
    numbers = [f"+{rng.choice(['33', '55', '91', '1'])}{rng.randrange(10**9):09d}" for _ in range(30_000)]
    odd = ["+0123", "+123", "+", "", "123", "+١٢٣", "+12a", "+" + "9" * 15, "+" + "9" * 16, "x"]
    values = numbers + numbers[:5_000] + odd + odd
    rng.shuffle(values)
    compact, reference = NumberSet(), set()
    for value in values:
        assert compact.add(value) == (value not in reference), value
        reference.add(value)
    assert len(compact) == len(reference)
    assert all(value in compact for value in reference)
    absent = [f"+44{rng.randrange(10**9):09d}" for _ in range(2_000)] + ["+00123", "+1234 ", 12345]
    assert not any(value in compact for value in absent)


def test_leading_zeros_and_lengths_never_collide():
    numbers = NumberSet(["+0123", "+00123", "+123"])
    assert len(numbers) == 3
    assert not numbers.add("+0123") and "+000123" not in numbers


def test_three_hundred_thousand_numbers_take_eight_mebibytes_of_slots():
    numbers = NumberSet(f"+336{i:08d}" for i in range(300_000))
    assert len(numbers) == 300_000
    assert numbers.nbytes == 8 * 2**20  # 2^20 slots of 8 bytes: under half full (16 MiB for a million)
    assert "+33600299999" in numbers and "+33600300000" not in numbers
