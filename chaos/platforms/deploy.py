"""The stack deployer: applies fixtures/kind/<dir>/ manifests for one component (its dependencies
from stack.yaml first), waits until every workload of it is Ready, explains a wait that failed,
and removes a component with its volumes.

Objects are applied with server-side apply (field manager "chaos-harness", conflicts forced), so
a second deploy of a deployed component changes nothing (no resourceVersion moves). The wait is
on every StatefulSet and Deployment and Job of the component (chaos.platforms.readiness); on
timeout the StackNotReady names each not-ready pod's phase, conditions and container states, the
namespace's recent events for those objects, the last log lines of the failing containers, and a
hint chosen from what was seen (choose_hints).

    deployer = StackDeployer(api_client, images={"redis": "redis:7.4.6"}, log=print)
    deployer.deploy("clickhouse", timeout_s=600)   # zookeeper first, then clickhouse
    deployer.endpoints("clickhouse")               # [(pod, ip, 8123), ...] sorted by pod
    deployer.remove("clickhouse")                  # its objects and its PVCs, not zookeeper's
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import PlatformError
from ..waits import poll_until
from .kube_objects import KubeObjects, api_message
from .readiness import (LogTail, choose_hints, job_failed, logs_wanted, pod_problems, recent_events, report_lines,
                        terminal_waits, workload_ready)
from .stack import (COMPONENT_LABEL, PART_OF_LABEL, STACK_FILE, WORKLOAD_KINDS, Stack, images_used, load_manifests,
                    load_stack, resolve_images)

__all__ = ["StackDeployer", "StackNotReady", "FIELD_MANAGER"]

FIELD_MANAGER = "chaos-harness"
LOG_LINES = 20
PVC = ("v1", "PersistentVolumeClaim")


class StackNotReady(PlatformError):
    """A component's workloads were not Ready in time; the message says why, with a hint."""

    def __init__(self, message: str, hints: list[str]):
        self.hints = hints
        super().__init__(message)


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
    objects: KubeObjects = field(init=False)

    def __post_init__(self) -> None:
        self.stack = load_stack(self.stack_file)
        self.namespace = self.namespace or self.stack.namespace
        self.effective_images = resolve_images(self.stack, self.images, self.env)
        self.objects = KubeObjects(self.api, self.namespace)

    def _get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        return self.objects.get(obj)

    # --- namespace --------------------------------------------------------------------------------

    def ensure_namespace(self, timeout_s: float = 120.0) -> None:
        """Create the stack's namespace (waiting out one that is still terminating)."""
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": {PART_OF_LABEL: "chaos-stack",
                                                               "app.kubernetes.io/managed-by": FIELD_MANAGER}}}

        def present() -> bool:
            ns = self.objects.own_namespace()
            if ns is not None:
                return (ns.get("status") or {}).get("phase") != "Terminating"
            try:
                self.objects.create_namespace(body)
            except Exception as exc:
                if getattr(exc, "status", None) != 409:
                    raise
                return False  # created meanwhile, or still there while terminating
            self.log(f"namespace {self.namespace} created")
            return True

        if not poll_until(present, timeout_s, self.poll_s):
            raise PlatformError(f"namespace {self.namespace} still terminating after {timeout_s:.0f} s")

    # --- deploy -------------------------------------------------------------------------------------

    def manifests(self, component: str) -> list[dict[str, Any]]:
        return load_manifests(self.stack, component, self.effective_images, self.namespace)

    def apply(self, component: str, objects: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Server-side apply of the component's objects (default: all of them; not its
        dependencies); returns them as the server has them. A Job whose template changed (an
        image override) is deleted and created again: a Job's template is immutable."""
        objects = list(objects if objects is not None else self.manifests(component))
        for obj in objects:
            self.objects.namespaced(obj)  # every kind known and namespaced before anything is sent
        if self.prepare_images is not None:
            used = images_used(objects)
            self.prepare_images({k: ref for k, ref in self.effective_images.items() if ref in used})
        self.ensure_namespace()
        applied = []
        for obj in objects:
            try:
                applied.append(self.objects.apply(obj, FIELD_MANAGER))
            except Exception as exc:
                msg = api_message(exc)
                if obj["kind"] == "Job" and getattr(exc, "status", None) == 422:
                    self.log(f"Job/{obj['metadata']['name']} changed: deleting and creating it again")
                    self._delete_and_wait(obj, timeout_s=120)
                    applied.append(self.objects.apply(obj, FIELD_MANAGER))
                    continue
                fix = (f"an immutable field changed: remove_stack({component!r}) and deploy again"
                       if "forbidden" in msg.lower() and obj["kind"] == "StatefulSet" else None)
                raise PlatformError(f"applying {obj['kind']}/{obj['metadata']['name']} of {component} failed: {msg}"
                                    + (f" (fix: {fix})" if fix else "")) from exc
        return applied

    def _delete_and_wait(self, obj: Mapping[str, Any], timeout_s: float) -> None:
        self.objects.delete(obj, propagation_policy="Foreground")
        if not poll_until(lambda: self._get(obj) is None, timeout_s, self.poll_s):
            raise PlatformError(f"{obj['kind']}/{obj['metadata']['name']} not gone {timeout_s:.0f} s after deletion")

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
        seen: list[dict[str, Any]] = []

        def ready() -> bool:
            seen[:] = [self._get(w) or {**w, "status": {}} for w in workloads]
            if all(ok for ok, _ in map(workload_ready, seen)):
                return True
            if any(job_failed(w) for w in seen):
                raise self.diagnose(component, seen, "a Job failed")
            terminal = terminal_waits(self._workload_pods(seen))
            if terminal:
                raise self.diagnose(component, seen, f"{', '.join(terminal)}: waiting cannot fix it")
            return False

        if not poll_until(ready, timeout_s, self.poll_s):
            raise self.diagnose(component, seen, f"not ready after {timeout_s:.0f} s")

    def _selector(self, workload: Mapping[str, Any]) -> str | None:
        labels = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None

    def _workload_pods(self, workloads: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        pods: dict[str, dict[str, Any]] = {}
        for w in workloads:
            selector = self._selector(w)
            if selector is None:
                continue
            for p in self.objects.list("v1", "Pod", label_selector=selector):
                pods[p["metadata"]["name"]] = p
        return [pods[n] for n in sorted(pods)]

    def _log_tail(self, pod: str, container: str, previous: bool) -> LogTail:
        try:
            return LogTail(pod, container, previous, tuple(self.objects.logs(pod, container, LOG_LINES, previous)))
        except Exception as exc:
            return LogTail(pod, container, previous, error=api_message(exc))

    def diagnose(self, component: str, workloads: Sequence[Mapping[str, Any]], why: str) -> StackNotReady:
        """The error for a failed wait: workload states, not-ready pods, events, logs, hints."""
        bad = [p for p in map(pod_problems, self._workload_pods(workloads)) if not p["ready"]]
        names = {p["name"] for p in bad} | {w["metadata"]["name"] for w in workloads}
        events_error = None
        try:
            every = self.objects.list("v1", "Event")
        except Exception as exc:
            every, events_error = [], api_message(exc)
        shown = recent_events(every, names)
        logs = [self._log_tail(*wanted) for wanted in logs_wanted(bad)]
        image_keys = {ref: k for k, ref in self.effective_images.items()}
        # Newest first, as the hints have always been chosen here (an Unhealthy hint quotes the
        # last message in this order).
        hints = choose_hints(bad, shown[::-1], image_keys, self.cluster)
        lines = report_lines(component, self.namespace, why, workloads, bad, shown, logs, hints, events_error)
        return StackNotReady("\n".join(lines), hints)

    # --- inventory ----------------------------------------------------------------------------------

    def pods(self, component: str) -> list[dict[str, Any]]:
        """The component's pods (API JSON; by its stack.yaml pod labels), not being deleted, by name."""
        labels = self.stack.labels_of(component)
        items = self.objects.list("v1", "Pod", label_selector=f"{COMPONENT_LABEL} in ({','.join(labels)})")
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
                if self.objects.delete(obj, propagation_policy="Background"):
                    deleted.append(f"{obj['kind']}/{obj['metadata']['name']}")
            except Exception as exc:
                raise PlatformError(f"deleting {obj['kind']}/{obj['metadata']['name']}: {api_message(exc)}") from exc
        labels = self.stack.labels_of(component)
        deadline = time.monotonic() + timeout_s
        # Claims stay (pvc-protection) while a pod uses them: the pods go first.
        if not poll_until(lambda: not self.pods(component), timeout_s, self.poll_s):
            raise PlatformError(f"{component}: pods still there {timeout_s:.0f} s after deletion: "
                                f"{[p['metadata']['name'] for p in self.pods(component)]}")
        claims = self._claims(objects, labels)
        for name in claims:
            try:
                self.objects.delete({"apiVersion": PVC[0], "kind": PVC[1], "metadata": {"name": name}})
            except Exception as exc:
                raise PlatformError(f"deleting PersistentVolumeClaim {name}: {api_message(exc)}") from exc
        remaining: list[str] = []

        def gone() -> bool:
            remaining[:] = [f"{o['kind']}/{o['metadata']['name']}" for o in objects if self._get(o) is not None]
            remaining.extend(f"PersistentVolumeClaim/{c}" for c in self._claims(objects, labels))
            return not remaining

        if not poll_until(gone, max(0.0, deadline - time.monotonic()), self.poll_s):
            raise PlatformError(f"{component}: still present {timeout_s:.0f} s after deletion: {remaining}")
        self.log(f"{component}: removed {len(deleted)} objects and {len(claims)} PVCs")
        return {"objects": deleted, "pvcs": claims}

    def _claims(self, objects: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> list[str]:
        items = self.objects.list(*PVC)
        patterns = [re.compile(rf"{re.escape(t['metadata']['name'])}-{re.escape(o['metadata']['name'])}-\d+")
                    for o in objects if o["kind"] == "StatefulSet"
                    for t in (o.get("spec") or {}).get("volumeClaimTemplates") or []]
        return sorted(c["metadata"]["name"] for c in items
                      if (c["metadata"].get("labels") or {}).get(COMPONENT_LABEL) in labels
                      or any(p.fullmatch(c["metadata"]["name"]) for p in patterns))
