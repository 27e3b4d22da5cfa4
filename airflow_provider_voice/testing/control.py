"""Simulator-only control routes under ``{root}/_sim/`` (no auth; loopback callers only).

* ``GET  /_sim/health`` -> ``{"status": "ok", "base_urls": {...}}``
* ``GET  /_sim/ledger?vendor=&action=&number=&ref=`` -> ``{"entries": [...], "counts": {number: n}}``
* ``POST /_sim/reset`` (optional JSON settings, e.g. ``{"seed": 3}``) -> ``{"status": "ok"}``
* ``GET  /_sim/config`` / ``POST /_sim/config`` (JSON settings) -> the settings
* ``GET  /_sim/faults`` -> ``{"rules": [...], "history": [...]}``
* ``POST /_sim/faults``: ``{"vendor", "route", <FaultRule options>}``, a list of those,
  ``{"rules": [...]}``, or ``{"clear": true}`` (optionally with ``vendor``/``route``)
* ``GET  /_sim/octopush/reports/{ticket}`` -> per-recipient delivery reports (404 if unknown)

Webhooks (see :mod:`.webhooks` for retries and faults, :mod:`.emit` for the payloads):

* ``GET  /_sim/webhooks?attempts=N`` -> ``{"pending", "in_flight", "queued", "delivered",
  "failed", "gave_up", "dropped", "duplicates", "held", "attempts": [{"vendor", "kind", "path",
  "try", "status", "error", "event_id", "duplicate"}, ...]}``: exact counters; the last 5,000
  tries (or the last ``N``); ``path`` is the URL path only (no query string, no credentials);
  ``status`` is the HTTP status, or null after a connection error or timeout (``error`` names the
  exception class).
* ``POST /_sim/webhooks/hold`` -> ``{"held": true, "pending": n}``: deliveries wait.
* ``POST /_sim/webhooks/release`` -> ``{"held": false, "pending": n}``: everything held goes at
  once (at most ``webhook_max_in_flight`` requests at a time).
* ``POST /_sim/webhooks/emit`` ``{"vendor": "televoips"|"octopush"|"velip"|"kaleyra", "kind":
  televoips "message-received"|"message-delivered"|"message-failed"|"cdr", octopush
  "delivery"|"stop", velip "call-ended", kaleyra "call-ended", "count": N, "url": optional
  override, "duplicate_rate": 0.1, "burst": false, "interval": 0.01, "cdr_batch": 1}`` ->
  ``{"emitted": N, "deliveries": M (including duplicate copies), "dropped": k, "event_ids":
  [...]}``: N distinct synthetic events; 400 ``{"message"}`` when the body is wrong or there is no
  loopback URL.
* ``POST /_sim/televoips/inbound`` ``{"from": "<person>", "to": "<owned number>", "text": "STOP",
  "count": 1}`` -> ``{"emitted": n, "deliveries": n queued, "event_ids": [message ids]}``: inbound
  messages that appear in ``GET /messages`` and are sent as ``message-received`` webhooks (to
  ``televoips_webhook_url``, when set); 400 when ``to`` is not owned or ``from`` is not a number.
* ``POST /_sim/reset`` also empties the webhook outbox and its counters.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .auth import is_loopback_host
from .calls import digits
from .emit import EmitRequest, emit_webhooks
from .faults import rule_options
from .octopush import delivery_reports
from .render import json_response
from .televoips import receive_inbound

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

    async def webhooks(request: Request) -> Response:
        limit = request.query_params.get("attempts")
        try:
            attempts = int(limit) if limit is not None else None
        except ValueError:
            return json_response({"message": "attempts must be an integer"}, 400)
        return json_response(state.webhooks.snapshot(attempts))

    async def webhooks_hold(request: Request) -> Response:
        state.webhooks.hold()
        return json_response({"held": True, "pending": state.webhooks.pending()})

    async def webhooks_release(request: Request) -> Response:
        state.webhooks.release()
        return json_response({"held": False, "pending": state.webhooks.pending()})

    async def webhooks_emit(request: Request) -> Response:
        try:
            emit = EmitRequest.from_json(await _json_body(request))
            with state.lock:
                return json_response(emit_webhooks(state, emit))
        except ValueError as err:
            return json_response({"message": str(err)}, 400)

    async def televoips_inbound(request: Request) -> Response:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as err:
            return json_response({"message": str(err)}, 400)
        person, to, text, count = body.get("from"), body.get("to"), body.get("text", "STOP"), body.get("count", 1)
        if not isinstance(person, str) or not 10 <= len(digits(person)) <= 15 or digits(person) != person.lstrip("+"):
            return json_response({"message": "from must be a phone number (10 to 15 digits)"}, 400)
        if not isinstance(text, str) or not text:
            return json_response({"message": "text must be a non-empty string"}, 400)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            return json_response({"message": "count must be an integer between 1 and 10000"}, 400)
        with state.lock:
            owned = {digits(n): n for n in state.config.televoips_numbers}.get(digits(str(to or "")))
            if owned is None:
                return json_response({"message": "to must be one of the owned numbers (televoips_numbers)"}, 400)
            now = state.now()
            results = [receive_inbound(state, person, owned, text, now) for _ in range(count)]
        state.webhooks.notify()
        ids = [message_id for message_id, _ in results]
        return json_response({"emitted": len(ids), "deliveries": sum(q for _, q in results), "event_ids": ids})

    return [
        Route("/health", _loopback_only(health), methods=["GET"]),
        Route("/ledger", _loopback_only(ledger), methods=["GET"]),
        Route("/reset", _loopback_only(reset), methods=["POST"]),
        Route("/config", _loopback_only(config), methods=["GET", "POST"]),
        Route("/faults", _loopback_only(faults), methods=["GET", "POST"]),
        Route("/octopush/reports/{ticket}", _loopback_only(octopush_reports), methods=["GET"]),
        Route("/webhooks", _loopback_only(webhooks), methods=["GET"]),
        Route("/webhooks/hold", _loopback_only(webhooks_hold), methods=["POST"]),
        Route("/webhooks/release", _loopback_only(webhooks_release), methods=["POST"]),
        Route("/webhooks/emit", _loopback_only(webhooks_emit), methods=["POST"]),
        Route("/televoips/inbound", _loopback_only(televoips_inbound), methods=["POST"]),
    ]
