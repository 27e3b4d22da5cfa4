"""Octopush Voice-SMS simulator (``{root}/octopush``).

Routes (headers ``api-login`` + ``api-key``; otherwise 401 ``{"code": 401, "message": "Unauthorized."}``):
  * ``POST /v1/public/voice-campaign/send`` (JSON) and the older
    ``POST /v1/public/vocal-campaign/send`` (``type`` ``vocal_sms`` or ``voice_sms``; the answer
    also carries ``vocal_ticket``, equal to ``ticket_number``).
  * ``GET /v1/public/wallet/check-balance`` -> ``{"amount": <euros>, "unit": "euros"}``.

Answer: ``{ticket_number "voice_<13 hex>", number_of_contacts, total_cost (0.05 per contact),
estimated_duration (seconds the simulation will take, at least 1), residual_credit}``.

Choices where the spec is silent:
  * Validation errors (HTTP 400 ``{"code": 400, "message": "Payload validation error.",
    "errors": {field: {code, message}}}``; every bad field is listed): body not a JSON object 400
    (field ``body``); ``text`` 410 missing / 411 longer than 1224; ``recipients`` 420 missing or
    empty / 421 more than 500 / 422 a bad ``phone_number`` (``+`` and 8-15 digits; the message
    names it); ``sender`` 430 (3-11 of a-zA-Z0-9); ``voice_gender`` 441; ``voice_language`` 442
    (the spec's message); ``purpose`` 450; ``type`` 451; ``send_at`` 460 (ISO 8601);
    ``request_id`` 470 (at most 20 characters); a boolean field 480.
  * Not enough credit: 402 ``{"code": 402, "message": "Not enough credit."}``.
  * ``request_id`` seen in the last 24 h (from an accepted, non-simulated send): 409
    ``{"code": 409, "message": "Duplicate request_id.", "ticket_number": "<the first ticket>"}``
    and nothing is sent again. This is how a client reconciles a frame whose answer it lost: resend
    with the same ``request_id``; a 409 names the ticket that already covers it.
  * ``simulation_mode: true``: validated and answered, nothing recorded or charged.
  * ``send_at`` in the future delays the calls; in the past means now.
  * Delivery outcome per recipient: DELIVERED (answered), NOT_DELIVERED (no answer, failed,
    congestion), BUSY, NOT_DELIVERABLE (bad number), BLACKLISTED_NUMBER (blocked); PENDING until
    the call ends. Read them at ``GET {root}/_sim/octopush/reports/{ticket}``. With
    ``octopush_webhook_url`` set, each ended call is recorded as a ledger "callback" and, for a
    loopback URL, POSTed as JSON ``{message_id, number, status, delivery_date, call_duration,
    charged_duration}`` (``message_id`` is the ticket). Best effort: one try, no retry (see
    :mod:`.webhooks`). Opt-out callbacks ``{message_id, number, text, stop_date}`` go to
    ``octopush_stop_webhook_url`` (``octopush_webhook_url`` when unset); the simulator makes them
    only on request (``POST /_sim/webhooks/emit`` kind ``stop``).
  * Ledger: one ``call`` entry per recipient of an accepted (non-simulated) send, with
    ``details`` ``{request_id, send_at, endpoint, text}`` (``text``: what the person hears, the
    request's ``text`` read as given: the spec documents no per-recipient substitution) plus the
    recipient's ``param1``..``param5``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import clock as clk
from .auth import secrets_equal
from .calls import CallBatch, Outcome, Phase
from .ledger import LedgerEntry
from .render import json_response
from .vendor import RequestContext, VendorSimulator, status_phrase

VENDOR = "octopush"
SEND_ROUTE = "/v1/public/voice-campaign/send"
VOCAL_ROUTE = "/v1/public/vocal-campaign/send"
BALANCE_ROUTE = "/v1/public/wallet/check-balance"
LANGUAGES = (
    "en-US",
    "en-GB",
    "el-GR",
    "pl-PL",
    "hu-HU",
    "sv-SE",
    "de-DE",
    "es-ES",
    "es-LA",
    "fr-FR",
    "it-IT",
    "pt-BR",
    "ru-RU",
)
MAX_TEXT = 1224
MAX_RECIPIENTS = 500
PHONE_RE = re.compile(r"\+?\d{8,15}")
SENDER_RE = re.compile(r"[A-Za-z0-9]{3,11}")
BOOLEAN_FIELDS = ("auto_delete_optout_contacts", "get_back_pressed_keys", "simulation_mode")
DELIVERY_STATUS: dict[Outcome, str] = {
    Outcome.ANSWERED: "DELIVERED",
    Outcome.NO_ANSWER: "NOT_DELIVERED",
    Outcome.BUSY: "BUSY",
    Outcome.FAILED: "NOT_DELIVERED",
    Outcome.CONGESTION: "NOT_DELIVERED",
    Outcome.BAD_NUMBER: "NOT_DELIVERABLE",
    Outcome.BLOCKED: "BLACKLISTED_NUMBER",
}
UNAUTHORIZED = {"code": 401, "message": "Unauthorized."}


@dataclass
class Ticket:
    """One accepted Voice-SMS send."""

    ticket_number: str
    batch: CallBatch
    recipients: list[dict[str, Any]]
    request_id: str | None
    payload: dict[str, Any]


@dataclass
class OctopushStore:
    """Octopush data of one simulator state."""

    balance: float = 0.0
    tickets: dict[str, Ticket] = field(default_factory=dict)
    request_ids: dict[str, tuple[str, float]] = field(default_factory=dict)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1"):
        return value.strip().lower() in ("true", "1")
    return None


def validate(body: Mapping[str, Any], *, vocal: bool) -> dict[str, dict[str, Any]]:
    """The ``errors`` object of a send request (empty when valid)."""
    errors: dict[str, dict[str, Any]] = {}

    def bad(name: str, code: int, message: str) -> None:
        errors.setdefault(name, {"code": code, "message": message})

    text = body.get("text")
    if not isinstance(text, str) or not text:
        bad("text", 410, "Text is required.")
    elif len(text) > MAX_TEXT:
        bad("text", 411, f"Text is too long (max {MAX_TEXT} characters).")
    recipients = body.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        bad("recipients", 420, "Recipients are required.")
    elif len(recipients) > MAX_RECIPIENTS:
        bad("recipients", 421, f"Too many recipients (max {MAX_RECIPIENTS}).")
    else:
        for item in recipients:
            phone = item.get("phone_number") if isinstance(item, Mapping) else None
            if not isinstance(phone, str) or not PHONE_RE.fullmatch(phone.strip()):
                bad("recipients", 422, f"Invalid phone number: {phone}.")
                break
    sender = body.get("sender")
    if sender is not None and (not isinstance(sender, str) or not SENDER_RE.fullmatch(sender)):
        bad("sender", 430, "Sender must be 3 to 11 alphanumeric characters.")
    gender = body.get("voice_gender")
    if gender is not None and gender not in ("male", "female"):
        bad("voice_gender", 441, "Voice gender not supported.")
    language = body.get("voice_language")
    if language is not None and language not in LANGUAGES:
        bad("voice_language", 442, "Voice language not supported.")
    purpose = body.get("purpose")
    if purpose is not None and purpose not in ("alert", "wholesale"):
        bad("purpose", 450, "Purpose must be alert or wholesale.")
    kind = body.get("type")
    if kind is not None and kind not in (("vocal_sms", "voice_sms") if vocal else ("voice_sms",)):
        bad("type", 451, "Type not supported.")
    send_at = body.get("send_at")
    if send_at is not None and (not isinstance(send_at, str) or clk.parse_iso8601(send_at) is None):
        bad("send_at", 460, "Invalid send_at date (ISO 8601 expected).")
    request_id = body.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > 20):
        bad("request_id", 470, "request_id must be a string of at most 20 characters.")
    for name in BOOLEAN_FIELDS:
        if name in body and body[name] is not None and _boolean(body[name]) is None:
            bad(name, 480, f"{name} must be a boolean.")
    return errors


def delivery_reports(state: Any, ticket_number: str) -> dict[str, Any] | None:
    """Per-recipient delivery reports of a ticket (the ``/_sim/octopush/reports`` payload)."""
    with state.lock:
        ticket = state.octopush.tickets.get(ticket_number)
        if ticket is None:
            return None
        now = state.now()
        reports = [_report(state, ticket, i, now) for i in range(len(ticket.batch))]
        counts: dict[str, int] = {}
        for report in reports:
            counts[report["status"]] = counts.get(report["status"], 0) + 1
        return {
            "ticket_number": ticket_number,
            "number_of_contacts": len(reports),
            "finished": ticket.batch.finished(now),
            "counts": counts,
            "reports": reports,
        }


def _report(state: Any, ticket: Ticket, index: int, now: float) -> dict[str, Any]:
    batch = ticket.batch
    done = batch.phase(index, now) is Phase.DONE
    duration = batch.talk_seconds(index) if done else 0
    return {
        "message_id": ticket.ticket_number,
        "number": batch.numbers[index],
        "status": DELIVERY_STATUS[batch.outcome(index)] if done else "PENDING",
        "delivery_date": clk.fmt(batch.ended_at(index), 0) if done else None,
        "call_duration": duration,
        "charged_duration": 30 * math.ceil(duration / 30),
    }


class OctopushSimulator(VendorSimulator):
    """Serves the Octopush Voice-SMS API."""

    name = VENDOR

    def routes(self) -> list[BaseRoute]:
        return [
            Route(SEND_ROUTE, self.send_voice, methods=["POST"]),
            Route(VOCAL_ROUTE, self.send_vocal, methods=["POST"]),
            Route(BALANCE_ROUTE, self.balance, methods=["GET"]),
        ]

    def fault_response(self, status: int, ctx: RequestContext) -> Response:
        return json_response({"code": status, "message": f"{status_phrase(status)}."}, status)

    @property
    def store(self) -> OctopushStore:
        return self.state.octopush

    def _authorized(self, ctx: RequestContext) -> bool:
        config = self.state.config
        return secrets_equal(ctx.headers.get("api-login"), config.octopush_login) and secrets_equal(
            ctx.headers.get("api-key"), config.octopush_key
        )

    async def send_voice(self, request: Request) -> Response:
        return await self.handle(request, SEND_ROUTE, lambda ctx: self.send(ctx, vocal=False))

    async def send_vocal(self, request: Request) -> Response:
        return await self.handle(request, VOCAL_ROUTE, lambda ctx: self.send(ctx, vocal=True))

    async def balance(self, request: Request) -> Response:
        return await self.handle(request, BALANCE_ROUTE, self.check_balance)

    def check_balance(self, ctx: RequestContext) -> Response:
        if not self._authorized(ctx):
            return json_response(UNAUTHORIZED, 401)
        return json_response({"amount": round(self.store.balance, 2), "unit": "euros"})

    def send(self, ctx: RequestContext, *, vocal: bool) -> Response:
        if not self._authorized(ctx):
            return json_response(UNAUTHORIZED, 401)
        body = ctx.params.json
        if not isinstance(body, Mapping):
            errors = {"body": {"code": 400, "message": "The body must be a JSON object."}}
            return json_response({"code": 400, "message": "Payload validation error.", "errors": errors}, 400)
        now = self.state.now()
        config = self.state.config
        request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
        if request_id:
            seen = self.store.request_ids.get(request_id)
            if seen is not None and now - seen[1] < config.octopush_request_id_ttl_seconds:
                return json_response({"code": 409, "message": "Duplicate request_id.", "ticket_number": seen[0]}, 409)
        errors = validate(body, vocal=vocal)
        if errors:
            return json_response({"code": 400, "message": "Payload validation error.", "errors": errors}, 400)
        recipients = [dict(r) for r in body["recipients"]]
        numbers = [str(r["phone_number"]).strip() for r in recipients]
        cost = round(len(numbers) * config.octopush_cost_per_contact, 4)
        simulation = bool(_boolean(body.get("simulation_mode")))
        if not simulation and cost > self.store.balance + 1e-9:
            return json_response({"code": 402, "message": "Not enough credit."}, 402)
        send_at = clk.parse_iso8601(body["send_at"]) if body.get("send_at") else None
        start_at = max(now, send_at) if send_at is not None else now
        batch = self.state.new_batch("", numbers, start_at=start_at)
        slots = math.ceil(len(numbers) / batch.lines)
        estimated = max(1, math.ceil(start_at - now + slots * batch.call_seconds))
        ticket_number = f"voice_{self.state.ids.token('octopush.ticket', 13)}"
        if not simulation:
            batch.ref = ticket_number
            self.store.balance = round(self.store.balance - cost, 4)
            ticket = Ticket(ticket_number, batch, recipients, request_id, dict(body))
            self.store.tickets[ticket_number] = ticket
            if request_id:
                self.store.request_ids[request_id] = (ticket_number, now)
            shared = {
                "request_id": request_id,
                "send_at": body.get("send_at"),
                "endpoint": VOCAL_ROUTE if vocal else SEND_ROUTE,
                "text": body["text"],  # what each recipient of the request hears
            }
            details = LedgerEntry(VENDOR, "call", "", ticket_number, shared).details
            self.state.ledger.record_many(
                LedgerEntry(
                    VENDOR,
                    "call",
                    n,
                    ticket_number,
                    {**details, **_params(recipients[i])} if len(recipients[i]) > 1 else details,
                    now,
                )
                for i, n in enumerate(numbers)
            )
            url = config.octopush_webhook_url
            if url:
                self.state.webhooks.watch(batch, lambda index: self._call_ended(ticket, index, url))
        answer: dict[str, Any] = {
            "ticket_number": ticket_number,
            "number_of_contacts": len(numbers),
            "total_cost": round(cost, 2),
            "estimated_duration": estimated,
            "residual_credit": round(self.store.balance, 2),
        }
        if vocal:
            answer["vocal_ticket"] = ticket_number
        return json_response(answer)

    def _call_ended(self, ticket: Ticket, index: int, url: str) -> None:
        report = _report(self.state, ticket, index, self.state.now())
        self.state.record(VENDOR, "callback", report["number"], ticket.ticket_number, {"url": url, "payload": report})
        self.state.webhooks.deliver(
            "POST", url, json=report, vendor=VENDOR, kind="delivery", event_id=ticket.ticket_number
        )


def _params(recipient: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in recipient.items() if k != "phone_number"}
