"""The simulator's state: configuration, clock, ledger, faults and each vendor's data."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .calls import DEFAULT_OUTCOME_WEIGHTS, CallBatch, Outcome, OutcomeModel, digits
from .clock import Clock, FakeClock
from .faults import Faults
from .ids import IdFactory
from .ledger import Ledger, LedgerEntry
from .webhooks import WebhookDispatcher

if TYPE_CHECKING:
    from .kaleyra import KaleyraStore
    from .octopush import OctopushStore
    from .televoips import TeleVoipsStore
    from .velip import VelipStore


def _default_incidents() -> list[dict[str, Any]]:
    def incident(region: str, code: str, *numbers: str) -> dict[str, Any]:
        return {
            "region": region,
            "region_code": code,
            "type": "operational",
            "service": "all",
            "numbers": list(numbers),
        }

    return [
        incident("New Delhi", "ND-IN", "+9111xxxxxx05"),
        incident("Karnataka", "KA-IN", "+9180xxxxxx28", "+9180xxxxxx95"),
        incident("Karnataka", "KA-IN", "+9180xxxxxx56", "+9180xxxxxx58"),
        incident("UP-West", "UP-IN", "+9112xxxxxx03"),
        incident("Haryana", "HR-IN", "+9112xxxxxx10"),
        incident("Tamilnadu", "TN-IN", "+9144xxxxxx26"),
    ]


@dataclass
class SimulatorConfig:
    """Every knob of the simulator (change with ``state.configure(**kw)`` or ``POST /_sim/config``).

    Shared: ``seed`` (ids, outcomes, CDR rows, fault seeds), ``call_seconds`` (simulated seconds
    one call takes), ``call_lines`` (calls in parallel per batch), ``outcome_weights`` (relative
    weight per generic outcome), ``outcome_overrides`` (number -> outcome name).

    Webhooks (see :mod:`.webhooks`): ``webhook_timeout`` (seconds per try),
    ``webhook_max_in_flight``, ``webhook_max_queue`` (then new deliveries are dropped and
    counted), ``webhook_retry_vendors`` (vendors whose webhooks are retried, ``["televoips"]``),
    ``webhook_retry_base_seconds`` / ``webhook_retry_max_seconds`` (exponential backoff and its
    cap), ``webhook_max_tries``, ``webhook_retry_window_seconds``, ``webhook_duplicate_rate``
    (share of accepted deliveries sent twice), ``webhook_duplicate_delay_seconds``,
    ``webhook_delay_seconds`` (before every first try), ``webhook_reorder`` (shuffle the outbox).
    Velip paging (``MakeTTSCall`` type 2, a DTMF confirmation): ``velip_dtmf_overrides`` (number ->
    ``"confirm"`` (answers and presses ``velip_dtmf_confirm_key``), ``"no_key"`` (answers, presses
    nothing), another key (``"9"``: pressed, not a confirmation) or an outcome name (``"no_answer"``,
    ``"busy"``...: the call's outcome)); a type-2 call to another number that is answered confirms
    with probability ``velip_dtmf_confirm_rate`` (seeded per number), else presses nothing.
    Per vendor: ``velip_webhook_url`` and ``velip_webhook_format`` (``json`` | ``form``),
    ``televoips_webhook_url`` (messaging events), ``televoips_cdr_webhook_url``,
    ``televoips_webhook_auth`` (None, ``{"type": "basic", "username", "password"}`` or
    ``{"type": "api_key", "header", "value"}``), ``octopush_webhook_url`` (delivery reports),
    ``octopush_stop_webhook_url`` (STOP callbacks; ``octopush_webhook_url`` when unset),
    ``kaleyra_webhook_url`` (the callback template of synthetic events).
    """

    seed: int = 0
    call_seconds: float = 0.05
    call_lines: int = 50
    outcome_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OUTCOME_WEIGHTS))
    outcome_overrides: dict[str, str] = field(default_factory=dict)
    webhook_timeout: float = 2.0
    webhook_max_in_flight: int = 20
    webhook_max_queue: int = 10_000
    webhook_retry_vendors: list[str] = field(default_factory=lambda: ["televoips"])
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_max_seconds: float = 60.0
    webhook_max_tries: int = 20
    webhook_retry_window_seconds: float = 3600.0
    webhook_duplicate_rate: float = 0.0
    webhook_duplicate_delay_seconds: float = 0.05
    webhook_delay_seconds: float = 0.0
    webhook_reorder: bool = False

    # Velip
    velip_token: str = "sim-velip-token"
    velip_tsid_ttl_seconds: float = 3600.0
    velip_httpdup_seconds: float = 10.0
    velip_unique_ctid: bool = True
    velip_list_requests_per_hour: int = 200
    velip_rate_limited_apis: tuple[str, ...] = ("GetCallStatus",)
    velip_max_destinations: int = 500_000
    velip_utc_offset_minutes: int = -180
    velip_webhook_url: str | None = None
    velip_webhook_format: str = "json"
    velip_dtmf_overrides: dict[str, str] = field(default_factory=dict)
    velip_dtmf_confirm_rate: float = 0.8
    velip_dtmf_confirm_key: str = "1"

    # TeleVoIPs
    televoips_reports_key: str = "sim-televoips-reports-key"
    televoips_messaging_key: str = "sim-televoips-messaging-key"
    televoips_numbers: frozenset[str] = frozenset({"13214567890", "13214567891"})
    televoips_utc_offset_minutes: int = 0
    cdr_compile_seconds: float = 2.0
    cdr_rows: int = 100
    cdr_target_bytes: int | None = None
    cdr_bad_line: int | None = None
    cdr_chunk_bytes: int = 64 * 1024
    televoips_webhook_url: str | None = None
    televoips_cdr_webhook_url: str | None = None
    televoips_webhook_auth: dict[str, str] | None = None

    # Octopush
    octopush_login: str = "sim@example.com"
    octopush_key: str = "sim-octopush-key"
    octopush_balance: float = 10_000.0
    octopush_cost_per_contact: float = 0.05
    octopush_request_id_ttl_seconds: float = 24 * 3600.0
    octopush_webhook_url: str | None = None
    octopush_stop_webhook_url: str | None = None

    # Kaleyra
    kaleyra_api_key: str = "sim-kaleyra-key"
    kaleyra_plugin_active: bool = True
    kaleyra_incidents: list[dict[str, Any]] = field(default_factory=_default_incidents)
    kaleyra_utc_offset_minutes: int = 330
    kaleyra_caller_id: str = "8067000000"
    kaleyra_groups: dict[str, list[str]] = field(default_factory=dict)
    kaleyra_inbound_calls: int = 3
    kaleyra_webhook_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        out = dataclasses.asdict(self)
        out["televoips_numbers"] = sorted(self.televoips_numbers)
        out["velip_rate_limited_apis"] = list(self.velip_rate_limited_apis)
        return out

    def update(self, **values: Any) -> None:
        """Set fields by name (unknown names raise ``TypeError``)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(values) - names
        if unknown:
            raise TypeError(f"unknown simulator settings: {sorted(unknown)}")
        values = dict(values)
        if "televoips_webhook_auth" in values:
            values["televoips_webhook_auth"] = _webhook_auth(values["televoips_webhook_auth"])
        if "velip_webhook_format" in values and values["velip_webhook_format"] not in ("json", "form"):
            raise ValueError("velip_webhook_format must be 'json' or 'form'")
        if "webhook_retry_vendors" in values:
            vendors = values["webhook_retry_vendors"]
            if isinstance(vendors, str) or not all(isinstance(v, str) for v in vendors):
                raise ValueError("webhook_retry_vendors must be a list of vendor names")
            values["webhook_retry_vendors"] = list(vendors)
        if "velip_dtmf_overrides" in values:
            values["velip_dtmf_overrides"] = _dtmf_overrides(values["velip_dtmf_overrides"])
        if "velip_dtmf_confirm_key" in values and not _is_keys(values["velip_dtmf_confirm_key"], single=True):
            raise ValueError("velip_dtmf_confirm_key must be one key: 0-9, * or #")
        for name in ("webhook_duplicate_rate", "velip_dtmf_confirm_rate"):
            if name in values and not 0.0 <= float(values[name]) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name, value in values.items():
            if name == "televoips_numbers":
                value = frozenset(str(v) for v in value)
            elif name == "velip_rate_limited_apis":
                value = tuple(value)
            setattr(self, name, value)


#: what a ``velip_dtmf_overrides`` value may be besides keys and outcome names
DTMF_BEHAVIOURS = ("confirm", "no_key")


def _is_keys(value: Any, *, single: bool = False) -> bool:
    """Whether ``value`` is DTMF keys (``0-9``, ``*``, ``#``; exactly one when ``single``)."""
    return (
        isinstance(value, str)
        and bool(value)
        and all(ch in "0123456789*#" for ch in value)
        and (len(value) == 1 or not single)
    )


def _dtmf_overrides(overrides: Any) -> dict[str, str]:
    """A checked copy of ``velip_dtmf_overrides`` (``ValueError`` when a value means nothing)."""
    if not isinstance(overrides, dict):
        raise ValueError("velip_dtmf_overrides must be an object: number -> behaviour")
    outcomes = {o.value for o in Outcome}
    out: dict[str, str] = {}
    for number, behaviour in overrides.items():
        text = str(behaviour).strip()
        if text not in DTMF_BEHAVIOURS and text not in outcomes and not _is_keys(text):
            raise ValueError(
                f"velip_dtmf_overrides[{number!r}] must be {', '.join(DTMF_BEHAVIOURS)}, DTMF keys or an outcome name "
                f"({', '.join(sorted(outcomes))}), got {behaviour!r}"
            )
        out[digits(str(number))] = text
    return out


def _webhook_auth(auth: Any) -> dict[str, str] | None:
    """A checked copy of ``televoips_webhook_auth`` (``ValueError`` when malformed)."""
    if auth is None:
        return None
    if not isinstance(auth, dict):
        raise ValueError("televoips_webhook_auth must be null or an object")
    needed = {"basic": ("username", "password"), "api_key": ("header", "value")}.get(str(auth.get("type")))
    if needed is None:
        raise ValueError("televoips_webhook_auth type must be 'basic' or 'api_key'")
    if any(not isinstance(auth.get(name), str) for name in needed) or (
        auth["type"] == "api_key" and not auth["header"].strip()
    ):
        raise ValueError(f"televoips_webhook_auth of type {auth['type']!r} needs string {' and '.join(needed)}")
    return {"type": str(auth["type"]), **{name: str(auth[name]) for name in needed}}


class SimulatorState:
    """Everything the running simulator knows; one per app.

    :param config: a :class:`SimulatorConfig` (defaults otherwise); keyword overrides are applied on top.
    :param clock: the time source (``time.time`` by default; a :class:`~.clock.FakeClock` in tests).

    Attributes: ``config``, ``clock``, ``ledger`` (:class:`~.ledger.Ledger`), ``faults``
    (:class:`~.faults.Faults`), ``ids``, ``webhooks``, and the vendor stores ``velip``,
    ``televoips``, ``octopush``, ``kaleyra``. ``lock`` guards vendor data: handlers hold it while
    they act, so tests may read the stores from another thread under it.
    """

    def __init__(self, config: SimulatorConfig | None = None, *, clock: Clock | None = None, **overrides: Any) -> None:
        self.lock = threading.RLock()
        self.ledger = Ledger(before_read=self.pump)
        self.faults = Faults()
        self.webhooks = WebhookDispatcher(lambda: self.config)
        self.clock: Clock = time.time
        self.reset(config, clock=clock, **overrides)

    # -- lifecycle --------------------------------------------------------------------------
    def reset(self, config: SimulatorConfig | None = None, *, clock: Clock | None = None, **overrides: Any) -> None:
        """Back to a fresh state (same object: servers and fixtures keep their reference)."""
        from .kaleyra import KaleyraStore
        from .octopush import OctopushStore
        from .televoips import TeleVoipsStore
        from .velip import VelipStore

        with self.lock:
            self.config = copy.deepcopy(config) if config is not None else SimulatorConfig()
            self.config.update(**overrides)
            self.clock = clock if clock is not None else time.time
            self.ledger.clear()
            self.faults.clear()
            self.faults.reseed(self.config.seed)
            self.webhooks.clear()
            self.ids = IdFactory(self.config.seed)
            self.velip: VelipStore = VelipStore()
            self.televoips: TeleVoipsStore = TeleVoipsStore()
            self.octopush: OctopushStore = OctopushStore(balance=self.config.octopush_balance)
            self.kaleyra: KaleyraStore = KaleyraStore()

    def configure(self, **values: Any) -> SimulatorConfig:
        """Change settings in place (e.g. ``state.configure(call_seconds=0.01)``)."""
        with self.lock:
            self.config.update(**values)
            if "seed" in values:
                self.faults.reseed(self.config.seed)
                self.webhooks.reseed(self.config.seed)
            if "octopush_balance" in values:
                self.octopush.balance = float(values["octopush_balance"])
        return self.config

    def use_fake_clock(self, start: float | None = None) -> FakeClock:
        """Install and return a :class:`~.clock.FakeClock`."""
        fake = FakeClock(start)
        self.clock = fake
        return fake

    # -- helpers used by the vendors ------------------------------------------------------------
    def now(self) -> float:
        """The simulator clock."""
        return self.clock()

    def pump(self) -> None:
        """Run the end-of-call events due by now (callbacks recorded in the ledger)."""
        with self.lock:
            self.webhooks.pump(self.now())

    def outcome_model(self, overrides: dict[str, str] | None = None) -> OutcomeModel:
        """The outcome model for the current settings (``overrides``: more number -> outcome, winning)."""
        forced = {**self.config.outcome_overrides, **(overrides or {})}
        return OutcomeModel(self.config.seed, self.config.outcome_weights, forced)

    def new_batch(
        self,
        ref: str,
        numbers: list[str],
        *,
        start_at: float | None = None,
        active: bool = True,
        overrides: dict[str, str] | None = None,
    ) -> CallBatch:
        """A :class:`~.calls.CallBatch` created now with the current speed settings (``overrides``: see
        :meth:`outcome_model`)."""
        now = self.now()
        return CallBatch(
            ref,
            numbers,
            created_at=now,
            start_at=now if start_at is None else start_at,
            call_seconds=self.config.call_seconds,
            lines=self.config.call_lines,
            model=self.outcome_model(overrides),
            active=active,
        )

    def record(
        self, vendor: str, action: str, number: str, ref: str, details: dict[str, Any] | None = None
    ) -> LedgerEntry:
        """Record a ledger entry at the current clock time."""
        return self.ledger.record(vendor, action, number, ref, details, at=self.now())
