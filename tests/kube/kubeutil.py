"""Small helpers for tests on the real control plane: a StatefulSet spread over the kwok nodes,
a PodDisruptionBudget, and bounded waits that fail with what the API said last."""

from __future__ import annotations

import time

from kubernetes import client

KWOK_TOLERATION = client.V1Toleration(key="kwok.x-k8s.io/node", operator="Exists", effect="NoSchedule")
COMPONENT_LABEL = "app.kubernetes.io/name"


def ensure_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def delete_namespace(core: client.CoreV1Api, name: str, timeout_s: float = 60.0) -> None:
    try:
        core.delete_namespace(name, grace_period_seconds=0)
    except client.ApiException as exc:
        if exc.status == 404:
            return
        raise
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            core.read_namespace(name)
        except client.ApiException as exc:
            if exc.status == 404:
                return
        time.sleep(0.5)
    raise AssertionError(f"namespace {name} not deleted within {timeout_s} s")


def statefulset(api: client.ApiClient, namespace: str, name: str, replicas: int = 3, port: int = 8080) -> None:
    """A StatefulSet whose pods need distinct nodes (required anti-affinity on the hostname)."""
    labels = {COMPONENT_LABEL: name}
    pod = client.V1PodSpec(
        containers=[client.V1Container(name="server", image="chaos.invalid/server:1",
                                       ports=[client.V1ContainerPort(container_port=port)])],
        tolerations=[KWOK_TOLERATION], termination_grace_period_seconds=5,
        affinity=client.V1Affinity(pod_anti_affinity=client.V1PodAntiAffinity(
            required_during_scheduling_ignored_during_execution=[client.V1PodAffinityTerm(
                label_selector=client.V1LabelSelector(match_labels=labels),
                topology_key="kubernetes.io/hostname")])))
    body = client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=replicas, service_name=name, pod_management_policy="Parallel",
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=pod)))
    client.AppsV1Api(api).create_namespaced_stateful_set(namespace, body)


def pdb(api: client.ApiClient, namespace: str, name: str, max_unavailable: int) -> None:
    body = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        spec=client.V1PodDisruptionBudgetSpec(max_unavailable=max_unavailable,
                                              selector=client.V1LabelSelector(match_labels={COMPONENT_LABEL: name})))
    policy = client.PolicyV1Api(api)
    try:
        policy.create_namespaced_pod_disruption_budget(namespace, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        policy.patch_namespaced_pod_disruption_budget(name, namespace, {"spec": {"maxUnavailable": max_unavailable}})


def wait_pdb_observed(api: client.ApiClient, namespace: str, name: str, allowed: int, timeout_s: float = 60) -> None:
    """The disruption controller has computed the budget (evictions are judged on its status)."""
    policy = client.PolicyV1Api(api)
    last = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        budget = policy.read_namespaced_pod_disruption_budget(name, namespace)
        last = budget.status
        if last and (last.observed_generation or 0) >= budget.metadata.generation \
                and last.disruptions_allowed == allowed:
            return
        time.sleep(0.2)
    raise AssertionError(f"PodDisruptionBudget {name} not at {allowed} allowed disruptions: {last}")


def ready_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(namespace, label_selector=f"{COMPONENT_LABEL}={name}").items
    return [p for p in pods if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]


def wait_ready(core: client.CoreV1Api, namespace: str, name: str, replicas: int, timeout_s: float = 90) -> list:
    deadline = time.monotonic() + timeout_s
    pods = []
    while time.monotonic() < deadline:
        pods = ready_pods(core, namespace, name)
        if len(pods) == replicas:
            return pods
        time.sleep(0.2)
    every = core.list_namespaced_pod(namespace).items
    state = [(p.metadata.name, p.spec.node_name, p.status.phase) for p in every]
    events = [(e.involved_object.name, e.reason, e.message) for e in core.list_namespaced_event(namespace).items][-10:]
    raise AssertionError(f"{len(pods)} of {replicas} {name} pods Ready after {timeout_s} s: {state}; events {events}")
