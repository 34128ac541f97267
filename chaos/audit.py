"""The high-availability posture audit: `chaos audit` over manifest files or a live namespace.

Each workload (StatefulSet, Deployment) is checked against the guidelines the stack is deployed
by (docs/components.md); each violation names the object, the rule and the fix:

  replicas            fewer replicas than the component's HA minimum
  hostname-anti-affinity  no required pod anti-affinity on kubernetes.io/hostname
  zone-spread         no topology spread constraint on topology.kubernetes.io/zone
  pdb                 no PodDisruptionBudget selects the pods
  pdb-allows-none     the budget allows no disruption at all (a drain can never finish)
  probes              a container without a startup, liveness or readiness probe
  restart-policy      a restart policy other than Always
  graceful-termination  no preStop hook, or a termination grace period of 0
  ephemeral-storage   a stateful component without persistent volumes

The component of a workload is its app.kubernetes.io/name label (else its name); components
not in HA_MINIMUM need at least two replicas.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import yaml

from .errors import InvalidConfig

__all__ = ["Violation", "Origin", "audit_objects", "load_manifests", "live_objects", "HA_MINIMUM", "RULES",
           "format_text"]

HA_MINIMUM = {"postgres": 3, "postgresql": 3, "redis": 6, "zookeeper": 3, "kafka": 3, "elasticsearch": 3,
              "clickhouse": 3, "minio": 4, "flink-jobmanager": 2, "flink-taskmanager": 2}
STATEFUL = {"postgres", "postgresql", "redis", "zookeeper", "kafka", "elasticsearch", "clickhouse", "minio"}
WORKLOADS = ("StatefulSet", "Deployment")
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
RULES = {
    "replicas": "raise spec.replicas to the component's HA minimum",
    "hostname-anti-affinity": "add spec.template.spec.affinity.podAntiAffinity."
                              "requiredDuringSchedulingIgnoredDuringExecution with topologyKey "
                              f"{HOSTNAME} selecting the workload's own pods",
    "zone-spread": f"add a topologySpreadConstraint with topologyKey {ZONE}, maxSkew 1, selecting the pods",
    "pdb": "add a PodDisruptionBudget selecting the pods (maxUnavailable: 1)",
    "pdb-allows-none": "let the budget allow one disruption (maxUnavailable: 1, or minAvailable below replicas)",
    "probes": "add startupProbe, livenessProbe and readinessProbe to the container",
    "restart-policy": "set spec.template.spec.restartPolicy to Always (or leave it out)",
    "graceful-termination": "add a lifecycle.preStop hook and a terminationGracePeriodSeconds long enough for "
                            "it (and a PID 1 that passes SIGTERM on)",
    "ephemeral-storage": "use volumeClaimTemplates (persistent volumes) for the data directory, not emptyDir",
}


@dataclass(frozen=True)
class Origin:
    """Where an object came from: a manifest file and the 1-based line its object starts on (an
    editor or a CI annotation can jump there), or a live namespace (file "live", no line)."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class Violation:
    kind: str
    namespace: str
    name: str
    rule: str
    message: str
    fix: str
    source: str = ""  # file:line, or "live"
    line: int | None = None  # where the object starts in the file; None for a live object

    @property
    def object(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _documents(text: str) -> Iterator[tuple[Any, yaml.Node]]:
    """Each YAML document with its node, whose start mark is where the object begins (its first
    key: after the `---` and any comments before it)."""
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield loader.construct_document(node), node
    finally:
        loader.dispose()


def _item_nodes(node: yaml.Node) -> list[yaml.Node]:
    """The nodes of a List's items, in order (empty if the document has none)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "items" and isinstance(value, yaml.SequenceNode):
                return value.value
    return []


def load_manifests(paths: Iterable[str | Path], *,
                   log: Callable[[str], None] | None = None) -> list[tuple[dict[str, Any], Origin]]:
    """Every object of the YAML files (directories: their *.yaml and *.yml), with where it came
    from; a List's items count one by one. Unparseable input is the user's error, named. A
    document that is not a Kubernetes object is an error in a file named explicitly; in a
    directory it is skipped, and said through log (a directory holds other YAML too)."""
    files: list[tuple[Path, bool]] = []  # (file, named explicitly)
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += [(p, False) for p in sorted(path.rglob("*")) if p.suffix in (".yaml", ".yml")]
        elif path.is_file():
            files.append((path, True))
        else:
            raise InvalidConfig(f"no such file or directory: {path}", field="audit", fix="give manifest files or "
                                "directories, or --namespace for a live one")
    objects = []
    for path, explicit in files:
        try:
            docs = list(_documents(path.read_text()))
        except yaml.YAMLError as exc:
            raise InvalidConfig(f"{path} is not valid YAML: {exc}", field="audit") from exc
        for doc, node in docs:
            if doc is None:
                continue
            where = Origin(str(path), node.start_mark.line + 1)
            if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
                if explicit:
                    raise InvalidConfig(f"{where}: not a Kubernetes object (no kind)", field="audit",
                                        fix="name only Kubernetes manifests; in a directory, other YAML is skipped")
                if log:
                    log(f"skipped {where}: not a Kubernetes object (no kind)")
                continue
            if not doc["kind"].endswith("List"):
                objects.append((doc, where))
                continue
            # Items in the order of their nodes: each one's own line.
            objects += [(item, Origin(str(path), item_node.start_mark.line + 1))
                        for item, item_node in zip(doc.get("items") or [], _item_nodes(node))]
    return objects


def live_objects(api, namespace: str) -> list[tuple[dict[str, Any], Origin]]:
    """The namespace's StatefulSets, Deployments and PodDisruptionBudgets, as manifests."""
    from kubernetes import client

    apps, policy = client.AppsV1Api(api), client.PolicyV1Api(api)
    out = []
    for kind, items in (("StatefulSet", apps.list_namespaced_stateful_set(namespace).items),
                        ("Deployment", apps.list_namespaced_deployment(namespace).items),
                        ("PodDisruptionBudget", policy.list_namespaced_pod_disruption_budget(namespace).items)):
        for item in items:
            obj = api.sanitize_for_serialization(item)
            obj["kind"] = kind
            out.append((obj, Origin("live")))
    return out


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) against labels."""
    if not selector:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def _budget_allows_none(pdb: dict[str, Any], replicas: int) -> bool:
    spec = pdb.get("spec") or {}
    if "maxUnavailable" in spec and spec["maxUnavailable"] is not None:
        value = spec["maxUnavailable"]
        return value in (0, "0", "0%")
    if "minAvailable" in spec and spec["minAvailable"] is not None:
        value = spec["minAvailable"]
        if isinstance(value, str) and value.endswith("%"):
            return int(value[:-1]) >= 100
        return int(value) >= replicas
    return False


def _component(obj: dict[str, Any]) -> str:
    """app.kubernetes.io/name of the pods (Flink: flink-jobmanager / flink-taskmanager from its
    component label), else the object's name."""
    meta = obj.get("metadata") or {}
    template_meta = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
    labels = {**(meta.get("labels") or {}), **(template_meta.get("labels") or {})}
    name = labels.get("app.kubernetes.io/name") or meta.get("name", "")
    part = labels.get("app.kubernetes.io/component")
    return f"{name}-{part}" if name == "flink" and part else name


