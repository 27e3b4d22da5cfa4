"""Deferrable wait on Kaleyra's network health (``method=monitor``).

:func:`evaluate_health` decides whether the regions/numbers a job needs are operational; the
sensor's poke and :class:`HealthStatusTrigger` share it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_voice.errors import (
    AuthError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    VoiceProviderError,
)
from airflow_provider_voice.vendors.kaleyra.core import KaleyraHealth

__all__ = ["TRANSIENT_ERRORS", "HealthStatusTrigger", "evaluate_health"]

#: errors a poll may hit and survive (the next poll may succeed); anything else ends the wait
TRANSIENT_ERRORS = (RateLimitedError, ServerError, TransportError)


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


def _describe(verdict: dict[str, Any]) -> str:
    if verdict["healthy"]:
        if not verdict["incidents"]:
            return f"Kaleyra reports no incidents ({verdict['vendor_message'] or 'E701'})"
        return f"{verdict['relevant']} relevant Kaleyra region entries are operational"
    regions = ", ".join(f"{b['region'] or b['region_code']} ({b['type']})" for b in verdict["not_operational"])
    return f"Kaleyra regions not operational: {regions}"


class HealthStatusTrigger(BaseTrigger):
    """Poll Kaleyra ``monitor`` until the wanted regions/numbers are operational, or the deadline passes.

    :param conn_id: a Kaleyra connection. :param regions: region names or codes (``"KA-IN"``).
    :param numbers: account numbers the job uses. :param poll_interval: seconds between polls.
    :param deadline: absolute UTC deadline as POSIX seconds (one last poll happens at the deadline).

    Events: ``{"status": "success", "message", **verdict}``, ``{"status": "timeout", "message", **verdict}``,
    ``{"status": "error", "message"}``. Rate limits, 5xx and network errors are retried at the
    next poll; authentication and vendor refusals (``E542`` plugin not subscribed) end the wait.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        regions: list[str] | None = None,
        numbers: list[str] | None = None,
        poll_interval: float = 60.0,
        deadline: float,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.regions = list(regions or [])
        self.numbers = list(numbers or [])
        self.poll_interval = float(poll_interval)
        self.deadline = float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "regions": self.regions,
                "numbers": self.numbers,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_voice.hooks.kaleyra import KaleyraHook

        try:
            client = await KaleyraHook(self.conn_id).aget_client()
        except (ValidationError, AuthError, VoiceProviderError) as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})
            return
        last: dict[str, Any] = {
            "healthy": False,
            "incidents": 0,
            "relevant": 0,
            "not_operational": [],
            "vendor_message": "",
        }
        polls = 0
        try:
            while True:
                polls += 1
                try:
                    health = await client.monitor()
                except TRANSIENT_ERRORS as exc:
                    self.log.warning("Kaleyra monitor poll %d failed (%s); polling again", polls, exc)
                else:
                    last = evaluate_health(health, regions=self.regions, numbers=self.numbers)
                    if last["healthy"]:
                        yield TriggerEvent({**last, "status": "success", "message": _describe(last)})
                        return
                    self.log.info("%s; polling again", _describe(last))
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    message = f"still not healthy after {polls} polls: {_describe(last)}"
                    yield TriggerEvent({**last, "status": "timeout", "message": message})
                    return
                await asyncio.sleep(max(0.0, min(self.poll_interval, remaining)))
        except VoiceProviderError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})
        finally:
            await client.aclose()
