"""Benchmark (prints numbers; not a test): bring-up time of each component on the local
platform, from starting its pods to steady. The Kafka jars are resolved first (cached
after the first run), so their download is not counted.

Usage (root): .venv/bin/python tests/benchmarks/bench_bringup.py [component ...]
"""

from __future__ import annotations

import sys
import time

from chaos.components import COMPONENTS, get_component
from chaos.components.kafka import ensure_kafka_jars
from chaos.platforms.local import LocalPlatform


def main(names: list[str]) -> int:
    ensure_kafka_jars(print)
    rows = []
    with LocalPlatform() as platform:
        for name in names:
            deployment = get_component(name)(platform)
            t0 = time.monotonic()
            deployment.deploy()
            rows.append((name, time.monotonic() - t0))
            deployment.remove()
    for name, seconds in rows:
        print(f"{name:10} bring-up to steady: {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(COMPONENTS)))
