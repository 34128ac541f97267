"""The kind stack's manifests (fixtures/kind/<dir>/ for every component of fixtures/kind/stack.yaml)
on a real control plane (kube-apiserver v1.36, scheduler, controller-manager; six kwok nodes in
zones a/b/c). A component whose directory does not exist yet is skipped, naming it.

- the API server accepts every object (server-side dry run, dryRun=All, in namespace chaos-stack);
- `chaos audit` finds no HA violation, and the files follow the stack's conventions;
- placement: the workloads applied for real, the real scheduler puts no two replicas of one
  workload on one node and spreads each workload over the zones (counts differ by at most 1), and
  every volume sits on its pod's node.

Stand-ins, because nothing here runs containers: the pods are kwok's (never started; any image
works); kwok's nodes carry the taint kwok.x-k8s.io/node:NoSchedule, so this test adds a toleration
for it to each pod template (kind's nodes have no such taint; nothing else is changed); and kind's
local-path-provisioner is played by stackutil.LocalPathStandIn (a StorageClass "standard" with
volumeBindingMode WaitForFirstConsumer, and hostPath PVs pinned to the node the scheduler chose).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from chaos.audit import audit_objects, format_text
from chaos.errors import InvalidConfig
from tests.kube import kubeutil, stackutil

pytestmark = pytest.mark.integration

STACK = stackutil.stack()
NAMESPACE = STACK["namespace"]
COMPONENTS = list(STACK["components"])
PLACEMENT_NS = "stack-placement"
ZONE, HOSTNAME = "topology.kubernetes.io/zone", "kubernetes.io/hostname"
PLACEMENT_TIMEOUT_S = 60.0


def _objects(component: str) -> list[tuple[dict, str]]:
    path = stackutil.component_dir(component)
    if not path.is_dir():
        pytest.skip(f"{path.relative_to(stackutil.STACK_FILE.parents[2])} does not exist yet "
                    f"(the {component} manifests are written separately)")
    if not any(p.suffix in (".yaml", ".yml") for p in path.rglob("*")):
        pytest.skip(f"{path.relative_to(stackutil.STACK_FILE.parents[2])} holds no manifest yet")
    return stackutil.objects_of(component)


def _name(obj: dict, src: str) -> str:
    return f"{obj['kind']} {obj.get('metadata', {}).get('name')} ({src})"


@pytest.fixture(scope="module")
def stack_namespace(api):
    core = client.CoreV1Api(api)
    existed = True
    try:
        core.read_namespace(NAMESPACE)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
        existed = False
        kubeutil.ensure_namespace(core, NAMESPACE)
    yield NAMESPACE
    if not existed:
        kubeutil.delete_namespace(core, NAMESPACE)


# --- a) the API server accepts every object ---------------------------------------------------------

@pytest.mark.parametrize("component", COMPONENTS)
def test_api_server_accepts_every_object(api, stack_namespace, component):
    objects = _objects(component)
    dyn = DynamicClient(api)
    rejected = []
    for obj, src in objects:
        try:
            stackutil.create(dyn, obj, stack_namespace, dry_run=True)
        except Exception as exc:  # noqa: BLE001 - every refusal is collected with the API's message
            rejected.append(f"{_name(obj, src)}: {stackutil.rejection(exc)}")
    assert not rejected, (f"the API server (server-side dry run) refused {len(rejected)} of {len(objects)} "
                          f"{component} object(s):\n  " + "\n  ".join(rejected))


# --- b) the HA audit, and the stack's conventions ------------------------------------------------

@pytest.mark.parametrize("component", COMPONENTS)
def test_audit_finds_no_violation(component):
    objects = _objects(component)
    violations, checked = audit_objects(objects)
    assert checked >= 1, f"no StatefulSet or Deployment among the {component} manifests"
    assert not violations, format_text(violations, checked)


@pytest.mark.parametrize("component", COMPONENTS)
def test_manifests_follow_the_stack_conventions(component):
    """fixtures/kind conventions: namespace, images from stack.yaml, pod labels, headless Services,
    declared ports, volumes of StorageClass standard."""
    objects = _objects(component)
    images = set(STACK["images"].values())
    pods = set(STACK["components"][component]["pods"])
    problems = []
    services = {o["metadata"]["name"]: o for o, _ in objects if o["kind"] == "Service"}
    labels_seen = set()
    for obj, src in objects:
        where = _name(obj, src)
        if obj["kind"] == "Namespace":
            problems.append(f"{where}: the deployer creates the namespace, the files must not")
        elif obj["kind"] not in stackutil.CLUSTER_SCOPED and obj["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{where}: metadata.namespace is {obj['metadata'].get('namespace')!r}, not {NAMESPACE!r}")
        if obj["kind"] not in ("StatefulSet", "Deployment", "Job"):
            continue
        template = obj["spec"]["template"]
        pod = template.get("spec") or {}
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            if c.get("image") not in images:
                problems.append(f"{where}: container {c.get('name')} image {c.get('image')!r} is not one of "
                                f"stack.yaml's images")
            if c.get("imagePullPolicy") != "IfNotPresent":
                problems.append(f"{where}: container {c.get('name')} imagePullPolicy is "
                                f"{c.get('imagePullPolicy')!r}, not IfNotPresent")
        if obj["kind"] == "Job":
            continue
        labels = (template.get("metadata") or {}).get("labels") or {}
        labels_seen.add(labels.get("app.kubernetes.io/name"))
        if labels.get("app.kubernetes.io/name") not in pods:
            problems.append(f"{where}: pod label app.kubernetes.io/name={labels.get('app.kubernetes.io/name')!r} "
                            f"is not one of stack.yaml's pods {sorted(pods)}")
        if labels.get("app.kubernetes.io/part-of") != "chaos-stack":
            problems.append(f"{where}: pod label app.kubernetes.io/part-of is not chaos-stack")
        for c in pod.get("containers") or []:
            if not c.get("ports"):
                problems.append(f"{where}: container {c.get('name')} declares no port (the first is the client port)")
        if obj["kind"] == "StatefulSet":
            svc = services.get(obj["spec"].get("serviceName"))
            if svc is None:
                problems.append(f"{where}: no Service named as its serviceName {obj['spec'].get('serviceName')!r}")
            elif svc["spec"].get("clusterIP") != "None" or not svc["spec"].get("publishNotReadyAddresses"):
                problems.append(f"{where}: Service {svc['metadata']['name']} is not headless with "
                                "publishNotReadyAddresses: true")
            for claim in obj["spec"].get("volumeClaimTemplates") or []:
                spec = claim.get("spec") or {}
                if spec.get("storageClassName") != "standard" or spec.get("accessModes") != ["ReadWriteOnce"]:
                    problems.append(f"{where}: volumeClaimTemplate {claim['metadata']['name']} wants "
                                    "storageClassName standard and accessModes [ReadWriteOnce]")
    missing = pods - labels_seen
    if missing:
        problems.append(f"no workload runs the pods {sorted(missing)} that stack.yaml names")
    assert not problems, f"{component}: {len(problems)} convention problem(s):\n  " + "\n  ".join(problems)


# --- c) placement by the real scheduler ---------------------------------------------------------

def _pods_of(core: client.CoreV1Api, workload: dict) -> list[client.V1Pod]:
    selector = ",".join(f"{k}={v}" for k, v in workload["spec"]["selector"]["matchLabels"].items())
    return [p for p in core.list_namespaced_pod(PLACEMENT_NS, label_selector=selector).items
            if p.metadata.deletion_timestamp is None]


def _ready(pod: client.V1Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _diagnosis(core: client.CoreV1Api, provisioner: stackutil.LocalPathStandIn, names: list[str]) -> str:
    """Pods, PVCs and warning events of the named workloads (pods and claims start with the name)."""
    def ours(name: str) -> bool:
        return any(name.startswith(n) or name.startswith(f"data-{n}") or f"-{n}-" in name for n in names)

    lines = []
    for p in core.list_namespaced_pod(PLACEMENT_NS).items:
        if not ours(p.metadata.name):
            continue
        sched = next((c for c in p.status.conditions or [] if c.type == "PodScheduled"), None)
        why = f" {sched.reason}: {sched.message}" if sched is not None and sched.status != "True" else ""
        lines.append(f"pod {p.metadata.name} node={p.spec.node_name} phase={p.status.phase}{why}")
    for c in core.list_namespaced_persistent_volume_claim(PLACEMENT_NS).items:
        if not ours(c.metadata.name):
            continue
        lines.append(f"pvc {c.metadata.name} {c.status.phase} class={c.spec.storage_class_name} "
                     f"node={(c.metadata.annotations or {}).get(stackutil.SELECTED_NODE)}")
    events = sorted(core.list_namespaced_event(PLACEMENT_NS).items,
                    key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
    lines += [f"event {e.involved_object.kind}/{e.involved_object.name} {e.reason}: {e.message}"
              for e in events if ours(e.involved_object.name)
              and (e.type == "Warning" or e.reason in ("FailedScheduling", "ProvisioningFailed"))][-15:]
    lines += [f"provisioner error: {e}" for e in provisioner.errors[-5:]]
    return "\n  ".join(lines)


@pytest.fixture(scope="module")
def placed(api, control_plane):
    """Every existing component's namespaced objects (ServiceAccounts, ConfigMaps, Services, PDBs,
    workloads; not Jobs), applied at once into PLACEMENT_NS on the kwok nodes, so that the
    components share the nodes as they would on kind: {"workloads": {component: [workload]},
    "refused": {component: [message]}, "provisioner": ...}. Each test waits for its own pods."""
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    dyn = DynamicClient(api)
    created_class = False
    try:
        storage.create_storage_class(client.V1StorageClass(
            metadata=client.V1ObjectMeta(name="standard"), provisioner=stackutil.PROVISIONER,
            volume_binding_mode="WaitForFirstConsumer", reclaim_policy="Delete"))
        created_class = True
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        assert storage.read_storage_class("standard").volume_binding_mode == "WaitForFirstConsumer"
    kubeutil.ensure_namespace(core, PLACEMENT_NS)
    provisioner = stackutil.LocalPathStandIn(api, PLACEMENT_NS).start()
    try:
        workloads: dict[str, list[dict]] = {}
        refused: dict[str, list[str]] = {}
        for component in COMPONENTS:
            if not stackutil.component_dir(component).is_dir():
                continue
            try:
                objects = stackutil.objects_of(component)
            except InvalidConfig as exc:  # one component's broken file must not hide the others' placement
                refused[component] = [str(exc)]
                continue
            # Workloads last: what their pods need (ServiceAccount, ConfigMaps) exists first.
            for obj, src in sorted(objects, key=lambda o: o[0]["kind"] in stackutil.WORKLOADS):
                if obj["kind"] == "Job" or obj["kind"] in stackutil.CLUSTER_SCOPED:
                    continue
                workload = obj["kind"] in stackutil.WORKLOADS
                body = stackutil.placeable(obj, PLACEMENT_NS) if workload else \
                    {**obj, "metadata": {**obj["metadata"], "namespace": PLACEMENT_NS}}
                try:
                    stackutil.create(dyn, body, PLACEMENT_NS, dry_run=False)
                    if workload:
                        workloads.setdefault(component, []).append(body)
                except Exception as exc:  # noqa: BLE001 - reported by the component's test
                    refused.setdefault(component, []).append(f"{_name(obj, src)}: {stackutil.rejection(exc)}")
        yield {"workloads": workloads, "refused": refused, "provisioner": provisioner}
    finally:
        provisioner.stop()
        kubeutil.delete_namespace(core, PLACEMENT_NS, timeout_s=120)
        for pv in core.list_persistent_volume(label_selector=f"chaos-test={PLACEMENT_NS}").items:
            core.delete_persistent_volume(pv.metadata.name, grace_period_seconds=0)
        if created_class:
            storage.delete_storage_class("standard")


@pytest.mark.parametrize("component", COMPONENTS)
def test_scheduler_spreads_replicas_over_nodes_and_zones(api, control_plane, placed, component):
    objects = _objects(component)
    assert component not in placed["refused"], \
        "the API server refused:\n  " + "\n  ".join(placed["refused"][component])
    bodies = placed["workloads"].get(component, [])
    expected = [o["metadata"]["name"] for o, _ in objects if o["kind"] in stackutil.WORKLOADS]
    assert sorted(w["metadata"]["name"] for w in bodies) == sorted(expected)
    core = client.CoreV1Api(api)

    def all_ready() -> bool:
        for w in bodies:
            pods = _pods_of(core, w)
            if len(pods) != w["spec"].get("replicas", 1) or not all(_ready(p) for p in pods):
                return False
        return True

    t0 = time.monotonic()
    ok = stackutil.wait_for(all_ready, PLACEMENT_TIMEOUT_S)
    assert ok, (f"{component}: not every pod placed and Ready within {PLACEMENT_TIMEOUT_S:.0f} s:\n  "
                + _diagnosis(core, placed["provisioner"], [w["metadata"]["name"] for w in bodies]))
    print(f"{component}: placed and Ready after {time.monotonic() - t0:.1f} s of waiting in this test")
    zones = sorted(control_plane.zones)
    for workload in bodies:
        pods = _pods_of(core, workload)
        name = f"{workload['kind']} {workload['metadata']['name']}"
        nodes = [p.spec.node_name for p in pods]
        assert len(nodes) == workload["spec"].get("replicas", 1) >= 2, f"{name}: pods on {nodes}"
        shared = {n: c for n, c in Counter(nodes).items() if c > 1}
        assert not shared, f"{name}: replicas share a node: {shared} (all: {sorted(nodes)})"
        per_zone = Counter(control_plane.node_zone[n] for n in nodes)
        counts = {z: per_zone.get(z, 0) for z in zones}
        assert max(counts.values()) - min(counts.values()) <= 1, f"{name}: zones unevenly used: {counts}"
        for p in pods:
            # PodTopologyLabels admission (on by default since v1.35) copies the node's zone onto
            # the pod at binding; the Redis cluster Job relies on it (downward API).
            assert (p.metadata.labels or {}).get(ZONE) == control_plane.node_zone[p.spec.node_name], \
                f"{name}: pod {p.metadata.name} zone label {(p.metadata.labels or {}).get(ZONE)!r}"
            for vol in p.spec.volumes or []:
                if vol.persistent_volume_claim is None:
                    continue
                pvc = core.read_namespaced_persistent_volume_claim(vol.persistent_volume_claim.claim_name,
                                                                   PLACEMENT_NS)
                assert pvc.status.phase == "Bound", f"{name}: {pvc.metadata.name} is {pvc.status.phase}"
                pv = core.read_persistent_volume(pvc.spec.volume_name)
                term = pv.spec.node_affinity.required.node_selector_terms[0].match_expressions[0]
                assert (term.key, term.values) == (HOSTNAME, [p.spec.node_name]), \
                    f"{name}: {pvc.metadata.name}'s volume is on {term.values}, its pod on {p.spec.node_name}"
