"""The kind tier on a real cluster: seven real kubelets in node containers (fixtures/kind-node),
and the kube platform's node faults on them. What the stand-in containers of tests/docker
cannot show is shown here: nodes that go NotReady and come back Ready, pods that lose their
peers in other zones, the host's clients losing a zone's pods through the host routes, and DNS.

The pods run the node image's Debian tools image (socat answering with the pod's name), in the
stack's namespace so that the platform's pod lookups find them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from chaos.components.base import Target
from chaos.faults import NodeCrash, ZonePartition
from chaos.ledger import owner_alive, pending_undos
from chaos.platforms.kind_nodes import rule_comment, rules_with_comment
from chaos.timeline import Timeline
from chaos.waits import poll_until
from tests.kind.conftest import first_line

pytestmark = [pytest.mark.integration, pytest.mark.kind]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "chaos-stack"
SET = "net"
PORT = 7000
TOOLS_IMAGE = "registry.k8s.io/chaos-harness/node-tools:v1"
ZONE_LABEL = "topology.kubernetes.io/zone"


def tools_statefulset(api, name: str, replicas: int, port: int) -> None:
    """Pods on distinct nodes, each answering TCP on `port` with its own name; a headless
    Service gives them DNS names; a budget allows one disruption."""
    labels = {"app.kubernetes.io/name": name}
    container = client.V1Container(
        name="server", image=TOOLS_IMAGE, image_pull_policy="Never",
        command=["socat", f"TCP-LISTEN:{port},fork,reuseaddr", "SYSTEM:cat /etc/hostname"],
        ports=[client.V1ContainerPort(container_port=port)],
        readiness_probe=client.V1Probe(tcp_socket=client.V1TCPSocketAction(port=port), period_seconds=1))
    pod = client.V1PodSpec(containers=[container], termination_grace_period_seconds=3,
                           affinity=client.V1Affinity(pod_anti_affinity=client.V1PodAntiAffinity(
                               required_during_scheduling_ignored_during_execution=[client.V1PodAffinityTerm(
                                   label_selector=client.V1LabelSelector(match_labels=labels),
                                   topology_key="kubernetes.io/hostname")])))
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    core.create_namespaced_service(NAMESPACE, client.V1Service(
        metadata=client.V1ObjectMeta(name=name), spec=client.V1ServiceSpec(
            cluster_ip="None", selector=labels, ports=[client.V1ServicePort(port=port)])))
    apps.create_namespaced_stateful_set(NAMESPACE, client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=replicas, service_name=name, pod_management_policy="Parallel",
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=pod))))
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(NAMESPACE, client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodDisruptionBudgetSpec(max_unavailable=1, selector=client.V1LabelSelector(match_labels=labels))))


def ready_pods(core, name: str) -> list:
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/name={name}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]


def wait_ready(core, name: str, replicas: int, timeout_s: float = 180) -> list:
    pods: list = []

    def enough() -> bool:
        pods[:] = ready_pods(core, name)
        return len(pods) == replicas

    if not poll_until(enough, timeout_s, poll_s=1.0):
        every = [(p.metadata.name, p.spec.node_name, p.status.phase)
                 for p in core.list_namespaced_pod(NAMESPACE).items]
        events = [(e.involved_object.name, e.reason, e.message)
                  for e in core.list_namespaced_event(NAMESPACE).items][-10:]
        raise AssertionError(f"{len(pods)} of {replicas} {name} pods Ready after {timeout_s} s: {every}; {events}")
    return pods


def ask(ip: str, port: int = PORT, timeout_s: float = 2.0) -> str | None:
    """The pod's answer over TCP from this host (through the host routes), or None."""
    try:
        with socket.create_connection((ip, port), timeout=timeout_s) as s:
            s.settimeout(timeout_s)
            return s.recv(256).decode().strip()
    except OSError:
        return None


def ask_from_pod(platform, pod: str, ip: str, port: int = PORT) -> str:
    """The answer of ip:port asked from inside a pod ('' when nothing answered)."""
    return platform.exec_in_pod(pod, ["sh", "-c", f"socat -T2 - TCP:{ip}:{port},connect-timeout=2 </dev/null "
                                      "|| true"], timeout_s=20).strip()


def node_ready(core, node: str) -> str:
    obj = core.read_node(node)
    return next((c.status for c in obj.status.conditions or [] if c.type == "Ready"), "missing")


