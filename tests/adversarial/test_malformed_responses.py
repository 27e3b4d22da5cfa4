"""Every public client/hook method of the four vendors against a vendor that answers garbage.

:mod:`bad_vendor` serves, on a real loopback socket, answers that are wrong in one way each
(truncated, HTML, empty, ``{}``, ``[]``, wrong types, 100k-deep JSON/XML, a 200 MB body, a 1 GiB
gzip bomb, a slow-loris drip, dripped headers, a stall, a reset...). Each method of each vendor API
is called against each answer, through the sync and the async client (one table, two drivers),
with small limits so the module stays fast (256 KiB per answer, 1 s read timeout, 1.5 s deadline).

For every case the outcome must be: a typed error (a ``VoiceProviderError`` subclass, whose text
has no pydantic URL and no credential), or a success only where the answer *is* the spec's success
for that method (:data:`LEGIT`); and the call must end within its deadline (plus a margin for a
loaded machine). The methods are enumerated from the API classes (``endpoints()`` plus the public
``*_flow`` / ``*_file_call`` builders), so a new method without a row in :data:`CASES` fails
:func:`test_every_public_method_has_a_case`. A last test sends campaign frames through the delivery
engine against garbage: they end *in doubt*, never accepted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pendulum
import pytest
from bad_vendor import MODES, SLOW_MODES, BadVendorServer

from airflow_provider_voice.errors import MalformedResponseError, VoiceProviderError
from airflow_provider_voice.transport import Call, ResponseLimits, RetryPolicy, new_async_client, new_sync_client
from airflow_provider_voice.vendors.access import VendorAccess
from airflow_provider_voice.vendors.base import AsyncVendorClient, VendorClient
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.cdr_download import adownload_cdr_report, download_cdr_report
from airflow_provider_voice.vendors.velip import VelipApi

#: small limits: the slow modes take about a deadline each, so the module stays well under a minute
TIMEOUT = httpx.Timeout(1.0)
DEADLINE = 1.5
#: 1 MiB: the 100k-deep bodies (200-700 KB) reach the parsers; the 200 MB / 1 GiB ones stop at the cap
CAP = 1024 * 1024
LIMITS = ResponseLimits(max_response_bytes=CAP, ceiling=CAP, deadline=DEADLINE)
RETRY = RetryPolicy(max_attempts=3, backoff_initial=0.05, backoff_max=0.2, max_retry_after=1.0)
#: a loaded 2-core machine may end a call this much after its deadline (scheduling, not waiting)
GRACE = 1.0

KEYS = {
    "velip": "adv-velip-token-7f3a9c",
    "televoips": "adv-televoips-key-41bd",
    "octopush": "adv-octopush-key-9e2c",
    "kaleyra": "adv-kaleyra-key-c0ffee",
}
API: dict[str, Callable[[str], Any]] = {
    "velip": lambda url: VelipApi(token=KEYS["velip"], base_urls={"default": url}),
    "televoips": lambda url: TeleVoipsApi(
        reports_key=KEYS["televoips"], messaging_key=KEYS["televoips"] + "-m", base_urls={"default": url}
    ),
    "octopush": lambda url: OctopushApi(
        api_login="adv@example.com", api_key=KEYS["octopush"], base_urls={"default": url}
    ),
    "kaleyra": lambda url: KaleyraApi(api_key=KEYS["kaleyra"], base_urls={"default": url, "obd": url}),
}
API_CLASSES = {"velip": VelipApi, "televoips": TeleVoipsApi, "octopush": OctopushApi, "kaleyra": KaleyraApi}
HOOKS = {
    "velip": "airflow_provider_voice.hooks.velip:VelipHook",
    "televoips": "airflow_provider_voice.hooks.televoips:TeleVoipsHook",
    "octopush": "airflow_provider_voice.hooks.octopush:OctopushHook",
    "kaleyra": "airflow_provider_voice.hooks.kaleyra:KaleyraHook",
}


def _ontime() -> str:
    return pendulum.now("Asia/Kolkata").add(days=1).replace(hour=10, minute=0).strftime("%d-%m-%Y %H-%M")


def _args(*args: Any, **kwargs: Any) -> Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]]:
    return lambda api: (args, kwargs)


FOLLOWUP = ("9876543210", "Adversarial", "9123456789")
#: (vendor, method) -> the method's arguments (valid input: only the answers are bad)
CASES: dict[tuple[str, str], Callable[[Any], tuple[tuple[Any, ...], dict[str, Any]]]] = {
    ("velip", "get_user_id"): _args(),
    ("velip", "make_tts_call"): _args("5511987654321", text="Olá"),
    ("velip", "create_campaign"): _args(name="adv", destinations=["5511987654322"], text="Olá"),
    ("velip", "get_campaigns_list"): _args(cp_id="5001"),
    ("velip", "change_campaign"): _args("5001", active=0),
    ("velip", "get_call_status"): _args(cd_id="c_88700"),
    ("velip", "call_status_flow"): _args(cp_id="5001"),
    ("velip", "make_sms"): _args("5511987654321", "Olá", ctid="adv1"),
    ("televoips", "list_messages"): _args(),
    ("televoips", "get_message"): _args("b3762a34"),
    ("televoips", "send_message"): _args("13214567890", "14155552671", "Hello"),
    ("televoips", "unsubscribe"): _args("14155552672", "13214567890"),
    ("televoips", "reply"): _args(
        {"id": "b3762a34", "direction": "inbound", "to": "13214567890", "from": "14155552671", "content": "Hi"},
        "Thanks",
    ),
    ("televoips", "request_cdr_report"): _args(),
    ("televoips", "wait_for_cdr_report"): _args(poll_interval=0.05, timeout=0.1),
    ("televoips", "cdr_file_call"): _args("/reports/cdrs/12cd2374dc/cdrs_2026-01-01.csv"),
    ("octopush", "check_balance"): _args(),
    ("octopush", "send_voice_sms"): _args(text="Hello", recipients=["+33612345678"], request_id="adv1"),
    ("kaleyra", "click2call"): _args("9988776655", "9876543210"),
    ("kaleyra", "block"): _args(["9988776655"]),
    ("kaleyra", "unblock"): _args(["9988776655"]),
    ("kaleyra", "followup_create"): lambda api: ((*FOLLOWUP, _ontime()), {}),
    ("kaleyra", "followup_edit"): lambda api: (("2351", *FOLLOWUP, _ontime()), {}),
    ("kaleyra", "followup_delete"): lambda api: (("2351", *FOLLOWUP, _ontime()), {}),
    ("kaleyra", "followup_reports"): _args(),
    ("kaleyra", "followup_reports_flow"): _args(),
    ("kaleyra", "dial"): _args(),
    ("kaleyra", "dial_flow"): _args(),
    ("kaleyra", "c2c_status"): _args(),
    ("kaleyra", "c2c_status_flow"): _args(),
    ("kaleyra", "pages_flow"): lambda api: ((api.dial,), {"limit": 50}),
    ("kaleyra", "monitor"): _args(),
    ("kaleyra", "autodial_add"): _args("unique_name", "9876543210", {"profile": "custom1"}),
    ("kaleyra", "autodial_import"): _args("unique_name", [{"number": "9876543210", "customname": "A"}]),
    ("kaleyra", "voice_call"): _args(["9876543210"], play="123.sound"),
    ("kaleyra", "voice_json"): _args([{"to": ["9876543210"], "play": "1122.sound", "custom": "ABC12"}]),
    ("kaleyra", "voice_status"): _args("217691534-1"),
    ("kaleyra", "voice_groupstatus"): _args("217691534"),
}
#: the hooks' own method (the connection test's probe), sync only: hooks have no async probe
HOOK_CASES = [(vendor, "hook.probe") for vendor in HOOKS]

#: answers that ARE the spec's success for that method (everything else must be an error)
LEGIT = {
    # block/unblock: the spec's success is {"status": "200", "message": "OK"}; other members
    # (the wrong-types body's "data") are unknown fields, ignored as the models' extra="allow" says
    ("kaleyra", "block", "envelope"),
    ("kaleyra", "unblock", "envelope"),
    ("kaleyra", "block", "wrong-types"),
    ("kaleyra", "unblock", "wrong-types"),
    # followup action=delete is only documented as a flag of the edit request: its confirmation is
    # status 200; nothing of "data" is read (the method returns the KaleyraReply)
    ("kaleyra", "followup_delete", "envelope"),
    ("kaleyra", "followup_delete", "wrong-types"),
    ("televoips", "list_messages", "list"),  # no message in the window: an empty JSON list
    ("televoips", "unsubscribe", "empty"),  # spec: HTTP 200 with an empty body
}


def public_methods(api_cls: type) -> set[str]:
    """Every public request builder of a vendor API: its endpoints and its flow/stream builders."""
    names = set(api_cls.endpoints())
    for name in dir(api_cls):
        if not name.startswith("_") and name.endswith(("_flow", "_file_call")) and callable(getattr(api_cls, name)):
            names.add(name)
    return names


def all_cases() -> list[tuple[str, str]]:
    return sorted(CASES) + HOOK_CASES


@dataclass
class Outcome:
    """What one (vendor, method, mode, driver) case did."""

    vendor: str
    method: str
    mode: str
    kind: str  # "typed" | "untyped" | "success"
    error: str = ""
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Battery:
    """The outcomes of one driver's run."""

    driver: str
    outcomes: list[Outcome] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        for o in self.outcomes:
            where = f"{self.driver} {o.vendor}.{o.method} <- {o.mode}"
            if o.kind == "untyped":
                out.append(f"{where}: untyped {o.error}: {o.detail}")
            elif o.kind == "success" and (o.vendor, o.method, o.mode) not in LEGIT:
                out.append(f"{where}: malformed answer taken as success: {o.detail}")
            if o.seconds > DEADLINE + GRACE:
                out.append(f"{where}: took {o.seconds:.2f} s, past its {DEADLINE} s deadline")
            if "errors.pydantic.dev" in o.detail or any(key in o.detail for key in KEYS.values()):
                out.append(f"{where}: error text shows a pydantic URL or a credential: {o.detail}")
        return out

    def counts(self) -> dict[str, int]:
        kinds = Counter(o.kind for o in self.outcomes)
        return {
            "cases": len(self.outcomes),
            "typed": kinds["typed"],
            "untyped": kinds["untyped"],
            "legit_success": sum(
                1 for o in self.outcomes if o.kind == "success" and (o.vendor, o.method, o.mode) in LEGIT
            ),
            "malformed_as_success": sum(
                1 for o in self.outcomes if o.kind == "success" and (o.vendor, o.method, o.mode) not in LEGIT
            ),
            "past_deadline": sum(1 for o in self.outcomes if o.seconds > DEADLINE + GRACE),
            "max_seconds_x100": round(max((o.seconds for o in self.outcomes), default=0) * 100),
        }


