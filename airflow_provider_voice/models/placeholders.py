"""Per-recipient ``{placeholder}`` text: plain names only, filled without ``str.format``.

A campaign message such as ``"Hello {name}, your code is {code}"`` is filled per recipient from
``{name}``, ``{number}`` and the recipient's variables. Only plain names are allowed: an
attribute (``{name.upper}``), an index (``{row[0]}``), a conversion (``{name!r}``) or a format
spec (``{amount:>10}``) would make Python read object internals aloud
(``<built-in method upper of str object at 0x...>``), so they are validation errors before
anything is sent. ``{{`` and ``}}`` are literal braces. The text is assembled piece by piece:
``str.format`` is never called on it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from airflow_provider_voice.errors import ValidationError

__all__ = ["LOOKS_LIKE_PLACEHOLDER", "fill_placeholders", "placeholder_names"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: text a vendor without per-recipient messages would read aloud as a placeholder (``{name}``, ``{ x.y }``)
LOOKS_LIKE_PLACEHOLDER = re.compile(r"\{\s*[A-Za-z_][^{}]*\}")


def _pieces(template: str, field: str) -> list[tuple[str, str | None]]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValidationError(
            field, template, f"bad placeholder syntax ({exc}); write {{{{ and }}}} for a literal brace"
        ) from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        if not _NAME.match(name) or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValidationError(
                field,
                template,
                f"placeholder {shown} is not allowed: only plain names such as {{name}} or {{first_name}} "
                "(no attributes, indexes, conversions or format specs); write {{ and }} for literal braces",
            )
        pieces.append((literal, name))
    return pieces


def placeholder_names(template: str | None, *, field: str = "message") -> list[str]:
    """The names of the ``{placeholders}`` in ``template`` (empty for plain text), in order, without repeats.

    :param template: the message.
    :param field: the argument named in the error.
    :raises ValidationError: a placeholder that is not a plain name, or unbalanced braces.
    """
    if not template:
        return []
    return list(dict.fromkeys(name for _, name in _pieces(template, field) if name is not None))


def fill_placeholders(template: str, values: Mapping[str, Any], *, field: str = "message", where: str = "") -> str:
    """``template`` with each ``{name}`` replaced by ``str(values[name])``.

    :param template: the message (checked like :func:`placeholder_names`).
    :param values: the recipient's values.
    :param field: the argument named in errors.
    :param where: who the text is for (``"recipients[3]"``), named in errors.
    :raises ValidationError: a missing value, or a text that is empty once filled.
    """
    out: list[str] = []
    for literal, name in _pieces(template, field):
        out.append(literal)
        if name is None:
            continue
        if name not in values:
            raise ValidationError(
                f"{where}.variables" if where else field,
                sorted(values),
                f"message needs {{{name}}}; this recipient has: {', '.join(sorted(values)) or 'nothing'}",
            )
        out.append(str(values[name]))
    text = "".join(out)
    if not text.strip():
        raise ValidationError(field, template, f"the message for {where or 'a recipient'} is empty once filled")
    return text
