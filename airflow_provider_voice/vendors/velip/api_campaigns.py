"""Velip campaign and single-call endpoints: ``MakeTTSCall``, ``CreateCampaign``, ``GetCampaignsList``,
``ChangeCampaign``.

Field choices where the Velip spec is thin (documented in ``docs/vendors/velip.md``; kept here so
a correction is a one-line change):

* numbers (``dest``, ``dest2``, datajson ``number``) are digits only with the country code
  (:attr:`~airflow_provider_voice.models.PhoneNumber.velip`);
* ``CreateCampaign`` takes destinations as ``datajson`` (a JSON array of ``{"number", "name",
  "codcli", "extra1".."extra3"}``) in a JSON body, or — for large lists — as a multipart upload
  in the form field ``file`` (CSV with the header ``number,name,codcli,extra1,extra2,extra3``),
  the other parameters then being form fields;
* dates are ``YYYY-MM-DD`` and times ``HH:MM:SS`` in Velip's time zone.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.transport import Call
from airflow_provider_voice.vendors.base import endpoint
from airflow_provider_voice.vendors.velip.api_core import VelipCore

__all__ = [
    "VELIP_CSV_COLUMNS",
    "VelipCallResult",
    "VelipCampaign",
    "VelipCampaignChange",
    "VelipCampaignCreated",
    "VelipCampaignEndpoints",
    "velip_destinations_csv",
]

VELIP_CSV_COLUMNS = ("number", "name", "codcli", "extra1", "extra2", "extra3")
MAX_DESTINATIONS = 500_000
NUMBER_RE = re.compile(r"^\d{8,15}$")
CTID_RE = re.compile(r"^[A-Za-z0-9]{1,15}$")
REPEAT_RE = re.compile(r"^\d+\|\d+\|[^|]*\|\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")


class VelipCallResult(BaseModel):
    """``MakeTTSCall`` answer: ``cd_id`` (absent for a scheduled call: track it by ``ctid``)."""

    model_config = ConfigDict(extra="allow")

    cd_id: str | None = None
    ctid: str | None = None


class VelipCampaignCreated(BaseModel):
    """``CreateCampaign`` answer: the new ``cp_id`` (plus ``cp_ctid`` and the destination count when given)."""

    model_config = ConfigDict(extra="allow")

    cp_id: str = Field(min_length=1)
    cp_ctid: str | None = None
    cp_destinations: int | None = None


class VelipCampaign(BaseModel):
    """One ``GetCampaignsList`` entry: progress counters (``cp_made``, ``cp_answered``) and state."""

    model_config = ConfigDict(extra="allow")

    cp_id: str = Field(min_length=1)
    cp_ctid: str | None = None
    name: str | None = None
    cp_destinations: int = 0
    cp_made: int = 0
    cp_answered: int = 0
    cp_counts: dict[str, int] = Field(default_factory=dict)
    active: int = 1
    status: str | None = None


class VelipCampaignChange(BaseModel):
    """``ChangeCampaign`` answer."""

    model_config = ConfigDict(extra="allow")

    cp_id: str = Field(min_length=1)
    active: int | None = None
    status: str | None = None


def _digits(value: Any, field: str) -> str:
    """A Velip number: digits only (a :class:`PhoneNumber` renders itself; ``+`` is dropped)."""
    text = getattr(value, "velip", None) or str(value).strip().lstrip("+")
    if not NUMBER_RE.match(text):
        raise ValidationError(field, value, "8 to 15 digits with the country code, no '+' (e.g. 5511987654321)")
    return text


def _check_times(fields: Mapping[str, Any]) -> None:
    for name in ("date_start", "date_end"):
        if fields.get(name) is not None and not DATE_RE.match(str(fields[name])):
            raise ValidationError(name, fields[name], "YYYY-MM-DD")
    for name in ("time_start", "time_end"):
        if fields.get(name) is not None and not TIME_RE.match(str(fields[name])):
            raise ValidationError(name, fields[name], "HH:MM:SS")


def _destination(row: Mapping[str, Any] | Any, position: int) -> dict[str, str]:
    """One destination as Velip wants it (``number`` plus optional name/codcli/extra1..3)."""
    if not isinstance(row, Mapping):
        number = getattr(row, "number", row)
        extra: Mapping[str, Any] = {"name": getattr(row, "name", None), **(getattr(row, "variables", None) or {})}
    else:
        number = row.get("number")
        extra = row
    out = {"number": _digits(number, f"destinations[{position}].number")}
    for column in VELIP_CSV_COLUMNS[1:]:
        value = extra.get(column)
        if value not in (None, ""):
            out[column] = str(value)
    return out


def velip_destinations_csv(destinations: Iterable[Mapping[str, Any] | Any]) -> bytes:
    """Render destinations as the CSV Velip's ``CreateCampaign`` upload reads (header row included)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(VELIP_CSV_COLUMNS)
    for position, row in enumerate(destinations):
        dest = _destination(row, position)
        writer.writerow([dest.get(c, "") for c in VELIP_CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


class VelipCampaignEndpoints(VelipCore):
    """Velip campaign and single-call endpoints (MakeTTSCall, CreateCampaign, GetCampaignsList, ChangeCampaign)."""

    @endpoint
    def make_tts_call(
        self,
        dest: Any,
        *,
        text: str | None = None,
        content: str | None = None,
        voice: str | None = None,
        type: int = 0,
        dest2: Any = None,
        ctid: str | None = None,
        priority: int | None = None,
        repeat: str | None = None,
        rurl: str | None = None,
        sms_action: int | str | None = None,
        sms_text: str | None = None,
    ) -> Call[VelipCallResult]:
        """``MakeTTSCall``: call one destination (``type`` 0 play and hang up, 2 DTMF confirm then
        transfer to ``dest2`` — without ``dest2``, confirm only: paging —, 3 join ``dest`` and ``dest2``)
        with TTS ``text`` (+ ``voice``) or audio ``content``.

        ``ctid`` (<= 15 letters/digits) is the caller's correlation id; ``repeat``
        (``tries|interval_min|until|YYYY-MM-DD HH:MM``) schedules the call, in which case Velip
        returns no ``cd_id``. Not resent after an ambiguous failure (look the call up by ``ctid``).
        Returns :class:`VelipCallResult`.
        """
        number = _digits(dest, "dest")
        if type not in (0, 2, 3):
            raise ValidationError(
                "type", type, "0 (play and hang up), 2 (DTMF confirm, transfer) or 3 (join dest and dest2)"
            )
        second = None
        if type == 3:
            if dest2 in (None, ""):
                raise ValidationError("dest2", dest2, "type 3 joins two destinations: dest2 is required")
            second = _digits(dest2, "dest2")
        elif type == 2 and dest2 not in (None, ""):  # type 2: after the DTMF confirmation, transferred to dest2
            second = _digits(dest2, "dest2")
        elif dest2 not in (None, ""):
            raise ValidationError("dest2", dest2, "only used with type 2 (transfer after the confirmation) or 3")
        if not (text or content):
            raise ValidationError("text", text, "give the TTS text or an audio content id")
        if ctid is not None and not CTID_RE.match(ctid):
            raise ValidationError("ctid", ctid, "1 to 15 letters or digits")
        if repeat is not None and not REPEAT_RE.match(repeat):
            raise ValidationError("repeat", repeat, "tries|interval_min|until|YYYY-MM-DD HH:MM")
        if sms_text and sms_action in (None, 0, "0"):
            raise ValidationError("sms_action", sms_action, "set sms_action to send sms_text after the call")

        def parse(ret: dict[str, Any]) -> VelipCallResult:
            result = VelipCallResult.model_validate(ret)
            if repeat is None and not result.cd_id:  # only a scheduled call (repeat) comes without cd_id
                raise MalformedResponseError(
                    "MakeTTSCall answer has no cd_id", vendor=self.vendor, endpoint="MakeTTSCall"
                )
            return result

        return self.call(
            "MakeTTSCall",
            parse=parse,
            dest=number,
            type=type,
            dest2=second,
            text=text,
            content=content,
            voice=voice,
            ctid=ctid,
            priority=priority,
            repeat=repeat,
            rurl=rurl,
            sms_action=sms_action,
            sms_text=sms_text,
        )

    @endpoint
    def create_campaign(
        self,
        *,
        name: str,
        destinations: Iterable[Mapping[str, Any] | Any] | None = None,
        upload: bool = False,
        cdlc_id: str | None = None,
        clone_cp_id: str | None = None,
        date_start: str | None = None,
        date_end: str | None = None,
        time_start: str | None = None,
        time_end: str | None = None,
        text: str | None = None,
        voice: str | None = None,
        content: str | None = None,
        vel: int | str | None = None,
        resends: int | None = None,
        time_resends: int | None = None,
        cp_ctid: str | None = None,
        rurl: str | None = None,
    ) -> Call[VelipCampaignCreated]:
        """``CreateCampaign``: a batch of up to 500,000 destinations.

        Destinations come from ``destinations`` (dicts with ``number``/``name``/``codcli``/
        ``extra1..3``, :class:`~airflow_provider_voice.models.Recipient` objects or numbers), sent as
        ``datajson`` — or, with ``upload=True``, as a CSV file in a multipart body (large lists) —,
        from an existing list ``cdlc_id``, or cloned from campaign ``clone_cp_id``. Audio: ``text``
        (+ ``voice``) or ``content``. ``cp_ctid`` is the caller's correlation id (find the campaign
        again with :meth:`get_campaigns_list`). Not resent after an ambiguous failure.
        Returns :class:`VelipCampaignCreated`.
        """
        if not name or len(name) > 50:
            raise ValidationError("name", name, "1 to 50 characters")
        sources = [destinations is not None, cdlc_id is not None, clone_cp_id is not None]
        if sum(sources) != 1:
            raise ValidationError("destinations", None, "give exactly one of destinations, cdlc_id or clone_cp_id")
        if clone_cp_id is None and not (text or content):
            raise ValidationError("text", text, "give the TTS text or an audio content id")
        if vel is not None and vel != "max" and not (str(vel).isdigit() and 1 <= int(vel) <= 100):
            raise ValidationError("vel", vel, "1 to 100 calls per minute, or 'max'")
        if resends is not None and not 0 <= resends <= 3:
            raise ValidationError("resends", resends, "0 to 3")
        if cp_ctid is not None and not 1 <= len(cp_ctid) <= 50:
            raise ValidationError("cp_ctid", cp_ctid, "1 to 50 characters")
        fields: dict[str, Any] = {  # JSON values of the request
            "cdlc_id": cdlc_id, "cp_id": clone_cp_id, "date_start": date_start, "date_end": date_end,
            "time_start": time_start, "time_end": time_end, "text": text, "voice": voice, "content": content,
            "vel": vel, "resends": resends, "time_resends": time_resends, "cp_ctid": cp_ctid, "rurl": rurl,
        }  # fmt: skip
        _check_times(fields)
        parse = VelipCampaignCreated.model_validate
        if destinations is None:
            return self.call("CreateCampaign", parse=parse, name=name, **fields)
        rows = [_destination(row, i) for i, row in enumerate(destinations)]
        if not rows:
            raise ValidationError("destinations", [], "at least one destination")
        if len(rows) > MAX_DESTINATIONS:
            raise ValidationError(
                "destinations", f"<{len(rows)} destinations>", f"at most {MAX_DESTINATIONS:,} per campaign"
            )
        if not upload:
            return self.call("CreateCampaign", parse=parse, name=name, datajson=rows, **fields)
        call = self.call("CreateCampaign", parse=parse, name=name, **fields)
        form = {k: str(v) for k, v in (call.json or {}).items()}
        return dataclasses.replace(
            call, json=None, data=form, files={"file": ("destinations.csv", velip_destinations_csv(rows), "text/csv")}
        )

    @endpoint
    def get_campaigns_list(
        self,
        cp_id: str | None = None,
        cp_ctid: str | None = None,
        *,
        name: str | None = None,
        active: bool | int | None = None,
    ) -> Call[list[VelipCampaign]]:
        """``GetCampaignsList``: campaigns with their progress (``cp_made``, ``cp_answered``,
        ``cp_destinations``, per-code counts, ``active``), filtered by ``cp_id``, ``cp_ctid``,
        ``name`` or ``active``. A read: retried after timeouts and 5xx. Returns a list of :class:`VelipCampaign`."""

        def parse(ret: Mapping[str, Any]) -> list[VelipCampaign]:
            # no 'campaigns' is not "no campaign": a reconciliation would resend a campaign Velip has
            items = ret.get("campaigns")
            if items in ([], {}):
                return []
            if isinstance(items, Mapping):
                items = list(items.values())
            if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
                raise MalformedResponseError(
                    "GetCampaignsList answer has no list of campaigns", vendor=self.vendor, endpoint="GetCampaignsList"
                )
            return [VelipCampaign.model_validate(item) for item in items]

        flag = None if active is None else int(bool(active))
        return self.call(
            "GetCampaignsList", method="GET", parse=parse, cp_id=cp_id, cp_ctid=cp_ctid, active=flag, name=name
        )

    @endpoint
    def change_campaign(
        self,
        cp_id: str,
        active: bool | int | None = None,
        *,
        name: str | None = None,
        date_start: str | None = None,
        date_end: str | None = None,
        time_start: str | None = None,
        time_end: str | None = None,
    ) -> Call[VelipCampaignChange]:
        """``ChangeCampaign``: pause (``active=False``), resume (``active=True``), rename or
        reschedule campaign ``cp_id``. Setting a state is idempotent, so it is retried after
        ambiguous failures. Returns :class:`VelipCampaignChange`."""
        if not cp_id:
            raise ValidationError("cp_id", cp_id, "the campaign id is required")
        if name is not None and not 1 <= len(name) <= 50:
            raise ValidationError("name", name, "1 to 50 characters")
        fields = {"date_start": date_start, "date_end": date_end, "time_start": time_start, "time_end": time_end}
        _check_times(fields)
        flag = None if active is None else int(bool(active))
        call = self.call(
            "ChangeCampaign",
            parse=VelipCampaignChange.model_validate,
            cp_id=str(cp_id),
            active=flag,
            name=name,
            date_start=date_start,
            date_end=date_end,
            time_start=time_start,
            time_end=time_end,
        )
        return dataclasses.replace(call, idempotent=True)
