"""Fixtures for the campaign tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from campaign_support import VENDORS, Campaigns, connection


@pytest.fixture
def campaigns(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Campaigns:
    """Connections ``cmp_velip``, ``cmp_octopush``, ``cmp_kaleyra`` (and ``cmp_<vendor>_bad``) to the simulator."""
    for vendor in VENDORS:
        monkeypatch.setenv(f"AIRFLOW_CONN_CMP_{vendor.upper()}", json.dumps(connection(simulator, vendor)))
        monkeypatch.setenv(
            f"AIRFLOW_CONN_CMP_{vendor.upper()}_BAD", json.dumps(connection(simulator, vendor, bad_key=True))
        )
    return Campaigns(simulator)
