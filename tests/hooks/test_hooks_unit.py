"""Hooks: connection fields -> vendor API, and test_connection results, with a mock vendor."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_voice.errors import CapabilityNotSupportedError
from airflow_provider_voice.hooks.kaleyra import KaleyraHook
from airflow_provider_voice.hooks.octopush import OctopushHook
from airflow_provider_voice.hooks.televoips import TeleVoipsHook
from airflow_provider_voice.hooks.velip import VelipHook
from airflow_provider_voice.vendors.base import VendorClient


def set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def with_mock(hook, handler):
    hook.access.use_client(VendorClient(hook.api, http_client=httpx.Client(transport=httpx.MockTransport(handler))))
    return hook


def test_velip_hook_builds_api_from_connection(monkeypatch):
    set_conn(monkeypatch, "v1", conn_type="velip", host="http://127.0.0.1:9/velip", password="tok-123456")
    hook = VelipHook("v1")
    assert hook.api.base_urls["default"] == "http://127.0.0.1:9/velip"
    seen = {}

    def handler(request):
        seen["auth"] = request.headers["Authorization"]
        seen["path"] = request.url.path
        return httpx.Response(200, json={"return": {"status": "OK", "status_code": "0", "tsid": "t", "cdcs_id": 7}})

    ok, message = with_mock(hook, handler).test_connection()
    assert ok and "account 7" in message
    assert seen == {"auth": "Bearer tok-123456", "path": "/velip/api/v2/GetUserID"}


def test_velip_hook_defaults_to_production_url(monkeypatch):
    set_conn(monkeypatch, "v2", conn_type="velip", password="tok-123456")
    assert VelipHook("v2").api.base_urls["default"] == "https://vox.velip.com.br"


def test_velip_wrong_token_gives_vendor_reason(monkeypatch):
    set_conn(monkeypatch, "v3", conn_type="velip", password="wrong-token")
    hook = with_mock(
        VelipHook("v3"),
        lambda r: httpx.Response(401, json={"return": {"status": "Session ID is not valid", "status_code": "100"}}),
    )
    ok, message = hook.test_connection()
    assert not ok and "Session ID is not valid" in message and "100" in message
    assert "wrong-token" not in message


def test_velip_missing_token_is_a_clear_error(monkeypatch):
    set_conn(monkeypatch, "v4", conn_type="velip")
    ok, message = VelipHook("v4").test_connection()
    assert not ok and "needs the Velip token" in message


def test_octopush_hook_sends_both_headers(monkeypatch):
    set_conn(monkeypatch, "o1", conn_type="octopush", login="me@example.com", password="key-abcdef")
    seen = {}

    def handler(request):
        seen.update(login=request.headers["api-login"], key=request.headers["api-key"], path=request.url.path)
        return httpx.Response(200, json={"amount": 12.54, "unit": "euros"})

    ok, message = with_mock(OctopushHook("o1"), handler).test_connection()
    assert ok and "12.54 euros" in message
    assert seen == {"login": "me@example.com", "key": "key-abcdef", "path": "/v1/public/wallet/check-balance"}


def test_kaleyra_hook_reads_extras_and_formats(monkeypatch):
    set_conn(
        monkeypatch,
        "k1",
        conn_type="kaleyra",
        password="kkey-123456",
        extra={"obd_base_url": "http://127.0.0.1:9/obd/", "response_format": "xml"},
    )
    hook = KaleyraHook("k1")
    assert hook.api.base_urls == {"default": "https://api-voice.kaleyra.com/v1/", "obd": "http://127.0.0.1:9/obd/"}
    seen = {}

    def handler(request):
        seen["form"] = dict(httpx.QueryParams(request.content.decode()))
        seen["key"] = request.headers["x-api-key"]
        return httpx.Response(
            200,
            text="<?xml version='1.0'?><api><status>E701</status><message>No incidents found</message></api>",
        )

    ok, message = with_mock(hook, handler).test_connection()
    assert ok and "healthy" in message
    assert seen == {"form": {"method": "monitor", "format": "xml"}, "key": "kkey-123456"}


def test_kaleyra_bad_format_extra_is_rejected(monkeypatch):
    set_conn(monkeypatch, "k2", conn_type="kaleyra", password="kkey-123456", extra={"response_format": "yaml"})
    ok, message = KaleyraHook("k2").test_connection()
    assert not ok and "json or xml" in message


def test_televoips_hook_uses_messaging_key_for_messages(monkeypatch):
    set_conn(monkeypatch, "t1", conn_type="televoips", extra={"messaging_api_key": "mkey-123456"})
    seen = {}

    def handler(request):
        seen.update(auth=request.headers["Authorization"], start=request.url.params["start"])
        return httpx.Response(200, json=[])

    ok, message = with_mock(TeleVoipsHook("t1"), handler).test_connection()
    assert ok and "messaging key OK" in message
    assert seen["auth"] == "mkey-123456" and len(seen["start"]) == len("2026-01-01 00:00:00")


def test_televoips_hook_without_keys_fails_clearly(monkeypatch):
    set_conn(monkeypatch, "t2", conn_type="televoips")
    ok, message = TeleVoipsHook("t2").test_connection()
    assert not ok and "at least one TeleVoIPs key" in message


def test_prefixed_extras_are_read(monkeypatch):
    set_conn(monkeypatch, "t3", conn_type="televoips", extra={"extra__televoips__messaging_api_key": "mkey-prefixed"})
    assert TeleVoipsHook("t3").api.has_messaging_key


def test_capability_missing_names_vendors_that_have_it(monkeypatch):
    set_conn(monkeypatch, "t4", conn_type="televoips", extra={"messaging_api_key": "mkey-123456"})
    with pytest.raises(CapabilityNotSupportedError, match="kaleyra or octopush or velip"):
        TeleVoipsHook("t4").campaigns()
