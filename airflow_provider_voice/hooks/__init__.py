"""Airflow hooks of the voice provider: one thin hook per vendor over :class:`~airflow_provider_voice.hooks.base.VoiceHook`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_voice.hooks.base import VoiceHook

__all__ = ["vendor_hooks"]


def vendor_hooks() -> list[type[VoiceHook[Any]]]:
    """The hook class of every registered vendor (``vendors/registry.py``), imported by class path."""
    from airflow_provider_voice.vendors.registry import VENDORS

    hooks = []
    for vendor in VENDORS:
        module, _, name = vendor.connection.hook_class.rpartition(".")
        hooks.append(getattr(importlib.import_module(module), name))
    return hooks
