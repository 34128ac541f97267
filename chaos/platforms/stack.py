"""The stack deployer: applies fixtures/kind/<dir>/ manifests for one component (its dependencies
from stack.yaml first), waits until every workload of it is Ready, and explains a wait that failed.

stack.yaml (fixtures/kind/stack.yaml) is validated before anything is sent to a cluster: unknown
keys, missing directories, unknown or cyclic dependencies and image overrides for unknown keys are
InvalidConfig errors naming the field. Manifests are plain YAML; every object must be namespaced
and in the stack's namespace (the deployer creates the Namespace itself), and every container
image must be one of stack.yaml's `images` (overrides are substituted by matching those strings).

Objects are applied with server-side apply (field manager "chaos-harness", conflicts forced), so
a second deploy of a deployed component changes nothing (no resourceVersion moves). The wait is
on every StatefulSet and Deployment (observed generation current, ready == updated == replicas)
and Job (succeeded); on timeout the ChaosError names each not-ready pod's phase, conditions and
container states, the namespace's recent events for those objects, the last log lines of the
failing containers, and a hint chosen from what was seen (choose_hints).

    deployer = StackDeployer(api_client, images={"redis": "redis:7.4.6"}, log=print)
    deployer.deploy("clickhouse", timeout_s=600)   # zookeeper first, then clickhouse
    deployer.endpoints("clickhouse")               # [(pod, ip, 8123), ...] sorted by pod
    deployer.remove("clickhouse")                  # its objects and its PVCs, not zookeeper's
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import InvalidConfig, PlatformError

__all__ = ["StackDeployer", "Stack", "StackComponent", "StackNotReady", "load_stack", "parse_image_options",
           "resolve_images", "load_manifests", "workload_ready", "pod_problems", "choose_hints", "env_key",
           "STACK_FILE", "REPO", "FIELD_MANAGER", "IMAGE_ENV_PREFIX", "COMPONENT_LABEL", "PART_OF_LABEL"]

REPO = Path(__file__).resolve().parents[2]
STACK_FILE = REPO / "fixtures" / "kind" / "stack.yaml"
FIELD_MANAGER = "chaos-harness"
IMAGE_ENV_PREFIX = "CHAOS_IMAGE_"
COMPONENT_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
TOP_KEYS = {"namespace", "images", "build", "components"}
COMPONENT_KEYS = {"dir", "depends", "pods"}
# Apply order: what others refer to first, workloads last (like Helm's install order).
APPLY_ORDER = ("NetworkPolicy", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret", "ConfigMap",
               "PersistentVolumeClaim", "Role", "RoleBinding", "Service", "PodDisruptionBudget")
LOG_LINES = 20
EVENTS_PER_OBJECT = 6
REQUEST_TIMEOUT_S = 20
# Waiting reasons no amount of waiting fixes: fail at once instead of at the deadline.
TERMINAL_WAITING = ("ErrImageNeverPull", "InvalidImageName")
IMAGE_WAITING = ("ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull")


# --- stack.yaml ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StackComponent:
    name: str
    dir: Path
    depends: tuple[str, ...]
    pods: tuple[str, ...]  # app.kubernetes.io/name labels of its pods


@dataclass(frozen=True)
class Stack:
    path: Path
    namespace: str
    images: dict[str, str]  # key -> pinned reference, as in the manifests
    build: dict[str, Path]  # key -> build context (a Dockerfile inside)
    components: dict[str, StackComponent]

    def component(self, name: str) -> StackComponent:
        if name not in self.components:
            raise InvalidConfig(f"no component {name!r} in {self.path}", field="component",
                                fix=f"one of: {', '.join(self.components)}")
        return self.components[name]

    def order(self, name: str) -> list[str]:
        """The component's dependencies (transitively, each once) then the component itself."""
        self.component(name)
        return _topo(self.components, [name])

    def labels_of(self, name: str) -> tuple[str, ...]:
        """Pod labels of a component, or the label itself when `name` is one of them."""
        if name in self.components:
            return self.components[name].pods
        for comp in self.components.values():
            if name in comp.pods:
                return (name,)
        raise InvalidConfig(f"no component or pod label {name!r} in {self.path}", field="component",
                            fix=f"one of: {', '.join(self.components)}")


def env_key(key: str) -> str:
    """The environment variable that overrides an image key: CHAOS_IMAGE_<KEY>, '-' -> '_'."""
    return IMAGE_ENV_PREFIX + key.upper().replace("-", "_")


def _topo(components: Mapping[str, StackComponent], roots: Iterable[str]) -> list[str]:
    order: list[str] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise InvalidConfig(f"dependency cycle: {' -> '.join(cycle)}", field=f"components.{name}.depends",
                                fix="remove one of the dependencies")
        state[name] = "visiting"
        for dep in components[name].depends:
            visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for root in roots:
        visit(root, [])
    return order


