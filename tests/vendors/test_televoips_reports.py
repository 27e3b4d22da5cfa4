"""TeleVoIPs CDR report endpoints, unit level (httpx.MockTransport), sync and async twins."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from airflow_provider_voice.errors import AuthError, MalformedResponseError, ValidationError, VendorRejectedError
from airflow_provider_voice.transport import AsyncHttp, RetryPolicy, SyncHttp
from airflow_provider_voice.vendors.televoips import TeleVoipsApi
from airflow_provider_voice.vendors.televoips.api_reports import CdrReportNotReadyError
from airflow_provider_voice.vendors.televoips.cdr import CdrReport
from airflow_provider_voice.vendors.televoips.cdr_download import adownload_cdr_report, download_cdr_report

BASE = "https://api.televoips.test"
KEY = "reports-key-123456"
URL = f"{BASE}/reports/cdrs/12cd2374dc/cdrs_2024-05-01.csv"


def api() -> TeleVoipsApi:
    return TeleVoipsApi(reports_key=KEY, base_urls={"default": BASE})


def report_body(status: str) -> dict[str, str]:
    return {"id": "12cd2374dc", "url": URL, "status": status}


def test_request_builds_get_with_reports_key(make_driver):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=report_body("requested"))

    report = make_driver(api(), handler).send(api().request_cdr_report())
    assert report == CdrReport(id="12cd2374dc", url=URL, status="requested", http_status=202)
    assert not report.is_complete and report.day == "2024-05-01"
    (request,) = seen
    assert request.method == "GET" and request.url.path == "/reports/cdrs" and not request.url.query
    assert request.headers["x-api-key"] == KEY and "authorization" not in request.headers


def test_complete_answer_201(make_driver):
    report = make_driver(api(), lambda r: httpx.Response(201, json=report_body("complete"))).send(
        api().request_cdr_report()
    )
    assert report.is_complete and report.http_status == 201
    assert report.handle() == {"id": "12cd2374dc", "url": URL, "day": "2024-05-01"}


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (403, "'Access Denied'", AuthError, "HTTP 403: Access Denied"),
        (
            400,
            "'There was a problem processing your request.'",
            VendorRejectedError,
            "There was a problem processing your request.",
        ),
    ],
)
def test_request_errors_are_typed(make_driver, status, body, error, text):
    driver = make_driver(api(), lambda r: httpx.Response(status, text=body))
    with pytest.raises(error) as caught:
        driver.send(api().request_cdr_report())
    assert text in str(caught.value)
    assert caught.value.status_code == status
    assert driver.clock.sleeps == []  # neither is retried


def test_unexpected_body_is_malformed(make_driver):
    driver = make_driver(api(), lambda r: httpx.Response(202, json={"hello": "world"}))
    with pytest.raises(MalformedResponseError):
        driver.send(api().request_cdr_report())


def test_wait_flow_polls_until_201(make_driver):
    answers = iter([(202, "requested"), (202, "processing"), (202, "processing"), (201, "complete")])

    def handler(request: httpx.Request) -> httpx.Response:
        code, status = next(answers)
        return httpx.Response(code, json=report_body(status))

    driver = make_driver(api(), handler)
    report = driver.send(api().wait_for_cdr_report(poll_interval=30, timeout=600))
    assert report.is_complete
    assert driver.clock.sleeps == [30, 30, 30]


def test_wait_flow_gives_up_after_final_poll(make_driver):
    polls = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(1)
        return httpx.Response(202, json=report_body("processing"))

    driver = make_driver(api(), handler)
    with pytest.raises(CdrReportNotReadyError) as caught:
        driver.send(api().wait_for_cdr_report(poll_interval=30, timeout=70))
    # polls at 0, 30, 60 and a last one at the deadline (70)
    assert len(polls) == 4 and driver.clock.sleeps == [30, 30, 10]
    assert caught.value.report is not None and caught.value.report.status == "processing"


@pytest.mark.parametrize(("interval", "timeout"), [(0, 10), (-1, 10), (5, -1)])
def test_wait_flow_validates_before_sending(interval, timeout):
    with pytest.raises(ValidationError):
        api().wait_for_cdr_report(poll_interval=interval, timeout=timeout)


def test_file_call_stays_on_api_host():
    call = api().cdr_file_call(CdrReport(id="x", url=URL, status="complete", http_status=201))
    assert call.path == "/reports/cdrs/12cd2374dc/cdrs_2024-05-01.csv" and call.auth == "reports"
    with pytest.raises(ValidationError, match="not sent elsewhere"):
        api().cdr_file_call("https://evil.example/reports/cdrs/x/cdrs_2024-05-01.csv")
    with pytest.raises(ValidationError, match="'processing'"):
        api().cdr_file_call(CdrReport(id="x", url=URL, status="processing", http_status=202))


def test_file_call_keeps_base_path_prefix():
    prefixed = TeleVoipsApi(reports_key=KEY, base_urls={"default": "http://127.0.0.1:9/televoips"})
    call = prefixed.cdr_file_call("http://127.0.0.1:9/televoips/reports/cdrs/a/cdrs_2024-05-01.csv")
    assert call.path == "/reports/cdrs/a/cdrs_2024-05-01.csv"
    with pytest.raises(ValidationError):
        prefixed.cdr_file_call("http://127.0.0.1:9/other/reports/cdrs/a/cdrs_2024-05-01.csv")


CSV = (
    b"id,calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,billsec,disposition,"
    b"amaflags,accountcode,uniqueid,did,recordingfile,cunm,cnam,outbound_cnum,outbound_cnam,dst_cnam\n"
    b'1.1,2024-05-01 10:00:00,"""A"" <1>",1,201,ext-local,c,d,Dial,"x,30",30,20,ANSWERED,3,,1.1,,,1,A,,,\n'
    b'1.2,2024-05-01 11:00:00,"""B"" <2>",2,202,ext-local,c,d,Dial,"x,30",10,0,NO ANSWER,3,,1.2,,,2,B,,,\n'
)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_download_streams_and_counts(tmp_path, kind):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-api-key"] == KEY
        return httpx.Response(200, content=CSV, headers={"content-type": "text/csv"})

    report = CdrReport(id="12cd2374dc", url=URL, status="complete", http_status=201)
    dest = tmp_path / "out" / "cdrs.csv"
    if kind == "sync":
        http = SyncHttp(api(), http_client=httpx.Client(transport=httpx.MockTransport(handler)))
        result = download_cdr_report(http, api(), report, dest)
    else:

        async def run():
            http = AsyncHttp(api(), http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
            try:
                return await adownload_cdr_report(http, api(), report, dest)
            finally:
                await http.aclose()

        result = asyncio.run(run())
    assert dest.read_bytes() == CSV
    assert (result.rows, result.bytes, result.day, result.report_id) == (2, len(CSV), "2024-05-01", "12cd2374dc")
    assert result.unknown_columns == [] and result.missing_columns == []
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [(401, {"message": "Unauthorized"}, "Unauthorized"), (403, {"message": "Forbidden"}, "Forbidden")],
)
def test_download_auth_errors_leave_nothing(tmp_path, status, body, text):
    http = SyncHttp(
        api(),
        retry=RetryPolicy(max_attempts=3),
        http_client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(status, json=body))),
    )
    with pytest.raises(AuthError, match=text) as caught:
        download_cdr_report(http, api(), URL, tmp_path / "cdrs.csv")
    assert caught.value.status_code == status
    assert list(tmp_path.iterdir()) == []
    assert KEY not in str(caught.value)
