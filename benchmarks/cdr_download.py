"""Benchmark: stream a generated TeleVoIPs CDR CSV (100 MB and 1 GB) through DownloadCdrReportOperator.

The simulator runs in its own process (``python -m airflow_provider_voice.testing``) and serves a
size-targeted CSV, generated on the fly (never held in memory). Each download runs in a fresh
worker process executing ``DownloadCdrReportOperator.execute`` (connection from an
``AIRFLOW_CONN_*`` variable, destination a ``file://`` ObjectStoragePath, header check and row
count on); the worker reports its own figures:

* throughput: body bytes / wall time of the operator's download (MB = 10^6 bytes);
* peak RSS: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the worker, after Airflow and the
  provider are imported (baseline) and at the end (peak of the whole process life);
* the growth between the two, which is what the download itself costs.

The reference (issue "Scale", item 5): in the same run, against the same simulator process, a raw
``httpx`` stream-to-file of the exact same request (the URL, query and headers, ``x-api-key``
included, that the operator's :class:`~airflow_provider_voice.transport.HttpCore` builds for
``api.cdr_file_call(report)``), in its own fresh worker that imports only ``httpx``:
``client.stream("GET", ...)``, ``iter_raw`` with a large chunk size (``--raw-chunk-kib``), each chunk
written to a file (no checks, no fsync, no rename). Raw and operator runs alternate, so both see
the same load; the ratio is operator MB/s / raw MB/s (medians).

Goals: >= 150 MB/s on loopback and >= 0.7x the raw reference, peak RSS < 150 MB at 1 GB, memory
flat across sizes. Figures are printed, never asserted. Run:
``python benchmarks/cdr_download.py [--sizes 100,1000] [--repeat 3]`` (a 1 GB size needs about 1 GB
of free disk in the temporary directory, removed after each run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

MB = 1_000_000
REPORTS_KEY = "sim-televoips-reports-key"


def worker(dest: str) -> None:
    """Runs in the measured process: import, record the baseline, run the operator, print JSON."""
    started_import = time.monotonic()
    from airflow_provider_voice.operators.cdr import DownloadCdrReportOperator

    import_seconds = time.monotonic() - started_import
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    op = DownloadCdrReportOperator(
        task_id="bench", conn_id="televoips_bench", destination=dest, asset=False, deferrable=False
    )
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    result = op.execute({})
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    cpu = (usage.ru_utime - cpu_before.ru_utime) + (usage.ru_stime - cpu_before.ru_stime)
    print(
        json.dumps(
            {
                "bytes": result["bytes"],
                "rows": result["rows"],
                "wall_seconds": wall,
                "download_seconds": result["seconds"],
                "import_seconds": import_seconds,
                "worker_cpu_seconds": cpu,
                "baseline_rss_mb": baseline_kb * 1024 / 2**20,
                "peak_rss_mb": peak_kb * 1024 / 2**20,
            }
        )
    )


def raw_worker(dest: str, request_json: str, chunk_bytes: int) -> None:
    """The reference, in its own process: the same request, streamed to ``dest`` with plain httpx."""
    request = json.loads(request_json)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    size = 0
    with httpx.Client(timeout=30) as client, open(dest, "wb") as out:
        with client.stream(request["method"], request["url"], headers=request["headers"]) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(chunk_bytes or None):
                out.write(chunk)
                size += len(chunk)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage.ru_utime - cpu_before.ru_utime) + (usage.ru_stime - cpu_before.ru_stime)
    print(
        json.dumps(
            {
                "bytes": size,
                "download_seconds": wall,
                "worker_cpu_seconds": cpu,
                "baseline_rss_mb": baseline_kb * 1024 / 2**20,
                "peak_rss_mb": usage.ru_maxrss * 1024 / 2**20,
            }
        )
    )


def describe_request() -> None:
    """Print the download request the operator sends (method, URL with query, headers) as JSON.

    Built by the provider's own code: the hook of the ``AIRFLOW_CONN_*`` connection, the report
    its API returns, ``api.cdr_file_call(report)`` and :meth:`HttpCore.build_request`.
    """
    from airflow_provider_voice.hooks.televoips import TeleVoipsHook
    from airflow_provider_voice.transport import HttpCore

    hook = TeleVoipsHook(conn_id="televoips_bench")
    report = hook.client.send(hook.api.request_cdr_report())
    call = hook.api.cdr_file_call(report)
    with httpx.Client() as client:
        request = HttpCore(hook.api).build_request(client, call)
    print(json.dumps({"method": request.method, "url": str(request.url), "headers": dict(request.headers)}))


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulator(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = workdir / "ready.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_voice.testing",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--cdr-compile-seconds",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the simulator did not start")
        time.sleep(0.05)
    time.sleep(0.05)
    return proc, json.loads(ready.read_text())["url"].rstrip("/")


def prepare_size(root: str, size_mb: int, env: dict[str, str], chunk_bytes: int) -> dict[str, Any]:
    """Configure the simulator for ``size_mb`` and make its report complete; the operator's request."""
    with httpx.Client(timeout=30) as http:
        http.post(
            f"{root}/_sim/config", json={"cdr_target_bytes": size_mb * MB, "cdr_chunk_bytes": chunk_bytes}
        ).raise_for_status()
        for _ in range(3):  # requested -> complete (compile time 0)
            http.get(f"{root}/televoips/reports/cdrs", headers={"x-api-key": REPORTS_KEY}).raise_for_status()
    out = subprocess.run(
        [sys.executable, __file__, "--describe-request"], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"could not build the operator's request:\n{out.stderr[-3000:]}")
    request: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return request


