"""The stack deployer (chaos.platforms.deploy.StackDeployer) against the real control plane
(kube-apiserver, controller-manager and scheduler built from source; kwok nodes in zones a/b/c).

A small test stack is written to tmp_path: a StatefulSet of 3 with a PodDisruptionBudget and a
headless Service, tolerating kwok's taint, with volumeClaimTemplates bound to PersistentVolumes
this module creates (no provisioner runs here); and a component that depends on it and asks for
a zone no node has. kwok makes scheduled pods Running and Ready (it plays the kubelets), so what
is real here is the API server's server-side apply, the controllers' rollout, the scheduler's
FailedScheduling events and the PVC protection; images are never pulled (chaos.invalid).
"""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from chaos.platforms.deploy import StackDeployer, StackNotReady
from tests.kube import kubeutil

pytestmark = pytest.mark.integration
NS = "chaos-stack-test"
CLASS = "chaos-stack-test"  # storageClassName of the claims and of the PVs made for them
IMAGE, IMAGE_NEXT = "chaos.invalid/server:1", "chaos.invalid/server:2"

STACK = f"""\
namespace: {NS}
images:
  server: {IMAGE}
  server-next: {IMAGE_NEXT}
components:
  store: {{dir: store, depends: [], pods: [store]}}
  stuck: {{dir: stuck, depends: [store], pods: [stuck]}}
"""

STORE = f"""\
apiVersion: v1
kind: Service
metadata: {{name: store, namespace: {NS}}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {{app.kubernetes.io/name: store}}
  ports: [{{name: client, port: 8080}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: store, namespace: {NS}}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: store}}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: store, namespace: {NS}}}
spec:
  replicas: 3
  serviceName: store
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app.kubernetes.io/name: store}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: store, app.kubernetes.io/part-of: chaos-stack}}
    spec:
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      terminationGracePeriodSeconds: 5
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: {{matchLabels: {{app.kubernetes.io/name: store}}}}
              topologyKey: kubernetes.io/hostname
      containers:
        - name: server
          image: {IMAGE}
          imagePullPolicy: IfNotPresent
          ports: [{{name: client, containerPort: 8080}}, {{name: peer, containerPort: 8081}}]
          volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: {CLASS}
        resources: {{requests: {{storage: 1Gi}}}}
"""

STORE_JOB = f"""\
apiVersion: batch/v1
kind: Job
metadata: {{name: store-init, namespace: {NS}}}
spec:
  backoffLimit: 2
  template:
    metadata:
      labels: {{app.kubernetes.io/name: store-init}}
    spec:
      restartPolicy: OnFailure
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      containers:
        - name: init
          image: {IMAGE}
"""