def _classify(vendor: str, method: str, mode: str, started: float, value: Any, exc: BaseException | None) -> Outcome:
    seconds = time.monotonic() - started
    if exc is None:
        return Outcome(vendor, method, mode, "success", detail=repr(value)[:200], seconds=seconds)
    kind = "typed" if isinstance(exc, VoiceProviderError) else "untyped"
    return Outcome(vendor, method, mode, kind, type(exc).__name__, str(exc)[:400], seconds)


def _hook(vendor: str, api: Any, client: VendorClient[Any]) -> Any:
    import importlib

    module, _, name = HOOKS[vendor].partition(":")
    hook = getattr(importlib.import_module(module), name)(conn_id=f"adv_{vendor}")
    hook.__dict__["access"] = VendorAccess(api)  # no Airflow connection: the API points at the bad vendor
    hook.access.use_client(client)
    return hook


def run_sync_case(
    server: BadVendorServer, http: httpx.Client, tmp: Path, vendor: str, method: str, mode: str
) -> Outcome:
    api = API[vendor](server.base_url(vendor, mode))
    client = VendorClient(api, timeout=TIMEOUT, retry=RETRY, http_client=http, limits=LIMITS)
    hook = _hook(vendor, api, client) if method == "hook.probe" else None
    value: Any = None
    started = time.monotonic()
    try:
        if hook is not None:
            value = hook.probe()
        else:
            args, kwargs = CASES[(vendor, method)](api)
            if method.endswith("_file_call"):
                value = download_cdr_report(client, api, *args, tmp / f"{uuid.uuid4().hex}.csv", **kwargs)
            else:
                step = getattr(api, method)(*args, **kwargs)
                value = client.send(step) if isinstance(step, Call) else client.run(step)
    except Exception as exc:
        return _classify(vendor, method, mode, started, None, exc)
    return _classify(vendor, method, mode, started, value, None)


