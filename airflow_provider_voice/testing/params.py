"""Reading request parameters the way the vendors accept them.

A request may carry parameters in the query string, a form body (urlencoded or multipart, with
uploaded files) or a JSON body. :func:`read_params` collects all of them once; each vendor then
picks what it needs (``merged()`` gives query > form > JSON precedence).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request

MAX_BODY_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart body."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class RequestParams:
    """Everything a request carried.

    :param query: query-string parameters (last value wins).
    :param form: urlencoded or multipart text fields.
    :param files: multipart file parts by field name.
    :param json: the parsed JSON body (None when the body is not JSON).
    :param raw: the raw body bytes.
    :param content_type: the request's media type (lower case, no parameters).
    :param json_error: True when the body looked like JSON but did not parse.
    """

    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    json: Any = None
    raw: bytes = b""
    content_type: str = ""
    json_error: bool = False

    def merged(self) -> dict[str, Any]:
        """JSON object fields, overridden by form fields, overridden by the query string."""
        out: dict[str, Any] = dict(self.json) if isinstance(self.json, Mapping) else {}
        out.update(self.form)
        out.update(self.query)
        return out


async def read_params(request: Request) -> RequestParams:
    """Collect the query string and body of ``request`` (the body is read once)."""
    params = RequestParams(query=dict(request.query_params))
    header = request.headers.get("content-type", "")
    params.content_type = header.split(";", 1)[0].strip().lower()
    if request.method in ("GET", "HEAD"):
        return params
    if params.content_type.startswith("multipart/"):
        form = await request.form(max_files=10, max_fields=10_000, max_part_size=MAX_BODY_BYTES)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                params.files[key] = UploadedFile(value.filename or "", value.content_type or "", data)
            else:
                params.form[key] = str(value)
        await form.close()
        return params
    raw = await request.body()
    params.raw = raw
    if not raw:
        return params
    stripped = raw.lstrip()
    if "json" in params.content_type or (params.content_type in ("", "text/plain") and stripped[:1] in (b"{", b"[")):
        try:
            params.json = json.loads(raw)
        except ValueError:
            params.json_error = True
        return params
    if params.content_type in ("application/x-www-form-urlencoded", "", "text/plain"):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        params.form = dict(parse_qsl(text, keep_blank_values=True))
    return params
