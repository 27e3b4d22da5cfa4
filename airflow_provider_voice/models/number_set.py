"""A compact, exact set of E.164 phone numbers: 8 bytes a slot instead of ~100 bytes a Python string.

De-duplicating a million recipients with ``set[str]`` costs about 90 MiB (a 60-byte string object
and a 16-byte hash slot at 2/3 load, per number). An E.164 number is at most 15 digits after the
``+``, so it fits a 64-bit integer exactly (its digits, tagged with how many there are, so that
leading zeros could never collide); :class:`NumberSet` keeps those integers in one
``array('Q')`` with open addressing (linear probing, load kept under 1/2). Memory is 16 bytes a
number at most (8-byte slots, at least twice as many slots as numbers) — about 16 MiB for a
million, allocated once per doubling — and membership is exact: no false positive, unlike a
Bloom filter or a truncated hash. A value that is not a ``+`` followed by 1 to 15 ASCII digits (never
produced by :class:`~airflow_provider_voice.models.phone.PhoneNumber`) goes to a small ordinary
``set`` instead, so the set stays exact for any string.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

__all__ = ["NumberSet"]

_EMPTY = 0
#: Fibonacci hashing multiplier (2^64 / golden ratio), spreads consecutive numbers over the table
_MULTIPLIER = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
_INITIAL_BITS = 10


class NumberSet:
    """An exact set of phone numbers in E.164 text (``"+33612345678"``), 8 bytes a slot.

    ``add`` returns whether the number was new (one probe sequence for the test and the insert).

    :param numbers: numbers to start with.
    """

    __slots__ = ("_bits", "_count", "_other", "_slots")

    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self._bits = _INITIAL_BITS
        self._slots = array("Q", bytes(8 << self._bits))
        self._count = 0
        self._other: set[str] = set()
        for number in numbers:
            self.add(number)

    @staticmethod
    def _code(number: str) -> int | None:
        """``number``'s digits as an integer tagged with their count (so ``+0123`` is not ``+123``), or
        None when ``number`` is not ``+`` and 1 to 15 ASCII digits."""
        digits = number[1:]
        if number[:1] != "+" or not 0 < len(digits) <= 15 or not digits.isdigit() or not digits.isascii():
            return None
        return int(digits) | (len(digits) << 56)

    def _find(self, code: int) -> int:
        """The slot holding ``code``, or the empty slot where it would go."""
        slots, bits = self._slots, self._bits
        mask = (1 << bits) - 1
        index = ((code * _MULTIPLIER) & _MASK64) >> (64 - bits)
        while True:
            held = slots[index]
            if held == code or held == _EMPTY:
                return index
            index = (index + 1) & mask

    def add(self, number: str) -> bool:
        """Add ``number``; True when it was not in the set yet."""
        digits = number[1:]  # the checks of _code, inlined: this runs once per recipient
        if number[:1] != "+" or not 0 < len(digits) <= 15 or not digits.isdigit() or not digits.isascii():
            if number in self._other:
                return False
            self._other.add(number)
            return True
        code = int(digits) | (len(digits) << 56)
        slots, bits = self._slots, self._bits
        mask = (1 << bits) - 1
        index = ((code * _MULTIPLIER) & _MASK64) >> (64 - bits)
        while True:
            held = slots[index]
            if held == code:
                return False
            if held == _EMPTY:
                break
            index = (index + 1) & mask
        slots[index] = code
        self._count += 1
        if self._count * 2 > len(slots):
            self._grow()
        return True

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        code = self._code(number)
        if code is None:
            return number in self._other
        return self._slots[self._find(code)] == code

    def __len__(self) -> int:
        return self._count + len(self._other)

    @property
    def nbytes(self) -> int:
        """Bytes held by the table (the integer slots; the rare non-E.164 strings are not counted)."""
        return len(self._slots) * self._slots.itemsize

    def _grow(self) -> None:
        old = self._slots
        self._bits += 1
        self._slots = array("Q", bytes(8 << self._bits))
        slots, bits = self._slots, self._bits
        mask = (1 << bits) - 1
        for code in old:
            if code != _EMPTY:
                index = ((code * _MULTIPLIER) & _MASK64) >> (64 - bits)
                while slots[index] != _EMPTY:
                    index = (index + 1) & mask
                slots[index] = code
