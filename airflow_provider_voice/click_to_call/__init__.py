"""Click-to-call: connect an agent and a customer without showing either number to the other.

Kaleyra ``dial.click2call`` (agent = caller, first leg; customer = receiver) and Velip
``MakeTTSCall`` type 3 (``dest`` = agent, ``dest2`` = customer) behind one protocol,
:class:`ClickToCallCapability`, built by ``hook.capability("click_to_call")``.
"""

from __future__ import annotations

from airflow_provider_voice.click_to_call.base import ClickToCallCapability

__all__ = ["ClickToCallCapability"]
