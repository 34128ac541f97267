"""The Kubernetes platform: any cluster, through the official `kubernetes` client.

Nodes come with their zone label (topology.kubernetes.io/zone); a component's pods are found by
the label app.kubernetes.io/name=<component> in the stack's namespaces, with their node and
zone. Faults:
  pod kill   delete with grace period 0 (SIGKILL) or the pod's own grace (SIGTERM); proven when
             the old pod (its UID) is gone; healed when its controller made a new UID Ready;
  node drain cordon, then the Eviction API for every stack pod on the node that no DaemonSet
             owns; a 429 (a PodDisruptionBudget allows no disruption now) is retried with
             backoff until a deadline, and what stayed blocked is reported; heal = uncordon;
  kind only  node crash = stop the node's container, zone partition = iptables rules inside
             the node containers (chaos.platforms.kind_nodes).
Every change goes into the run's ledger first; `chaos heal` uncordons what a crashed run left.

The guard against the wrong cluster: the platform refuses any context that is not a kind
cluster carrying the harness's marker (a ConfigMap it leaves when it creates a cluster), unless
the user allow-lists the context (--chaos-allow-context, or CHAOS_ALLOW_CONTEXTS, comma
separated). It never touches a namespace outside the stack's.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import InvalidConfig, MissingPrerequisite, PlatformError
from ..ledger import Ledger, Undo, default_state_dir, heal_stale, new_run_id, undo_action
from ..waits import poll_until
from .base import Node

__all__ = ["KubePlatform", "KubePod", "WrongCluster", "check_context", "mark_cluster", "allowed_contexts",
           "MARKER", "ZONE_LABEL", "COMPONENT_LABEL", "ALLOW_ENV", "DEFAULT_NAMESPACES"]

ZONE_LABEL = "topology.kubernetes.io/zone"
COMPONENT_LABEL = "app.kubernetes.io/name"
MARKER = ("kube-system", "chaos-harness-marker")  # namespace, ConfigMap name
ALLOW_ENV = "CHAOS_ALLOW_CONTEXTS"
DEFAULT_NAMESPACES = ("chaos-stack",)
KIND_PREFIX = "kind-"


class WrongCluster(InvalidConfig):
    """The context is not one the harness may touch."""


def _kube():
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise MissingPrerequisite("python module kubernetes missing", field="kube platform",
                                  fix="pip install kubernetes, or `make install`") from exc
    return client, config


def api_client(kubeconfig: str | None, context: str | None):
    """An ApiClient for one context of a kubeconfig file (default: $KUBECONFIG or ~/.kube/config)."""
    _client, config = _kube()
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if not Path(path).is_file():
        raise InvalidConfig(f"kubeconfig {path} does not exist", field="--chaos-kubeconfig",
                            fix="give the kubeconfig of the cluster, or create one with the kind fixture")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except Exception as exc:
        raise InvalidConfig(f"cannot read kubeconfig {path}: {exc}", field="--chaos-kubeconfig") from exc
    names = [c["name"] for c in contexts]
    context = context or (active or {}).get("name")
    if context not in names:
        raise InvalidConfig(f"no context {context!r} in {path}", field="--chaos-kube-context",
                            fix=f"one of: {', '.join(names) or '(none)'}")
    return config.new_client_from_config(config_file=path, context=context), path, context


def allowed_contexts(extra: Iterable[str] = ()) -> set[str]:
    """Contexts the user allow-listed: the flag's values and CHAOS_ALLOW_CONTEXTS."""
    env = [c.strip() for c in os.environ.get(ALLOW_ENV, "").split(",") if c.strip()]
    return {*extra, *env}


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status", None)


def check_context(api, context: str, allow: Iterable[str] = ()) -> dict[str, Any]:
    """The wrong-cluster guard. Returns why the context is accepted; raises WrongCluster, naming
    the context and how to allow it, otherwise. Reads one ConfigMap, changes nothing."""
    client, _ = _kube()
    if context in set(allow):
        return {"context": context, "accepted_by": "allow-list"}
    how = (f"if you mean to run faults against it, allow-list it: --chaos-allow-context {context} "
           f"or {ALLOW_ENV}={context}")
    if not context.startswith(KIND_PREFIX):
        raise WrongCluster(f"context {context!r} is not a kind cluster created by the harness; refusing to "
                           "inject faults into it", field="--chaos-kube-context", fix=how)
    ns, name = MARKER
    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map(name, ns, _request_timeout=10)
    except Exception as exc:
        if _status(exc) == 404:
            raise WrongCluster(f"context {context!r} is a kind cluster without the harness's marker "
                               f"(ConfigMap {ns}/{name}): the harness did not create it",
                               field="--chaos-kube-context", fix=how) from None
        raise PlatformError(f"cannot read the marker {ns}/{name} through context {context!r}: {exc}") from exc
    return {"context": context, "accepted_by": "marker", "marker": dict(cm.data or {})}


