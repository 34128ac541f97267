"""Benchmark (prints numbers; not a test): the kube control-plane tier (tests/kube/controlplane.py).

- build: wall time of the build; a cold build when the cache is empty, else the cache check only;
- start: from start() until the six kwok nodes are Ready (etcd, apiserver, controllers, kwok);
- stop:  SIGTERM/SIGKILL of every process group and removal of the work dir.

Usage (root, Go 1.26+): python3 tests/benchmarks/bench_controlplane.py [--starts N]
A cold build: CHAOS_CACHE_DIR=$(mktemp -d) (and GOCACHE=$(mktemp -d) for a fresh Go build cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.kube.controlplane import ControlPlane  # noqa: E402


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=3, help="start/stop cycles to time (default 3)")
    args = ap.parse_args()

    cp = ControlPlane()
    cold = not cp.is_built()
    t0 = time.monotonic()
    cp.build()
    build_s = time.monotonic() - t0
    print(f"build ({'cold' if cold else 'cached'}): {build_s:8.1f} s   cache {cp.root}: "
          f"{_du(cp.root) / 2 ** 20:.0f} MiB   GOCACHE={os.environ.get('GOCACHE', '(default)')}", flush=True)

    starts, stops = [], []
    for i in range(args.starts):
        t0 = time.monotonic()
        cp.start()
        starts.append(time.monotonic() - t0)
        t0 = time.monotonic()
        cp.stop()
        stops.append(time.monotonic() - t0)
        print(f"cycle {i + 1}: start to 6 nodes Ready {starts[-1]:6.2f} s   stop {stops[-1]:6.2f} s", flush=True)
    if starts:
        print(f"start: median {statistics.median(starts):6.2f} s  max {max(starts):6.2f} s")
        print(f"stop:  median {statistics.median(stops):6.2f} s  max {max(stops):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
