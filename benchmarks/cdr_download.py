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

Goals (issue 4): >= 150 MB/s on loopback, peak RSS < 150 MB at 1 GB, memory flat across sizes.
Figures are printed, never asserted. Run: ``python benchmarks/cdr_download.py [--sizes 100,1000]``.
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


def run_size(root: str, size_mb: int, workdir: Path, env: dict[str, str], chunk_bytes: int) -> dict[str, float]:
    with httpx.Client(timeout=30) as http:
        http.post(
            f"{root}/_sim/config", json={"cdr_target_bytes": size_mb * MB, "cdr_chunk_bytes": chunk_bytes}
        ).raise_for_status()
        for _ in range(3):  # requested -> complete (compile time 0)
            http.get(f"{root}/televoips/reports/cdrs", headers={"x-api-key": REPORTS_KEY}).raise_for_status()
    dest_dir = workdir / f"out-{size_mb}"
    dest_dir.mkdir()
    dest = f"file://{dest_dir}/cdrs.csv"
    out = subprocess.run(
        [sys.executable, __file__, "--worker", dest], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"worker failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    on_disk = (dest_dir / "cdrs.csv").stat().st_size
    assert on_disk == figures["bytes"], "file size differs from the bytes reported"
    shutil.rmtree(dest_dir)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="file sizes in MB (10^6 bytes), comma separated")
    parser.add_argument("--chunk-kib", type=int, default=64, help="simulator chunk size in KiB (default 64)")
    parser.add_argument("--repeat", type=int, default=3, help="downloads per size (the median is reported)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
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
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            runs = [run_size(root, size, workdir, env, args.chunk_kib * 1024) for _ in range(max(1, args.repeat))]
            runs.sort(key=lambda f: f["download_seconds"])
            median = runs[len(runs) // 2]
            median["mb_s_all"] = [r["bytes"] / MB / r["download_seconds"] for r in runs]
            median["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
            rows.append((size, median))
    finally:
        sim.terminate()
        sim.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"CDR download benchmark: simulator and worker in separate processes, {os.cpu_count()} CPUs, loopback, "
        f"median of {max(1, args.repeat)} runs (peak RSS: the highest)"
    )
    print(
        f"{'size':>8} {'rows':>10} {'seconds':>8} {'MB/s':>8} {'RSS after imports':>18} {'peak RSS':>9} {'growth':>8} {'worker CPU':>11}"
    )
    for size, f in rows:
        print(
            f"{size:>6}MB {f['rows']:>10,} {f['download_seconds']:>8.2f} {f['bytes'] / MB / f['download_seconds']:>8.1f}"
            f" {f['baseline_rss_mb']:>15.1f} MB {f['peak_rss_mb']:>6.1f} MB {f['peak_rss_mb'] - f['baseline_rss_mb']:>5.1f} MB"
            f" {f['worker_cpu_seconds']:>9.2f} s   all runs MB/s: {', '.join(f'{v:.0f}' for v in f['mb_s_all'])}"
        )
    print("goals: >= 150 MB/s; peak RSS < 150 MB at 1 GB; RSS growth flat across sizes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
