"""The Kubernetes platform against a real control plane (kube-apiserver, etcd, controller-manager
and scheduler built from source; kwok nodes in three zones): what only Kubernetes does. The
shared fault contract (kill, drain, heal on exceptions) runs in tests/contract on this platform too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from chaos.faults import NodeDrain
from chaos.platforms.kube import MARKER, KubePlatform, WrongCluster, mark_cluster
from chaos.timeline import Timeline
from tests.kube import kubeutil

pytestmark = pytest.mark.integration
NS, OTHER_NS, SET = "chaos-stack", "not-the-stack", "guarded"


@pytest.fixture(scope="module")
def stack(api):
    """Three pods of a StatefulSet in the stack's namespace, one pod in another namespace."""
    core = client.CoreV1Api(api)
    kubeutil.ensure_namespace(core, NS)
    kubeutil.ensure_namespace(core, OTHER_NS)
    kubeutil.statefulset(api, NS, SET, replicas=3)
    kubeutil.statefulset(api, OTHER_NS, "bystander", replicas=6)  # one on every node
    try:
        kubeutil.wait_ready(core, NS, SET, 3)
        kubeutil.wait_ready(core, OTHER_NS, "bystander", 6)
        yield core
    finally:
        kubeutil.delete_namespace(core, NS)
        kubeutil.delete_namespace(core, OTHER_NS)


def _platform(control_plane, state_dir, **kw) -> KubePlatform:
    kw.setdefault("allow_contexts", [control_plane.context])
    return KubePlatform(kubeconfig=control_plane.kubeconfig, context=control_plane.context, namespaces=[NS],
                        state_dir=state_dir, **kw)


def _kubeconfig_with_context(control_plane, path: Path, name: str) -> str:
    """The same cluster under another context name (how a kind cluster's context is named)."""
    cfg = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    ctx = next(c for c in cfg["contexts"] if c["name"] == control_plane.context)
    cfg["contexts"] = [{"name": name, "context": ctx["context"]}]
    cfg["current-context"] = name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


# --- the wrong-cluster guard ---------------------------------------------------------------------

