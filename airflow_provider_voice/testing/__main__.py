"""``python -m airflow_provider_voice.testing``: run the simulator until SIGTERM/SIGINT.

Prints the vendors' base URLs once it accepts connections. ``--ready-file`` gets the same as JSON
(``{"url", "base_urls", "pid"}``) when ready and ``--pidfile`` the process id; both are removed
at exit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .auth import is_loopback_host
from .control import base_urls
from .server import SimulatorServer
from .state import SimulatorState


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_voice.testing",
        description="Local fake Velip/TeleVoIPs/Octopush/Kaleyra servers.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, call outcomes, CDR rows and faults")
    parser.add_argument(
        "--cdr-compile-seconds",
        type=float,
        default=None,
        help="seconds a TeleVoIPs CDR report takes to compile (default 2)",
    )
    parser.add_argument("--call-seconds", type=float, default=None, help="simulated seconds per call (default 0.05)")
    parser.add_argument("--octopush-webhook-url", default=None, help="loopback URL receiving Octopush delivery reports")
    parser.add_argument("--velip-webhook-url", default=None, help="loopback URL receiving Velip end-of-call webhooks")
    parser.add_argument(
        "--televoips-webhook-url", default=None, help="loopback URL receiving TeleVoIPs messaging webhooks"
    )
    parser.add_argument(
        "--televoips-cdr-webhook-url", default=None, help="loopback URL receiving TeleVoIPs CDR webhooks"
    )
    parser.add_argument("--pidfile", type=Path, default=None, help="write the process id here")
    parser.add_argument("--ready-file", type=Path, default=None, help="write the URLs here (JSON) once serving")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator in the foreground; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not is_loopback_host(args.host):
        print(f"refusing to bind {args.host!r}: the simulator listens on loopback addresses only", file=sys.stderr)
        return 2
    settings: dict[str, Any] = {"seed": args.seed}  # argparse values: SimulatorConfig fields
    for name in (
        "cdr_compile_seconds",
        "call_seconds",
        "octopush_webhook_url",
        "velip_webhook_url",
        "televoips_webhook_url",
        "televoips_cdr_webhook_url",
    ):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = SimulatorServer(SimulatorState(**settings), host=args.host, port=args.port, log_level=args.log_level)
    written: list[Path] = []
    try:
        server.start()
        urls = base_urls(server.url)
        if args.pidfile:
            args.pidfile.write_text(f"{os.getpid()}\n")
            written.append(args.pidfile)
        print(f"voice simulator listening on {server.url}", flush=True)
        for vendor, url in urls.items():
            print(f"  {vendor:12s} {url}", flush=True)
        if args.ready_file:
            args.ready_file.write_text(json.dumps({"url": server.url, "base_urls": urls, "pid": os.getpid()}) + "\n")
            written.append(args.ready_file)
        while not stop.wait(1.0):
            if not server.running:
                print("voice simulator stopped unexpectedly", file=sys.stderr)
                return 1
        return 0
    finally:
        server.stop()
        for path in written:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
