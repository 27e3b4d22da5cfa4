"""Serve the webhook receiver on its own: ``python -m airflow_provider_voice.plugins [--port 8089]``.

In a deployment the Airflow api-server serves the receiver (the plugin). This runs the very same
app — at ``/voice-webhooks``, with the Asset-event publisher — outside it, for ``make demo`` and for
trying a vendor's webhooks on a laptop (e.g. behind a tunnel). It reads the connections and
``[voice] events_path`` from the Airflow configuration of the environment it runs in, binds
127.0.0.1 unless told otherwise, and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from airflow_provider_voice.plugins import URL_PREFIX


def build_server_app(*, publish: bool = True) -> object:
    """A FastAPI app mounting the receiver at ``/voice-webhooks`` and running its lifespan (as the api-server does).

    :param publish: announce Asset events in Airflow's database (False: store only, e.g. when
        only ``airflow dags test`` reads the events).
    """
    from fastapi import FastAPI

    from airflow_provider_voice.plugins.receiver import build_app

    receiver_app = build_app(publisher=None if publish else False)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with receiver_app.router.lifespan_context(receiver_app):
            yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount(URL_PREFIX, receiver_app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (default 8089)")
    parser.add_argument("--no-publish", action="store_true", help="store events without announcing Asset events")
    args = parser.parse_args(argv)
    import uvicorn

    app = build_server_app(publish=not args.no_publish)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
