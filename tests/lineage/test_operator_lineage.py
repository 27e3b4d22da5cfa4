"""OpenLineage facets of the operators that read recipients and write files: the inputs (recipients
file or URL, suppression list, CDR report) and outputs (outcome tables, SMS results, CDR file), named
by the OpenLineage naming spec; None when the OpenLineage provider is not installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import Asset, ObjectStoragePath

from airflow_provider_voice.models.outcomes import OUTCOME_COLUMNS
from airflow_provider_voice.operators import lineage
from airflow_provider_voice.operators.campaign import SendVoiceCampaignOperator
from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator
from airflow_provider_voice.operators.lineage import DatasetName, dataset_name, operator_lineage
from airflow_provider_voice.operators.outcomes import CollectOutcomesOperator
from airflow_provider_voice.operators.sms import SendSMSOperator

TI = SimpleNamespace(dag_id="lineage_dag", run_id="manual__2026-01-02", task_id="send", map_index=-1, try_number=1)
HANDLE = {"vendor": "velip", "conn_id": "velip_default", "name": "c", "campaign_ids": ["cp1"]}

needs_openlineage = pytest.mark.skipif(
    not lineage.openlineage_available(), reason="apache-airflow-providers-openlineage is not installed"
)


def names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def default_table(task_id: str = "send") -> str:
    home = os.environ["AIRFLOW_HOME"]
    return f"{home}/voice/outcomes/lineage_dag/manual__2026-01-02/{task_id}"


# -- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/data/people.csv", ("file", "/data/people.csv")),
        ("file:///data/people%20list.csv", ("file", "/data/people list.csv")),
        (Path("/data/x.json"), ("file", "/data/x.json")),
        (ObjectStoragePath("file:///data/x.jsonl"), ("file", "/data/x.jsonl")),
        ("s3://bucket/in/people.csv", ("s3://bucket", "in/people.csv")),
        # the Airflow connection id (or user:password@) never reaches a name
        ("s3://aws_default@bucket/in/people.csv", ("s3://bucket", "in/people.csv")),
        ("gs://bucket/a/b.parquet", ("gs://bucket", "a/b.parquet")),
        ("gcs://bucket/a/b.parquet", ("gs://bucket", "a/b.parquet")),
        # query and fragment dropped (they may carry a token)
        ("https://files.example.com:8443/p/people.csv?sig=abc#x", ("https://files.example.com:8443", "/p/people.csv")),
        ("https://me:pw@files.example.com/p.csv", ("https://files.example.com", "/p.csv")),
        (Asset(name="optouts", uri="s3://bucket/optouts.txt"), ("s3://bucket", "optouts.txt")),
        (
            {
                "id": "12cd",
                "url": "https://api.televoips.com/reports/cdrs/12cd/cdrs_2026-01-01.csv",
                "day": "2026-01-01",
            },
            ("https://api.televoips.com", "/reports/cdrs/12cd/cdrs_2026-01-01.csv"),
        ),
    ],
)
def test_dataset_names_follow_the_openlineage_naming_spec(value: Any, expected: tuple[str, str]) -> None:
    assert dataset_name(value) == DatasetName(*expected)


@pytest.mark.parametrize(
    "value",
    [
        None,
        ["+33612345678", "+33612345679"],
        ("+33612345678",),
        {"number": "+33612345678"},
        "+33612345678",
        "['+33612345678']",
        "",
        "s3://bucket",
        "file://otherhost/x.csv",
    ],
)
def test_inline_numbers_and_non_locations_are_no_dataset(value: Any) -> None:
    assert dataset_name(value) is None


# -- per operator -------------------------------------------------------------------------------------
@needs_openlineage
def test_campaign_reads_recipients_and_suppression_and_writes_its_outcome_table(tmp_path: Path) -> None:
    people, stop = tmp_path / "people.csv", tmp_path / "stop.txt"
    op = SendVoiceCampaignOperator(
        task_id="send", conn_id="velip_default", recipients=str(people), campaign_name="c", message="hi",
        suppression=ObjectStoragePath(stop.as_uri()), wait_for_completion=True,
        outcomes_path="s3://aws_default@voice/outcomes/run1",
    )  # fmt: skip
    facets = op.get_openlineage_facets_on_complete(TI)
    assert names(facets.inputs) == [("file", str(people)), ("file", str(stop))]
    assert names(facets.outputs) == [("s3://voice", "outcomes/run1.csv"), ("s3://voice", "outcomes/run1.parquet")]
    for output in facets.outputs:
        assert [f.name for f in output.facets["schema"].fields] == [c[0] for c in OUTCOME_COLUMNS]
    assert not facets.inputs[0].facets  # an input file's schema is not known


@needs_openlineage
def test_campaign_default_outcome_location_and_no_table_without_waiting(tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    kwargs: dict[str, Any] = {"task_id": "send", "conn_id": "velip_default", "recipients": str(people),
                              "campaign_name": "c", "message": "hi"}  # fmt: skip
    waiting = SendVoiceCampaignOperator(**kwargs, wait_for_completion=True, outcomes_format="parquet")
    assert names(waiting.get_openlineage_facets_on_complete(TI).outputs) == [("file", default_table() + ".parquet")]
    sent_only = SendVoiceCampaignOperator(**kwargs, suppression=["+33612345678"])
    facets = sent_only.get_openlineage_facets_on_complete(TI)
    assert names(facets.inputs) == [("file", str(people))]  # the inline suppression numbers are no dataset
    assert facets.outputs == []


@needs_openlineage
def test_campaign_with_inline_recipients_reports_no_number() -> None:
    op = SendVoiceCampaignOperator(
        task_id="send", conn_id="velip_default", recipients=["+33612345678"], campaign_name="c", message="hi"
    )
    facets = op.get_openlineage_facets_on_complete(TI)
    assert facets.inputs == [] and facets.outputs == []


@needs_openlineage
def test_sms_reads_recipients_and_writes_results_and_outcomes() -> None:
    op = SendSMSOperator(
        task_id="sms", conn_id="televoips_default", recipients="gs://lists/sms/people.jsonl", text="hi",
        sender="+15551239999", suppression=Asset(name="optouts", uri="s3://voice/optouts.txt"),
        results_path="s3://aws_default@voice/sms/results.csv", outcomes_path="/srv/outcomes/sms.csv",
    )  # fmt: skip
    facets = op.get_openlineage_facets_on_complete(TI)
    assert names(facets.inputs) == [("gs://lists", "sms/people.jsonl"), ("s3://voice", "optouts.txt")]
    assert names(facets.outputs) == [
        ("s3://voice", "sms/results.csv"),
        ("file", "/srv/outcomes/sms.csv"),
        ("file", "/srv/outcomes/sms.parquet"),
    ]
    assert "schema" not in facets.outputs[0].facets and "schema" in facets.outputs[1].facets


@needs_openlineage
def test_sms_without_files_has_no_output() -> None:
    op = SendSMSOperator(
        task_id="sms", conn_id="televoips_default", recipients="/srv/in.csv", text="hi", sender="+15551239999"
    )
    facets = op.get_openlineage_facets_on_complete(TI)
    assert names(facets.inputs) == [("file", "/srv/in.csv")] and facets.outputs == []


@needs_openlineage
def test_collect_outcomes_reads_recipients_and_writes_the_table() -> None:
    op = CollectOutcomesOperator(
        task_id="outcomes", conn_id="velip_default", campaign=HANDLE, recipients="s3://voice/in/people.csv",
        suppression="/srv/stop.txt",
    )  # fmt: skip
    facets = op.get_openlineage_facets_on_complete(SimpleNamespace(**{**vars(TI), "task_id": "outcomes"}))
    assert names(facets.inputs) == [("s3://voice", "in/people.csv"), ("file", "/srv/stop.txt")]
    assert names(facets.outputs) == [
        ("file", default_table("outcomes") + ".csv"),
        ("file", default_table("outcomes") + ".parquet"),
    ]


@needs_openlineage
def test_mapped_task_default_table_names_its_map_index() -> None:
    op = CollectOutcomesOperator(task_id="outcomes", conn_id="velip_default", campaign=HANDLE, recipients="/in.csv")
    ti = SimpleNamespace(**{**vars(TI), "task_id": "outcomes", "map_index": 3})
    assert names(op.get_openlineage_facets_on_complete(ti).outputs)[0] == ("file", default_table("outcomes.3") + ".csv")


@needs_openlineage
def test_cdr_download_reads_the_report_and_writes_the_file() -> None:
    report = {
        "id": "12cd",
        "url": "https://api.televoips.com/reports/cdrs/12cd/cdrs_2026-01-01.csv",
        "day": "2026-01-01",
    }
    op = DownloadCdrReportOperator(
        task_id="cdr", destination="s3://aws_default@voice/cdrs/2026-01-01.csv", report=report
    )
    facets = op.get_openlineage_facets_on_complete(TI)
    assert names(facets.inputs) == [("https://api.televoips.com", "/reports/cdrs/12cd/cdrs_2026-01-01.csv")]
    assert names(facets.outputs) == [("s3://voice", "cdrs/2026-01-01.csv")]
    waited = DownloadCdrReportOperator(task_id="cdr", destination="/srv/cdrs/day.csv")  # asks for the report itself
    facets = waited.get_openlineage_facets_on_complete(TI)
    assert facets.inputs == [] and names(facets.outputs) == [("file", "/srv/cdrs/day.csv")]


@needs_openlineage
def test_the_openlineage_extractor_takes_the_facets(tmp_path: Path) -> None:
    """The OpenLineage provider's own extractor for operators with the method accepts what it returns."""
    from airflow.providers.openlineage.extractors.base import DefaultExtractor

    op = SendVoiceCampaignOperator(
        task_id="send", conn_id="velip_default", recipients=str(tmp_path / "p.csv"), campaign_name="c",
        message="hi", wait_for_completion=True, outcomes_path="s3://voice/o/t",
    )  # fmt: skip
    extracted = DefaultExtractor(op).extract_on_complete(TI)
    assert extracted is not None
    assert names(extracted.inputs) == [("file", str(tmp_path / "p.csv"))]
    assert names(extracted.outputs) == [("s3://voice", "o/t.csv"), ("s3://voice", "o/t.parquet")]


