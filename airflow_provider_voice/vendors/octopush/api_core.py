"""Octopush: ``api-login`` + ``api-key`` headers, its error body, the wallet balance."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, overload

import httpx
from pydantic import BaseModel, ConfigDict

from airflow_provider_voice.transport import Call, ErrorInfo, json_body
from airflow_provider_voice.vendors.base import VendorApi, endpoint

__all__ = ["OctopushBalance", "OctopushCore"]

OCTOPUSH_PRODUCTION_URL = "https://api.octopush.com"
#: every Octopush path starts with this prefix
OCTOPUSH_API_PREFIX = "/v1/public"

#: the pydantic model a JSON answer is read into
ModelT = TypeVar("ModelT", bound=BaseModel)


class OctopushBalance(BaseModel):
    """``GET /wallet/check-balance``: ``{"amount": 12.54, "unit": "euros"}``."""

    model_config = ConfigDict(extra="allow")

    amount: float
    unit: str


class OctopushCore(VendorApi):
    """Octopush API core.

    :param api_login: the account's api login (an e-mail address).
    :param api_key: the account's api key.
    :param base_urls: overrides of :attr:`default_base_urls` (the simulator and tests use this).
    """

    vendor: ClassVar[str] = "octopush"
    default_base_urls: ClassVar[dict[str, str]] = {"default": OCTOPUSH_PRODUCTION_URL}

    def __init__(self, *, api_login: str, api_key: str, base_urls: Mapping[str, str] | None = None) -> None:
        super().__init__(base_urls=base_urls)
        self._secret(api_login)  # a credential header too: never shown
        self._secret(api_key)
        self._login = api_login
        self._key = api_key

    def auth_headers(self, call: Call[Any]) -> dict[str, str]:
        return {"api-login": self._login, "api-key": self._key}

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        """Octopush errors: ``{"code": 400, "message": ..., "errors": {field: {code, message}}}``."""
        try:
            payload = response.json()
        except ValueError:
            return super().error_info(response)
        if not isinstance(payload, dict):
            return super().error_info(response)
        raw_errors = payload.get("errors")
        errors: dict[Any, Any] = raw_errors if isinstance(raw_errors, dict) else {}
        code = payload.get("code")
        return ErrorInfo(
            code=None if code is None else str(code),
            message=str(payload.get("message") or response.reason_phrase),
            field_errors={str(k): v if isinstance(v, dict) else {"message": str(v)} for k, v in errors.items()},
            payload=payload,
        )

    @overload
    def json_parser(self, name: str, model: type[ModelT]) -> Callable[[httpx.Response], ModelT]: ...
    @overload
    def json_parser(self, name: str, model: None = None) -> Callable[[httpx.Response], Any]: ...
    def json_parser(self, name: str, model: type[BaseModel] | None = None) -> Callable[[httpx.Response], Any]:
        """A parser of a JSON answer: the decoded body, or ``model`` validated from it.

        :param name: the endpoint, named in a malformed-response error.
        :param model: the pydantic model of the answer (None: the decoded JSON as it is).
        """

        def parse(response: httpx.Response) -> Any:
            payload = json_body(response, vendor=self.vendor, endpoint=name)
            return model.model_validate(payload) if model is not None else payload

        return parse

    @endpoint
    def check_balance(self) -> Call[OctopushBalance]:
        """``GET /wallet/check-balance``: the wallet balance (a cheap authenticated call)."""
        return Call(
            endpoint="wallet/check-balance",
            method="GET",
            path=f"{OCTOPUSH_API_PREFIX}/wallet/check-balance",
            parse=self.json_parser("wallet/check-balance", OctopushBalance),
        )
