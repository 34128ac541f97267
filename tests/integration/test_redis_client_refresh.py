"""The Redis probe client's topology refresh walks every seed in turn.

Found in CI: during a zone partition the replica failed over in 4.6 s, but the probe stayed on the
cut-off master until the heal (22.8 s unavailable), because redis-py replaced the seeds by the
nodes of the first view it got and every refresh asked the same stale node first. Here two real
redis-server processes on loopback, each a one-node cluster owning every slot, stand in for a
stale and a fresh view: a client seeded with both must move from one to the other on refresh.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time

import pytest

from chaos.components.redis import REDIS_CLI, REDIS_SERVER, RedisClient, Settings

pytestmark = pytest.mark.skipif(
    subprocess.run(["test", "-x", REDIS_SERVER]).returncode != 0, reason="redis-server not installed")


def _free_port() -> int:
    """A port whose cluster bus port (port + 10000) is free too; the kernel's ephemeral ports go
    up to 60999, whose bus port would not exist."""
    for port in random.sample(range(20000, 30000), 200):
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair in 20000-40000")


@pytest.fixture
def two_clusters(tmp_path):
    procs, ports = [], []
    try:
        for i in range(2):
            port = _free_port()
            d = tmp_path / f"n{i}"
            d.mkdir()
            procs.append(subprocess.Popen(
                [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(d / "nodes.conf"), "--cluster-node-timeout", "500", "--dir", str(d), "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(port)
        for port in ports:
            deadline = time.monotonic() + 10
            while subprocess.run([REDIS_CLI, "-p", str(port), "ping"], capture_output=True,
                                 text=True).stdout.strip() != "PONG":
                assert time.monotonic() < deadline, f"redis-server on {port} did not start"
                time.sleep(0.05)
            subprocess.run([REDIS_CLI, "-p", str(port), "cluster", "addslotsrange", "0", "16383"],
                           check=True, capture_output=True)
            deadline = time.monotonic() + 10
            while "cluster_state:ok" not in subprocess.run([REDIS_CLI, "-p", str(port), "cluster", "info"],
                                                           capture_output=True, text=True).stdout:
                assert time.monotonic() < deadline, f"one-node cluster on {port} not ok"
                time.sleep(0.05)
        yield ports
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_each_refresh_asks_the_next_seed_first(two_clusters):
    a, b = two_clusters
    names = {f"127.0.0.1:{a}": "stale", f"127.0.0.1:{b}": "fresh"}
    client = RedisClient([("127.0.0.1", a), ("127.0.0.1", b)], "refresh", ["t0"], Settings(), names)
    try:
        served = []
        for value in range(4):
            node, extra = client.write(value)
            served.append(node)
            assert extra["replicated"] is False  # one-node clusters have no replica to confirm
            client._refresh()
        # The old refresh stayed on the first view's nodes: stale, stale, stale, stale.
        assert served == ["stale", "fresh", "stale", "fresh"]
    finally:
        client.close()
