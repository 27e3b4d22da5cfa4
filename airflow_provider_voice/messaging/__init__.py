"""SMS on TeleVoIPs (``POST /messages``) and Velip (``MakeSMS``), behind one capability protocol.

``hook.capability("sms")`` returns a :class:`SmsChannel`: it validates the sender before anything
is sent and builds one request per recipient; the fan-out (concurrency, checkpoints, suppression,
progress) is done by :mod:`airflow_provider_voice.delivery`.
"""

from __future__ import annotations

from airflow_provider_voice.messaging.base import SmsChannel

__all__ = ["SmsChannel"]
