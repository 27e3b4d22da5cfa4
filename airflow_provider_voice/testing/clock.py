"""Time for the simulator: a swappable clock and the date formats the vendors use.

Every time-dependent behaviour of the simulator (call progress, CDR compilation, token expiry,
duplicate windows, rate limits) reads ``state.clock()``, a callable returning POSIX seconds.
Tests install a :class:`FakeClock` and move it forward instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

Clock = Callable[[], float]
"""A callable returning the current time as POSIX seconds (like :func:`time.time`)."""


class FakeClock:
    """A manually driven clock for tests.

    :param start: initial POSIX time; defaults to the real current time.

    Call the instance to read it; :meth:`advance` moves it forward, :meth:`set` jumps.
    Thread-safe: the simulator reads it from its server thread while the test moves it.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (must be >= 0) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to the POSIX time ``now``."""
        with self._lock:
            self._now = float(now)

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"


def zone(offset_minutes: int) -> timezone:
    """A fixed-offset time zone (the vendors' zones have no DST today)."""
    return timezone(timedelta(minutes=offset_minutes))


def local(ts: float, offset_minutes: int) -> datetime:
    """POSIX seconds as an aware datetime in a fixed-offset zone."""
    return datetime.fromtimestamp(ts, tz=zone(offset_minutes))


def fmt(ts: float, offset_minutes: int, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format POSIX seconds in a fixed-offset zone with a strftime pattern."""
    return local(ts, offset_minutes).strftime(pattern)


def parse_local(text: str, patterns: Iterable[str], offset_minutes: int) -> float | None:
    """Parse ``text`` with the first matching strptime pattern, as local time in the zone.

    Returns POSIX seconds, or None when no pattern matches.
    """
    text = text.strip()
    for pattern in patterns:
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone(offset_minutes)).timestamp()
    return None


def parse_iso8601(text: str) -> float | None:
    """Parse an ISO 8601 date-time (``Z`` or an offset; naive means UTC) to POSIX seconds."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
