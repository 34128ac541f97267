"""Proof that the control-plane tier works end to end: the real scheduler spreads a StatefulSet
over kwok nodes by required anti-affinity, kwok makes the pods Ready, and the real StatefulSet
controller replaces a pod deleted with grace 0 (new UID, Ready again)."""

from __future__ import annotations

import time

import pytest

kubernetes = pytest.importorskip("kubernetes", reason="python package kubernetes (pip install kubernetes==37.0.2)")
from kubernetes import client, config  # noqa: E402

NAMESPACE = "chaos-smoke"
APP = "smoke"
REPLICAS = 3


def wait_for(what, check, timeout, interval=0.5):
    """check() returns a truthy result when done; the last result is in the failure message."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last and last[0]:
            return last[1]
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last seen: {last[1] if last else None}")


def ready(pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def statefulset() -> client.V1StatefulSet:
    labels = {"app.kubernetes.io/name": APP}
    container = client.V1Container(name="app", image="chaos/never-pulled:1",  # kwok runs nothing
                                   resources=client.V1ResourceRequirements(requests={"cpu": "100m",
                                                                                     "memory": "64Mi"}))
    affinity = client.V1Affinity(pod_anti_affinity=client.V1PodAntiAffinity(
        required_during_scheduling_ignored_during_execution=[client.V1PodAffinityTerm(
            label_selector=client.V1LabelSelector(match_labels=labels),
            topology_key="kubernetes.io/hostname")]))
    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name=APP, labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=REPLICAS, service_name=APP, pod_management_policy="Parallel",
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], affinity=affinity,
                                      node_selector={"type": "kwok"},
                                      termination_grace_period_seconds=5))))


@pytest.fixture
def api(control_plane):
    api_client = config.new_client_from_config(config_file=control_plane.kubeconfig, context=control_plane.context)
    yield api_client
    api_client.close()


def test_control_plane_runs_a_statefulset_on_kwok_nodes(control_plane, api):
    core, apps, version = client.CoreV1Api(api), client.AppsV1Api(api), client.VersionApi(api)

    assert version.get_code().git_version == control_plane.version
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert sorted(nodes) == sorted(control_plane.node_names)
    assert {n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes.values()} == {"a", "b", "c"}

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    try:
        core.create_namespaced_service(NAMESPACE, client.V1Service(
            metadata=client.V1ObjectMeta(name=APP),
            spec=client.V1ServiceSpec(cluster_ip="None", selector={"app.kubernetes.io/name": APP},
                                      ports=[client.V1ServicePort(port=80)])))
        apps.create_namespaced_stateful_set(NAMESPACE, statefulset())

        def all_ready():
            pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"app.kubernetes.io/name={APP}").items
            summary = {p.metadata.name: (p.spec.node_name, p.status.phase, ready(p)) for p in pods}
            return len(pods) == REPLICAS and all(ready(p) for p in pods), (pods, summary)

        pods = wait_for("3 pods Ready on kwok nodes", all_ready, timeout=90)[0]
        placed = [p.spec.node_name for p in pods]
        assert len(set(placed)) == REPLICAS, f"anti-affinity broken: {placed}"
        assert set(placed) <= set(control_plane.node_names)

        victim = sorted(pods, key=lambda p: p.metadata.name)[0]
        old_uid = victim.metadata.uid
        core.delete_namespaced_pod(victim.metadata.name, NAMESPACE, grace_period_seconds=0)

        def replaced():
            try:
                pod = core.read_namespaced_pod(victim.metadata.name, NAMESPACE)
            except client.ApiException as exc:
                if exc.status == 404:
                    return False, "gone, not yet recreated"
                raise
            return pod.metadata.uid != old_uid and ready(pod), (pod.metadata.uid, pod.spec.node_name,
                                                                pod.status.phase)

        uid, node, _ = wait_for(f"{victim.metadata.name} recreated and Ready", replaced, timeout=60)
        assert uid != old_uid
        others = {p.spec.node_name for p in pods if p.metadata.name != victim.metadata.name}
        assert node not in others, f"replacement {node} shares a node with {others}"

        wait_for("StatefulSet status 3/3 ready",
                 lambda: ((s := apps.read_namespaced_stateful_set(APP, NAMESPACE)).status.ready_replicas == REPLICAS,
                          s.status), timeout=30)
    finally:
        core.delete_namespace(NAMESPACE, grace_period_seconds=0)


def node_state(core, node):
    n = core.read_node(node)
    ready_status = next(c.status for c in n.status.conditions if c.type == "Ready")
    return ready_status, sorted({t.key for t in (n.spec.taints or [])})


def test_crashed_node_goes_unknown_and_comes_back(control_plane, api):
    """crash_node kills the node's kwok (its kubelet): the real node-lifecycle controller marks the node
    Unknown, taints it unreachable and its pod NotReady; restore_node brings both back."""
    core = client.CoreV1Api(api)
    ns = NAMESPACE + "-crash"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    node = control_plane.node_names[-1]
    try:
        core.create_namespaced_pod(ns, client.V1Pod(
            metadata=client.V1ObjectMeta(name="victim"),
            spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="app", image="none")])))
        wait_for("pod Ready", lambda: (ready(p := core.read_namespaced_pod("victim", ns)), p.status), timeout=60)

        control_plane.crash_node(node)
        try:
            # node_monitor_grace_period (20 s) + the monitor period (5 s), with room for a loaded machine
            wait_for(f"{node} Unknown and tainted unreachable, its pod NotReady",
                     lambda: ((st := node_state(core, node))[0] == "Unknown"
                              and "node.kubernetes.io/unreachable" in st[1]
                              and not ready(core.read_namespaced_pod("victim", ns)), st), timeout=90)
        finally:
            control_plane.restore_node(node)
        wait_for(f"{node} Ready without taints", lambda: ((st := node_state(core, node)) == ("True", []), st),
                 timeout=60)
        wait_for("pod Ready again", lambda: (ready(p := core.read_namespaced_pod("victim", ns)), p.status),
                 timeout=60)
    finally:
        core.delete_namespace(ns, grace_period_seconds=0)
