"""Suppression lists: numbers that must not be contacted (do-not-call, opt-outs, complaints).

Given to the delivery engine, a :class:`SuppressionList` removes matching items before framing
and counts them (``suppressed`` in every report). Sources: a list of numbers, a local file or
``file://`` URL, an ``ObjectStoragePath`` / object-storage URL, or an Airflow ``Asset`` (its URI
is read). Files: ``.txt`` (one number per line; ``#`` comments), ``.csv``/``.tsv`` (delimiter
``,`` ``;`` tab or ``|`` sniffed; a header or none; the column named ``number``, ``phone``,
``msisdn``, ``mobile``, ``tel``... or the only column), ``.json`` (a list), ``.jsonl``.

**A do-not-call list is never loaded in part, and never silently empty.** Loading fails with a
:class:`~airflow_provider_voice.errors.ValidationError` (``field="suppression"``, ``value`` = the
path) when:

* the file does not exist (unless ``missing_ok=True``: then a WARNING says nothing is suppressed),
  is a directory, is empty (0 bytes), or cannot be read (not text in ``encoding``, broken CSV
  quoting, broken JSON; the line is named);
* any entry is not a valid number: the error names the file, the line, the value and why
  (``national format (no +country code): set default_region``...), unless ``skip_invalid=True``
  (each bad line then logged at WARNING);
* the source has entries but yields no number at all.

A CSV holding only its header, a ``.txt`` holding only comments, or ``[]`` is an explicitly empty
list: it loads, with a WARNING.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.recipients import (
    InvalidRow,
    MissingSourceError,
    RecipientReport,
    RecipientSource,
    mask_value,
)
from airflow_provider_voice.redaction import get_logger

__all__ = ["SuppressionList"]

log = get_logger(__name__)

#: bad entries named in the error message / logged with ``skip_invalid``
SHOWN_INVALID = 10


@dataclass
class SuppressionList:
    """A set of E.164 numbers to skip.

    :param numbers: the numbers (E.164).
    :param invalid: entries of the source that are not valid numbers (only with ``skip_invalid=True``).
    :param source: a description of where the list came from (for logs).
    :param invalid_rows: the first of those entries (line, value, reason).
    :param rows: entries read (a file's header, blank and comment lines are not entries).
    :param missing: the file did not exist and ``missing_ok=True`` made that an empty list.
    """

    numbers: frozenset[str] = field(default_factory=frozenset)
    invalid: int = 0
    source: str = "inline list"
    invalid_rows: list[InvalidRow] = field(default_factory=list)
    rows: int = 0
    missing: bool = False

    def __contains__(self, key: object) -> bool:
        return key in self.numbers

    def __len__(self) -> int:
        return len(self.numbers)

    @classmethod
    def load(
        cls,
        source: Any,
        *,
        default_region: str | None = None,
        missing_ok: bool = False,
        skip_invalid: bool = False,
        encoding: str = "utf-8-sig",
        delimiter: str | None = None,
        number_field: str | None = None,
        file_format: str | None = None,
        field: str = "suppression",
    ) -> SuppressionList:
        """Read a suppression source completely (see the module docstring). ``None`` gives an empty list.

        :param source: a list of numbers (or ``{"number": ...}`` rows), a path, a URL, an
            ``ObjectStoragePath``, an ``Asset``, or a :class:`SuppressionList` (returned as is).
        :param default_region: ISO region of numbers written without a country code (``"FR"``).
        :param missing_ok: a file that does not exist (yet) is an empty list, with a WARNING;
            default False: an error, as a mistyped path would otherwise suppress nothing.
        :param skip_invalid: leave out entries that are not valid numbers (each one logged at
            WARNING) instead of failing.
        :param encoding: the file's text encoding (default ``utf-8-sig``: UTF-8, with or without BOM).
        :param delimiter: the CSV delimiter (sniffed among ``,`` ``;`` tab ``|`` when omitted).
        :param number_field: the CSV column / JSON key of the number (detected when omitted).
        :param file_format: ``csv``, ``txt``, ``json`` or ``jsonl`` (from the suffix when omitted).
        :param field: the argument name used in errors.
        :raises ValidationError: see the module docstring.
        """
        if source is None:
            return cls()
        if isinstance(source, SuppressionList):
            return source
        source, name = _resolve_source(source, field)
        reader = RecipientSource(
            source,
            default_region=default_region,
            number_field=number_field,
            file_format=file_format,
            keep_invalid=SHOWN_INVALID,
            encoding=encoding,
            delimiter=delimiter,
            field=field,
            strict_numbers=False,  # a do-not-call entry only has to be a possible number (opt-outs)
        )
        try:
            numbers = frozenset(str(r.number) for r in reader)
        except MissingSourceError:
            if not missing_ok:
                raise
            log.warning(
                "%s list %s does not exist: nothing is suppressed (missing_ok / suppression_missing_ok=True)",
                field,
                name,
            )
            return cls(frozenset(), 0, name, missing=True)
        report = reader.report
        _check_invalid_entries(report, field, name, skip_invalid=skip_invalid)
        _check_and_log_numbers(numbers, report, field, name)
        return cls(numbers, report.invalid_count, name, invalid_rows=list(report.invalid), rows=report.rows)


def _resolve_source(source: Any, field: str) -> tuple[Any, str]:
    """The source to read (an ``Asset`` becomes its URI) and its name for errors and logs.

    :param source: what :meth:`SuppressionList.load` was given (not None, not a :class:`SuppressionList`).
    :param field: the argument name used in errors.
    :raises ValidationError: an empty path, or not a list, a path, an object-storage path or an ``Asset``.
    """
    uri = getattr(source, "uri", None)
    if uri is not None and not hasattr(source, "open"):  # an Airflow Asset
        source = uri
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "open"):
        if isinstance(source, str) and not source.strip():
            raise ValidationError(
                field, source, "an empty path (a template that rendered to nothing?); pass None for no list"
            )
        name = str(source) if isinstance(source, (str, os.PathLike)) else str(getattr(source, "path", source))
    elif isinstance(source, Mapping) or isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise ValidationError(field, source, "a list of numbers, a file path, an object-storage path or an Asset")
    else:
        name = "inline list"
    return source, name


def _check_invalid_entries(report: RecipientReport, field: str, name: str, *, skip_invalid: bool) -> None:
    """Fail when some entries are not valid numbers (a list is never loaded in part), unless ``skip_invalid``.

    :param report: the reader's report (its invalid entries, rows, position word).
    :param field: the argument name used in errors and logs.
    :param name: the list's name (the error's value).
    :param skip_invalid: log the invalid entries at WARNING instead of failing.
    :raises ValidationError: naming the first invalid entries, with ``skip_invalid`` False.
    """
    if not report.invalid_count:
        return
    where = report.position
    shown = "; ".join(f"{where} {r.line}: {mask_value(r.value)!r}: {r.reason}" for r in report.invalid)
    more = report.invalid_count - len(report.invalid)
    detail = f"{report.invalid_count} of {report.rows} entries are not valid numbers: {shown}" + (
        f"; and {more} more" if more > 0 else ""
    )
    if not skip_invalid:
        raise ValidationError(
            field,
            name,
            f"{detail}. A do-not-call list is never loaded in part: fix these entries, set "
            "default_region for national numbers, or pass skip_invalid=True",
        )
    log.warning("%s list %s: %s (left out: skip_invalid=True)", field, name, detail)


def _check_and_log_numbers(numbers: frozenset[str], report: RecipientReport, field: str, name: str) -> None:
    """Fail when the entries yielded no number at all; log what was loaded (WARNING when nothing).

    :param numbers: the numbers read.
    :param report: the reader's report (rows, duplicates, layout).
    :param field: the argument name used in errors and logs.
    :param name: the list's name (the error's value).
    :raises ValidationError: the source has entries but no valid number.
    """
    if not numbers and report.rows:
        raise ValidationError(field, name, f"{report.rows} entries but no valid number ({report.layout or 'list'})")
    if not numbers:
        log.warning(
            "%s list %s holds no numbers (%s): nothing is suppressed", field, name, report.layout or "empty list"
        )
    else:
        log.info(
            "%s list %s: %d numbers (%d entries, %d duplicates%s)",
            field, name, len(numbers), report.rows, report.duplicates,
            f", {report.layout}" if report.layout else "",
        )  # fmt: skip
