"""The kind platform: a kind cluster from kind-config.yaml (created, or reused with
--keep-cluster), the stack deployed from fixtures/kind/ manifests, pod IPs reachable from the host.

KindCluster drives the `kind` and `docker` CLIs: exists/create/delete, the kubeconfig (written
under the state directory, never into ~/.kube/config), building the images stack.yaml builds
itself and loading images into the nodes. KindPlatform is the KubePlatform of that cluster:

  - prerequisites (kind and docker binaries, a running Docker daemon, root for the routes) are
    checked before anything is created; a missing one is a MissingPrerequisite naming the fix;
  - a cluster it creates is marked (chaos.platforms.kube.mark_cluster) right away, so the
    wrong-cluster guard accepts kind-<name>; at the end the cluster is deleted unless kept, and
    only if it carries the marker (a cluster the user made is never deleted);
  - host routes: each node's pod CIDR (node.spec.podCIDR) via that node's container IP (its
    InternalIP), so the harness's probes dial pod IPs directly; written to the run's ledger
    before they are added (undo action `kind-remove-routes`: `chaos heal` and the next run's
    start remove leftovers) and removed on close;
  - node crash and zone partition through chaos.platforms.kind_nodes (container = node name);
  - deploy_stack/remove_stack/endpoints through chaos.platforms.deploy.StackDeployer, which
    builds (docker build) and loads (`kind load docker-image`) a component's images first;
  - exec_in_pod through the Kubernetes exec (websocket stream) API.

    with KindPlatform(cluster_name="chaos", keep_cluster=True, log=print) as p:
        pods = p.deploy_stack("zookeeper")
        p.endpoints("zookeeper")              # [("zookeeper-0", "10.244.1.5", 2181), ...]
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .._run import run
from ..cache import cache_dir
from ..errors import InvalidConfig, MissingPrerequisite, PlatformError
from ..ledger import Ledger, Undo, default_state_dir, new_run_id, undo_action
from ..waits import poll_until
from .deploy import StackDeployer
from .kube import KIND_PREFIX, KubePlatform, KubePod, _kube, api_client, mark_cluster
from .stack import REPO, STACK_FILE, load_stack

__all__ = ["KindCluster", "KindPlatform", "route_commands", "kind_prerequisites", "DEFAULT_CONFIG",
           "DEFAULT_NAME", "KEEP_ENV", "NAME_ENV"]

DEFAULT_CONFIG = REPO / "kind-config.yaml"
DEFAULT_NAME = "chaos"
KEEP_ENV = "CHAOS_KEEP_CLUSTER"
NAME_ENV = "CHAOS_KIND_NAME"
NODE_IMAGE_ENV = "CHAOS_KIND_NODE_IMAGE"  # e.g. chaos-kind-node:v1.36.3 (fixtures/kind-node); unset: kind's default
NODES_READY_TIMEOUT_S = 300.0
CAP_SYS_RESOURCE = 24
CREATE_WAIT = "300s"  # kind create cluster --wait: control plane Ready
CREATE_TIMEOUT_S = 900.0
LOAD_TIMEOUT_S = 900.0


def _argv(cmd: str | Sequence[str]) -> list[str]:
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def docker_host(docker: Sequence[str]) -> str | None:
    """The daemon a docker argv names with -H/--host (kind itself reads DOCKER_HOST)."""
    for i, a in enumerate(docker):
        if a in ("-H", "--host") and i + 1 < len(docker):
            return docker[i + 1]
        if a.startswith("--host="):
            return a.split("=", 1)[1]
    return os.environ.get("DOCKER_HOST")


def lacks_sys_resource(status: str | None = None) -> bool:
    """Is CAP_SYS_RESOURCE missing from this process's capability bounding set? Then runc cannot
    start privileged containers (every kind node) nor pod sandboxes (negative oom_score_adj)
    unless its OCI spec is edited first: fixtures/kind-node/runc-wrapper.sh."""
    if status is None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return False
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return not (int(line.split()[1], 16) >> CAP_SYS_RESOURCE) & 1
    return False


def default_kind() -> str:
    """`kind` on PATH, else the binary the kind node image's build made in the harness's cache
    (`make kind-node-image`, or the kind tier's first run), so that `chaos run --platform kind`
    finds what the tests used."""
    if shutil.which("kind"):
        return "kind"
    built = sorted(p for p in cache_dir().glob("kind-node-*/bin/kind") if os.access(p, os.X_OK))
    return str(built[-1]) if built else "kind"


def kind_prerequisites(kind: str | Sequence[str] | None = None, docker: str | Sequence[str] = "docker",
                       routes: bool = True) -> list[str]:
    """What this machine lacks to run the kind platform, each with its fix (empty: nothing)."""
    missing = []
    if shutil.which(_argv(kind or default_kind())[0]) is None:
        missing.append("the `kind` binary (fix: `make kind-node-image` builds it into the harness's cache, "
                       "or put kind onto PATH, e.g. `go install sigs.k8s.io/kind@v0.33.0`)")
    docker_argv = _argv(docker)
    if shutil.which(docker_argv[0]) is None:
        missing.append("the `docker` CLI (fix: apt-get install docker.io)")
    else:
        try:
            proc = subprocess.run([*docker_argv, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                  text=True, timeout=20)
            ok, why = proc.returncode == 0, (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        except subprocess.TimeoutExpired:
            ok, why = False, ["docker version timed out"]
        if not ok:
            missing.append(f"a running Docker daemon ({why[0][:200]}) (fix: start it, e.g. `systemctl start docker`, "
                           "or set DOCKER_HOST)")
    if routes and os.geteuid() != 0:
        missing.append("root, for host routes to the pods (fix: run as root, e.g. sudo)")
    return missing


RUNC_WRAPPER = REPO / "fixtures" / "kind-node" / "runc-wrapper.sh"


def runtime_prerequisite(docker: str | Sequence[str] = "docker", status: str | None = None) -> list[str]:
    """On a host without CAP_SYS_RESOURCE, the Docker daemon must run containers through the
    wrapper (default runtime `chaos-runc`), or no kind node starts: the fix, when it does not."""
    if not lacks_sys_resource(status):
        return []
    try:
        proc = run([*_argv(docker), "info", "--format", "{{.DefaultRuntime}}"], check=False, timeout=20)
        runtime = proc.stdout.strip() if proc.returncode == 0 else ""
    except PlatformError:  # no docker, or no answer: the daemon check names that
        runtime = ""
    if runtime == "chaos-runc":
        return []
    return [f"a Docker runtime for this host, whose capability bounding set lacks CAP_SYS_RESOURCE: "
            f"privileged containers (every kind node) fail with runc alone (fix: register {RUNC_WRAPPER} as the "
            'daemon\'s default runtime, in daemon.json: {"runtimes": {"chaos-runc": {"path": "'
            f'{RUNC_WRAPPER}"}}}}, "default-runtime": "chaos-runc"}}, and restart dockerd; needs jq)']


def route_commands(nodes: Iterable[tuple[str, Sequence[str], str]], action: str = "replace",
                   ip: Sequence[str] = ("ip",)) -> list[list[str]]:
    """`ip route <action> <pod CIDR> via <node IP>` for every (node, pod CIDRs, node IP) whose
    CIDR is of the node IP's family (`ip -6` for IPv6); nodes without a CIDR or IP are skipped."""
    if action not in ("replace", "del"):
        raise InvalidConfig(f"route action must be replace or del, not {action!r}", field="routes")
    out = []
    for _name, cidrs, via in nodes:
        if not via:
            continue
        gw = ipaddress.ip_address(via)
        for cidr in dict.fromkeys(c for c in cidrs if c):
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version != gw.version:
                continue
            out.append([*ip, *(["-6"] if net.version == 6 else []), "route", action, str(net), "via", str(gw)])
    return out


@undo_action("kind-remove-routes")
def _undo_remove_routes(args: dict[str, Any]) -> None:
    """Idempotent: a route already gone (or now pointing elsewhere: another run's) is left alone."""
    nodes = [(cidr, [cidr], via) for cidr, via in args["routes"]]
    for argv in route_commands(nodes, "del", args.get("ip") or ["ip"]):
        proc = run(argv, check=False, timeout=15)
        err = (proc.stderr or proc.stdout).lower()
        if proc.returncode != 0 and "no such process" not in err and "cannot find" not in err:
            raise PlatformError(f"{' '.join(argv)} failed: {err.strip()[-300:]}")


@undo_action("kind-delete-cluster")
def _undo_delete_cluster(args: dict[str, Any]) -> None:
    """A cluster a killed run was creating, or created and did not keep: deleted (idempotent:
    `kind delete cluster` of a missing cluster succeeds)."""
    env = {"DOCKER_HOST": args["docker_host"]} if args.get("docker_host") else None
    run([*args["kind"], "delete", "cluster", "--name", args["name"]], timeout=300, env=env)


class KindCluster:
    """One kind cluster, by name, driven through the kind and docker CLIs."""

    def __init__(self, name: str = DEFAULT_NAME, config: str | Path = DEFAULT_CONFIG, kind: str | Sequence[str] | None = None,
                 docker: str | Sequence[str] = "docker", state_dir: Path | None = None,
                 log: Callable[[str], None] = lambda msg: None, keep: bool = False,
                 node_image: str | None = None):
        if not name or not all(c.isalnum() or c == "-" for c in name):
            raise InvalidConfig(f"not a kind cluster name: {name!r}", field="--chaos-kind-name",
                                fix="letters, digits and '-'")
        self.name = name
        self.config = Path(config)
        self.kind = _argv(kind or default_kind())
        self.docker = _argv(docker)
        self.state_dir = Path(state_dir or default_state_dir())
        self.log = log
        self.keep = keep
        self.node_image = node_image or os.environ.get(NODE_IMAGE_ENV) or None
        host = docker_host(self.docker)
        self.env = {"DOCKER_HOST": host} if host else None  # the kind CLI talks to the same daemon
        self.created = False  # by this object
        self._ledger: Ledger | None = None  # records the cluster while this object owns it
        self._delete_undo: Undo | None = None

    @property
    def context(self) -> str:
        return f"{KIND_PREFIX}{self.name}"

    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / "kind" / f"{self.name}.kubeconfig"

    def prerequisites(self, routes: bool = True) -> list[str]:
        missing = kind_prerequisites(self.kind, self.docker, routes)
        if not missing:  # the daemon answers: can it start the (privileged) node containers?
            missing += runtime_prerequisite(self.docker)
            if self.node_image and not self.image_present(self.node_image):
                missing.append(f"the node image {self.node_image} in this Docker daemon (fix: build and load it "
                               "with `python3 fixtures/kind-node/build.py --docker '<docker command>'` or "
                               f"`make kind-node-image`, or unset {NODE_IMAGE_ENV} to use kind's default image)")
        if not self.config.is_file():
            missing.append(f"the kind config {self.config} (fix: give --chaos-kind-config or restore kind-config.yaml)")
        return missing

    def check(self, routes: bool = True) -> None:
        missing = self.prerequisites(routes)
        if missing:
            raise MissingPrerequisite("the kind platform needs " + "; ".join(missing), field="--chaos-platform kind")

    def _kind(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        return run([*self.kind, *args], timeout=timeout, check=check, env=self.env)

    def exists(self) -> bool:
        return self.name in self._kind("get", "clusters").stdout.split()

    def create(self, wait: str = CREATE_WAIT) -> None:
        """kind create cluster from the config, waiting for the control plane; the kubeconfig
        goes to kubeconfig_path (the user's ~/.kube/config is left alone)."""
        self.kubeconfig_path.parent.mkdir(parents=True, exist_ok=True)
        self.log(f"creating kind cluster {self.name} from {self.config} (takes a few minutes)")
        # Ledger first: a run killed from here on leaves a cluster `chaos heal` deletes.
        self._ledger = Ledger(new_run_id(), self.state_dir)
        self._delete_undo = self._ledger.record("kind-delete-cluster", f"kind cluster {self.name}", name=self.name,
                                                kind=self.kind, docker_host=(self.env or {}).get("DOCKER_HOST"))
        self.created = True  # kind removes a half-made cluster itself; delete() is idempotent anyway
        image = ["--image", self.node_image] if self.node_image else []
        self._kind("create", "cluster", "--name", self.name, "--config", str(self.config), "--wait", wait,
                   "--kubeconfig", str(self.kubeconfig_path), *image, timeout=CREATE_TIMEOUT_S)

    def delete(self) -> None:
        self.log(f"deleting kind cluster {self.name}")
        self._kind("delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig_path),
                   timeout=300)
        self.kubeconfig_path.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        """The cluster is no longer this run's to delete (deleted, or kept on purpose)."""
        if self._ledger is not None and self._delete_undo is not None:
            self._ledger.resolve(self._delete_undo)
            self._ledger.close()
        self._ledger, self._delete_undo = None, None

    @property
    def kubeconfig(self) -> str:
        """The path of the cluster's kubeconfig, freshly written (see write_kubeconfig)."""
        return self.write_kubeconfig()

    def write_kubeconfig(self) -> str:
        """The cluster's kubeconfig (kind get kubeconfig), written to a 0600 file under the state dir."""
        text = self._kind("get", "kubeconfig", "--name", self.name).stdout
        path = self.kubeconfig_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return str(path)

    def nodes(self) -> list[str]:
        return self._kind("get", "nodes", "--name", self.name).stdout.split()

    def image_present(self, ref: str) -> bool:
        return run([*self.docker, "image", "inspect", ref], check=False, timeout=30).returncode == 0

    def load_images(self, refs: Iterable[str]) -> list[str]:
        """kind load docker-image for every ref the local Docker has (kind skips nodes that have
        it already); returns the refs loaded. Others are left for the nodes to pull."""
        present = [r for r in dict.fromkeys(refs) if self.image_present(r)]
        if present:
            # The workers only: the control plane is tainted against workloads, and each image
            # loaded there would cost a copy of its layers for nothing.
            nodes = [n for n in self.nodes() if not n.endswith("-control-plane")]
            self.log(f"loading {', '.join(present)} into kind cluster {self.name} ({len(nodes)} nodes)")
            self._kind("load", "docker-image", *present, "--name", self.name,
                       *(["--nodes", ",".join(nodes)] if nodes else []), timeout=LOAD_TIMEOUT_S)
        return present

    def build_images(self, build: Mapping[str, Path], images: Mapping[str, str],
                     stack_images: Mapping[str, str]) -> dict[str, str]:
        """The stack.yaml `build` images whose reference is stack.yaml's own (an override names an
        image the user provides) in this Docker daemon: current, loaded from the harness's image
        cache, or built there (chaos.platforms.images). Returns ref -> how."""
        from .images import ImageBuilder, builds_for

        for key in build:
            if not (Path(build[key]) / "Dockerfile").is_file():
                raise InvalidConfig(f"no Dockerfile in {build[key]}", field=f"build.{key}")
        builder = ImageBuilder(docker=tuple(self.docker), log=self.log, builds=builds_for(build))
        return {ref: builder.ensure(key, ref) for key, ref in images.items()
                if key in build and ref == stack_images.get(key)}

    def wait_nodes_ready(self, api: Any, timeout_s: float = NODES_READY_TIMEOUT_S) -> list[str]:
        """Every node of the cluster Ready (`kind create --wait` waits for the control plane
        only); on timeout a PlatformError names each node that is not, with its condition."""
        from kubernetes import client

        core = client.CoreV1Api(api)
        expected = len(self.nodes())
        seen: dict[str, str] = {}

        def all_ready() -> bool:
            seen.clear()
            try:
                nodes = core.list_node(_request_timeout=10).items
            except Exception as exc:  # the API server restarting: ask again
                seen["(API)"] = f"unanswered: {exc}"[:200]
                return False
            for node in nodes:
                ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
                seen[node.metadata.name] = (f"{ready.status} ({ready.reason}: {ready.message})"
                                            if ready is not None else "no Ready condition")
            return len(seen) >= expected and all(v.startswith("True") for v in seen.values())

        if not poll_until(all_ready, timeout_s, poll_s=2.0):
            raise PlatformError(f"kind cluster {self.name}: not every node Ready within {timeout_s:.0f} s: "
                                + "; ".join(f"{n}: {v}" for n, v in sorted(seen.items()) if not v.startswith("True"))
                                + f" (expected {expected} nodes)")
        self.log(f"kind cluster {self.name}: {len(seen)} nodes Ready")
        return sorted(seen)

    def has_marker(self) -> bool:
        """Does the cluster carry the harness's marker (did the harness create it)?"""
        from .kube import check_context

        api, _path, ctx = api_client(self.kubeconfig, self.context)
        try:
            return check_context(api, ctx).get("accepted_by") == "marker"
        except InvalidConfig:
            return False
        finally:
            api.close()

    # --- the session's lifecycle ---------------------------------------------------------------

    def up(self, routes: bool = True) -> "KindCluster":
        """Check prerequisites, then reuse the cluster or create and mark it (a failure or an
        interrupt after creating deletes it again)."""
        self.check(routes)
        if self.exists():
            self.log(f"reusing kind cluster {self.name}" + (" (kept at the end)" if self.keep else ""))
            self.write_kubeconfig()
            return self
        try:
            self.create()
            api, _path, _ctx = api_client(self.kubeconfig, self.context)
            try:
                mark_cluster(api, self.name)
                self.wait_nodes_ready(api)
            finally:
                api.close()
            if self.keep:
                self._release()  # kept on purpose: not a leftover for `chaos heal`
        except BaseException:
            if self.created:
                try:
                    self.delete()
                except Exception as exc:
                    self.log(f"could not delete the half-made cluster {self.name}: {exc}")
            raise
        return self

    def down(self) -> None:
        """Delete the cluster at the end, unless kept, and only if the harness created it."""
        if self.keep:
            self.log(f"kind cluster {self.name} kept (delete it with `kind delete cluster --name {self.name}`)")
            self._release()
            return
        try:
            ours = self.created or self.has_marker()
        except Exception as exc:
            self.log(f"kind cluster {self.name} left: cannot read its marker ({exc})")
            return
        if ours:
            self.delete()
        else:
            self.log(f"kind cluster {self.name} left: the harness did not create it")


class KindPlatform(KubePlatform):
    """KubePlatform on a kind cluster, with the stack deployer and host routes to the pods.

    `cluster`: a KindCluster already up (the pytest session's), which the platform then neither
    creates nor deletes; without it the platform makes its own (keep_cluster: reuse and keep).
    """

    name = "kind"

    def __init__(self, *, cluster: KindCluster | None = None, cluster_name: str | None = None,
                 keep_cluster: bool | None = None, kind_config: str | Path | None = None,
                 kind: str | Sequence[str] | None = None, docker: str | Sequence[str] = "docker",
                 stack_file: str | Path = STACK_FILE, images: Mapping[str, str] | None = None,
                 namespaces: Sequence[str] | None = None, routes: bool = True, **kw: Any):
        stack = load_stack(stack_file)
        super().__init__(namespaces=tuple(namespaces or (stack.namespace,)), docker=docker, **kw)
        if stack.namespace not in self.namespaces:
            raise InvalidConfig(f"the stack's namespace {stack.namespace} is not among {list(self.namespaces)}",
                                field="--chaos-namespace")
        if keep_cluster is None:
            keep_cluster = os.environ.get(KEEP_ENV) == "1"
        self._owns_cluster = cluster is None
        self.cluster = cluster or KindCluster(cluster_name or os.environ.get(NAME_ENV) or DEFAULT_NAME,
                                              kind_config or DEFAULT_CONFIG, kind, docker, self.state_dir,
                                              self.log, keep_cluster)
        self.stack_file = Path(stack_file)
        self.image_overrides = dict(images or {})
        self.routes_enabled = routes
        self.deployer: StackDeployer | None = None
        self.routes: list[tuple[str, str]] = []
        self._route_undo: Undo | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def up(self) -> "KindPlatform":
        if self._owns_cluster:
            self.cluster.up(routes=self.routes_enabled)
        else:
            self.cluster.check(routes=self.routes_enabled)
        self.kubeconfig, self.context = self.cluster.kubeconfig, self.cluster.context
        try:
            super().up()
            self.deployer = StackDeployer(self.api, namespace=self.namespaces[0], stack_file=self.stack_file,
                                          images=self.image_overrides, log=self.log,
                                          prepare_images=self._prepare_images, cluster=self.cluster.name)
            if self.routes_enabled:
                self.add_routes()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        errors = []
        try:
            self.remove_routes()
        except Exception as exc:
            errors.append(f"host routes: {exc}")
        try:
            super().close()
        except Exception as exc:
            errors.append(str(exc))
        if self._owns_cluster:
            try:
                self.cluster.down()
            except Exception as exc:
                errors.append(f"deleting kind cluster {self.cluster.name}: {exc}")
        if errors:
            raise PlatformError("kind platform teardown incomplete (run `chaos heal`): " + "; ".join(errors))

    def pending_fault_undos(self) -> list[Undo]:
        """What faults left applied; the host routes live as long as the platform, not a fault."""
        return [u for u in super().pending_fault_undos() if u.action != "kind-remove-routes"]

    # --- host routes to the pod CIDRs ---------------------------------------------------------

    def route_table(self) -> list[tuple[str, list[str], str]]:
        """(node, pod CIDRs, InternalIP) of every node."""
        out = []
        for o in self._node_objects():
            cidrs = list(dict.fromkeys(c for c in [o.spec.pod_cidr, *(o.spec.pod_cidrs or [])] if c))
            ip = next((a.address for a in (o.status.addresses or []) if a.type == "InternalIP"), "")
            out.append((o.metadata.name, cidrs, ip))
        return out

    def add_routes(self) -> list[list[str]]:
        """Routes to every node's pod CIDR via the node container, ledger first."""
        commands = route_commands(self.route_table(), "replace")
        routes = [(argv[-3], argv[-1]) for argv in commands]
        if not routes:
            raise PlatformError("no node has a pod CIDR and an InternalIP: cannot route to the pods")
        self._route_undo = self._record("kind-remove-routes", f"host routes to pod CIDRs of kind-{self.cluster.name}",
                                        routes=[list(r) for r in routes], ip=["ip"])
        self.routes = routes
        for argv in commands:
            run(argv, timeout=15)
        self.log("host routes: " + ", ".join(f"{c} via {v}" for c, v in routes))
        return commands

    def remove_routes(self) -> None:
        if self._route_undo is not None and self.ledger is not None:
            self.ledger.undo(self._route_undo)
            self._route_undo = None
            self.routes = []

    # --- the stack ------------------------------------------------------------------------------

    def _stack(self) -> StackDeployer:
        if self.deployer is None:
            raise PlatformError("the kind platform is not up")
        return self.deployer

    def _prepare_images(self, images: dict[str, str]) -> None:
        d = self._stack()
        self.cluster.build_images(d.stack.build, images, d.stack.images)
        self.cluster.load_images(images.values())

    def deploy_stack(self, component: str, timeout_s: float = 600) -> list[KubePod]:
        self._stack().deploy(component, timeout_s)
        return [p for label in self._stack().stack.labels_of(component) for p in self.pods(label)]

    def remove_stack(self, component: str) -> None:
        self._stack().remove(component)

    def endpoints(self, component: str, port: int | None = None) -> list[tuple[str, str, int]]:
        return self._stack().endpoints(component, port)

    def exec_in_pod(self, pod: str, argv: list[str], timeout_s: float = 30) -> str:
        """Run argv in the pod's first container; its stdout, or PlatformError with stderr."""
        from kubernetes.stream import stream

        _kube()
        p = self.pod(pod)
        resp = stream(self.core.connect_get_namespaced_pod_exec, p.name, p.namespace, command=list(argv),
                      stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        try:
            resp.run_forever(timeout=timeout_s)
            if resp.is_open():
                raise PlatformError(f"exec in {pod} did not finish within {timeout_s:.0f} s: {argv}")
            out, err = resp.read_stdout() or "", resp.read_stderr() or ""
            code = resp.returncode
        finally:
            resp.close()
        if code != 0:
            raise PlatformError(f"exec in {pod} exited {code}: {argv}: {err.strip()[-800:]}")
        return out
