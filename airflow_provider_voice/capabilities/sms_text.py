"""Per-recipient SMS text: ``${name}``-style placeholders filled from each recipient.

The operator's ``text`` is first rendered by Airflow (Jinja, run-level: ``{{ dag_run.run_after | ds }}``, params...);
then, for each recipient, ``${placeholder}`` (Python :class:`string.Template` syntax, ``$$`` for a
literal ``$``) is filled from the recipient: ``${name}``, ``${number}`` (E.164) and every
recipient variable (CSV columns, JSON keys, ``variables``). The two syntaxes do not collide.
"""

from __future__ import annotations

import string
from typing import Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.recipients import Recipient

__all__ = ["SmsText", "placeholder_names"]


def placeholder_names(template: string.Template) -> tuple[str, ...]:
    """The ``$name`` / ``${name}`` placeholders of ``template``, in order of first use.

    Scans with the template's own ``pattern`` (what ``Template.get_identifiers`` and ``is_valid``
    do on Python 3.11+; Python 3.10 has neither), so every supported Python reads a text alike.

    :param template: the template.
    :raises ValidationError: a ``$`` that starts no placeholder and is not written ``$$``.
    """
    names: dict[str, None] = {}
    for match in template.pattern.finditer(template.template):
        if match.group("invalid") is not None:
            raise ValidationError("text", template.template, "a '$' must start ${placeholder} or be written '$$'")
        name = match.group("named") or match.group("braced")
        if name is not None:
            names.setdefault(name, None)
    return tuple(names)


class SmsText:
    """An SMS text template (see the module docstring).

    :param template: the text (already rendered by Airflow).
    :raises ValidationError: empty text or a malformed placeholder.
    """

    def __init__(self, template: Any) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ValidationError("text", template, "the SMS text must not be empty")
        self.template = template
        self._template = string.Template(template)
        #: the placeholder names, in order of first use
        self.placeholders = placeholder_names(self._template)

    @property
    def personalized(self) -> bool:
        return "$" in self.template

    def render(self, recipient: Recipient, *, position: int | None = None) -> str:
        """The text for ``recipient``; :class:`ValidationError` when a placeholder has no value."""
        if not self.personalized:
            return self.template
        values = {**recipient.variables, "number": str(recipient.number)}
        if recipient.name is not None:
            values["name"] = recipient.name
        where = f"recipient #{position}" if position is not None else "recipient"
        try:
            text = self._template.substitute(values)
        except KeyError as exc:
            raise ValidationError(
                "text", self.template, f"{where} has no value for ${{{exc.args[0]}}} (has: {', '.join(sorted(values))})"
            ) from None
        except ValueError as exc:
            raise ValidationError("text", self.template, f"bad placeholder: {exc}") from None
        if not text.strip():
            raise ValidationError("text", self.template, f"the text for {where} is empty")
        return text


#: the GSM 03.38 basic character set (and its extension table, whose characters count twice)
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS parts ``text`` takes: GSM 03.38 text is 160 characters in one part, 153 per part
    when concatenated (an extension character such as ``€`` counts twice); any other character makes
    it UCS-2: 70, then 67 per part. What operators bill per (an estimate's unit); 0 for an empty text."""
    if not text:
        return 0
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units, single, multi = len(text) + sum(c in _GSM_EXTENDED for c in text), 160, 153
    else:
        units, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // multi)
