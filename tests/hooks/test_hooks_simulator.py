"""Hooks against the simulator over a real loopback socket: connection tests pass, wrong keys are refused."""

from __future__ import annotations

import logging
import subprocess
import sys

import httpx
import pytest
from airflow.sdk import BaseHook

from airflow_provider_voice.vendors.base import VendorClient

VENDORS = ["velip", "televoips", "octopush", "kaleyra"]
REASONS = {
    "velip": "Session ID is not valid (vendor code 100)",
    "televoips": "HTTP 401: Unauthorized",
    "octopush": "HTTP 401: Unauthorized.",
    "kaleyra": "Invalid API key (vendor code E401)",
}


@pytest.mark.parametrize("vendor", VENDORS)
def test_connection_test_passes(voice_connections, vendor):
    hook = BaseHook.get_hook(f"{vendor}_default")  # the connection type picks the hook class
    assert type(hook).__module__ == f"airflow_provider_voice.hooks.{vendor}"
    ok, message = hook.test_connection()
    assert ok, message


@pytest.mark.parametrize("vendor", VENDORS)
def test_wrong_key_shows_vendor_reason_and_no_key(voice_connections, vendor, caplog):
    caplog.set_level(logging.DEBUG)
    ok, message = BaseHook.get_hook(f"{vendor}_wrong_key").test_connection()
    assert not ok
    assert REASONS[vendor] in message
    assert "wrong-key-for-the-demo" not in message and "wrong-key-for-the-demo" not in caplog.text


@pytest.mark.parametrize("vendor", VENDORS)
def test_auth_failure_is_sent_once(voice_connections, vendor):
    """Auth errors are never retried (Velip bans IPs after repeated failures): one request on the wire."""
    sent = []
    hook = BaseHook.get_hook(f"{vendor}_wrong_key")
    hook.access.use_client(
        VendorClient(
            hook.api,
            http_client=httpx.Client(event_hooks={"request": [sent.append]}),
            sleep=lambda s: sent.append("slept"),
        )
    )
    ok, _ = hook.test_connection()
    assert not ok and len(sent) == 1


async def test_async_client_reads_connection_with_async_api(voice_connections, monkeypatch):
    from airflow.sdk.definitions.connection import Connection

    from airflow_provider_voice.hooks.kaleyra import KaleyraHook

    def sync_read(self):
        raise AssertionError("the sync extra_dejson (sync mask_secret) must not run on the event loop")

    monkeypatch.setattr(Connection, "extra_dejson", property(sync_read))

    client = await KaleyraHook("kaleyra_default").aget_client()
    try:
        health = await client.send(client.api.monitor())
    finally:
        await client.aclose()
    assert health.healthy and health.incidents


def test_airflow_connections_test_cli(voice_connections):
    import os

    env = dict(os.environ)
    good = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "octopush_default"],
        env=env,
        capture_output=True,
        text=True,
    )
    bad = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "octopush_wrong_key"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and "Connection success!" in good.stdout, good.stdout + good.stderr
    assert bad.returncode != 0 and "Unauthorized." in bad.stdout + bad.stderr


def test_a_connection_of_another_type_is_refused_before_any_request(voice_connections):
    from airflow_provider_voice.errors import ValidationError
    from airflow_provider_voice.hooks.base import get_voice_hook
    from airflow_provider_voice.sensors.health import HealthStatusSensor

    assert get_voice_hook("kaleyra_default", vendors=("kaleyra",)).conn_type == "kaleyra"
    with pytest.raises(ValidationError, match="needs a kaleyra connection, not televoips"):
        get_voice_hook("televoips_default", vendors=("kaleyra",), purpose="call follow-ups")
    with pytest.raises(ValidationError, match="HealthStatusSensor needs a kaleyra connection, not velip"):
        HealthStatusSensor(task_id="health", conn_id="velip_default").poke({})
    assert voice_connections.state.ledger.entries() == []
