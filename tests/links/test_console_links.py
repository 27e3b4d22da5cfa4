"""The "Vendor console" extra links: the URL per vendor from a finished task's XCom (mocked as
Airflow's own provider tests do), the connection's ``console_url`` template, no link when the vendor
has no console or nothing was sent, and the link a real ``dag.test()`` run persists."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
from airflow_provider_voice.operators.click_to_call import ClickToCallOperator
from airflow_provider_voice.operators.links import (
    LINK_NAME,
    CampaignConsoleLink,
    CdrConsoleLink,
    ClickToCallConsoleLink,
    SmsConsoleLink,
    console_link,
)
from airflow_provider_voice.operators.sms import SendSMSOperator
from airflow_provider_voice.provider_info import provider_info
from airflow_provider_voice.vendors.registry import CONNECTION_TYPES

CONSOLES = {
    "velip": "https://vox.velip.com.br",
    "octopush": "https://client.octopush.com",
    "kaleyra": "https://voice.kaleyra.com",
    "televoips": None,
}
KEY = TaskInstanceKey(dag_id="links", task_id="send", run_id="run-1", try_number=1, map_index=-1)


def connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, **extra: Any) -> None:
    body: dict[str, Any] = {"conn_type": conn_type, "host": "http://127.0.0.1:9", "password": "k3y-never-in-a-link"}
    if extra:
        body["extra"] = extra
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


@pytest.fixture
def xcom(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The task's ``return_value`` XCom, as ``XCom.get_value`` answers it; records what was asked."""
    box: dict[str, Any] = {"value": None, "asked": []}

    def get_value(*, ti_key: Any, key: str) -> Any:
        box["asked"].append((ti_key, key))
        return box["value"]

    monkeypatch.setattr(XCom, "get_value", staticmethod(get_value))
    return box


def campaign_op(conn_id: str) -> SendVoiceCampaignOperator:
    return SendVoiceCampaignOperator(
        task_id="send", conn_id=conn_id, recipients=["+33612345678"], campaign_name="c", message="hi"
    )


# -- the URL ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("https://client.octopush.com", {"campaign_id": "881"}, "https://client.octopush.com"),
        (
            "https://c.example.com/campaigns/{campaign_id}",
            {"campaign_id": "c_88700"},
            "https://c.example.com/campaigns/c_88700",
        ),
        ("https://c.example.com/c/{campaign_id}", {"campaign_id": "a b/c?d"}, "https://c.example.com/c/a%20b%2Fc%3Fd"),
        (
            "https://c.example.com/r/{report_id}/{day}",
            {"report_id": "12cd", "day": "2026-01-02"},
            "https://c.example.com/r/12cd/2026-01-02",
        ),
        # a value the template asks for is missing: the console's home
        ("https://c.example.com:8443/c/{campaign_id}", {"call_id": "x"}, "https://c.example.com:8443"),
        ("https://c.example.com/c/{unknown}", {"campaign_id": "1"}, "https://c.example.com"),
        ("https://c.example.com/c/{}", {"campaign_id": "1"}, "https://c.example.com"),
        # a value that parses as a phone number is never put in a link
        ("https://c.example.com/c/{call_id}", {"call_id": "+33612345678"}, "https://c.example.com"),
        ("https://c.example.com/c/{call_id}", {"call_id": "33612345678"}, "https://c.example.com"),
        # credentials in the URL are dropped
        ("https://me:pw@c.example.com/c/{campaign_id}", {"campaign_id": "7"}, "https://c.example.com/c/7"),
        ("https://me:pw@c.example.com/home", {}, "https://c.example.com/home"),
        ("  https://c.example.com/  ", {}, "https://c.example.com/"),
    ],
)
def test_console_link_fills_the_template(template: str, values: dict[str, Any], expected: str) -> None:
    assert console_link(template, values) == expected


@pytest.mark.parametrize(
    "template",
    [
        None,
        "",
        "   ",
        "ftp://c.example.com/x",
        "javascript:alert(1)",
        "/relative/path",
        "https://{account}.example.com/",
        "https://c.example.com/c/{campaign_id",  # not a valid template
        "https://c.example.com/?token=abcdef123456",  # a credential in the query
        "https://c.example.com/?api_key=abcdef123456",
    ],
)
def test_no_link_for_a_bad_or_secret_url(template: str | None) -> None:
    assert console_link(template, {"campaign_id": "1"}) == ""


def test_a_registered_secret_is_never_in_a_link() -> None:
    from airflow_provider_voice.redaction import register_secret

    register_secret("registered-s3cret-value")
    assert console_link("https://c.example.com/a/registered-s3cret-value", {}) == ""
    assert console_link("https://c.example.com/a/{campaign_id}", {"campaign_id": "registered-s3cret-value"}) == ""


