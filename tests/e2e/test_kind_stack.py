"""End to end on a real kind cluster: every component of fixtures/kind/stack.yaml deploys, is
Ready, is placed the way the manifests ask (no two replicas of a workload on one node, zones
balanced) and is reachable from this host by pod IP (the platform's host routes); then the
experiment suite runs on the cluster exactly as documented:

    python3 -m pytest experiments --chaos-platform kind --keep-cluster

Skipped where kind cannot run (see conftest.py: the skip names the missing prerequisite).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from chaos.platforms.stack import STACK_FILE, load_stack

pytestmark = [pytest.mark.kind_e2e, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
ZONES = ("a", "b", "c")
EXPERIMENTS_TIMEOUT_S = 4 * 3600


def placement_problems(pods) -> list[str]:
    """Replicas of one workload sharing a node, or zones more than one replica apart."""
    problems = []
    by_owner: dict[str, list] = {}
    for p in pods:
        by_owner.setdefault(p.owner or p.name, []).append(p)
    for owner, group in sorted(by_owner.items()):
        nodes = Counter(p.node for p in group)
        shared = {n: c for n, c in nodes.items() if c > 1}
        if shared:
            problems.append(f"{owner}: replicas share nodes {shared}")
        zones = Counter(p.zone for p in group)
        counts = [zones.get(z, 0) for z in ZONES]
        if max(counts) - min(counts) > 1:
            problems.append(f"{owner}: zones unbalanced {dict(zip(ZONES, counts))}")
    return problems


def test_every_component_deploys_ready_spread_and_reachable(kind_platform):
    stack = load_stack(STACK_FILE)
    for component in stack.components:
        pods = [p for p in kind_platform.deploy_stack(component, timeout_s=900)
                if (p.owner or "").split("/")[0] in ("StatefulSet", "ReplicaSet")]
        assert pods, f"{component}: no server pods"
        assert all(p.running for p in pods), [(p.name, p.phase, p.ready) for p in pods if not p.running]
        assert placement_problems(pods) == []
        endpoints = kind_platform.endpoints(component)
        assert sorted(e[0] for e in endpoints) == sorted(p.name for p in pods)
        unreachable = [e for e in endpoints if not kind_platform.reachable(None, e[1], e[2], timeout_s=3)]
        assert unreachable == [], f"{component}: pod IPs not reachable from the host: {unreachable}"


def test_the_experiments_run_on_kind(kind_platform, tmp_path):
    """The documented command, in a child pytest that reuses (and keeps) this session's cluster."""
    argv = [sys.executable, "-m", "pytest", "experiments", "--chaos-platform", "kind", "--keep-cluster",
            "--chaos-kind-name", kind_platform.cluster.name, "-p", "no:cacheprovider", "-q", "-rA",
            "--chaos-report-dir", str(tmp_path / "reports"), "--junitxml", str(tmp_path / "junit.xml")]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=EXPERIMENTS_TIMEOUT_S)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{tail}"
    results = list((tmp_path / "reports").rglob("*.json"))
    assert results, f"no results JSON written:\n{tail}"
