"""Kaleyra call operations: ``dial.click2call``, ``block``, ``followup``, ``autodial.add``, ``autodial.import``.

Choices made where the spec is silent (one place to correct them):

* numbers are sent as Kaleyra renders them (10-digit national number for India, digits with the
  country code elsewhere); numbers without a country code are read as Indian
  (:data:`~airflow_provider_voice.vendors.kaleyra.api_core.DEFAULT_REGION`);
* ``block`` takes several numbers separated by ``,`` (documented) but no maximum is documented:
  requests carry at most :data:`BLOCK_CHUNK_SIZE` numbers; blocking/unblocking is idempotent, so
  those requests are retried after a 5xx or a timeout;
* ``autodial.import`` takes at most :data:`AUTODIAL_IMPORT_MAX` rows per request (documented:
  Kaleyra silently drops the rest, so more is refused *before* sending);
* ``followup`` ``ontime`` is ``dd-mm-yyyy hh-mm`` (24-hour clock) in Kaleyra's time zone
  :data:`KALEYRA_TIMEZONE`: aware datetimes are converted, naive ones are taken as already local;
* ``followup`` deletion sends ``id`` and ``action=delete`` (the edit request's documented flag) with
  every field the spec marks mandatory on that request (``phone``, ``name``, ``follower``, ``ontime``);
* ``block``/``unblock`` accept any *possible* number (a blacklist must be able to hold a number
  Kaleyra reported even when phonenumbers does not know its range); sends stay strict;
* click2call ``custom`` is 1-50 letters, digits, ``_`` or ``-``; ``delay`` is whole seconds >= 0.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Generator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pendulum
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.models.phone import PhoneNumber
from airflow_provider_voice.transport import Call, Emit
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.kaleyra.api_core import DEFAULT_REGION, KaleyraCore, KaleyraReply
from airflow_provider_voice.vendors.kaleyra.api_reports import KALEYRA_TIMEZONE

__all__ = [
    "AUTODIAL_IMPORT_MAX",
    "BLOCK_CHUNK_SIZE",
    "CALLBACK_VARIABLES",
    "FOLLOWUP_TIME_FORMAT",
    "KALEYRA_TIMEZONE",
    "KaleyraBlockChunk",
    "KaleyraBlockResult",
    "KaleyraCallEndpoints",
    "KaleyraCallbackTemplate",
    "KaleyraClickToCallResult",
    "KaleyraDialerUpload",
    "check_dialer_name",
    "format_followup_time",
    "kaleyra_number",
]

BLOCK_CHUNK_SIZE = 100
AUTODIAL_IMPORT_MAX = 1000
MAX_C2C_RETRY = 2
#: ``followup`` ``ontime``: ``dd-mm-yyyy hh-mm``
FOLLOWUP_TIME_FORMAT = "%d-%m-%Y %H-%M"
_FOLLOWUP_TIME_RE = re.compile(r"\d{2}-\d{2}-\d{4} \d{2}-\d{2}")
#: the click2call callback's replaceable variables (spec table + PUBLIC-NOTES ``{id}``)
CALLBACK_VARIABLES = (
    "caller",
    "receiver",
    "status",
    "status1",
    "status2",
    "duration",
    "billsec",
    "starttime",
    "endtime",
    "recordpath",
    "callerid",
    "id",
)
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_CUSTOM_RE = re.compile(r"[A-Za-z0-9_-]{1,50}")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")
_IVR_RE = re.compile(r"ivr:\d+")
_COUNTS_RE = re.compile(r"Total Records?\(s\)\s*-\s*(\d+).*?Processed Records?\(s\)\s*-\s*(\d+)", re.IGNORECASE)


def kaleyra_number(value: Any, field: str, default_region: str | None = DEFAULT_REGION, *, strict: bool = True) -> str:
    """A number as Kaleyra wants it, validated first (:class:`ValidationError` naming ``field``).

    :param strict: require a valid number; False accepts any possible one (blacklists).
    """
    return PhoneNumber.parse(value, default_region, field=field, strict=strict).kaleyra


def format_followup_time(value: Any) -> str:
    """``ontime`` as ``dd-mm-yyyy hh-mm`` in Kaleyra's zone.

    Accepts a datetime (aware: converted to :data:`KALEYRA_TIMEZONE`; naive: taken as local), an
    ISO-8601 string, or a string already in the ``dd-mm-yyyy hh-mm`` form.
    """
    if isinstance(value, str):
        text = value.strip()
        if _FOLLOWUP_TIME_RE.fullmatch(text):
            try:
                datetime.strptime(text, FOLLOWUP_TIME_FORMAT)
            except ValueError:
                raise ValidationError("ontime", value, "not a real date/time (dd-mm-yyyy hh-mm)") from None
            return text
        try:
            value = pendulum.parse(text, tz=KALEYRA_TIMEZONE)
        except Exception:
            raise ValidationError("ontime", value, "a datetime, ISO-8601 text or 'dd-mm-yyyy hh-mm'") from None
    if not isinstance(value, datetime):
        raise ValidationError("ontime", value, "a datetime, ISO-8601 text or 'dd-mm-yyyy hh-mm'")
    moment: datetime = value
    if moment.tzinfo is not None:
        moment = pendulum.instance(moment).in_timezone(KALEYRA_TIMEZONE)
    return moment.strftime(FOLLOWUP_TIME_FORMAT)


class KaleyraCallbackTemplate:
    """A click2call ``callback`` URL with Kaleyra's replaceable variables.

    Write the URL plainly, with variables in braces::

        KaleyraCallbackTemplate("https://cb.example.com/c2c?from={caller}&to={receiver}&status={status1}")

    Only the documented variables (:data:`CALLBACK_VARIABLES`) are accepted. A template that is
    already URL-encoded (``http%3A%2F%2F...``) is decoded once, so either form may be given.
    On the wire the whole URL is sent URL-encoded, braces included, exactly as the spec shows
    (:attr:`encoded`).

    :param template: the URL template (or a template, taken as it is).
    """

    #: the URL template, decoded
    url: str
    #: the variables it uses, in order of first appearance
    variables: tuple[str, ...]

    def __init__(self, template: str | KaleyraCallbackTemplate) -> None:
        if isinstance(template, KaleyraCallbackTemplate):
            template = template.url
        if not isinstance(template, str) or not template.strip():
            raise ValidationError("callback", template, "a http(s) URL template")
        url = template.strip()
        if re.match(r"(?i)https?%3A", url):
            url = urllib.parse.unquote(url)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("callback", template, "a http(s) URL with a host")
        names = _PLACEHOLDER_RE.findall(url)
        unknown = [n for n in names if n not in CALLBACK_VARIABLES]
        if unknown:
            raise ValidationError(
                "callback",
                template,
                f"unknown variable(s) {{{'}, {'.join(unknown)}}}; use {', '.join(CALLBACK_VARIABLES)}",
            )
        if _PLACEHOLDER_RE.sub("", url).count("{") or _PLACEHOLDER_RE.sub("", url).count("}"):
            raise ValidationError("callback", template, "unbalanced '{' or '}'")
        self.url = url
        self.variables = tuple(dict.fromkeys(names))

    @property
    def encoded(self) -> str:
        """The URL-encoded value, as it appears in the request (``http%3A%2F%2F...%7Bcaller%7D...``)."""
        return urllib.parse.quote_plus(self.url, safe="")

    def render(self, values: Mapping[str, Any]) -> str:
        """The URL Kaleyra would call, each variable replaced by its URL-encoded value."""
        return _PLACEHOLDER_RE.sub(lambda m: urllib.parse.quote(str(values.get(m.group(1), "")), safe=""), self.url)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"KaleyraCallbackTemplate({self.url!r})"


class KaleyraClickToCallResult(BaseModel):
    """``dial.click2call`` answer: the call id (``return=1``) and Kaleyra's message."""

    model_config = ConfigDict(extra="allow")

    call_id: str | None = None
    message: str = ""
    raw: Any = None


