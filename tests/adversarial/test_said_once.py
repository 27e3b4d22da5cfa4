"""Issue 9, deliverables 1 and 6: each rule said once, and every reader and writer obeys it.

* **Object storage or a local file** — one rule (``storage.is_object_storage``) for recipients,
  suppression lists, CDR files, atomic writes (exports, rejects), the CDR operator's destination
  and checkpoints: a ``scheme://`` at the start (not ``file``, not a one-letter drive) is object
  storage; ``file:`` URLs in any case, with ``localhost`` and percent-encoding, are local; a
  ``file://`` URL of another host and an empty location are ``ValidationError``, never a folder
  created somewhere unexpected.
* **Octopush rules** — the campaign check and the request builder raise the same rule.
* **Kaleyra's default region** — one constant; every default in the package is that constant.
* **Kaleyra logic in the vendor folder** — the operator module holds operators only.
* **Bad input to any delivering operator** is a ``VoiceInputError`` (``CampaignInputError`` is the
  same class), raised before anything is sent.
"""

from __future__ import annotations

import functools
import inspect
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from helpers import task_context

from airflow_provider_voice.delivery import SuppressionList
from airflow_provider_voice.delivery.checkpoint import (
    LocalCheckpointStore,
    ObjectStorageCheckpointStore,
    checkpoint_store,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models import RecipientSource
from airflow_provider_voice.models.campaign import CampaignSpec
from airflow_provider_voice.operators.cdr import default_asset_for, storage_destination
from airflow_provider_voice.storage import is_object_storage, open_atomic, resolve_destination, resolve_location
from airflow_provider_voice.vendors.access import VendorAccess
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION as KALEYRA_REGION
from airflow_provider_voice.vendors.octopush import OctopushApi
from airflow_provider_voice.vendors.octopush.campaign import OctopushCampaigns
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.api_messaging import DEFAULT_REGION as TELEVOIPS_REGION
from airflow_provider_voice.vendors.televoips.cdr import iter_cdr_records

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_voice"
NUMBERS = ["+33612345601", "+33612345602"]
CDR_CSV = (
    "calldate,uniqueid,src,dst,duration,billsec,disposition\n"
    "2026-10-01 09:00:00,1.1,+14155552671,+14155552672,30,25,ANSWERED\n"
)


def _package_sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts)


# -- one rule: object storage or a local file ------------------------------------------------------
@pytest.mark.parametrize(
    ("location", "remote"),
    [
        ("s3://bucket/cdrs/x.csv", True),
        ("  gs://bucket/x.csv\n", True),  # a rendered template's white space
        ("memory://bucket/x", True),
        ("https://files.example/x.csv", True),
        ("abfs://container/x.csv", True),
        ("file:///data/x.csv", False),
        ("FILE:///data/x.csv", False),  # schemes are case-insensitive
        ("File://localhost/data/x.csv", False),
        ("file:/data/x.csv", False),
        ("/data/x?from=https://example.com/x.csv", False),  # '://' further in: still a path
        ("C://data/x.csv", False),  # a Windows drive, not a one-letter scheme
        ("C:\\data\\x.csv", False),
        ("relative/x.csv", False),
        ("x.csv", False),
    ],
)
def test_one_rule_says_what_is_object_storage(location, remote):
    assert is_object_storage(location) is remote
    if not remote:
        assert isinstance(resolve_location(location), Path)


