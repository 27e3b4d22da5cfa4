"""Packaging facts: cheap import, provider info Airflow accepts, every module importable without network."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from importlib.metadata import entry_points

import airflow_provider_voice
from airflow_provider_voice import get_provider_info
from airflow_provider_voice.vendors.registry import CONNECTION_TYPES

NO_SOCKET = """
import socket, sys, time
class NoSocket(socket.socket):
    def __init__(self, *a, **k):
        raise AssertionError("a socket was opened at import time")
socket.socket = NoSocket
start = time.perf_counter()
import airflow_provider_voice
elapsed = time.perf_counter() - start
heavy = sorted(m for m in ("airflow", "httpx", "pydantic", "phonenumbers") if m in sys.modules)
print(elapsed, ",".join(heavy))
"""


def test_import_is_cheap_and_opens_no_socket():
    out = subprocess.run([sys.executable, "-c", NO_SOCKET], capture_output=True, text=True, check=True).stdout.split()
    heavy = out[1] if len(out) > 1 else ""  # out[0]: the import time, printed by `make bench` figures only
    assert heavy == "", f"import airflow_provider_voice pulled in {heavy}"


def test_importing_every_module_opens_no_socket():
    code = NO_SOCKET.replace(
        "import airflow_provider_voice\n",
        "import pkgutil, importlib, airflow_provider_voice\n"
        "for m in pkgutil.walk_packages(airflow_provider_voice.__path__, 'airflow_provider_voice.'):\n"
        "    importlib.import_module(m.name)\n",
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_entry_point_points_at_get_provider_info():
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_voice")]
    assert len(eps) == 1 and eps[0].load() is get_provider_info


def test_provider_info_validates_against_airflow_schema():
    import airflow
    import jsonschema  # an apache-airflow-core dependency

    schema_path = airflow.__path__[0] + "/provider_info.schema.json"
    with open(schema_path) as fh:
        schema = json.load(fh)
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-voice"
    assert info["versions"] == [airflow_provider_voice.__version__]


def test_connection_types_declare_forms():
    entries = {e["connection-type"]: e for e in get_provider_info()["connection-types"]}
    assert set(entries) == {"velip", "televoips", "octopush", "kaleyra"}
    assert entries["octopush"]["ui-field-behaviour"]["relabeling"] == {
        "host": "Base URL",
        "login": "api-login",
        "password": "api-key",
    }
    televoips_fields = entries["televoips"]["conn-fields"]
    assert televoips_fields["reports_api_key"]["schema"]["format"] == "password"
    assert televoips_fields["messaging_api_key"]["schema"]["format"] == "password"
    for entry in entries.values():
        module, _, cls = entry["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), cls)
        assert hook.conn_type == entry["connection-type"]
        assert hook.get_ui_field_behaviour()["hidden_fields"] == entry["ui-field-behaviour"]["hidden-fields"]


def test_providers_manager_sees_the_four_connection_types():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-voice" in manager.providers
    hooks = manager.hooks
    for conn_type, spec in CONNECTION_TYPES.items():
        assert hooks[conn_type].hook_class_name == spec.hook_class
    widgets = manager.connection_form_widgets
    assert widgets["extra__televoips__reports_api_key"].is_sensitive is True
    assert manager.field_behaviours["velip"]["relabeling"]["password"] == "Token"


def test_listed_modules_exist():
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for group in info[section]:
            for module in group["python-modules"]:
                importlib.import_module(module)


def test_every_public_module_has_a_docstring():
    missing = [
        m.name
        for m in pkgutil.walk_packages(airflow_provider_voice.__path__, "airflow_provider_voice.")
        if not (importlib.import_module(m.name).__doc__ or "").strip()
    ]
    assert missing == []
