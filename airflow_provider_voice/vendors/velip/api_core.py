"""Velip V2: authentication, the ``{"return": {...}}`` envelope, ``GetUserID``.

Velip answers every call with ``{"return": {"status": "OK", "status_code": "0", ...}}``
(``status_code`` is a string). Codes 100-199 are authentication failures (never retried:
Velip bans an IP after repeated failures); other non-zero codes are vendor rejections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload

import httpx
from pydantic import BaseModel, ConfigDict

from airflow_provider_voice.errors import AuthError, MalformedResponseError, VendorRejectedError
from airflow_provider_voice.redaction import VendorSecret
from airflow_provider_voice.transport import Call, ErrorInfo, json_body
from airflow_provider_voice.vendors.base import VendorApi, endpoint

__all__ = ["VelipCore", "VelipUser"]

#: what a Velip call's parser makes of the ``return`` object
R = TypeVar("R")

VELIP_PRODUCTION_URL = "https://vox.velip.com.br"
#: answers that may be bigger than the HTTP core's default cap (16 MiB): maxreg=5000 call pages
LARGE_ANSWERS = {"GetCallStatus": 64 * 1024 * 1024, "GetCampaignsList": 64 * 1024 * 1024}


class VelipUser(BaseModel):
    """``GetUserID`` answer: the temporary token ``tsid`` (60 minutes, bound to the caller's IP) and account ids.

    ``tsid`` is a credential: registered with the secrets masker when parsed, hidden by ``repr`` and
    dumped as ``"***"``; read it with ``user.tsid.get_secret_value()``.
    """

    model_config = ConfigDict(extra="allow")

    tsid: VendorSecret | None = None
    cdcs_id: str | int | None = None


def _is_auth_code(code: str | None) -> bool:
    return code is not None and code.isdigit() and 100 <= int(code) < 200


class VelipCore(VendorApi):
    """Velip V2 API core. Endpoint mixins (campaigns, reports, messaging) build on it.

    :param token: permanent token (control panel: API - CONFIGURA - TOKENS) or a temporary ``tsid``.
    :param php_suffix: call ``/api/v2/<Name>.php`` (newer docs) instead of ``/api/v2/<Name>``.
    """

    vendor: ClassVar[str] = "velip"
    default_base_urls: ClassVar[dict[str, str]] = {"default": VELIP_PRODUCTION_URL}

    def __init__(self, *, token: str, php_suffix: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._token = self._secret(token)
        self.php_suffix = php_suffix

    def auth_headers(self, call: Call[object]) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    # -- shared helpers for every Velip endpoint ---------------------------------------
    def path(self, name: str) -> str:
        return f"/api/v2/{name}{'.php' if self.php_suffix else ''}"

    def error_info(self, response: httpx.Response) -> ErrorInfo:
        try:
            ret = response.json().get("return", {})
        except (ValueError, AttributeError):
            return super().error_info(response)
        return ErrorInfo(code=str(ret.get("status_code")), message=str(ret.get("status")), payload=ret)

    def unwrap(self, response: httpx.Response, endpoint_name: str) -> dict[str, Any]:
        """The ``return`` object of a 2xx answer; raise the typed error when ``status_code`` is not ``"0"``."""
        payload = json_body(response, vendor=self.vendor, endpoint=endpoint_name)
        ret = payload.get("return") if isinstance(payload, dict) else None
        if not isinstance(ret, dict):
            raise MalformedResponseError("answer has no 'return' object", vendor=self.vendor, endpoint=endpoint_name)
        raw_code = ret.get("status_code")
        if isinstance(raw_code, bool) or not isinstance(raw_code, (str, int)) or not str(raw_code).strip():
            raise MalformedResponseError(
                "answer has no 'return.status_code'", vendor=self.vendor, endpoint=endpoint_name
            )
        code = str(raw_code).strip()
        if code == "0":
            return ret
        status = str(ret.get("status", "error"))
        if _is_auth_code(code):
            raise AuthError(
                f"{status} (status_code {code})", vendor_code=code, vendor=self.vendor, endpoint=endpoint_name
            )
        raise VendorRejectedError(
            f"{status} (status_code {code})",
            vendor_code=code,
            vendor_message=status,
            status_code=response.status_code,
            payload=ret,
            vendor=self.vendor,
            endpoint=endpoint_name,
        )

    @overload
    def call(
        self, name: str, /, *, method: str = "POST", parse: Callable[[dict[str, Any]], R], **fields: Any
    ) -> Call[R]: ...
    @overload
    def call(
        self, name: str, /, *, method: str = "POST", parse: None = None, **fields: Any
    ) -> Call[dict[str, Any]]: ...
    def call(
        self,
        name: str,
        /,
        *,
        method: str = "POST",
        parse: Callable[[dict[str, Any]], object] | None = None,
        **fields: Any,
    ) -> Call[object]:
        """A Velip call to API ``name``: JSON body for POST, query string for GET. ``name`` is
        positional-only, so Velip's own ``name`` field can be a field.

        :param name: the Velip API (``"MakeTTSCall"``...).
        :param method: ``"POST"`` (JSON body) or ``"GET"`` (query string).
        :param parse: turns the ``return`` object into the call's result (None: the object itself).
        :param fields: the request's fields (JSON values; None ones are left out).
        """
        body = {k: v for k, v in fields.items() if v is not None}

        def _parse(response: httpx.Response) -> object:
            ret = self.unwrap(response, name)
            return parse(ret) if parse else ret

        cap = LARGE_ANSWERS.get(name)
        if method == "GET":
            return Call(
                endpoint=name, method="GET", path=self.path(name), params=body, parse=_parse, max_response_bytes=cap
            )
        return Call(endpoint=name, method="POST", path=self.path(name), json=body, parse=_parse, max_response_bytes=cap)

    # -- endpoints ----------------------------------------------------------------------
    @endpoint
    def get_user_id(self) -> Call[VelipUser]:
        """``GetUserID``: a cheap authenticated call returning a temporary token and the account ids."""

        def parse(ret: dict[str, Any]) -> VelipUser:
            tsid = ret.get("tsid")
            if not isinstance(tsid, str) or not tsid.strip():  # what GetUserID is for (spec: returns return.tsid)
                raise MalformedResponseError("GetUserID answer has no tsid", vendor=self.vendor, endpoint="GetUserID")
            return VelipUser.model_validate(ret)

        return self.call("GetUserID", method="GET", parse=parse)
