"""Benchmark (prints numbers; not a test): harness overhead per experiment, the probe's
achieved interval between operations, bring-up time, and the harness's peak memory.

Targets: overhead <= 5 s per experiment, achieved interval <= 50 ms, peak RSS < 300 MB.
Usage (root): .venv/bin/python tests/benchmarks/bench_harness.py [experiment ...]
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time

from chaos.catalog import scenario
from chaos.components.postgres import PostgresCluster
from chaos.run_loop import run_scenario
from chaos.pytest_plugin import DEFAULT_SLO_FILE
from chaos.platforms.local import LocalPlatform
from chaos.slo import load_slo_file

DEFAULT = ["postgres/primary-kill", "postgres/standby-kill", "postgres/primary-node-drain",
           "postgres/primary-zone-partition", "postgres/primary-node-crash"]


def _median_interval(result_dir) -> float:
    """Median time between successive invokes of each probe client, from the timeline."""
    from chaos.timeline import INVOKE, load_jsonl

    last: dict[str, float] = {}
    gaps = []
    for e in load_jsonl(str(result_dir / "timeline.jsonl")):
        if e.kind == INVOKE:
            if e.process in last:
                gaps.append(e.t - last[e.process])
            last[e.process] = e.t
    return statistics.median(gaps)


def main(keys: list[str]) -> int:
    book = load_slo_file(DEFAULT_SLO_FILE)
    report_dir = tempfile.mkdtemp(prefix="chaos-bench-")
    rows = []
    t0 = time.monotonic()
    with LocalPlatform() as platform:
        up_s = time.monotonic() - t0
        t1 = time.monotonic()
        cluster = PostgresCluster(platform)
        cluster.deploy()
        deploy_s = time.monotonic() - t1
        for key in keys:
            sc = scenario(key)
            out = run_scenario(platform, cluster, sc, book.for_experiment(sc.component, sc.name), seed=1,
                               report_dir=report_dir, run_id=platform.run_id)
            m, p = out.result["metrics"], out.phases_s
            rows.append((key, out.verdict.verdict, p["total"], p["overhead"], p.get("inject", 0), p.get("heal", 0),
                         p.get("steady_wait", 0), m["probe_interval_s"], _median_interval(out.path.parent),
                         m["probe_interval_p95_s"], m["unavailability_s"], m["recovery_s"]))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"platform up: {up_s:.2f} s; postgres bring-up (3 nodes, steady): {deploy_s:.2f} s")
    print(f"{'experiment':34} {'verdict':7} {'total_s':>8} {'overhead_s':>10} {'inject_s':>8} {'heal_s':>7} "
          f"{'steady_s':>8} {'mean_ms':>7} {'p50_ms':>7} {'p95_ms':>7} {'unavail_s':>9} {'recovery_s':>10}")
    for r in rows:
        print(f"{r[0]:34} {r[1]:7} {r[2]:8.2f} {r[3]:10.2f} {r[4]:8.2f} {r[5]:7.2f} {r[6]:8.2f} "
              f"{r[7] * 1000:7.1f} {r[8] * 1000:7.1f} {r[9] * 1000:7.1f} {r[10]:9.3f} "
              f"{r[11] if r[11] is None else round(r[11], 3):>10}")
    print("interval = time between successive operations of one probe client; while a server is")
    print("silent an operation blocks up to connect_timeout (2 s), which lifts the mean, not the median")
    worst_overhead = max(r[3] for r in rows)
    worst_interval = max(r[8] for r in rows)
    print(f"max overhead per experiment: {worst_overhead:.2f} s (target <= 5 s)")
    print(f"max median probe interval: {worst_interval * 1000:.1f} ms (target <= 50 ms)")
    print(f"harness peak RSS: {rss_mb:.1f} MB (target < 300 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or DEFAULT))
