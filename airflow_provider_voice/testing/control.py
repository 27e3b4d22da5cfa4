"""Simulator-only control routes under ``{root}/_sim/`` (no auth; loopback callers only).

* ``GET  /_sim/health`` -> ``{"status": "ok", "base_urls": {...}}``
* ``GET  /_sim/ledger?vendor=&action=&number=&ref=`` -> ``{"entries": [...], "counts": {number: n}}``
* ``POST /_sim/reset`` (optional JSON settings, e.g. ``{"seed": 3}``) -> ``{"status": "ok"}``
* ``GET  /_sim/config`` / ``POST /_sim/config`` (JSON settings) -> the settings
* ``GET  /_sim/faults`` -> ``{"rules": [...], "history": [...]}``
* ``POST /_sim/faults``: ``{"vendor", "route", <FaultRule options>}``, a list of those,
  ``{"rules": [...]}``, or ``{"clear": true}`` (optionally with ``vendor``/``route``)
* ``GET  /_sim/octopush/reports/{ticket}`` -> per-recipient delivery reports (404 if unknown)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .auth import is_loopback_host
from .faults import rule_options
from .octopush import delivery_reports
from .render import json_response

if TYPE_CHECKING:
    from .state import SimulatorState

VENDOR_PATHS = {
    "velip": "velip",
    "televoips": "televoips",
    "octopush": "octopush",
    "kaleyra": "kaleyra/v1/",
    "kaleyra-obd": "kaleyra-obd/api/v1/",
}


def base_urls(root: str) -> dict[str, str]:
    """Each vendor's base URL under a simulator root URL.

    Velip, TeleVoIPs and Octopush bases have no trailing slash (the client appends the API path,
    e.g. ``/api/v2/MakeTTSCall``); the Kaleyra ones are the endpoint itself, with its trailing
    slash, as in the vendor docs (``https://api-voice.kaleyra.com/v1/``, ``https://obd.kaleyra.com/api/v1/``).
    """
    root = root.rstrip("/")
    return {name: f"{root}/{path}" for name, path in VENDOR_PATHS.items()}


Handler = Callable[[Request], Awaitable[Response]]


def _loopback_only(handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        if not is_loopback_host(request.client.host if request.client else None):
            return json_response({"message": "Forbidden"}, 403)
        return await handler(request)

    return guarded


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def control_routes(state: SimulatorState) -> list[BaseRoute]:
    """The ``/_sim`` routes bound to ``state``."""

    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "base_urls": base_urls(str(request.base_url))})

    async def ledger(request: Request) -> Response:
        q = request.query_params
        entries = state.ledger.entries(q.get("vendor"), q.get("action"), number=q.get("number"), ref=q.get("ref"))
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.number] = counts.get(entry.number, 0) + 1
        return json_response({"entries": [e.to_dict() for e in entries], "counts": counts})

    async def reset(request: Request) -> Response:
        try:
            settings = await _json_body(request)
            state.reset(**settings)
        except (ValueError, TypeError) as err:
            return json_response({"message": str(err)}, 400)
        return json_response({"status": "ok"})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                state.configure(**(await _json_body(request)))
            except (ValueError, TypeError) as err:
                return json_response({"message": str(err)}, 400)
        return json_response(state.config.to_dict())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                payload = await _json_body(request)
                items = payload if isinstance(payload, list) else payload.get("rules", [payload])
                for item in items:
                    if item.get("clear"):
                        state.faults.clear(item.get("vendor"), item.get("route"))
                        continue
                    state.faults.set(item["vendor"], item.get("route", "*"), **rule_options(item))
            except (ValueError, TypeError, KeyError, AttributeError) as err:
                return json_response({"message": f"bad fault rule: {err}"}, 400)
        history = [
            {"vendor": h.vendor, "route": h.route, "method": h.method, "kind": h.kind} for h in state.faults.history
        ]
        return json_response({"rules": [r.to_dict() for r in state.faults.rules()], "history": history})

    async def octopush_reports(request: Request) -> Response:
        reports = delivery_reports(state, request.path_params["ticket"])
        if reports is None:
            return json_response({"message": "Not Found"}, 404)
        return json_response(reports)

    return [
        Route("/health", _loopback_only(health), methods=["GET"]),
        Route("/ledger", _loopback_only(ledger), methods=["GET"]),
        Route("/reset", _loopback_only(reset), methods=["POST"]),
        Route("/config", _loopback_only(config), methods=["GET", "POST"]),
        Route("/faults", _loopback_only(faults), methods=["GET", "POST"]),
        Route("/octopush/reports/{ticket}", _loopback_only(octopush_reports), methods=["GET"]),
    ]