def _forms(path: Path) -> dict[str, Any]:
    """The ways a DAG author may name one local file."""
    uri = path.absolute().as_uri()  # percent-encoded (the folder has a space and a '#')
    return {
        "str": str(path),
        "padded str": f"  {path}\n",
        "Path": path,
        "file URI": uri,
        "FILE URI": "FILE" + uri[4:],
        "localhost URI": uri.replace("file:///", "file://localhost/", 1),
        "unencoded file URL": f"file://{path}",
        "single-slash file URL": f"file:{path}",
    }


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my data #1 (100%)"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("form", list(_forms(Path("/x"))))
def test_every_reader_and_writer_finds_the_same_local_file(odd_folder, form):
    people = odd_folder / "people.csv"
    people.write_text("number\n" + "\n".join(NUMBERS) + "\n")
    cdrs = odd_folder / "cdrs.csv"
    cdrs.write_text(CDR_CSV)
    out = odd_folder / "out.csv"

    assert [str(r.number) for r in RecipientSource(_forms(people)[form])] == NUMBERS
    assert sorted(SuppressionList.load(_forms(people)[form]).numbers) == NUMBERS
    assert [r.uniqueid for r in iter_cdr_records(_forms(cdrs)[form])] == ["1.1"]
    assert resolve_destination(_forms(out)[form]) == out
    assert storage_destination(_forms(out)[form]) == out  # the CDR / report operators' destination
    with open_atomic(_forms(out)[form]) as target:
        target.write(b"number\n")
    assert out.read_bytes() == b"number\n" and target.url == out.as_uri()
    store = checkpoint_store(_forms(odd_folder)[form])
    assert isinstance(store, LocalCheckpointStore) and store.root == odd_folder
    assert default_asset_for(_forms(out)[form]).uri == out.as_uri()
    assert sorted(p.name for p in odd_folder.iterdir()) == ["cdrs.csv", "out.csv", "people.csv"]


def test_a_url_inside_a_local_path_is_not_object_storage(tmp_path):
    people = tmp_path / "x?from=https:" / "example.com" / "people.csv"
    people.parent.mkdir(parents=True)
    people.write_text("number\n+33612345601\n")
    given = f"{tmp_path}/x?from=https://example.com/people.csv"
    assert [str(r.number) for r in RecipientSource(given)] == ["+33612345601"]
    assert isinstance(checkpoint_store(f"{tmp_path}/x?from=https://example.com"), LocalCheckpointStore)


