"""Deferrable wait on Kaleyra's network health (``method=monitor``).

:func:`evaluate_health` decides whether the regions/numbers a job needs are operational;
:class:`HealthStatusTrigger` runs it as a :class:`~airflow_provider_voice.triggers.base.PollingTrigger`
check (the sensor's poke runs the same check with the blocking client).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from airflow_provider_voice.hooks.base import VoiceHook
from airflow_provider_voice.triggers.base import PollingTrigger, PollResult
from airflow_provider_voice.vendors.kaleyra import KaleyraApi, KaleyraHealth

__all__ = ["HealthStatusTrigger", "describe_health", "evaluate_health"]


def _digits(value: str) -> str:
    return "".join(ch for ch in str(value) if ch.isdigit() or ch.lower() == "x")


def evaluate_health(
    health: KaleyraHealth, *, regions: Iterable[str] | None = None, numbers: Iterable[str] | None = None
) -> dict[str, Any]:
    """Whether what a job needs is operational.

    ``E701 No incidents found`` is healthy. Otherwise the incidents that matter are those whose
    ``region`` or ``region_code`` is in ``regions`` (case-insensitive) or that list one of
    ``numbers`` (matched on digits; Kaleyra may mask digits with ``x``); with neither given, every
    incident matters. Healthy means every incident that matters has ``type`` operational.

    :returns: ``{"healthy": bool, "incidents": <count listed>, "relevant": <count that matter>,
        "not_operational": [{"region", "region_code", "type", "service"}...], "vendor_message": ...}``
        (no phone numbers).
    """
    wanted_regions = {r.strip().lower() for r in (regions or []) if str(r).strip()}
    wanted_numbers = {_digits(n)[-10:] for n in (numbers or []) if _digits(n)}
    relevant = []
    for incident in health.incidents:
        if not wanted_regions and not wanted_numbers:
            relevant.append(incident)
            continue
        names = {(incident.region or "").strip().lower(), (incident.region_code or "").strip().lower()}
        listed = {_digits(n)[-10:] for n in incident.numbers}
        if names & wanted_regions or listed & wanted_numbers:
            relevant.append(incident)
    bad = [i for i in relevant if not i.operational]
    return {
        "healthy": not bad,
        "incidents": len(health.incidents),
        "relevant": len(relevant),
        "not_operational": [
            {"region": i.region, "region_code": i.region_code, "type": i.type, "service": i.service} for i in bad
        ],
        "vendor_message": health.message,
    }


def describe_health(verdict: dict[str, Any]) -> str:
    """One line for logs and events."""
    if verdict["healthy"]:
        if not verdict["incidents"]:
            return f"Kaleyra reports no incidents ({verdict['vendor_message'] or 'E701'})"
        return f"{verdict['relevant']} relevant Kaleyra region entries are operational"
    regions = ", ".join(f"{b['region'] or b['region_code']} ({b['type']})" for b in verdict["not_operational"])
    return f"Kaleyra regions not operational: {regions}"


class HealthStatusTrigger(PollingTrigger):
    """Poll Kaleyra ``monitor`` until the wanted regions/numbers are operational, or the deadline passes.

    :param conn_id: a Kaleyra connection.
    :param regions: region names or codes (``"KA-IN"``).
    :param numbers: account numbers the job uses.
    :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline, ISO 8601 (one last poll happens at the deadline).

    Events (see :class:`~airflow_provider_voice.triggers.base.PollingTrigger`):
    ``{"status": "success"|"timeout", "message", **verdict}`` (verdict of :func:`evaluate_health`) or
    ``{"status": "error", "message"}``. Rate limits, 5xx and network errors are polled again;
    authentication errors and vendor refusals (``E542`` plugin not subscribed) end the wait.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        poll_interval: float = 60.0,
        deadline: str | None = None,
        regions: list[str] | None = None,
        numbers: list[str] | None = None,
    ) -> None:
        super().__init__(conn_id=conn_id, poll_interval=poll_interval, deadline=deadline)
        self.regions = list(regions or [])
        self.numbers = list(numbers or [])

    def params(self) -> dict[str, Any]:
        return {"regions": self.regions, "numbers": self.numbers}

    def check(self, hook: VoiceHook[KaleyraApi]) -> Generator[Any, Any, PollResult]:
        health: KaleyraHealth = yield hook.api.monitor()
        verdict = evaluate_health(health, regions=self.regions, numbers=self.numbers)
        return PollResult(verdict["healthy"], describe_health(verdict), verdict)
