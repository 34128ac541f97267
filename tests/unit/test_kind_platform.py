"""The kind platform's pure parts, with real inputs: stack.yaml loading and its validation errors,
image overrides, dependency order, the manifests of fixtures/kind/ as the deployer reads them,
readiness from workload statuses, the hint chosen from pod states and events (the pod and event
JSON below has the shapes the kubelet and the scheduler write; the FailedScheduling message is
one the real scheduler of tests/kube produced), and the host route commands. The prerequisite
checks run the real commands (a binary that is not there, `false` as a docker that fails).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.errors import InvalidConfig, MissingPrerequisite
from chaos.platforms.kind import KindCluster, KindPlatform, _undo_remove_routes, route_commands
from chaos.platforms.readiness import (LogTail, choose_hints, logs_wanted, pod_problems, recent_events, report_lines,
                                       terminal_waits, workload_ready)
from chaos.platforms.stack import (STACK_FILE, WORKLOAD_KINDS, env_key, images_used, load_manifests, load_stack,
                                   parse_image_options, resolve_images)

REPO = Path(__file__).resolve().parents[2]


def write_stack(root: Path, text: str, dirs=("a", "b")) -> Path:
    for d in dirs:
        (root / d).mkdir(exist_ok=True)
    (root / "stack.yaml").write_text(text)
    return root / "stack.yaml"


GOOD = """\
namespace: chaos-stack
images: {server: example/server:1, tool: example/tool:2}
components:
  a: {dir: a, depends: [], pods: [a]}
  b: {dir: b, depends: [a], pods: [b-main, b-worker]}