def run_once(
    mode: str, size_mb: int, workdir: Path, env: dict[str, str], sim_pid: int, extra: list[str]
) -> dict[str, Any]:
    """One download in a fresh worker (``--worker``: the operator, ``--raw-worker``: the reference)."""
    dest_dir = workdir / f"out-{mode}-{size_mb}"
    dest_dir.mkdir()
    target = dest_dir / "cdrs.csv"
    dest = f"file://{target}" if mode == "operator" else str(target)
    flag = "--worker" if mode == "operator" else "--raw-worker"
    sim_cpu = _process_cpu_seconds(sim_pid)
    try:
        out = subprocess.run(
            [sys.executable, __file__, flag, dest, *extra], env=env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(f"{mode} worker failed:\n{out.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        figures["sim_cpu_seconds"] = _process_cpu_seconds(sim_pid) - sim_cpu
        on_disk = target.stat().st_size
        assert on_disk == figures["bytes"], f"{mode}: file size differs from the bytes reported"
        assert on_disk >= size_mb * MB, f"{mode}: {on_disk} bytes, fewer than the {size_mb} MB asked for"
    finally:
        shutil.rmtree(dest_dir, ignore_errors=True)
    return figures


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda f: f["download_seconds"])
    median = dict(ordered[len(ordered) // 2])
    median["mb_s_all"] = [r["bytes"] / MB / r["download_seconds"] for r in runs]
    median["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="file sizes in MB (10^6 bytes), comma separated")
    parser.add_argument("--chunk-kib", type=int, default=64, help="simulator chunk size in KiB (default 64)")
    parser.add_argument(
        "--raw-chunk-kib", type=int, default=1024, help="reference iter_raw chunk in KiB (1024; 0: as received)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="downloads per size and mode (the median is reported)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--raw-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--request", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--describe-request", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if args.raw_worker:
        raw_worker(args.raw_worker, args.request, args.raw_chunk_kib * 1024)
        return 0
    if args.describe_request:
        describe_request()
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="cdr-bench-"))
    sim, root = start_simulator(workdir)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(workdir / "airflow-home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_TELEVOIPS_BENCH": json.dumps(
                {"conn_type": "televoips", "host": f"{root}/televoips", "extra": {"reports_api_key": REPORTS_KEY}}
            ),
        }
    )
    repeat = max(1, args.repeat)
    rows = []
    request: dict[str, Any] = {}
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            request = prepare_size(root, size, env, args.chunk_kib * 1024)
            raw_args = ["--request", json.dumps(request), "--raw-chunk-kib", str(args.raw_chunk_kib)]
            raw, operator = [], []
            for _ in range(repeat):  # alternate, so both modes see the same load
                raw.append(run_once("raw", size, workdir, env, sim.pid, raw_args))
                operator.append(run_once("operator", size, workdir, env, sim.pid, []))
            rows.append((size, _median(raw), _median(operator)))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    shown = {k: ("***" if k.lower() == "x-api-key" else v) for k, v in request.get("headers", {}).items()}
    print(
        f"CDR download benchmark: simulator and workers in separate processes, {os.cpu_count()} CPUs, loopback, "
        f"simulator chunks {args.chunk_kib} KiB, median of {repeat} runs per mode (peak RSS: the highest)"
    )
    print(f"request (both modes): {request.get('method')} {request.get('url')} headers {shown}")
    print(
        f"reference: raw httpx client.stream + iter_raw({args.raw_chunk_kib} KiB) -> file (no checks, no fsync); "
        "operator: DownloadCdrReportOperator.execute (header check, row count, atomic write + fsync)"
    )
    print(
        f"{'size':>8} {'mode':>8} {'rows':>10} {'seconds':>8} {'MB/s':>8} {'ratio':>6} {'RSS after imports':>18}"
        f" {'peak RSS':>9} {'growth':>8} {'worker CPU':>11} {'sim CPU':>8}"
    )
    for size, raw_f, op_f in rows:
        raw_mb_s = raw_f["bytes"] / MB / raw_f["download_seconds"]
        for mode, f in (("raw", raw_f), ("operator", op_f)):
            mb_s = f["bytes"] / MB / f["download_seconds"]
            rows_text = f"{f['rows']:>10,}" if "rows" in f else f"{'-':>10}"
            print(
                f"{size:>6}MB {mode:>8} {rows_text} {f['download_seconds']:>8.2f} {mb_s:>8.1f} {mb_s / raw_mb_s:>5.2f}x"
                f" {f['baseline_rss_mb']:>15.1f} MB {f['peak_rss_mb']:>6.1f} MB"
                f" {f['peak_rss_mb'] - f['baseline_rss_mb']:>5.1f} MB {f['worker_cpu_seconds']:>9.2f} s"
                f" {f['sim_cpu_seconds']:>6.2f} s   all runs MB/s: {', '.join(f'{v:.0f}' for v in f['mb_s_all'])}"
            )
    print("goals: >= 150 MB/s and >= 0.7x raw; peak RSS < 150 MB at 1 GB; RSS growth flat across sizes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