def _yaml():
    try:
        import yaml
    except ImportError as exc:
        from ..errors import MissingPrerequisite

        raise MissingPrerequisite("python module yaml missing", field="stack", fix="pip install PyYAML") from exc
    return yaml


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidConfig(f"must be a list of names, got {value!r}", field=where)
    return tuple(value)


def load_stack(path: str | Path = STACK_FILE, *, root: str | Path | None = None,
               check_dirs: bool = True) -> Stack:
    """Read and validate stack.yaml. `root`: what `build` contexts are relative to (default: the
    repository when the file is inside it, else the file's directory). check_dirs=False skips
    the existence checks of manifest and build directories (to validate image keys alone)."""
    yaml = _yaml()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidConfig(f"cannot read {path}: {exc}", field="stack") from exc
    except yaml.YAMLError as exc:
        raise InvalidConfig(f"{path} is not YAML: {exc}", field="stack") from exc
    if not isinstance(data, dict):
        raise InvalidConfig(f"{path} must be a mapping", field="stack")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise InvalidConfig(f"unknown key(s) {', '.join(map(str, unknown))} in {path}", field=str(unknown[0]),
                            fix=f"known keys: {', '.join(sorted(TOP_KEYS))}")
    for key in ("namespace", "images", "components"):
        if key not in data:
            raise InvalidConfig(f"missing in {path}", field=key)
    namespace = data["namespace"]
    if not isinstance(namespace, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace or ""):
        raise InvalidConfig(f"not a namespace name: {namespace!r}", field="namespace")
    images = data["images"]
    if not isinstance(images, dict) or not images:
        raise InvalidConfig("must map image keys to references", field="images")
    for key, ref in images.items():
        if not isinstance(ref, str) or not ref or any(c.isspace() for c in ref):
            raise InvalidConfig(f"not an image reference: {ref!r}", field=f"images.{key}")
    if root is None:
        root = REPO if path.resolve().is_relative_to(REPO) else path.parent
    build: dict[str, Path] = {}
    for key, ctx in (data.get("build") or {}).items():
        if key not in images:
            raise InvalidConfig(f"build entry for an image key that is not in images: {key!r}",
                                field=f"build.{key}", fix=f"image keys: {', '.join(images)}")
        if not isinstance(ctx, str) or not ctx:
            raise InvalidConfig(f"must be a directory, got {ctx!r}", field=f"build.{key}")
        build[key] = (Path(root) / ctx).resolve()
        if check_dirs and not build[key].is_dir():
            raise InvalidConfig(f"build context {build[key]} does not exist", field=f"build.{key}")
    raw = data["components"]
    if not isinstance(raw, dict) or not raw:
        raise InvalidConfig("must map component names to {dir, depends, pods}", field="components")
    components: dict[str, StackComponent] = {}
    for name, spec in raw.items():
        where = f"components.{name}"
        if not isinstance(spec, dict):
            raise InvalidConfig(f"must be a mapping, got {spec!r}", field=where)
        unknown = sorted(set(spec) - COMPONENT_KEYS)
        if unknown:
            raise InvalidConfig(f"unknown key(s) {', '.join(map(str, unknown))}", field=f"{where}.{unknown[0]}",
                                fix=f"known keys: {', '.join(sorted(COMPONENT_KEYS))}")
        if not isinstance(spec.get("dir"), str) or not spec["dir"]:
            raise InvalidConfig("missing (the component's manifest directory)", field=f"{where}.dir")
        d = (path.parent / spec["dir"]).resolve()
        if check_dirs and not d.is_dir():
            raise InvalidConfig(f"manifest directory {d} does not exist", field=f"{where}.dir")
        pods = _str_list(spec.get("pods"), f"{where}.pods")
        if not pods:
            raise InvalidConfig("missing (the app.kubernetes.io/name labels of its pods)", field=f"{where}.pods")
        components[str(name)] = StackComponent(str(name), d, _str_list(spec.get("depends"), f"{where}.depends"),
                                               pods)
    for comp in components.values():
        for dep in comp.depends:
            if dep not in components:
                raise InvalidConfig(f"depends on unknown component {dep!r}", field=f"components.{comp.name}.depends",
                                    fix=f"one of: {', '.join(components)}")
    _topo(components, components)  # every cycle is an error, deployed or not
    return Stack(path, namespace, {str(k): v for k, v in images.items()}, build, components)