async def run_async_case(
    server: BadVendorServer, http: httpx.AsyncClient, tmp: Path, vendor: str, method: str, mode: str
) -> Outcome:
    api = API[vendor](server.base_url(vendor, mode))
    client = AsyncVendorClient(api, timeout=TIMEOUT, retry=RETRY, http_client=http, limits=LIMITS)
    value: Any = None
    started = time.monotonic()
    try:
        args, kwargs = CASES[(vendor, method)](api)
        if method.endswith("_file_call"):
            value = await adownload_cdr_report(client, api, *args, tmp / f"{uuid.uuid4().hex}.csv", **kwargs)
        else:
            step = getattr(api, method)(*args, **kwargs)
            value = await (client.send(step) if isinstance(step, Call) else client.run(step))
    except Exception as exc:
        return _classify(vendor, method, mode, started, None, exc)
    return _classify(vendor, method, mode, started, value, None)


#: slow cases mostly wait on sockets: run them all at once; the others share the CPU with the server
SLOW_WORKERS = 256
FAST_WORKERS = 16


def _jobs(cases: list[tuple[str, str]], slow: bool) -> list[tuple[str, str, str]]:
    return [(v, m, mode) for v, m in cases for mode in MODES if (mode in SLOW_MODES) == slow]


def run_sync_battery(server: BadVendorServer, tmp: Path) -> Battery:
    battery = Battery("sync")
    for vendor in HOOKS:  # import the hooks (Airflow) once, outside the timed calls
        _hook(vendor, API[vendor]("http://127.0.0.1:9"), None)  # type: ignore[arg-type]
    http = new_sync_client(max_connections=SLOW_WORKERS)
    try:
        for slow, workers in ((True, SLOW_WORKERS), (False, FAST_WORKERS)):
            with ThreadPoolExecutor(max_workers=workers) as pool:
                jobs = _jobs(all_cases(), slow)
                battery.outcomes += list(pool.map(lambda job: run_sync_case(server, http, tmp, *job), jobs))
    finally:
        http.close()
    return battery