# -- per vendor, from the task's XCom ---------------------------------------------------------------
@pytest.mark.parametrize("vendor", ["velip", "octopush", "kaleyra"])
def test_campaign_link_opens_the_vendor_console(monkeypatch, xcom, vendor: str) -> None:
    connection(monkeypatch, f"lnk_{vendor}", vendor)
    xcom["value"] = {"vendor": vendor, "conn_id": f"lnk_{vendor}", "campaign_ids": ["4711", "4712"], "accepted": 9}
    url = CampaignConsoleLink().get_link(campaign_op("{{ params.vendor }}_default"), ti_key=KEY)
    assert url == CONSOLES[vendor]
    assert xcom["asked"] == [(KEY, "return_value")]
    assert "k3y" not in url and "+336" not in url


def test_campaign_link_follows_the_connection_console_url(monkeypatch, xcom) -> None:
    connection(monkeypatch, "lnk_octo", "octopush", console_url="https://client.octopush.com/campaigns/{campaign_id}")
    xcom["value"] = {"vendor": "octopush", "conn_id": "lnk_octo", "campaign_ids": ["4711", "4712"], "accepted": 9}
    assert CampaignConsoleLink().get_link(campaign_op("lnk_octo"), ti_key=KEY) == (
        "https://client.octopush.com/campaigns/4711"
    )
    # the prefixed form Airflow 2 forms wrote is read too
    connection(monkeypatch, "lnk_octo", "octopush", extra__octopush__console_url="https://o.example.com/{campaign_id}")
    assert CampaignConsoleLink().get_link(campaign_op("lnk_octo"), ti_key=KEY) == "https://o.example.com/4711"


def test_campaign_link_uses_the_operator_connection_when_the_xcom_has_none(monkeypatch, xcom) -> None:
    connection(monkeypatch, "lnk_velip", "velip", console_url="https://v.example.com/cp/{campaign_id}")
    xcom["value"] = {"vendor": "velip", "campaign_ids": ["cp9"]}
    assert CampaignConsoleLink().get_link(campaign_op("lnk_velip"), ti_key=KEY) == "https://v.example.com/cp/cp9"


@pytest.mark.parametrize(
    "value",
    [
        None,  # the task pushed nothing (failed, or do_xcom_push=False)
        "not a mapping",
        {"vendor": "velip", "conn_id": "lnk_velip", "campaign_ids": [], "accepted": 0},
        {"vendor": "velip", "conn_id": "lnk_velip"},
    ],
)
def test_no_campaign_link_when_nothing_was_sent(monkeypatch, xcom, value: Any) -> None:
    connection(monkeypatch, "lnk_velip", "velip")
    xcom["value"] = value
    assert CampaignConsoleLink().get_link(campaign_op("lnk_velip"), ti_key=KEY) == ""


def test_no_link_when_the_connection_is_missing_or_unrendered(xcom) -> None:
    xcom["value"] = {"vendor": "velip", "conn_id": "lnk_nowhere", "campaign_ids": ["1"]}
    assert CampaignConsoleLink().get_link(campaign_op("lnk_nowhere"), ti_key=KEY) == ""
    xcom["value"] = {"vendor": "velip", "campaign_ids": ["1"]}
    assert CampaignConsoleLink().get_link(campaign_op("{{ params.vendor }}_default"), ti_key=KEY) == ""


def test_no_link_when_the_xcom_cannot_be_read(monkeypatch) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("no supervisor")

    monkeypatch.setattr(XCom, "get_value", staticmethod(broken))
    assert CampaignConsoleLink().get_link(campaign_op("lnk_velip"), ti_key=KEY) == ""


@pytest.mark.parametrize(
    ("vendor", "result", "expected"),
    [
        ("kaleyra", {"vendor": "kaleyra", "call_id": "5e7f0c", "ctid": None}, "https://voice.kaleyra.com"),
        ("velip", {"vendor": "velip", "call_id": "c_88700", "ctid": "t1"}, "https://vox.velip.com.br"),
        ("velip", {"vendor": "velip", "call_id": None, "ctid": None}, ""),  # no call placed
    ],
)
def test_click_to_call_link(monkeypatch, xcom, vendor: str, result: dict[str, Any], expected: str) -> None:
    connection(monkeypatch, "lnk_c2c", vendor)
    xcom["value"] = result
    op = ClickToCallOperator(task_id="call", conn_id="lnk_c2c", agent="+919876543210", customer="+919876543211")
    assert ClickToCallConsoleLink().get_link(op, ti_key=KEY) == expected