def mark_cluster(api, cluster: str) -> None:
    """Leave the marker that says the harness created this cluster (the kind fixture calls it)."""
    client, _ = _kube()
    ns, name = MARKER
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, namespace=ns,
                                                           labels={"app.kubernetes.io/managed-by": "chaos-harness"}),
                              data={"created-by": "chaos-harness", "cluster": cluster,
                                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    try:
        client.CoreV1Api(api).create_namespaced_config_map(ns, body)
    except Exception as exc:
        if _status(exc) != 409:
            raise


@undo_action("kube-uncordon")
def _undo_uncordon(args: dict[str, Any]) -> None:
    """Idempotent: a node that is gone, or already schedulable, is fine."""
    client, _ = _kube()
    api, _path, _ctx = api_client(args["kubeconfig"], args["context"])
    try:
        client.CoreV1Api(api).patch_node(args["node"], {"spec": {"unschedulable": None}}, _request_timeout=15)
    except Exception as exc:
        if _status(exc) != 404:
            raise


@dataclass(frozen=True)
class KubePod:
    name: str
    namespace: str
    node: str | None
    zone: str | None
    uid: str
    ip: str | None
    phase: str
    ready: bool
    restarts: int
    component: str | None
    owner: str | None  # "Kind/name" of the controller
    port: int | None  # the first container port, for reachability proofs

    @property
    def running(self) -> bool:
        return self.phase == "Running" and self.ready


class KubePlatform:
    """Nodes, zones and pods of a Kubernetes cluster, and the raw actions faults are made of."""

    name = "kube"

    def __init__(self, *, kubeconfig: str | None = None, context: str | None = None,
                 allow_contexts: Sequence[str] = (), namespaces: Sequence[str] = DEFAULT_NAMESPACES,
                 run_id: str | None = None, state_dir: Path | None = None,
                 log: Callable[[str], None] = lambda msg: None, eviction_deadline_s: float = 120.0,
                 kind_nodes=None, docker: str | Sequence[str] = "docker",
                 node_container: Callable[[str], str] | None = None, **_ignored: Any):
        self.kubeconfig = kubeconfig
        self.context = context
        self.allow = allowed_contexts(allow_contexts)
        self.namespaces = tuple(namespaces)
        self.run_id = run_id or new_run_id()
        self.state_dir = Path(state_dir or default_state_dir())
        self.log = log
        self.eviction_deadline_s = eviction_deadline_s
        self.ledger: Ledger | None = None
        self.api = None
        self.core = None
        self.accepted: dict[str, Any] = {}
        self._cordon_undos: dict[str, Undo] = {}
        self._suspended: dict[str, str] = {}  # pod -> the node cordoned to hold it down
        self._logs_dir: Path | None = None  # pod_logs() writes here; close() removes it
        self._kind_nodes = kind_nodes
        self.docker = docker  # the docker command that reaches kind's node containers
        # kind names each node's container after the node; stand-in nodes in tests may differ.
        self.container = node_container or (lambda node: node)

    # --- lifecycle ------------------------------------------------------------------------

    def up(self) -> "KubePlatform":
        """Connect, pass the wrong-cluster guard, heal what crashed runs left. Changes nothing in
        the cluster before the guard accepted the context."""
        client, _ = _kube()
        self.api, self.kubeconfig, self.context = api_client(self.kubeconfig, self.context)
        self.core = client.CoreV1Api(self.api)
        self.accepted = check_context(self.api, self.context, self.allow)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for line in heal_stale(self.state_dir, log=self.log):
            self.log(f"healed leftover of a crashed run: {line}")
        self.ledger = Ledger(self.run_id, self.state_dir)
        self.log(f"kube platform up: context {self.context} ({self.accepted['accepted_by']}), "
                 f"{len(self.nodes())} nodes, namespaces {', '.join(self.namespaces)} (run {self.run_id})")
        return self

    def close(self) -> None:
        """Undo what is still applied (cordons, kind faults), then drop the ledger."""
        if self.ledger is None:
            return
        errors = []
        for node in list(self._cordon_undos):
            try:
                self.uncordon(node)
            except Exception as exc:
                errors.append(f"uncordon {node}: {exc}")
        if self._kind_nodes is not None:
            try:
                self._kind_nodes.heal_all()
            except Exception as exc:
                errors.append(f"kind node faults: {exc}")
        self.ledger.close()
        if self._logs_dir is not None:
            shutil.rmtree(self._logs_dir, ignore_errors=True)
        if self.api is not None:
            self.api.close()
        if errors:
            raise PlatformError("teardown incomplete (run `chaos heal`): " + "; ".join(errors))

    def __enter__(self) -> "KubePlatform":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.close()

    def pending_fault_undos(self) -> list[Undo]:
        from ..ledger import pending_undos

        return pending_undos(self.ledger.path) if self.ledger and self.ledger.path.exists() else []

    def _record(self, action: str, what: str, **args: Any) -> Undo:
        assert self.ledger is not None, "platform is not up"
        return self.ledger.record(action, what, **args)

    # --- inventory ------------------------------------------------------------------------

    def _node_objects(self) -> list[Any]:
        return self.core.list_node(_request_timeout=15).items

    @staticmethod
    def _node_of(obj) -> Node:
        labels = obj.metadata.labels or {}
        ip = next((a.address for a in (obj.status.addresses or []) if a.type == "InternalIP"), "")
        return Node(obj.metadata.name, labels.get(ZONE_LABEL, ""), ip)

    def nodes(self) -> list[Node]:
        return [self._node_of(n) for n in self._node_objects()]

    def node(self, name: str) -> Node:
        for n in self.nodes():
            if n.name == name:
                return n
        raise InvalidConfig(f"no node named {name!r}", field="node")

    def nodes_in_zone(self, zone: str) -> list[Node]:
        return [n for n in self.nodes() if n.zone == zone]

    def _pod_of(self, obj, zones: dict[str, str]) -> KubePod:
        st = obj.status
        ready = any(c.type == "Ready" and c.status == "True" for c in (st.conditions or []))
        restarts = sum(c.restart_count for c in (st.container_statuses or []))
        owner = next((f"{o.kind}/{o.name}" for o in (obj.metadata.owner_references or []) if o.controller), None)
        ports = [p.container_port for c in obj.spec.containers for p in (c.ports or [])]
        node = obj.spec.node_name
        return KubePod(name=obj.metadata.name, namespace=obj.metadata.namespace, node=node,
                       zone=zones.get(node) if node else None, uid=obj.metadata.uid, ip=st.pod_ip,
                       phase=st.phase or "Unknown", ready=ready, restarts=restarts,
                       component=(obj.metadata.labels or {}).get(COMPONENT_LABEL), owner=owner,
                       port=ports[0] if ports else None)

    def _pod_objects(self, selector: str | None = None, field: str | None = None) -> list[Any]:
        out = []
        for ns in self.namespaces:
            out += self.core.list_namespaced_pod(ns, label_selector=selector, field_selector=field,
                                                 _request_timeout=15).items
        return out

    def pods(self, component: str | None = None) -> list[KubePod]:
        zones = {n.name: n.zone for n in self.nodes()}
        selector = f"{COMPONENT_LABEL}={component}" if component else None
        return [self._pod_of(p, zones) for p in self._pod_objects(selector)
                if p.metadata.deletion_timestamp is None]

    def pod(self, name: str) -> KubePod:
        for p in self.pods():
            if p.name == name:
                return p
        raise InvalidConfig(f"no pod named {name!r} in {', '.join(self.namespaces)}", field="pod")

    def _find_pod(self, name: str) -> KubePod | None:
        try:
            return self.pod(name)
        except InvalidConfig:
            return None

    def pod_running(self, name: str) -> bool:
        pod = self._find_pod(name)
        return pod is not None and pod.running

    def node_state(self, name: str) -> dict[str, bool]:
        obj = self.core.read_node(name, _request_timeout=15)
        ready = any(c.type == "Ready" and c.status == "True" for c in (obj.status.conditions or []))
        return {"schedulable": not obj.spec.unschedulable, "up": ready}

    def pod_endpoint(self, name: str) -> tuple[str | None, int | None]:
        pod = self.pod(name)
        return pod.ip, pod.port

    def pod_logs(self, names: Sequence[str]) -> dict[str, Path]:
        """pod -> a file with its containers' logs as they are now (chaos.platforms.kube_logs), in
        a directory of this platform's that close() removes."""
        from .kube_logs import write_pod_logs

        if self._logs_dir is None:
            self._logs_dir = Path(tempfile.mkdtemp(prefix="chaos-pod-logs-"))
        wanted = set(names)
        return write_pod_logs(self.core, [(p.name, p.namespace) for p in self.pods() if p.name in wanted],
                              self._logs_dir)

    # --- raw actions for faults ---------------------------------------------------------------

    def kill_pod(self, name: str, sig: int = signal.SIGKILL, timeout_s: float = 60.0) -> dict[str, Any]:
        """Delete the pod: grace period 0 for SIGKILL, the pod's own for SIGTERM. Proven when the
        pod object with the old UID is gone (its controller then makes a new one).

        A deletion alone is never a crash: even at grace 0 the kubelet sends SIGTERM and waits
        at least 2 s before SIGKILL, so a server shuts down cleanly (Redis hands its slots to a
        replica). On kind a SIGKILL therefore first kills the pod's containers from the node
        (`sigkill_from_node`) and proof requires it; elsewhere, with no node access, the proof
        says the delivery was the kubelet's."""
        client, _ = _kube()
        pod = self.pod(name)  # only the stack's namespaces are searched
        grace = 0 if sig == signal.SIGKILL else None
        crash = self._sigkill_from_node(pod) if sig == signal.SIGKILL else None
        t0 = time.monotonic()
        self.core.delete_namespaced_pod(name, pod.namespace, grace_period_seconds=grace,
                                        body=client.V1DeleteOptions(grace_period_seconds=grace,
                                                                    preconditions=client.V1Preconditions(uid=pod.uid)),
                                        _request_timeout=15)
        def old_gone() -> bool:
            current = self._raw_pod(name, pod.namespace)
            return current is None or current.metadata.uid != pod.uid

        gone_s = round(time.monotonic() - t0, 3) if poll_until(old_gone, timeout_s) else None
        killed = crash is None or (bool(crash["killed"]) and not crash["errors"])
        delivery = ("the kubelet: SIGTERM, SIGKILL after at least 2 s (no node access)" if crash is None
                    else "SIGKILL from the node's containerd, then the pod deleted")
        return {"pod": name, "namespace": pod.namespace, "node": pod.node, "signal": signal.Signals(sig).name,
                "delivery": delivery if sig == signal.SIGKILL else "the pod's own grace period",
                "sigkill_from_node": crash, "grace_period_s": grace, "instance": pod.uid, "uid": pod.uid,
                "restarts_before": pod.restarts, "owner": pod.owner, "old_instance_gone_after_s": gone_s,
                "proven": gone_s is not None and killed}

    def _sigkill_from_node(self, pod: KubePod) -> dict[str, Any] | None:
        """On kind: SIGKILL the pod's running containers from its node (KindNodes.kill_containers).
        None where the nodes are out of reach (a cluster that is not kind)."""
        if not self.context.startswith(KIND_PREFIX) or not pod.node:
            return None
        raw = self._raw_pod(pod.name, pod.namespace)
        statuses = (raw.status.container_statuses or []) if raw is not None and raw.status else []
        ids = [st.container_id.split("://", 1)[1] for st in statuses
               if st.container_id and st.state is not None and st.state.running is not None]
        if not ids:
            return {"killed": [], "errors": [f"pod {pod.name} has no running container to kill"]}
        return self._kind().kill_containers(self.container(pod.node), ids)

    def _raw_pod(self, name: str, namespace: str):
        try:
            return self.core.read_namespaced_pod(name, namespace, _request_timeout=15)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise

    def wait_pod_restarted(self, name: str, old_instance: str, timeout_s: float) -> str | None:
        """The new pod's UID once a pod of that name with another UID is Ready (a StatefulSet
        keeps the name), None if none was in time."""
        found: list[str] = []

        def replaced() -> bool:
            pod = self._find_pod(name)
            if pod is not None and pod.uid != old_instance and pod.running:
                found.append(pod.uid)
            return bool(found)

        return found[0] if poll_until(replaced, timeout_s, poll_s=0.2) else None

    def suspend_pod(self, name: str) -> dict[str, Any]:
        """Hold the pod down until resume_pod: cordon its node, then delete it with grace 0. A
        StatefulSet's replacement can then only start where its persistent volume lives (that
        node: local volumes, as on kind) or where its anti-affinity leaves room; with neither
        schedulable it stays Pending. Whether it did is the caller's proof (pod_running)."""
        pod = self.pod(name)
        if pod.node is None:
            raise PlatformError(f"pod {name} is not on a node: nothing to hold down")
        self.cordon(pod.node)
        self._suspended[name] = pod.node
        killed = self.kill_pod(name, signal.SIGKILL)
        # Give the controller the time to create the replacement, then see that it cannot run.
        time.sleep(1.0)
        replacement = self._find_pod(name)
        running = replacement is not None and replacement.running
        return {"pod": name, "pid": pod.uid, "node": pod.node, "held_by": f"cordon {pod.node}",
                "processes_killed": 1 if killed["proven"] else 0, "processes_left": 1 if running else 0,
                "replacement_phase": replacement.phase if replacement is not None else None}

    def resume_pod(self, name: str) -> None:
        node = self._suspended.pop(name, None)
        if node is not None:
            self.uncordon(node)

    def cordon(self, node: str) -> None:
        """Mark the node unschedulable; the undo (uncordon) goes to the ledger first. A node that
        was cordoned already stays so after the heal."""
        if not self.node_state(node)["schedulable"]:
            self._cordon_undos[node] = self._record("noop", f"cordon {node} (it was cordoned already)")
            return
        self._cordon_undos[node] = self._record("kube-uncordon", f"cordon {node}", kubeconfig=self.kubeconfig,
                                                context=self.context, node=node)
        self.core.patch_node(node, {"spec": {"unschedulable": True}}, _request_timeout=15)

    def uncordon(self, node: str) -> None:
        undo = self._cordon_undos.pop(node, None)
        if undo is not None:
            self.ledger.undo(undo)

    def stop_node_pods(self, node: str, grace_s: float | None = None,
                       deadline_s: float | None = None) -> dict[str, Any]:
        """Evict every stack pod on the node that no DaemonSet owns, through the Eviction API, so
        PodDisruptionBudgets are honoured: a 429 is retried with backoff (0.5 s doubling to 5 s)
        until the deadline; pods still refused then are reported under "blocked". Pods of other
        namespaces on the node are listed, never touched."""
        client, _ = _kube()
        deadline = time.monotonic() + (self.eviction_deadline_s if deadline_s is None else deadline_s)
        zones = {n.name: n.zone for n in self.nodes()}
        on_node = self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}",
                                                        _request_timeout=15).items
        outside = sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in on_node
                         if p.metadata.namespace not in self.namespaces)
        pending: dict[str, dict[str, Any]] = {}
        skipped = []
        for obj in on_node:
            if obj.metadata.namespace not in self.namespaces:
                continue
            pod = self._pod_of(obj, zones)
            if (pod.owner or "").startswith("DaemonSet/"):
                skipped.append(pod.name)
                continue
            pending[pod.uid] = {"pod": pod.name, "namespace": pod.namespace, "uid": pod.uid,
                                "was_running": pod.running, "attempts": 0, "refusals": 0, "evicted": False}
        t0 = time.monotonic()
        backoff = 0.5
        waiting = dict(pending)
        while waiting:
            for uid, entry in list(waiting.items()):
                entry["attempts"] += 1
                body = client.V1Eviction(
                    metadata=client.V1ObjectMeta(name=entry["pod"], namespace=entry["namespace"]),
                    delete_options=client.V1DeleteOptions(grace_period_seconds=None if grace_s is None
                                                          else int(grace_s),
                                                          preconditions=client.V1Preconditions(uid=uid)))
                try:
                    self.core.create_namespaced_pod_eviction(entry["pod"], entry["namespace"], body,
                                                             _request_timeout=15)
                    entry["evicted"] = True
                    entry["evicted_after_s"] = round(time.monotonic() - t0, 3)
                    waiting.pop(uid)
                except Exception as exc:
                    status = _status(exc)
                    if status in (404, 409):  # gone already, or replaced (UID precondition)
                        entry["evicted"] = True
                        entry["note"] = "gone before eviction"
                        waiting.pop(uid)
                    elif status in (429, 500):  # 500: several budgets match the pod
                        entry["refusals"] += 1
                        entry["blocked_by"] = _reason(exc)
                    else:
                        raise PlatformError(f"eviction of {entry['pod']} failed: {exc}") from exc
            if not waiting or time.monotonic() + backoff > deadline:
                break
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
        blocked = [e["pod"] for e in waiting.values()]
        # Evicted pods are deleted gracefully: wait (bounded) until none of the old UIDs is on the node.
        evicted_uids = {uid for uid, e in pending.items() if e["evicted"]}
        left: set[str] = set(evicted_uids)

        def evicted_gone() -> bool:
            nonlocal left
            left = {p.metadata.uid for p in self.core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={node}", _request_timeout=15).items}
            return not evicted_uids & left

        poll_until(evicted_gone, max(deadline - time.monotonic(), 0) + (grace_s or 30.0), poll_s=0.2)
        still = sorted(e["pod"] for uid, e in pending.items() if uid in evicted_uids and uid in left)
        for uid, entry in pending.items():
            if entry["evicted"] and uid not in left:
                entry["gone_after_s"] = round(time.monotonic() - t0, 3)
        cordoned = not self.node_state(node)["schedulable"]
        evicted = [e for e in pending.values() if e["evicted"]]
        return {"node": node, "pods": list(pending.values()), "blocked": blocked, "still_running": still,
                "daemonset_pods_skipped": skipped, "outside_stack_untouched": outside, "cordoned": cordoned,
                "proven": cordoned and bool(evicted) and not blocked and not still}

    # --- kind node faults: a node is a container of the same name ----------------------------

    def _kind(self):
        if not self.context.startswith(KIND_PREFIX):
            raise InvalidConfig(f"node crash and zone partition need a kind cluster; {self.context!r} is not one",
                                field="fault", fix="run node crash and zone partition experiments on kind")
        if self._kind_nodes is None:
            from .kind_nodes import KindNodes

            self._kind_nodes = KindNodes(self.ledger, self.run_id, self.docker)
        return self._kind_nodes

    def crash_node(self, node: str) -> dict[str, Any]:
        """Stop the node's container hard (SIGKILL to everything in it). Proven when it no
        longer runs; the fault adds whether the clients still reach the target."""
        proof = self._kind().crash(self.container(node))
        proof["node"] = node
        proof["proven"] = not proof["running"]
        return proof

    def restore_node(self, node: str, ready_timeout_s: float = 120.0) -> None:
        """Start the node's container again and wait until the API server has the node Ready."""
        self._kind().restore(self.container(node), ready_timeout_s)
        if not poll_until(lambda: self.node_state(node)["up"], ready_timeout_s, poll_s=0.5):
            raise PlatformError(f"node {node} not Ready {ready_timeout_s:.0f} s after its container started")

    def partition(self, zone: str, *, cut_clients: bool = False) -> dict[str, Any]:
        """DROP rules inside the node containers between the zone's nodes (and their pod CIDRs)
        and every other node, the control plane included; with cut_clients the zone also drops
        the docker network's gateway, where clients on the host come from."""
        objs = self._node_objects()
        inside = [o.metadata.name for o in objs if (o.metadata.labels or {}).get(ZONE_LABEL) == zone]
        outside = [o.metadata.name for o in objs if o.metadata.name not in inside]
        if not inside:
            raise InvalidConfig(f"no nodes in zone {zone!r}", field="zone",
                                fix=f"one of {sorted({n.zone for n in self.nodes() if n.zone})}")
        cidrs = {self.container(o.metadata.name): list(dict.fromkeys(
            c for c in [o.spec.pod_cidr, *(o.spec.pod_cidrs or [])] if c)) for o in objs}
        kind = self._kind()
        zone_containers = [self.container(n) for n in inside]
        peers = kind.gateways(zone_containers[0]) if cut_clients else []
        proof = kind.partition(zone_containers, [self.container(n) for n in outside], self.run_id,
                               extra_cidrs=cidrs, extra_peers=peers)
        proof.update(zone=zone, cut_clients=cut_clients,
                     proven=proof["rules_present"] == proof["rules_added"] > 0)
        return proof

    def heal_partition(self) -> dict[str, Any]:
        return self._kind().heal_partition()

    def reachable(self, from_node: str | None, to_ip: str, port: int, timeout_s: float = 1.0) -> bool:
        """A TCP connection from a node's container (None: from this host, where the clients run)."""
        if from_node is None:
            from .local_host import tcp_reachable

            return tcp_reachable(to_ip, port, timeout_s)
        return self._kind().reachable(self.container(from_node), to_ip, port, timeout_s)


def _reason(exc: Exception) -> str:
    body = getattr(exc, "body", None) or str(exc)
    try:
        import json

        return json.loads(body).get("message", body)[:300]
    except Exception:
        return str(body)[:300]
