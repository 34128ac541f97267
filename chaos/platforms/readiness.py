"""Readiness rules of the kind stack, pure (API JSON in, facts out): when a workload is rolled
out, what is wrong with a pod, which hint fits what was seen, and the text of a failed wait.

The deployer (chaos.platforms.deploy) fetches the objects; everything here is tested on recorded
objects. A wait is over when every StatefulSet and Deployment has its generation observed and
ready == updated == replicas, and every Job has succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from .stack import env_key

__all__ = ["workload_ready", "job_failed", "pod_ready", "pod_problems", "choose_hints", "event_time",
           "terminal_waits", "recent_events", "logs_wanted", "LogTail", "report_lines", "TERMINAL_WAITING",
           "IMAGE_WAITING", "EVENTS_PER_OBJECT"]

EVENTS_PER_OBJECT = 6
# Waiting reasons no amount of waiting fixes: fail at once instead of at the deadline.
TERMINAL_WAITING = ("ErrImageNeverPull", "InvalidImageName")
IMAGE_WAITING = ("ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull")


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
    for e in sorted(scheduling, key=event_time):
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


def event_time(e: Mapping[str, Any]) -> str:
    return e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""


def terminal_waits(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """pod/container reason of every container (pods as API JSON) waiting for what waiting cannot fix."""
    out = []
    for p in pods:
        for c in pod_problems(p)["containers"]:
            if c.get("waiting") in TERMINAL_WAITING:
                out.append(f"{p['metadata']['name']}/{c['name']} {c['waiting']}")
    return out


def recent_events(events: Iterable[Mapping[str, Any]], names: Iterable[str],
                  per_object: int = EVENTS_PER_OBJECT) -> list[Mapping[str, Any]]:
    """The events (API JSON) of the named objects, the newest `per_object` of each, oldest first."""
    names = set(names)
    ordered = sorted((e for e in events if (e.get("involvedObject") or {}).get("name") in names), key=event_time)
    per: dict[str, int] = {}
    shown = []
    for e in reversed(ordered):
        obj = e.get("involvedObject") or {}
        key = f"{obj.get('kind')}/{obj.get('name')}"
        per[key] = per.get(key, 0) + 1
        if per[key] <= per_object:
            shown.append(e)
    return shown[::-1]


def logs_wanted(pods: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, bool]]:
    """(pod, container, previous) whose logs explain a failed wait: crashing, restarted, exited,
    or running but not ready (pods as pod_problems gives them). previous: the container that
    ended, when the current one has not ended (yet)."""
    out = []
    for p in pods:
        for c in p["containers"]:
            if not (c.get("waiting") == "CrashLoopBackOff" or c["restarts"] or c.get("terminated")
                    or (p["phase"] == "Running" and not c["ready"])):
                continue
            out.append((p["name"], c["name"], bool(c.get("last_termination")) and not c.get("terminated")))
    return out


@dataclass(frozen=True)
class LogTail:
    """The last log lines of one container, or why they could not be read."""
    pod: str
    container: str
    previous: bool
    lines: tuple[str, ...] = ()
    error: str | None = None


def _container_state(c: Mapping[str, Any]) -> str:
    if c.get("waiting"):
        return f"waiting {c['waiting']}" + (f" ({c['waiting_message']})" if c.get("waiting_message") else "")
    return c.get("terminated") and f"terminated {c['terminated']}" or (
        "running, not ready" if not c["ready"] else "running, ready")


def report_lines(component: str, namespace: str, why: str, workloads: Sequence[Mapping[str, Any]],
                 bad: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]], logs: Sequence[LogTail],
                 hints: Sequence[str], events_error: str | None = None) -> list[str]:
    """The text of a failed wait: workload states, the not-ready pods (pod_problems), their recent
    events (recent_events), the log tails and the hints."""
    lines = [f"{component}: {why} in namespace {namespace}:"]
    lines += [f"  {summary}" for _ok, summary in map(workload_ready, workloads)]
    for p in bad:
        lines.append(f"  pod {p['name']} (node {p['node'] or '-'}): phase {p['phase']}"
                     + (f", {p['reason']}: {p['message']}" if p["reason"] else ""))
        lines += [f"    condition {c}" for c in p["conditions"]]
        for c in p["containers"]:
            last = f"; last termination {c['last_termination']}" if c.get("last_termination") else ""
            lines.append(f"    container {c['name']} ({c['image']}): {_container_state(c)}; "
                         f"restarts {c['restarts']}{last}")
    if events_error is not None:
        lines.append(f"  (events unavailable: {events_error})")
    if events:
        lines.append("  recent events:")
        for e in events:
            obj = e.get("involvedObject") or {}
            count = f" (x{e['count']})" if (e.get("count") or 1) > 1 else ""
            lines.append(f"    {event_time(e)} {obj.get('kind')}/{obj.get('name')} {e.get('type')} "
                         f"{e.get('reason')}{count}: {(e.get('message') or '').strip()}")
    for log in logs:
        if log.error is not None:
            lines.append(f"  (logs of {log.pod}/{log.container} unavailable: {log.error[:200]})")
            continue
        lines.append(f"  last {len(log.lines)} log lines of {log.pod}/{log.container}"
                     + (" (previous container)" if log.previous else "") + ":")
        lines += [f"    | {line}" for line in log.lines] or ["    (empty)"]
    lines += [f"  hint: {h}" for h in hints] or ["  hint: read the pod states and events above"]
    return lines