def run_async_battery(server: BadVendorServer, tmp: Path) -> Battery:
    battery = Battery("async")

    async def main() -> list[Outcome]:
        http = new_async_client(max_connections=SLOW_WORKERS)
        outcomes: list[Outcome] = []
        try:
            for slow, width in ((True, SLOW_WORKERS), (False, FAST_WORKERS)):
                gate = asyncio.Semaphore(width)

                async def one(vendor: str, method: str, mode: str, gate: asyncio.Semaphore = gate) -> Outcome:
                    async with gate:
                        return await run_async_case(server, http, tmp, vendor, method, mode)

                outcomes += await asyncio.gather(*(one(*job) for job in _jobs(sorted(CASES), slow)))
        finally:
            await http.aclose()
        return outcomes

    battery.outcomes = asyncio.run(main())
    return battery


@pytest.fixture(scope="module")
def bad_vendor() -> Any:
    with BadVendorServer(drip_interval=0.5, drip_limit=40, stall_seconds=20.0) as server:
        yield server


# -- tests ------------------------------------------------------------------------------------------
def test_every_public_method_has_a_case():
    for vendor, cls in API_CLASSES.items():
        methods = public_methods(cls)
        covered = {m for v, m in CASES if v == vendor}
        assert methods == covered, {"without a case": sorted(methods - covered), "stale": sorted(covered - methods)}
    assert len(CASES) >= 32


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_every_method_against_every_bad_answer(driver, bad_vendor, tmp_path, capsys):
    battery = (run_sync_battery if driver == "sync" else run_async_battery)(bad_vendor, tmp_path)
    counts = battery.counts()
    by_error = Counter(o.error for o in battery.outcomes if o.kind == "typed")
    with capsys.disabled():
        print(f"\n[adversarial {driver}] {counts} errors: {dict(sorted(by_error.items()))}")
    problems = battery.problems()
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:60])
    assert counts["cases"] == len(MODES) * (len(CASES) + (len(HOOK_CASES) if driver == "sync" else 0))
    assert counts["untyped"] == counts["malformed_as_success"] == counts["past_deadline"] == 0
    assert counts["typed"] + counts["legit_success"] == counts["cases"]
    # a 2xx body of the wrong shape is a MalformedResponseError naming the status and showing an excerpt
    for o in battery.outcomes:
        if o.mode in ("object", "wrong-types", "html", "deep") and o.kind == "typed":
            assert o.error in ("MalformedResponseError", "CdrReportNotReadyError", "VendorRejectedError"), o


