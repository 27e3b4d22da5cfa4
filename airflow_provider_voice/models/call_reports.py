"""Field types of the vendors' call-report rows (each vendor's row models are in its folder:
``vendors/kaleyra/records.py``, ``vendors/velip/records.py``).

Numbers the vendors send as strings (``"36"``, ``"1.200"``) are typed (``int``, ``float``); an empty
string becomes ``None``. Date-times stay in the vendor's own text (Kaleyra: India time, Velip:
Brazil time) because the vendors do not say their zone in the payload; the raw row is kept by
``extra="allow"``, so a new vendor field never breaks parsing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["OptFloat", "OptInt", "OptText", "blank_to_none"]


def blank_to_none(value: Any) -> Any:
    """``""`` (or an empty XML element) as None; other values unchanged."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if value == {} or value == []:  # an empty XML element parsed as a container
        return None
    return value


def _text(value: Any) -> Any:
    value = blank_to_none(value)
    return None if value is None else str(value)


OptInt = Annotated[int | None, BeforeValidator(blank_to_none)]
OptFloat = Annotated[float | None, BeforeValidator(blank_to_none)]
OptText = Annotated[str | None, BeforeValidator(_text)]
