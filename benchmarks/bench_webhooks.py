"""Webhook receiver benchmark: TeleVoIPs message webhooks into the ``/voice-webhooks`` app under uvicorn.

The receiver app (:func:`airflow_provider_voice.plugins.receiver.build_app`) runs under uvicorn on
127.0.0.1 (a free port) in its own process, with a temporary local ``EventStore`` (fsync on, as in
production) and a static connection lookup (no Airflow database). This process fires ``--requests``
TeleVoIPs ``message-delivered`` webhooks (API-key header auth) from an ``httpx.AsyncClient`` at each
``--concurrency`` level; ``--duplicates`` of them (default 10%) repeat an earlier event, half right
after it (a retry racing the original at concurrency > 1), half later (a replay).

Two server processes are measured the same way:

* **publisher off**: ``build_app(receiver, publisher=False)``, the receiver alone;
* **no-op register**: an ``AssetEventPublisher`` thread whose register does nothing, so its rounds
  (listing pending markers, reading batches, removing markers) compete with the receiver.

Printed per run: latency p50/p95/p99 (ms, client side, keep-alive connections), throughput
(requests/s), answers, events stored vs distinct events sent (must be equal: each event stored
once), and for the publisher, the batches it announced and left pending at shutdown. The receiver
logs one INFO line per request (to /dev/null here), as it does in the api-server.
Figures are printed, never asserted. Run: ``python benchmarks/bench_webhooks.py [--requests 2000]
[--concurrency 1,16] [--duplicates 0.1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

API_KEY = "bench-televoips-webhook-key-0123456789"
HEADER = "X-TeleVoIPs-Key"
MODES = {"off": "publisher off", "noop": "no-op register"}


# -- the server process ----------------------------------------------------------------------------
def serve(mode: str, root: str, ready_file: str, stats_file: str, conn_ids: list[str]) -> None:
    """Runs in the server process: the receiver app under uvicorn until SIGINT/SIGTERM, then writes its stats."""
    import uvicorn

    from airflow_provider_voice.delivery.event_store import EventStore
    from airflow_provider_voice.plugins.publisher import AssetEventPublisher
    from airflow_provider_voice.plugins.receiver import WebhookReceiver, build_app, settings_from_connection

    store = EventStore(root, fsync=True)
    extra = {"webhook_auth": "api_key", "webhook_api_key_header": HEADER, "webhook_secret": API_KEY}
    table = {conn_id: settings_from_connection(conn_id, "televoips", extra) for conn_id in conn_ids}
    publisher: Any = False
    if mode == "noop":
        publisher = AssetEventPublisher(lambda: store, register=lambda uri, extra: True)
    app = build_app(WebhookReceiver(store, lookup=table.get), publisher=publisher)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on", backlog=512)
    )

    def announce_ready() -> None:
        while not server.started:
            time.sleep(0.01)
        Path(ready_file).write_text(json.dumps({"port": port, "pid": os.getpid()}))

    threading.Thread(target=announce_ready, daemon=True).start()
    try:
        server.run(sockets=[sock])  # returns after the lifespan's shutdown (the publisher's last round)
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled, once it has shut down
        pass
    finally:
        stats: dict[str, Any] = {"pending_left": len(store.pending_batches())}
        if publisher:
            stats.update(announced=publisher.announced, rounds=publisher.rounds)
        Path(stats_file).write_text(json.dumps(stats))


class Server:
    """The server process, started and stopped from here."""

    def __init__(self, mode: str, workdir: Path, conn_ids: list[str]) -> None:
        self.root = workdir / f"store-{mode}"
        self.ready = workdir / f"ready-{mode}.json"
        self.stats_file = workdir / f"stats-{mode}.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                mode,
                "--root",
                str(self.root),
                "--ready-file",
                str(self.ready),
                "--stats-file",
                str(self.stats_file),
                "--conn-ids",
                ",".join(conn_ids),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise SystemExit(f"the {mode} receiver did not start")
            time.sleep(0.05)
        time.sleep(0.05)
        self.url = f"http://127.0.0.1:{json.loads(self.ready.read_text())['port']}"

    def stop(self) -> dict[str, Any]:
        """Graceful stop (the publisher runs its last round); the server's stats."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return {}
        return json.loads(self.stats_file.read_text()) if self.stats_file.exists() else {}

    def stored(self, conn_id: str) -> int:
        """Event files of ``conn_id`` (each distinct event must be there once)."""
        folder = self.root / "televoips" / conn_id / "deliveries"
        return sum(1 for p in folder.rglob("*.json") if not p.name.startswith(".")) if folder.exists() else 0

    def batches(self, conn_id: str) -> int:
        folder = self.root / "_batches" / "televoips" / conn_id / "deliveries"
        return sum(1 for p in folder.rglob("*.json") if not p.name.startswith(".")) if folder.exists() else 0


