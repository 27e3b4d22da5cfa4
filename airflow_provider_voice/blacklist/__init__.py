"""Blacklists and opt-outs: block/unblock numbers on Kaleyra (``method=block``) and TeleVoIPs (``POST /unsubscribe``).

A capability object is built by ``hook.capability("blacklist")`` and offers
``block(numbers, ...) -> BlacklistResult`` and ``unblock(numbers, ...) -> BlacklistResult``.
"""

from __future__ import annotations

from airflow_provider_voice.blacklist.base import BlacklistCapability

__all__ = ["BlacklistCapability"]
