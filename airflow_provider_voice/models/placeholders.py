"""Per-recipient ``{placeholder}`` text: plain names only, filled without ``str.format``.

A campaign message such as ``"Hello {name}, your code is {code}"`` is filled per recipient from
``{name}``, ``{number}`` and the recipient's variables. Only plain names are allowed: an
attribute (``{name.upper}``), an index (``{row[0]}``), a conversion (``{name!r}``) or a format
spec (``{amount:>10}``) would make Python read object internals aloud
(``<built-in method upper of str object at 0x...>``), so they are validation errors before
anything is sent. ``{{`` and ``}}`` are literal braces. The text is assembled piece by piece:
``str.format`` is never called on it.

One renderer serves every campaign vendor (Velip, Octopush, Kaleyra): :func:`recipient_values`
says what a recipient offers, :func:`render` fills a message for one recipient, and
:class:`CampaignText` is what a campaign channel holds (the message, whether it is personalised,
the text of a recipient or of a whole frame).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.models.recipients import Recipient

__all__ = [
    "LOOKS_LIKE_PLACEHOLDER",
    "TEXTS_INFO",
    "CampaignText",
    "campaign_text",
    "fill_placeholders",
    "placeholder_names",
    "placeholders",
    "recipient_values",
    "render",
]

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
    return _fill(template, _pieces(template, field), values, field=field, where=where)


def _fill(
    template: str, pieces: list[tuple[str, str | None]], values: Mapping[str, Any], *, field: str, where: str
) -> str:
    out: list[str] = []
    for literal, name in pieces:
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


def placeholders(template: str | None) -> list[str]:
    """Names of the ``{placeholders}`` in a campaign message (plain names only; errors name ``message``).

    :param template: the message.
    :raises ValidationError: a placeholder that is not a plain name, or unbalanced braces.
    """
    return placeholder_names(template, field="message")


def recipient_values(recipient: Recipient) -> dict[str, Any]:
    """What a personalised message can use: ``{name}`` (empty when the recipient has none),
    ``{number}`` (E.164) and the recipient's variables (``name`` and ``number`` win over variables
    of the same name).

    :param recipient: the recipient.
    """
    return {**recipient.variables, "name": recipient.name or "", "number": str(recipient.number)}


def render(template: str, recipient: Recipient, *, where: str = "") -> str:
    """The message for one recipient (``{name}``, ``{number}`` and the recipient's variables).

    :param template: the message.
    :param recipient: the recipient.
    :param where: who the text is for (``"recipients[3]"``), named in errors.
    :raises ValidationError: a missing variable (field ``<where>.variables``), or a text that is
        empty once filled.
    """
    return fill_placeholders(template, recipient_values(recipient), where=where)


#: the :class:`~airflow_provider_voice.delivery.FrameResult` ``info`` key listing the digests of
#: the texts a frame read (never the texts: they may hold names)
TEXTS_INFO = "texts"


class CampaignText:
    """The text a campaign reads: one message for everybody, or a ``{placeholder}`` message
    rendered per recipient (as :func:`render` does; the message is parsed once).

    :param message: the campaign's message (None when the campaign plays audio).
    :param audio: the campaign's audio reference: when set, no text is read (:attr:`message` is None).
    :raises ValidationError: a placeholder that is not a plain name, or unbalanced braces.
    """

    def __init__(self, message: str | None, *, audio: str | None = None) -> None:
        #: the message read (None: the campaign plays audio)
        self.message: str | None = None if audio else (message or None)
        self._pieces = _pieces(self.message, "message") if self.message else []
        #: True when the message has ``{placeholders}``: recipients may hear different texts
        self.personalised: bool = any(name is not None for _, name in self._pieces)

    def for_recipient(self, recipient: Recipient, *, where: str = "") -> str | None:
        """The text ``recipient`` hears (None when the campaign plays audio).

        :param recipient: the recipient.
        :param where: who it is for (``"recipients[3]"``), named in errors.
        :raises ValidationError: a missing variable, or a text that is empty once filled.
        """
        if self.message is None or not self.personalised:
            return self.message
        return _fill(self.message, self._pieces, recipient_values(recipient), field="message", where=where)

    def texts(self, recipients: Iterable[Recipient]) -> list[str]:
        """The distinct texts ``recipients`` hear, in order of first appearance (empty for audio)."""
        if self.message is None:
            return []
        if not self.personalised:
            return [self.message]
        return list(dict.fromkeys(str(self.for_recipient(r)) for r in recipients))

    def for_frame(self, recipients: Sequence[Recipient]) -> str | None:
        """The one text every recipient of a frame hears (for vendors that read one text per request).

        :param recipients: the frame's recipients (frames are cut by :meth:`group`).
        :raises ValidationError: the recipients would hear different texts. Frames are cut by text,
            so this happens only when a frame an earlier try left in doubt is rebuilt from a source
            whose names or variables changed since: the frame is not sent with someone else's text.
        """
        texts = self.texts(recipients)
        if len(texts) > 1:
            raise ValidationError(
                "message",
                f"<{len(texts)} different texts in one frame of {len(recipients)} recipients>",
                "one text per request: the recipients' names or variables changed since an earlier try "
                "cut this frame; restore the source, or send to them in a new run",
            )
        return texts[0] if texts else None

    def group(self, recipient: Recipient) -> str | None:
        """What a one-text-per-request channel returns from ``frame_group``: the text ``recipient``
        hears when the message is personalised, else None (one group: frames cut as before)."""
        return self.for_recipient(recipient) if self.personalised else None

    @staticmethod
    def frame_info(texts: Iterable[str], digest: Callable[[str], str]) -> dict[str, Any]:
        """``{"texts": [digests]}`` for a frame's result info: which texts it read, as digests only.

        :param texts: the texts the frame read.
        :param digest: the channel's keyed digest (``Channel.digest``).
        """
        digests = sorted({digest(text) for text in texts})
        return {TEXTS_INFO: digests} if digests else {}

    @staticmethod
    def summary(infos: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        """``{"distinct_texts": n}`` over the accepted frames' result infos (None when no frame read a text).

        :param infos: the ``info`` of every accepted frame.
        """
        seen: set[str] = set()
        for info in infos:
            seen.update(info.get(TEXTS_INFO) or ())
        return {"distinct_texts": len(seen) if seen else None}

    def summary_line(self, summary: Mapping[str, Any], frames: int) -> str | None:
        """The log line about the texts read (``"1,000 distinct texts in 1,000 frames (...)"``), or None.

        :param summary: a summary holding ``distinct_texts`` (see :meth:`summary`).
        :param frames: the accepted frames.
        """
        distinct = summary.get("distinct_texts")
        if not distinct:
            return None
        how = "message personalised per recipient" if self.personalised else "one message for everybody"
        return f"{distinct:,} distinct text{'' if distinct == 1 else 's'} in {frames:,} frame{'' if frames == 1 else 's'} ({how})"


@functools.lru_cache(maxsize=32)
def campaign_text(message: str | None, audio: str | None = None) -> CampaignText:
    """The :class:`CampaignText` of a message, parsed once and reused (per-recipient checks call it
    for every recipient). The object is shared: treat it as read-only.

    :param message: the campaign's message.
    :param audio: the campaign's audio reference (when set, no text is read).
    :raises ValidationError: a placeholder that is not a plain name, or unbalanced braces.
    """
    return CampaignText(message, audio=audio)