def audit_objects(objects: list[tuple[dict[str, Any], Origin]]) -> tuple[list[Violation], int]:
    """(violations, workloads checked)."""
    pdbs = [(o, src) for o, src in objects if o.get("kind") == "PodDisruptionBudget"]
    violations: list[Violation] = []
    checked = 0
    for obj, src in objects:
        if obj.get("kind") not in WORKLOADS:
            continue
        checked += 1
        meta = obj.get("metadata") or {}
        ns, name, kind = meta.get("namespace") or "default", meta.get("name", "?"), obj["kind"]
        spec = obj.get("spec") or {}
        template = spec.get("template") or {}
        pod = template.get("spec") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        component = _component(obj)
        replicas = spec.get("replicas", 1) if spec.get("replicas") is not None else 1

        def flag(rule: str, message: str) -> None:
            violations.append(Violation(kind, ns, name, rule, message, RULES[rule], str(src), src.line))

        minimum = HA_MINIMUM.get(component, 2)
        if replicas < minimum:
            flag("replicas", f"{replicas} replica(s); {component} needs at least {minimum} for high availability")
        anti = ((pod.get("affinity") or {}).get("podAntiAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution") or []
        if not any(t.get("topologyKey") == HOSTNAME and _matches(t.get("labelSelector"), labels) for t in anti):
            flag("hostname-anti-affinity", "two replicas may share a node: no required anti-affinity on the hostname "
                 "selecting these pods")
        spread = pod.get("topologySpreadConstraints") or []
        if not any(c.get("topologyKey") == ZONE and _matches(c.get("labelSelector"), labels) for c in spread):
            flag("zone-spread", "replicas may crowd into one zone: no topology spread constraint on the zone")
        budgets = [p for p, _ in pdbs if ((p.get("metadata") or {}).get("namespace") or "default") == ns
                   and _matches((p.get("spec") or {}).get("selector"), labels)]
        if not budgets:
            flag("pdb", "no PodDisruptionBudget selects these pods: a drain may take them all down")
        for b in budgets:
            if _budget_allows_none(b, replicas):
                flag("pdb-allows-none", f"PodDisruptionBudget {(b.get('metadata') or {}).get('name')} allows no "
                     "disruption: a node drain can never finish")
        for c in pod.get("containers") or []:
            missing = [p for p in ("startupProbe", "livenessProbe", "readinessProbe") if not c.get(p)]
            if missing:
                flag("probes", f"container {c.get('name')} has no {', '.join(missing)}")
        policy = pod.get("restartPolicy", "Always")
        if policy != "Always":
            flag("restart-policy", f"restartPolicy is {policy}")
        grace = pod.get("terminationGracePeriodSeconds")
        has_prestop = any(((c.get("lifecycle") or {}).get("preStop")) for c in pod.get("containers") or [])
        if grace == 0 or not has_prestop:
            why = "terminationGracePeriodSeconds is 0" if grace == 0 else "no container has a preStop hook"
            flag("graceful-termination", why)
        if component in STATEFUL:
            claims = spec.get("volumeClaimTemplates") or []
            pvc_volumes = [v for v in pod.get("volumes") or [] if v.get("persistentVolumeClaim")]
            if not claims and not pvc_volumes:
                flag("ephemeral-storage", f"{component} keeps state, but no volume is persistent")
    return violations, checked


def format_text(violations: list[Violation], checked: int) -> str:
    if not violations:
        return f"chaos audit: {checked} workload(s) checked, no violation"
    lines = []
    for v in violations:
        lines.append(f"{v.object}  [{v.rule}]  {v.message}" + (f"  ({v.source})" if v.source else ""))
        lines.append(f"    fix: {v.fix}")
    lines.append(f"chaos audit: {len(violations)} violation(s) in {len({v.object for v in violations})} of "
                 f"{checked} workload(s)")
    return "\n".join(lines)


def to_json(violations: list[Violation], checked: int) -> str:
    return json.dumps({"workloads_checked": checked, "violations": [
        {**asdict(v), "object": v.object} for v in violations]}, indent=2)