# -- the client --------------------------------------------------------------------------------------
def workload(requests: int, duplicates: float, seed: int) -> tuple[list[int], int]:
    """Message numbers in sending order (``duplicates`` of them repeats) and the number of distinct ones."""
    rng = random.Random(seed)
    repeats = round(requests * duplicates)
    distinct = requests - repeats
    order = list(range(distinct))
    for i in range(repeats):
        original = rng.randrange(distinct)
        at = order.index(original)
        # half: a retry right behind the original (races it at concurrency > 1); half: a later replay
        position = at + 1 + rng.randrange(3) if i % 2 == 0 else rng.randrange(at + 1, len(order) + 1)
        order.insert(min(position, len(order)), original)
    return order, distinct


def message(run: str, number: int) -> bytes:
    """A TeleVoIPs ``message-delivered`` webhook body, shaped as in the spec."""
    return json.dumps(
        {
            "type": "message-delivered",
            "id": f"{run}-{number:08d}",
            "time": "2021-08-24 12:20:17",
            "to": [f"1415555{number % 10000:04d}"],
            "from": "12345678901",
            "text": "",
            "media": [],
            "direction": "outbound",
            "segmentCount": 1,
        }
    ).encode()


async def fire(url: str, conn_id: str, order: list[int], concurrency: int) -> dict[str, Any]:
    """Send every webhook of ``order`` with ``concurrency`` in flight; latencies and answers."""
    headers = {HEADER: API_KEY, "Content-Type": "application/json"}
    latencies: list[float] = []
    answers: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in order:
        queue.put_nowait(number)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        # warm the connections (and the receiver's connection cache) outside the measurement
        await asyncio.gather(*(client.post(f"/{conn_id}/unknown", headers=headers) for _ in range(concurrency)))

        async def worker() -> None:
            while True:
                try:
                    number = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                response = await client.post(f"/{conn_id}/messages", content=message(conn_id, number), headers=headers)
                latencies.append(time.perf_counter() - started)
                ok = response.status_code == 200 and response.content == b'{"outcome":"success"}'
                key = "200 outcome=success" if ok else str(response.status_code)
                answers[key] = answers.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"latencies": sorted(latencies), "wall": wall, "answers": answers}


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="webhooks per run (default 2000)")
    parser.add_argument("--concurrency", default="1,16", help="requests in flight, comma separated (default 1,16)")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share of repeated events (default 0.1)")
    parser.add_argument("--modes", default="off,noop", help="publisher modes: off (none), noop (no-op register)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ready-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--stats-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--conn-ids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.root, args.ready_file, args.stats_file, args.conn_ids.split(","))
        return 0

    levels = [int(c) for c in args.concurrency.split(",")]
    modes = [m for m in args.modes.split(",") if m in MODES]
    order, distinct = workload(args.requests, args.duplicates, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    rows = []
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        for mode in modes:
            conn_ids = [f"bench_{mode}_c{level}" for level in levels]
            server = Server(mode, workdir, conn_ids)
            runs = []
            try:
                for level, conn_id in zip(levels, conn_ids, strict=True):
                    result = asyncio.run(fire(server.url, conn_id, order, level))
                    runs.append((level, conn_id, result))
            finally:
                stats = server.stop()
            for level, conn_id, result in runs:
                rows.append((mode, level, result, server.stored(conn_id), server.batches(conn_id), stats))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - started

    print(
        f"Webhook receiver benchmark: uvicorn (1 process) on 127.0.0.1, local EventStore with fsync, "
        f"{os.cpu_count()} CPUs (load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after: other "
        f"processes skew the figures); {args.requests} TeleVoIPs message-delivered webhooks per run, "
        f"{round(args.requests * args.duplicates)} of them repeats ({distinct} distinct events)"
    )
    print(
        f"{'publisher':<15} {'conc.':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>8} "
        f"{'stored/distinct':>16} {'batches':>8}  answers"
    )
    for mode, level, result, stored, batches, _ in rows:
        lat = result["latencies"]
        answers = ", ".join(f"{n} x {k}" for k, n in sorted(result["answers"].items()))
        print(
            f"{MODES[mode]:<15} {level:>5} {percentile(lat, 0.50) * 1000:>7.2f} {percentile(lat, 0.95) * 1000:>7.2f}"
            f" {percentile(lat, 0.99) * 1000:>7.2f} {len(lat) / result['wall']:>8.0f} {stored:>7}/{distinct:<8}"
            f" {batches:>8}  {answers}"
        )
    for mode in modes:
        stats = next((r[5] for r in rows if r[0] == mode), {})
        if mode == "noop":
            print(
                f"no-op register: {stats.get('announced', '?')} batches announced in {stats.get('rounds', '?')} rounds, "
                f"{stats.get('pending_left', '?')} left pending at shutdown"
            )
        else:
            print(f"publisher off: {stats.get('pending_left', '?')} batches left pending (nothing announces them)")
    print(f"stored must equal distinct (each event stored once); total wall time {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
