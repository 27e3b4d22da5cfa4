"""Kaleyra call reports (dial, dial.c2cstatus, followup.reports): request building, JSON and XML
parsing, pagination flows, date formats and the 3-day limit of c2cstatus."""

from __future__ import annotations

import datetime as dt

import httpx
import pendulum
import pytest
from helpers import form

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.vendors.kaleyra import KaleyraApi
from airflow_provider_voice.vendors.kaleyra.api_reports import C2C_RETENTION_DAYS, KALEYRA_TIMEZONE
from airflow_provider_voice.vendors.kaleyra.records import KaleyraCallRecord, KaleyraFollowupRecord

KEY = "kaleyra-key-0123456789"

JSON_DIAL = {
    "status": "200",
    "message": "OK",
    "data": [
        {
            "id": "1838350XXXXXX502e7729b",
            "uniqid": "153XXXXXX4.26.D0",
            "parent_id": "XXXXXX20215ba50XXXc542",
            "callfrom": "95XXXXXXXX",
            "callto": "99XXXXXXXX",
            "start_time": "2018-09-21 03:40:19",
            "end_time": "2018-09-21 03:40:49",
            "duration": "30",
            "billsec": "28",
            "notes": "hello",
            "location": "KARNATAKA",
            "provider": "VODAFONE",
            "credits": "1.200",
            "status": "ANSWER",
            "recording": "//play.abc.co/?id=123",
            "date": "2018-09-21 03:40 AM",
            "caller_id": "80XXXXXXXX",
        }
    ],
}
XML_C2C = """<?xml version="1.0" encoding="UTF-8" ?>
<api>
    <status>200</status>
    <message>OK</message>
    <data>
        <dial>
            <id>c2c_57XXXXXXXXXX</id>
            <callfrom>95XXXXXXXX</callfrom>
            <callto>99XXXXXXXX</callto>
            <agent>agent name</agent>
            <start_time>2015-12-15 11:59:01</start_time>
            <end_time>2015-12-15 11:59:59</end_time>
            <duration>36</duration>
            <billsec>28</billsec>
            <credits>1.200</credits>
            <status>ANSWER</status>
            <status2>ANSWER</status2>
            <recording>//play.solutionsinfini.com/?id=94XXXXXX</recording>
            <location>KARNATAKA</location>
            <provider>VODAFONE</provider>
        </dial>
    </data>
</api>"""
XML_FOLLOWUP = """<?xml version="1.0" encoding="UTF-8" ?>
<api><status>200</status><message>OK</message><data>
<followup><id>1864</id><phone>87XXXXXXXX</phone><name>John</name><follower>88XXXXXXXX</follower>
<note>test call</note><ontime>14-10-2015 07:00:00 PM</ontime></followup>
<followup><id>1865</id><phone>87XXXXXXXY</phone><name>Jane</name><follower>88XXXXXXXX</follower>
<note></note><ontime>15-10-2015 07:00:00 PM</ontime></followup>
</data></api>"""


def api(fmt: str = "json") -> KaleyraApi:
    return KaleyraApi(api_key=KEY, response_format=fmt, base_urls={"default": "https://kaleyra.test/v1/"})


def test_dial_request_and_json_rows(make_driver):
    seen = []

    def handler(request):
        seen.append(form(request))
        return httpx.Response(200, json=JSON_DIAL)

    page = make_driver(api(), handler).send(
        api().dial(fromdate=dt.date(2018, 9, 21), todate="21/09/2018", callto="+91 98450 12345", limit=10, page=2)
    )
    assert seen == [
        {"method": "dial", "format": "json", "fromdate": "2018/09/21", "todate": "2018/09/21",
         "callto": "9845012345", "limit": "10", "page": "2"}
    ]  # fmt: skip
    (row,) = page.rows
    assert isinstance(row, KaleyraCallRecord)
    assert (row.duration, row.billsec, row.credits, row.status, row.parent_id) == (
        30,
        28,
        1.2,
        "ANSWER",
        "XXXXXX20215ba50XXXc542",
    )
    assert page.page == 2 and page.is_last


def test_c2c_status_xml_rows(make_driver):
    page = make_driver(api("xml"), lambda r: httpx.Response(200, text=XML_C2C)).send(
        api("xml").c2c_status(call_id="c2c_57XXXXXXXXXX")
    )
    (row,) = page.rows
    assert (row.id, row.status, row.status2, row.duration, row.billsec, row.agent) == (
        "c2c_57XXXXXXXXXX", "ANSWER", "ANSWER", 36, 28, "agent name",
    )  # fmt: skip


