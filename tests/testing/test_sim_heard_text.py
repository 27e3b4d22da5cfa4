"""The simulator's ledger says what each person heard: Octopush and Velip ``call`` entries carry the
request's / campaign's ``text`` (read as given: neither spec documents a per-recipient substitution)."""

from __future__ import annotations

import httpx
from simtest_support import OCTOPUSH_AUTH, VELIP_AUTH

from airflow_provider_voice.testing.server import SimulatorServer


def test_octopush_call_entries_carry_the_text_of_their_request(simulator: SimulatorServer, http: httpx.Client):
    url = f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send"
    for text, numbers in (("Bonjour Ana", ["+33612300000"]), ("Bonjour {name}", ["+33612300001", "+33612300002"])):
        r = http.post(
            url, headers=OCTOPUSH_AUTH, json={"text": text, "recipients": [{"phone_number": n} for n in numbers]}
        )
        assert r.status_code == 200, r.text
    heard = {e.number: e.details["text"] for e in simulator.state.ledger.entries("octopush", "call")}
    # the braces are read as written: the provider renders personalised texts before sending
    assert heard == {"+33612300000": "Bonjour Ana", "+33612300001": "Bonjour {name}", "+33612300002": "Bonjour {name}"}


def test_octopush_simulated_send_hears_nothing(simulator: SimulatorServer, http: httpx.Client):
    r = http.post(
        f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send",
        headers=OCTOPUSH_AUTH,
        json={"text": "Hi", "recipients": [{"phone_number": "+33612300000"}], "simulation_mode": True},
    )
    assert r.status_code == 200 and simulator.state.ledger.entries("octopush", "call") == []


def test_velip_campaign_call_entries_carry_its_text_or_its_audio(simulator: SimulatorServer, http: httpx.Client):
    url = f"{simulator.base_url('velip')}/api/v2/CreateCampaign"
    spoken = {"name": "Texte", "text": "Olá Ana", "datajson": [{"number": "5511987650000", "name": "Ana"}]}
    audio = {"name": "Audio", "content": "7001", "datajson": [{"number": "5511987650001"}]}
    for body in (spoken, audio):
        r = http.post(url, headers=VELIP_AUTH, json=body)
        assert r.json()["return"]["status_code"] == "0", r.text
    entries = {e.number: e.details for e in simulator.state.ledger.entries("velip", "call")}
    assert (entries["5511987650000"]["text"], entries["5511987650000"]["content"]) == ("Olá Ana", None)
    assert (entries["5511987650001"]["text"], entries["5511987650001"]["content"]) == (None, "7001")
