"""Benchmark (prints numbers; not a test): the wall time of the main job, `chaos run` on the
local platform, as `make run` starts it, and where the time goes per component.

Target: the whole run within 15 minutes on a 2-core machine.
Usage (root): .venv/bin/python tests/benchmarks/bench_run.py [SELECTOR ...]
The run's own summary table is printed as it goes; this script adds, per component, the
experiments' verdicts, their summed run time and harness overhead (from each result.json's
`phases_s`), and the rest of the wall time (platform bring-up, deploys, removals).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAOS = ROOT / ".venv" / "bin" / "chaos"
TARGET_S = 15 * 60


def _results(report_dir: pathlib.Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(report_dir.rglob("result.json"))]


def main(selectors: list[str]) -> int:
    report_dir = pathlib.Path(tempfile.mkdtemp(prefix="chaos-bench-run-"))
    t0 = time.monotonic()
    rc = subprocess.run([str(CHAOS), "run", *selectors, "--report-dir", str(report_dir)], check=False).returncode
    wall_s = time.monotonic() - t0
    per: dict[str, dict] = defaultdict(lambda: {"n": 0, "total": 0.0, "overhead": 0.0, "verdicts": defaultdict(int)})
    for r in _results(report_dir):
        row = per[r["component"]]
        row["n"] += 1
        row["total"] += r["phases_s"].get("total", 0.0)
        row["overhead"] += r["phases_s"].get("overhead", 0.0)
        row["verdicts"][r["verdict"]] += 1
    print(f"\n{'component':14} {'experiments':>11} {'run_s':>8} {'overhead_s':>10}  verdicts")
    for name, row in sorted(per.items()):
        verdicts = ", ".join(f"{v} {k}" for k, v in sorted(row["verdicts"].items()))
        print(f"{name:14} {row['n']:11d} {row['total']:8.1f} {row['overhead']:10.1f}  {verdicts}")
    in_experiments = sum(row["total"] for row in per.values())
    print(f"experiments: {sum(row['n'] for row in per.values())}; their run time {in_experiments:.1f} s; "
          f"the rest (platform up, deploys, removals, summary) {wall_s - in_experiments:.1f} s")
    print(f"chaos run wall time: {wall_s:.1f} s = {wall_s / 60:.1f} min (target <= {TARGET_S // 60} min; "
          f"exit code {rc}); results in {report_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
