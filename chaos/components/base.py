"""What every component offers the run loop: deploy, roles, steadiness, a probe, a
verification read and its failover settings. Components never inject faults."""

from __future__ import annotations

from dataclasses import dataclass, replace
import os
import pwd
import re
import shlex
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

from ..errors import InvalidConfig, NotSteady
from ..predictions import LogMarkers, Prediction
from ..platforms.stack import STACK_FILE
from ..probe import DEFAULT_INTERVAL_S, Probe
from ..timeline import Timeline

__all__ = ["Target", "Component", "Steadiness", "chown_tree", "one_node_per_zone", "wait_until_steady",
           "missing_user", "missing_module", "on_manifest_platform", "require_manifest_platform", "StackMembers",
           "manifest_knobs", "knob", "settings_from_manifest", "STACK_FILE", "STACK_DEPLOY_TIMEOUT_S", "manifest_dir"]

# A manifest deploy waits for scheduling, volume provisioning and first start (the interface's
# default): longer than a component's own steadiness timeout.
STACK_DEPLOY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Target:
    """A pod and the role it plays right now (primary, standby, leader, ...)."""

    pod: str
    node: str
    zone: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {"pod": self.pod, "node": self.node, "zone": self.zone, "role": self.role}


class Component(Protocol):
    """One deployed system. `name` is the component ("postgres"); `deployment` names this
    instance of it (a variant, e.g. an asynchronous cluster, is another deployment)."""

    name: str
    deployment: str

    def deploy(self, timeout_s: float = 120.0) -> dict[str, Any]: ...
    def remove(self) -> None: ...
    def targets(self) -> Sequence[Target]: ...
    def wait_steady(self, timeout_s: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]: ...
    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]: ...
    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe: ...
    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[Any] | None: ...
    def config(self) -> dict[str, Any]: ...


def one_node_per_zone(platform, component: str, count: int = 3) -> list:
    """The first node (by name) of each zone, `count` zones: one replica per zone."""
    zones: dict[str, Any] = {}
    for node in sorted(platform.nodes(), key=lambda n: n.name):
        zones.setdefault(node.zone, node)
    if len(zones) < count:
        raise InvalidConfig(f"{component} needs nodes in {count} zones, the platform has {len(zones)}",
                            field="platform", fix="use the default zones a, b, c")
    return list(zones.values())[:count]


def wait_until_steady(steady: Callable[[], tuple[bool, dict[str, Any]]], deployment: str, timeout_s: float,
                      log: Callable[[str], None] | None, explain: Callable[[dict[str, Any]], str],
                      poll_s: float = 0.25) -> dict[str, Any]:
    """Poll `steady()` until it holds; after 10 s and every 10 s, say what is missing; on timeout
    raise NotSteady with the problems, what was last seen (`explain`) and where the logs are."""
    deadline = time.monotonic() + timeout_s
    said = time.monotonic()
    while True:
        ok, seen = steady()
        if ok:
            return seen
        if log and time.monotonic() - said > 10:
            said = time.monotonic()
            log(f"{deployment} not steady yet: {'; '.join(seen['problems'])}")
        if time.monotonic() > deadline:
            raise NotSteady(f"{deployment} not steady after {timeout_s:.0f} s: {'; '.join(seen['problems'])}; "
                            f"{explain(seen)}", seen["problems"])
        time.sleep(poll_s)


