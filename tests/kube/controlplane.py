"""A real Kubernetes control plane for the kube tier, built from source, with kwok's fake nodes.

kube-apiserver, kube-controller-manager and kube-scheduler (Kubernetes K8S_VERSION), etcd and
kwok are compiled from the wrapper module fixtures/controlplane (go.mod pins every version) into
<cache>/controlplane-<version>/bin, once: the cache (CHAOS_CACHE_DIR, default
/var/cache/chaos-harness) is reused while go.mod, go.sum and the build flags are unchanged.

start() runs them all on 127.0.0.1 (random free ports, a fresh PKI, one static admin token) and
registers six kwok nodes in zones a/b/c; kwok plays their kubelets (one kwok process per node), so
a pod scheduled onto one becomes Running and Ready without any container. Nothing is a container
and nothing needs a network but loopback. Pod IPs are kwok's inventions: never dial them.
crash_node(name) kills that node's kwok (the node goes Unknown after node_monitor_grace_period,
20 s here, and is tainted unreachable); restore_node(name) starts it again.

Standard library and subprocess only, so the fixture does not depend on the code it tests.

    cp = ControlPlane()
    cp.build()                 # cached
    cp.start()                 # until the six nodes are Ready
    ... cp.kubeconfig, cp.context ...
    cp.stop()                  # SIGTERM then SIGKILL, process groups; removes the work dir
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

__all__ = ["ControlPlane", "ControlPlaneError", "K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION", "CONTEXT",
           "NODES", "ZONE_LABEL", "KWOK_ANNOTATION", "prerequisites", "default_cache_dir"]

# Keep in step with fixtures/controlplane/go.mod.
K8S_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"
KWOK_VERSION = "v0.8.0"

MODULE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "controlplane"
EXTRA_STAGES = MODULE_DIR / "kwok-stages-extra.yaml"
CONTEXT = "chaos-controlplane"
ZONE_LABEL = "topology.kubernetes.io/zone"
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODES = (("kwok-a1", "a"), ("kwok-a2", "a"), ("kwok-b1", "b"), ("kwok-b2", "b"), ("kwok-c1", "c"),
         ("kwok-c2", "c"))
ADMIN_USER = "admin"

# binary name -> Go package (built inside MODULE_DIR)
PACKAGES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kwok": "sigs.k8s.io/kwok/cmd/kwok",
    # The kind node image's binaries (fixtures/kind-node), built in the same go build so that
    # both tiers share one dependency graph and one set of compiled packages.
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kubeadm": "k8s.io/kubernetes/cmd/kubeadm",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
}
# kwokctl's default stages for a binary cluster (node/fast + node/heartbeat-with-lease + pod/fast),
# taken from the pinned kwok module at build time.
KWOK_STAGES = ("kustomize/stage/node/fast/node-initialize.yaml",
               "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
               "kustomize/stage/pod/fast/pod-ready.yaml",
               "kustomize/stage/pod/fast/pod-complete.yaml",
               "kustomize/stage/pod/fast/pod-delete.yaml")
BUILD_TIMEOUT_S = float(os.environ.get("CHAOS_CONTROLPLANE_BUILD_TIMEOUT", 3600))
STOP_GRACE_S = 10.0
WORKDIR_PREFIX = "chaos-controlplane-"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or stopped; the message says why."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("CHAOS_CACHE_DIR", "/var/cache/chaos-harness"))


def prerequisites() -> list[str]:
    """What is missing to build and run the control plane (empty: nothing)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the control plane's cache lives in /var/cache/chaos-harness)")
    if shutil.which("go") is None:
        missing.append("go (the Go toolchain, 1.26 or newer, builds the control plane from source)")
    if shutil.which("openssl") is None:
        missing.append("openssl (makes the control plane's certificates; apt-get install openssl)")
    return missing


def _say(log: Callable[[str], None], t0: float, message: str) -> None:
    log(f"[controlplane {time.monotonic() - t0:7.1f}s] {message}")