def parse_image_options(values: Iterable[str]) -> dict[str, str]:
    """--chaos-image key=ref values -> {key: ref} (format only; keys are checked by resolve_images)."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, ref = value.partition("=")
        key, ref = key.strip(), ref.strip()
        if not sep or not key or not ref or any(c.isspace() for c in ref):
            raise InvalidConfig(f"expected key=image-reference, got {value!r}", field="--chaos-image",
                                fix="e.g. --chaos-image redis=redis:7.4.6")
        out[key] = ref
    return out


def resolve_images(stack: Stack, explicit: Mapping[str, str] | None = None,
                   env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The effective reference of every image key: stack.yaml's, replaced by CHAOS_IMAGE_<KEY>
    from the environment, replaced by an explicit override. An override for a key stack.yaml
    does not have is an InvalidConfig naming the known keys."""
    env = os.environ if env is None else env
    known = ", ".join(stack.images)
    by_env = {env_key(k): k for k in stack.images}
    effective = dict(stack.images)
    for var, ref in env.items():
        if not var.startswith(IMAGE_ENV_PREFIX):
            continue
        if var not in by_env:
            raise InvalidConfig(f"{var} overrides no image of {stack.path.name}", field=var,
                                fix=f"image keys: {known} (as {IMAGE_ENV_PREFIX}<KEY>, '-' -> '_')")
        if not ref.strip():
            raise InvalidConfig("empty image reference", field=var)
        effective[by_env[var]] = ref.strip()
    for key, ref in (explicit or {}).items():
        if key not in stack.images:
            raise InvalidConfig(f"no image key {key!r} in {stack.path.name}", field="--chaos-image",
                                fix=f"image keys: {known}")
        effective[key] = ref
    return effective


def _docs(path: Path) -> list[dict[str, Any]]:
    yaml = _yaml()
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise InvalidConfig(f"not YAML: {exc}", field=str(path)) from exc
    out = []
    for doc in docs:
        if doc is None:
            continue
        if isinstance(doc, dict) and doc.get("kind") == "List":
            out += [d for d in doc.get("items") or [] if d is not None]
        else:
            out.append(doc)
    return out


