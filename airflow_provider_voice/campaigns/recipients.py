"""Checking a recipient source completely before the first request.

:func:`validate_recipients` reads the whole source once (streamed, constant memory): every number
is parsed to E.164 and checked against the vendor's rules. Any invalid row fails the task with the
row and the reason — unless ``skip_invalid`` is set, in which case invalid rows are counted and
left out. An empty source fails too. The returned :class:`ValidatedRecipients` streams the source
again for the send.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.recipients import InvalidRow, Recipient, RecipientSource

if TYPE_CHECKING:
    from airflow_provider_voice.campaigns.base import CampaignBackend
    from airflow_provider_voice.models.campaign import CampaignSpec

__all__ = ["ValidatedRecipients", "validate_recipients"]


@dataclass
class ValidatedRecipients:
    """A recipient source that passed validation.

    :param source: the :class:`RecipientSource` (read again by :meth:`__iter__`).
    :param valid: recipients that will be sent (before suppression).
    :param invalid: rows left out (only with ``skip_invalid``).
    :param duplicates: repeated numbers left out.
    :param rows: rows read.
    """

    source: RecipientSource
    backend: CampaignBackend[Any]
    spec: CampaignSpec
    valid: int
    invalid: int
    duplicates: int
    rows: int
    skip_invalid: bool = False

    def __iter__(self) -> Iterator[Recipient]:
        for position, recipient in enumerate(self.source, start=1):
            if self.skip_invalid:
                try:
                    self.backend.validate_recipient(self.spec, recipient, position)
                except ValidationError:
                    continue
            yield recipient


def _describe(rows: list[InvalidRow], total: int) -> str:
    shown = "; ".join(f"row {r.line}: {r.value!r} ({r.reason})" for r in rows[:5])
    more = f"; ... {total - 5} more" if total > 5 else ""
    return f"{total} invalid row(s): {shown}{more}. Fix them or set skip_invalid=True"


def validate_recipients(
    recipients: Any,
    backend: CampaignBackend[Any],
    spec: CampaignSpec,
    *,
    default_region: str | None = None,
    number_field: str | None = None,
    name_field: str = "name",
    file_format: str | None = None,
    skip_invalid: bool = False,
) -> ValidatedRecipients:
    """Read ``recipients`` once and check every row; see the module docstring.

    :param recipients: a list (numbers, dicts, ``Recipient``), a CSV/JSON/JSONL path or an
        ``ObjectStoragePath`` (see :class:`RecipientSource`).
    :raises ValidationError: naming the first invalid row(s) and the rule, or the empty source.
    """
    source = RecipientSource(
        recipients,
        default_region=default_region,
        number_field=number_field,
        name_field=name_field,
        file_format=file_format,
    )
    vendor_invalid: list[InvalidRow] = []
    vendor_invalid_count = 0
    valid = 0
    for position, recipient in enumerate(source, start=1):
        try:
            backend.validate_recipient(spec, recipient, position)
        except ValidationError as exc:
            vendor_invalid_count += 1
            if len(vendor_invalid) < 5:
                vendor_invalid.append(InvalidRow(source.report.rows, str(recipient.number), f"{exc.field}: {exc.rule}"))
            continue
        valid += 1
    report = source.report
    invalid_rows = report.invalid[:5] + vendor_invalid
    invalid_total = report.invalid_count + vendor_invalid_count
    if invalid_total and not skip_invalid:
        first = invalid_rows[0]
        raise ValidationError(
            f"recipients[row {first.line}]", first.value, _describe(invalid_rows, invalid_total), vendor=backend.vendor
        )
    if valid == 0:
        raise ValidationError(
            "recipients",
            f"<{report.rows} rows>",
            f"no valid recipient ({report.rows} rows read, {invalid_total} invalid, {report.duplicates} duplicates)",
            vendor=backend.vendor,
        )
    return ValidatedRecipients(
        source=source,
        backend=backend,
        spec=spec,
        valid=valid,
        invalid=invalid_total,
        duplicates=report.duplicates,
        rows=report.rows,
        skip_invalid=skip_invalid,
    )
