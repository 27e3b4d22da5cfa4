"""Helpers shared by the campaign tests: connections to the simulator, recipients, ledger reading."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from helpers import task_context

from airflow_provider_voice.models import PhoneNumber
from airflow_provider_voice.transport import RetryPolicy

VENDORS = ("velip", "octopush", "kaleyra")
#: the send route of each vendor in the simulator's fault rules
SEND_ROUTES = {"velip": "CreateCampaign", "octopush": "/v1/public/voice-campaign/send", "kaleyra": "voice.json"}
#: fast retries for tests (the transport honours Retry-After; backoff is short)
FAST_RETRY = RetryPolicy(max_attempts=5, backoff_initial=0.02, backoff_max=0.2, max_retry_after=5.0)


def as_ledger(vendor: str, number: str) -> str:
    """How the simulator's ledger shows a number for ``vendor``."""
    phone = PhoneNumber.parse(number)
    return {"velip": phone.velip, "octopush": phone.octopush, "kaleyra": phone.kaleyra}[vendor]


@dataclass
class Campaigns:
    """A simulator with one connection per campaign vendor (``cmp_<vendor>``)."""

    simulator: Any

    def conn_id(self, vendor: str) -> str:
        return f"cmp_{vendor}"

    def calls(self, vendor: str) -> Counter[str]:
        return self.simulator.state.ledger.counts(vendor, "call")

    def calls_for(self, vendor: str, people: list[str]) -> dict[str, int]:
        counts = self.calls(vendor)
        return {p: counts.get(as_ledger(vendor, p), 0) for p in people}


def connection(simulator: Any, vendor: str, *, bad_key: bool = False) -> dict[str, Any]:
    """The connection JSON of ``vendor`` pointing at the simulator."""
    if vendor == "velip":
        return {
            "conn_type": "velip",
            "host": simulator.base_url("velip"),
            "password": "wrong-token" if bad_key else "sim-velip-token",
        }
    if vendor == "octopush":
        return {
            "conn_type": "octopush",
            "host": simulator.base_url("octopush"),
            "login": "sim@example.com",
            "password": "wrong-key" if bad_key else "sim-octopush-key",
        }
    return {
        "conn_type": "kaleyra",
        "host": simulator.base_url("kaleyra"),
        "password": "wrong-key" if bad_key else "sim-kaleyra-key",
        "extra": {"obd_base_url": simulator.base_url("kaleyra-obd")},
    }


#: a minimal Airflow context for ``operator.execute`` (keywords: ``run_id``, ``task_id``, ``try_number``...)
context = functools.partial(task_context, dag_id="campaign_dag", run_id="manual__2026-01-01T00:00:00+00:00")
