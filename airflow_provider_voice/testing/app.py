"""The ASGI application serving the four vendors and the control routes on one port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount

from .control import control_routes
from .kaleyra import KaleyraSimulator
from .octopush import OctopushSimulator
from .state import SimulatorState
from .televoips import TeleVoipsSimulator
from .velip import VelipSimulator
from .webhooks import run_delivery_loop


def create_app(state: SimulatorState | None = None) -> Starlette:
    """Build the simulator app.

    :param state: the state to serve (a fresh :class:`~.state.SimulatorState` by default);
        reachable afterwards as ``app.state.simulator``.

    Vendor prefixes: ``/velip``, ``/televoips``, ``/octopush``, ``/kaleyra`` (``/v1/``),
    ``/kaleyra-obd`` (``/api/v1/``); control routes under ``/_sim``. While the app runs (ASGI
    lifespan), a background task delivers webhooks to loopback URLs.
    """
    state = state if state is not None else SimulatorState()
    kaleyra = KaleyraSimulator(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.ensure_future(
            run_delivery_loop(state.pump, lambda: state.webhooks, lambda: state.config.webhook_timeout)
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    app = Starlette(
        routes=[
            Mount("/velip", routes=VelipSimulator(state).routes()),
            Mount("/televoips", routes=TeleVoipsSimulator(state).routes()),
            Mount("/octopush", routes=OctopushSimulator(state).routes()),
            Mount("/kaleyra-obd", routes=kaleyra.obd_routes()),
            Mount("/kaleyra", routes=kaleyra.routes()),
            Mount("/_sim", routes=control_routes(state)),
        ],
        lifespan=lifespan,
    )
    app.state.simulator = state
    return app