class KaleyraBlockChunk(BaseModel):
    """One accepted ``block`` request: the numbers it carried and Kaleyra's message."""

    numbers: list[str]
    message: str = ""


class KaleyraBlockResult(BaseModel):
    """Every chunk of a ``block`` (or unblock) run."""

    action: str
    numbers: list[str] = Field(default_factory=list)
    requests: int = 0
    messages: list[str] = Field(default_factory=list)


class KaleyraDialerUpload(BaseModel):
    """``autodial.add`` / ``autodial.import`` answer, with the record counts read from the message."""

    message: str = ""
    total: int | None = None
    processed: int | None = None


def _dialer_upload(reply: KaleyraReply) -> KaleyraDialerUpload:
    match = _COUNTS_RE.search(reply.message or "")
    if match is None:  # the spec's success names both counts; without them nothing says what was added
        raise MalformedResponseError(
            "dialer answer without 'Total Records(s) - N, Processed Records(s) - M'",
            vendor="kaleyra",
            endpoint="autodial",
        )
    return KaleyraDialerUpload(
        message=reply.message.strip(),
        total=int(match.group(1)) if match else None,
        processed=int(match.group(2)) if match else None,
    )


def _followup_id(method: str) -> Any:
    def parse(reply: KaleyraReply) -> str:
        data = reply.data
        value = data.get("id") if isinstance(data, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise MalformedResponseError("followup answer has no data.id", vendor="kaleyra", endpoint=method)
        return str(value).strip()

    return parse


def _join_numbers(values: Any, field: str, separator: str, default_region: str | None) -> str:
    items = [values] if isinstance(values, (str, int)) else list(values or [])
    if not items:
        raise ValidationError(field, values, "at least one number")
    return separator.join(
        kaleyra_number(v, f"{field}[{i}]" if len(items) > 1 else field, default_region) for i, v in enumerate(items)
    )


def check_dialer_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValidationError(field, name, "the dialer campaign's unique name: letters, digits, '_' or '-'")
    return name


def _dedupe(numbers: Iterable[Any], default_region: str | None, *, strict: bool = True) -> list[str]:
    if isinstance(numbers, (str, int)):
        numbers = [numbers]
    rendered = [kaleyra_number(n, f"numbers[{i}]", default_region, strict=strict) for i, n in enumerate(numbers)]
    if not rendered:
        raise ValidationError("numbers", [], "at least one number")
    return list(dict.fromkeys(rendered))


class KaleyraCallEndpoints(KaleyraCore):
    """Kaleyra call operations (``dial.click2call``, ``block``, ``followup``, ``autodial.add``, ``autodial.import``)."""

    # -- click to call ----------------------------------------------------------------------
    @endpoint
    def click2call(
        self,
        caller: Any,
        receiver: Any,
        *,
        retry: int | None = None,
        delay: int | None = None,
        caller_id: Any = None,
        custom: str | None = None,
        meta: Mapping[str, Any] | None = None,
        callback: str | KaleyraCallbackTemplate | None = None,
        default_region: str | None = DEFAULT_REGION,
    ) -> Call[KaleyraClickToCallResult]:
        """``dial.click2call``: ring ``caller`` (first leg), then bridge ``receiver``; returns the call id.

        :param caller: a number, or several (a list; the first to answer wins, sent joined by ``-``).
        :param receiver: a number, several (a list, sent joined by ``^``), or ``"ivr:<id>"``.
        :param retry: retries when the caller does not answer (0-2).
        :param delay: seconds before the call starts.
        :param caller_id: one of the account's numbers to show (default: Kaleyra's first active one).
        :param custom: your reference for the call.
        :param meta: JSON metadata.
        :param callback: URL template (see :class:`KaleyraCallbackTemplate`), called when the
            first leg answers and when the call ends.
        Always sends ``return=1`` so the answer carries the call id. Never resent automatically
        after an ambiguous failure (it would ring the people twice).
        """
        fields: dict[str, Any] = {
            "caller": _join_numbers(caller, "caller", "-", default_region),
            "receiver": self._receiver(receiver, default_region),
            "return": 1,
        }
        if retry is not None:
            if isinstance(retry, bool) or not isinstance(retry, int) or not 0 <= retry <= MAX_C2C_RETRY:
                raise ValidationError("retry", retry, f"an integer from 0 to {MAX_C2C_RETRY}", vendor=self.vendor)
            fields["retry"] = retry
        if delay is not None:
            if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
                raise ValidationError("delay", delay, "whole seconds >= 0", vendor=self.vendor)
            fields["delay"] = delay
        if caller_id is not None:
            fields["caller_id"] = kaleyra_number(caller_id, "caller_id", default_region)
        if custom is not None:
            if not _CUSTOM_RE.fullmatch(str(custom)):
                raise ValidationError("custom", custom, "1-50 letters, digits, '_' or '-'", vendor=self.vendor)
            fields["custom"] = str(custom)
        if meta is not None:
            if not isinstance(meta, Mapping):
                raise ValidationError("meta", meta, "a JSON object (dict)", vendor=self.vendor)
            fields["meta"] = dict(meta)
        if callback is not None:
            fields["callback"] = KaleyraCallbackTemplate(callback).url  # form-encoding gives the spec's form

        def parse(reply: KaleyraReply) -> KaleyraClickToCallResult:
            data = reply.data
            call_id = data.get("id") if isinstance(data, Mapping) else None
            if isinstance(call_id, bool) or not isinstance(call_id, (str, int)) or not str(call_id).strip():
                # return=1 is always sent: a success carries data.id (spec example)
                raise MalformedResponseError(
                    "click2call answer has no data.id", vendor=self.vendor, endpoint="dial.click2call"
                )
            return KaleyraClickToCallResult(
                call_id=str(call_id).strip(),
                message=reply.message,
                raw=reply.model_dump(),
            )

        return self.method_call("dial.click2call", fields, parse=parse, idempotent=False)

    @staticmethod
    def _receiver(receiver: Any, default_region: str | None) -> str:
        if isinstance(receiver, str) and receiver.strip().lower().startswith("ivr"):
            text = receiver.strip().lower()
            if not _IVR_RE.fullmatch(text):
                raise ValidationError("receiver", receiver, "an IVR as 'ivr:<numeric id>'")
            return text
        return _join_numbers(receiver, "receiver", "^", default_region)

    # -- blacklist --------------------------------------------------------------------------
    @endpoint
    def block(
        self, numbers: Any, *, default_region: str | None = DEFAULT_REGION, chunk_size: int = BLOCK_CHUNK_SIZE
    ) -> Generator[Any, Any, KaleyraBlockResult]:
        """``method=block``: blacklist ``numbers`` (comma-separated, at most ``chunk_size`` per request).

        A flow: emits a :class:`KaleyraBlockChunk` per accepted request and returns the
        :class:`KaleyraBlockResult`. Numbers are validated (and deduplicated) before any request.
        """
        return self._block_flow("block", _dedupe(numbers, default_region, strict=False), chunk_size, None)

    @endpoint
    def unblock(
        self, numbers: Any, *, default_region: str | None = DEFAULT_REGION, chunk_size: int = BLOCK_CHUNK_SIZE
    ) -> Generator[Any, Any, KaleyraBlockResult]:
        """``method=block&action=delete``: remove ``numbers`` from the blacklist (chunked like :meth:`block`)."""
        return self._block_flow("unblock", _dedupe(numbers, default_region, strict=False), chunk_size, "delete")

    def _block_flow(
        self, action: str, numbers: list[str], chunk_size: int, vendor_action: str | None
    ) -> Generator[Any, Any, KaleyraBlockResult]:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValidationError("chunk_size", chunk_size, "an integer >= 1")
        return self._block_steps(action, numbers, chunk_size, vendor_action)

    def _block_steps(
        self, action: str, numbers: list[str], chunk_size: int, vendor_action: str | None
    ) -> Generator[Any, Any, KaleyraBlockResult]:
        result = KaleyraBlockResult(action=action)
        for start in range(0, len(numbers), chunk_size):
            chunk = numbers[start : start + chunk_size]
            fields: dict[str, Any] = {"number": ",".join(chunk)}
            if vendor_action:
                fields["action"] = vendor_action
            reply: KaleyraReply = yield self.method_call("block", fields, idempotent=True)
            result.numbers.extend(chunk)
            result.requests += 1
            result.messages.append(reply.message)
            yield Emit([KaleyraBlockChunk(numbers=chunk, message=reply.message)])
        return result

    # -- follow-ups -------------------------------------------------------------------------
    @endpoint
    def followup_create(
        self,
        phone: Any,
        name: str,
        follower: Any,
        ontime: Any,
        *,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str | None = DEFAULT_REGION,
    ) -> Call[str]:
        """``method=followup``: schedule a follow-up; returns its id.

        :param phone: the customer's number.
        :param name: the follow-up name.
        :param follower: the agent's number.
        :param ontime: when (see :func:`format_followup_time`).
        :param autocall: call follower and customer together at ``ontime``.
        :param notes: free text.
        """
        fields = self._followup_fields(phone, name, follower, ontime, autocall, notes, default_region)
        return self.method_call("followup", fields, parse=_followup_id("followup"), idempotent=False)

    @endpoint
    def followup_edit(
        self,
        followup_id: Any,
        phone: Any,
        name: str,
        follower: Any,
        ontime: Any,
        *,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str | None = DEFAULT_REGION,
    ) -> Call[str]:
        """``method=followup`` with ``id``: change a follow-up (every field is sent again); returns its id.

        Editing sets the same values again when repeated, so it is retried after a 5xx/timeout.
        """
        fields = self._followup_fields(phone, name, follower, ontime, autocall, notes, default_region)
        fields["id"] = self._followup_ref(followup_id)
        return self.method_call("followup", fields, parse=_followup_id("followup"), idempotent=True)

    @endpoint
    def followup_delete(
        self,
        followup_id: Any,
        phone: Any = None,
        name: str | None = None,
        follower: Any = None,
        ontime: Any = None,
        *,
        autocall: bool = False,
        notes: str | None = None,
        default_region: str | None = DEFAULT_REGION,
    ) -> Call[KaleyraReply]:
        """``method=followup&action=delete`` with ``id``: delete a follow-up.

        The spec marks ``phone``, ``name``, ``follower`` and ``ontime`` mandatory on this request
        (with ``id`` and ``action``): pass the follow-up's values (``followup.reports`` lists them;
        :class:`~airflow_provider_voice.operators.kaleyra.KaleyraFollowUpOperator` looks them up).
        A missing one is a :class:`ValidationError` before anything is sent.
        """
        missing = [
            n
            for n, v in (("phone", phone), ("name", name), ("follower", follower), ("ontime", ontime))
            if v in (None, "")
        ]
        if missing:
            raise ValidationError(
                ", ".join(missing),
                None,
                "Kaleyra's followup action=delete needs phone, name, follower and ontime (mandatory in the spec)",
                vendor=self.vendor,
            )
        # the numbers only identify the follow-up here (nobody is called): any possible number
        fields = self._followup_fields(
            phone, str(name), follower, ontime, autocall, notes, default_region, strict=False
        )
        fields.update({"id": self._followup_ref(followup_id), "action": "delete"})
        return self.method_call("followup", fields, idempotent=True)

    @staticmethod
    def _followup_ref(followup_id: Any) -> str:
        text = str(followup_id).strip() if followup_id is not None else ""
        if not text or not text.isalnum():
            raise ValidationError("id", followup_id, "the follow-up id returned when it was created")
        return text

    @staticmethod
    def _followup_fields(
        phone: Any,
        name: str,
        follower: Any,
        ontime: Any,
        autocall: bool,
        notes: str | None,
        default_region: str | None,
        strict: bool = True,
    ) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("name", name, "the follow-up name must not be empty")
        fields: dict[str, Any] = {
            "phone": kaleyra_number(phone, "phone", default_region, strict=strict),
            "name": name.strip(),
            "follower": kaleyra_number(follower, "follower", default_region, strict=strict),
            "ontime": format_followup_time(ontime),
            "autocall": 1 if autocall else 0,
        }
        if notes:
            fields["notes"] = str(notes)
        return fields

    # -- progressive dialer -----------------------------------------------------------------
    @endpoint
    def autodial_add(
        self,
        name: str,
        number: Any,
        meta: Mapping[str, Any] | None = None,
        *,
        default_region: str | None = DEFAULT_REGION,
    ) -> Call[KaleyraDialerUpload]:
        """``method=autodial.add``: add one number (with ``meta``) to the progressive dialer campaign ``name``."""
        if meta is not None and not isinstance(meta, Mapping):
            raise ValidationError("meta", meta, "a JSON object (dict)")
        fields = {
            "name": check_dialer_name(name),
            "number": kaleyra_number(number, "number", default_region),
            "meta": dict(meta or {}),
        }
        return self.method_call("autodial.add", fields, parse=_dialer_upload, idempotent=False)

    @endpoint
    def autodial_import(
        self, name: str, rows: Sequence[Mapping[str, Any]], *, default_region: str | None = DEFAULT_REGION
    ) -> Call[KaleyraDialerUpload]:
        """``method=autodial.import``: add up to 1000 rows (``{"number": ..., "<custom>": value}``) to campaign ``name``.

        More than :data:`AUTODIAL_IMPORT_MAX` rows is a :class:`ValidationError` before sending
        (Kaleyra would silently keep the first 1000); split bigger lists into several calls.
        """
        check_dialer_name(name)
        if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
            raise ValidationError("rows", rows, "a list of {'number': ..., ...} rows")
        if not rows:
            raise ValidationError("rows", [], "at least one row")
        if len(rows) > AUTODIAL_IMPORT_MAX:
            raise ValidationError(
                "rows", f"<{len(rows)} rows>", f"at most {AUTODIAL_IMPORT_MAX} rows per autodial.import request"
            )
        data = []
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping) or row.get("number") in (None, ""):
                raise ValidationError(f"rows[{index}]", row, "a row with a 'number'")
            item = {str(k): ("" if v is None else str(v)) for k, v in row.items() if k != "number"}
            data.append({"number": kaleyra_number(row["number"], f"rows[{index}].number", default_region), **item})
        return self.method_call(
            "autodial.import", parse=_dialer_upload, idempotent=False, query={"name": name}, json={"data": data}
        )