def _tail(path: Path | None, lines: int = 30) -> str:
    """The last lines of a log, preceded by its last error lines (a usage dump buries the error)."""
    if path is None or not path.exists():
        return "(no log)"
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 256 * 1024))
        text = f.read().decode("utf-8", "replace").splitlines()
    last = text[-lines:]
    errors = [line for line in text[:-lines] if line.startswith(("E1", "E0", "F1", "F0", "Error:"))
              or '"level":"error"' in line or '"level":"fatal"' in line or '"level":"ERROR"' in line][-8:]
    head = ["[last error lines]"] + errors + ["[last lines]"] if errors else []
    return "\n".join(line[:400] for line in head + last)


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (all bound at once, so no two are the same)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """In the child: die with the parent (no orphaned control plane if the harness is SIGKILLed)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Proc:
    def __init__(self, name: str, popen: subprocess.Popen, log: Path):
        self.name, self.popen, self.log = name, popen, log


class ControlPlane:
    """One control plane: build() once, then start()/stop(); a context manager starts and stops."""

    def __init__(self, cache_dir: str | os.PathLike | None = None, log: Callable[[str], None] | None = None,
                 node_monitor_grace_period: str = "20s", node_lease_seconds: int = 20):
        self.cache = Path(cache_dir) if cache_dir else default_cache_dir()
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.node_monitor_grace_period = node_monitor_grace_period
        self.node_lease_seconds = node_lease_seconds
        self.version = K8S_VERSION
        self.context = CONTEXT
        self.node_names = [name for name, _ in NODES]
        self.node_zone = dict(NODES)
        self.zones: dict[str, list[str]] = {}
        for name, zone in NODES:
            self.zones.setdefault(zone, []).append(name)
        self.workdir: Path | None = None
        self.kubeconfig: str | None = None
        self.server: str | None = None
        self.token: str | None = None
        self.ca_file: str | None = None
        self.ports: dict[str, int] = {}
        self.procs: list[_Proc] = []
        self.crashed: set[str] = set()
        self._owns_workdir = False
        self._ssl: ssl.SSLContext | None = None

    # ------------------------------------------------------------------ build
    @property
    def root(self) -> Path:
        return self.cache / f"controlplane-{self.version}"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def stages_file(self) -> Path:
        return self.root / "share" / "kwok-stages.yaml"

    def _ldflags(self, build_date: str = "") -> str:
        """Version stamps as Kubernetes' own build sets them (hack/lib/version.sh): --version and /version
        report the real release, which clients and kwok read. No commit: the module proxy gives none."""
        major, minor = self.version.lstrip("v").split(".")[:2]
        flags = ["-s", "-w"]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += [f"-X {pkg}.gitVersion={self.version}", f"-X {pkg}.gitMajor={major}",
                      f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitCommit=", f"-X {pkg}.gitTreeState=clean"]
            if build_date:
                flags.append(f"-X {pkg}.buildDate={build_date}")
        return " ".join(flags)

    def fingerprint(self) -> str:
        """What the cached binaries were built from: go.mod, go.sum, packages, flags (not the build date)."""
        h = hashlib.sha256()
        for name in ("go.mod", "go.sum"):
            h.update((MODULE_DIR / name).read_bytes())
        h.update(self._ldflags().encode())
        h.update(json.dumps(PACKAGES, sort_keys=True).encode())
        h.update(json.dumps(KWOK_STAGES).encode())
        return h.hexdigest()

    def is_built(self) -> bool:
        stamp = self.root / ".complete"
        return (stamp.exists() and stamp.read_text().strip() == self.fingerprint()
                and all((self.bin_dir / b).exists() for b in PACKAGES) and self.stages_file.exists())

    def build(self, cache_dir: str | os.PathLike | None = None) -> Path:
        """Build every binary into <cache_dir>/controlplane-<version>/bin unless already there."""
        if cache_dir is not None:
            self.cache = Path(cache_dir)
        if self.is_built():
            return self.bin_dir
        if shutil.which("go") is None:
            raise ControlPlaneError("go is not installed: the control plane is built from source with Go 1.26+")
        self.cache.mkdir(parents=True, exist_ok=True)
        lock_path = self.cache / f"controlplane-{self.version}.lock"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build: wait for it, then reuse it
            if self.is_built():
                return self.bin_dir
            self._build_locked()
        return self.bin_dir

    def _build_locked(self) -> None:
        t0 = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix="build-", dir=self.root))
        log_path = self.root / "build.log"
        env = dict(os.environ, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=readonly -buildvcs=false")
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        build_date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _say(self.log, t0, f"building Kubernetes {self.version}, etcd {ETCD_VERSION}, kwok {KWOK_VERSION} "
                           f"from source into {self.bin_dir} (log: {log_path}; about 7-10 min cold on 2 cores)")
        try:
            with open(log_path, "w") as logf:
                k8s = [b for b in PACKAGES if b != "etcd"]
                steps = [("etcd", "-s -w", str(stage / "etcd"), [PACKAGES["etcd"]]),
                         (", ".join(k8s), self._ldflags(build_date), str(stage) + "/", [PACKAGES[b] for b in k8s])]
                for what, ldflags, out, packages in steps:
                    cmd = ["nice", "-n", "19", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, *packages]
                    logf.write("$ " + " ".join(cmd) + "\n")
                    logf.flush()
                    _say(self.log, t0, f"go build {what} ...")
                    self._run_build(cmd, env, logf, log_path, what, t0, deadline)
                    _say(self.log, t0, f"built {what}")
                stages_dir = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], cwd=MODULE_DIR,
                                            env=env, capture_output=True, text=True, check=True).stdout.strip()
                docs = [(Path(stages_dir) / rel).read_text().strip() for rel in KWOK_STAGES]
                (stage / "kwok-stages.yaml").write_text("\n---\n".join(docs) + "\n")
            for b in PACKAGES:
                if not (stage / b).exists():
                    raise ControlPlaneError(f"go build made no {b}; see {log_path}")
            # Swap in atomically-ish: a half-built cache is never marked complete.
            (self.root / ".complete").unlink(missing_ok=True)
            shutil.rmtree(self.bin_dir, ignore_errors=True)
            (self.root / "share").mkdir(exist_ok=True)
            os.replace(stage / "kwok-stages.yaml", self.stages_file)
            os.replace(stage, self.bin_dir)
            self.bin_dir.chmod(0o755)
            (self.root / ".complete").write_text(self.fingerprint() + "\n")
            size = sum(p.stat().st_size for p in self.bin_dir.iterdir()) / 2 ** 20
            _say(self.log, t0, f"done: {', '.join(PACKAGES)} in {self.bin_dir} ({size:.0f} MiB)")
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _run_build(self, cmd, env, logf, log_path, what, t0, deadline) -> None:
        proc = subprocess.Popen(cmd, cwd=MODULE_DIR, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_child_setup)
        last = time.monotonic()
        try:
            while proc.poll() is None:
                time.sleep(1)
                if time.monotonic() > deadline:
                    raise ControlPlaneError(f"building {what} took longer than {BUILD_TIMEOUT_S:.0f}s "
                                            f"(CHAOS_CONTROLPLANE_BUILD_TIMEOUT); last lines of {log_path}:\n"
                                            + _tail(log_path))
                if time.monotonic() - last >= 60:
                    last = time.monotonic()
                    _say(self.log, t0, f"still building {what}")
        finally:
            if proc.poll() is None:
                _killpg(proc, 0)
        if proc.returncode != 0:
            logf.flush()
            raise ControlPlaneError(f"go build {what} failed (exit {proc.returncode}); last lines of {log_path}:\n"
                                    + _tail(log_path))

    # ------------------------------------------------------------------ start
    def start(self, workdir: str | os.PathLike | None = None, timeout_scale: float = 1.0) -> "ControlPlane":
        """Start etcd, the control plane and kwok; register the six nodes; return when all are Ready."""
        if self.procs:
            raise ControlPlaneError("already started")
        if not self.is_built():
            raise ControlPlaneError(f"not built: call build() first (cache {self.root})")
        _cleanup_stale_workdirs()
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._owns_workdir = True
        (self.workdir / "owner.pid").write_text(f"{os.getpid()}\n")
        t0 = time.monotonic()
        s = timeout_scale
        try:
            self._pki()
            names = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler",
                     *(f"kwok.{node}" for node in self.node_names))
            self.ports = dict(zip(names, free_ports(len(names))))
            self._start_etcd()
            self._wait("etcd healthy", self._etcd_healthy, 30 * s, "etcd")
            self._start_apiserver()
            self._wait("kube-apiserver ready", lambda: self._get_status("/readyz") == 200, 120 * s, "kube-apiserver")
            _say(self.log, t0, f"kube-apiserver {self.server} ready")
            self._write_kubeconfig()
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self._wait("kube-controller-manager healthy", lambda: self._component_healthy("controller-manager"),
                       60 * s, "kube-controller-manager")
            self._wait("kube-scheduler healthy", lambda: self._component_healthy("scheduler"), 60 * s,
                       "kube-scheduler")
            self._create_nodes()
            self._wait("six kwok nodes Ready", self._nodes_ready, 90 * s, f"kwok.{self.node_names[0]}")
            self._wait("default ServiceAccount (controller-manager running)",
                       lambda: self._get_status("/api/v1/namespaces/default/serviceaccounts/default") == 200,
                       60 * s, "kube-controller-manager")
            _say(self.log, t0, f"control plane up: {len(NODES)} nodes Ready, kubeconfig {self.kubeconfig} "
                               f"(context {self.context})")
        except BaseException:
            self.stop()
            raise
        return self

    def _pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir()

        def ssl_cmd(*args: str) -> None:
            r = subprocess.run(["openssl", *args], cwd=pki, capture_output=True, text=True)
            if r.returncode != 0:
                raise ControlPlaneError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")

        ssl_cmd("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "7",
                "-subj", "/CN=chaos-controlplane-ca")
        (pki / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
                                     "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
                                     "extendedKeyUsage=serverAuth\n")
        ssl_cmd("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
                "-subj", "/CN=kube-apiserver")
        ssl_cmd("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "apiserver.crt", "-days", "7", "-extfile", "san.cnf")
        ssl_cmd("genrsa", "-out", "sa.key", "2048")
        ssl_cmd("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        self.token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        (pki / "tokens.csv").write_text(f'{self.token},{ADMIN_USER},uid-admin,"system:masters"\n')
        for p in pki.iterdir():
            p.chmod(0o600)
        self.ca_file = str(pki / "ca.crt")
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def _spawn(self, name: str, args: list[str], env: dict | None = None) -> None:
        log_path = self.workdir / f"{name}.log"
        with open(log_path, "ab") as logf:
            popen = subprocess.Popen([str(self.bin_dir / args[0])] + args[1:], cwd=self.workdir, stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_child_setup, env=env)
        self.procs.append(_Proc(name, popen, log_path))
        with open(self.workdir / "pids", "a") as f:
            f.write(f"{name} {popen.pid}\n")

    def _start_etcd(self) -> None:
        c, p = self.ports["etcd"], self.ports["etcd-peer"]
        self._spawn("etcd", [
            "etcd", "--name=default", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{c}", f"--advertise-client-urls=http://127.0.0.1:{c}",
            f"--listen-peer-urls=http://127.0.0.1:{p}", f"--initial-advertise-peer-urls=http://127.0.0.1:{p}",
            f"--initial-cluster=default=http://127.0.0.1:{p}", "--initial-cluster-state=new",
            "--unsafe-no-fsync=true",  # a throw-away test store: no fsync latency on a shared disk
            "--log-level=warn",
        ])

    def _start_apiserver(self) -> None:
        pki = self.workdir / "pki"
        port = self.ports["apiserver"]
        self.server = f"https://127.0.0.1:{port}"
        self._spawn("kube-apiserver", [
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'apiserver'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            # published in kube-system/extension-apiserver-authentication, which the controller-manager's
            # and scheduler's delegated authentication read (without it they log errors in a loop)
            f"--requestheader-client-ca-file={pki / 'ca.crt'}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=true",  # /healthz, /readyz, /version for anyone (the default)
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",  # 127.0.0.1 is no valid endpoint for the kubernetes Service
            "--allow-privileged=true",
            "--profiling=false",
        ])

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(Path(self.ca_file).read_bytes()).decode()
        doc = {
            "apiVersion": "v1", "kind": "Config", "current-context": self.context, "preferences": {},
            "clusters": [{"name": self.context, "cluster": {"server": self.server,
                                                             "certificate-authority-data": ca}}],
            "users": [{"name": f"{self.context}-{ADMIN_USER}", "user": {"token": self.token}}],
            "contexts": [{"name": self.context, "context": {"cluster": self.context,
                                                             "user": f"{self.context}-{ADMIN_USER}"}}],
        }
        path = self.workdir / "kubeconfig"
        path.write_text(json.dumps(doc, indent=2) + "\n")  # JSON is YAML: every kubeconfig reader takes it
        path.chmod(0o600)
        self.kubeconfig = str(path)

    def _delegation(self, name: str) -> list[str]:
        return [f"--kubeconfig={self.kubeconfig}", f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}", "--bind-address=127.0.0.1",
                f"--secure-port={self.ports[name]}", f"--cert-dir={self.workdir / name}", "--leader-elect=false"]

    def _start_controller_manager(self) -> None:
        pki = self.workdir / "pki"
        self._spawn("kube-controller-manager", [
            "kube-controller-manager", *self._delegation("controller-manager"),
            "--controllers=*",  # all default controllers: statefulset, disruption, garbagecollector, nodelifecycle...
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--cluster-name=chaos-controlplane",
            f"--node-monitor-grace-period={self.node_monitor_grace_period}",
            "--profiling=false",
        ])

    def _start_scheduler(self) -> None:
        self._spawn("kube-scheduler", ["kube-scheduler", *self._delegation("scheduler"), "--profiling=false"])

    def _start_kwok(self) -> None:
        """One kwok process per node, so that one node can crash (its kwok killed) while the others live."""
        home = self.workdir / "kwok-home"  # kwok also reads ~/.kwok/kwok.yaml: keep the user's out
        home.mkdir()
        stages = self.workdir / "kwok-stages.yaml"
        stages.write_text(self.stages_file.read_text().rstrip() + "\n---\n" + EXTRA_STAGES.read_text())
        for node in self.node_names:
            self._start_node_agent(node)

    def _start_node_agent(self, node: str) -> None:
        key, value = KWOK_ANNOTATION
        self._spawn(f"kwok.{node}", [
            "kwok", f"--config={self.workdir / 'kwok-stages.yaml'}", f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={key}={value}",
            f"--manage-nodes-with-label-selector=kubernetes.io/hostname={node}",
            f"--server-address=127.0.0.1:{self.ports[f'kwok.{node}']}",
            # a lease renewed every lease/4 = 5 s; nodelifecycle's grace (node_monitor_grace_period) sees 3-4
            f"--node-lease-duration-seconds={self.node_lease_seconds}",
        ], env=dict(os.environ, HOME=str(self.workdir / "kwok-home")))

    # ------------------------------------------------------------------ node faults
    def crash_node(self, node: str) -> None:
        """The node's kubelet dies: SIGKILL its kwok process. Its lease stops; after
        node_monitor_grace_period the node-lifecycle controller marks it Unknown, taints it
        unreachable and marks its pods NotReady; pods deleted meanwhile stay Terminating (no kubelet)."""
        p = self._node_agent(node)
        if p is None:
            raise ControlPlaneError(f"node {node} is not running (crashed already, or not a kwok node)")
        _killpg(p.popen, 0)
        self.procs.remove(p)
        self.crashed.add(node)

    def restore_node(self, node: str) -> None:
        """The node's kubelet is back: start its kwok again (the node turns Ready, its pods Ready)."""
        if node not in self.crashed:
            raise ControlPlaneError(f"node {node} is not crashed")
        self._start_node_agent(node)
        self.crashed.discard(node)

    def _node_agent(self, node: str) -> _Proc | None:
        return next((p for p in self.procs if p.name == f"kwok.{node}"), None)

    # ------------------------------------------------------------------ API helpers
    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 10.0) -> tuple[int, dict]:
        """One request to the apiserver as admin: (HTTP status, decoded JSON body or {})."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=timeout) as r:
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else {}
        except ValueError:
            return status, {"raw": raw.decode("utf-8", "replace")}

    def _get_status(self, path: str) -> int:
        try:
            return self.api("GET", path, timeout=5)[0]
        except (OSError, urllib.error.URLError):
            return 0

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['etcd']}/health", timeout=3) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def _component_healthy(self, name: str) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # their own self-signed serving certs
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.ports[name]}/healthz", context=ctx, timeout=3) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _create_nodes(self) -> None:
        key, value = KWOK_ANNOTATION
        for name, zone in NODES:
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
                             "labels": {"type": "kwok", "kubernetes.io/hostname": name, ZONE_LABEL: zone,
                                        "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                        "kubernetes.io/role": "agent", "node-role.kubernetes.io/agent": ""}},
                "spec": {},
                "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                           "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"}},
            }
            status, body = self.api("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise ControlPlaneError(f"creating node {name}: HTTP {status}: {body.get('message', body)}")

    def _nodes_ready(self) -> bool:
        status, body = self.api("GET", "/api/v1/nodes")
        if status != 200:
            return False
        ready = {n["metadata"]["name"] for n in body.get("items", [])
                 if any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in n.get("status", {}).get("conditions", []))}
        return set(self.node_names) <= ready

    def _wait(self, what: str, check: Callable[[], bool], timeout: float, log_of: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            dead = [p for p in self.procs if p.popen.poll() is not None]
            if dead:
                p = dead[0]
                raise ControlPlaneError(f"{p.name} exited (code {p.popen.returncode}) while waiting for {what}; "
                                        f"{p.log} (CHAOS_CONTROLPLANE_KEEP=1 keeps it):\n{_tail(p.log)}")
            try:
                if check():
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                log = next((p.log for p in self.procs if p.name == log_of), None)
                raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}; {log} "
                                        f"(CHAOS_CONTROLPLANE_KEEP=1 keeps it):\n{_tail(log)}")
            time.sleep(0.25)

    # ------------------------------------------------------------------ stop
    def stop(self, keep_workdir: bool | None = None) -> None:
        """Stop every process (SIGTERM, then SIGKILL after a grace) and remove the work dir."""
        if keep_workdir is None:
            keep_workdir = os.environ.get("CHAOS_CONTROLPLANE_KEEP") == "1"
        errors = []
        # Clients first (all at once), then the apiserver, then etcd: an apiserver whose etcd is gone
        # hangs in its graceful shutdown.
        tiers = [[p for p in self.procs if p.name not in ("kube-apiserver", "etcd")],
                 [p for p in self.procs if p.name == "kube-apiserver"], [p for p in self.procs if p.name == "etcd"]]
        for tier in tiers:
            for p in tier:
                _signal_group(p.popen.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while time.monotonic() < deadline and any(p.popen.poll() is None or _group_alive(p.popen.pid)
                                                      for p in tier):
                time.sleep(0.05)
        for p in reversed(self.procs):
            try:
                _killpg(p.popen, 0)  # SIGKILL what is left, reap the leader
            except Exception as exc:  # keep stopping the others
                errors.append(f"{p.name}: {exc}")
        self.procs = []
        self.crashed = set()
        if self.workdir is not None and self._owns_workdir:
            if keep_workdir:
                self.log(f"[controlplane] kept {self.workdir} (CHAOS_CONTROLPLANE_KEEP=1)")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None
        self._owns_workdir = False
        if errors:
            raise ControlPlaneError("stopping the control plane: " + "; ".join(errors))

    def logs(self) -> dict[str, Path]:
        """Log file of every running process, by name (etcd, kube-apiserver, ..., kwok.<node>)."""
        return {p.name: p.log for p in self.procs}

    def check(self) -> None:
        """Raise ControlPlaneError if a process of the control plane has died since start()."""
        for p in self.procs:
            if p.popen.poll() is not None:
                raise ControlPlaneError(f"{p.name} exited (code {p.popen.returncode}); {p.log}:\n{_tail(p.log)}")

    def __enter__(self) -> "ControlPlane":
        self.build()
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _killpg(popen: subprocess.Popen, grace: float) -> None:
    """SIGTERM the process group, wait up to grace, then SIGKILL the group; reap the leader."""
    pgid = popen.pid  # start_new_session: the child leads its own group
    if popen.poll() is None or _group_alive(pgid):
        if grace > 0:
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and (popen.poll() is None or _group_alive(pgid)):
                time.sleep(0.1)
        _signal_group(pgid, signal.SIGKILL)
    try:
        popen.wait(timeout=10)
    except subprocess.TimeoutExpired as exc:
        raise ControlPlaneError(f"pid {popen.pid} survived SIGKILL") from exc


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _cleanup_stale_workdirs() -> None:
    """Work dirs left by a harness that was killed (its processes died with it): remove them."""
    for d in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        owner = d / "owner.pid"
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":  # python3 tests/kube/controlplane.py build|up
    cp = ControlPlane()
    cp.build()
    if sys.argv[1:] == ["up"]:
        cp.start()
        print(f"export KUBECONFIG={cp.kubeconfig}  # Ctrl-C stops it", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            cp.stop()
