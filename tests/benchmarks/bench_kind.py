"""Benchmark (prints numbers; not a test): the kind tier on this machine.

  - node image: the time to have chaos-kind-node in a fresh Docker daemon: a cold build when
    its cache is empty (with --cold: the image's own cache, the rootfs and the Go binaries of
    the kind node are removed first; the Go module and build caches are kept), else a load of
    the cached image tarball;
  - `kind create cluster` (kind-config.yaml: a control plane and six workers) to every node Ready;
  - the memory the running cluster takes: the node containers' memory (their cgroups, as
    `docker stats` reports it) and the host's used memory before and after;
  - `kind delete cluster`.

Leaves nothing behind (the kind tier's own teardown: cluster, network, host rule, daemon).

Usage (root): python3 tests/benchmarks/bench_kind.py [--cold]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.kind.conftest import KindTier, load_build_script  # noqa: E402


def used_mib() -> float:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kib = lambda k: float(info[k].split()[0])  # noqa: E731
    return (kib("MemTotal") - kib("MemAvailable")) / 1024


def container_mib(docker: list[str]) -> dict[str, float]:
    out = subprocess.run([*docker, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                         capture_output=True, text=True, timeout=120).stdout
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 2**20}
    sizes = {}
    for line in out.splitlines():
        name, usage = line.split(" ", 1)
        value = usage.split("/")[0].strip()
        for unit, factor in units.items():
            if value.endswith(unit):
                sizes[name] = float(value[: -len(unit)]) * factor
                break
    return sizes


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("needs root (dockerd, debootstrap)")
        return 2
    build = load_build_script()
    if "--cold" in argv:
        shutil.rmtree(build.cache_dir(), ignore_errors=True)
    rows: list[tuple[str, str]] = []
    tier = KindTier(say=lambda m: print(m, flush=True), keep=False)
    mem_before = used_mib()
    try:
        tier.up()
        image_how = "cold build" if "--cold" in argv else "from the cache (build if missing)"
        rows.append((f"node image in a fresh daemon ({image_how})", f"{tier.timings['image_s']:.1f} s"))
        rows.append(("kind create cluster to 7 nodes Ready", f"{tier.timings['cluster_up_s']:.1f} s"))
        time.sleep(30)  # let the system pods settle before measuring memory
        sizes = container_mib(tier.docker)
        rows.append(("node containers' memory (docker stats, sum)", f"{sum(sizes.values()):.0f} MiB "
                     f"({', '.join(f'{n} {v:.0f}' for n, v in sorted(sizes.items()))})"))
        rows.append(("host memory used, cluster up minus before", f"{used_mib() - mem_before:.0f} MiB"))
        t0 = time.monotonic()
        tier.cluster.delete()
        rows.append(("kind delete cluster", f"{time.monotonic() - t0:.1f} s"))
    finally:
        left = tier.close()
    width = max(len(r[0]) for r in rows) if rows else 0
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if left:
        print(f"LEFT BEHIND: {left}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
