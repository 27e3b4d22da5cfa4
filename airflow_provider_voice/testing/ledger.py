"""The ledger: every action of the simulator that would reach a person or change vendor state.

Tests assert on it ("each recipient exactly once"): ``state.ledger.counts("velip", "call")``
is a :class:`collections.Counter` by number, ``duplicates`` lists numbers reached more than once.

Actions recorded: ``call`` (one per number per campaign / voice.call / MakeTTSCall / Octopush
recipient), ``sms``, ``block``, ``unblock``, ``unsubscribe``, ``click2call``,
``followup_create`` / ``followup_edit`` / ``followup_delete``, ``dialer_add``,
``campaign_create``, ``campaign_change`` and ``callback`` (a webhook / callback URL the vendor
would call when a call ends; recorded whether or not it was actually delivered).

Entries are recorded when the vendor *accepts* the request (a scheduled call is in the ledger as
soon as it is accepted; its outcome is computed later from the clock).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded action.

    :param vendor: ``velip`` | ``televoips`` | ``octopush`` | ``kaleyra``.
    :param action: what happened (see the module docstring).
    :param number: the phone number as the vendor received it ("" when none applies).
    :param ref: the vendor's id for it (ticket, cd_id, cp_id, uuid, call id, ...).
    :param details: extra facts (campaign id, leg, url, ...); read-only.
    :param at: POSIX time (simulator clock) when it was recorded.
    """

    vendor: str
    action: str
    number: str
    ref: str
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "vendor": self.vendor,
            "action": self.action,
            "number": self.number,
            "ref": self.ref,
            "details": dict(self.details),
            "at": self.at,
        }


class Ledger:
    """Thread-safe, append-only record of :class:`LedgerEntry`.

    :param before_read: called before every read (the simulator uses it to bring call progress
        up to the clock, so callbacks of calls that ended are visible).
    """

    def __init__(self, before_read: Callable[[], None] | None = None) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()
        self._before_read = before_read

    def record(
        self,
        vendor: str,
        action: str,
        number: str,
        ref: str,
        details: Mapping[str, Any] | None = None,
        *,
        at: float = 0.0,
    ) -> LedgerEntry:
        """Append one entry and return it."""
        entry = LedgerEntry(vendor, action, number, ref, MappingProxyType(dict(details)) if details else _EMPTY, at)
        with self._lock:
            self._entries.append(entry)
        return entry

    def record_many(self, entries: Iterable[LedgerEntry]) -> None:
        """Append many prepared entries at once (campaigns with many destinations)."""
        batch = list(entries)
        with self._lock:
            self._entries.extend(batch)

    def _read(self) -> list[LedgerEntry]:
        if self._before_read is not None:
            self._before_read()
        with self._lock:
            return list(self._entries)

    def entries(
        self,
        vendor: str | None = None,
        action: str | None = None,
        *,
        number: str | None = None,
        ref: str | None = None,
    ) -> list[LedgerEntry]:
        """Entries in recording order, optionally filtered."""
        return [
            e
            for e in self._read()
            if (vendor is None or e.vendor == vendor)
            and (action is None or e.action == action)
            and (number is None or e.number == number)
            and (ref is None or e.ref == ref)
        ]

    def counts(self, vendor: str | None = None, action: str | None = None) -> Counter[str]:
        """How many entries each number has, for the vendor/action (None = any)."""
        return Counter(e.number for e in self.entries(vendor, action))

    def duplicates(self, vendor: str | None = None, action: str | None = None) -> dict[str, int]:
        """Numbers with more than one entry for the vendor/action, with their count."""
        return {number: n for number, n in self.counts(vendor, action).items() if n > 1}

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