def _containers(obj: Any) -> Iterable[dict[str, Any]]:
    """Every container-like mapping (containers, initContainers, ephemeralContainers) in an object."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _containers(value)


def load_manifests(stack: Stack, component: str, images: Mapping[str, str] | None = None,
                   namespace: str | None = None) -> list[dict[str, Any]]:
    """The component's objects, validated, in apply order, images replaced by their effective
    references and put into `namespace` (default the stack's)."""
    comp = stack.component(component)
    namespace = namespace or stack.namespace
    replace = {stack.images[k]: ref for k, ref in (images or {}).items() if k in stack.images}
    files = sorted(p for p in comp.dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()) \
        if comp.dir.is_dir() else []
    if not files:
        raise InvalidConfig(f"no *.yaml manifests in {comp.dir}", field=f"components.{component}.dir")
    objects = []
    for path in files:
        for doc in _docs(path):
            where = f"{path.relative_to(comp.dir.parent) if comp.dir.parent in path.parents else path}"
            meta = doc.get("metadata") if isinstance(doc, dict) else None
            if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind") \
                    or not isinstance(meta, dict) or not meta.get("name"):
                raise InvalidConfig("every document needs apiVersion, kind and metadata.name", field=where)
            if doc["kind"] == "Namespace":
                raise InvalidConfig("the deployer creates the Namespace: remove it from the manifests", field=where)
            ns = meta.get("namespace")
            if ns not in (None, stack.namespace, namespace):
                raise InvalidConfig(f"{doc['kind']}/{meta['name']} is in namespace {ns!r}; the stack's is "
                                    f"{stack.namespace!r}", field=where)
            doc = json.loads(json.dumps(doc))  # a deep copy we may change
            doc["metadata"]["namespace"] = namespace
            for container in _containers(doc.get("spec")):
                ref = container.get("image")
                if ref not in stack.images.values():
                    raise InvalidConfig(f"{doc['kind']}/{meta['name']} container {container.get('name')!r} uses "
                                        f"image {ref!r}, which is not in stack.yaml's images", field=where,
                                        fix="add it to images (pinned) or use one of its references")
                container["image"] = replace.get(ref, ref)
            objects.append(doc)
    rank = {k: i for i, k in enumerate(APPLY_ORDER)}
    return sorted(objects, key=lambda o: (o["kind"] in WORKLOAD_KINDS, rank.get(o["kind"], len(rank))))


# --- readiness and diagnosis (pure: API JSON in, facts out) ----------------------------------------

def workload_ready(obj: Mapping[str, Any]) -> tuple[bool, str]:
    """Is a StatefulSet/Deployment/Job (API JSON) done rolling out? And a one-line summary."""
    kind, meta = obj.get("kind"), obj.get("metadata") or {}
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    name = f"{kind}/{meta.get('name')}"
    if kind == "Job":
        want = spec.get("completions") or 1
        failed = any(c.get("type") == "Failed" and c.get("status") == "True" for c in st.get("conditions") or [])
        summary = f"{name}: {st.get('succeeded') or 0}/{want} succeeded, {st.get('failed') or 0} failed"
        return (not failed and (st.get('succeeded') or 0) >= want), summary + (" (Job failed)" if failed else "")
    replicas = spec.get("replicas", 1)
    observed = (st.get("observedGeneration") or 0) >= (meta.get("generation") or 0)
    ready, updated = st.get("readyReplicas") or 0, st.get("updatedReplicas") or 0
    current = st.get("replicas") or 0
    ok = observed and ready == replicas and current == replicas
    strategy = (spec.get("updateStrategy") or spec.get("strategy") or {}).get("type")
    if strategy != "OnDelete":
        ok = ok and updated == replicas
    if kind == "Deployment":
        ok = ok and (st.get("availableReplicas") or 0) == replicas
    summary = (f"{name}: {ready}/{replicas} ready, {updated}/{replicas} updated"
               + ("" if observed else ", generation not observed yet"))
    return ok, summary


def job_failed(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Job" and any(c.get("type") == "Failed" and c.get("status") == "True"
                                            for c in (obj.get("status") or {}).get("conditions") or [])


def pod_ready(pod: Mapping[str, Any]) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") == "Succeeded":
        return True
    return st.get("phase") == "Running" and any(c.get("type") == "Ready" and c.get("status") == "True"
                                                 for c in st.get("conditions") or [])


def pod_problems(pod: Mapping[str, Any]) -> dict[str, Any]:
    """What is wrong with a pod (API JSON): phase, node, false conditions and container states."""
    meta, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    conditions = [f"{c.get('type')}=False" + (f" {c['reason']}" if c.get("reason") else "")
                  + (f": {c['message']}" if c.get("message") else "")
                  for c in st.get("conditions") or [] if c.get("status") != "True"]
    containers = []
    for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
        entry: dict[str, Any] = {"name": cs.get("name"), "image": cs.get("image"), "ready": bool(cs.get("ready")),
                                 "restarts": cs.get("restartCount") or 0}
        if state.get("waiting"):
            entry["waiting"] = state["waiting"].get("reason")
            entry["waiting_message"] = state["waiting"].get("message")
        if state.get("terminated"):
            t = state["terminated"]
            entry["terminated"] = f"{t.get('reason')} (exit code {t.get('exitCode')})"
        if state.get("running"):
            entry["running_since"] = state["running"].get("startedAt")
        if last:
            entry["last_termination"] = f"{last.get('reason')} (exit code {last.get('exitCode')}) at " \
                                        f"{last.get('finishedAt')}"
        containers.append(entry)
    return {"name": meta.get("name"), "node": spec.get("nodeName"), "phase": st.get("phase") or "Unknown",
            "reason": st.get("reason"), "message": st.get("message"), "ready": pod_ready(pod),
            "conditions": conditions, "containers": containers,
            "images": [c.get("image") for c in spec.get("containers") or []]}


def _scheduling_fix(message: str) -> str:
    m = message.lower()
    fixes = []
    if "anti-affinity" in m:
        fixes.append("required pod anti-affinity needs one schedulable node per replica: a kind cluster from "
                     "kind-config.yaml has 2 workers per zone; uncordon nodes (`kubectl uncordon`) or lower replicas")
    if "topology spread" in m:
        fixes.append("zone spread (maxSkew 1, DoNotSchedule) needs schedulable nodes in every zone a/b/c")
    if "node affinity" in m or "node selector" in m or "nodeselector" in m:
        fixes.append("a nodeSelector/node affinity names a label no schedulable node has (zones are "
                     "topology.kubernetes.io/zone=a|b|c): fix the manifest or the node labels in kind-config.yaml")
    if "persistentvolumeclaim" in m or "volume" in m:
        fixes.append("a volume cannot be bound: storageClassName must be `standard` (kind's local-path), and a "
                     "pod whose volume lives on a lost node stays Pending until that node returns")
    if "insufficient" in m:
        fixes.append("the nodes lack the requested cpu/memory: lower the requests or give Docker more resources")
    if "unschedulable" in m or "taint" in m:
        fixes.append("nodes are cordoned or tainted: `kubectl uncordon <node>`, or `chaos heal` after a crashed run")
    return "; ".join(fixes) or "check node labels, taints and capacity (`kubectl describe nodes`)"


def choose_hints(pods: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]],
                 image_keys: Mapping[str, str] | None = None, cluster: str = "chaos") -> list[str]:
    """Hints from what the not-ready pods (pod_problems) and their events (API JSON) show."""
    image_keys = image_keys or {}
    hints: list[str] = []

    def add(text: str) -> None:
        if text not in hints:
            hints.append(text)

    for p in pods:
        for c in p["containers"]:
            waiting = c.get("waiting")
            if waiting in IMAGE_WAITING or waiting == "InvalidImageName":
                ref = c.get("image") or ", ".join(p.get("images") or [])
                key = image_keys.get(ref)
                override = (f"--chaos-image {key}=<ref> or {env_key(key)}=<ref>" if key
                            else "--chaos-image <key>=<ref>")
                add(f"{waiting}: image {ref} is not loaded on the kind nodes and cannot be pulled: build or pull it "
                    f"with docker, then `kind load docker-image {ref} --name {cluster}`; or point the key at an "
                    f"image that is there: {override}")
            elif waiting == "CrashLoopBackOff":
                add(f"CrashLoopBackOff: container {c['name']} of {p['name']} keeps exiting "
                    f"({c.get('last_termination') or 'no termination recorded'}): read its logs above")
            elif waiting == "CreateContainerConfigError":
                add(f"CreateContainerConfigError in {p['name']}: a ConfigMap, Secret or key the container refers to "
                    f"is missing: {c.get('waiting_message') or ''}".rstrip(": "))
            if "OOMKilled" in (c.get("last_termination") or "") + (c.get("terminated") or ""):
                add(f"OOMKilled: container {c['name']} of {p['name']} ran out of memory: raise its memory limit")
    scheduling = [e for e in events if e.get("reason") == "FailedScheduling"]
    pending = {p["name"] for p in pods if p["phase"] == "Pending" and not p["node"]}
    by_message: dict[str, list[str]] = {}  # the latest message of each pending pod, pods grouped
    for e in sorted(scheduling, key=_event_time):
        name = (e.get("involvedObject") or {}).get("name")
        if name in pending:
            for names in by_message.values():
                if name in names:
                    names.remove(name)
            by_message.setdefault((e.get("message") or "").strip(), []).append(name)
    for msg, names in by_message.items():
        if names:
            add(f"Pending + FailedScheduling: {', '.join(sorted(names))}: {msg} -> {_scheduling_fix(msg)}")
    for p in pods:
        if p["name"] in pending and not any((e.get("involvedObject") or {}).get("name") == p["name"]
                                            for e in scheduling):
            msg = " ".join(p["conditions"])
            if "Unschedulable" in msg:
                add(f"Pending (Unschedulable): {p['name']}: {msg} -> {_scheduling_fix(msg)}")
    for p in pods:
        if p["phase"] == "Running" and not p["ready"] and all(not c.get("waiting") for c in p["containers"]):
            probes = [e.get("message") for e in events if e.get("reason") == "Unhealthy"
                      and (e.get("involvedObject") or {}).get("name") == p["name"]]
            add(f"{p['name']} runs but is not Ready: its readiness probe fails"
                + (f" ({probes[-1]})" if probes else "") + "; read its logs above")
    if not hints and not pods:
        add("no pods were created: read the workload's events above (FailedCreate: quota, admission, "
            "a missing ServiceAccount)")
    return hints


