"""Deterministic identifiers: the same seed and request order give the same ids."""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict

HEX = "0123456789abcdef"
LOWER_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


class IdFactory:
    """Counters and hash-derived tokens, per kind of id.

    :param seed: the simulator seed.
    """

    def __init__(self, seed: int | str) -> None:
        self._seed = seed
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def next_int(self, kind: str, start: int = 1) -> int:
        """``start``, ``start + 1``, ... for each call with the same ``kind``."""
        with self._lock:
            value = start + self._counters[kind]
            self._counters[kind] += 1
            return value

    def reserve(self, kind: str, count: int, start: int = 1) -> int:
        """Reserve ``count`` consecutive integers; returns the first."""
        with self._lock:
            first = start + self._counters[kind]
            self._counters[kind] += max(0, count)
            return first

    def token(self, kind: str, length: int, alphabet: str = HEX) -> str:
        """A pseudo-random token of ``length`` characters from ``alphabet``."""
        n = self.next_int(f"token:{kind}")
        out: list[str] = []
        block = 0
        while len(out) < length:
            digest = hashlib.blake2b(f"{self._seed}|{kind}|{n}|{block}".encode(), digest_size=64).digest()
            out.extend(alphabet[b % len(alphabet)] for b in digest)
            block += 1
        return "".join(out[:length])