def test_click_to_call_link_fills_call_id(monkeypatch, xcom) -> None:
    connection(monkeypatch, "lnk_c2c", "kaleyra", console_url="https://k.example.com/calls/{call_id}")
    xcom["value"] = {"vendor": "kaleyra", "call_id": "5e7f0c", "ctid": None}
    op = ClickToCallOperator(task_id="call", conn_id="lnk_c2c", agent="+919876543210", customer="+919876543211")
    assert ClickToCallConsoleLink().get_link(op, ti_key=KEY) == "https://k.example.com/calls/5e7f0c"


@pytest.mark.parametrize(
    ("vendor", "accepted", "expected"),
    [
        ("velip", 3, "https://vox.velip.com.br"),
        ("velip", 0, ""),  # nothing accepted: no link
        ("televoips", 3, ""),  # no TeleVoIPs console is known
    ],
)
def test_sms_link(monkeypatch, xcom, vendor: str, accepted: int, expected: str) -> None:
    connection(monkeypatch, "lnk_sms", vendor)
    xcom["value"] = {"vendor": vendor, "accepted": accepted, "total": 3}
    op = SendSMSOperator(
        task_id="sms", conn_id="lnk_sms", recipients=["+15551230001"], text="hi", sender="+15551239999"
    )
    assert SmsConsoleLink().get_link(op, ti_key=KEY) == expected


def test_cdr_link_needs_a_console_url_on_televoips(monkeypatch, xcom) -> None:
    op = DownloadCdrReportOperator(task_id="cdr", conn_id="lnk_tv", destination="/tmp/cdr.csv")
    xcom["value"] = {"path": "file:///tmp/cdr.csv", "rows": 3, "report_id": "12cd2374dc", "day": "2026-01-02"}
    connection(monkeypatch, "lnk_tv", "televoips")
    assert CdrConsoleLink().get_link(op, ti_key=KEY) == ""  # no console known: no made-up link
    connection(monkeypatch, "lnk_tv", "televoips", console_url="https://portal.example.com/cdrs/{report_id}?day={day}")
    assert CdrConsoleLink().get_link(op, ti_key=KEY) == "https://portal.example.com/cdrs/12cd2374dc?day=2026-01-02"
    xcom["value"] = {"path": None, "report_id": None}
    assert CdrConsoleLink().get_link(op, ti_key=KEY) == ""


# -- what the operators and the provider declare ----------------------------------------------------
def test_operators_declare_their_console_link() -> None:
    assert [type(link) for link in SendVoiceCampaignOperator.operator_extra_links] == [CampaignConsoleLink]
    assert [type(link) for link in ClickToCallOperator.operator_extra_links] == [ClickToCallConsoleLink]
    assert [type(link) for link in SendSMSOperator.operator_extra_links] == [SmsConsoleLink]
    assert [type(link) for link in DownloadCdrReportOperator.operator_extra_links] == [CdrConsoleLink]
    for link in (CampaignConsoleLink(), ClickToCallConsoleLink(), SmsConsoleLink(), CdrConsoleLink()):
        assert link.name == LINK_NAME
        assert link.xcom_key == f"_link_{type(link).__name__}"


def test_every_vendor_form_has_the_console_url_field() -> None:
    entries = {e["connection-type"]: e for e in provider_info()["connection-types"]}
    for vendor, default in CONSOLES.items():
        assert CONNECTION_TYPES[vendor].console_url == default
        field = entries[vendor]["conn-fields"]["console_url"]
        assert field["label"] == "Console URL"
        assert "format" not in field["schema"]  # not a secret
        assert (default or "no link") in field["description"]


def test_serialized_task_keeps_the_link_as_an_xcom_link() -> None:
    """The api-server never runs the link's code: the serialized task names the XCom the worker wrote."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG(dag_id="links_serialized", schedule=None) as dag:
        campaign_op("velip_default")
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("send")
    assert task.extra_links == [LINK_NAME]
    assert task.operator_extra_link_dict[LINK_NAME].xcom_key == "_link_CampaignConsoleLink"


# -- a real run ---------------------------------------------------------------------------------------
def test_dag_test_run_persists_the_campaign_link(voice_connections, run_dag) -> None:
    """``dag.test()`` ends each task as a worker does (task_runner.finalize): the link's URL is stored
    as the ``_link_CampaignConsoleLink`` XCom of ``send``, which the UI shows."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    voice_connections.state.configure(call_seconds=0.2)
    run = run_dag("example_voice_campaign", conf={"vendor": "velip"})
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}
    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.key, XComModel.value).where(
                XComModel.run_id == run.run_id, XComModel.key.like("_link_%")
            )
        ).all()
    links = {
        (task_id, key): XComModel.deserialize_value(type("X", (), {"value": value})) for task_id, key, value in rows
    }
    assert links == {("send", "_link_CampaignConsoleLink"): "https://vox.velip.com.br"}
