"""Every request in the vendor specs is reachable from a hook and exercised against the simulator.

The spec requests are read from the files in ``vendor-specs/`` (Kaleyra and TeleVoIPs Postman
collections, minus TeleVoIPs' Webhooks folder, which are requests *to* the user; the Octopush
send page; Octopush's balance and the Velip API names from PUBLIC-NOTES). Each must have a row in
:data:`COVERAGE` naming the API method(s) that build it, the simulator route it hits and the
operator/sensor that uses it. Each row's call is made through the hook's client against the
simulator, and the simulator side counts the request (a zero-rate fault rule on the route is a
request counter), so a row passes only if the request really reached the simulated vendor.

The coverage table is printed (``pytest -s``) and must match ``docs/operators/coverage.md``;
regenerate that file with ``python tests/test_spec_coverage.py``.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_voice.transport import Call

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "operators" / "coverage.md"


def _specs_dir() -> Path:
    for candidate in (ROOT / "vendor-specs", ROOT.parent / "shared" / "vendor-specs", ROOT / "docs" / "vendor-specs"):
        if (candidate / "PUBLIC-NOTES.md").exists():
            return candidate
    pytest.skip("vendor-specs/ not found next to the project")  # pragma: no cover
    raise AssertionError  # pragma: no cover


# -- the spec side -----------------------------------------------------------------------------
def spec_requests() -> list[str]:
    """``"<vendor>: <request name>"`` for every request the specs document."""
    specs = _specs_dir()
    out: list[str] = []

    def walk(items: list[dict[str, Any]], folder: str, vendor: str) -> None:
        for item in items:
            if "item" in item:
                if vendor == "televoips" and item["name"] == "Webhooks":
                    continue  # requests the vendor makes to the user's endpoint
                walk(item["item"], f"{folder}/{item['name']}", vendor)
            else:
                out.append(f"{vendor}: {item['name']}")

    for vendor, name in (("kaleyra", "kaleyra-voice.postman.json"), ("televoips", "televoips.postman.json")):
        walk(json.loads((specs / name).read_text())["item"], "", vendor)
    octopush = (specs / "octopush-voice-sms.txt").read_text()
    assert "Send a VMS campaign" in octopush
    out.append("octopush: Send a VMS campaign")
    notes = (specs / "PUBLIC-NOTES.md").read_text()
    assert "GET /v1/public/wallet/check-balance" in notes
    out.append("octopush: Balance (PUBLIC-NOTES)")
    velip = notes.split("## Velip", 1)[1].split("\n## ", 1)[0]
    out += [f"velip: {name}" for name in re.findall(r"^- \*\*([A-Z][A-Za-z]+)\*\*", velip, re.M)]
    return out


# -- the mapping -------------------------------------------------------------------------------
@dataclass
class Row:
    """One spec request: where it is served, what builds it, what uses it, how to exercise it."""

    spec: str
    route: str  # simulator route (fault-rule key): Kaleyra method, Velip API name, "<METHOD> <path>"
    methods: list[str]  # "<ApiClass>.<method>" building the request
    users: list[str]  # "module:Class" of operators/sensors using it
    exercise: Callable[[dict[str, Any]], Any]
    calls: int = 1  # requests the exercise makes on the route
    notes: str = ""
    vendor: str = field(init=False)

    def __post_init__(self) -> None:
        self.vendor = self.spec.split(":", 1)[0]


def tomorrow_ontime() -> str:
    return pendulum.now("Asia/Kolkata").add(days=1).replace(hour=10, minute=0).strftime("%d-%m-%Y %H-%M")


def _call(hook: Any, build: Callable[[Any], Any]) -> Any:
    """What ``build`` makes with the hook's API, through the hook's client: ``send`` a call, ``run`` a flow."""
    step = build(hook.api)
    return hook.client.send(step) if isinstance(step, Call) else hook.client.run(step)


def _k(ctx: dict[str, Any], build: Callable[[Any], Any]) -> Any:
    return _call(ctx["kaleyra"], build)


def _t(ctx: dict[str, Any], build: Callable[[Any], Any]) -> Any:
    return _call(ctx["televoips"], build)


def _v(ctx: dict[str, Any], build: Callable[[Any], Any]) -> Any:
    return _call(ctx["velip"], build)


def _o(ctx: dict[str, Any], build: Callable[[Any], Any]) -> Any:
    return _call(ctx["octopush"], build)


def _remember(ctx: dict[str, Any], key: str, value: Any) -> Any:
    ctx[key] = value
    return value


def _cdr_download(ctx: dict[str, Any]) -> int:
    hook = ctx["televoips"]
    report = ctx.get("cdr_report") or hook.client.send(hook.api.request_cdr_report())
    sim = ctx["sim"].state
    sim.use_fake_clock().advance(sim.config.cdr_compile_seconds + 1)  # compiled, and still the same report day
    report = hook.client.send(hook.api.request_cdr_report())
    with hook.client.stream(hook.api.cdr_file_call(report)) as response:
        return sum(len(chunk) for chunk in response.iter_bytes())


def _followup_edit_and_delete(ctx: dict[str, Any]) -> str:
    ontime = tomorrow_ontime()
    edited = _k(ctx, lambda a: a.followup_edit(ctx["followup"], "9876543210", "Coverage", "9123456789", ontime))
    _k(ctx, lambda a: a.followup_delete(edited, "9876543210", "Coverage", "9123456789", ontime))
    return edited


COVERAGE: list[Row] = [
    # Kaleyra Voice (kaleyra-voice.postman.json)
    Row("kaleyra: Click-to-Call", "dial.click2call", ["KaleyraApi.click2call"],
        ["operators.click_to_call:ClickToCallOperator"],
        lambda c: _remember(c, "c2c", _k(c, lambda a: a.click2call("9988776655", "9876543210", callback="https://cb.example.com/?s={status}")).call_id)),
    Row("kaleyra: Click-to-Call Status", "dial.c2cstatus", ["KaleyraApi.c2c_status"],
        ["sensors.click_to_call:ClickToCallSensor", "operators.click_to_call:ClickToCallOperator", "operators.reports:KaleyraCallReportOperator"],
        lambda c: _k(c, lambda a: a.c2c_status(call_id=c["c2c"])).rows),
    Row("kaleyra: Get Call Details", "dial", ["KaleyraApi.dial"], ["operators.reports:KaleyraCallReportOperator"],
        lambda c: _k(c, lambda a: a.dial()).rows),
    Row("kaleyra: Blacklist a Number", "block", ["KaleyraApi.block"], ["operators.blacklist:BlacklistNumbersOperator"],
        lambda c: _k(c, lambda a: a.block(["9988776655", "9876543210"]))),
    Row("kaleyra: Undo Number Blacklist", "block", ["KaleyraApi.unblock"], ["operators.blacklist:BlacklistNumbersOperator"],
        lambda c: _k(c, lambda a: a.unblock(["9988776655"]))),
    Row("kaleyra: Create Call Follow Up", "followup", ["KaleyraApi.followup_create"], ["operators.kaleyra:KaleyraFollowUpOperator"],
        lambda c: _remember(c, "followup", _k(c, lambda a: a.followup_create("9876543210", "Coverage", "9123456789", tomorrow_ontime())))),
    Row("kaleyra: Edit a Call Follow Up", "followup", ["KaleyraApi.followup_edit", "KaleyraApi.followup_delete"],
        ["operators.kaleyra:KaleyraFollowUpOperator"], _followup_edit_and_delete, calls=2,
        notes="``action=delete`` (documented on this request) is ``followup_delete``"),
    Row("kaleyra: Get Call Follow Up Report", "followup.reports", ["KaleyraApi.followup_reports"],
        ["operators.reports:KaleyraCallReportOperator", "operators.kaleyra:KaleyraFollowUpOperator"],
        lambda c: _k(c, lambda a: a.followup_reports()).rows),
    Row("kaleyra: Health status API", "monitor", ["KaleyraApi.monitor"],
        ["sensors.health:HealthStatusSensor", "hooks.kaleyra:KaleyraHook"], lambda c: _k(c, lambda a: a.monitor())),
    Row("kaleyra: Progressive dialer upload API", "autodial.add", ["KaleyraApi.autodial_add"],
        ["operators.kaleyra:KaleyraDialerUploadOperator"],
        lambda c: _k(c, lambda a: a.autodial_add("unique_name", "9876543210", {"profile": "custom1"}))),
    Row("kaleyra: Progressive dialer Bulk upload API", "autodial.import", ["KaleyraApi.autodial_import"],
        ["operators.kaleyra:KaleyraDialerUploadOperator"],
        lambda c: _k(c, lambda a: a.autodial_import("unique_name", [{"number": "9876543210", "customname": "A"}, {"number": "8012345678", "customname": "B"}]))),
    Row("kaleyra: Start OBD Call", "voice.call", ["KaleyraApi.voice_call"], ["operators.campaign:SendVoiceCampaignOperator"],
        lambda c: _remember(c, "obd", _k(c, lambda a: a.voice_call(["9876543210"], play="123.sound")))),
    Row("kaleyra: OBD call using JSON data", "voice.json", ["KaleyraApi.voice_json"], ["operators.campaign:SendVoiceCampaignOperator"],
        lambda c: _k(c, lambda a: a.voice_json([{"to": ["9876543210", "8012345678"], "play": "1122.sound", "custom": "ABC12"}]))),
    Row("kaleyra: Check Obd Call Status", "voice.status", ["KaleyraApi.voice_status"],
        ["sensors.campaign:CampaignCompletionSensor"], lambda c: _k(c, lambda a: a.voice_status(c["obd"].calls[0].id))),
    Row("kaleyra: Check OBD call group status", "voice.groupstatus", ["KaleyraApi.voice_groupstatus"],
        ["sensors.campaign:CampaignCompletionSensor"], lambda c: _k(c, lambda a: a.voice_groupstatus(c["obd"].group_id))),
    # TeleVoIPs (televoips.postman.json, without the Webhooks folder)
    Row("televoips: Request CDR report", "GET /reports/cdrs", ["TeleVoipsApi.request_cdr_report", "TeleVoipsApi.wait_for_cdr_report"],
        ["operators.cdr:DownloadCdrReportOperator", "sensors.cdr:CdrReportSensor"],
        lambda c: _remember(c, "cdr_report", _t(c, lambda a: a.request_cdr_report()))),
    Row("televoips: Download CDR report file", "GET /reports/cdrs/{id}/{file}", ["TeleVoipsApi.cdr_file_call"],
        ["operators.cdr:DownloadCdrReportOperator"], _cdr_download, notes="streamed with ``client.stream``"),
    Row("televoips: Send Message", "POST /messages", ["TeleVoipsApi.send_message"], ["operators.sms:SendSMSOperator"],
        lambda c: _remember(c, "sms", _t(c, lambda a: a.send_message("13214567890", "14155552671", "Coverage")))),
    Row("televoips: Get Messages", "GET /messages", ["TeleVoipsApi.list_messages"], ["operators.messages:ExportMessagesOperator"],
        lambda c: _t(c, lambda a: a.list_messages(start=pendulum.now("UTC").subtract(days=1), end=pendulum.now("UTC")))),
    Row("televoips: Get Message", "GET /messages/{id}", ["TeleVoipsApi.get_message"], ["operators.messages:ExportMessagesOperator"],
        lambda c: _t(c, lambda a: a.get_message(c["sms"]))),
    Row("televoips: Unsubscribe", "POST /unsubscribe", ["TeleVoipsApi.unsubscribe"], ["operators.blacklist:BlacklistNumbersOperator"],
        lambda c: _t(c, lambda a: a.unsubscribe("14155552672", "13214567890"))),
    # Octopush
    Row("octopush: Send a VMS campaign", "/v1/public/voice-campaign/send", ["OctopushApi.send_voice_sms"],
        ["operators.campaign:SendVoiceCampaignOperator"],
        lambda c: _o(c, lambda a: a.send_voice_sms(text="Coverage", recipients=["+33612345678"], request_id="coverage1"))),
    Row("octopush: Balance (PUBLIC-NOTES)", "/v1/public/wallet/check-balance", ["OctopushApi.check_balance"],
        ["hooks.octopush:OctopushHook"], lambda c: _o(c, lambda a: a.check_balance())),
    # Velip (names from PUBLIC-NOTES / velip-v2.md)
    Row("velip: GetUserID", "GetUserID", ["VelipApi.get_user_id"], ["hooks.velip:VelipHook"], lambda c: _v(c, lambda a: a.get_user_id())),
    Row("velip: MakeTTSCall", "MakeTTSCall", ["VelipApi.make_tts_call"], ["operators.click_to_call:ClickToCallOperator"],
        lambda c: _remember(c, "cd_id", _v(c, lambda a: a.make_tts_call("5511987654321", text="Olá", type=3, dest2="5521998765432")).cd_id)),
    Row("velip: CreateCampaign", "CreateCampaign", ["VelipApi.create_campaign"], ["operators.campaign:SendVoiceCampaignOperator"],
        lambda c: _remember(c, "cp_id", _v(c, lambda a: a.create_campaign(name="coverage", destinations=["5511987654322"], text="Olá")).cp_id)),
    Row("velip: GetCampaignsList", "GetCampaignsList", ["VelipApi.get_campaigns_list"], ["sensors.campaign:CampaignCompletionSensor"],
        lambda c: _v(c, lambda a: a.get_campaigns_list(cp_id=c["cp_id"]))),
    Row("velip: ChangeCampaign", "ChangeCampaign", ["VelipApi.change_campaign"], ["operators.campaign:SendVoiceCampaignOperator"],
        lambda c: _v(c, lambda a: a.change_campaign(c["cp_id"], active=0)), notes="pause/resume; ``on_kill`` cancels"),
    Row("velip: GetCallStatus", "GetCallStatus", ["VelipApi.get_call_status"],
        ["sensors.click_to_call:ClickToCallSensor", "operators.reports:VelipCallStatusExportOperator"],
        lambda c: _v(c, lambda a: a.get_call_status(cd_id=c["cd_id"]))),
    Row("velip: MakeSMS", "MakeSMS", ["VelipApi.make_sms"], ["operators.sms:SendSMSOperator"],
        lambda c: _v(c, lambda a: a.make_sms("5511987654321", "Olá", ctid="coverage1"))),
]  # fmt: skip


# -- helpers -----------------------------------------------------------------------------------
API_CLASSES = {
    "KaleyraApi": "airflow_provider_voice.vendors.kaleyra:KaleyraApi",
    "TeleVoipsApi": "airflow_provider_voice.vendors.televoips:TeleVoipsApi",
    "OctopushApi": "airflow_provider_voice.vendors.octopush:OctopushApi",
    "VelipApi": "airflow_provider_voice.vendors.velip:VelipApi",
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def api_method(spec: str) -> Any:
    cls_name, _, method = spec.partition(".")
    return getattr(_load(API_CLASSES[cls_name]), method, None)


def user_available(user: str) -> bool:
    module, _, name = user.partition(":")
    try:
        return hasattr(importlib.import_module(f"airflow_provider_voice.{module}"), name)
    except ImportError:
        return False


def render_table() -> str:
    lines = [
        "# Spec coverage: every vendor request, the client method that sends it, what uses it",
        "",
        "Generated by `tests/test_spec_coverage.py` (run `python tests/test_spec_coverage.py` to refresh);",
        "the test sends every row's request to the simulator and checks the simulator received it.",
        "Methods are on the vendor APIs; the hook's client sends what they build: "
        "`hook.client.send(hook.api.<method>(...))` (a flow: `hook.client.run(...)`).",
        "",
        "| Spec request | Simulator route | Client method(s) | Operators / sensors / hooks |",
        "|---|---|---|---|",
    ]
    for row in COVERAGE:
        users = ", ".join(
            f"`{u.split(':')[1]}`" if user_available(u) else f"`{u.split(':')[1]}` (pending)" for u in row.users
        )
        methods = ", ".join(f"`{m}`" for m in row.methods)
        note = f" ({row.notes})" if row.notes else ""
        lines.append(f"| {row.spec} | `{row.route}` | {methods}{note} | {users} |")
    return "\n".join(lines) + "\n"


# -- tests -------------------------------------------------------------------------------------
def test_every_spec_request_has_a_row():
    documented = spec_requests()
    mapped = [row.spec for row in COVERAGE]
    assert len(documented) == len(set(documented)) == 30, documented
    assert sorted(documented) == sorted(mapped), {
        "missing rows": sorted(set(documented) - set(mapped)),
        "rows without a spec request": sorted(set(mapped) - set(documented)),
    }


@pytest.mark.parametrize("row", COVERAGE, ids=lambda r: r.spec)
def test_every_row_names_existing_endpoints(row):
    for spec in row.methods:
        method = api_method(spec)
        assert method is not None, f"{spec} does not exist"
        assert getattr(method, "__voice_endpoint__", False) or spec.endswith("_call"), f"{spec} is not an @endpoint"


def test_every_request_reaches_the_simulator(simulator, monkeypatch, capsys):
    from airflow.sdk import BaseHook

    from airflow_provider_voice.testing.demo import connection_env

    for name, value in connection_env(simulator).items():
        monkeypatch.setenv(name, value)
    simulator.state.configure(velip_httpdup_seconds=0)
    ctx: dict[str, Any] = {"sim": simulator}
    for vendor in ("kaleyra", "televoips", "octopush", "velip"):
        ctx[vendor] = BaseHook.get_hook(f"{vendor}_default")
    failures = []
    for row in COVERAGE:
        counter = simulator.state.faults.set(row.vendor, row.route)  # zero rates: a request counter
        try:
            result = row.exercise(ctx)
        except Exception as exc:  # collect, so the table shows every gap at once
            failures.append(f"{row.spec}: {type(exc).__name__}: {exc}")
            continue
        finally:
            simulator.state.faults.clear(row.vendor, row.route)
        if result is None and row.route not in ("POST /unsubscribe",):
            failures.append(f"{row.spec}: returned nothing")
        if counter.requests < row.calls:
            failures.append(
                f"{row.spec}: the simulator saw {counter.requests} request(s) on {row.route}, expected {row.calls}"
            )
    table = render_table()
    with capsys.disabled():
        print("\n" + table)
    assert not failures, "\n".join(failures)


def test_docs_table_is_current():
    assert DOC.exists(), f"{DOC} missing: run python tests/test_spec_coverage.py"
    assert DOC.read_text() == render_table(), (
        "docs/operators/coverage.md is stale: run python tests/test_spec_coverage.py"
    )


if __name__ == "__main__":  # regenerate the docs page
    sys.path.insert(0, str(ROOT))
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render_table())
    print(f"wrote {DOC}")