@pytest.fixture(scope="module")
def net(kind_platform):
    """Six pods, one per worker, two per zone."""
    core = client.CoreV1Api(kind_platform.api)
    tools_statefulset(kind_platform.api, SET, 6, PORT)
    try:
        wait_ready(core, SET, 6)
        yield core
    finally:
        client.AppsV1Api(kind_platform.api).delete_namespaced_stateful_set(SET, NAMESPACE)
        core.delete_namespaced_service(SET, NAMESPACE)
        client.PolicyV1Api(kind_platform.api).delete_namespaced_pod_disruption_budget(SET, NAMESPACE)
        poll_until(lambda: not core.list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/name={SET}")
                   .items, 60, poll_s=1.0)


def by_zone(core) -> dict[str, list]:
    zones = {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL) for n in core.list_node().items}
    out: dict[str, list] = {}
    for p in ready_pods(core, SET):
        out.setdefault(zones[p.spec.node_name], []).append(p)
    return out


def target_of(pod, zone: str) -> Target:
    return Target(pod=pod.metadata.name, node=pod.spec.node_name, zone=zone, role="server")


def test_seven_nodes_ready_with_zones_from_the_offline_image(kind_tier, kind_platform):
    core = client.CoreV1Api(kind_platform.api)
    nodes = core.list_node().items
    assert len(nodes) == 7
    assert all(node_ready(core, n.metadata.name) == "True" for n in nodes)
    zones = sorted((n.metadata.labels or {}).get(ZONE_LABEL, "-") for n in nodes)
    assert zones == ["-", "a", "a", "b", "b", "c", "c"]
    assert {n.status.node_info.kubelet_version for n in nodes} == {"v1.36.3"}
    assert all(n.spec.pod_cidr for n in nodes)
    images = subprocess.run([*kind_tier.docker, "ps", "--format", "{{.Image}}"], capture_output=True,
                            text=True, timeout=30).stdout.split()
    assert images and set(images) == {"chaos-kind-node:v1.36.3"}
    running = [p.metadata.name for p in core.list_namespaced_pod("kube-system").items if p.status.phase == "Running"]
    for prefix, count in (("coredns-", 2), ("kube-proxy-", 7), ("chaos-cni-", 7), ("kube-apiserver-", 1), ("etcd-", 1)):
        assert sum(n.startswith(prefix) for n in running) == count, (prefix, running)


def test_pods_reach_each_other_across_nodes_and_the_host_reaches_them(kind_platform, net):
    pods = ready_pods(net, SET)
    assert len({p.spec.node_name for p in pods}) == 6
    for p in pods:
        assert ask(p.status.pod_ip) == p.metadata.name, f"host -> {p.metadata.name} at {p.status.pod_ip}"
    src = pods[0]
    for p in pods[1:]:
        assert ask_from_pod(kind_platform, src.metadata.name, p.status.pod_ip) == p.metadata.name, \
            f"{src.metadata.name} ({src.spec.node_name}) -> {p.metadata.name} ({p.spec.node_name})"


def test_cluster_dns_resolves_services_and_pods(kind_platform, net):
    pods = sorted(ready_pods(net, SET), key=lambda p: p.metadata.name)
    out = kind_platform.exec_in_pod(pods[0].metadata.name, ["getent", "hosts",
                                                            "kubernetes.default.svc.cluster.local"])
    assert out.split()[0] == "10.96.0.1", out
    peer = pods[1]
    out = kind_platform.exec_in_pod(pods[0].metadata.name,
                                    ["getent", "hosts", f"{peer.metadata.name}.{SET}.{NAMESPACE}.svc.cluster.local"])
    assert out.split()[0] == peer.status.pod_ip, out