def test_guard_refuses_an_unmarked_context_before_changing_anything(control_plane, tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOS_ALLOW_CONTEXTS", raising=False)
    platform = _platform(control_plane, tmp_path, allow_contexts=[])
    with pytest.raises(WrongCluster) as err:
        platform.up()
    message = str(err.value)
    assert repr(control_plane.context) in message and "not a kind cluster" in message
    assert f"--chaos-allow-context {control_plane.context}" in message
    assert f"CHAOS_ALLOW_CONTEXTS={control_plane.context}" in message
    assert not (tmp_path / "ledger").exists() or not any((tmp_path / "ledger").iterdir())


def test_guard_accepts_an_allow_listed_context_by_flag_or_environment(control_plane, tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOS_ALLOW_CONTEXTS", raising=False)
    with _platform(control_plane, tmp_path / "flag") as platform:
        assert platform.accepted["accepted_by"] == "allow-list"
        assert {n.zone for n in platform.nodes() if n.zone} == {"a", "b", "c"}
    monkeypatch.setenv("CHAOS_ALLOW_CONTEXTS", f"some-other,{control_plane.context}")
    with _platform(control_plane, tmp_path / "env", allow_contexts=[]) as platform:
        assert platform.accepted["accepted_by"] == "allow-list"


def test_guard_wants_the_harness_marker_on_a_kind_context(control_plane, api, tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOS_ALLOW_CONTEXTS", raising=False)
    kubeconfig = _kubeconfig_with_context(control_plane, tmp_path / "kubeconfig", "kind-chaos-guard")
    platform = KubePlatform(kubeconfig=kubeconfig, context="kind-chaos-guard", namespaces=[NS],
                            state_dir=tmp_path / "state")
    with pytest.raises(WrongCluster, match="without the harness's marker"):
        platform.up()
    mark_cluster(api, "chaos-guard")
    try:
        with KubePlatform(kubeconfig=kubeconfig, context="kind-chaos-guard", namespaces=[NS],
                          state_dir=tmp_path / "state") as platform:
            assert platform.accepted["accepted_by"] == "marker"
            assert platform.accepted["marker"]["cluster"] == "chaos-guard"
    finally:
        client.CoreV1Api(api).delete_namespaced_config_map(MARKER[1], MARKER[0])


def test_pods_outside_the_stack_namespaces_are_invisible_and_untouched(control_plane, stack, tmp_path):
    with _platform(control_plane, tmp_path) as platform:
        assert {p.namespace for p in platform.pods()} == {NS}
        with pytest.raises(Exception, match="no pod named"):
            platform.kill_pod("bystander-0")
        assert len(kubeutil.ready_pods(stack, OTHER_NS, "bystander")) == 6


# --- drain and PodDisruptionBudgets ---------------------------------------------------------------

def test_drain_blocked_by_a_budget_is_reported_then_succeeds_once_it_allows(control_plane, api, stack, tmp_path):
    kubeutil.pdb(api, NS, SET, max_unavailable=0)
    kubeutil.wait_pdb_observed(api, NS, SET, allowed=0)
    with _platform(control_plane, tmp_path, eviction_deadline_s=4) as platform:
        target_pod = platform.pod(f"{SET}-1")
        from chaos.components.base import Target

        target = Target(pod=target_pod.name, node=target_pod.node, zone=target_pod.zone, role="server")
        with NodeDrain(platform, target, Timeline()) as fault:
            assert not fault.proven
            assert fault.proof["blocked"] == [target.pod]
            entry = fault.proof["pods"][0]
            assert entry["refusals"] >= 2 and "disruption budget" in entry["blocked_by"]
            assert fault.proof["cordoned"]
            # A drain never touches other namespaces: the bystander on that node stays.
            assert any(p.startswith(f"{OTHER_NS}/") for p in fault.proof["outside_stack_untouched"])
            assert platform.pod(target.pod).uid == target_pod.uid  # still there
        assert platform.node_state(target.node)["schedulable"]  # uncordoned on heal

        kubeutil.pdb(api, NS, SET, max_unavailable=1)
        kubeutil.wait_pdb_observed(api, NS, SET, allowed=1)
        with NodeDrain(platform, target, Timeline()) as fault:
            assert fault.proven, fault.proof
            assert fault.proof["blocked"] == [] and fault.proof["pods"][0]["evicted"]
            assert not platform.node_state(target.node)["schedulable"]
        assert fault.heal_result["uncordoned"]
        assert platform.pending_fault_undos() == []
        moved = platform.wait_pod_restarted(target.pod, target_pod.uid, 60)
        assert moved is not None and platform.pod(target.pod).node != target.node  # rescheduled elsewhere
    client.PolicyV1Api(api).delete_namespaced_pod_disruption_budget(SET, NS)
    kubeutil.wait_ready(stack, NS, SET, 3)


# --- chaos heal after the harness died mid-drain ----------------------------------------------------

VICTIM = r"""
import sys
from pathlib import Path
from chaos.components.base import Target
from chaos.platforms.kube import KubePlatform
kubeconfig, context, state_dir = sys.argv[1:4]
platform = KubePlatform(kubeconfig=kubeconfig, context=context, allow_contexts=[context],
                        namespaces=["chaos-stack"], state_dir=Path(state_dir), eviction_deadline_s=600).up()
pod = platform.pod("guarded-2")
platform.cordon(pod.node)
print("DRAINING", pod.node, flush=True)
platform.stop_node_pods(pod.node)  # blocked by the budget: retries for ten minutes
"""


def test_chaos_heal_uncordons_after_a_harness_killed_mid_drain(control_plane, api, stack, tmp_path):
    kubeutil.pdb(api, NS, SET, max_unavailable=0)
    kubeutil.wait_pdb_observed(api, NS, SET, allowed=0)
    state_dir = tmp_path / "state"
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, control_plane.kubeconfig, control_plane.context,
                               str(state_dir)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        line = victim.stdout.readline()
        assert line.startswith("DRAINING"), line
        node = line.split()[1]
        assert stack.read_node(node).spec.unschedulable
        time.sleep(1.0)  # inside the eviction retry loop
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert stack.read_node(node).spec.unschedulable  # the dead harness left the cordon
    healed = subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state_dir),
                             "--instance", "k"], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert f"cordon {node}" in healed.stdout
    assert not stack.read_node(node).spec.unschedulable
    assert list((state_dir / "ledger").glob("*.jsonl")) == []
    client.PolicyV1Api(api).delete_namespaced_pod_disruption_budget(SET, NS)


# --- quorum loss: pods held down -------------------------------------------------------------------

def test_quorum_loss_holds_pods_down_until_healed(control_plane, api, stack, tmp_path):
    """Two of a six-pod StatefulSet held down: each replacement can only go to its own (cordoned)
    node, because required anti-affinity fills every other node, so it stays Pending until the
    heal uncordons the node. The fault's proof must say so; after the heal all six run again."""
    from chaos.components.base import Target
    from chaos.faults.quorum import QuorumLoss

    name = "held"
    kubeutil.statefulset(api, NS, name, replicas=6)
    try:
        kubeutil.wait_ready(stack, NS, name, 6)
        with _platform(control_plane, tmp_path) as platform:
            victim = platform.pod(f"{name}-2")
            target = Target(pod=victim.name, node=victim.node, zone=victim.zone, role="leader")
            fault = QuorumLoss(platform, target, Timeline())
            fault.victims = fault._choose_victims()
            assert fault.victims == [f"{name}-2", f"{name}-3", f"{name}-4", f"{name}-5"], fault.victims
            # Six pods: a majority is four. Hold them down and check the replacements stay Pending.
            proof, proven = fault._inject()
            try:
                assert proven, proof
                assert proof["still_running"] == [] and proof["pods"] == 6
                held_nodes = {entry["node"] for entry in proof["held_down"]}
                assert len(held_nodes) == 4
                assert all(not platform.node_state(n)["schedulable"] for n in held_nodes)
                time.sleep(2)
                assert all(not platform.pod_running(v) for v in fault.victims)
                assert len(kubeutil.ready_pods(stack, NS, name)) == 2
            finally:
                fault._heal()
            assert all(platform.node_state(n)["schedulable"] for n in held_nodes)
            kubeutil.wait_ready(stack, NS, name, 6)
            assert not platform.pending_fault_undos()
    finally:
        client.AppsV1Api(api).delete_namespaced_stateful_set(name, NS)
