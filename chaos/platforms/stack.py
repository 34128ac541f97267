"""The kind stack's description: fixtures/kind/stack.yaml (images, build contexts, components with
their manifest directories, dependencies and pod labels) and a component's manifests as applied.

stack.yaml is validated before anything is sent to a cluster: unknown keys, missing directories,
unknown or cyclic dependencies and image overrides for unknown keys are InvalidConfig errors
naming the field. Manifests are plain YAML; every object must be namespaced and in the stack's
namespace (the deployer, chaos.platforms.deploy, creates the Namespace itself), and every
container image must be one of stack.yaml's `images` (overrides are substituted by matching
those strings).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import InvalidConfig

__all__ = ["Stack", "StackComponent", "load_stack", "parse_image_options", "resolve_images", "load_manifests",
           "images_used", "env_key", "STACK_FILE", "REPO", "IMAGE_ENV_PREFIX", "COMPONENT_LABEL", "PART_OF_LABEL",
           "WORKLOAD_KINDS", "APPLY_ORDER"]

REPO = Path(__file__).resolve().parents[2]
STACK_FILE = REPO / "fixtures" / "kind" / "stack.yaml"
IMAGE_ENV_PREFIX = "CHAOS_IMAGE_"
COMPONENT_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
TOP_KEYS = {"namespace", "images", "build", "components"}
COMPONENT_KEYS = {"dir", "depends", "pods"}
# Apply order: what others refer to first, workloads last (like Helm's install order).
APPLY_ORDER = ("NetworkPolicy", "ResourceQuota", "LimitRange", "ServiceAccount", "Secret", "ConfigMap",
               "PersistentVolumeClaim", "Role", "RoleBinding", "Service", "PodDisruptionBudget")


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
    path = Path(path)
    data = _read_stack_file(path)
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
    build = _build_contexts(data.get("build") or {}, images, Path(root), check_dirs)
    components = _components(data["components"], path.parent, check_dirs)
    return Stack(path, namespace, {str(k): v for k, v in images.items()}, build, components)


def _read_stack_file(path: Path) -> dict[str, Any]:
    """stack.yaml's mapping, with only known top-level keys and the required ones present."""
    yaml = _yaml()
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
    return data


def _build_contexts(raw: Mapping[str, Any], images: Mapping[str, Any], root: Path,
                    check_dirs: bool) -> dict[str, Path]:
    build: dict[str, Path] = {}
    for key, ctx in raw.items():
        if key not in images:
            raise InvalidConfig(f"build entry for an image key that is not in images: {key!r}",
                                field=f"build.{key}", fix=f"image keys: {', '.join(images)}")
        if not isinstance(ctx, str) or not ctx:
            raise InvalidConfig(f"must be a directory, got {ctx!r}", field=f"build.{key}")
        build[key] = (root / ctx).resolve()
        if check_dirs and not build[key].is_dir():
            raise InvalidConfig(f"build context {build[key]} does not exist", field=f"build.{key}")
    return build


def _components(raw: Any, base: Path, check_dirs: bool) -> dict[str, StackComponent]:
    """The `components` section; manifest directories are relative to stack.yaml's directory."""
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
        d = (base / spec["dir"]).resolve()
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
    return components


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


def images_used(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every container image the objects' specs name."""
    return {c.get("image") for o in objects for c in _containers(o.get("spec"))}


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
