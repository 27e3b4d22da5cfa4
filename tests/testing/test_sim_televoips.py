"""TeleVoIPs behaviour: the CDR report lifecycle, streaming CSV files, messaging state."""

from __future__ import annotations

import csv
import io
import threading
import time
from pathlib import Path

import httpx
import pytest
from simtest_support import TELEVOIPS_MESSAGING, TELEVOIPS_REPORTS

from airflow_provider_voice.testing import FakeClock, SimulatorServer
from airflow_provider_voice.testing.televoips import CDR_HEADER

HEADER_LINE = (
    "id,calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,billsec,disposition,"
    "amaflags,accountcode,uniqueid,did,recordingfile,cnum,cnam,outbound_cnum,outbound_cnam,dst_cnam"
)


def request_report(simulator: SimulatorServer, http: httpx.Client) -> httpx.Response:
    return http.get(f"{simulator.base_url('televoips')}/reports/cdrs", headers=TELEVOIPS_REPORTS)


def complete_report(simulator: SimulatorServer, http: httpx.Client) -> dict:
    simulator.state.configure(cdr_compile_seconds=0)
    request_report(simulator, http)
    done = request_report(simulator, http)
    assert done.status_code == 201
    return done.json()


def test_cdr_lifecycle_requested_processing_complete(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    # Noon of the current UTC day: the hour advanced below must not cross midnight (a new report day).
    simulator_clock.set(simulator_clock() // 86400 * 86400 + 43200)
    first = request_report(simulator, http)
    assert (first.status_code, first.json()["status"]) == (202, "requested")
    simulator_clock.advance(1.0)
    second = request_report(simulator, http)
    assert (second.status_code, second.json()["status"]) == (202, "processing")
    early = http.get(second.json()["url"], headers=TELEVOIPS_REPORTS)
    assert (early.status_code, early.json()) == (404, {"message": "Not Found"})
    simulator_clock.advance(1.0)
    third = request_report(simulator, http)
    assert (third.status_code, third.json()["status"]) == (201, "complete")
    assert first.json()["id"] == second.json()["id"] == third.json()["id"]
    assert len(third.json()["id"]) == 10
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(simulator_clock() - 86400))
    assert (
        third.json()["url"]
        == f"{simulator.base_url('televoips')}/reports/cdrs/{third.json()['id']}/cdrs_{yesterday}.csv"
    )
    simulator_clock.advance(3600)
    assert request_report(simulator, http).json()["id"] == third.json()["id"]


def test_next_day_gets_a_new_report(simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client) -> None:
    first = request_report(simulator, http).json()
    simulator_clock.advance(86400)
    nxt = request_report(simulator, http)
    assert nxt.json()["status"] == "requested" and nxt.json()["id"] != first["id"]


def test_csv_content(simulator: SimulatorServer, http: httpx.Client) -> None:
    simulator.state.configure(cdr_rows=500)
    report = complete_report(simulator, http)
    body = http.get(report["url"], headers=TELEVOIPS_REPORTS).text
    assert body.splitlines()[0] == HEADER_LINE
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 500 and list(rows[0].keys()) == CDR_HEADER
    assert {r["disposition"] for r in rows} <= {"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"}
    assert all(int(r["billsec"]) <= int(r["duration"]) for r in rows)
    assert all(r["calldate"].startswith(report["url"][-14:-4]) for r in rows)
    assert all(r["clid"].startswith('"') for r in rows)
    again = http.get(report["url"], headers=TELEVOIPS_REPORTS).text
    assert again == body


def test_csv_bad_line_and_injected_records(simulator: SimulatorServer, http: httpx.Client) -> None:
    simulator.state.configure(cdr_rows=10, cdr_bad_line=4)
    simulator.state.televoips.cdr_records.append(
        {
            "id": "1.1",
            "calldate": "2021-08-25 10:04:14",
            "src": "1234567890",
            "dst": "201",
            "duration": "30",
            "billsec": "0",
            "disposition": "NO ANSWER",
        }
    )
    lines = http.get(complete_report(simulator, http)["url"], headers=TELEVOIPS_REPORTS).text.splitlines()
    assert len(lines) == 12
    assert lines[1].startswith("1.1,2021-08-25 10:04:14,")
    rows = list(csv.reader(lines))
    duration = CDR_HEADER.index("duration")
    assert rows[3][duration] == "not-a-number"
    assert all(r[duration].isdigit() for i, r in enumerate(rows[1:], start=2) if i != 4)


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read memory use")
def test_50_mb_csv_streams_in_bounded_memory(simulator: SimulatorServer, http: httpx.Client) -> None:
    target = 50 * 1024 * 1024
    simulator.state.configure(cdr_target_bytes=target)
    url = complete_report(simulator, http)["url"]
    baseline = _rss_bytes()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _rss_bytes())

    sampler = threading.Thread(target=sample)
    sampler.start()
    received = 0
    chunks = 0
    tail = b""
    try:
        with http.stream("GET", url, headers=TELEVOIPS_REPORTS) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            for chunk in response.iter_raw():
                received += len(chunk)
                chunks += 1
                tail = chunk[-200:]
    finally:
        done.set()
        sampler.join()
    assert target <= received < target + 70_000
    assert chunks > 100
    assert tail.endswith(b"\n")
    assert peak - baseline < 30 * 1024 * 1024, f"memory grew by {(peak - baseline) / 2**20:.1f} MiB"


def test_messages_listing_window_and_unsubscribe(
    simulator: SimulatorServer, simulator_clock: FakeClock, http: httpx.Client
) -> None:
    base = simulator.base_url("televoips")

    def send(to: str, sender: str = "13214567890") -> httpx.Response:
        return http.post(
            f"{base}/messages", headers=TELEVOIPS_MESSAGING, data={"from": sender, "to": to, "content": "Hello"}
        )

    old = send("19876543210").json()["uuid"]
    simulator_clock.advance(100 * 86400)
    new = send("19876543211", sender="13214567891").json()["uuid"]
    assert [m["id"] for m in http.get(f"{base}/messages", headers=TELEVOIPS_MESSAGING).json()] == [new]
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(simulator_clock() - 200 * 86400))
    everything = http.get(f"{base}/messages", headers=TELEVOIPS_MESSAGING, params={"start": start}).json()
    assert [m["id"] for m in everything] == [old, new]
    assert everything[1]["direction"] == "outbound" and everything[1]["from"] == "13214567891"
    bad = http.get(f"{base}/messages", headers=TELEVOIPS_MESSAGING, params={"start": "yesterday"})
    assert bad.status_code == 400
    http.post(f"{base}/unsubscribe", headers=TELEVOIPS_MESSAGING, data={"from": "19876543210", "to": "13214567891"})
    refused = send("19876543210")
    assert (refused.status_code, refused.json()) == (400, {"message": "Unable to send message"})
    for to, content in (("123", "x"), ("19876543212", "")):
        assert (
            http.post(
                f"{base}/messages",
                headers=TELEVOIPS_MESSAGING,
                data={"from": "13214567890", "to": to, "content": content},
            ).status_code
            == 400
        )
    assert simulator.state.ledger.counts("televoips", "sms") == {"19876543210": 1, "19876543211": 1}
    assert [e.number for e in simulator.state.ledger.entries("televoips", "unsubscribe")] == ["19876543210"]
