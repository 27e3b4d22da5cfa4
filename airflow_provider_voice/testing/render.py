"""Response bodies: JSON, raw text and the Kaleyra-style XML documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

JSON = "application/json"


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``data`` as a JSON body."""
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, headers=dict(headers or {}), media_type=JSON)


def raw_response(body: str | bytes, status: int = 200, media_type: str = JSON) -> Response:
    """A body sent exactly as given (used where a spec shows a non-JSON body under a JSON type)."""
    return Response(body.encode("utf-8") if isinstance(body, str) else body, status_code=status, media_type=media_type)


def _xml_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return escape(str(value))


def _xml_element(tag: str, value: Any, item_tag: str, depth: int, out: list[str]) -> None:
    pad = "    " * depth
    if isinstance(value, Mapping):
        out.append(f"{pad}<{tag}>")
        named = [(k, v) for k, v in value.items() if not str(k).isdigit()]
        indexed = [(k, v) for k, v in value.items() if str(k).isdigit()]
        for key, child in named:
            _xml_element(str(key), child, item_tag, depth + 1, out)
        for _, child in indexed:
            _xml_element(item_tag, child, item_tag, depth + 1, out)
        out.append(f"{pad}</{tag}>")
    elif isinstance(value, (list, tuple)):
        out.append(f"{pad}<{tag}>")
        for child in value:
            _xml_element(item_tag, child, item_tag, depth + 1, out)
        out.append(f"{pad}</{tag}>")
    else:
        out.append(f"{pad}<{tag}>{_xml_scalar(value)}</{tag}>")


def xml_document(fields: Mapping[str, Any], item_tag: str = "item", root: str = "api") -> str:
    """An XML document shaped like Kaleyra's examples.

    Mappings become child elements (numeric keys, like ``"0"``, become ``<item_tag>`` elements
    after the named ones); lists become repeated ``<item_tag>`` elements.
    """
    out = ['<?xml version="1.0" encoding="UTF-8" ?>']
    _xml_element(root, fields, item_tag, 0, out)
    return "\n".join(out) + "\n"


def xml_response(fields: Mapping[str, Any], item_tag: str = "item", status: int = 200) -> Response:
    """:func:`xml_document` as a response."""
    return Response(xml_document(fields, item_tag).encode("utf-8"), status_code=status, media_type="application/xml")
