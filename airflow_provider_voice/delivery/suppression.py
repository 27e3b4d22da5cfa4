"""Suppression lists: numbers that must not be contacted (do-not-call, opt-outs, complaints).

Given to the delivery engine, a :class:`SuppressionList` removes matching items before framing
and counts them (``suppressed`` in every report). Sources: a list of numbers, a local file or
``file://`` URL, an ``ObjectStoragePath`` / object-storage URL, or an Airflow ``Asset`` (its URI
is read). Files: ``.txt`` (one number per line; ``#`` comments), ``.csv`` (column ``number``,
``phone``, ``msisdn``... auto-detected), ``.json`` (a list), ``.jsonl``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import InvalidPhoneNumber, PhoneNumber
from airflow_provider_voice.models.recipients import RecipientSource

__all__ = ["SuppressionList"]


@dataclass
class SuppressionList:
    """A set of E.164 numbers to skip.

    :param numbers: the numbers (E.164).
    :param invalid: entries of the source that are not valid numbers (ignored, counted).
    :param source: a description of where the list came from (for logs).
    """

    numbers: frozenset[str] = field(default_factory=frozenset)
    invalid: int = 0
    source: str = "inline list"

    def __contains__(self, key: object) -> bool:
        return key in self.numbers

    def __len__(self) -> int:
        return len(self.numbers)

    @classmethod
    def load(cls, source: Any, *, default_region: str | None = None) -> SuppressionList:
        """Read a suppression source (see the module docstring). ``None`` gives an empty list."""
        if source is None:
            return cls()
        if isinstance(source, SuppressionList):
            return source
        uri = getattr(source, "uri", None)
        if uri is not None and not hasattr(source, "open"):  # an Airflow Asset
            source = uri
        if isinstance(source, (str, Path)) or hasattr(source, "open"):
            name = str(getattr(source, "path", source))
            if name.lower().endswith(".txt"):
                return cls._from_lines(_read_text(source), default_region, name)
            reader = RecipientSource(source, default_region=default_region)
            numbers = frozenset(str(r.number) for r in reader)
            return cls(numbers, reader.report.invalid_count, name)
        if isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
            return cls._from_values(source, default_region, "inline list")
        raise ValidationError(
            "suppression", source, "a list of numbers, a file path, an object-storage path or an Asset"
        )

    @classmethod
    def _from_values(cls, values: Iterable[Any], default_region: str | None, name: str) -> SuppressionList:
        numbers: set[str] = set()
        invalid = 0
        for value in values:
            raw = value.get("number", value.get("phone")) if isinstance(value, dict) else value
            try:
                numbers.add(str(PhoneNumber.parse(raw, default_region)))
            except InvalidPhoneNumber:
                invalid += 1
        return cls(frozenset(numbers), invalid, name)

    @classmethod
    def _from_lines(cls, text: str, default_region: str | None, name: str) -> SuppressionList:
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return cls._from_values((line for line in lines if line), default_region, name)


def _read_text(source: Any) -> str:
    if isinstance(source, str) and "://" in source and not source.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        source = ObjectStoragePath(source)
    elif isinstance(source, str):
        source = Path(source.removeprefix("file://"))
    if isinstance(source, Path):
        if not source.exists():
            raise ValidationError("suppression", str(source), "file does not exist")
        return source.read_text(encoding="utf-8-sig")
    with source.open("rb") as handle:
        return io.TextIOWrapper(handle, encoding="utf-8-sig").read()
