"""Shared helpers of the simulator tests (spec examples, credentials)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

_SHARED_SPECS = Path(__file__).resolve().parents[3] / "shared" / "vendor-specs"
_COPY = Path(__file__).resolve().parents[2] / "docs" / "vendor-specs"  # the repository's copy of the specs
SPEC_DIR = Path(os.environ.get("VOICE_VENDOR_SPECS") or (_SHARED_SPECS if _SHARED_SPECS.exists() else _COPY))

VELIP_AUTH = {"Authorization": "Bearer sim-velip-token"}
TELEVOIPS_REPORTS = {"x-api-key": "sim-televoips-reports-key"}
TELEVOIPS_MESSAGING = {"Authorization": "sim-televoips-messaging-key"}
OCTOPUSH_AUTH = {"api-login": "sim@example.com", "api-key": "sim-octopush-key"}
KALEYRA_AUTH = {"x-api-key": "sim-kaleyra-key"}


def postman_examples(name: str) -> list[dict[str, Any]]:
    """Every saved example response of a vendor's Postman collection, with its request's name."""
    path = SPEC_DIR / name
    if not path.exists():
        pytest.skip(f"vendor spec {path} not available")
    data = json.loads(path.read_text())
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "request" in node:
                for response in node.get("response", []):
                    out.append(
                        {
                            "request": node.get("name"),
                            "name": response.get("name"),
                            "code": response.get("code"),
                            "body": response.get("body"),
                        }
                    )
            for child in node.get("item", []):
                walk(child)

    walk(data.get("collection", data))
    return out


def spec_example(file: str, request: str, name: str) -> dict[str, Any]:
    """One example response, by request name and example name."""
    for example in postman_examples(file):
        if example["request"] == request and example["name"] == name:
            return example
    raise LookupError(f"no example {request!r}/{name!r} in {file}")