# -- without OpenLineage ------------------------------------------------------------------------------
def test_returns_none_without_the_openlineage_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)  # import -> ImportError
    assert not lineage.openlineage_available()
    op = SendVoiceCampaignOperator(
        task_id="send", conn_id="velip_default", recipients="/srv/in.csv", campaign_name="c", message="hi",
        wait_for_completion=True,
    )  # fmt: skip
    assert op.get_openlineage_facets_on_complete(TI) is None
    sms = SendSMSOperator(
        task_id="sms", conn_id="televoips_default", recipients="/in.csv", text="hi", sender="+15551239999"
    )
    assert sms.get_openlineage_facets_on_complete(TI) is None
    cdr = DownloadCdrReportOperator(task_id="cdr", destination="/srv/cdrs/day.csv")
    assert cdr.get_openlineage_facets_on_complete(TI) is None
    collect = CollectOutcomesOperator(
        task_id="outcomes", conn_id="velip_default", campaign=HANDLE, recipients="/in.csv"
    )
    assert collect.get_openlineage_facets_on_complete(TI) is None


def test_returns_none_without_the_openlineage_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """``common.compat`` hands out a no-op function for every class when the client is missing."""
    import airflow.providers.common.compat.openlineage.facet as facet

    monkeypatch.setattr(facet, "Dataset", facet.create_no_op)
    assert operator_lineage(inputs=["/srv/in.csv"]) is None
