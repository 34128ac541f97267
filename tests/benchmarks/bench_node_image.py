"""Benchmark (prints numbers; not a test): the stand-in kind node image and its Docker daemon.

  - cold build: debootstrap + trim + tar of the node rootfs (`nice -n 19`), into a private,
    empty cache directory (the real cache is left alone);
  - dockerd start: our own daemon (no iptables/forwarding changes) until it answers;
  - cached import: `docker import` of the cached tarball into that fresh daemon; then the
    skipped re-import of a second run (image already current).

Leaves nothing behind: daemon stopped, its directory and the temporary cache removed, the host's
FORWARD policy checked against the value before.

Usage (root): python3 tests/benchmarks/bench_node_image.py [--skip-cold]
  --skip-cold   use the existing cache (build it if missing) instead of timing a cold build
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.docker.conftest import (DockerDaemon, host_snapshot, load_build_script,  # noqa: E402
                                   remove_run_dirs, restore_host)


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("needs root (debootstrap, dockerd)")
        return 2
    before = host_snapshot()
    rows: list[tuple[str, float]] = []
    size = None
    tmp_cache = None
    if "--skip-cold" not in argv:
        tmp_cache = tempfile.mkdtemp(prefix="chaos-bench-cache-", dir="/var/tmp")
        os.environ["CHAOS_CACHE_DIR"] = tmp_cache
    build = load_build_script()
    base = Path(tempfile.mkdtemp(prefix="chaos-bench-dockerd-", dir="/var/tmp"))
    daemon = DockerDaemon(base=base, log_path=base / "dockerd.log")  # removed with its directory
    try:
        t0 = time.monotonic()
        tarball = build.build_rootfs(rebuild=tmp_cache is not None)
        size = tarball.stat().st_size / 1e6
        rows.append(("cold image build (debootstrap, nice 19)" if tmp_cache else "rootfs from cache",
                     time.monotonic() - t0))
        rows.append(("dockerd start to answering", daemon.start()))
        t0 = time.monotonic()
        build.import_image(daemon.docker)
        rows.append(("cached import (docker import of the tarball)", time.monotonic() - t0))
        t0 = time.monotonic()
        build.import_image(daemon.docker)
        rows.append(("second run: image current, import skipped", time.monotonic() - t0))
        t0 = time.monotonic()
        daemon.stop()
        rows.append(("dockerd stop and cleanup", time.monotonic() - t0))
    finally:
        daemon.stop()
        if tmp_cache:
            shutil.rmtree(tmp_cache, ignore_errors=True)
        restored = restore_host(before)
        remove_run_dirs(before, ours=True)
    print()
    for label, seconds in rows:
        print(f"{label:48} {seconds:7.2f} s")
    if size:
        print(f"{'rootfs tarball size':48} {size:7.0f} MB")
    after = host_snapshot()
    same = all(after[k] == before[k] for k in ("iptables FORWARD", "ip6tables FORWARD", "sysctl"))
    print(f"host FORWARD policy/sysctls unchanged: {same}" + (f" (restored: {restored})" if restored else ""))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
