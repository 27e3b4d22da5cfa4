"""Kaleyra Voice: ``x-api-key`` auth, ``method=`` dispatch, JSON and XML answers, ``monitor``.

Every Kaleyra operation is a POST to one URL with ``method=<name>``; the answer carries
``status`` (``"200"`` on success, ``"OK "`` for the dialer, ``E<code>`` on errors) and
``message``, with ``data`` as a JSON object/list or as XML (``<api><status>..</status>...``).
Both formats are parsed into the same Python structure by :func:`parse_kaleyra_body`.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal, cast

import httpx
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import AuthError, MalformedResponseError, VendorRejectedError
from airflow_provider_voice.redaction import redact
from airflow_provider_voice.transport import MAX_JSON_DEPTH, Call, ErrorInfo, check_json_depth, describe_parse_error
from airflow_provider_voice.vendors.access import with_scheme
from airflow_provider_voice.vendors.base import VendorApi, endpoint

__all__ = [
    "DEFAULT_REGION",
    "KaleyraCore",
    "KaleyraHealth",
    "KaleyraIncident",
    "KaleyraReply",
    "is_kaleyra_production",
    "parse_kaleyra_body",
    "records",
]

#: region of numbers written without a country code: Kaleyra Voice is an Indian service (the one
#: place this default is spelled; every Kaleyra request builder, capability and operator uses it)
DEFAULT_REGION = "IN"
KALEYRA_PRODUCTION_URL = "https://api-voice.kaleyra.com/v1/"
KALEYRA_OBD_PRODUCTION_URL = "https://obd.kaleyra.com/api/v1/"
#: Kaleyra's own hosts: ``voice.*`` goes to the OBD host only when the base URL is one of these
KALEYRA_PRODUCTION_HOSTS = frozenset({"api-voice.kaleyra.com", "obd.kaleyra.com"})


def is_kaleyra_production(url: str | None) -> bool:
    """Whether ``url`` points at one of Kaleyra's production hosts."""
    if not url:
        return False
    host = urllib.parse.urlsplit(with_scheme(url)).hostname or ""
    return host.lower().rstrip(".") in KALEYRA_PRODUCTION_HOSTS


#: XML tags that wrap one item of a list (``<data><dial>..</dial><dial>..</dial></data>``)
LIST_ITEM_TAGS = frozenset({"dial", "voice", "followup", "monitor"})
SUCCESS_STATUSES = frozenset({"200", "OK"})
#: the success status of every method but the dialer's (spec: "200 is success, others are failure")
METHOD_SUCCESS = frozenset({"200"})
#: the progressive dialer (``autodial.*``) answers ``"OK "`` (spec examples)
DIALER_SUCCESS = frozenset({"OK", "200"})
AUTH_STATUSES = frozenset({"401", "E401", "403", "E403"})
#: what a Kaleyra error status looks like: ``E<code>`` (``E542``) or an HTTP-like 4xx/5xx
ERROR_STATUS_RE = re.compile(r"(?i)E\d+|[45]\d\d")


class KaleyraReply(BaseModel):
    """A Kaleyra answer: ``status``, ``message`` and ``data`` (JSON and XML alike)."""

    model_config = ConfigDict(extra="allow")

    status: str
    message: str = ""
    data: Any = None

    @property
    def ok(self) -> bool:
        """Whether ``status`` is one of Kaleyra's success statuses (``"200"``, ``"OK"``)."""
        return self.status.strip().upper() in SUCCESS_STATUSES

    @property
    def has_data(self) -> bool:
        """Whether the answer carried a ``data`` member (JSON key or XML element)."""
        return "data" in self.model_fields_set


class KaleyraIncident(BaseModel):
    """One ``monitor`` entry: a region's server state and the account numbers it serves."""

    model_config = ConfigDict(extra="allow")

    region: str | None = None
    region_code: str | None = None
    type: str = "operational"
    service: str | None = None
    numbers: list[str] = Field(default_factory=list)

    @property
    def operational(self) -> bool:
        return self.type.strip().lower() == "operational"


class KaleyraHealth(BaseModel):
    """``monitor`` result. ``E701 No incidents found`` is reported as healthy with no incidents."""

    incidents: list[KaleyraIncident] = Field(default_factory=list)
    healthy: bool
    message: str = ""


