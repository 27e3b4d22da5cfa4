"""Fault injection, per vendor route, deterministic under a seed.

``state.faults.set("velip", "MakeTTSCall", error_rate=0.5, seed=7)`` makes half of the
MakeTTSCall requests fail. Each rule owns a :class:`random.Random`; one number is drawn per
matching request and compared with the cumulative rates in this order: reset, error,
rate_limit, malformed, timeout_after_accept. The same seed and request order give the same faults.

What each fault does:

* ``error``: answer ``error_status`` with a plausible vendor body *before* doing anything.
* ``rate_limit``: answer 429 with ``Retry-After`` (seconds, or an HTTP date) before doing anything.
* ``latency``: ``await asyncio.sleep(latency)`` before handling (every matching request).
* ``reset``: close the TCP connection without any HTTP response, before doing anything
  (clients see ``httpx.RemoteProtocolError`` / ``httpx.ReadError``).
* ``malformed``: do the action (the ledger records it), then answer 200 with the first half
  of the real body (truncated JSON/XML).
* ``timeout_after_accept``: do the action (the ledger records it), then wait ``hang_seconds``
  before answering, so a client with a shorter read timeout is left in doubt.

Route names: the Velip API name (``MakeTTSCall``), the Kaleyra method (``voice.call``), the
Octopush / TeleVoIPs path template (``/v1/public/voice-campaign/send``, ``/messages``,
``/reports/cdrs``, ``/reports/cdrs/{id}/{file}``). A rule may be keyed ``"POST /messages"``
to match one HTTP method; ``"*"`` matches every route of the vendor, and vendor ``"*"`` every vendor.
Route names match case-insensitively (``voice.groupStatus`` = ``voice.groupstatus``). The most
specific rule wins: method+route, route, vendor ``*``, then ``*``/``*``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

FAULT_KINDS = ("reset", "error", "rate_limit", "malformed", "timeout_after_accept")
MAX_HANG_SECONDS = 120.0
MAX_LATENCY_SECONDS = 60.0
ABORT_EXTENSION = "voice_sim.abort"


@dataclass
class FaultRule:
    """One fault configuration for a (vendor, route).

    :param error_rate: share of requests answered with ``error_status`` before any action.
    :param error_status: HTTP status for ``error`` faults (default 503).
    :param rate_limit_rate: share answered 429 with ``Retry-After``.
    :param retry_after: seconds for ``Retry-After``; a string is sent verbatim.
    :param retry_after_format: ``"seconds"`` or ``"http-date"``.
    :param latency: seconds to wait before handling every matching request.
    :param timeout_after_accept_rate: share that are performed, then answered after ``hang_seconds``.
    :param hang_seconds: how long such a request hangs (bounded by 120 s).
    :param reset_rate: share whose connection is closed without a response.
    :param malformed_rate: share performed and answered with a truncated body.
    :param seed: seed of this rule's random generator (default: derived from the state seed).
    :param times: inject at most this many faults, then let requests through (None = no limit).
    """

    vendor: str
    route: str = "*"
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    retry_after: float | str = 1
    retry_after_format: str = "seconds"
    latency: float = 0.0
    timeout_after_accept_rate: float = 0.0
    hang_seconds: float = 5.0
    reset_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int | str | None = None
    times: int | None = None
    requests: int = field(default=0, init=False)
    injected: int = field(default=0, init=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "timeout_after_accept_rate", "reset_rate", "malformed_rate"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
            setattr(self, name, value)
        if sum(self._rates()) > 1.0 + 1e-9:
            raise ValueError("the fault rates of one rule add up to more than 1")
        if not 100 <= int(self.error_status) <= 599:
            raise ValueError(f"error_status must be an HTTP status, got {self.error_status}")
        if self.retry_after_format not in ("seconds", "http-date"):
            raise ValueError("retry_after_format must be 'seconds' or 'http-date'")
        self.latency = min(max(float(self.latency), 0.0), MAX_LATENCY_SECONDS)
        self.hang_seconds = min(max(float(self.hang_seconds), 0.0), MAX_HANG_SECONDS)
        self._rng = random.Random(self.seed if self.seed is not None else f"{self.vendor}|{self.route}")

    def _rates(self) -> tuple[float, ...]:
        return (
            self.reset_rate,
            self.error_rate,
            self.rate_limit_rate,
            self.malformed_rate,
            self.timeout_after_accept_rate,
        )

    def draw(self) -> str | None:
        """Decide the fault kind for one request (None: no fault)."""
        with self._lock:
            self.requests += 1
            if self.times is not None and self.injected >= self.times:
                return None
            if not any(self._rates()):
                return None
            u = self._rng.random()
            edge = 0.0
            for kind, rate in zip(FAULT_KINDS, self._rates(), strict=True):
                edge += rate
                if u < edge:
                    self.injected += 1
                    return kind
            return None

    def retry_after_header(self, now: float | None = None) -> str:
        """The ``Retry-After`` header value."""
        if isinstance(self.retry_after, str):
            return self.retry_after
        seconds = float(self.retry_after)
        if self.retry_after_format == "http-date":
            return email.utils.formatdate((time.time() if now is None else now) + seconds, usegmt=True)
        return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for the control routes)."""
        return {
            "vendor": self.vendor,
            "route": self.route,
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after": self.retry_after,
            "retry_after_format": self.retry_after_format,
            "latency": self.latency,
            "timeout_after_accept_rate": self.timeout_after_accept_rate,
            "hang_seconds": self.hang_seconds,
            "reset_rate": self.reset_rate,
            "malformed_rate": self.malformed_rate,
            "seed": self.seed,
            "times": self.times,
            "requests": self.requests,
            "injected": self.injected,
        }


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one request: an optional fault kind plus latency."""

    kind: str | None
    latency: float
    rule: FaultRule | None


@dataclass(frozen=True)
class InjectedFault:
    """A fault that was injected (kept in ``Faults.history`` for tests)."""

    vendor: str
    route: str
    method: str
    kind: str


class Faults:
    """The fault rules of one simulator state. Thread-safe.

    :param default_seed: mixed into the seed of rules created without one.
    """

    def __init__(self, default_seed: int | str = 0) -> None:
        self._rules: dict[tuple[str, str], FaultRule] = {}
        self._lock = threading.Lock()
        self._default_seed = default_seed
        self.history: list[InjectedFault] = []

    def set(self, vendor: str, route: str = "*", **options: Any) -> FaultRule:
        """Install (or replace) the rule for ``(vendor, route)``; see :class:`FaultRule`."""
        if options.get("seed") is None:
            options["seed"] = f"{self._default_seed}|{vendor}|{route}"
        rule = FaultRule(vendor=vendor, route=route, **options)
        with self._lock:
            self._rules[(vendor, route.lower())] = rule
        return rule

    def clear(self, vendor: str | None = None, route: str | None = None) -> None:
        """Remove rules (all of them, a vendor's, or one)."""
        with self._lock:
            for key in list(self._rules):
                if (vendor is None or key[0] == vendor) and (route is None or key[1] == route.lower()):
                    del self._rules[key]
            if vendor is None and route is None:
                self.history.clear()

    def reseed(self, default_seed: int | str) -> None:
        """Change the seed used for rules created later."""
        self._default_seed = default_seed

    def rules(self) -> list[FaultRule]:
        """The installed rules."""
        with self._lock:
            return list(self._rules.values())

    def rule_for(self, vendor: str, route: str, method: str = "") -> FaultRule | None:
        """The most specific rule matching a request, if any."""
        with self._lock:
            if not self._rules:
                return None
            route, method = route.lower(), method.lower()
            for key in ((vendor, f"{method} {route}"), (vendor, route), (vendor, "*"), ("*", route), ("*", "*")):
                rule = self._rules.get(key)
                if rule is not None:
                    return rule
        return None

    def decide(self, vendor: str, route: str, method: str = "") -> FaultDecision:
        """Draw the fault for one request."""
        rule = self.rule_for(vendor, route, method)
        if rule is None:
            return FaultDecision(None, 0.0, None)
        kind = rule.draw()
        if kind is not None:
            with self._lock:
                self.history.append(InjectedFault(vendor, route, method, kind))
        return FaultDecision(kind, rule.latency, rule)


class AbortConnection(Response):
    """A "response" that closes the TCP connection without writing anything.

    Needs the simulator's uvicorn protocol (see ``server.py``), which puts an abort function in
    ``scope["extensions"]``. Under another server it falls back to raising, which most servers
    turn into a dropped connection or a bare 500.
    """

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
        if abort is None:
            raise ConnectionResetError("simulated connection reset")
        abort()
        try:  # wait for the server to notice, so it does not log a missing response
            await asyncio.wait_for(receive(), timeout=2.0)
        except (asyncio.TimeoutError, Exception):
            pass


def truncate(response: Response) -> Response:
    """A 200 response carrying the first half of ``response``'s body (never valid JSON/XML)."""
    body = getattr(response, "body", b"") or b""
    if not isinstance(body, (bytes, bytearray)) or len(body) < 4:
        cut = b'{"trunc'
    else:
        cut = bytes(body[: max(1, len(body) // 2)])
    media_type = response.headers.get("content-type", "application/json")
    return Response(cut, status_code=200, headers={"content-type": media_type})


async def run_with_faults(
    faults: Faults,
    vendor: str,
    route: str,
    method: str,
    action: Callable[[], Response],
    fault_response: Callable[[int], Response],
    now: Callable[[], float],
) -> Response:
    """Apply the fault decision around ``action`` (sync, already holding what it needs).

    ``fault_response(status)`` builds the vendor's error body for ``error`` and ``rate_limit``.
    """
    decision = faults.decide(vendor, route, method)
    if decision.latency > 0:
        await asyncio.sleep(decision.latency)
    kind, rule = decision.kind, decision.rule
    if kind == "reset":
        return AbortConnection()
    if kind == "error" and rule is not None:
        return fault_response(int(rule.error_status))
    if kind == "rate_limit" and rule is not None:
        response = fault_response(429)
        response.headers["Retry-After"] = rule.retry_after_header(now())
        return response
    response = action()
    if kind == "timeout_after_accept" and rule is not None:
        await asyncio.sleep(rule.hang_seconds)
    if kind == "malformed":
        return truncate(response)
    return response


def rule_options(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The :meth:`Faults.set` keyword arguments present in a JSON payload."""
    allowed = {
        "error_rate", "error_status", "rate_limit_rate", "retry_after", "retry_after_format", "latency",
        "timeout_after_accept_rate", "hang_seconds", "reset_rate", "malformed_rate", "seed", "times",
    }  # fmt: skip
    unknown = set(payload) - allowed - {"vendor", "route"}
    if unknown:
        raise ValueError(f"unknown fault options: {sorted(unknown)}")
    return {k: v for k, v in payload.items() if k in allowed}
