"""`chaos heal` after a harness SIGKILLed while it owned a kind cluster: the cluster it created
(its node containers) and the host routes it added are removed by the next `chaos heal`.

The victim run makes its own one-node cluster (`chaos-victim`, pod subnet 10.245.0.0/16, so its
host route never touches the tier's cluster's routes) on the tier's Docker daemon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.ledger import owner_alive, pending_undos
from tests.kind.conftest import first_line

pytestmark = [pytest.mark.integration, pytest.mark.kind]

REPO = Path(__file__).resolve().parents[2]
NAME = "chaos-victim"
POD_SUBNET = "10.245.0.0/16"
CONFIG = f"""kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  ipFamily: ipv4
  podSubnet: {POD_SUBNET}
  serviceSubnet: 10.97.0.0/16
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    failCgroupV1: false
nodes:
  - role: control-plane
"""

VICTIM = r"""
import sys, time
from pathlib import Path
from chaos.platforms.kind import KindCluster, KindPlatform

state, config, image, kind = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
docker = sys.argv[5:]
cluster = KindCluster("chaos-victim", config=config, kind=[kind], docker=docker,
                      state_dir=state, node_image=image).up(routes=True)
platform = KindPlatform(cluster=cluster, docker=docker, state_dir=state).up()
print("CREATED", " ".join(f"{c}@{v}" for c, v in platform.routes), flush=True)
time.sleep(900)
"""


def containers(docker: list[str]) -> list[str]:
    out = subprocess.run([*docker, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, timeout=30)
    return [n for n in out.stdout.split() if n.startswith(f"{NAME}-")]


def routes() -> list[str]:
    out = subprocess.run(["ip", "route"], capture_output=True, text=True, timeout=10).stdout
    return [line for line in out.splitlines() if line.startswith("10.245.")]


def test_chaos_heal_deletes_a_killed_runs_cluster_and_host_routes(kind_tier, tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "victim-kind.yaml"
    config.write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, str(state), str(config), kind_tier.cluster.node_image,
                               str(kind_tier.kind_binary), *kind_tier.docker], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first_line(victim, "CREATED", 420)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)

        # What the killed run left: its node container, its host route, and ledgers that say so.
        assert containers(kind_tier.docker) == [f"{NAME}-control-plane"]
        assert routes() and all(" via " in r for r in routes()), routes()
        ledgers = list((state / "ledger").glob("*.jsonl"))
        assert ledgers and not any(owner_alive(p) for p in ledgers)
        assert sorted(u.action for p in ledgers for u in pending_undos(p)) == ["kind-delete-cluster",
                                                                               "kind-remove-routes"]

        heal = subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=420)
        assert heal.returncode == 0, heal.stdout + heal.stderr
        assert "healed 2 item(s)" in heal.stdout, heal.stdout
        assert containers(kind_tier.docker) == []
        assert routes() == []
        assert not list((state / "ledger").glob("*.jsonl"))
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        for r in routes():
            subprocess.run(["ip", "route", "del", *r.split()[:3]], capture_output=True, timeout=10)
        if containers(kind_tier.docker):
            subprocess.run([str(kind_tier.kind_binary), "delete", "cluster", "--name", NAME], capture_output=True,
                           timeout=300, env={**os.environ, "DOCKER_HOST": kind_tier.docker[-1]})