@pytest.mark.parametrize("mode", ["object", "wrong-types", "html", "deep", "deep-list", "gzip-bomb", "huge"])
def test_malformed_error_carries_status_and_redacted_excerpt(bad_vendor, mode):
    api = API["octopush"](bad_vendor.base_url("octopush", mode))
    with VendorClient(api, timeout=TIMEOUT, retry=RETRY, limits=LIMITS) as client:
        with pytest.raises(MalformedResponseError) as info:
            client.send(api.send_voice_sms(text="Hello", recipients=["+33612345678"]))
    exc = info.value
    assert exc.status_code == 200 and exc.vendor == "octopush" and exc.endpoint == "voice-campaign/send"
    assert "errors.pydantic.dev" not in str(exc) and KEYS["octopush"] not in str(exc)
    if mode in ("gzip-bomb", "huge"):
        assert f"response over {CAP} bytes" in str(exc)
    else:
        assert exc.excerpt is not None and len(exc.excerpt) <= 200


# -- through the delivery engine: a frame answered with garbage is in doubt -------------------------
ENGINE_MODES = ["object", "envelope", "odd-envelope", "wrong-types", "html", "truncated-json", "deep-list", "gzip-bomb"]


@pytest.mark.parametrize("mode", ENGINE_MODES)
@pytest.mark.parametrize("vendor", ["velip", "octopush", "kaleyra"])
async def test_campaign_frames_answered_with_garbage_are_in_doubt(bad_vendor, vendor, mode):
    from airflow_provider_voice.capabilities.campaign import CampaignIncompleteError
    from airflow_provider_voice.capabilities.recipients import validate_recipients
    from airflow_provider_voice.delivery import CheckpointKey, MemoryCheckpointStore
    from airflow_provider_voice.models.campaign import CampaignSpec
    from airflow_provider_voice.vendors.kaleyra.campaign import KaleyraCampaigns
    from airflow_provider_voice.vendors.octopush.campaign import OctopushCampaigns
    from airflow_provider_voice.vendors.velip.campaign import VelipCampaigns

    backends = {"velip": VelipCampaigns, "octopush": OctopushCampaigns, "kaleyra": KaleyraCampaigns}
    backend = backends[vendor](
        VendorAccess(API[vendor](bad_vendor.base_url(vendor, mode)), conn_id="adv", timeout=TIMEOUT, retry=RETRY)
    )
    options = {"lookup_before_create": False} if vendor == "velip" else {}
    spec = CampaignSpec(name="adversarial", message="Hello", vendor_options=options)
    people = [f"+336123{i:05d}" for i in range(3)]

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(CampaignIncompleteError) as info:
        await backend.asend_campaign(
            spec,
            validate_recipients(people, backend, spec),
            key=CheckpointKey("adv", vendor, mode),
            store=MemoryCheckpointStore(),
            engine_options={"reconcile_delay": 0, "reconcile_rounds": 1, "sleep": no_sleep},
        )
    report = info.value.report
    assert report.accepted == 0 and report.frames_sent == 0
    assert sorted(report.in_doubt) == sorted(people), report
    assert "errors.pydantic.dev" not in str(info.value)