"""


# --- stack.yaml ---------------------------------------------------------------------------------

def test_the_real_stack_file_loads_with_dependency_order_and_labels():
    stack = load_stack(STACK_FILE)
    assert stack.namespace == "chaos-stack"
    assert stack.order("flink") == ["zookeeper", "minio", "flink"]
    assert stack.order("clickhouse") == ["zookeeper", "clickhouse"]
    assert stack.order("redis") == ["redis"]
    assert stack.labels_of("flink") == ("flink-jobmanager", "flink-taskmanager")
    assert stack.labels_of("flink-taskmanager") == ("flink-taskmanager",)
    assert set(stack.build) <= set(stack.images)
    assert all(ctx.is_dir() for ctx in stack.build.values())


@pytest.mark.parametrize("text, field, words", [
    (GOOD + "extra: 1\n", "extra", "unknown key(s) extra"),
    (GOOD.replace("pods: [a]}", "pods: [a], replicas: 3}"), "components.a.replicas", "unknown key(s) replicas"),
    (GOOD.replace("dir: b,", "dir: nowhere,"), "components.b.dir", "manifest directory"),
    (GOOD.replace("depends: [a]", "depends: [c]"), "components.b.depends", "unknown component 'c'"),
    (GOOD.replace("depends: []", "depends: [b]"), "components.a.depends", "dependency cycle: a -> b -> a"),
    (GOOD.replace("namespace: chaos-stack", "namespace: Chaos_Stack"), "namespace", "not a namespace name"),
    (GOOD.replace(", pods: [a]", ""), "components.a.pods", "missing"),
    (GOOD + "build: {server: no/such/dir}\n", "build.server", "build context"),
    (GOOD + "build: {other: a}\n", "build.other", "not in images"),
    (GOOD.replace("images: {server: example/server:1, tool: example/tool:2}\n", ""), "images", "missing"),
])
def test_stack_validation_names_the_field(tmp_path, text, field, words):
    path = write_stack(tmp_path, text)
    with pytest.raises(InvalidConfig) as err:
        load_stack(path)
    assert err.value.field == field, str(err.value)
    assert words in str(err.value)


def test_missing_dirs_are_not_checked_when_only_image_keys_matter(tmp_path):
    path = write_stack(tmp_path, GOOD.replace("dir: b,", "dir: nowhere,"))
    assert load_stack(path, check_dirs=False).components["b"].dir == (tmp_path / "nowhere").resolve()


# --- image overrides ------------------------------------------------------------------------------

def test_image_option_parsing():
    assert parse_image_options(["redis=redis:7.4.6", " kafka = apache/kafka:4.1.1 "]) == {
        "redis": "redis:7.4.6", "kafka": "apache/kafka:4.1.1"}
    for bad in ("redis", "=redis:1", "redis=", "redis=a b"):
        with pytest.raises(InvalidConfig) as err:
            parse_image_options([bad])
        assert err.value.field == "--chaos-image" and "key=image-reference" in str(err.value)


def test_overrides_env_then_explicit_and_unknown_keys_name_the_known_ones():
    stack = load_stack(STACK_FILE)
    assert env_key("postgres-repmgr") == "CHAOS_IMAGE_POSTGRES_REPMGR"
    env = {"CHAOS_IMAGE_POSTGRES_REPMGR": "local/pg:dev", "CHAOS_IMAGE_REDIS": "redis:7.4.6", "PATH": "/bin"}
    got = resolve_images(stack, {"redis": "valkey/valkey:8.1"}, env)
    assert got["postgres-repmgr"] == "local/pg:dev"
    assert got["redis"] == "valkey/valkey:8.1"  # explicit beats the environment
    assert got["zookeeper"] == stack.images["zookeeper"]
    with pytest.raises(InvalidConfig) as err:
        resolve_images(stack, {"mysql": "mysql:8"}, {})
    assert "no image key 'mysql'" in str(err.value) and "postgres-repmgr, redis, zookeeper" in str(err.value)
    with pytest.raises(InvalidConfig) as err:
        resolve_images(stack, {}, {"CHAOS_IMAGE_MYSQL": "mysql:8"})
    assert err.value.field == "CHAOS_IMAGE_MYSQL" and "flink" in str(err.value)


# --- manifests --------------------------------------------------------------------------------------

STS = """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: a, namespace: chaos-stack}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: a}}
  template:
    metadata: {labels: {app.kubernetes.io/name: a}}
    spec:
      initContainers: [{name: init, image: example/tool:2}]
      containers: [{name: server, image: example/server:1, ports: [{containerPort: 7000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {ports: [{port: 7000}]}
"""


def test_manifests_get_overrides_namespace_and_apply_order(tmp_path):
    stack = load_stack(write_stack(tmp_path, GOOD))
    (tmp_path / "a" / "a.yaml").write_text(STS)
    (tmp_path / "a" / "b-config.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a-config}\n")
    objs = load_manifests(stack, "a", {"server": "example/server:9"}, namespace="other-ns")
    assert [o["kind"] for o in objs] == ["ConfigMap", "Service", "StatefulSet"]
    assert {o["metadata"]["namespace"] for o in objs} == {"other-ns"}
    pod = objs[-1]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "example/server:9"
    assert pod["initContainers"][0]["image"] == "example/tool:2"
    assert (tmp_path / "a" / "a.yaml").read_text() == STS  # the files are not touched


@pytest.mark.parametrize("text, words", [
    (STS.replace("image: example/server:1", "image: example/server:latest"),
     "uses image 'example/server:latest', which is not in stack.yaml's images"),
    ("apiVersion: v1\nkind: Namespace\nmetadata: {name: chaos-stack}\n", "the deployer creates the Namespace"),
    (STS.replace("namespace: chaos-stack", "namespace: kube-system"), "is in namespace 'kube-system'"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "apiVersion, kind and metadata.name"),
])
def test_bad_manifests_are_refused_naming_the_file(tmp_path, text, words):
    stack = load_stack(write_stack(tmp_path, GOOD))
    (tmp_path / "a" / "bad.yaml").write_text(text)
    with pytest.raises(InvalidConfig) as err:
        load_manifests(stack, "a")
    assert words in str(err.value) and err.value.field == "a/bad.yaml"


def test_every_component_of_fixtures_kind_loads_with_its_labels_and_ports():
    """The contract between stack.yaml and the manifests, as the deployer reads them."""
    stack = load_stack(STACK_FILE)
    for name, comp in stack.components.items():
        objs = load_manifests(stack, name)
        servers = [o for o in objs if o["kind"] in ("StatefulSet", "Deployment")]
        assert servers, f"{name}: no StatefulSet or Deployment"
        labels = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] for o in servers}
        assert labels == set(comp.pods), f"{name}: pod labels {labels} != stack.yaml pods {comp.pods}"
        for o in servers:
            first = o["spec"]["template"]["spec"]["containers"][0]
            assert first.get("ports"), f"{name}: {o['metadata']['name']} declares no client port"
        for job in (o for o in objs if o["kind"] == "Job"):  # its pods must not count as the servers'
            assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] not in comp.pods
        assert [o["kind"] in WORKLOAD_KINDS for o in objs] == sorted(o["kind"] in WORKLOAD_KINDS for o in objs)


# --- readiness and hints ------------------------------------------------------------------------

def sts(replicas=3, ready=3, updated=3, current=3, generation=2, observed=2):
    return {"kind": "StatefulSet", "metadata": {"name": "zookeeper", "generation": generation},
            "spec": {"replicas": replicas, "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"observedGeneration": observed, "replicas": current, "readyReplicas": ready,
                       "updatedReplicas": updated, "currentRevision": "zookeeper-6c9", "updateRevision": "zookeeper-6c9"}}


def test_workload_readiness():
    assert workload_ready(sts()) == (True, "StatefulSet/zookeeper: 3/3 ready, 3/3 updated")
    assert workload_ready(sts(ready=2))[0] is False
    assert workload_ready(sts(updated=1))[0] is False  # an image override still rolling
    assert workload_ready(sts(observed=1)) == (False, "StatefulSet/zookeeper: 3/3 ready, 3/3 updated, "
                                                      "generation not observed yet")
    assert workload_ready(sts(current=4))[0] is False  # scaling down: an extra pod still there
    dep = {"kind": "Deployment", "metadata": {"name": "flink-jobmanager", "generation": 1},
           "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate"}},
           "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
                      "availableReplicas": 1}}
    assert workload_ready(dep)[0] is False
    dep["status"]["availableReplicas"] = 2
    assert workload_ready(dep)[0] is True
    job = {"kind": "Job", "metadata": {"name": "redis-cluster-create"}, "spec": {"completions": 1},
           "status": {"failed": 3, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    assert workload_ready(job) == (False, "Job/redis-cluster-create: 0/1 succeeded, 3 failed (Job failed)")
    assert workload_ready({**job, "status": {"succeeded": 1}})[0] is True


def pod(name, phase="Pending", node=None, containers=(), conditions=(), image="postgres:17"):
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "server", "image": image}]},
            "status": {"phase": phase, "conditions": list(conditions), "containerStatuses": list(containers)}}


IMAGE_PULL = pod("postgres-0", node="chaos-worker", image="chaos/postgres-repmgr:17-5.5.0", containers=[{
    "name": "postgres", "image": "chaos/postgres-repmgr:17-5.5.0", "ready": False, "restartCount": 0,
    "state": {"waiting": {"reason": "ImagePullBackOff",
                          "message": 'Back-off pulling image "chaos/postgres-repmgr:17-5.5.0"'}}}])
CRASHING = pod("kafka-1", phase="Running", node="chaos-worker3", containers=[{
    "name": "kafka", "image": "apache/kafka:4.1.0", "ready": False, "restartCount": 4,
    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}},
    "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "finishedAt": "2026-11-27T10:00:00Z"}}}])
OOM = pod("elasticsearch-2", phase="Running", node="chaos-worker5", containers=[{
    "name": "elasticsearch", "image": "elasticsearch:8.19.0", "ready": False, "restartCount": 2,
    "state": {"running": {"startedAt": "2026-11-27T10:01:00Z"}},
    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-27T10:00:59Z"}}}])
UNSCHEDULABLE = pod("zookeeper-2", conditions=[{
    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
    "message": "0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector."}])
NOT_READY = pod("minio-3", phase="Running", node="chaos-worker6", containers=[{
    "name": "minio", "image": "chaos/minio:RELEASE.2025-09-07T16-13-09Z", "ready": False, "restartCount": 0,
    "state": {"running": {"startedAt": "2026-11-27T10:01:00Z"}}}],
    conditions=[{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}])
SCHEDULER_MSG = ("0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector. no new claims to "
                 "deallocate, preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.")


def event(obj, reason, message, t="2026-11-27T10:02:00Z", kind="Pod"):
    return {"involvedObject": {"kind": kind, "name": obj}, "reason": reason, "message": message, "type": "Warning",
            "lastTimestamp": t}


def test_pod_problems_read_the_kubelets_status():
    p = pod_problems(CRASHING)
    assert (p["name"], p["node"], p["phase"], p["ready"]) == ("kafka-1", "chaos-worker3", "Running", False)
    c = p["containers"][0]
    assert c["waiting"] == "CrashLoopBackOff" and c["restarts"] == 4
    assert c["last_termination"] == "Error (exit code 1) at 2026-11-27T10:00:00Z"
    assert pod_problems(UNSCHEDULABLE)["conditions"] == [
        "PodScheduled=False Unschedulable: 0/6 nodes are available: 6 node(s) didn't match Pod's node "
        "affinity/selector."]


def test_hint_for_an_image_that_is_not_loaded_names_kind_load_and_the_override():
    images = {"chaos/postgres-repmgr:17-5.5.0": "postgres-repmgr"}
    [hint] = choose_hints([pod_problems(IMAGE_PULL)], [], images, cluster="ci")
    assert hint.startswith("ImagePullBackOff: image chaos/postgres-repmgr:17-5.5.0 is not loaded")
    assert "`kind load docker-image chaos/postgres-repmgr:17-5.5.0 --name ci`" in hint
    assert "--chaos-image postgres-repmgr=<ref> or CHAOS_IMAGE_POSTGRES_REPMGR=<ref>" in hint


def test_hint_for_pending_pods_groups_them_by_the_schedulers_latest_message():
    pods = [pod_problems(UNSCHEDULABLE), pod_problems({**UNSCHEDULABLE, "metadata": {"name": "zookeeper-1"}})]
    events = [event("zookeeper-2", "FailedScheduling", "0/6 nodes are available: 1 node(s) were unschedulable.",
                    t="2026-11-27T10:01:00Z"),
              event("zookeeper-2", "FailedScheduling", SCHEDULER_MSG, t="2026-11-27T10:02:00Z"),
              event("zookeeper-1", "FailedScheduling", SCHEDULER_MSG, t="2026-11-27T10:02:01Z")]
    [hint] = choose_hints(pods, events)
    assert hint.startswith(f"Pending + FailedScheduling: zookeeper-1, zookeeper-2: {SCHEDULER_MSG} -> ")
    assert "nodeSelector/node affinity names a label no schedulable node has" in hint
    anti = "0/6 nodes are available: 3 node(s) didn't match pod anti-affinity rules, 3 node(s) were unschedulable."
    [hint] = choose_hints(pods[:1], [event("zookeeper-2", "FailedScheduling", anti)])
    assert "one schedulable node per replica" in hint and "uncordon" in hint
    # No event (yet): the pod's own condition still explains it.
    [hint] = choose_hints(pods[:1], [])
    assert hint.startswith("Pending (Unschedulable): zookeeper-2:")


def test_hints_for_crashes_oom_and_failing_readiness():
    hints = choose_hints([pod_problems(CRASHING), pod_problems(OOM), pod_problems(NOT_READY)],
                         [event("minio-3", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")])
    assert hints[0].startswith("CrashLoopBackOff: container kafka of kafka-1 keeps exiting (Error (exit code 1)")
    assert hints[0].endswith("read its logs above")
    assert hints[1].startswith("OOMKilled: container elasticsearch of elasticsearch-2")
    assert hints[2:] == ["elasticsearch-2 runs but is not Ready: its readiness probe fails; read its logs above",
                         "minio-3 runs but is not Ready: its readiness probe fails (Readiness probe failed: HTTP probe "
                         "failed with statuscode: 503); read its logs above"]



def test_apply_order_puts_what_others_refer_to_first_and_workloads_last(tmp_path):
    stack = load_stack(write_stack(tmp_path, GOOD))
    docs = [("Job", "init"), ("StatefulSet", "a"), ("Lease", "lock"), ("PodDisruptionBudget", "a"), ("Service", "a"),
            ("ConfigMap", "conf"), ("ServiceAccount", "a"), ("Deployment", "web")]
    (tmp_path / "a" / "all.yaml").write_text("---\n".join(
        f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
        + ("spec: {template: {spec: {containers: [{name: c, image: example/server:1}]}}}\n"
           if kind in WORKLOAD_KINDS else "") for kind, name in docs))
    objs = load_manifests(stack, "a", {"server": "example/server:2"})
    # A kind APPLY_ORDER does not name goes after the ones it names, before the workloads (kept in file order).
    assert [o["kind"] for o in objs] == ["ServiceAccount", "ConfigMap", "Service", "PodDisruptionBudget", "Lease",
                                         "Job", "StatefulSet", "Deployment"]
    assert all(o["metadata"]["namespace"] == "chaos-stack" for o in objs)
    assert images_used(objs) == {"example/server:2"}


def test_terminal_waits_name_only_what_waiting_cannot_fix():
    never = pod("redis-0", node="chaos-worker", image="redis:7.4.5", containers=[{
        "name": "redis", "image": "redis:7.4.5", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "ErrImageNeverPull", "message": 'Container image "redis:7.4.5" is not '
                                                                         'present with pull policy of Never'}}}])
    assert terminal_waits([never, IMAGE_PULL, CRASHING, UNSCHEDULABLE]) == ["redis-0/redis ErrImageNeverPull"]


def test_recent_events_keep_the_newest_of_each_object_oldest_first():
    events = [event("zookeeper-0", "BackOff", f"back-off {i}", t=f"2026-11-27T10:0{i}:00Z") for i in range(8)]
    events += [event("zookeeper", "SuccessfulCreate", "create Pod zookeeper-0", t="2026-11-27T09:59:00Z",
                     kind="StatefulSet"),
               event("elsewhere-0", "Pulled", "not ours")]
    shown = recent_events(events[::-1], {"zookeeper-0", "zookeeper"}, per_object=3)
    assert [e["message"] for e in shown] == ["create Pod zookeeper-0", "back-off 5", "back-off 6", "back-off 7"]


def test_logs_are_wanted_of_crashing_restarted_and_unready_containers():
    wanted = logs_wanted([pod_problems(p) for p in (IMAGE_PULL, CRASHING, OOM, NOT_READY, UNSCHEDULABLE)])
    # previous: the container that ended, when the current one has not ended.
    assert wanted == [("kafka-1", "kafka", True), ("elasticsearch-2", "elasticsearch", True),
                      ("minio-3", "minio", False)]


def test_report_of_a_failed_wait_names_workloads_pods_events_logs_and_hints():
    stuck = {"kind": "StatefulSet", "metadata": {"name": "zookeeper", "generation": 1},
             "spec": {"replicas": 3}, "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 2,
                                                 "updatedReplicas": 3}}
    bad = [pod_problems(UNSCHEDULABLE), pod_problems(CRASHING)]
    events = [event("zookeeper-2", "FailedScheduling", SCHEDULER_MSG, t="2026-11-27T10:02:00Z"),
              {**event("kafka-1", "BackOff", "Back-off restarting failed container", t="2026-11-27T10:03:00Z"),
               "count": 5}]
    logs = [LogTail("kafka-1", "kafka", True, ("starting", "ERROR bad config")),
            LogTail("zookeeper-2", "zookeeper", False, error="container not found " + "x" * 300)]
    hints = choose_hints(bad, events)
    lines = report_lines("zookeeper", "chaos-stack", "not ready after 8 s", [stuck], bad, events, logs, hints,
                         events_error=None)
    assert lines[:9] == [
        "zookeeper: not ready after 8 s in namespace chaos-stack:",
        "  StatefulSet/zookeeper: 2/3 ready, 3/3 updated",
        "  pod zookeeper-2 (node -): phase Pending",
        "    condition PodScheduled=False Unschedulable: 0/6 nodes are available: 6 node(s) didn't match Pod's node "
        "affinity/selector.",
        "  pod kafka-1 (node chaos-worker3): phase Running",
        "    container kafka (apache/kafka:4.1.0): waiting CrashLoopBackOff (back-off 1m20s restarting failed "
        "container); restarts 4; last termination Error (exit code 1) at 2026-11-27T10:00:00Z",
        "  recent events:",
        f"    2026-11-27T10:02:00Z Pod/zookeeper-2 Warning FailedScheduling: {SCHEDULER_MSG}",
        "    2026-11-27T10:03:00Z Pod/kafka-1 Warning BackOff (x5): Back-off restarting failed container"]
    assert lines[9:13] == ["  last 2 log lines of kafka-1/kafka (previous container):", "    | starting",
                           "    | ERROR bad config",
                           f"  (logs of zookeeper-2/zookeeper unavailable: {logs[1].error[:200]})"]  # cut at 200
    assert lines[13:] == [f"  hint: {h}" for h in hints] and len(hints) == 2
    assert report_lines("x", "ns", "a Job failed", [], [], [], [], [], events_error="forbidden")[-2:] == [
        "  (events unavailable: forbidden)", "  hint: read the pod states and events above"]

# --- host routes and prerequisites ------------------------------------------------------------------

KIND_NODES = [("chaos-control-plane", ["10.244.0.0/24"], "172.18.0.7"),
              ("chaos-worker", ["10.244.1.0/24"], "172.18.0.3"),
              ("chaos-worker2", ["10.244.2.0/24", "fd00:10:244:2::/64"], "172.18.0.5"),
              ("chaos-worker3", [], "172.18.0.4")]  # no pod CIDR yet: skipped


def test_route_commands():
    assert route_commands(KIND_NODES) == [
        ["ip", "route", "replace", "10.244.0.0/24", "via", "172.18.0.7"],
        ["ip", "route", "replace", "10.244.1.0/24", "via", "172.18.0.3"],
        ["ip", "route", "replace", "10.244.2.0/24", "via", "172.18.0.5"]]  # the IPv6 CIDR has no IPv6 gateway
    assert route_commands([("n", ["fd00:10:244:1::/64"], "fc00:f853:ccd:e793::3")], "del") == [
        ["ip", "-6", "route", "del", "fd00:10:244:1::/64", "via", "fc00:f853:ccd:e793::3"]]
    with pytest.raises(InvalidConfig):
        route_commands(KIND_NODES, "add")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a network namespace for a real routing table)")
def test_route_undo_removes_the_route_and_is_idempotent():
    """The ledger's undo action on a real routing table: a private network namespace's."""
    ns = f"ut-kindroute-{os.getpid()}"
    run = lambda *a: subprocess.run(["ip", "netns", "exec", ns, *a], capture_output=True, text=True, check=True)  # noqa: E731
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")  # no dummy module here
        run("ip", "addr", "add", "192.0.2.1/24", "dev", "d0")
        run("ip", "link", "set", "d0", "up")
        ip = ["ip", "netns", "exec", ns, "ip"]
        for argv in route_commands([("n1", ["10.244.1.0/24"], "192.0.2.3"), ("n2", ["10.244.2.0/24"], "192.0.2.4")],
                                   ip=ip):
            subprocess.run(argv, check=True)
        assert "10.244.1.0/24 via 192.0.2.3" in run("ip", "route").stdout
        args = {"routes": [["10.244.1.0/24", "192.0.2.3"], ["10.244.2.0/24", "192.0.2.4"]], "ip": ip}
        _undo_remove_routes(args)
        assert "10.244." not in run("ip", "route").stdout
        _undo_remove_routes(args)  # again: nothing to do, no error
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def test_missing_prerequisites_are_named_before_anything_is_created(tmp_path):
    cluster = KindCluster("ci", kind="/nonexistent/kind", docker=["false"], state_dir=tmp_path)
    missing = cluster.prerequisites()
    assert missing[0].startswith("the `kind` binary (fix: `make kind-node-image` builds it")
    assert missing[1].startswith("a running Docker daemon")
    platform = KindPlatform(cluster_name="ci", kind="/nonexistent/kind", docker=[sys.executable, "-c", "exit(1)"],
                            state_dir=tmp_path / "state")
    with pytest.raises(MissingPrerequisite) as err:
        platform.up()
    assert "the `kind` binary" in str(err.value) and "a running Docker daemon" in str(err.value)
    assert not (tmp_path / "state").exists(), "nothing may be created before the prerequisites are met"
    with pytest.raises(InvalidConfig):
        KindCluster("no such name")


def test_plugin_validates_image_overrides_and_refuses_experiments_on_plain_kube():
    def pytest_run(*args):
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                               *args], capture_output=True, text=True, cwd=REPO, timeout=120)

    proc = pytest_run("tests/unit/test_slo.py", "--chaos-image", "mysql=mysql:8")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "--chaos-image: no image key 'mysql'" in proc.stderr and "postgres-repmgr" in proc.stderr
    proc = pytest_run("experiments/test_zookeeper.py", "--chaos-platform", "kube")
    assert proc.returncode == 4 and "do not run on --chaos-platform kube yet" in proc.stderr
    from chaos.platforms.kind import kind_prerequisites

    proc = pytest_run("experiments/test_zookeeper.py", "--chaos-platform", "kind")
    if kind_prerequisites():
        assert proc.returncode == 4 and "the kind platform needs" in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 0, proc.stdout + proc.stderr


def fake_docker(tmp_path, runtime: str = "runc", images: tuple[str, ...] = ()) -> list[str]:
    """A docker CLI that answers `version`, `info` with its default runtime, and `image inspect`
    for the images it has."""
    script = tmp_path / "docker"
    script.write_text("#!/bin/sh\n"
                      'case "$1" in\n'
                      '  version) echo 20.10.24 ;;\n'
                      f'  info) echo {runtime} ;;\n'
                      '  image) for i in ' + " ".join(images or ("none",)) + '; do [ "$3" = "$i" ] && exit 0; done; exit 1 ;;\n'
                      'esac\n')
    script.chmod(0o755)
    return [str(script)]


CAPS_FULL = "CapBnd:\t000001ffffffffff\n"
CAPS_NO_SYS_RESOURCE = "CapBnd:\t000001fffeffffff\n"


def test_a_host_without_cap_sys_resource_is_told_to_register_the_runc_wrapper(tmp_path):
    from chaos.platforms.kind import RUNC_WRAPPER, lacks_sys_resource, runtime_prerequisite

    assert lacks_sys_resource(CAPS_NO_SYS_RESOURCE) and not lacks_sys_resource(CAPS_FULL)
    assert runtime_prerequisite(fake_docker(tmp_path), status=CAPS_FULL) == []
    [need] = runtime_prerequisite(fake_docker(tmp_path), status=CAPS_NO_SYS_RESOURCE)
    assert "lacks CAP_SYS_RESOURCE" in need and str(RUNC_WRAPPER) in need and '"default-runtime": "chaos-runc"' in need
    assert runtime_prerequisite(fake_docker(tmp_path, runtime="chaos-runc"), status=CAPS_NO_SYS_RESOURCE) == []


def test_a_missing_node_image_is_named_with_how_to_build_it(tmp_path, monkeypatch):
    import chaos.platforms.kind as kind

    monkeypatch.setattr(kind, "lacks_sys_resource", lambda status=None: False)
    kind_bin = tmp_path / "kind"
    kind_bin.write_text("#!/bin/sh\nexit 0\n")
    kind_bin.chmod(0o755)
    cluster = KindCluster("ci", kind=str(kind_bin), docker=fake_docker(tmp_path), state_dir=tmp_path,
                          node_image="chaos-kind-node:v1.36.3")
    [missing] = [m for m in cluster.prerequisites(routes=False)]
    assert missing.startswith("the node image chaos-kind-node:v1.36.3") and "fixtures/kind-node/build.py" in missing
    present = KindCluster("ci", kind=str(kind_bin), docker=fake_docker(tmp_path, images=("chaos-kind-node:v1.36.3",)),
                          state_dir=tmp_path, node_image="chaos-kind-node:v1.36.3")
    assert present.prerequisites(routes=False) == []


def test_the_node_image_build_names_a_missing_go(monkeypatch, tmp_path):
    from chaos._modules import load_file

    build = load_file(REPO / "fixtures" / "kind-node" / "build.py", "kind_node_build")
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    missing = build.missing_prerequisites()
    assert any(m.startswith("go (Go 1.26 or newer on PATH)") for m in missing), missing


def test_the_kind_binary_is_found_on_path_or_else_in_the_cache_where_the_node_image_build_put_it(tmp_path,
                                                                                                    monkeypatch):
    from chaos.platforms.kind import default_kind, kind_prerequisites

    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("CHAOS_CACHE_DIR", str(tmp_path / "cache"))
    assert default_kind() == "kind"
    assert any("make kind-node-image" in m for m in kind_prerequisites(routes=False))
    built = tmp_path / "cache" / "kind-node-v1.36.3" / "bin" / "kind"
    built.parent.mkdir(parents=True)
    built.write_text("#!/bin/sh\n")
    assert default_kind() == "kind"  # not executable: not a binary to run
    built.chmod(0o755)
    assert default_kind() == str(built)
    assert not any("`kind` binary" in m for m in kind_prerequisites(routes=False))
    on_path = tmp_path / "bin" / "kind"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert default_kind() == "kind"
