"""Recipients and the streaming recipient source (list, CSV, JSON, JSONL, object storage)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import InvalidPhoneNumber, PhoneNumber

__all__ = ["InvalidRow", "Recipient", "RecipientReport", "RecipientSource"]

#: column/key names recognised as the phone number when ``number_field`` is not given
NUMBER_FIELDS = ("number", "phone", "phone_number", "msisdn", "mobile", "dest", "to")
FILE_FORMATS = ("csv", "json", "jsonl")


class Recipient(BaseModel):
    """One person to reach: a valid number, an optional name and per-recipient variables.

    ``variables`` fill vendor template slots (Octopush ``param1..5``, Velip ``extra1..3``,
    Kaleyra ``meta``) and SMS text templates.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: PhoneNumber
    name: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class InvalidRow:
    """A row that could not become a recipient: where (1-based line/item), what, and why."""

    line: int
    value: Any
    reason: str


@dataclass
class RecipientReport:
    """Counts of a recipient source after iteration: nothing is dropped without being counted."""

    rows: int = 0
    valid: int = 0
    duplicates: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    invalid_count: int = 0

    def summary(self) -> dict[str, int]:
        return {"rows": self.rows, "valid": self.valid, "duplicates": self.duplicates, "invalid": self.invalid_count}


class RecipientSource:
    """Stream recipients from a list, a CSV/JSON/JSONL file or an object-storage path.

    Numbers are parsed to E.164 (with ``default_region`` for national forms), duplicates are
    skipped and counted, invalid rows are skipped and reported with their line number in
    :attr:`report` (``invalid`` keeps the first ``keep_invalid`` of them). Iterating twice
    re-reads the source.

    :param source: a list/iterable of numbers, dicts or :class:`Recipient`; a local path
        (``str``/``Path``); an ``ObjectStoragePath`` or any object with ``.open()``; a
        ``scheme://`` URL (opened through Airflow's ``ObjectStoragePath``).
    :param default_region: ISO region for numbers written without a country code (``"IN"``, ``"FR"``).
    :param number_field: column or key holding the number (auto-detected from
        ``number, phone, phone_number, msisdn, mobile, dest, to`` when omitted).
    :param name_field: column or key holding the person's name.
    :param file_format: ``csv``, ``json`` or ``jsonl``; guessed from the file suffix when omitted.
    :param deduplicate: skip repeated numbers (default True).
    """

    def __init__(
        self,
        source: Any,
        *,
        default_region: str | None = None,
        number_field: str | None = None,
        name_field: str = "name",
        file_format: str | None = None,
        deduplicate: bool = True,
        keep_invalid: int = 1000,
    ) -> None:
        if source is None:
            raise ValidationError("recipients", source, "give a list of numbers, a file path or an object-storage path")
        if file_format is not None and file_format not in FILE_FORMATS:
            raise ValidationError("file_format", file_format, f"one of {', '.join(FILE_FORMATS)}")
        self.source = source
        self.default_region = default_region
        self.number_field = number_field
        self.name_field = name_field
        self.file_format = file_format
        self.deduplicate = deduplicate
        self.keep_invalid = keep_invalid
        self.report = RecipientReport()

    # -- iteration ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Recipient]:
        self.report = report = RecipientReport()
        seen: set[str] = set()
        for line, raw in self._rows():
            report.rows += 1
            try:
                recipient = self._recipient(raw)
            except (InvalidPhoneNumber, ValidationError) as exc:
                report.invalid_count += 1
                if len(report.invalid) < self.keep_invalid:
                    report.invalid.append(InvalidRow(line, getattr(exc, "value", raw), getattr(exc, "rule", str(exc))))
                continue
            if self.deduplicate:
                if recipient.number in seen:
                    report.duplicates += 1
                    continue
                seen.add(recipient.number)
            report.valid += 1
            yield recipient

    def collect(self) -> list[Recipient]:
        """Read the whole source into a list (the report is filled)."""
        return list(self)

    def _recipient(self, raw: Any) -> Recipient:
        if isinstance(raw, Recipient):
            return raw
        if isinstance(raw, Mapping):
            return self._from_mapping(raw)
        return Recipient(number=PhoneNumber.parse(raw, self.default_region))

    def _from_mapping(self, raw: Mapping[str, Any]) -> Recipient:
        key = self.number_field or next((k for k in NUMBER_FIELDS if k in raw), None)
        if key is None or raw.get(key) in (None, ""):
            wanted = self.number_field or " or ".join(NUMBER_FIELDS)
            raise ValidationError("number", dict(raw), f"row has no {wanted} value")
        number = PhoneNumber.parse(raw[key], self.default_region)
        name = raw.get(self.name_field) or None
        nested = raw.get("variables")
        variables = {str(k): str(v) for k, v in nested.items()} if isinstance(nested, Mapping) else {}
        for k, v in raw.items():
            if k not in (key, self.name_field, "variables") and v not in (None, ""):
                variables[str(k)] = str(v)
        return Recipient(number=number, name=None if name is None else str(name), variables=variables)

    # -- reading ----------------------------------------------------------------------------
    def _rows(self) -> Iterator[tuple[int, Any]]:
        source = self.source
        if isinstance(source, (str, Path)) or hasattr(source, "open"):
            yield from self._file_rows(source)
        elif isinstance(source, Mapping):
            raise ValidationError("recipients", "<mapping>", "give a list of numbers/rows, not a single mapping")
        elif isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
            yield from enumerate(source, start=1)
        else:
            raise ValidationError("recipients", source, "give a list of numbers, a file path or an object-storage path")

    def _file_rows(self, source: Any) -> Iterator[tuple[int, Any]]:
        name = str(getattr(source, "path", source))
        fmt = self.file_format or _guess_format(name)
        with _open_text(source) as handle:
            if fmt == "csv":
                reader = csv.DictReader(handle)
                for row in reader:
                    yield (
                        reader.line_num,
                        {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k},
                    )
            elif fmt == "jsonl":
                for line_no, line in enumerate(handle, start=1):
                    if line.strip():
                        try:
                            yield line_no, json.loads(line)
                        except json.JSONDecodeError as exc:
                            yield line_no, _Unreadable(f"not JSON: {exc.msg}", line.strip())
            else:
                payload = json.load(handle)
                items = payload.get("recipients", payload.get("data")) if isinstance(payload, dict) else payload
                if not isinstance(items, list):
                    raise ValidationError("recipients", name, 'JSON file must hold a list (or {"recipients": [...]})')
                yield from enumerate(items, start=1)


class _Unreadable(Mapping[str, Any]):
    """A JSONL line that is not JSON: fails number detection with a clear reason."""

    def __init__(self, reason: str, text: str) -> None:
        self.reason, self.text = reason, text

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _guess_format(name: str) -> str:
    lowered = name.lower()
    for suffix, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json")):
        if lowered.endswith(suffix):
            return fmt
    raise ValidationError("recipients", name, "file must end in .csv, .json, .jsonl or .ndjson (or pass file_format)")


def _open_text(source: Any) -> IO[str]:
    if isinstance(source, str) and "://" in source and not source.startswith("file://"):
        from airflow.sdk import ObjectStoragePath  # only when an object-storage URL is given

        source = ObjectStoragePath(source)
    elif isinstance(source, str):
        source = Path(source.removeprefix("file://"))
    if isinstance(source, Path):
        if not source.exists():
            raise ValidationError("recipients", str(source), "file does not exist")
        return source.open("r", encoding="utf-8-sig", newline="")
    handle = source.open("rb")
    return io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
