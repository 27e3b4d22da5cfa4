"""Typed capabilities: each hook declares what it can do; the registry is the only list of vendors."""

from __future__ import annotations

import pytest

from airflow_provider_voice.capabilities import protocols
from airflow_provider_voice.errors import CapabilityNotSupportedError
from airflow_provider_voice.hooks import vendor_hooks
from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.hooks.kaleyra import KaleyraHook
from airflow_provider_voice.hooks.octopush import OctopushHook
from airflow_provider_voice.hooks.televoips import TeleVoipsHook
from airflow_provider_voice.hooks.velip import VelipHook
from airflow_provider_voice.provider_info import provider_info
from airflow_provider_voice.vendors.access import ConnectionFields, VendorAccess
from airflow_provider_voice.vendors.registry import CONNECTION_TYPES, VENDORS
from airflow_provider_voice.vendors.velip import VelipApi

#: what each vendor can do, from the vendor specs
EXPECTED = {
    "velip": {"campaigns", "sms", "click_to_call"},
    "televoips": {"sms", "blacklist"},
    "octopush": {"campaigns"},
    "kaleyra": {"campaigns", "blacklist", "click_to_call"},
}
CAPABILITIES = ("campaigns", "sms", "blacklist", "click_to_call")
BY_NAME = {v.name: v for v in VENDORS}
PROTOCOL = {
    "campaigns": protocols.CampaignCapability,
    "sms": protocols.SmsCapability,
    "blacklist": protocols.BlacklistCapability,
    "click_to_call": protocols.ClickToCallCapability,
}


def declared(hook_class: type[VoiceHook]) -> set[str]:
    return {name for name in CAPABILITIES if getattr(hook_class, name) is not getattr(VoiceHook, name)}


def test_the_registry_lists_every_vendor_once_and_the_hooks_follow_it():
    assert [v.name for v in VENDORS] == ["velip", "televoips", "octopush", "kaleyra"]
    assert vendor_hooks() == [VelipHook, TeleVoipsHook, OctopushHook, KaleyraHook]
    assert set(CONNECTION_TYPES) == set(EXPECTED)
    info = provider_info()
    assert [c["connection-type"] for c in info["connection-types"]] == [v.name for v in VENDORS]
    assert [i["integration-name"] for i in info["integrations"]] == [v.integration[0] for v in VENDORS]
    for hook in vendor_hooks():  # Airflow's class attributes come from the registry entry
        assert hook.conn_type == hook.vendor.name and hook.default_conn_name == f"{hook.conn_type}_default"


@pytest.mark.parametrize("hook_class", [VelipHook, TeleVoipsHook, OctopushHook, KaleyraHook])
def test_each_hook_declares_exactly_what_its_vendor_can_do(hook_class):
    assert declared(hook_class) == EXPECTED[hook_class.conn_type]


@pytest.mark.parametrize("conn_type", sorted(EXPECTED))
@pytest.mark.parametrize("capability", CAPABILITIES)
def test_a_missing_capability_names_the_vendors_that_have_it(conn_type, capability, voice_connections):
    hook = {h.conn_type: h for h in vendor_hooks()}[conn_type](f"{conn_type}_default")
    if capability in EXPECTED[conn_type]:
        implementation = getattr(hook, capability)()
        assert implementation.vendor == conn_type
        assert isinstance(implementation, PROTOCOL[capability])  # every member of the protocol is there
        return
    with pytest.raises(CapabilityNotSupportedError) as info:
        getattr(hook, capability)()
    having = sorted(v for v, caps in EXPECTED.items() if capability in caps)
    assert info.value.vendor == conn_type
    assert str(info.value).endswith(" or ".join(having))


def test_capabilities_are_built_from_the_access_not_the_hook(voice_connections):
    hook = VelipHook("velip_default")
    campaigns = hook.campaigns()
    assert campaigns.access is hook.access and campaigns.api is hook.api
    assert not hasattr(campaigns, "hook")


def test_connection_settings_never_hand_a_secret_to_a_capability():
    fields = ConnectionFields(
        conn_id="tv",
        conn_type="televoips",
        password="pw-secret",
        extra={
            "reports_api_key": "rk-secret",
            "extra__televoips__messaging_api_key": "mk-secret",
            "extra__televoips__owned_numbers": "13214567890",
            "base_url": "http://127.0.0.1:1",
        },
    )
    settings = BY_NAME["televoips"].settings(fields)
    assert settings == {"owned_numbers": "13214567890", "base_url": "http://127.0.0.1:1"}
    assert "secret" not in repr(fields) and "secret" not in repr(settings)
    access = VendorAccess(BY_NAME["televoips"].build_api(fields), conn_id="tv", settings=settings)
    assert "secret" not in repr(access)


def test_connection_fields_read_plain_and_prefixed_extras_and_base_urls():
    fields = ConnectionFields(
        conn_id="v", conn_type="velip", host="vox.example", extra={"extra__velip__php_suffix": True}
    )
    assert fields.extra_value("php_suffix") is True and fields.extra_value("missing") is None
    assert fields.base_urls() == {"default": "https://vox.example"}
    assert ConnectionFields(conn_id="v", conn_type="velip").base_urls() == {}


def test_an_access_makes_one_shared_client_and_fresh_ones_on_demand():
    access = VendorAccess(VelipApi(token="t"), timeout=3.0)
    shared = access.client()
    assert access.client() is shared and access.new_client() is not shared
    access.close()
    assert access.client() is not shared
    access.close()
