"""Block or unblock numbers: Kaleyra blacklist (``method=block``) or TeleVoIPs opt-outs (``POST /unsubscribe``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Literal

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.models.recipients import RecipientSource
from airflow_provider_voice.operators.base import VoiceOperator
from airflow_provider_voice.redaction import get_logger, mask_phone, redact
from airflow_provider_voice.storage import describe_destination, open_atomic, resolve_destination

__all__ = ["BlacklistNumbersOperator", "read_numbers", "update_number_file"]

log = get_logger(__name__)
ACTIONS = ("block", "unblock")
SHOWN_INVALID = 5


def read_numbers(
    source: Any,
    *,
    default_region: str | None = None,
    number_field: str | None = None,
    on_invalid: Literal["fail", "skip"] = "fail",
    field: str = "numbers",
) -> tuple[list[PhoneNumber], dict[str, int]]:
    """Every distinct number of ``source`` (a list, an XCom value, a CSV/JSON/JSONL file or
    object-storage path), read before anything is sent. Any *possible* number is accepted (a
    blacklist or opt-out must take a number the vendor reported, e.g. TeleVoIPs' ``19876543210``).

    With ``on_invalid="fail"`` (default) one unreadable number raises :class:`ValidationError`
    naming the first ones and their line/position; with ``"skip"`` they are skipped and counted.
    Returns the numbers and the source report (``rows``, ``valid``, ``duplicates``, ``invalid``).
    """
    if on_invalid not in ("fail", "skip"):
        raise ValidationError("on_invalid", on_invalid, "'fail' or 'skip'")
    if isinstance(source, int) and not isinstance(source, bool):
        source = [source]
    elif isinstance(source, str) and not _looks_like_file(source):
        source = [part for part in source.split(",") if part.strip()]  # "9988776655,9876543210"
    reader = RecipientSource(  # blacklists and opt-outs take any possible number (one the vendor reported)
        source,
        default_region=default_region,
        number_field=number_field,
        keep_invalid=SHOWN_INVALID,
        strict_numbers=False,
    )
    numbers = [r.number for r in reader]
    report = reader.report.summary()
    if reader.report.invalid_count and on_invalid == "fail":
        shown = "; ".join(f"#{row.line} {row.value!r}: {row.reason}" for row in reader.report.invalid)
        more = reader.report.invalid_count - len(reader.report.invalid)
        raise ValidationError(
            field,
            f"<{reader.report.invalid_count} invalid of {reader.report.rows}>",
            f"every number must be valid (nothing was sent): {shown}"
            + (f"; and {more} more" if more > 0 else "")
            + " (on_invalid='skip' sends to the valid ones)",
        )
    return numbers, report


def _looks_like_file(text: str) -> bool:
    lowered = text.strip().lower()
    return "://" in lowered or lowered.endswith((".csv", ".json", ".jsonl", ".ndjson"))


def update_number_file(destination: Any, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> int:
    """Merge numbers into a one-column CSV (``number``) kept as a suppression list; returns its size.

    The file is read if it exists, ``add`` is appended (no duplicates), ``remove`` taken out, and
    the result written atomically (a reader never sees half a file).
    """
    path = resolve_destination(destination)
    current: list[str] = []
    if path.exists():
        current = [
            str(r.number) for r in RecipientSource(path, number_field="number", file_format="csv", strict_numbers=False)
        ]
    merged = list(dict.fromkeys([*current, *add]))
    dropped = set(remove)
    merged = [n for n in merged if n not in dropped]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number"])
    writer.writerows([n] for n in merged)
    with open_atomic(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))
    return len(merged)


class BlacklistNumbersOperator(VoiceOperator):
    """Block (or unblock) phone numbers on the connection's vendor and report what changed.

    * **Kaleyra**: ``method=block`` with the numbers comma-separated (100 per request);
      ``action="unblock"`` sends ``action=delete``. Numbers without a country code are Indian.
    * **TeleVoIPs**: one ``POST /unsubscribe`` per number (``from`` = the person, ``to`` =
      ``owned_number``, one of your numbers); the person then receives nothing from any number of
      the account. TeleVoIPs cannot unblock. Numbers without a country code are North American.

    Every number is validated before anything is sent. Numbers may come from a list, an XCom
    (``numbers=other_task.output``) or a CSV/JSON/JSONL file or object-storage path.

    :param conn_id: a Kaleyra or TeleVoIPs connection.
    :param numbers: the numbers (list, XCom, path or URL). Templated.
    :param action: ``block`` or ``unblock``.
    :param owned_number: TeleVoIPs only: the account number the opt-out is recorded against. Templated.
    :param default_region: region of numbers written without a country code.
    :param number_field: column/key with the number in files and dict rows (auto-detected otherwise).
    :param on_invalid: ``fail`` (default: nothing is sent if one number is invalid) or ``skip``.
    :param suppression_file: a CSV (``number`` column; local path, URL or ``ObjectStoragePath``)
        updated with **every** number asked to be blocked — also those the vendor refused, so a
        person who opted out is suppressed by this provider even when the vendor did not record
        it — and without those unblocked: pass it as the ``suppression`` of the SMS and campaign
        operators. Templated.
    :param fail_on_refusal: fail the task (after the suppression file was updated) when the
        vendor refused any number; default True. ``False`` only reports them in XCom ``refused``.

    XCom: ``{"action", "vendor", "requested", "changed", "failed", "requests", "invalid",
    "duplicates", "refused": [{"number", "error"}...], "suppression_file", "suppression_size"}``.
    """

    template_fields: Sequence[str] = ("conn_id", "numbers", "owned_number", "suppression_file")
    ui_color = "#f2e6e6"

    def __init__(
        self,
        *,
        conn_id: str,
        numbers: Any,
        action: Literal["block", "unblock"] = "block",
        owned_number: str | None = None,
        default_region: str | None = None,
        number_field: str | None = None,
        on_invalid: Literal["fail", "skip"] = "fail",
        suppression_file: Any = None,
        fail_on_refusal: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if action not in ACTIONS:
            raise ValidationError("action", action, "'block' or 'unblock'")
        if on_invalid not in ("fail", "skip"):
            raise ValidationError("on_invalid", on_invalid, "'fail' or 'skip'")
        self.conn_id = conn_id
        self.numbers = numbers
        self.action = action
        self.owned_number = owned_number
        self.default_region = default_region
        self.number_field = number_field
        self.on_invalid = on_invalid
        self.suppression_file = suppression_file
        self.fail_on_refusal = fail_on_refusal

    def execute(self, context: Any) -> dict[str, Any]:
        capability = self.hook.blacklist()
        if self.action == "unblock" and not capability.supports_unblock:
            capability.unblock([], owned_number=self.owned_number)  # raises the vendor's clear error
        region = self.default_region or getattr(capability, "default_region", None)  # the vendor's own default
        numbers, report = read_numbers(
            self.numbers, default_region=region, number_field=self.number_field, on_invalid=self.on_invalid
        )
        self.log.info(
            "%s %d numbers on %s (%d rows read, %d invalid skipped, %d duplicates)",
            self.action,
            len(numbers),
            capability.vendor,
            report["rows"],
            report["invalid"],
            report["duplicates"],
        )
        run = capability.block if self.action == "block" else capability.unblock
        result = run(numbers, owned_number=self.owned_number or None) if numbers else None
        summary: dict[str, Any] = (
            result.summary()
            if result
            else {
                "action": self.action,
                "vendor": capability.vendor,
                "requested": 0,
                "changed": 0,
                "failed": 0,
                "requests": 0,
            }
        )
        summary.update({"invalid": report["invalid"], "duplicates": report["duplicates"]})
        summary["refused"] = [f.model_dump() for f in result.failed] if result else []
        if self.suppression_file not in (None, ""):
            changed = result.changed if result else []
            size = update_number_file(
                self.suppression_file,
                add=[str(n) for n in numbers] if self.action == "block" else (),
                remove=changed if self.action == "unblock" else (),
            )
            summary["suppression_file"] = describe_destination(resolve_destination(self.suppression_file))
            summary["suppression_size"] = size
            self.log.info("suppression list %s now holds %d numbers", summary["suppression_file"], size)
        self.log.info(
            "%s done: %d changed, %d refused, %d requests",
            self.action,
            summary["changed"],
            summary["failed"],
            summary["requests"],
        )
        if self.fail_on_refusal and summary["failed"]:
            from airflow.sdk.exceptions import AirflowException

            raise AirflowException(
                f"{capability.vendor} refused to {self.action} {summary['failed']} of {summary['requested']} numbers "
                "(set fail_on_refusal=False to only report them): "
                + "; ".join(
                    f"{mask_phone(str(r.get('number')))}: {redact(str(r.get('error')))}" for r in summary["refused"][:3]
                )
            )
        return summary
