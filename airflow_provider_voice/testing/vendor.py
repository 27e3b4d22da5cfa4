"""What every simulated vendor shares: reading the request, faults, the state lock."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .faults import run_with_faults
from .params import RequestParams, read_params

if TYPE_CHECKING:
    from .state import SimulatorState


def status_phrase(status: int) -> str:
    """``503`` -> ``"Service Unavailable"``."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass
class RequestContext:
    """One request, as the vendor actions see it.

    :param request: the Starlette request (headers, client, path params).
    :param params: everything the request carried.
    :param root_url: the simulator's root URL as the client reached it (ends with ``/``).
    :param route: the fault/route name of this request.
    """

    request: Request
    params: RequestParams
    root_url: str
    route: str

    @property
    def headers(self) -> Any:
        """The request headers (case-insensitive)."""
        return self.request.headers

    @property
    def client_host(self) -> str:
        """The caller's IP address."""
        return self.request.client.host if self.request.client else ""


class VendorSimulator(ABC):
    """Base of the four vendor simulators.

    Subclasses set ``name``, list their routes in :meth:`routes`, build their error bodies in
    :meth:`fault_response`, and implement each endpoint as a *synchronous* action
    ``(ctx) -> Response`` handed to :meth:`handle`, which reads the body, applies the fault
    rules and runs the action under the state lock.
    """

    name: ClassVar[str]

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    @abstractmethod
    def routes(self) -> list[BaseRoute]:
        """The vendor's routes, relative to its prefix."""

    @abstractmethod
    def fault_response(self, status: int, ctx: RequestContext) -> Response:
        """A plausible vendor body for an injected ``status`` (503, 429, ...)."""

    async def handle(
        self,
        request: Request,
        route: str | Callable[[RequestParams], str],
        action: Callable[[RequestContext], Response],
    ) -> Response:
        """Read the request, then run ``action`` through the fault rules of ``route``."""
        params = await read_params(request)
        name = route(params) if callable(route) else route
        ctx = RequestContext(request, params, str(request.base_url), name)
        state = self.state

        def run() -> Response:
            with state.lock:
                state.webhooks.pump(state.now())
                return action(ctx)

        return await run_with_faults(
            state.faults,
            self.name,
            name,
            request.method,
            run,
            lambda status: self.fault_response(status, ctx),
            state.now,
        )