def test_zone_partition_cuts_other_zones_and_the_clients_and_heals(kind_platform, net):
    zones = by_zone(net)
    victim, inside_peer = zones["b"]
    a_pod, c_pod = zones["a"][0], zones["c"][0]
    with ZonePartition(kind_platform, target_of(victim, "b"), Timeline(), cut_clients=True) as fault:
        assert fault.proven, fault.proof
        assert fault.proof["rules_present"] == fault.proof["rules_added"] > 0
        assert ask(victim.status.pod_ip, timeout_s=1.0) is None  # the host's clients lose zone b
        assert ask(a_pod.status.pod_ip) == a_pod.metadata.name  # ... and keep zone a
        assert ask_from_pod(kind_platform, a_pod.metadata.name, victim.status.pod_ip) == ""
        assert ask_from_pod(kind_platform, a_pod.metadata.name, c_pod.status.pod_ip) == c_pod.metadata.name
        # inside the zone the nodes still reach each other (asked from the node container: the API
        # server cannot reach zone b's kubelets for an exec)
        assert kind_platform.reachable(inside_peer.spec.node_name, victim.status.pod_ip, PORT)
    assert fault.heal_result["rules_left"] == 0, fault.heal_result
    assert ask(victim.status.pod_ip) == victim.metadata.name
    assert ask_from_pod(kind_platform, a_pod.metadata.name, victim.status.pod_ip) == victim.metadata.name
    assert kind_platform.pending_fault_undos() == []


def test_node_crash_goes_not_ready_and_comes_back_ready(kind_platform, net):
    victim = by_zone(net)["c"][0]
    node = victim.spec.node_name
    with NodeCrash(kind_platform, target_of(victim, "c"), Timeline()) as fault:
        assert fault.proven, fault.proof
        assert fault.proof["running"] is False and fault.proof["reachable_from_clients"] is False
        t0 = time.monotonic()
        assert poll_until(lambda: node_ready(net, node) != "True", 120, poll_s=1.0), \
            f"{node} still Ready 120 s after its container was killed"
        not_ready_after_s = time.monotonic() - t0
    assert node_ready(net, node) == "True"
    wait_ready(net, SET, 6, timeout_s=240)
    new = next(p for p in ready_pods(net, SET) if p.spec.node_name == node)
    assert poll_until(lambda: ask(new.status.pod_ip) == new.metadata.name, 60, poll_s=1.0)
    assert kind_platform.pending_fault_undos() == []
    print(f"\n{node}: NotReady {not_ready_after_s:.0f} s after the crash")


VICTIM = r"""
import sys, time
from pathlib import Path
from chaos.platforms.kind import KindCluster, KindPlatform

state, name, cluster_state, zone, crash, kind = sys.argv[1:7]
docker = sys.argv[7:]
cluster = KindCluster(name, kind=[kind], docker=docker, state_dir=Path(cluster_state))
platform = KindPlatform(cluster=cluster, docker=docker, state_dir=Path(state), routes=False).up()
proof = platform.partition(zone)
crashed = platform.crash_node(crash)
print("INJECTED", platform.run_id, proof["rules_added"], proof["rules_present"], crashed["running"], flush=True)
time.sleep(600)
"""


def test_chaos_heal_undoes_a_sigkilled_runs_partition_and_crash(kind_tier, kind_platform, net, tmp_path):
    state = tmp_path / "state"
    crash = by_zone(net)["a"][1].spec.node_name
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, str(state), kind_tier.cluster.name,
                               str(kind_tier.cluster.state_dir), "c", crash, str(kind_tier.kind_binary),
                               *kind_tier.docker], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = first_line(victim, "INJECTED", 120)
        _, run_id, added, present, was_running = line.split()
        assert int(added) == int(present) > 0 and was_running == "False", line
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)

        [path] = (state / "ledger").glob("*.jsonl")
        assert not owner_alive(path)
        assert sorted(u.action for u in pending_undos(path)) == ["kind-remove-rules", "kind-start-node"]
        zone_c = [n.metadata.name for n in net.list_node().items if (n.metadata.labels or {}).get(ZONE_LABEL) == "c"]
        assert all(rules_with_comment(kind_tier.docker, n, run_id) for n in zone_c)

        heal = subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=300)
        assert heal.returncode == 0, heal.stdout + heal.stderr
        assert "healed 2 item(s)" in heal.stdout, heal.stdout
        nodes = [n.metadata.name for n in net.list_node().items]
        assert all(not rules_with_comment(kind_tier.docker, n, run_id) for n in nodes), rule_comment(run_id)
        assert poll_until(lambda: node_ready(net, crash) == "True", 180, poll_s=1.0), f"{crash} not Ready again"
        wait_ready(net, SET, 6, timeout_s=240)
        again = subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state)], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "nothing left to heal" in again.stdout, again.stdout + again.stderr
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        subprocess.run([*kind_tier.docker, "start", crash], capture_output=True, timeout=60)