class Steadiness:
    """wait_steady() and prepare() for a component that defines steady() -> (ok, seen) with
    seen["problems"], and has platform, pods and deployment; predict() for one whose settings
    predict its failover (chaos.predictions)."""

    steady_poll_s = 0.25
    # How long after a heal the component may take to be steady again, where that is longer than
    # the run's default (RunSettings.recovery_timeout_s); a scenario's own timeout overrides both.
    recovery_timeout_s: float | None = None
    # The roles whose loss needs a failover (the others' loss needs none: nothing to predict),
    # and the log lines that date the failover.
    leader_roles: tuple[str, ...] = ()
    failover_log: LogMarkers | None = None

    def predict(self, fault_class: str | None, role: str) -> Prediction | None:
        """The failover the deployed settings predict for this fault class on this role."""
        if fault_class is None or role not in self.leader_roles:
            return None
        return self.settings.predict(fault_class)

    def pod_logs(self) -> dict[str, Path]:
        """pod -> a file with its log, as the platform keeps it (a file per pod locally, each
        container's output on Kubernetes)."""
        return self.platform.pod_logs(self.pods)

    def explain(self, seen: dict[str, Any]) -> str:
        """What to tell a person when steadiness times out."""
        return f"seen {seen}; {self.logs_hint()}"

    def logs_hint(self) -> str:
        """Where the pods' logs are: the local platform's log directory, or the `kubectl logs`
        command on a platform that deploys from manifests (the servers log to stdout there)."""
        if on_manifest_platform(self.platform):
            return kubectl_logs_hint(self.platform, self.pods)
        return f"pod logs in {self.platform.log_path(self.pods[0]).parent}"

    def wait_steady(self, timeout_s: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        return wait_until_steady(self.steady, self.deployment, timeout_s, log, self.explain, self.steady_poll_s)

    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Before an experiment: steady. A component whose faults can leave it steady but in
        another shape than designed restores that shape here (never during an experiment)."""
        return self.wait_steady(timeout_s, log)


def chown_tree(path: Path, user: str) -> None:
    """Give a pod's directory and everything in it to the user its processes run as."""
    pw = pwd.getpwnam(user)
    for root, _dirs, files in os.walk(path):
        for entry in [root, *(os.path.join(root, f) for f in files)]:
            os.chown(entry, pw.pw_uid, pw.pw_gid)


def missing_user(user: str, package: str) -> list[str]:
    """[] when the system user exists (the Debian package that runs the server creates it)."""
    try:
        pwd.getpwnam(user)
        return []
    except KeyError:
        return [f"user {user} does not exist (fix: apt-get install {package})"]


def missing_module(module: str, pip_name: str | None = None) -> list[str]:
    """[] when the Python client module can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return []
    label = f"{module} ({pip_name})" if pip_name and pip_name != module else module
    return [f"python module {label} missing (fix: pip install {pip_name or module}, or `make install`)"]


# --- components deployed from manifests (platform.deploy_stack: kube, kind) ---------------------


def on_manifest_platform(platform) -> bool:
    """The platform deploys the stack from fixtures/kind/ manifests (KubePlatform, KindPlatform):
    components then ask it for their pods instead of starting local ones."""
    return getattr(platform, "deploy_stack", None) is not None


def require_manifest_platform(platform, component: str) -> None:
    """Refuse a platform that cannot deploy the stack from manifests, for the components that
    have no local-platform deployment (Elasticsearch, ClickHouse, MinIO, Flink)."""
    if not on_manifest_platform(platform):
        raise InvalidConfig(f"{component} runs on --chaos-platform kind only for now, not on "
                            f"{getattr(platform, 'name', type(platform).__name__)}", field="platform",
                            fix="run it with --chaos-platform kind")


def manifest_dir(component: str, stack_file: Path = STACK_FILE) -> Path:
    """The directory of the component's manifests, as fixtures/kind/stack.yaml names it."""
    from ..platforms.stack import load_stack

    return load_stack(stack_file, check_dirs=False).component(component).dir


def kubectl_logs_hint(platform, pods: Sequence[str]) -> str:
    namespace = (getattr(platform, "namespaces", None) or ("chaos-stack",))[0]
    pod = pods[0] if pods else "<pod>"
    return (f"pod logs: kubectl logs -n {namespace} {pod} (each of {', '.join(pods) or 'the pods'}; "
            "--previous for the container before its last restart)")


def _natural(name: str) -> tuple[str, int]:
    """postgres-2 before postgres-10."""
    head, _, tail = name.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (name, -1)


class StackMembers:
    """The pods of one component deployed from manifests, and where they answer now.

    On Kubernetes a StatefulSet pod that was killed, evicted or lost with its node comes back
    under the same name with a NEW pod IP (the local platform keeps IPs). So nothing here is
    fixed at deploy time: `read()` asks the platform (`platform.endpoints`) every time, and
    `known` remembers every IP a pod ever had (latest owner wins), so an acknowledgement or a
    cluster view that still names an old IP maps to its pod. The probe's clients never wait on
    the Kubernetes API: `watch()` refreshes `snapshot()` from a background thread, and the
    clients read that snapshot (no I/O) when they reconnect.
    """

    def __init__(self, platform, component: str, port: int, label: str | None = None):
        self.platform = platform
        self.component = component
        self.port = port
        self.label = label or component  # app.kubernetes.io/name of its pods
        self.pods: list[str] = []
        self.known: dict[str, str] = {}  # IP -> pod
        self._snapshot: dict[str, str] = {}  # pod -> IP, as last read
        self._placement: dict[str, tuple[str, str]] = {}  # pod -> (node, zone)
        self._placed_at = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watch_errors = 0

    def deploy(self, timeout_s: float) -> list[Any]:
        """platform.deploy_stack (idempotent; waits for Ready), then learn pods and IPs."""
        pods = sorted(self.platform.deploy_stack(self.component, timeout_s=timeout_s), key=lambda p: _natural(p.name))
        self.pods = [p.name for p in pods]
        self._learn([(p.name, p.ip) for p in pods])
        self._placement = {p.name: (p.node or "", p.zone or "") for p in pods}
        self._placed_at = time.monotonic()
        return pods

    def _learn(self, pairs: Iterable[tuple[str, str | None]]) -> None:
        snap = {pod: ip for pod, ip in pairs if ip}
        for pod, ip in snap.items():
            self.known[ip] = pod
        for pod in snap:
            if pod not in self.pods:
                self.pods = sorted([*self.pods, pod], key=_natural)
        self._snapshot = snap  # replaced whole: readers in other threads see old or new

    def read(self) -> dict[str, str]:
        """pod -> current IP, asked of the platform now (pods without an IP are left out)."""
        self._learn((pod, ip) for pod, ip, _port in self.platform.endpoints(self.component, self.port))
        return dict(self._snapshot)

    def snapshot(self) -> dict[str, str]:
        """pod -> IP as last read (no I/O)."""
        return dict(self._snapshot)

    def ips(self, fresh: bool = True) -> list[str]:
        """Current IPs in pod order."""
        snap = self.read() if fresh else self._snapshot
        return [snap[p] for p in self.pods if p in snap]

    def ip(self, pod: str) -> str | None:
        return self._snapshot.get(pod)

    def pod_of(self, ip: str) -> str | None:
        return self.known.get(ip)

    def running(self) -> dict[str, bool]:
        """pod -> Running and Ready, from one listing of the component's pods (also refreshes
        the placement). A pod missing from the listing is not running."""
        out = {pod: False for pod in self.pods}
        for p in self.platform.pods(self.label):
            out[p.name] = bool(p.running)
            if p.node:
                self._placement[p.name] = (p.node, p.zone or "")
        self._placed_at = time.monotonic()
        return out

    def placement(self, max_age_s: float = 1.0) -> dict[str, tuple[str, str]]:
        """pod -> (node, zone), read again when older than max_age_s (a pod stays on its node
        while its local volume lives there; steadiness asks for it many times per poll). A pod
        not listed keeps its last known placement (a pod being recreated has no node yet)."""
        if time.monotonic() - self._placed_at > max_age_s:
            try:
                self.running()
            except Exception:
                pass
        return dict(self._placement)

    def watch(self, interval_s: float = 1.0) -> None:
        """Keep snapshot() current from a daemon thread until stop()."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.read()
                except Exception:
                    self.watch_errors += 1

        self._thread = threading.Thread(target=loop, name=f"endpoints-{self.component}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _norm(key: str) -> str:
    key = key.strip()
    if key.startswith("-D"):  # a JVM system property
        key = key[2:]
    return re.sub(r"[.\-]+", "_", key.lstrip("-").lower())


def _tokens(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False)
    except ValueError:
        return text.split()


def manifest_knobs(component: str, stack_file: Path = STACK_FILE) -> dict[str, str]:
    """Every setting the component's manifests hand their servers, flattened to one dict with
    normalised keys (lower case, '.' and '-' become '_'): container env values (valueFrom is
    skipped), `--key=value`, `--key value`, `key=value` and `-Dkey=value` tokens of command and
    args (shell scripts included), and `key=value`, `key: value` or `key value` lines of
    ConfigMap files. Later sources win. {} when the manifests are not there."""
    from ..platforms.stack import load_manifests, load_stack

    try:
        docs = load_manifests(load_stack(stack_file), component)
    except (OSError, InvalidConfig):
        return {}
    knobs: dict[str, str] = {}

    def tokens_into(tokens: list[str]) -> None:
        for i, tok in enumerate(tokens):
            if "=" in tok and not tok.startswith("$"):
                key, _, value = tok.partition("=")
                if re.fullmatch(r"-{0,2}[A-Za-z][\w.\-]*", key):
                    knobs[_norm(key)] = value
            elif tok.startswith("--") and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                knobs[_norm(tok)] = tokens[i + 1]

    def lines_into(text: str) -> None:
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"([A-Za-z][\w.\-]*)\s*(?:=|:|\s)\s*(.*)", line)
            if m:
                knobs[_norm(m.group(1))] = m.group(2).strip().strip('"')
            tokens_into(_tokens(line))  # a script's `--flag value` and `-Dkey=value`

    def walk(obj: Any) -> None:
        if isinstance(obj, list):
            for item in obj:
                walk(item)
            return
        if not isinstance(obj, dict):
            return
        if obj.get("kind") == "ConfigMap":
            for text in (obj.get("data") or {}).values():
                if isinstance(text, str):
                    lines_into(text)
            return
        if "containers" in obj and isinstance(obj["containers"], list):
            for c in obj["containers"]:
                for e in c.get("env") or []:
                    if "value" in e:
                        knobs[_norm(e["name"])] = str(e["value"])
                        tokens_into(_tokens(str(e["value"])))  # e.g. JVM flags in one variable
                for part in (c.get("command") or []) + (c.get("args") or []):
                    tokens_into(_tokens(str(part)))
            return
        for value in obj.values():
            walk(value)

    for doc in docs:
        walk(doc)
    return knobs


def knob(knobs: dict[str, str], *names: str) -> str | None:
    """The first of these (normalised) names the manifests set."""
    for name in names:
        if _norm(name) in knobs:
            return knobs[_norm(name)]
    return None


def settings_from_manifest(settings: Any, component: str, names: dict[str, tuple[str, ...]],
                           server_defaults: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """A copy of the dataclass `settings` with every field the component's manifests set (under
    any of its names) taken from them, converted to the field's type; and the fields taken. A
    field the manifests leave unset takes the server's own default from `server_defaults` (the
    harness's tuned value is not deployed then); the rest keep their documented values."""
    knobs = manifest_knobs(component)
    changes: dict[str, Any] = {}
    for field, candidates in names.items():
        raw = knob(knobs, *candidates)
        if raw is None:
            if server_defaults and field in server_defaults:
                changes[field] = server_defaults[field]
            continue
        current = getattr(settings, field)
        try:
            if isinstance(current, bool):
                value: Any = raw.strip().lower() in ("yes", "true", "on", "1")
            elif isinstance(current, int):
                value = int(raw.strip())
            elif isinstance(current, float):
                value = float(raw.strip())
            else:
                value = raw
        except ValueError:
            continue
        changes[field] = value
    taken = sorted(f for f in changes if not server_defaults or f not in server_defaults
                   or knob(knobs, *names[f]) is not None)
    return replace(settings, **changes), taken
