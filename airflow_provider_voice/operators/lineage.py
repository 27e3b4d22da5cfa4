"""OpenLineage inputs and outputs of the operators that read recipients and write files.

The OpenLineage provider (``apache-airflow-providers-openlineage``) calls an operator's
``get_openlineage_facets_on_complete(task_instance)`` when the task ends, with the rendered
operator. :class:`~airflow_provider_voice.operators.campaign.SendVoiceCampaignOperator`,
:class:`~airflow_provider_voice.operators.sms.SendSMSOperator`,
:class:`~airflow_provider_voice.operators.outcomes.CollectOutcomesOperator` and
:class:`~airflow_provider_voice.operators.cdr.DownloadCdrReportOperator` answer with
:func:`operator_lineage`: the recipients file and the suppression list they read (inputs), and the
outcome table, SMS results or CDR file they wrote (outputs).

**Names** follow the OpenLineage naming spec (``namespace`` = the datasource, ``name`` = the
dataset in it): a local file is namespace ``file`` and its absolute path; ``s3://bucket/key`` is
``s3://bucket`` and ``key``; ``gs://bucket/key`` (also ``gcs://``) is ``gs://bucket`` and ``key``; any
other URL is ``scheme://host[:port]`` and its path. What could carry a secret is dropped:
``user:password@`` or an Airflow connection id (``s3://aws_default@bucket/x``), the query and the
fragment. Inline recipients or suppression numbers (a list, an XCom value) are no dataset and are
left out, and so is any location that holds a phone number. An outcome table carries its schema
(``schema`` facet: :data:`~airflow_provider_voice.models.outcomes.OUTCOME_COLUMNS`).

The OpenLineage classes are imported when the method is called, never at import: without the
OpenLineage provider (or without the OpenLineage client behind
``airflow.providers.common.compat.openlineage.facet``) the methods return None and the provider
works as before.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from airflow_provider_voice.models.outcomes import OUTCOME_COLUMNS
from airflow_provider_voice.redaction import get_logger, mask_phones
from airflow_provider_voice.storage import is_object_storage, location_uri

__all__ = [
    "DatasetName",
    "dataset_name",
    "openlineage_available",
    "operator_lineage",
    "outcome_table_locations",
]

log = get_logger(__name__)

#: schemes whose authority is a bucket (or container): namespace ``scheme://bucket``, name the key without ``/``
_BUCKET_SCHEMES = {"s3": "s3", "s3a": "s3a", "s3n": "s3n", "gs": "gs", "gcs": "gs", "abfs": "abfs", "abfss": "abfss"}
_TABLE_SUFFIXES = (".csv", ".parquet")


class DatasetName(NamedTuple):
    """An OpenLineage dataset identifier."""

    namespace: str
    name: str


def _classes() -> dict[str, Any] | None:
    """The OpenLineage classes used here, or None when they cannot be imported."""
    try:
        facet = importlib.import_module("airflow.providers.common.compat.openlineage.facet")
        extractors = importlib.import_module("airflow.providers.openlineage.extractors")
    except ImportError:
        return None
    classes = {
        "Dataset": getattr(facet, "Dataset", None),
        "SchemaDatasetFacet": getattr(facet, "SchemaDatasetFacet", None),
        "SchemaDatasetFacetFields": getattr(facet, "SchemaDatasetFacetFields", None),
        "OperatorLineage": getattr(extractors, "OperatorLineage", None),
    }
    # without the OpenLineage client, common.compat gives a no-op function for every class
    if any(not isinstance(cls, type) for cls in classes.values()):
        return None
    return classes


def openlineage_available() -> bool:
    """Whether the OpenLineage provider and client are importable (else the methods return None)."""
    return _classes() is not None


def _location(value: Any) -> str | None:
    """The location string of a file source or destination, or None when ``value`` is not one."""
    if value is None or isinstance(value, (bytes, bytearray, Mapping)):
        url = value.get("url") if isinstance(value, Mapping) else None  # a CDR report handle {id, url, day}
        return str(url) if url else None
    uri = getattr(value, "uri", None)
    if isinstance(uri, str) and not hasattr(value, "open"):  # an Airflow Asset
        return uri
    url = getattr(value, "url", None)
    if isinstance(url, str) and hasattr(value, "http_status"):  # a CdrReport
        return url
    if isinstance(value, str):
        text = value.strip()
        # a path or a URL; a rendered list or mapping (a template of an XCom) is no location
        return text if text and text[0] not in "[{(" else None
    if isinstance(value, os.PathLike) or is_object_storage(value):
        return str(value) if not isinstance(value, os.PathLike) else os.fspath(value)
    return None


def dataset_name(value: Any) -> DatasetName | None:
    """The OpenLineage ``(namespace, name)`` of a file location (see the module docstring).

    :param value: a local path, a ``file:``/``s3://``/``https://``... URL, an ``ObjectStoragePath``, an
        Airflow ``Asset`` or a CDR report handle.
    :returns: None for anything that is not a location (an inline list, None), a location that
        cannot be read as one, or one that holds a phone number.
    """
    text = _location(value)
    if text is None or mask_phones(text) != text:
        return None
    try:
        uri = location_uri(text)
    except Exception:  # a file:// URL naming another host, an empty path...: no dataset
        return None
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    authority = parts.netloc.rsplit("@", 1)[-1]
    path = unquote(parts.path)
    if scheme == "file" or not scheme:
        return DatasetName("file", path) if path else None
    if scheme in _BUCKET_SCHEMES:
        key = path.lstrip("/")
        return DatasetName(f"{_BUCKET_SCHEMES[scheme]}://{authority}", key) if authority and key else None
    if not authority:
        return DatasetName(scheme, path) if path else None
    return DatasetName(f"{scheme}://{authority}", path or "/")


def outcome_table_locations(output: Any, task_instance: Any) -> list[str]:
    """The files of a task's outcome table (CSV and/or Parquet), without opening anything.

    :param output: the task's :class:`~airflow_provider_voice.operators.outcomes.OutcomeOutput`.
    :param task_instance: the finished task instance (its dag, run, task and map index name the
        default location).
    """
    stem = location_uri(output.stem({"ti": task_instance}))
    head, _, name = stem.rpartition("/")
    for suffix in _TABLE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return [f"{head}/{name}.{fmt}" for fmt in output.formats]


def _dataset(classes: dict[str, Any], name: DatasetName, *, table: bool) -> Any:
    facets: dict[str, Any] = {}
    if table:
        fields = [
            classes["SchemaDatasetFacetFields"](name=column, type=kind, description=meaning)
            for column, kind, meaning in OUTCOME_COLUMNS
        ]
        facets["schema"] = classes["SchemaDatasetFacet"](fields=fields)
    return classes["Dataset"](namespace=name.namespace, name=name.name, facets=facets)


def _datasets(classes: dict[str, Any], values: Iterable[Any], *, table: bool = False) -> list[Any]:
    out: list[Any] = []
    seen: set[DatasetName] = set()
    for value in values:
        try:
            name = dataset_name(value)
        except Exception as exc:  # lineage never fails a task
            log.debug("no OpenLineage dataset for a %s: %s", type(value).__name__, exc)
            continue
        if name is not None and name not in seen:
            seen.add(name)
            out.append(_dataset(classes, name, table=table))
    return out


def operator_lineage(*, inputs: Iterable[Any] = (), outputs: Iterable[Any] = (), tables: Iterable[Any] = ()) -> Any:
    """An ``OperatorLineage`` of the locations a task read and wrote; None without OpenLineage.

    :param inputs: what the task read (recipients, suppression list, report URL); anything that
        is not a location (an inline list, None) is left out.
    :param outputs: files the task wrote (SMS results, CDR file).
    :param tables: outcome table files the task wrote (outputs with the table's schema facet).
    """
    classes = _classes()
    if classes is None:
        return None
    return classes["OperatorLineage"](
        inputs=_datasets(classes, inputs),
        outputs=_datasets(classes, outputs) + _datasets(classes, tables, table=True),
    )