STUCK = f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: stuck, namespace: {NS}}}
spec:
  replicas: 1
  serviceName: stuck
  selector: {{matchLabels: {{app.kubernetes.io/name: stuck}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: stuck}}
    spec:
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      nodeSelector: {{topology.kubernetes.io/zone: z}}
      containers:
        - name: server
          image: {IMAGE}
          ports: [{{containerPort: 8080}}]
"""


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    (root / "store").mkdir()
    (root / "stuck").mkdir()
    (root / "stack.yaml").write_text(STACK)
    (root / "store" / "store.yaml").write_text(STORE)
    (root / "store" / "a-init-job.yaml").write_text(STORE_JOB)  # applied with the servers; it waits for them
    (root / "stuck" / "stuck.yaml").write_text(STUCK)
    return root / "stack.yaml"


PV_LABEL = {"chaos-harness-test": "stack-deploy"}


@pytest.fixture(scope="module")
def cluster(api):
    """The test namespace, and the PersistentVolumes of the tests (see `volumes`), removed at
    the end whatever happened."""
    core = client.CoreV1Api(api)
    try:
        yield core
    finally:
        kubeutil.delete_namespace(core, NS, timeout_s=120)
        selector = ",".join(f"{k}={v}" for k, v in PV_LABEL.items())
        for pv in core.list_persistent_volume(label_selector=selector).items:
            try:
                core.delete_persistent_volume(pv.metadata.name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
        deadline = time.monotonic() + 60
        while core.list_persistent_volume(label_selector=selector).items and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not core.list_persistent_volume(label_selector=selector).items, "PersistentVolumes left"


@pytest.fixture
def volumes(cluster, request):
    """Three fresh PersistentVolumes for the store's claims (no provisioner runs here; Retain
    keeps a released volume unbindable, so each test gets its own)."""
    for i in range(3):
        cluster.create_persistent_volume(client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(name=f"{CLASS}-{request.node.name[5:15].replace('_', '-')}-{i}",
                                         labels=PV_LABEL),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": "1Gi"}, access_modes=["ReadWriteOnce"], storage_class_name=CLASS,
                persistent_volume_reclaim_policy="Retain",
                host_path=client.V1HostPathVolumeSource(path="/nonexistent/chaos-test"))))
    return cluster


def _versions(api, deployer: StackDeployer, component: str) -> dict[str, tuple[str, int | None]]:
    out = {}
    for obj in deployer.manifests(component):
        live = deployer._get(obj)
        out[f"{obj['kind']}/{obj['metadata']['name']}"] = (live["metadata"]["resourceVersion"],
                                                           live["metadata"].get("generation"))
    return out


def test_deploy_is_ready_idempotent_overridable_and_removable(api, volumes, stack_file):
    cluster = volumes
    logs: list[str] = []
    deployer = StackDeployer(api, stack_file=stack_file, env={}, log=logs.append, poll_s=0.3)
    t0 = time.monotonic()
    assert deployer.deploy("store", timeout_s=90) == ["store"]
    first_s = time.monotonic() - t0
    pods = deployer.pods("store")
    assert [p["metadata"]["name"] for p in pods] == ["store-0", "store-1", "store-2"]
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3, "anti-affinity: one node per replica"
    endpoints = deployer.endpoints("store")
    assert [(name, port) for name, _ip, port in endpoints] == [("store-0", 8080), ("store-1", 8080),
                                                               ("store-2", 8080)]
    assert all(ip for _name, ip, _port in endpoints)
    assert [port for *_x, port in deployer.endpoints("store", port=8081)] == [8081] * 3
    claims = cluster.list_namespaced_persistent_volume_claim(NS).items
    assert sorted(c.metadata.name for c in claims) == ["data-store-0", "data-store-1", "data-store-2"]
    assert all(c.status.phase == "Bound" for c in claims)

    # A second deploy changes nothing: no object's resourceVersion or generation moves.
    before = _versions(api, deployer, "store")
    assert set(before) == {"Service/store", "PodDisruptionBudget/store", "StatefulSet/store", "Job/store-init"}
    batch = client.BatchV1Api(api)
    job = batch.read_namespaced_job("store-init", NS)
    assert job.status.succeeded == 1
    t0 = time.monotonic()
    deployer.deploy("store", timeout_s=30)
    again_s = time.monotonic() - t0
    assert _versions(api, deployer, "store") == before
    assert again_s < 5, f"a no-op deploy took {again_s:.1f} s"

    # An image override reaches the pod template, and the rollout is waited for.
    over = StackDeployer(api, stack_file=stack_file, images={"server": IMAGE_NEXT}, env={}, poll_s=0.3)
    over.deploy("store", timeout_s=120)
    sts = client.AppsV1Api(api).read_namespaced_stateful_set("store", NS)
    assert sts.spec.template.spec.containers[0].image == IMAGE_NEXT
    assert sts.status.updated_replicas == sts.status.ready_replicas == 3
    assert sorted(p.spec.containers[0].image for p in cluster.list_namespaced_pod(
        NS, label_selector="app.kubernetes.io/name=store").items) == [IMAGE_NEXT] * 3
    new_job = batch.read_namespaced_job("store-init", NS)  # a Job's template is immutable: made again
    assert new_job.metadata.uid != job.metadata.uid
    assert new_job.spec.template.spec.containers[0].image == IMAGE_NEXT and new_job.status.succeeded == 1

    # remove() deletes the objects and the claims (the PVs are released, not deleted: Retain).
    removed = deployer.remove("store", timeout_s=120)
    assert sorted(removed["pvcs"]) == ["data-store-0", "data-store-1", "data-store-2"]
    assert sorted(removed["objects"]) == ["Job/store-init", "PodDisruptionBudget/store", "Service/store",
                                          "StatefulSet/store"]
    assert batch.list_namespaced_job(NS).items == []
    assert cluster.list_namespaced_persistent_volume_claim(NS).items == []
    assert client.AppsV1Api(api).list_namespaced_stateful_set(NS).items == []
    assert cluster.list_namespaced_pod(NS, label_selector="app.kubernetes.io/name=store").items == []
    print(f"\nfirst deploy {first_s:.1f} s, no-op deploy {again_s:.2f} s; log: {logs}")


def test_unschedulable_wait_fails_in_time_with_pod_events_and_hint(api, volumes, stack_file):
    deployer = StackDeployer(api, stack_file=stack_file, env={}, poll_s=0.3)
    deployer.deploy("store", timeout_s=90)  # the dependency, so the failure below is stuck's alone
    t0 = time.monotonic()
    with pytest.raises(StackNotReady) as info:
        deployer.deploy("stuck", timeout_s=8)
    took = time.monotonic() - t0
    msg = str(info.value)
    assert 8 <= took < 8 + 10, f"the wait took {took:.1f} s for an 8 s timeout"
    assert "stuck: not ready after 8 s" in msg
    assert "StatefulSet/stuck: 0/1 ready" in msg
    assert "pod stuck-0 (node -): phase Pending" in msg
    assert "FailedScheduling" in msg
    assert "node affinity/selector" in msg  # the scheduler's own words, from its event
    assert any(h.startswith("Pending + FailedScheduling: stuck-0:") and "nodeSelector" in h
               for h in info.value.hints), info.value.hints
    assert "hint: Pending + FailedScheduling" in msg
    print(f"\nthe wait failed after {took:.1f} s:\n{msg}")
    deployer.remove("stuck", timeout_s=60)
    deployer.remove("store", timeout_s=120)
