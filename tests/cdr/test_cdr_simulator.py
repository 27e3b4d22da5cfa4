"""TeleVoIPs CDR lifecycle against the simulator over a real loopback socket."""

from __future__ import annotations

import errno
from typing import Any

import httpx
import pytest

from airflow_provider_voice.errors import AuthError, TransportError, VendorRejectedError
from airflow_provider_voice.storage import AtomicFile
from airflow_provider_voice.transport import Call, RetryPolicy
from airflow_provider_voice.vendors.base import VendorClient
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.cdr import iter_cdr_records
from airflow_provider_voice.vendors.televoips.cdr_download import download_cdr_report

REPORTS_KEY = "sim-televoips-reports-key"


def client(simulator: Any, key: str = REPORTS_KEY, **kwargs: Any) -> VendorClient[TeleVoipsApi]:
    api = TeleVoipsApi(reports_key=key, base_urls={"default": simulator.base_url("televoips")})
    return VendorClient(api, **kwargs)


class _KeylessApi(TeleVoipsApi):
    """Sends report calls without any key (to see the vendor's answer to a missing key)."""

    def auth_headers(self, call: Call[Any]) -> dict[str, str]:
        return {}


def test_202_requested_then_processing_then_201_complete(simulator, simulator_clock):
    simulator.state.configure(cdr_compile_seconds=120)
    seen = []
    c = client(simulator, sleep=lambda s: (seen.append(s), simulator_clock.advance(s)))
    first = c.send(c.api.request_cdr_report())
    second = c.send(c.api.request_cdr_report())
    assert (first.http_status, first.status) == (202, "requested")
    assert (second.http_status, second.status) == (202, "processing")
    report = c.run(c.api.wait_for_cdr_report(poll_interval=30, timeout=600))
    assert (report.http_status, report.status) == (201, "complete") and report.id == first.id
    assert seen == [30, 30, 30, 30]  # complete once 120 simulated seconds have passed
    again = c.send(c.api.request_cdr_report())
    assert again.id == first.id and again.is_complete  # one report per day, never recreated
    assert report.day is not None and report.url.endswith(f"/cdrs_{report.day}.csv")


def test_access_denied_403_and_problem_400_are_typed(simulator):
    with pytest.raises(AuthError, match="HTTP 403: Access Denied") as caught:
        wrong = client(simulator, key="wrong-reports-key")
        wrong.send(wrong.api.request_cdr_report())
    assert caught.value.status_code == 403 and "wrong-reports-key" not in str(caught.value)
    keyless = VendorClient(
        _KeylessApi(reports_key="unused-key", base_urls={"default": simulator.base_url("televoips")})
    )
    with pytest.raises(AuthError, match="HTTP 403: Access Denied"):
        keyless.send(keyless.api.request_cdr_report())
    simulator.state.faults.set("televoips", "/reports/cdrs", error_rate=1.0, error_status=400)
    with pytest.raises(VendorRejectedError, match=r"There was a problem processing your request\.") as rejected:
        c = client(simulator)
        c.send(c.api.request_cdr_report())
    assert rejected.value.status_code == 400


def _complete_report(simulator: Any, c: VendorClient[TeleVoipsApi]) -> Any:
    simulator.state.configure(cdr_compile_seconds=0)
    return c.run(c.api.wait_for_cdr_report(poll_interval=0.01, timeout=5))


def test_download_401_403_bodies_are_typed(simulator, tmp_path):
    report = _complete_report(simulator, client(simulator))
    wrong = client(simulator, key="wrong-reports-key")
    with pytest.raises(AuthError, match="HTTP 401: Unauthorized"):
        download_cdr_report(wrong, wrong.api, report, tmp_path / "x.csv")
    keyless = VendorClient(
        _KeylessApi(reports_key="unused-key", base_urls={"default": simulator.base_url("televoips")})
    )
    with pytest.raises(AuthError, match="HTTP 403: Forbidden"):
        download_cdr_report(keyless, keyless.api, report, tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


def test_download_then_read_records_with_a_bad_row(simulator, tmp_path):
    simulator.state.configure(cdr_rows=40, cdr_bad_line=7)
    c = client(simulator)
    report = _complete_report(simulator, c)
    dest = tmp_path / "cdrs" / f"{report.day}.csv"
    result = download_cdr_report(c, c.api, report, dest)
    assert result.rows == 40 and result.bytes == dest.stat().st_size and result.day == report.day
    assert result.unknown_columns == [] and result.missing_columns == []
    reader = iter_cdr_records(dest)
    records = list(reader)
    assert len(records) == 39
    (bad,) = reader.invalid
    assert bad.line == 7 and "duration" in bad.reason
    assert {str(r.disposition) for r in records} <= {"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"}
    assert all(r.calldate.date().isoformat() == report.day for r in records)


def test_write_failure_mid_download_leaves_no_file(simulator, tmp_path, monkeypatch):
    """The destination disk fills up half way: the partial file is removed, the destination never appears."""
    simulator.state.configure(cdr_rows=5000, cdr_chunk_bytes=16 * 1024)
    c = client(simulator)
    report = _complete_report(simulator, c)
    real_write = AtomicFile.write

    def write(self: AtomicFile, data: bytes) -> int:
        if self.bytes_written > 200_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(AtomicFile, "write", write)
    with pytest.raises(OSError, match="No space left"):
        download_cdr_report(c, c.api, report, tmp_path / "cdrs.csv")
    assert list(tmp_path.iterdir()) == []


def test_connection_reset_before_body_is_retried_for_the_get(simulator, tmp_path):
    c = client(simulator, retry=RetryPolicy(max_attempts=3, backoff_initial=0.01))
    report = _complete_report(simulator, c)
    rule = simulator.state.faults.set("televoips", "/reports/cdrs/{id}/{file}", reset_rate=1.0, times=1)
    result = download_cdr_report(c, c.api, report, tmp_path / "cdrs.csv")
    assert result.rows == simulator.state.config.cdr_rows and rule.injected == 1


def test_api_key_never_in_url_or_logs(simulator, tmp_path, caplog):
    caplog.set_level("DEBUG")
    sent: list[httpx.Request] = []
    c = client(simulator, http_client=httpx.Client(event_hooks={"request": [sent.append]}))
    report = _complete_report(simulator, c)
    download_cdr_report(c, c.api, report, tmp_path / "cdrs.csv")
    assert all(REPORTS_KEY not in str(r.url) for r in sent) and REPORTS_KEY not in caplog.text


def test_network_drop_mid_download_leaves_no_file(simulator, tmp_path):
    """The connection is reset after 300 kB of body: the download fails, nothing is at the destination,
    and a complete file from an earlier run is left untouched."""
    simulator.state.configure(cdr_rows=20_000, cdr_chunk_bytes=32 * 1024)
    c = client(simulator, retry=RetryPolicy(max_attempts=2, backoff_initial=0.01))
    report = _complete_report(simulator, c)
    simulator.state.televoips.cdr_abort_after_bytes = 300_000
    dest = tmp_path / "cdrs.csv"
    with pytest.raises(TransportError) as caught:
        download_cdr_report(c, c.api, report, dest)
    assert caught.value.may_have_been_accepted  # broke after the request was sent
    assert list(tmp_path.iterdir()) == []
    dest.write_bytes(b"previous complete file")
    with pytest.raises(TransportError):
        download_cdr_report(c, c.api, report, dest)
    assert dest.read_bytes() == b"previous complete file" and list(tmp_path.iterdir()) == [dest]
    simulator.state.televoips.cdr_abort_after_bytes = None
    assert download_cdr_report(c, c.api, report, dest).rows == 20_000
