"""Helpers for testing the kind stack's manifests (fixtures/kind) on the real control plane: the
stack description, objects by component, dry-run creation of any kind, and a stand-in for kind's
local-path volume provisioner."""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from chaos.audit import Origin, load_manifests

__all__ = ["STACK_FILE", "stack", "component_dir", "objects_of", "create", "rejection", "placeable", "wait_for",
           "LocalPathStandIn", "CLUSTER_SCOPED"]

STACK_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "kind" / "stack.yaml"
WORKLOADS = ("StatefulSet", "Deployment")
CLUSTER_SCOPED = {"Namespace", "StorageClass", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                  "PriorityClass", "CustomResourceDefinition", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration"}
KWOK_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
SELECTED_NODE = "volume.kubernetes.io/selected-node"  # set on a PVC by the scheduler (WaitForFirstConsumer)
PROVISIONER = "rancher.io/local-path"                   # kind's default StorageClass "standard"


def stack() -> dict[str, Any]:
    return yaml.safe_load(STACK_FILE.read_text())


def component_dir(component: str) -> Path:
    return STACK_FILE.parent / stack()["components"][component]["dir"]


def objects_of(component: str) -> list[tuple[dict[str, Any], Origin]]:
    """The component's manifests, each object with its file:line (chaos.audit's loader)."""
    return load_manifests([component_dir(component)])


def create(dyn: DynamicClient, obj: dict[str, Any], namespace: str | None, dry_run: bool) -> None:
    """POST one object of any kind (server-side dry run: dryRun=All, nothing is stored)."""
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    kw: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
    if resource.namespaced:
        kw["namespace"] = namespace
    resource.create(body=obj, **kw)


def rejection(exc: Exception) -> str:
    """The API's own words for a refused object."""
    body = getattr(exc, "body", None)
    if body:
        try:
            import json

            doc = json.loads(body)
            return f"{doc.get('reason', '')}: {doc.get('message', body)}"
        except (ValueError, TypeError):
            return str(body)[:1000]
    return f"{type(exc).__name__}: {exc}"


def placeable(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A workload as the placement test applies it: in `namespace`, tolerating the kwok nodes'
    taint (kwok.x-k8s.io/node:NoSchedule, which kind's nodes do not have); nothing else changed."""
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    pod = obj["spec"]["template"].setdefault("spec", {})
    pod["tolerations"] = list(pod.get("tolerations") or []) + [KWOK_TOLERATION]
    return obj


class LocalPathStandIn:
    """A stand-in for kind's local-path-provisioner (which cannot run here: no kubelet, no
    container): it watches the namespace's PVCs of StorageClass `standard`, and for each one the
    scheduler has placed (annotation volume.kubernetes.io/selected-node) creates a hostPath PV
    pinned to that node (nodeAffinity) and pre-bound to the claim (claimRef), which is what
    local-path does. The PV controller then binds them, and the scheduler binds the pod.

    Polls every 0.2 s on a thread until stop(); PVs carry the label chaos-test=<namespace> so the
    test deletes them afterwards (reclaim policy Retain: no volume plugin would delete them)."""

    def __init__(self, api: client.ApiClient, namespace: str, storage_class: str = "standard"):
        self.core = client.CoreV1Api(api)
        self.namespace, self.storage_class = namespace, storage_class
        self.created: dict[str, str] = {}  # PVC name -> node
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-path-stand-in", daemon=True)

    def start(self) -> "LocalPathStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.provision_once()
            except Exception as exc:  # noqa: BLE001 - recorded, shown by the test's failure message
                self.errors.append(rejection(exc))
            self._stop.wait(0.2)

    def provision_once(self) -> None:
        for pvc in self.core.list_namespaced_persistent_volume_claim(self.namespace).items:
            node = (pvc.metadata.annotations or {}).get(SELECTED_NODE)
            if (not node or pvc.spec.volume_name or pvc.spec.storage_class_name != self.storage_class
                    or pvc.metadata.name in self.created):
                continue
            name = f"pvc-{pvc.metadata.uid}"
            body = client.V1PersistentVolume(
                metadata=client.V1ObjectMeta(name=name, labels={"chaos-test": self.namespace},
                                             annotations={"pv.kubernetes.io/provisioned-by": PROVISIONER}),
                spec=client.V1PersistentVolumeSpec(
                    capacity={"storage": pvc.spec.resources.requests["storage"]},
                    access_modes=pvc.spec.access_modes, storage_class_name=self.storage_class,
                    persistent_volume_reclaim_policy="Retain", volume_mode=pvc.spec.volume_mode,
                    host_path=client.V1HostPathVolumeSource(path=f"/var/local-path-provisioner/{name}",
                                                            type="DirectoryOrCreate"),
                    node_affinity=client.V1VolumeNodeAffinity(required=client.V1NodeSelector(
                        node_selector_terms=[client.V1NodeSelectorTerm(match_expressions=[
                            client.V1NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In",
                                                             values=[node])])])),
                    claim_ref=client.V1ObjectReference(kind="PersistentVolumeClaim", api_version="v1",
                                                       namespace=self.namespace, name=pvc.metadata.name,
                                                       uid=pvc.metadata.uid)))
            try:
                self.core.create_persistent_volume(body)
            except client.ApiException as exc:
                if exc.status != 409:
                    raise
            self.created[pvc.metadata.name] = node


def wait_for(check, timeout_s: float, interval_s: float = 0.3):
    """check() until it returns something truthy, at most timeout_s; returns the last value."""
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = check()
    return value