def test_followup_reports_xml(make_driver):
    seen = []

    def handler(request):
        seen.append(form(request))
        return httpx.Response(200, text=XML_FOLLOWUP)

    page = make_driver(api("xml"), handler).send(
        api("xml").followup_reports(fromdate="2015-10-14", follower="8812345678")
    )
    assert [r.id for r in page.rows] == ["1864", "1865"]
    assert isinstance(page.rows[0], KaleyraFollowupRecord) and page.rows[1].note is None
    assert seen[0]["method"] == "followup.reports" and seen[0]["fromdate"] == "2015/10/14" and "limit" not in seen[0]


def test_empty_data_is_an_empty_page(make_driver):
    page = make_driver(api(), lambda r: httpx.Response(200, json={"status": "200", "message": "OK", "data": []})).send(
        api().dial()
    )
    assert page.rows == [] and page.is_last


def _paged_handler(total: int, seen: list[dict[str, str]]):
    def handler(request):
        fields = form(request)
        seen.append(fields)
        limit, page = int(fields["limit"]), int(fields["page"])
        ids = range((page - 1) * limit, min(total, page * limit))
        return httpx.Response(
            200, json={"status": "200", "message": "OK", "data": [{"id": f"r{i}", "duration": str(i)} for i in ids]}
        )

    return handler


@pytest.mark.parametrize(("total", "pages"), [(0, 1), (5, 1), (10, 2), (23, 3)])
def test_pagination_flow_until_short_page(make_driver, total, pages):
    seen: list[dict[str, str]] = []
    driver = make_driver(api(), _paged_handler(total, seen))
    count = driver.send(api().dial_flow(limit=10, fromdate="2024-01-01", todate="2024-01-02"))
    assert count == total and len(seen) == pages
    assert [s["page"] for s in seen] == [str(p) for p in range(1, pages + 1)]
    assert all(s["fromdate"] == "2024/01/01" and s["todate"] == "2024/01/02" for s in seen)


def test_pagination_flow_emits_every_row_once():
    from airflow_provider_voice.vendors.base import VendorClient

    seen: list[dict[str, str]] = []
    client = VendorClient(api(), http_client=httpx.Client(transport=httpx.MockTransport(_paged_handler(23, seen))))
    rows = list(client.iterate(client.api.dial_flow(limit=10)))
    assert [r.id for r in rows] == [f"r{i}" for i in range(23)]


def test_pagination_fails_loudly_when_server_ignores_page(make_driver):
    """A full page answered again: rows after it may exist, so the export is not reported complete."""
    seen = []

    def handler(request):
        seen.append(1)
        return httpx.Response(200, json={"status": "200", "message": "OK", "data": [{"id": "same"}] * 5})

    with pytest.raises(MalformedResponseError, match="repeats page 1"):
        make_driver(api(), handler).send(api().dial_flow(limit=5))
    assert len(seen) == 2


def test_pagination_past_the_page_bound_fails_instead_of_returning_part(make_driver, monkeypatch):
    from airflow_provider_voice.vendors.kaleyra import api_reports as reports

    monkeypatch.setattr(reports, "MAX_PAGES", 3)
    counter = iter(range(10_000))

    def handler(request):
        n = next(counter)
        return httpx.Response(200, json={"status": "200", "message": "OK", "data": [{"id": f"r{n}"}] * 5})

    with pytest.raises(MalformedResponseError, match="more than 3 pages"):
        make_driver(api(), handler).send(api().dial_flow(limit=5))


def test_c2c_status_refuses_days_older_than_retention():
    today = pendulum.now(KALEYRA_TIMEZONE).date()
    oldest = today - dt.timedelta(days=C2C_RETENTION_DAYS)
    api().c2c_status(fromdate=oldest, todate=today)  # the oldest kept day is fine
    for field, kwargs in (
        ("fromdate", {"fromdate": oldest - dt.timedelta(days=1)}),
        ("todate", {"todate": "2020-01-01"}),
    ):
        with pytest.raises(ValidationError, match="last 3 days only") as caught:
            api().c2c_status(**kwargs)
        assert caught.value.field == field
    with pytest.raises(ValidationError, match="last 3 days only"):
        api().c2c_status_flow(fromdate="2020-01-01")  # flows validate before the first step


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fromdate": "2024-13-01"}, "fromdate"),
        ({"fromdate": "yesterday-ish"}, "fromdate"),
        ({"fromdate": "2024-02-02", "todate": "2024-02-01"}, "fromdate"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"page": 0}, "page"),
        ({"limit": True}, "limit"),
        ({"callto": "12"}, "callto"),
        ({"call_id": ""}, "call_id"),
    ],
)
def test_dial_validation_before_sending(kwargs, field):
    with pytest.raises(ValidationError) as caught:
        api().dial(**kwargs)
    assert caught.value.field == field


def test_aware_datetime_is_converted_to_india_day():
    call = api().dial(fromdate=dt.datetime(2024, 5, 1, 20, 0, tzinfo=dt.timezone.utc))  # 01:30 on May 2nd in India
    assert call.data["fromdate"] == "2024/05/02"
