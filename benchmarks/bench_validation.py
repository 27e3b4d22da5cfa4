"""Recipient validation benchmark: how close ``validate_recipients`` comes to raw ``phonenumbers``.

Setup (not measured): a CSV (``phone,name,region,amount``) of ``--rows`` realistic messy numbers,
seeded: French, Brazilian, Indian and US numbers in national and international forms (spaces,
dots, dashes, parentheses, ``00``/``0033`` prefixes, bare digits with the country code), the
region column filled for national forms and blank for international ones (``default_region="FR"``
applies), about 3% invalid (too short, unknown ranges, words) and 5% repeated rows.

Measured in the same run, each in a fresh process so no cache or memory carries over:

* **(a) raw** — ``phonenumbers.parse`` + ``is_valid_number`` + ``format_number(E164)`` over the
  same strings (read from the CSV beforehand): the floor any validation builds on.
* **(b) validate + send** — ``validate_recipients(path, backend, None, default_region="FR",
  region_field="region", skip_invalid=True)`` and one iteration of the result, as the campaign and
  SMS operators do (both passes: the send's one reads what validation wrote, or re-reads the source
  in trees without that). Numbers (rows) per second and the ratio to (a).
* **(c) validation_workers=2** — (b) with the process pool (``parallel_threshold`` at its default:
  the first 50,000 rows in-process, the rest parsed ahead by two spawned processes); the speed-up
  over (b), whose upper bound is the number of free cores.
* **(d) before** — with ``--before PATH``, (a) and (b) for the tree at ``PATH`` (``PYTHONPATH``),
  in the same run, so the closing note gives before/after on the same machine load.

Goals (the "Scale" issue, item 2): (b) within 1.3x of (a) and >= 25,000 numbers/s on one core.
Each line gives CPU seconds (``getrusage``: the process and its ended children, so the pool's
processes count) and wall seconds: on a shared machine the CPU figures are the stable ones (the
ratio to raw and numbers/s on one core are computed from them); the pool's gain is in wall time.
Peak RSS (``ru_maxrss`` of each child process, including its imports) is printed per line. The
backend's ``validate_recipient`` does nothing: the vendor rules are not what is measured. Figures
are printed, never asserted. Run: ``python benchmarks/bench_validation.py [--rows 100000]
[--before /tmp/before] [--workers 2] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_numbers(path: Path, rows: int, seed: int = 7) -> None:
    """``rows`` messy numbers in a CSV ``phone,name,region,amount``; see the module docstring."""
    rnd = random.Random(seed)

    def digits(n: int) -> str:
        return "".join(rnd.choice("0123456789") for _ in range(n))

    def fr() -> tuple[str, str]:
        d = rnd.choice("67") + digits(8)
        pairs = " ".join(d[i : i + 2] for i in range(1, 9, 2))
        return rnd.choice(
            [(f"0{d[0]} {pairs}", "FR"), (f"0{d[0]}.{pairs.replace(' ', '.')}", "FR"), (f"+33 {d[0]} {pairs}", ""),
             (f"0033{d}", ""), (f"0{d}", "FR")]
        )  # fmt: skip

    def br() -> tuple[str, str]:
        area = rnd.choice(["11", "21", "31", "41", "51", "61", "71", "81", "85"])
        s = "9" + rnd.choice("6789") + digits(7)
        return rnd.choice(
            [(f"({area}) {s[:5]}-{s[5:]}", "BR"), (f"+55 {area} {s[:5]} {s[5:]}", ""), (f"55{area}{s}", ""),
             (f"0{area} {s}", "BR")]
        )  # fmt: skip

    def india() -> tuple[str, str]:
        s = rnd.choice("6789") + digits(9)
        return rnd.choice([(f"{s[:5]} {s[5:]}", "IN"), (f"+91 {s[:5]}-{s[5:]}", ""), (f"0{s}", "IN"), (f"91{s}", "")])

    def us() -> tuple[str, str]:
        area = rnd.choice(["212", "415", "312", "617", "202", "305", "713"])
        e, last = rnd.choice("23456789") + digits(2), digits(4)
        return rnd.choice(
            [(f"({area}) {e}-{last}", "US"), (f"+1 {area}.{e}.{last}", ""), (f"1-{area}-{e}-{last}", "US"),
             (f"{area} {e} {last}", "US")]
        )  # fmt: skip

    bad = ["12345", "n/a", "+33 1", "06 12 34", "+1 987 654 3210", "0000000000", "+999 123456", "phone?"]
    made: list[tuple[str, str]] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "name", "region", "amount"])
        for i in range(rows):
            draw = rnd.random()
            if draw < 0.03:
                number, region = rnd.choice(bad), rnd.choice(["", "FR"])
            elif draw < 0.08 and made:
                number, region = rnd.choice(made)
            else:
                number, region = rnd.choice([fr, br, india, us])()
                made.append((number, region))
            writer.writerow([number, f"Person {i}", region, str(i % 97)])


# -- the measures, each run in a child process ---------------------------------------------------
def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process and of its ended children (the pool's processes, once shut down)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_raw(path: str) -> dict[str, float]:
    """(a): parse + is_valid_number + E.164 over the CSV's strings, with the row's region (else FR)."""
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat

    with open(path, newline="", encoding="utf-8") as handle:
        rows = [(r[0], r[2] or "FR") for r in list(csv.reader(handle))[1:]]
    start, cpu = time.perf_counter(), _cpu()
    valid = 0
    for text, region in rows:
        try:
            parsed = phonenumbers.parse(text, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
            valid += 1
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu": _cpu() - cpu, "rows": len(rows), "valid": valid, "rss_mb": _peak_rss_mb()}


def measure_validate(path: str, workers: int) -> dict[str, float]:
    """(b)/(c): ``validate_recipients`` then one iteration of the result (the send's pass)."""
    import inspect
    import logging

    from airflow_provider_voice.capabilities.recipients import validate_recipients

    logging.disable(logging.WARNING)  # the skip_invalid sample line

    class NoRules:
        vendor = "bench"

        def validate_recipient(self, spec: object, recipient: object, position: int) -> None:
            return None

    options: dict[str, object] = {}
    if workers > 1:
        if "validation_workers" not in inspect.signature(validate_recipients).parameters:
            return {"missing": 1}
        options["validation_workers"] = workers
    start, cpu = time.perf_counter(), _cpu()
    result = validate_recipients(
        path, NoRules(), None, default_region="FR", region_field="region", skip_invalid=True, rejects_path=False,
        **options,
    )  # fmt: skip
    checked = time.perf_counter()
    sent = sum(1 for _ in result)
    end = time.perf_counter()
    return {
        "seconds": end - start, "cpu": _cpu() - cpu, "validate_s": checked - start, "send_s": end - checked, "rows": result.rows,
        "valid": result.valid, "sent": sent, "invalid": result.invalid, "duplicates": result.duplicates,
        "rss_mb": _peak_rss_mb(),
    }  # fmt: skip


def _child(kind: str, path: str, tree: str, workers: int = 1) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); sys.argv[0] = sys.argv[2]; "
        "import importlib.util as u; s = u.spec_from_file_location('bench_validation', sys.argv[2]); "
        "m = u.module_from_spec(s); s.loader.exec_module(m); "
        "print(json.dumps(m.measure_raw(sys.argv[3]) if sys.argv[4] == 'raw' else m.measure_validate(sys.argv[3], int(sys.argv[5]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, tree, __file__, path, kind, str(workers)],
        env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{kind} ({tree}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r.get("cpu", float("inf")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--before", help="another tree (PYTHONPATH) measured the same way, e.g. /tmp/before")
    parser.add_argument("--workers", type=int, default=2, help="validation_workers of (c); 1: no (c)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measure (the fastest is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "numbers.csv"
        write_numbers(path, args.rows)
        print(f"{args.rows:,} rows in {path.name} ({path.stat().st_size / 1e6:.1f} MB); {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        trees = [("after", str(ROOT))] + ([("before", args.before)] if args.before else [])
        lines: list[tuple[str, dict[str, float], float]] = []
        for label, tree in trees:
            raw = _best([_child("raw", str(path), tree) for _ in range(args.repeat)])
            one = _best([_child("validate", str(path), tree) for _ in range(args.repeat)])
            lines.append((f"{label}: (a) raw phonenumbers", raw, raw["cpu"]))
            lines.append((f"{label}: (b) validate + send", one, raw["cpu"]))
            if args.workers > 1:
                pool = _best([_child("validate", str(path), tree, args.workers) for _ in range(args.repeat)])
                if "missing" not in pool:
                    lines.append((f"{label}: (c) validation_workers={args.workers}", pool, raw["cpu"]))
                    print(f"{label}: speed-up of validation_workers={args.workers} (wall time): "
                          f"{one['seconds'] / pool['seconds']:.2f}x")  # fmt: skip
        print("CPU: seconds of CPU (this process + pool processes); /s CPU: rows per CPU second (one core); "
              "x raw: CPU over (a)'s; wall: elapsed, split into validate and send")  # fmt: skip
        print(f"{'':42} {'CPU s':>7} {'/s CPU':>8} {'x raw':>6} {'wall s':>7} {'/s wall':>8} {'validate':>8} "
              f"{'send':>6} {'RSS MB':>6}")  # fmt: skip
        for name, r, raw_cpu in lines:
            extra = f"{r['validate_s']:8.2f} {r['send_s']:6.2f}" if "validate_s" in r else f"{'':8} {'':6}"
            print(f"{name:42} {r['cpu']:7.2f} {r['rows'] / r['cpu']:8,.0f} {r['cpu'] / raw_cpu:6.2f} "
                  f"{r['seconds']:7.2f} {r['rows'] / r['seconds']:8,.0f} {extra} {r['rss_mb']:6.0f}")  # fmt: skip
        for name, r, _ in lines:
            if "valid" in r and "sent" in r:
                print(f"{name}: {r['rows']:,} rows, {r['valid']:,} valid, {r['sent']:,} sent, {r['invalid']:,} invalid, "
                      f"{r['duplicates']:,} duplicates")  # fmt: skip


if __name__ == "__main__":
    main()
