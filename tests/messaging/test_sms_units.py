"""SMS text templates, Velip ctids, TeleVoIPs owned numbers and in-doubt lookups (no network)."""

from __future__ import annotations

import pytest

from airflow_provider_voice.capabilities.sms_text import SmsText
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import Recipient
from airflow_provider_voice.vendors.access import ConnectionFields, VendorAccess
from airflow_provider_voice.vendors.televoips.api_core import TeleVoipsMessage
from airflow_provider_voice.vendors.televoips.connection import VENDOR, build_api
from airflow_provider_voice.vendors.televoips.sms import TeleVoipsSms, owned_numbers
from airflow_provider_voice.vendors.velip import VelipApi
from airflow_provider_voice.vendors.velip.sms import VelipSms, velip_ctid

ANA = Recipient(number=PhoneNumber.parse("+14155552600"), name="Ana", variables={"day": "Monday", "price": "5"})


def test_text_placeholders_per_recipient():
    text = SmsText("Hi ${name}, ${day} costs $$${price} ({number}) {{ not jinja }}")
    assert text.render(ANA) == "Hi Ana, Monday costs $5 ({number}) {{ not jinja }}"
    assert SmsText("plain").render(ANA) == "plain"


@pytest.mark.parametrize("template", ["", "   ", None, "costs $5", "bad ${"])
def test_bad_templates(template):
    with pytest.raises(ValidationError):
        SmsText(template)


def test_missing_variable_names_the_recipient():
    with pytest.raises(ValidationError, match=r"recipient #4 has no value for \$\{code\}"):
        SmsText("code ${code}").render(ANA, position=4)
    with pytest.raises(ValidationError, match="empty"):
        SmsText("${blank}").render(Recipient(number=ANA.number, variables={"blank": " "}))


def test_velip_ctid_is_stable_and_valid():
    assert velip_ctid("abc") == velip_ctid("abc") != velip_ctid("abd")
    assert len(velip_ctid("x")) == 15 and velip_ctid("x").isalnum()


def test_velip_refuses_a_sender_and_cannot_look_up():
    sms = VelipSms(VendorAccess(VelipApi(token="t")))
    assert sms.check_sender(None) is None
    with pytest.raises(ValidationError):
        sms.check_sender("5511987654321")
    assert sms.lookup_call(0, 1) is None


def FakeHook(extra):
    """The access a TeleVoIPs capability gets from a connection with these extras (no Airflow)."""
    fields = ConnectionFields(conn_id="tv", conn_type="televoips", extra={"messaging_api_key": "k", **extra})
    return VendorAccess(build_api(fields), conn_id="tv", settings=VENDOR.settings(fields))


def test_owned_numbers_from_the_connection_extra():
    assert owned_numbers(FakeHook({})) is None
    assert owned_numbers(FakeHook({"owned_numbers": "+1 321 456 7890, 13214567891"})) == {"13214567890", "13214567891"}
    assert owned_numbers(FakeHook({"extra__televoips__owned_numbers": ["13214567890"]})) == {"13214567890"}
    sms = TeleVoipsSms(FakeHook({"owned_numbers": "13214567890"}))
    assert sms.check_sender("+1 (321) 456-7890") == "13214567890"
    with pytest.raises(ValidationError, match="owned_numbers"):
        sms.check_sender("13214567891")


def test_find_sent_matches_number_text_and_direction():
    sms = TeleVoipsSms(FakeHook({}))
    messages = [
        TeleVoipsMessage(id="in", direction="inbound", to="14155552600", content="hello"),
        TeleVoipsMessage(id="other", direction="outbound", to="14155552601", content="hello"),
        TeleVoipsMessage(
            id="mine", direction="outbound", to="14155552600", content="hello", time="2026-12-01 10:00:05"
        ),
        TeleVoipsMessage(
            id="theirs", direction="outbound", to="14155552600", content="hello", **{"from": "19990000000"}
        ),
    ]
    found = sms.find_sent(messages, ANA.number, "hello", sender="13214567890")
    assert found.ids == ["mine"] and found.listed_until == 1796119205.0  # another sender's message is not ours
    assert sms.find_sent(messages, ANA.number, "bye").ids == []
    assert sms.find_sent(messages, ANA.number, "hello").ids == ["mine", "theirs"]  # no sender: both match
