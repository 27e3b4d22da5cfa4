"""SMS text placeholders read alike on every supported Python (3.10 has no ``Template.get_identifiers``/``is_valid``)."""

from __future__ import annotations

import string

import pytest

from airflow_provider_voice.capabilities.sms_text import SmsText, placeholder_names
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import Recipient

ANA = Recipient(number=PhoneNumber.parse("+14155552600"), name="Ana", variables={"day": "Monday", "price": "5"})

GOOD = [
    ("plain text", ()),
    ("Hi ${name}, ${day} costs $$${price}", ("name", "day", "price")),
    ("$name and ${name} again, then $day", ("name", "day")),
    ("{{ jinja }} and {number} are not placeholders; $$ is a dollar", ()),
    ("${number}", ("number",)),
]
BAD = ["costs $5", "bad ${", "trailing $", "${}", "$ space", "${na me}", "ok ${name} then $-"]


@pytest.fixture(params=["python 3.11+", "python 3.10"])
def python(request, monkeypatch):
    """Run each test as on Python 3.11+ and as on 3.10 (``get_identifiers``/``is_valid`` removed)."""
    if request.param == "python 3.10":
        for method in ("get_identifiers", "is_valid"):
            monkeypatch.delattr(string.Template, method, raising=False)
        assert not hasattr(string.Template, "get_identifiers")
    return request.param


@pytest.mark.parametrize(("template", "names"), GOOD)
def test_placeholders_are_found_in_order_of_first_use(python, template, names):
    text = SmsText(template)
    assert text.placeholders == names
    assert placeholder_names(string.Template(template)) == names


@pytest.mark.parametrize("template", BAD)
def test_a_stray_dollar_is_refused_before_any_message(python, template):
    with pytest.raises(ValidationError) as caught:
        SmsText(template)
    assert caught.value.field == "text"
    assert caught.value.value == template
    assert "$$" in caught.value.rule


def test_rendering_is_the_same_without_get_identifiers(python):
    text = SmsText("Hi ${name}, ${day} costs $$${price} ({number})")
    assert text.render(ANA) == "Hi Ana, Monday costs $5 ({number})"
    with pytest.raises(ValidationError, match=r"recipient #2 has no value for \$\{code\}"):
        SmsText("code ${code}").render(ANA, position=2)
