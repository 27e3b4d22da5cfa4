"""The ledger, determinism under a seed, and concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from simtest_support import KALEYRA_AUTH, OCTOPUSH_AUTH, TELEVOIPS_MESSAGING, TELEVOIPS_REPORTS, VELIP_AUTH

from airflow_provider_voice.testing import FakeClock, Ledger, Outcome, OutcomeModel, SimulatorServer
from airflow_provider_voice.testing.calls import DEFAULT_OUTCOME_WEIGHTS


def test_ledger_api() -> None:
    ledger = Ledger()
    ledger.record("velip", "call", "551100000001", "c_1", {"cp_id": "1"}, at=1.0)
    ledger.record("velip", "call", "551100000001", "c_2")
    ledger.record("velip", "sms", "551100000002", "s_1")
    ledger.record("kaleyra", "call", "9800000001", "1-1")
    assert [e.ref for e in ledger.entries("velip", "call")] == ["c_1", "c_2"]
    assert ledger.entries(number="9800000001")[0].vendor == "kaleyra"
    assert ledger.counts("velip", "call") == Counter({"551100000001": 2})
    assert ledger.counts() == Counter({"551100000001": 2, "551100000002": 1, "9800000001": 1})
    assert ledger.duplicates("velip", "call") == {"551100000001": 2}
    assert ledger.duplicates("kaleyra", "call") == {}
    entry = ledger.entries(ref="c_1")[0]
    assert entry.to_dict() == {
        "vendor": "velip",
        "action": "call",
        "number": "551100000001",
        "ref": "c_1",
        "details": {"cp_id": "1"},
        "at": 1.0,
    }
    try:
        entry.details["x"] = 1  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("ledger details must be read-only")
    ledger.clear()
    assert len(ledger) == 0


def test_ledger_is_thread_safe() -> None:
    ledger = Ledger()

    def write(worker: int) -> None:
        for i in range(2000):
            ledger.record("octopush", "call", f"+33{worker:02d}{i:06d}", "t")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    reader_counts = [len(ledger.entries()) for _ in range(20)]
    for t in threads:
        t.join()
    assert len(ledger) == 16000 and not ledger.duplicates()
    assert reader_counts == sorted(reader_counts)


def test_outcome_model_is_deterministic_and_weighted() -> None:
    model = OutcomeModel(7, DEFAULT_OUTCOME_WEIGHTS, {"+33 6 00 00 00 01": "busy"})
    numbers = [f"336{i:08d}" for i in range(20000)]
    first = [model.outcome(n) for n in numbers]
    assert first == [
        OutcomeModel(7, DEFAULT_OUTCOME_WEIGHTS).outcome(n) if n != "33600000001" else Outcome.BUSY for n in numbers
    ]
    assert model.outcome("33600000001") is Outcome.BUSY
    shares = Counter(first)
    assert abs(shares[Outcome.ANSWERED] / len(numbers) - 0.70) < 0.02
    assert first != [OutcomeModel(8, DEFAULT_OUTCOME_WEIGHTS).outcome(n) for n in numbers]
    only_busy = OutcomeModel(1, {"busy": 1.0})
    assert {only_busy.outcome(n) for n in numbers[:50]} == {Outcome.BUSY}


def _script(simulator: SimulatorServer, http: httpx.Client) -> list[object]:
    """The same requests against every vendor; returns the answers and ledger."""
    answers: list[object] = []
    v = f"{simulator.base_url('velip')}/api/v2"
    answers.append(
        http.post(f"{v}/MakeTTSCall", headers=VELIP_AUTH, json={"dest": "5511999990000", "text": "x"}).json()
    )
    answers.append(
        http.post(
            f"{v}/CreateCampaign",
            headers=VELIP_AUTH,
            json={"name": "n", "text": "x", "datajson": [{"number": f"55119{i:08d}"} for i in range(30)]},
        ).json()
    )
    answers.append(http.post(f"{v}/GetUserID", headers=VELIP_AUTH).json())
    answers.append(
        http.post(
            f"{simulator.base_url('televoips')}/messages",
            headers=TELEVOIPS_MESSAGING,
            data={"from": "13214567890", "to": "19876543210", "content": "x"},
        ).json()
    )
    answers.append(http.get(f"{simulator.base_url('televoips')}/reports/cdrs", headers=TELEVOIPS_REPORTS).json())
    body = {"text": "x", "recipients": [{"phone_number": f"+336{i:08d}"} for i in range(30)]}
    answers.append(
        http.post(
            f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send", headers=OCTOPUSH_AUTH, json=body
        ).json()
    )
    k = simulator.base_url("kaleyra")
    answers.append(
        http.post(
            k,
            headers=KALEYRA_AUTH,
            data={"method": "dial.click2call", "caller": "9800000001", "receiver": "9800000002", "return": "1"},
        ).json()
    )
    group = http.post(
        k,
        headers=KALEYRA_AUTH,
        data={"method": "voice.call", "numbers": ",".join(f"98{i:08d}" for i in range(30)), "play": "1.sound"},
    ).json()
    answers.append(group)
    simulator.state.clock.advance(60)  # type: ignore[attr-defined]
    answers.append(http.post(f"{v}/GetCallStatus", headers=VELIP_AUTH, json={}).json())
    answers.append(
        http.post(
            k, headers=KALEYRA_AUTH, data={"method": "voice.groupstatus", "groupid": str(group["data"]["group_id"])}
        ).json()
    )
    answers.append(http.get(f"{simulator.url}/_sim/octopush/reports/{answers[5]['ticket_number']}").json())  # type: ignore[index]
    answers.append(http.post(k, headers=KALEYRA_AUTH, data={"method": "dial.c2cstatus"}).json())
    answers.append([e.to_dict() for e in simulator.state.ledger.entries()])
    return answers


def test_same_seed_same_simulation(simulator: SimulatorServer, http: httpx.Client) -> None:
    runs = []
    for seed in (5, 5, 6):
        simulator.state.reset(seed=seed, clock=FakeClock(1_800_000_000.0))
        runs.append(_script(simulator, http))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_concurrent_clients_each_recipient_once(simulator: SimulatorServer) -> None:
    url = f"{simulator.base_url('octopush')}/v1/public/voice-campaign/send"

    def send(frame: int) -> int:
        body = {
            "text": "x",
            "recipients": [{"phone_number": f"+336{frame:03d}{i:05d}"} for i in range(100)],
            "request_id": f"f{frame}",
        }
        with httpx.Client(trust_env=False, timeout=10) as client:
            return client.post(url, headers=OCTOPUSH_AUTH, json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, list(range(40)) + list(range(10))))
    assert statuses.count(200) == 40 and statuses.count(409) == 10
    counts = simulator.state.ledger.counts("octopush", "call")
    assert len(counts) == 4000 and set(counts.values()) == {1}
