"""Price tables: per-country prices, unknown prices never counted as zero, loading, errors, simulator figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from airflow_provider_voice.delivery.pricing import (
    DEFAULT_SIMULATOR_PRICES,
    PriceTable,
    countries_of,
)
from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.testing.kaleyra import KaleyraSimulator
from airflow_provider_voice.testing.state import SimulatorConfig, SimulatorState

TABLE = {
    "currency": "EUR",
    "octopush": {"voice": {"default": 0.05, "FR": 0.04}, "sms": {"default": 0.045, "be": 0.07}},
    "kaleyra": {"currency": "INR", "voice": {"per_minute": 0.6, "expected_minutes": 1.2}},
}


def test_country_overrides_the_default() -> None:
    table = PriceTable.load(TABLE)
    estimate = table.estimate("octopush", "voice", {"FR": 100, "BE": 10, "de": 0})
    assert estimate.total == pytest.approx(4.5) and estimate.currency == "EUR"
    assert estimate.by_country == {"FR": pytest.approx(4.0), "BE": pytest.approx(0.5)}
    assert estimate.unpriced == {} and estimate.recipients == 110
    assert estimate.summary() == "estimated cost: 4.50 EUR for 110 recipients (octopush voice; BE 0.50, FR 4.00)"
    assert table.price("octopush", "voice", "fr") == 0.04


def test_sms_parts_and_started_minutes() -> None:
    table = PriceTable.load(TABLE)
    sms = table.estimate("octopush", "sms", {"BE": 2, "FR": 1}, segments=3)
    assert sms.total == pytest.approx(2 * 3 * 0.07 + 3 * 0.045) and "3 parts each" in sms.summary()
    kaleyra = table.estimate("kaleyra", "voice", {"IN": 10})
    assert kaleyra.total == pytest.approx(10 * 0.6 * 2) and kaleyra.currency == "INR"  # 1.2 minutes bill 2
    exact = PriceTable.load(
        {
            "currency": "EUR",
            "kaleyra": {
                "voice": {"per_minute": 0.6, "expected_minutes": 1.5, "round_up_minutes": False, "default": 0.1}
            },
        }
    )
    assert exact.price("kaleyra", "voice", "IN") == pytest.approx(0.1 + 0.9)
    with pytest.raises(ValidationError, match="segments"):
        table.estimate("octopush", "voice", {"FR": 1}, segments=2)


def test_an_unknown_price_makes_the_total_unknown() -> None:
    table = PriceTable.load(TABLE)
    partly = table.estimate("octopush", "sms", {"FR": 10, None: 2})  # type: ignore[dict-item]
    assert partly.total == pytest.approx(0.54)  # the default covers every country, unknown ones too
    voice = PriceTable.load({"currency": "EUR", "octopush": {"voice": {"FR": 0.05}}})
    estimate = voice.estimate("octopush", "voice", {"FR": 10, "US": 3, "ZZ": 1})
    assert estimate.total is None and estimate.priced_total == pytest.approx(0.5)
    assert estimate.unpriced == {"US": 3, "ZZ": 1}
    assert estimate.summary() == (
        "estimated cost unknown: 4 of 14 recipients have no price (US 3, ZZ 1); "
        "the 10 priced ones cost 0.50 EUR (octopush voice)"
    )
    nothing = PriceTable().estimate("velip", "voice", {"FR": 5})
    assert nothing.total is None and nothing.summary().startswith("estimated cost unknown: no price for any of the 5")


def test_tables_load_from_a_file_inline_json_and_the_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(TABLE))
    expected = PriceTable.load(TABLE)
    assert PriceTable.load(str(path)) == expected == PriceTable.load(path) == PriceTable.load(f"file://{path}")
    assert PriceTable.load(json.dumps(TABLE)) == expected and PriceTable.load(expected) is expected
    monkeypatch.setenv("AIRFLOW__VOICE__PRICE_TABLE", str(path))
    assert PriceTable.from_config() == expected
    monkeypatch.setenv("AIRFLOW__VOICE__PRICE_TABLE", json.dumps(TABLE))
    assert PriceTable.from_config() == expected
    monkeypatch.setenv("AIRFLOW__VOICE__PRICE_TABLE", "")
    assert PriceTable.from_config() == PriceTable() and PriceTable.from_config(expected) is expected


@pytest.mark.parametrize(
    ("table", "field", "value", "rule"),
    [
        ({"currency": "EUR", "octopush": {"voice": {"FR": -1}}}, "price_table.octopush.voice.FR", -1, "greater than"),
        ({"currency": "EUR", "octopush": {"voice": {"FRA": 1}}}, "price_table.octopush.voice.FRA", 1, "ISO region"),
        ({"octopush": {"voice": {"default": 1}}}, "price_table.octopush.currency", None, "no currency"),
        (
            {"currency": "EUR", "velip": {"sms": {"per_minute": 1, "expected_minutes": 1}}},
            "price_table.velip.sms",
            {"per_minute": 1, "expected_minutes": 1},
            "per message part",
        ),
        (
            {"currency": "EUR", "kaleyra": {"voice": {"per_minute": 1}}},
            "price_table.kaleyra.voice",
            {"per_minute": 1},
            "expected_minutes",
        ),
        ({"currency": "EUR", "acme": {}}, "price_table.acme", {}, "not a known field"),
        ({"currency": "€", "octopush": {}}, "price_table.currency", "€", "pattern"),
        (
            {"currency": "EUR", "octopush": {"voice": {"default": "cheap"}}},
            "price_table.octopush.voice.default",
            "cheap",
            "number",
        ),
    ],
)
def test_mistakes_name_the_field_and_the_value(table: dict, field: str, value: object, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PriceTable.load(table)
    assert (caught.value.field, caught.value.value) == (field, value) and rule in caught.value.rule


def test_bad_files_and_bad_calls(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"currency": "EUR",\n "octopush": }')
    with pytest.raises(ValidationError, match="line 2 column") as caught:
        PriceTable.load(str(broken))
    assert caught.value.field == "price_table" and caught.value.value == str(broken)
    with pytest.raises(ValidationError, match="not found"):
        PriceTable.load(str(tmp_path / "missing.json"))
    with pytest.raises(ValidationError, match=r"broken2\.json\.octopush\.voice\.default"):
        (tmp_path / "broken2.json").write_text('{"currency": "EUR", "octopush": {"voice": {"default": -2}}}')
        PriceTable.load(str(tmp_path / "broken2.json"))
    with pytest.raises(ValidationError, match="JSON object"):
        PriceTable.from_mapping([1, 2])  # type: ignore[arg-type]
    table = PriceTable.load(TABLE)
    with pytest.raises(ValidationError, match="vendor"):
        table.estimate("acme", "voice", {"FR": 1})
    with pytest.raises(ValidationError, match="channel"):
        table.estimate("octopush", "fax", {"FR": 1})
    with pytest.raises(ValidationError, match=r"counts_by_country\[FR\]"):
        table.estimate("octopush", "voice", {"FR": -1})


def test_countries_of_numbers() -> None:
    assert countries_of(["+33612345678", "+33698765432", "+14155552671", "not a number"]) == {
        "FR": 2,
        "US": 1,
        "ZZ": 1,
    }


def test_simulator_prices_are_the_simulators_own() -> None:
    """The figures cannot drift from what ``airflow_provider_voice.testing`` charges."""
    octopush = DEFAULT_SIMULATOR_PRICES.estimate("octopush", "voice", {"FR": 3})
    assert octopush.total == pytest.approx(3 * SimulatorConfig().octopush_cost_per_contact)
    assert octopush.currency == "EUR"  # the simulator's balance unit: "euros"
    views = KaleyraSimulator(SimulatorState(kaleyra_inbound_calls=12)).dial(None, {})["data"]  # type: ignore[arg-type]
    assert any(int(v["duration"]) > 60 for v in views)  # a call of two started minutes is among them
    kaleyra = DEFAULT_SIMULATOR_PRICES.kaleyra
    per_minute = kaleyra.voice.per_minute if kaleyra and kaleyra.voice else None
    assert per_minute is not None
    for view in views:
        assert float(view["credits"]) == pytest.approx(per_minute * math.ceil(int(view["duration"]) / 60))
    assert DEFAULT_SIMULATOR_PRICES.price("kaleyra", "voice", "IN") == pytest.approx(0.6)  # one minute expected
    for vendor in ("velip", "televoips"):
        assert DEFAULT_SIMULATOR_PRICES.estimate(vendor, "voice", {"FR": 1}).total is None
