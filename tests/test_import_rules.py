"""The runtime side of the import-linter contracts in ``pyproject.toml`` (``make lint`` checks the static side).

The "no Airflow" contract counts direct imports only (``allow_indirect_imports``): the shared modules
below the vendors may import ``airflow.sdk`` lazily, inside the function that needs it. This checks
that the lazy imports stay lazy: importing any module of the plain-Python parts loads no Airflow.
"""

from __future__ import annotations

import subprocess
import sys

#: every part below the hooks: plain Python, usable (and tested) without Airflow
PLAIN_PYTHON = [
    "vendors",
    "capabilities",
    "delivery",
    "models",
    "storage",
    "transport",
    "connections",
    "errors",
    "redaction",
]

IMPORT_EACH = """
import importlib, pkgutil, sys
count = 0
for part_name in sys.argv[1:]:
    part = importlib.import_module(part_name)
    names = [part.__name__]
    if hasattr(part, "__path__"):
        names += sorted(m.name for m in pkgutil.walk_packages(part.__path__, part.__name__ + "."))
    for name in names:
        importlib.import_module(name)
        count += 1
        loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
        if loaded:
            print(f"importing {name} loaded {loaded[:3]}")
            sys.exit(1)
print(count)
"""


def import_each(*parts: str) -> subprocess.CompletedProcess[str]:
    """Import every module of ``parts`` in a fresh interpreter, stopping at the first that loads Airflow."""
    modules = [f"airflow_provider_voice.{part}" for part in parts]
    return subprocess.run([sys.executable, "-c", IMPORT_EACH, *modules], capture_output=True, text=True, timeout=120)


def test_importing_the_plain_python_parts_loads_no_airflow() -> None:
    done = import_each(*PLAIN_PYTHON)
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[-1]) >= len(PLAIN_PYTHON)  # every part was found and imported


def test_the_check_names_a_module_that_imports_airflow() -> None:
    done = import_each("errors", "operators")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("importing airflow_provider_voice.operators") and "loaded ['airflow'" in done.stdout
