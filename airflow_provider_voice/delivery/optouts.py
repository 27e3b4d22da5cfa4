"""Opt-out keywords: does an inbound message ask us to stop?

:class:`OptOutKeywords` normalizes a message — Unicode compatibility form, accents removed
(``ARRÊT`` = ``ARRET``), upper case, punctuation and emoji dropped, white space collapsed — and
matches it against keywords normalized the same way. A message is an opt-out when, once
normalized, it **is** a keyword (``"Stop."``, ``" arrêt !"``, ``"Opt-out"`` → ``OPT OUT``), or it
**starts with** a keyword and has at most :attr:`~OptOutKeywords.max_words` words (``"STOP please"``,
``"Stop SMS"``). Longer sentences ("don't stop sending me the reminders") are not opt-outs: a
person who writes one gets an answer from a human, not an unsubscription.

Default keywords (:data:`DEFAULT_KEYWORDS`), per language:

* EN: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPT OUT, OPTOUT, REMOVE
* FR: STOP, ARRET, ARRETER, DESABONNER, DESINSCRIRE, DESINSCRIPTION, STOP SMS
* PT: PARAR, PARE, SAIR, CANCELAR, DESCADASTRAR, REMOVER
* ES: BAJA, ALTO, PARAR, CANCELAR, DARSE DE BAJA, ELIMINAR
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_provider_voice.models.events import VoiceEvent

__all__ = ["DEFAULT_KEYWORDS", "OptOutKeywords", "derive_opt_outs", "normalize_text"]

DEFAULT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPT OUT", "OPTOUT", "REMOVE"),
    "fr": ("STOP", "ARRÊT", "ARRÊTER", "DÉSABONNER", "DÉSINSCRIRE", "DÉSINSCRIPTION", "STOP SMS"),
    "pt": ("PARAR", "PARE", "SAIR", "CANCELAR", "DESCADASTRAR", "REMOVER"),
    "es": ("BAJA", "ALTO", "PARAR", "CANCELAR", "DARSE DE BAJA", "ELIMINAR"),
}

_NOT_WORD = re.compile(r"[^0-9A-Z]+")


def normalize_text(text: str) -> str:
    """Upper-case ASCII words separated by one space: accents, punctuation and symbols removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", stripped.upper()).strip()


@dataclass(frozen=True)
class OptOutKeywords:
    """The keywords that make an inbound message an opt-out.

    :param keywords: the keywords (any case, accents allowed); default: every language of
        :data:`DEFAULT_KEYWORDS`.
    :param max_words: a message longer than this is never an opt-out unless it is exactly a
        keyword (default 3).
    """

    keywords: tuple[str, ...] = field(default_factory=lambda: tuple(k for ks in DEFAULT_KEYWORDS.values() for k in ks))
    max_words: int = 3
    _normalized: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())

    @classmethod
    def parse(cls, value: str | Iterable[str] | None) -> OptOutKeywords:
        """Keywords from a connection extra: a comma-separated string or a list; empty/None: the defaults."""
        if value is None:
            return cls()
        items = value.split(",") if isinstance(value, str) else list(value)
        words = tuple(str(item).strip() for item in items if str(item).strip())
        return cls(words) if words else cls()

    def __post_init__(self) -> None:
        normalized = frozenset(filter(None, (normalize_text(k) for k in self.keywords)))
        object.__setattr__(self, "_normalized", normalized)

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` is an opt-out (see the module docstring)."""
        if not text:
            return False
        message = normalize_text(text)
        if not message:
            return False
        keywords = self._normalized
        if message in keywords:
            return True
        words = message.split(" ")
        if len(words) > self.max_words:
            return False
        return any(message.startswith(keyword + " ") for keyword in keywords)


def derive_opt_outs(events: Iterable[VoiceEvent], keywords: OptOutKeywords) -> list[VoiceEvent]:
    """An ``opt-outs`` event for every inbound message (``messages-received``) that is an opt-out keyword.

    The opt-out keeps the message's vendor, connection, number and text; its ``event_id`` is the
    message's, prefixed with ``keyword:``, so a replayed message yields the same opt-out.
    """
    out = []
    for event in events:
        if event.kind == "messages-received" and keywords.matches(event.text):
            out.append(
                event.model_copy(
                    update={
                        "kind": "opt-outs",
                        "event_id": f"keyword:{event.event_id}",
                        "status": normalize_text(event.text or ""),
                        "outcome": "opted_out",
                    }
                )
            )
    return out