def _xml_to_python(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    tags = [child.tag for child in children]
    if len(set(tags)) == 1 and (tags[0] in LIST_ITEM_TAGS or len(tags) > 1):
        return [_xml_to_python(child) for child in children]
    out: dict[str, Any] = {}
    for child in children:
        value = _xml_to_python(child)
        if child.tag in LIST_ITEM_TAGS:
            out.setdefault(child.tag, []).append(value)
        elif child.tag in out:
            existing = out[child.tag]
            out[child.tag] = (existing if isinstance(existing, list) else [existing]) + [value]
        else:
            out[child.tag] = value
    return out


def parse_kaleyra_body(text: str) -> dict[str, Any]:
    """Parse a Kaleyra body (JSON or XML, sniffed) into ``{"status", "message", "data"}``."""
    body = text.strip()
    if body.startswith("Xml:"):  # the spec's own monitor example starts like this
        body = body[4:].strip()
    if body.startswith("<"):
        head = body[:4096].upper()
        if "<!DOCTYPE" in head or "<!ENTITY" in head:
            raise ValueError("XML with a DTD or entities (Kaleyra sends neither)")
        root = _parse_xml(body.encode())
        parsed = _xml_to_python(root)
        return parsed if isinstance(parsed, dict) else {"status": "", "data": parsed}
    import json

    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("top level is not an object")
    check_json_depth(payload)
    return payload


def _parse_xml(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> ET.Element:
    """The XML tree of ``data``, refused (``ValueError``) as soon as it nests deeper than ``max_depth``
    (read with a pull parser: a 100k-deep document is not built first)."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    depth = 0

    def walk() -> None:
        nonlocal root, depth
        # only "start"/"end" were asked for: each event is (name, element) (typeshed also
        # lists the shapes of the "start-ns"/"end-ns"/"comment"/"pi" events)
        events = cast("Iterator[tuple[str, ET.Element]]", parser.read_events())
        for event, element in events:
            if event == "start":
                depth += 1
                root = element if root is None else root
                if depth > max_depth:
                    raise ValueError(f"XML nested deeper than {max_depth} levels")
            else:
                depth -= 1

    for start in range(0, len(data), 64 * 1024):
        parser.feed(data[start : start + 64 * 1024])
        walk()
    parser.close()
    walk()
    if root is None:
        raise ValueError("no XML element")
    return root


def records(data: Any, item_tag: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``data`` whatever its shape: a JSON list, a JSON object keyed ``"0"``, ``"1"``..., or XML items."""
    if data in (None, "", []):
        return []
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    if isinstance(data, Mapping):
        if item_tag and item_tag in data:
            return records(data[item_tag])
        numbered = [v for k, v in data.items() if str(k).isdigit() and isinstance(v, dict)]
        if numbered:
            return numbered
        return [dict(data)]
    return []


class KaleyraCore(VendorApi):
    """Kaleyra Voice API core. Endpoint mixins (OBD, reports, calls) build on it.

    :param api_key: the account's API key (sent as ``x-api-key``).
    :param response_format: ``json`` (default) or ``xml``: the ``format=`` asked of Kaleyra;
        both are parsed the same way.
    :param base_urls: overrides of :attr:`default_base_urls` (the simulator and tests use this).

    Base URLs: ``default`` (``https://api-voice.kaleyra.com/v1/``) and ``obd`` for the
    ``voice.*`` family (``https://obd.kaleyra.com/api/v1/``). When ``default`` is overridden with
    a host that is not Kaleyra's (the simulator, a proxy) and ``obd`` is not given, ``voice.*``
    goes to that same URL (the spec documents every method at ``{{base_url}}/{{version}}/``):
    a call never reaches a production host the caller did not configure.
    """

    vendor: ClassVar[str] = "kaleyra"
    default_base_urls: ClassVar[dict[str, str]] = {"default": KALEYRA_PRODUCTION_URL, "obd": KALEYRA_OBD_PRODUCTION_URL}

    def __init__(
        self,
        *,
        api_key: str,
        response_format: Literal["json", "xml"] = "json",
        base_urls: Mapping[str, str] | None = None,
    ) -> None:
        given = {k: v for k, v in (base_urls or {}).items() if v}
        if "obd" not in given and "default" in given and not is_kaleyra_production(given["default"]):
            given["obd"] = given["default"]
        super().__init__(base_urls=given)
        self._secret(api_key)
        self._key = api_key
        self.response_format = response_format

    def auth_headers(self, call: Call[Any]) -> dict[str, str]:
        return {"x-api-key": self._key}

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        try:
            payload = parse_kaleyra_body(response.text)
        except (ValueError, ET.ParseError):
            return super().error_info(response)
        return ErrorInfo(code=str(payload.get("status")), message=str(payload.get("message", "")), payload=payload)

    def reply(
        self,
        response: httpx.Response,
        method: str,
        *,
        accept: frozenset[str] = frozenset(),
        success: frozenset[str] = METHOD_SUCCESS,
    ) -> KaleyraReply:
        """Parse and check an answer; a non-success status (unless in ``accept``) raises the typed error.

        :param response: the answer.
        :param method: the Kaleyra method, for errors.
        :param accept: other statuses returned as they are (``E701`` for ``monitor``).
        :param success: the method's success statuses (``"200"``; the dialer's ``"OK "``).
        An answer without a ``status``, or with a ``message`` that is not text, is malformed.
        """

        def malformed(reason: str) -> MalformedResponseError:
            excerpt = redact(response.text[:200], phones=True)
            return MalformedResponseError(
                f"HTTP {response.status_code}: unexpected answer: {reason}; body: {excerpt!r}",
                status_code=response.status_code,
                excerpt=excerpt,
                vendor=self.vendor,
                endpoint=method,
            )

        try:
            payload = parse_kaleyra_body(response.text)
        except (ValueError, ET.ParseError, RecursionError) as exc:
            raise malformed(f"unreadable ({describe_parse_error(exc)})") from None
        status, message = payload.get("status"), payload.get("message", "")
        if isinstance(status, bool) or not isinstance(status, (str, int)) or not str(status).strip():
            raise malformed("no 'status'")
        if message is None:
            message = ""
        if isinstance(message, bool) or not isinstance(message, (str, int, float)):
            raise malformed("'message' is not text")
        reply = KaleyraReply.model_validate({**payload, "status": str(status).strip(), "message": str(message)})
        if reply.status.upper() in success or reply.status in accept:
            return reply
        if not ERROR_STATUS_RE.fullmatch(reply.status):
            # neither this method's success nor an error code ("OK" on voice.json...): the fate is unknown
            raise malformed(f"status {reply.status[:20]!r} is neither {method}'s success nor an error code")
        text = f"{reply.status} {reply.message}".strip()
        if reply.status.upper() in AUTH_STATUSES:
            raise AuthError(text, vendor_code=reply.status, vendor=self.vendor, endpoint=method)
        raise VendorRejectedError(
            text,
            vendor_code=reply.status,
            vendor_message=reply.message,
            status_code=response.status_code,
            payload=payload,
            vendor=self.vendor,
            endpoint=method,
        )

    def method_call(
        self,
        method: str,
        fields: Mapping[str, Any] | None = None,
        *,
        parse: Any = None,
        base: str = "default",
        idempotent: bool | None = None,
        accept: frozenset[str] = frozenset(),
        query: Mapping[str, Any] | None = None,
        json: Any = None,
        success: frozenset[str] | None = None,
    ) -> Call[Any]:
        """A Kaleyra call: POST with ``method`` and ``format``; form fields, or a JSON body with the
        method in the query string (``voice.json``, ``autodial.import``). ``parse`` receives the
        :class:`KaleyraReply`; ``success`` defaults to ``"200"`` (``"OK"`` too for ``autodial.*``)."""
        statuses = success or (DIALER_SUCCESS if method.startswith("autodial.") else METHOD_SUCCESS)

        def _parse(response: httpx.Response) -> Any:
            reply = self.reply(response, method, accept=accept, success=statuses)
            return parse(reply) if parse else reply

        selector = {"method": method, "format": self.response_format}
        if json is not None:
            return Call(
                endpoint=method,
                method="POST",
                path="",
                params={**selector, **(query or {})},
                json=json,
                parse=_parse,
                base=base,
                idempotent=idempotent,
            )
        return Call(
            endpoint=method,
            method="POST",
            path="",
            data={**selector, **(fields or {})},
            params=query,
            parse=_parse,
            base=base,
            idempotent=idempotent,
        )

    # -- endpoints ----------------------------------------------------------------------
    @endpoint
    def monitor(self) -> Call[KaleyraHealth]:
        """``method=monitor``: network health by region. ``E701`` (no incidents) means healthy."""

        def parse(reply: KaleyraReply) -> KaleyraHealth:
            if reply.status == "E701":
                return KaleyraHealth(incidents=[], healthy=True, message=reply.message)
            # "200: for valid response with data" (no incidents is E701): a 200 without incidents,
            # or an incident without its state, is not a health report
            data = reply.data if isinstance(reply.data, Mapping) else {}
            items = data.get("incidents")
            if isinstance(items, Mapping):
                items = items.get("monitor", items)
            if isinstance(items, list):
                rows = list(items) if all(isinstance(item, Mapping) for item in items) else []
            else:
                rows = records(items, "monitor") if isinstance(items, Mapping) else []
            if not rows:
                raise MalformedResponseError(
                    "monitor answered 200 without a list of incidents", vendor=self.vendor, endpoint="monitor"
                )
            incidents = []
            for item in rows:
                if not isinstance(item.get("type"), str) or not item["type"].strip():
                    raise MalformedResponseError(
                        "monitor incident without its 'type' (operational...)", vendor=self.vendor, endpoint="monitor"
                    )
                numbers = item.get("numbers", [])
                if isinstance(numbers, Mapping):
                    numbers = numbers.get("monitor", [])
                incidents.append(
                    KaleyraIncident.model_validate(
                        {**item, "numbers": numbers if isinstance(numbers, list) else [numbers]}
                    )
                )
            return KaleyraHealth(
                incidents=incidents, healthy=all(i.operational for i in incidents), message=reply.message
            )

        return self.method_call("monitor", parse=parse, idempotent=True, accept=frozenset({"E701"}))
