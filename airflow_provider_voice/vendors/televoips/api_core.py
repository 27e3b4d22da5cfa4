"""TeleVoIPs: two keys (``x-api-key`` for reports, ``Authorization`` for messaging) and message reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, overload

import httpx
import pendulum
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_voice.errors import MalformedResponseError, ValidationError
from airflow_provider_voice.transport import Call, json_body
from airflow_provider_voice.vendors.base import VendorApi, endpoint

__all__ = ["TELEVOIPS_TIME_FORMAT", "TeleVoipsCore", "TeleVoipsMessage", "format_televoips_time"]

ModelT = TypeVar("ModelT", bound=BaseModel)

TELEVOIPS_PRODUCTION_URL = "https://api.televoips.com"
#: ``start``/``end`` of ``GET /messages`` (pendulum tokens for ``yyyy-mm-dd HH:mm:ss``)
TELEVOIPS_TIME_FORMAT = "YYYY-MM-DD HH:mm:ss"
#: ``GET /messages`` has no pagination (up to 90 days in one answer): its cap is above the core's 16 MiB
LIST_MESSAGES_MAX_BYTES = 128 * 1024 * 1024


def format_televoips_time(value: Any, *, field: str = "start") -> str:
    """Render a datetime (or ISO string) as TeleVoIPs ``yyyy-mm-dd HH:mm:ss`` in UTC.

    :raises ValidationError: a value that is not a date/time (before any request is sent)."""
    try:
        if isinstance(value, str):
            value = pendulum.parse(value)
        if not isinstance(value, dt.datetime):  # a date, time or duration has no moment to send
            raise TypeError(type(value).__name__)
        return pendulum.instance(value).in_timezone("UTC").format(TELEVOIPS_TIME_FORMAT)
    except Exception:
        raise ValidationError(field, value, "a datetime or ISO-8601 text such as 2026-12-01T09:00:00Z") from None


class TeleVoipsMessage(BaseModel):
    """One SMS as ``GET /messages`` lists it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1)
    user_id: str | None = None
    number_id: str | None = None
    direction: str | None = None
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    content: str | None = None
    time: str | None = None
    read: str | None = None
    media: list[Any] = Field(default_factory=list, alias="Media")


class TeleVoipsCore(VendorApi):
    """TeleVoIPs API core.

    :param reports_key: key for ``/reports/*`` (sent as ``x-api-key``).
    :param messaging_key: key for ``/messages`` and ``/unsubscribe`` (sent raw as ``Authorization``).
    """

    vendor: ClassVar[str] = "televoips"
    default_base_urls: ClassVar[dict[str, str]] = {"default": TELEVOIPS_PRODUCTION_URL}

    def __init__(self, *, reports_key: str | None = None, messaging_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not reports_key and not messaging_key:
            raise ValidationError("reports_key/messaging_key", None, "give at least one TeleVoIPs key")
        self._reports_key = self._secret(reports_key)
        self._messaging_key = self._secret(messaging_key)

    @property
    def has_reports_key(self) -> bool:
        return bool(self._reports_key)

    @property
    def has_messaging_key(self) -> bool:
        return bool(self._messaging_key)

    def auth_headers(self, call: Call[object]) -> dict[str, str]:
        if call.auth == "messaging":
            if not self._messaging_key:
                raise ValidationError("messaging_key", None, f"{call.endpoint} needs the TeleVoIPs messaging key")
            return {"Authorization": self._messaging_key}
        if not self._reports_key:
            raise ValidationError("reports_key", None, f"{call.endpoint} needs the TeleVoIPs reports key (x-api-key)")
        return {"x-api-key": self._reports_key}

    @overload
    def json_parser(
        self, name: str, model: None = None, *, many: bool = False, non_empty: bool = False
    ) -> Callable[[httpx.Response], Any]: ...
    @overload
    def json_parser(
        self, name: str, model: type[ModelT], *, many: Literal[False] = False, non_empty: bool = False
    ) -> Callable[[httpx.Response], ModelT]: ...
    @overload
    def json_parser(
        self, name: str, model: type[ModelT], *, many: Literal[True], non_empty: bool = False
    ) -> Callable[[httpx.Response], list[ModelT]]: ...
    def json_parser(
        self, name: str, model: type[BaseModel] | None = None, *, many: bool = False, non_empty: bool = False
    ) -> Callable[[httpx.Response], object]:
        """A parser of JSON answers: one ``model``, or (``many``) a JSON *list* of them, with at least
        one item when ``non_empty``. Anything else (``{}`` for a list...) is malformed.

        :param name: the endpoint (names the errors).
        :param model: the pydantic model of the answer (None: the decoded JSON as it is).
        :param many: the answer is a JSON list of ``model`` objects.
        :param non_empty: with ``many``, an empty list is malformed.
        """

        def parse(response: httpx.Response) -> object:
            payload = json_body(response, vendor=self.vendor, endpoint=name)
            if model is None:
                return payload
            if many:
                if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
                    raise MalformedResponseError("expected a JSON list of objects", vendor=self.vendor, endpoint=name)
                if non_empty and not payload:
                    raise MalformedResponseError(
                        "expected the message (a one-element list), got an empty list",
                        vendor=self.vendor,
                        endpoint=name,
                    )
                return [model.model_validate(item) for item in payload]
            return model.model_validate(payload)

        return parse

    # -- endpoints ----------------------------------------------------------------------
    @endpoint
    def list_messages(self, start: Any = None, end: Any = None) -> Call[list[TeleVoipsMessage]]:
        """``GET /messages``: messages between ``start`` and ``end`` (datetimes; vendor default: last 90 days)."""
        params = {
            "start": None if start is None else format_televoips_time(start),
            "end": None if end is None else format_televoips_time(end, field="end"),
        }
        return Call(
            endpoint="GET /messages",
            method="GET",
            path="/messages",
            params=params,
            auth="messaging",
            parse=self.json_parser("GET /messages", TeleVoipsMessage, many=True),
            max_response_bytes=LIST_MESSAGES_MAX_BYTES,
        )

    @endpoint
    def get_message(self, message_id: str) -> Call[list[TeleVoipsMessage]]:
        """``GET /messages/{id}``: one message (TeleVoIPs answers with a one-element list)."""
        if not message_id or "/" in message_id:
            raise ValidationError("message_id", message_id, "a non-empty message id without '/'")
        return Call(
            endpoint="GET /messages/{id}",
            method="GET",
            path=f"/messages/{message_id}",
            auth="messaging",
            parse=self.json_parser("GET /messages/{id}", TeleVoipsMessage, many=True, non_empty=True),
        )
