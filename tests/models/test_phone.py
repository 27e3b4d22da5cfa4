"""PhoneNumber: a table of accepted and rejected inputs, and the per-vendor renderings."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel

from airflow_provider_voice.models import InvalidPhoneNumber, PhoneNumber

ACCEPTED = [
    # (input, default region, E.164)
    ("+55 11 98765-4321", None, "+5511987654321"),  # Brazil mobile, formatted
    ("5511987654321", None, "+5511987654321"),  # Brazil, digits with country code (Velip style)
    ("(11) 98765-4321", "BR", "+5511987654321"),  # Brazil national
    ("011 98765 4321", "BR", "+5511987654321"),  # Brazil with trunk prefix
    ("+55 21 2555-1234", None, "+552125551234"),  # Brazil landline
    ("9876543210", "IN", "+919876543210"),  # India 10-digit (Kaleyra style)
    ("09876543210", "IN", "+919876543210"),  # India with trunk 0
    ("+91 98765 43210", None, "+919876543210"),  # India international
    (919876543210, None, "+919876543210"),  # int with country code
    ("06 12 34 56 78", "FR", "+33612345678"),  # France national
    ("+33 6 12 34 56 78", None, "+33612345678"),  # France international
    ("0033 6 12 34 56 78", "FR", "+33612345678"),  # France with 00 prefix
    ("+33 1 42 68 53 00", None, "+33142685300"),  # France landline
    ("(415) 555-2671", "US", "+14155552671"),  # US national
    ("+1 415 555 2671", None, "+14155552671"),  # US international
    ("1-415-555-2671", "US", "+14155552671"),  # US with 1 prefix
    ("13214567890", None, "+13214567890"),  # TeleVoIPs style digits
    ("tel:+1-415-555-2671", None, "+14155552671"),  # tel: URI
    ("  +44 20 7946 0958  ", None, "+442079460958"),  # UK, padded
]

REJECTED = [
    # (input, default region, reason fragment)
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("abc", None, "not a phone number"),
    ("hello world", "US", "not a phone number"),
    ("12", None, "not a phone number"),
    ("+55 11 1234", None, "too short"),  # Brazil, too short
    ("98765", "IN", "too short"),  # India, too short
    ("+91 02345 67890", None, "not a valid number"),  # India, invalid leading 0
    ("06 12 34", "FR", "too short"),  # France, too short
    ("+33 6 12 34 56 78 90 12", None, "too long"),  # France, too long
    ("(415) 555-267", "US", "too short"),  # US, one digit short
    ("+1 000 000 0000", None, "not a valid number"),  # US, invalid area code
    ("0612345678", None, "unknown country code"),  # national form without a region
    ("+999 1234 5678", None, "unknown country code"),  # no such country code
    (None, None, "expected a string"),
    (True, None, "expected a string"),
    (3.14, None, "expected a string"),
]


@pytest.mark.parametrize(("raw", "region", "e164"), ACCEPTED)
def test_accepted(raw, region, e164):
    number = PhoneNumber.parse(raw, region)
    assert number == e164 and number.e164 == e164 and isinstance(number, str)


@pytest.mark.parametrize(("raw", "region", "reason"), REJECTED)
def test_rejected_names_value_and_reason(raw, region, reason):
    with pytest.raises(InvalidPhoneNumber) as info:
        PhoneNumber.parse(raw, region)
    assert reason in info.value.reason
    assert repr(raw) in str(info.value)  # the message shows the offending value


def test_table_size():
    assert len(ACCEPTED) + len(REJECTED) >= 20


def test_vendor_renderings():
    india = PhoneNumber.parse("9876543210", "IN")
    brazil = PhoneNumber.parse("+5511987654321")
    assert (india.kaleyra, india.velip, india.octopush, india.televoips) == (
        "9876543210",
        "919876543210",
        "+919876543210",
        "919876543210",
    )
    assert brazil.kaleyra == "5511987654321" and brazil.velip == "5511987654321"
    assert brazil.region == "BR" and brazil.country_code == 55


def test_pydantic_field_with_default_region_context():
    class Row(BaseModel):
        number: PhoneNumber

    assert Row.model_validate({"number": "06 12 34 56 78"}, context={"default_region": "FR"}).number == "+33612345678"
    assert Row.model_validate({"number": "+33612345678"}).model_dump() == {"number": "+33612345678"}
    with pytest.raises(ValueError, match="not a phone number"):
        Row.model_validate({"number": "junk"})


def test_pickle_round_trip():
    number = PhoneNumber.parse("+33612345678")
    assert pickle.loads(pickle.dumps(number)).kaleyra == "33612345678"


def test_a_repeated_number_is_read_once_with_the_same_answer():
    from airflow_provider_voice.models.phone import _read_cached

    first = PhoneNumber.parse("06 12 34 56 70", "fr")
    hits = _read_cached.cache_info().hits
    assert PhoneNumber.parse("06 12 34 56 70", "FR") is first and _read_cached.cache_info().hits == hits + 1
    for _ in range(2):  # a refusal is remembered as its reason, raised with each value anew
        with pytest.raises(InvalidPhoneNumber, match="too short") as info:
            PhoneNumber.parse("06 12 34", "FR", field="to")
        assert info.value.field == "to" and info.value.value == "06 12 34"


@pytest.mark.parametrize("raw", ["+39 06 1234 5678", "+1 415 555 2671 ext. 12", "+5511987654321"])
def test_packed_numbers_come_back_whole(raw):
    number = PhoneNumber.parse(raw)
    again = PhoneNumber._unpack(pickle.loads(pickle.dumps(number._pack())))
    assert again == number and again._parsed == number._parsed and again.region == number.region
