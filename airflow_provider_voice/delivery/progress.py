"""Progress lines for long deliveries: ``sent/total``, rate and ETA, at most every few seconds."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from airflow_provider_voice.redaction import get_logger

__all__ = ["ProgressReporter"]

log = get_logger(__name__)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressReporter:
    """Counts handled items and logs ``label: 12,000/100,000 recipients (12.0%), 2,400/s, ETA 36 s``.

    :param label: what is being delivered (``"octopush voice campaign 'spring'"``).
    :param total: items expected (None when unknown: no percentage or ETA).
    :param unit: what an item is called.
    :param interval: seconds between two lines (the first and the last line are always logged).
    :param logger: where to log (default: this module's redacting logger).
    :param clock: monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "recipients",
        interval: float = 5.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.interval = interval
        self.log = logger or log
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.frames = 0
        self._last_logged: float | None = None
        self._logged_done = -1
        #: the last 100 lines logged (tests read them)
        self.lines: deque[str] = deque(maxlen=100)

    def advance(self, items: int, frames: int = 1) -> None:
        """Record ``items`` handled in ``frames`` frames; log when the interval has passed."""
        self.done += items
        self.frames += frames
        now = self.clock()
        if self._last_logged is None or now - self._last_logged >= self.interval:
            self.emit(now)

    def shrink(self, items: int) -> None:
        """Lower the expected total (items skipped: suppressed, or accepted by an earlier try)."""
        if self.total is not None:
            self.total = max(0, self.total - items)

    def finish(self) -> None:
        """Log the final line unless it was just logged."""
        if (self.done or self.frames) and self._logged_done != self.done:
            self.emit()

    def line(self, now: float | None = None) -> str:
        """The current progress line."""
        now = self.clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.label}: {self.done:,}"]
        if self.total:
            parts[0] += f"/{self.total:,} {self.unit} ({100.0 * self.done / self.total:.1f}%)"
        else:
            parts[0] += f" {self.unit}"
        parts.append(f"{self.frames:,} frames")
        parts.append(f"{rate:,.0f} {self.unit}/s")
        if self.total and self.done:
            remaining = max(self.total - self.done, 0)
            parts.append(f"ETA {_duration(remaining / rate) if rate > 0 else '?'}")
        parts.append(f"elapsed {_duration(elapsed)}")
        return ", ".join(parts)

    def emit(self, now: float | None = None) -> str:
        """Log the current line now."""
        now = self.clock() if now is None else now
        text = self.line(now)
        self._last_logged = now
        self._logged_done = self.done
        self.lines.append(text)
        self.log.info("%s", text)
        return text