def _event_time(e: Mapping[str, Any]) -> str:
    return e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""


# --- the deployer -----------------------------------------------------------------------------------

class StackNotReady(PlatformError):
    """A component's workloads were not Ready in time; the message says why, with a hint."""

    def __init__(self, message: str, hints: list[str]):
        self.hints = hints
        super().__init__(message)


@dataclass
class _Resource:
    path: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    namespaced: bool


@dataclass
class StackDeployer:
    """Deploys stack.yaml components into one namespace through an ApiClient (see module doc).

    `images`: explicit overrides {key: ref} (--chaos-image); CHAOS_IMAGE_<KEY> is read too.
    `prepare_images`: called with {key: effective ref} of a component's images before its
    objects are applied (the kind platform builds and loads them there).
    """

    api: Any
    namespace: str | None = None
    stack_file: str | Path = STACK_FILE
    images: Mapping[str, str] | None = None
    log: Callable[[str], None] = lambda msg: None
    env: Mapping[str, str] | None = None
    prepare_images: Callable[[dict[str, str]], None] | None = None
    cluster: str = "chaos"  # for the `kind load` hint
    poll_s: float = 1.0
    stack: Stack = field(init=False)
    effective_images: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.stack = load_stack(self.stack_file)
        self.namespace = self.namespace or self.stack.namespace
        self.effective_images = resolve_images(self.stack, self.images, self.env)
        self._resources: dict[tuple[str, str], _Resource] = {}

    # --- raw API access (no discovery cache on disk) -------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, query: Sequence[tuple[str, Any]] = (),
                 content_type: str | None = None) -> Any:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type or "application/json"}
        if body is not None and content_type is not None:
            body = json.dumps(body)  # JSON is YAML: sent as is; a dict is serialised by the client
        req = self.api.param_serialize(method, path, query_params=list(query), header_params=headers, body=body,
                                       auth_settings=["BearerToken"])
        resp = self.api.call_api(*req, _request_timeout=REQUEST_TIMEOUT_S)
        resp.read()
        if not 200 <= resp.status <= 299:
            raise ApiException(http_resp=resp)
        return json.loads(resp.data or b"null")

    def _resource(self, api_version: str, kind: str) -> _Resource:
        key = (api_version, kind)
        if key not in self._resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = self._request("GET", path)
            except Exception as exc:
                if getattr(exc, "status", None) == 404:
                    raise InvalidConfig(f"the cluster serves no API {api_version}", field=f"{kind} apiVersion") from exc
                raise
            for r in listing.get("resources") or []:
                if "/" not in r["name"]:
                    self._resources[(api_version, r["kind"])] = _Resource(path, r["name"], r["namespaced"])
            if key not in self._resources:
                raise InvalidConfig(f"the cluster serves no kind {kind} in {api_version}", field="kind")
        return self._resources[key]

    def _path(self, obj: Mapping[str, Any], name: bool = True) -> str:
        res = self._resource(obj["apiVersion"], obj["kind"])
        if not res.namespaced:
            raise InvalidConfig(f"{obj['kind']}/{obj['metadata']['name']} is cluster-scoped; the stack may only "
                                f"hold objects of its namespace", field="manifests")
        base = f"{res.path}/namespaces/{self.namespace}/{res.plural}"
        return f"{base}/{obj['metadata']['name']}" if name else base

    def _get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return self._request("GET", self._path(obj))
        except InvalidConfig:
            raise
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    # --- namespace --------------------------------------------------------------------------------

    def ensure_namespace(self, timeout_s: float = 120.0) -> None:
        """Create the stack's namespace (waiting out one that is still terminating)."""
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": {PART_OF_LABEL: "chaos-stack",
                                                               "app.kubernetes.io/managed-by": FIELD_MANAGER}}}
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                ns = self._request("GET", f"/api/v1/namespaces/{self.namespace}")
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise
                ns = None
            if ns is not None and (ns.get("status") or {}).get("phase") != "Terminating":
                return
            if ns is None:
                try:
                    self._request("POST", "/api/v1/namespaces", body)
                    self.log(f"namespace {self.namespace} created")
                    return
                except Exception as exc:
                    if getattr(exc, "status", None) != 409:
                        raise
            if time.monotonic() > deadline:
                raise PlatformError(f"namespace {self.namespace} still terminating after {timeout_s:.0f} s")
            time.sleep(self.poll_s)

    # --- deploy -------------------------------------------------------------------------------------

    def manifests(self, component: str) -> list[dict[str, Any]]:
        return load_manifests(self.stack, component, self.effective_images, self.namespace)

    def apply(self, component: str, objects: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Server-side apply of the component's objects (default: all of them; not its
        dependencies); returns them as the server has them. A Job whose template changed (an
        image override) is deleted and created again: a Job's template is immutable."""
        objects = list(objects if objects is not None else self.manifests(component))
        for obj in objects:
            self._path(obj)  # every kind known and namespaced before anything is sent
        if self.prepare_images is not None:
            used = {ref for o in objects for c in _containers(o.get("spec")) for ref in [c.get("image")]}
            self.prepare_images({k: ref for k, ref in self.effective_images.items() if ref in used})
        self.ensure_namespace()
        applied = []
        for obj in objects:
            try:
                applied.append(self._apply_one(obj))
            except Exception as exc:
                msg = _api_message(exc)
                if obj["kind"] == "Job" and getattr(exc, "status", None) == 422:
                    self.log(f"Job/{obj['metadata']['name']} changed: deleting and creating it again")
                    self._delete_and_wait(obj, timeout_s=120)
                    applied.append(self._apply_one(obj))
                    continue
                fix = (f"an immutable field changed: remove_stack({component!r}) and deploy again"
                       if "forbidden" in msg.lower() and obj["kind"] == "StatefulSet" else None)
                raise PlatformError(f"applying {obj['kind']}/{obj['metadata']['name']} of {component} failed: {msg}"
                                    + (f" (fix: {fix})" if fix else "")) from exc
        return applied

    def _apply_one(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("PATCH", self._path(obj), obj, query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                             content_type="application/apply-patch+yaml")

    def _delete_and_wait(self, obj: Mapping[str, Any], timeout_s: float) -> None:
        try:
            self._request("DELETE", self._path(obj), {"propagationPolicy": "Foreground"})
        except Exception as exc:
            if getattr(exc, "status", None) != 404:
                raise
        deadline = time.monotonic() + timeout_s
        while self._get(obj) is not None:
            if time.monotonic() > deadline:
                raise PlatformError(f"{obj['kind']}/{obj['metadata']['name']} not gone {timeout_s:.0f} s after deletion")
            time.sleep(self.poll_s)

    def deploy(self, component: str, timeout_s: float = 600.0) -> list[str]:
        """Apply the component's dependencies, then the component; each is Ready (within
        timeout_s each) before the next. Within a component everything is applied at once: its
        Jobs (cluster creation, buckets, schema) wait for their servers themselves, and a server
        may be Ready only once its Job has run (a Redis node reports Ready when the cluster the
        Job creates is ok). Returns the components, in order."""
        order = self.stack.order(component)
        for name in order:
            t0 = time.monotonic()
            objects = self.manifests(name)
            self.apply(name, objects)
            self.wait_ready(name, timeout_s, objects)
            self.log(f"{name}: {len(objects)} objects applied, Ready after {time.monotonic() - t0:.1f} s")
        return order

    def workloads(self, component: str) -> list[dict[str, Any]]:
        return [o for o in self.manifests(component) if o["kind"] in WORKLOAD_KINDS]

    def wait_ready(self, component: str, timeout_s: float = 600.0,
                   objects: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Until every StatefulSet/Deployment/Job of the component is done; StackNotReady (with
        pods, events, logs and a hint) at the deadline, or at once when waiting cannot help."""
        workloads = [o for o in (objects if objects is not None else self.manifests(component))
                     if o["kind"] in WORKLOAD_KINDS]
        deadline = time.monotonic() + timeout_s
        while True:
            current = [self._get(w) or {**w, "status": {}} for w in workloads]
            states = [workload_ready(w) for w in current]
            if all(ok for ok, _ in states):
                return
            failed = [w for w in current if job_failed(w)]
            terminal = self._terminal_pods(current)
            if failed or terminal or time.monotonic() >= deadline:
                why = ("a Job failed" if failed else f"{', '.join(terminal)}: waiting cannot fix it" if terminal
                       else f"not ready after {timeout_s:.0f} s")
                raise self.diagnose(component, current, why)
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def _selector(self, workload: Mapping[str, Any]) -> str | None:
        labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None

    def _workload_pods(self, workloads: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        pods: dict[str, dict[str, Any]] = {}
        for w in workloads:
            selector = self._selector(w)
            if selector is None:
                continue
            for p in self._request("GET", f"/api/v1/namespaces/{self.namespace}/pods",
                                   query=[("labelSelector", selector)]).get("items") or []:
                pods[p["metadata"]["name"]] = p
        return [pods[n] for n in sorted(pods)]

    def _terminal_pods(self, workloads: Sequence[Mapping[str, Any]]) -> list[str]:
        out = []
        for p in self._workload_pods(workloads):
            for c in pod_problems(p)["containers"]:
                if c.get("waiting") in TERMINAL_WAITING:
                    out.append(f"{p['metadata']['name']}/{c['name']} {c['waiting']}")
        return out

    def _logs(self, pod: str, container: str, previous: bool) -> list[str]:
        query = [("container", container), ("tailLines", LOG_LINES)] + ([("previous", "true")] if previous else [])
        from kubernetes.client.exceptions import ApiException

        req = self.api.param_serialize("GET", f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log",
                                       query_params=query, header_params={"Accept": "text/plain"},
                                       auth_settings=["BearerToken"])
        resp = self.api.call_api(*req, _request_timeout=REQUEST_TIMEOUT_S)
        resp.read()
        if not 200 <= resp.status <= 299:
            raise ApiException(http_resp=resp)
        return (resp.data or b"").decode(errors="replace").splitlines()[-LOG_LINES:]

    def diagnose(self, component: str, workloads: Sequence[Mapping[str, Any]], why: str) -> StackNotReady:
        """The error for a failed wait: workload states, not-ready pods, events, logs, hints."""
        lines = [f"{component}: {why} in namespace {self.namespace}:"]
        lines += [f"  {summary}" for _ok, summary in map(workload_ready, workloads)]
        pods = [pod_problems(p) for p in self._workload_pods(workloads)]
        bad = [p for p in pods if not p["ready"]]
        for p in bad:
            lines.append(f"  pod {p['name']} (node {p['node'] or '-'}): phase {p['phase']}"
                         + (f", {p['reason']}: {p['message']}" if p["reason"] else ""))
            lines += [f"    condition {c}" for c in p["conditions"]]
            for c in p["containers"]:
                state = (f"waiting {c['waiting']}" + (f" ({c['waiting_message']})" if c.get("waiting_message") else "")
                         if c.get("waiting") else c.get("terminated") and f"terminated {c['terminated']}"
                         or ("running, not ready" if not c["ready"] else "running, ready"))
                last = f"; last termination {c['last_termination']}" if c.get("last_termination") else ""
                lines.append(f"    container {c['name']} ({c['image']}): {state}; restarts {c['restarts']}{last}")
        names = {p["name"] for p in bad} | {w["metadata"]["name"] for w in workloads}
        try:
            every = self._request("GET", f"/api/v1/namespaces/{self.namespace}/events").get("items") or []
        except Exception as exc:
            every = []
            lines.append(f"  (events unavailable: {_api_message(exc)})")
        events = sorted((e for e in every if (e.get("involvedObject") or {}).get("name") in names), key=_event_time)
        per: dict[str, int] = {}
        shown = []
        for e in reversed(events):
            obj = e.get("involvedObject") or {}
            key = f"{obj.get('kind')}/{obj.get('name')}"
            per[key] = per.get(key, 0) + 1
            if per[key] <= EVENTS_PER_OBJECT:
                shown.append(e)
        if shown:
            lines.append("  recent events:")
            for e in reversed(shown):
                obj = e.get("involvedObject") or {}
                count = f" (x{e['count']})" if (e.get("count") or 1) > 1 else ""
                lines.append(f"    {_event_time(e)} {obj.get('kind')}/{obj.get('name')} {e.get('type')} "
                             f"{e.get('reason')}{count}: {(e.get('message') or '').strip()}")
        for p in bad:
            for c in p["containers"]:
                if not (c.get("waiting") == "CrashLoopBackOff" or c["restarts"] or c.get("terminated")
                        or (p["phase"] == "Running" and not c["ready"])):
                    continue
                previous = bool(c.get("last_termination")) and not c.get("terminated")
                try:
                    tail = self._logs(p["name"], c["name"], previous)
                    lines.append(f"  last {len(tail)} log lines of {p['name']}/{c['name']}"
                                 + (" (previous container)" if previous else "") + ":")
                    lines += [f"    | {line}" for line in tail] or ["    (empty)"]
                except Exception as exc:
                    lines.append(f"  (logs of {p['name']}/{c['name']} unavailable: {_api_message(exc)[:200]})")
        image_keys = {ref: k for k, ref in self.effective_images.items()}
        hints = choose_hints(bad, shown, image_keys, self.cluster)
        lines += [f"  hint: {h}" for h in hints] or ["  hint: read the pod states and events above"]
        return StackNotReady("\n".join(lines), hints)

    # --- inventory ----------------------------------------------------------------------------------

    def pods(self, component: str) -> list[dict[str, Any]]:
        """The component's pods (API JSON; by its stack.yaml pod labels), not being deleted, by name."""
        labels = self.stack.labels_of(component)
        selector = f"{COMPONENT_LABEL} in ({','.join(labels)})"
        items = self._request("GET", f"/api/v1/namespaces/{self.namespace}/pods",
                              query=[("labelSelector", selector)]).get("items") or []
        return sorted((p for p in items if not p["metadata"].get("deletionTimestamp")),
                      key=lambda p: p["metadata"]["name"])

    def endpoints(self, component: str, port: int | None = None) -> list[tuple[str, str, int]]:
        """(pod, pod IP, port) of the component's pods that have an IP, sorted by pod name; port
        defaults to each pod's first declared container port."""
        out = []
        for p in self.pods(component):
            ip = (p.get("status") or {}).get("podIP")
            ports = [pt["containerPort"] for c in p["spec"].get("containers") or [] for pt in c.get("ports") or []]
            chosen = port if port is not None else (ports[0] if ports else None)
            if ip and chosen is not None:
                out.append((p["metadata"]["name"], ip, int(chosen)))
        return out

    # --- remove -------------------------------------------------------------------------------------

    def remove(self, component: str, timeout_s: float = 180.0) -> dict[str, Any]:
        """Delete the component's objects (workloads first) and its PVCs (the StatefulSets'
        claims and any PVC carrying its pod labels), then wait until they are gone."""
        objects = list(reversed(self.manifests(component)))
        deleted = []
        for obj in objects:
            try:
                self._request("DELETE", self._path(obj), {"propagationPolicy": "Background"})
                deleted.append(f"{obj['kind']}/{obj['metadata']['name']}")
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise PlatformError(f"deleting {obj['kind']}/{obj['metadata']['name']}: {_api_message(exc)}") \
                        from exc
        labels = self.stack.labels_of(component)
        deadline = time.monotonic() + timeout_s
        while self.pods(component):  # claims stay (pvc-protection) while a pod uses them
            if time.monotonic() > deadline:
                raise PlatformError(f"{component}: pods still there {timeout_s:.0f} s after deletion: "
                                    f"{[p['metadata']['name'] for p in self.pods(component)]}")
            time.sleep(self.poll_s)
        claims = self._claims(objects, labels)
        for name in claims:
            try:
                self._request("DELETE", f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{name}")
            except Exception as exc:
                if getattr(exc, "status", None) != 404:
                    raise PlatformError(f"deleting PersistentVolumeClaim {name}: {_api_message(exc)}") from exc

        def left() -> list[str]:
            out = [f"{o['kind']}/{o['metadata']['name']}" for o in objects if self._get(o) is not None]
            return out + [f"PersistentVolumeClaim/{c}" for c in self._claims(objects, labels)]

        remaining = left()
        while remaining:
            if time.monotonic() > deadline:
                raise PlatformError(f"{component}: still present {timeout_s:.0f} s after deletion: {remaining}")
            time.sleep(self.poll_s)
            remaining = left()
        self.log(f"{component}: removed {len(deleted)} objects and {len(claims)} PVCs")
        return {"objects": deleted, "pvcs": claims}

    def _claims(self, objects: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> list[str]:
        items = self._request("GET", f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims").get("items") or []
        patterns = [re.compile(rf"{re.escape(t['metadata']['name'])}-{re.escape(o['metadata']['name'])}-\d+")
                    for o in objects if o["kind"] == "StatefulSet"
                    for t in (o.get("spec") or {}).get("volumeClaimTemplates") or []]
        return sorted(c["metadata"]["name"] for c in items
                      if (c["metadata"].get("labels") or {}).get(COMPONENT_LABEL) in labels
                      or any(p.fullmatch(c["metadata"]["name"]) for p in patterns))


def _api_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return json.loads(body).get("message", str(body))
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(exc)
