"""Benchmark (prints numbers; not a test): how often the trend's regression rule raises a false
alarm over identical nightly-style runs, before and after it compared distributions.

Every run is the same experiments on the same machine and code, so every flag is a false alarm.
  - before: one value per nightly run, the old rule (current > 1.5 x median of the last 7 earlier
    values and > 1 s worse). Each repeat of each run stands for one nightly run, in order, so the
    old rule gets as many nightly runs as there are experiment runs.
  - after: one distribution per nightly run (its repeats), the current rule (chaos.report).
Both count the comparisons the rule makes (runs with at least 3 earlier runs), per experiment
and metric (unavailability_s, recovery_s), and the flags among them.

Usage: python tests/benchmarks/bench_trend.py [--runs 5] [--repeat 3] [--out DIR] [SELECTOR ...] [chaos run options as --opt=value]
       python tests/benchmarks/bench_trend.py --only-score --out DIR   (score runs already made)
Default selectors: kafka/leader-kill kafka/leader-zone-partition (measured 3.86 s vs 6.61 s and
10.26 s vs 5.22 s in two identical runs). Needs root; runs `chaos run` on the local platform.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from chaos.report import REGRESSION_MIN_DELTA_S, REGRESSION_MIN_RUNS, REGRESSION_RATIO, REGRESSION_WINDOW
from chaos.report import is_regression
from chaos.results import load_results

METRICS = ("unavailability_s", "recovery_s")
DEFAULT = ["kafka/leader-kill", "kafka/leader-zone-partition"]


def old_rule(previous: list[float], current: float) -> bool:
    earlier = previous[-REGRESSION_WINDOW:]
    if len(earlier) < REGRESSION_MIN_RUNS:
        return False
    median = statistics.median(earlier)
    return current > median * REGRESSION_RATIO and current - median > REGRESSION_MIN_DELTA_S


def score(run_dirs: list[Path]) -> dict[str, tuple[int, int]]:
    runs = [load_results(d) for d in run_dirs]
    names = sorted({r["experiment"] for run in runs for r in run})
    before, after = [0, 0], [0, 0]
    for name in names:
        for metric in METRICS:
            per_run = [[r["metrics"].get(metric) for r in sorted(
                (r for r in run if r["experiment"] == name), key=lambda r: (r.get("repeat") or {}).get("index", 1))]
                for run in runs]
            per_run = [[v for v in vals if v is not None] for vals in per_run]
            singles = [v for vals in per_run for v in vals]
            print(f"{name} {metric}: " + " | ".join(" ".join(f"{v:.2f}" for v in vals) for vals in per_run))
            for i in range(REGRESSION_MIN_RUNS, len(singles)):
                before[0] += 1
                before[1] += old_rule(singles[:i], singles[i])
            for i in range(REGRESSION_MIN_RUNS, len(per_run)):
                after[0] += 1
                after[1] += is_regression(per_run[:i], per_run[i])[0]
    return {"before": tuple(before), "after": tuple(after)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("selector", nargs="*", default=DEFAULT)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="reports/bench-trend")
    ap.add_argument("--only-score", action="store_true")
    args, args.chaos_args = ap.parse_known_args()  # the rest goes to chaos run (as --opt=value: --instance=b --subnet=...)
    out = Path(args.out)
    if not args.only_score:
        for k in range(1, args.runs + 1):
            t0 = time.monotonic()
            run_dir = out / f"run-{k}"
            code = subprocess.call([sys.executable, "-m", "chaos.cli", "run", *args.selector, *args.chaos_args,
                                    "--repeat", str(args.repeat), "--report-dir", str(run_dir)])
            print(f"run {k}: exit {code}, {time.monotonic() - t0:.0f} s", flush=True)
    dirs = sorted((d for d in out.glob("run-*") if d.is_dir()), key=lambda d: int(d.name.split("-")[1]))
    counts = score(dirs)
    for rule, (n, flags) in counts.items():
        rate = f"{flags / n:.0%}" if n else "n/a"
        print(f"{rule}: {flags} false alarms in {n} comparisons ({rate})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