@pytest.mark.parametrize("location", ["file://server/share/people.csv", "file://people.csv", "FILE://data/x.csv"])
def test_a_file_url_of_another_host_fails_everywhere_and_creates_nothing(tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    readers = {
        "recipients": lambda: RecipientSource(location).collect(),
        "suppression": lambda: SuppressionList.load(location),
        "source": lambda: list(iter_cdr_records(location)),
        "destination": lambda: open_atomic(location).__enter__(),
        "checkpoint_path": lambda: checkpoint_store(location),
    }
    for field, read in readers.items():
        with pytest.raises(ValidationError, match="file:///absolute/path") as info:
            read()
        assert info.value.field == field and info.value.value == location
    with pytest.raises(ValidationError, match="names a file on this machine"):
        storage_destination(location)
    assert list(tmp_path.iterdir()) == []  # no 'server/share' or 'data' folder made in the working directory


@pytest.mark.parametrize("blank", ["", "   ", "\n", "file://", "file:///", "FILE://localhost/"])
def test_an_empty_location_is_an_error_not_the_working_directory(tmp_path, monkeypatch, blank):
    monkeypatch.chdir(tmp_path)
    for field, read in {
        "recipients": lambda: RecipientSource(blank).collect(),
        "source": lambda: list(iter_cdr_records(blank)),
        "destination": lambda: resolve_destination(blank),
    }.items():
        with pytest.raises(ValidationError, match="empty path") as info:
            read()
        assert info.value.field == field
    assert list(tmp_path.iterdir()) == []


def test_a_blank_checkpoint_path_means_the_configured_default(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__VOICE__CHECKPOINT_PATH", str(tmp_path / "default-cp"))
    for blank in (None, "", "  \n"):
        store = checkpoint_store(blank)
        assert isinstance(store, LocalCheckpointStore) and store.root == tmp_path / "default-cp"


@pytest.fixture
def memory_storage(monkeypatch):
    """``memory://`` registered as an Airflow object store for the test (stands for S3/GCS offline)."""
    from airflow.sdk.io import fs
    from fsspec.implementations.memory import MemoryFileSystem

    monkeypatch.setitem(fs._BUILTIN_SCHEME_TO_FS, "memory", lambda conn_id, options: MemoryFileSystem(**options))
    fs._register_filesystems.cache_clear()
    yield
    fs._register_filesystems.cache_clear()


def test_object_storage_urls_and_paths_round_trip_through_every_reader(memory_storage):
    from airflow.sdk import ObjectStoragePath

    root = f"memory://said-once-{uuid.uuid4().hex[:8]}"
    with open_atomic(f"  {root}/people.csv ") as target:  # padded, as a template may render it
        target.write(("number\n" + "\n".join(NUMBERS) + "\n").encode())
    with open_atomic(ObjectStoragePath(f"{root}/cdrs.csv")) as target:
        target.write(CDR_CSV.encode())
    assert [str(r.number) for r in RecipientSource(f"{root}/people.csv")] == NUMBERS
    assert sorted(SuppressionList.load(ObjectStoragePath(f"{root}/people.csv")).numbers) == NUMBERS
    assert [r.uniqueid for r in iter_cdr_records(f"{root}/cdrs.csv")] == ["1.1"]
    assert isinstance(checkpoint_store(f"{root}/cp"), ObjectStorageCheckpointStore)
    assert isinstance(checkpoint_store(ObjectStoragePath(f"{root}/cp")), ObjectStorageCheckpointStore)
    assert default_asset_for(f"{root}/people.csv").uri == f"{root}/people.csv"


@pytest.mark.parametrize("bad", [12, b"/tmp/x.csv", object(), {"path": "/tmp/x.csv"}])
def test_what_is_neither_a_path_nor_a_url_is_a_validation_error(bad):
    for field, read in {
        "source": lambda: list(iter_cdr_records(bad)),
        "destination": lambda: resolve_destination(bad),
        "checkpoint_path": lambda: checkpoint_store(bad),
    }.items():
        with pytest.raises(ValidationError) as info:
            read()
        assert info.value.field == field


def test_object_storage_is_opened_in_one_place_only():
    """The rule cannot drift again: only ``storage.py`` builds an ``ObjectStoragePath`` from a string."""
    opening = re.compile(r"\bObjectStoragePath\(|import ObjectStoragePath")
    places = [p.relative_to(PACKAGE).as_posix() for p in _package_sources() if opening.search(p.read_text())]
    assert places == ["storage.py"]
    loose = re.compile(r'"://" (?:not )?in |startswith\("file://"\)|removeprefix\("file://"\)')
    resolvers = {"storage.py", "models/text_source.py", "delivery/checkpoint.py", "vendors/televoips/cdr.py"}
    drifted = [
        p.relative_to(PACKAGE).as_posix()
        for p in _package_sources()
        if p.relative_to(PACKAGE).as_posix() in resolvers and loose.search(p.read_text())
    ]
    assert drifted == []


# -- Octopush: each rule checked in one place ------------------------------------------------------
OCTOPUSH = OctopushApi(
    api_login="me@example.com", api_key="octo-key", base_urls={"default": "https://octopush.invalid"}
)
GOOD = {"text": "Bonjour", "recipients": ["+33612345678"]}


@pytest.mark.parametrize(
    ("campaign", "campaign_field", "request_args", "request_field"),
    [
        ({"message": "x" * 1225}, "message", {"text": "x" * 1225}, "text"),
        ({"vendor_options": {"sender": "ab"}}, "vendor_options.sender", {"sender": "ab"}, "sender"),
        ({"vendor_options": {"sender": "Clinic-42"}}, "vendor_options.sender", {"sender": "Clinic-42"}, "sender"),
        ({"vendor_options": {"sender": "x" * 12}}, "vendor_options.sender", {"sender": "x" * 12}, "sender"),
        ({"language": "xx-XX"}, "language", {"voice_language": "xx-XX"}, "voice_language"),
        (
            {"vendor_options": {"voice_language": "tlh-KL"}},
            "vendor_options.voice_language",
            {"voice_language": "tlh-KL"},
            "voice_language",
        ),
        ({"voice": "robot"}, "voice", {"voice_gender": "robot"}, "voice_gender"),
    ],
)
def test_octopush_campaign_and_request_refuse_with_the_same_rule(campaign, campaign_field, request_args, request_field):
    backend = OctopushCampaigns(VendorAccess(OCTOPUSH))
    with pytest.raises(ValidationError) as early:
        backend.validate(CampaignSpec(name="c", **{"message": "Bonjour", **campaign}))
    with pytest.raises(ValidationError) as late:
        OCTOPUSH.send_voice_sms(**{**GOOD, **request_args})
    assert (early.value.field, late.value.field) == (campaign_field, request_field)
    assert early.value.rule == late.value.rule and early.value.vendor == late.value.vendor == "octopush"


@pytest.mark.parametrize("text", ["x", "x" * 1224])
@pytest.mark.parametrize("sender", [None, "abc", "A" * 11])
def test_octopush_limits_are_inclusive_in_both_places(text, sender):
    options = {"sender": sender} if sender else {}
    OctopushCampaigns(VendorAccess(OCTOPUSH)).validate(
        CampaignSpec(name="c", message=text, voice="female", language="fr-FR", vendor_options=options)
    )
    call = OCTOPUSH.send_voice_sms(
        text=text, recipients=["+33612345678"], sender=sender, voice_gender="female", voice_language="fr-FR"
    )
    assert call.json["text"] == text


# -- Kaleyra's default region: one constant ---------------------------------------------------------
def test_every_region_default_is_the_vendor_constant():
    from airflow_provider_voice.operators.kaleyra import KaleyraDialerUploadOperator, KaleyraFollowUpOperator
    from airflow_provider_voice.vendors.kaleyra.blacklist import KaleyraBlacklist
    from airflow_provider_voice.vendors.kaleyra.click_to_call import KaleyraClickToCall
    from airflow_provider_voice.vendors.kaleyra.followups import KaleyraFollowUps
    from airflow_provider_voice.vendors.televoips.blacklist import TeleVoipsBlacklist
    from airflow_provider_voice.vendors.televoips.sms import TeleVoipsSms

    assert (KALEYRA_REGION, TELEVOIPS_REGION) == ("IN", "US")
    checked = 0
    for api, region in ((KaleyraApi, KALEYRA_REGION), (TeleVoipsApi, TELEVOIPS_REGION)):
        for name, method in inspect.getmembers(api, inspect.isfunction):
            parameter = inspect.signature(method).parameters.get("default_region")
            if parameter is not None and parameter.default is not inspect.Parameter.empty:
                assert parameter.default == region, f"{api.__name__}.{name}"
                checked += 1
    for cls in (KaleyraFollowUps.create, KaleyraFollowUps.edit, KaleyraFollowUps.delete):
        assert inspect.signature(cls).parameters["default_region"].default == KALEYRA_REGION
        checked += 1
    assert checked >= 12
    assert KaleyraClickToCall.default_region == KaleyraBlacklist.default_region == KALEYRA_REGION
    assert TeleVoipsSms.default_region == TeleVoipsBlacklist.default_region == TELEVOIPS_REGION
    assert KaleyraFollowUpOperator(task_id="f").default_region == KALEYRA_REGION
    assert KaleyraDialerUploadOperator(task_id="d", campaign="c", recipients=[]).default_region == KALEYRA_REGION


def test_the_region_is_spelled_once_per_vendor():
    # code, not prose: a default in a signature or a class, a constant, a per-vendor map
    spelled = re.compile(r'(?:default_region:[^=\n]*=\s*|DEFAULT_REGION\s*=\s*|"(?:kaleyra|televoips)":\s*)"(?:IN|US)"')
    places = sorted(
        f"{p.relative_to(PACKAGE).as_posix()}:{m.group(0)}"
        for p in _package_sources()
        for m in spelled.finditer(p.read_text())
    )
    assert places == [
        'vendors/kaleyra/api_core.py:DEFAULT_REGION = "IN"',
        'vendors/televoips/api_messaging.py:DEFAULT_REGION = "US"',
    ]


def test_blacklist_reads_national_numbers_in_the_vendors_region(voice_connections, context):
    from airflow_provider_voice.operators.blacklist import BlacklistNumbersOperator

    result = BlacklistNumbersOperator(task_id="b", conn_id="kaleyra_default", numbers=["98765 43210"]).execute(context)
    assert result["changed"] == 1 and result["failed"] == 0
    assert [e.number for e in voice_connections.state.ledger.entries("kaleyra", "block")] == ["9876543210"]


# -- Kaleyra logic lives in the vendor folder -------------------------------------------------------
def test_the_kaleyra_operator_module_holds_operators_only():
    from airflow.sdk import BaseOperator

    import airflow_provider_voice.operators.kaleyra as module
    from airflow_provider_voice.vendors.kaleyra.dialer import KaleyraDialerChannel

    defined = [obj for _, obj in inspect.getmembers(module, inspect.isclass) if obj.__module__ == module.__name__]
    assert defined and all(issubclass(cls, BaseOperator) for cls in defined)
    assert not [f for _, f in inspect.getmembers(module, inspect.isfunction) if f.__module__ == module.__name__]
    assert KaleyraDialerChannel.__module__ == "airflow_provider_voice.vendors.kaleyra.dialer"
    assert "hook" not in inspect.signature(KaleyraDialerChannel).parameters  # built from the access, not the hook


@pytest.mark.parametrize(
    ("listed", "minute"),
    [
        ("14-10-2026 07:00:00 PM", "14-10-2026 19-00"),
        ("14-10-2026 19:00:00", "14-10-2026 19-00"),
        (" 14-10-2026 19:00 ", "14-10-2026 19-00"),
        ("14-10-2026 19-00", "14-10-2026 19-00"),
        ("2026-10-14T19:00:00", None),
        ("", None),
        (None, None),
    ],
)
def test_followup_report_times_are_read_in_every_listed_form(listed, minute):
    from airflow_provider_voice.vendors.kaleyra.followups import report_minute

    assert report_minute(listed) == minute


# -- one name for bad input -----------------------------------------------------------------------
def test_bad_input_to_sms_and_dialer_is_a_voice_input_error(voice_connections, tmp_path):
    from airflow_provider_voice.operators.base import CampaignInputError, VoiceInputError
    from airflow_provider_voice.operators.campaign import CampaignInputError as FromCampaign
    from airflow_provider_voice.operators.kaleyra import KaleyraDialerUploadOperator
    from airflow_provider_voice.operators.sms import SendSMSOperator

    assert CampaignInputError is VoiceInputError is FromCampaign
    assert issubclass(VoiceInputError, ValidationError) and issubclass(VoiceInputError, AirflowFailException)
    ctx = functools.partial(task_context, dag_id="said_once", run_id="r1")
    tasks = [
        SendSMSOperator(
            task_id="sms",
            conn_id="televoips_default",
            recipients=["+14155552671", "12"],
            text="hello",
            checkpoint_path=str(tmp_path / "cp"),
        ),
        KaleyraDialerUploadOperator(
            task_id="dial", campaign="bad name!", recipients=["9876543210"], checkpoint_path=str(tmp_path / "cp")
        ),
    ]
    for task in tasks:
        with pytest.raises(VoiceInputError):
            task.execute(ctx(task_id=task.task_id))
    assert len(voice_connections.state.ledger) == 0
