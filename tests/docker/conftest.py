"""Six containers standing in for kind nodes (chaosnode-a1 .. chaosnode-c2, zones a/b/c), on a
Docker daemon this session starts itself when none is running, so that the kind node faults
(chaos.platforms.kind_nodes) are tested for real: no kind cluster can start on these machines
(kind runs its nodes privileged), but a node crash and a zone partition are the same operations
on any container: `docker kill` and iptables rules inside it.

The daemon must not break the local platform, which may run at the same time (namespaces on
bridge chaosbr0): Docker's default start sets the host FORWARD policy to DROP. So our dockerd
runs with --iptables=false --ip-masq=false --ip-forward=false --bridge=none, on private
directories and socket (under $CHAOS_STATE_DIR/test-dockerd), and the only host rule added is an
ACCEPT for our own bridge in FORWARD (bridged frames pass FORWARD: br_netfilter). At teardown
everything goes, and what was changed on the host (FORWARD policies, forwarding and
bridge-netfilter sysctls) is put back; the teardown fails if anything is left.

Needs root, the docker CLI and dockerd (apt-get install docker.io), and for the first build of
the node image debootstrap (apt-get install debootstrap) and the Debian archive. Installs
nothing.
"""

from __future__ import annotations

import contextlib
from chaos._modules import load_file
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest


REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "fixtures" / "node-image" / "build.py"

NETWORK = "chaos-kind-standin"
BRIDGE = "chaosdkr0"  # the network's Linux bridge (the local platform's is chaosbr0)
SUBNET_PREFIX = os.environ.get("CHAOS_DOCKER_SUBNET_PREFIX", "10.214.0")  # /24; local uses 10.213.x
LABEL_KEY, LABEL_VALUE = "org.chaos-harness.test", "kind-standin"
HOST_RULE_COMMENT = "chaos-docker-tests:bridge"
PORT = 7000  # each node's TCP listener, standing in for a pod
NODES = {f"chaosnode-{z}{n}": z for z in "abc" for n in (1, 2)}
NODE_IPS = {name: f"{SUBNET_PREFIX}.{10 * (1 + 'abc'.index(name[-2])) + int(name[-1])}" for name in NODES}
DOCKERD_START_TIMEOUT_S = 30.0
DOCKERD_STOP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 30.0
RUN_DIRS = (Path("/run/docker/plugins"), Path("/run/docker"), Path("/run/containerd/s"), Path("/run/containerd"))


def state_dir() -> Path:
    return Path(os.environ.get("CHAOS_STATE_DIR", "/var/lib/chaos-harness"))


def sh(*argv: str, timeout: float = 30.0, check: bool = False, input: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc


def load_build_script():
    return load_file(BUILD_SCRIPT, "chaos_node_image_build")


# --- the host: what Docker could change, snapshot and restore ----------------------------------

SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables",
           "net/bridge/bridge-nf-call-ip6tables", "net/bridge/bridge-nf-call-arptables")


def _policy(binary: str, chain: str = "FORWARD") -> str | None:
    if shutil.which(binary) is None:
        return None
    proc = sh(binary, "-w", "5", "-S", chain)
    for line in proc.stdout.splitlines():
        if line.startswith(f"-P {chain} "):
            return line.split()[2]
    return None


def host_snapshot() -> dict[str, Any]:
    sysctls = {}
    for name in SYSCTLS:
        p = Path("/proc/sys") / name
        sysctls[name] = p.read_text().strip() if p.exists() else None
    return {"iptables FORWARD": _policy("iptables"), "ip6tables FORWARD": _policy("ip6tables"),
            "sysctl": sysctls, "run_dirs": {str(d): d.exists() for d in RUN_DIRS},
            "veths": sorted(_links("veth")), "key_json": Path("/etc/docker/key.json").exists()}


def _links(prefix: str) -> set[str]:
    try:
        out = sh("ip", "-br", "link").stdout
    except FileNotFoundError:
        return set()
    return {line.split()[0].split("@")[0] for line in out.splitlines() if line.startswith(prefix)}


def restore_host(before: dict[str, Any]) -> list[str]:
    """Put back what a Docker daemon may have changed on the host; returns what was restored."""
    done = []
    for binary in ("iptables", "ip6tables"):
        want = before[f"{binary} FORWARD"]
        if want and _policy(binary) not in (None, want):
            sh(binary, "-w", "5", "-P", "FORWARD", want, check=True)
            done.append(f"{binary} FORWARD policy back to {want}")
    for name, value in before["sysctl"].items():
        p = Path("/proc/sys") / name
        if value is not None and p.exists() and p.read_text().strip() != value:
            p.write_text(value)
            done.append(f"sysctl {name} back to {value}")
    return done


def host_rules() -> list[str]:
    """Host iptables rules of ours (the bridge ACCEPT) or mentioning our bridge or subnet."""
    found = []
    for binary in ("iptables-save", "ip6tables-save"):
        if shutil.which(binary):
            for line in sh(binary).stdout.splitlines():
                if line.startswith("-A") and (HOST_RULE_COMMENT in line or BRIDGE in line
                                              or f"{SUBNET_PREFIX}." in line):
                    found.append(f"{binary}: {line}")
    return found


def _host_rule(op: str, bridge: str = BRIDGE, comment: str = HOST_RULE_COMMENT) -> list[str]:
    """The host's FORWARD ACCEPT for frames between containers on one of our bridges."""
    return ["iptables", "-w", "5", op, "FORWARD", *(["1"] if op == "-I" else []), "-i", bridge, "-o", bridge,
            "-m", "comment", "--comment", comment, "-j", "ACCEPT"]


def add_host_rule(bridge: str = BRIDGE, comment: str = HOST_RULE_COMMENT) -> None:
    remove_host_rules(bridge, comment)
    sh(*_host_rule("-I", bridge, comment), check=True)


def remove_host_rules(bridge: str = BRIDGE, comment: str = HOST_RULE_COMMENT) -> None:
    for _ in range(10):
        if sh(*_host_rule("-D", bridge, comment)).returncode != 0:
            break


def remove_run_dirs(before: dict[str, Any], ours: bool) -> None:
    """The empty runtime directories dockerd/containerd create: those that were not there
    before, and (when the daemon was ours, e.g. adopted from a killed session) any, unless
    another daemon runs. rmdir never removes a non-empty one."""
    others = sh("pgrep", "-x", "dockerd|containerd").stdout.split()
    for d in RUN_DIRS:
        if d.is_dir() and (not before["run_dirs"][str(d)] or (ours and not others)):
            with contextlib.suppress(OSError):
                d.rmdir()


# --- the daemon ------------------------------------------------------------------------------

def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def default_daemon_running() -> bool:
    """A daemon answers on the default socket (or DOCKER_HOST): use it, leave it running."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        return sh("docker", "version", "--format", "{{.Server.Version}}", timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


class DockerDaemon:
    """A dockerd of our own that leaves host networking alone, on private paths:
    $CHAOS_STATE_DIR/test-dockerd/{data,exec,docker.sock,dockerd.pid,key.json}; log in
    $CHAOS_STATE_DIR/logs/test-dockerd.log (kept for post-mortems)."""

    FLAGS = ("--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false",
             "--bridge=none", "--userland-proxy=false", "--log-level=warn")
    # kind publishes each cluster's API server on a loopback port: with iptables off that takes
    # Docker's userland proxy.
    KIND_FLAGS = tuple(f for f in FLAGS if f != "--userland-proxy=false")

    def __init__(self, base: Path | None = None, log_path: Path | None = None, flags: tuple[str, ...] = FLAGS,
                 runc_wrapper: Path | None = None):
        """`runc_wrapper`: registered as the default runtime (chaos-runc), for hosts whose
        bounding set lacks CAP_SYS_RESOURCE: without it no privileged container starts there."""
        self.base = base or state_dir() / "test-dockerd"
        self.log_path = log_path or state_dir() / "logs" / f"{self.base.name}.log"
        self.flags = flags
        self.runc_wrapper = runc_wrapper
        self.socket = self.base / "docker.sock"
        self.pidfile = self.base / "dockerd.pid"
        self.docker = ["docker", "-H", f"unix://{self.socket}"]
        self.pid: int | None = None
        self.adopted = False  # True: a killed session's daemon, taken over
        self._proc: subprocess.Popen | None = None

    DAEMON_COMMS = ("dockerd", "containerd", "containerd-shim", "docker-proxy", "runc")

    def _our_pids(self) -> list[int]:
        """dockerd, its containerd and shims: the daemon processes naming our directory."""
        pids = []
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                comm = Path(f"/proc/{p}/comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(self.DAEMON_COMMS) and str(self.base) in _cmdline(int(p)) and _alive(int(p)):
                pids.append(int(p))
        return pids

    def _answers(self) -> bool:
        try:
            return sh(*self.docker, "version", "--format", "{{.Server.Version}}", timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self, timeout_s: float = DOCKERD_START_TIMEOUT_S) -> float:
        """Start dockerd (or adopt the one a killed session of ours left); returns seconds."""
        t0 = time.monotonic()
        old = int(self.pidfile.read_text()) if self.pidfile.is_file() and self.pidfile.read_text().strip().isdigit() else None
        if old and _alive(old) and "dockerd" in _cmdline(old) and str(self.base) in _cmdline(old) and self._answers():
            self.pid = old  # a crashed session's daemon: ours, adopt it (stopped at teardown)
            self.adopted = True
            return time.monotonic() - t0
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd not found (fix: apt-get install docker.io)")
        for d in ("data", "exec"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o711)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = ["dockerd", *self.flags, f"--data-root={self.base / 'data'}", f"--exec-root={self.base / 'exec'}",
                f"--pidfile={self.pidfile}", f"--host=unix://{self.socket}",
                f"--config-file={self.base / 'daemon.json'}"]
        # 20.10 writes its trust key to /etc/docker/key.json unless told otherwise (a config
        # file key only, no flag); a private config file also keeps /etc/docker/daemon.json out.
        config: dict[str, Any] = {"deprecated-key-path": str(self.base / "key.json")}
        if self.runc_wrapper is not None:
            config["runtimes"] = {"chaos-runc": {"path": str(self.runc_wrapper)}}
            config["default-runtime"] = "chaos-runc"
        (self.base / "daemon.json").write_text(json.dumps(config))
        with open(self.log_path, "w") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.pid, self._proc = proc.pid, proc
        deadline = t0 + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with status {proc.returncode}: {self.log_tail()}")
            if self.socket.exists() and self._answers():
                return time.monotonic() - t0
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dockerd did not answer within {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = DOCKERD_STOP_TIMEOUT_S) -> None:
        """Stop dockerd (SIGTERM, bounded; then SIGKILL), then whatever of ours outlived it,
        unmount what is left under our directory and remove it. Safe to call twice."""
        pids = ([self.pid] if self.pid else []) + self._our_pids()
        main = self.pid
        if main and _alive(main):
            os.kill(main, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(main) and time.monotonic() < deadline:
                time.sleep(0.1)
        for pid in [p for p in dict.fromkeys(pids + self._our_pids()) if _alive(p)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._our_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._proc is not None:  # reap it (an adopted daemon is not our child)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None
        for target in self.mounts():
            sh("umount", "-l", target)
        if self.base.exists() and not self.mounts():
            shutil.rmtree(self.base, ignore_errors=True)
        self.pid = None

    def mounts(self) -> list[str]:
        prefix = str(self.base) + "/"
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            targets = [line.split()[1] for line in fh]
        return sorted((t for t in targets if (t + "/").startswith(prefix)), key=len, reverse=True)

    def leftovers(self) -> dict[str, Any]:
        return {"processes": [f"{p} {_cmdline(p)[:100]}" for p in self._our_pids()],
                "mounts": self.mounts(), "directory": self.base.exists()}


# --- the stand-in cluster -----------------------------------------------------------------------

def missing_prerequisites() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root (dockerd, iptables inside containers)")
    if shutil.which("docker") is None:
        missing.append("the docker CLI (apt-get install docker.io)")
    if shutil.which("dockerd") is None and not default_daemon_running():
        missing.append("dockerd (apt-get install docker.io)")
    if not missing:
        build = load_build_script()
        if not build.tarball_path().is_file() and shutil.which("debootstrap") is None:
            missing.append(f"debootstrap to build the node image, or a cached rootfs at {build.tarball_path()} "
                           "(apt-get install debootstrap)")
    return missing


class StandInCluster:
    """Daemon + node image + one network + six node containers; `close()` removes them all and
    restores the host; `leftovers()` names anything still there."""

    def __init__(self, say: Callable[[str], None] = print):
        self.say = say
        self.before: dict[str, Any] | None = None
        self.daemon: DockerDaemon | None = None  # set when this session started dockerd
        self.docker: list[str] = ["docker"]
        self.nodes = dict(NODES)
        self.ips = dict(NODE_IPS)
        self.port = PORT
        self.timings: dict[str, float] = {}
        self.closed = False
        self.restored: list[str] = []
        self.final_leftovers: dict[str, Any] | None = None

    # inventory
    def zone(self, z: str) -> list[str]:
        return [n for n, zz in self.nodes.items() if zz == z]

    def others(self, z: str) -> list[str]:
        return [n for n, zz in self.nodes.items() if zz != z]

    def up(self) -> "StandInCluster":
        t0 = time.monotonic()
        self.before = host_snapshot()
        try:
            if default_daemon_running():
                self.say("using the Docker daemon already running (it is left running)")
            else:
                self.daemon = DockerDaemon()
                self.timings["dockerd_start_s"] = self.daemon.start()
                self.docker = self.daemon.docker
                how = ("adopted the dockerd a killed session left" if self.daemon.adopted else
                       f"dockerd started in {self.timings['dockerd_start_s']:.1f}s")
                self.say(f"{how} (pid {self.daemon.pid}, no iptables/forwarding changes, "
                         f"log {self.daemon.log_path})")
            # Bridged frames between our containers pass the host's FORWARD chain (br_netfilter):
            # let them through even if something sets its policy to DROP.
            add_host_rule()
            t = time.monotonic()
            build = load_build_script()
            build._T0 = time.monotonic()
            build.emit = self.say
            self.image = build.import_image(self.docker)
            self.timings["image_s"] = time.monotonic() - t
            self._remove_nodes()  # of a crashed earlier session
            t = time.monotonic()
            label = f"{LABEL_KEY}={LABEL_VALUE}"
            sh(*self.docker, "network", "create", "--driver", "bridge", "--subnet", f"{SUBNET_PREFIX}.0/24",
               "-o", f"com.docker.network.bridge.name={BRIDGE}", "--label", label, NETWORK, check=True)
            for name, z in self.nodes.items():
                sh(*self.docker, "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK,
                   "--ip", self.ips[name], "--label", label, "--label", f"zone={z}",
                   # kind's own node containers restart on failure; a crash must not undo itself.
                   "--restart", "on-failure:1",
                   "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--init", self.image,
                   "socat", f"TCP-LISTEN:{PORT},fork,reuseaddr", "SYSTEM:echo ok", timeout=60, check=True)
            self.wait_ready()
            self.timings["containers_s"] = time.monotonic() - t
            self.say(f"{len(self.nodes)} stand-in nodes ready on {NETWORK} ({SUBNET_PREFIX}.0/24) "
                     f"in {time.monotonic() - t0:.1f}s total")
        except BaseException:
            self.close()
            raise
        return self

    def reachable(self, src: str, dst: str, timeout_s: float = 1.0) -> bool:
        from chaos.platforms.kind_nodes import tcp_reachable

        return tcp_reachable(self.docker, src, self.ips[dst], self.port, timeout_s)

    def wait_ready(self, names: list[str] | None = None, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Every (named) node's listener answers from a neighbour; bounded."""
        t0 = time.monotonic()
        names = names or list(self.nodes)
        for name in names:
            src = next(n for n in self.nodes if n != name)
            while not self.reachable(src, name, timeout_s=1.0):
                if time.monotonic() - t0 > timeout_s:
                    logs = sh(*self.docker, "logs", "--tail", "20", name).stdout
                    raise RuntimeError(f"{name}'s listener on :{self.port} not reachable from {src} "
                                       f"within {timeout_s:.0f}s; logs: {logs}")
                time.sleep(0.2)
        return time.monotonic() - t0

    def _daemon_up(self) -> bool:
        try:
            return sh(*self.docker, "version", "--format", "{{.Server.Version}}", timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _remove_nodes(self) -> None:
        ids = sh(*self.docker, "ps", "-aq", "--filter", f"label={LABEL_KEY}={LABEL_VALUE}").stdout.split()
        names = [n for n in self.nodes if sh(*self.docker, "container", "inspect", n).returncode == 0]
        if ids or names:
            sh(*self.docker, "rm", "-f", *dict.fromkeys(ids + names), timeout=60)
        if sh(*self.docker, "network", "inspect", NETWORK).returncode == 0:
            sh(*self.docker, "network", "rm", NETWORK, timeout=60)

    def close(self) -> dict[str, Any]:
        """Remove everything, restore the host; returns (and keeps) what is left, if anything."""
        if self.closed:
            return self.final_leftovers or {}
        self.closed = True
        errors = []
        try:
            if self._daemon_up():
                self._remove_nodes()
        except Exception as exc:  # keep going: the daemon is stopped below anyway
            errors.append(f"removing containers: {exc}")
        remove_host_rules()
        if self.daemon is not None:
            self.daemon.stop()
            self.say("dockerd stopped")
        if self.before is not None:
            self.restored = restore_host(self.before)
            remove_run_dirs(self.before, ours=self.daemon is not None)
        self.final_leftovers = self.leftovers()
        if errors:
            self.final_leftovers["errors"] = errors
        return self.final_leftovers

    def leftovers(self) -> dict[str, Any]:
        """Anything of ours still there; empty dict when nothing is."""
        left: dict[str, Any] = {}
        if self._daemon_up():
            ps = sh(*self.docker, "ps", "-a", "--format", "{{.Names}}",
                    "--filter", f"label={LABEL_KEY}={LABEL_VALUE}").stdout.split()
            named = [n for n in self.nodes if sh(*self.docker, "container", "inspect", n).returncode == 0]
            if ps or named:
                left["containers"] = sorted(set(ps + named))
            if sh(*self.docker, "network", "inspect", NETWORK).returncode == 0:
                left["network"] = NETWORK
        if sh("ip", "link", "show", BRIDGE).returncode == 0:
            left["bridge"] = BRIDGE
        rules = host_rules()
        if rules:
            left["host_rules"] = rules
        if self.before is not None:
            new_veths = sorted(_links("veth") - set(self.before["veths"]))
            if new_veths:
                left["veths"] = new_veths
            now = host_snapshot()
            for key in ("iptables FORWARD", "ip6tables FORWARD", "sysctl", "key_json"):
                if now[key] != self.before[key]:
                    left[key] = {"before": self.before[key], "now": now[key]}
            for d in RUN_DIRS:
                if not self.before["run_dirs"][str(d)] and d.exists():
                    left.setdefault("run_dirs", []).append(str(d))
        if self.daemon is not None:
            dl = self.daemon.leftovers()
            if any(dl.values()):
                left["dockerd"] = dl
        return left


def live_printer(pytestconfig, tag: str) -> Callable[[str], None]:
    """A progress printer that shows live, even under pytest's capture."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def say(msg: str) -> None:
        ctx = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with ctx:
            sys.stdout.write(f"\n[{tag}] {msg}")
            sys.stdout.flush()
    return say


@pytest.fixture(scope="session")
def standin_cluster(pytestconfig):
    """The stand-in kind nodes for the session (see the module docstring)."""
    missing = missing_prerequisites()
    if missing:
        pytest.skip("kind node fault tests need: " + "; ".join(missing))
    cluster = StandInCluster(live_printer(pytestconfig, "docker-tests"))
    try:
        cluster.up()
    except RuntimeError as exc:
        pytest.fail(f"could not set up the stand-in kind nodes: {exc}", pytrace=False)
    yield cluster
    left = cluster.close()
    assert left == {}, f"the Docker tests left things behind: {left}"


@pytest.fixture
def ledger(tmp_path):
    """A fresh run ledger in a private state directory; the test must leave nothing pending."""
    from chaos.ledger import Ledger, new_run_id, pending_undos

    led = Ledger(new_run_id(), tmp_path / "state")
    yield led
    pending = pending_undos(led.path) if led.path.exists() else []
    for undo in pending:  # heal what the test left, then fail it
        with contextlib.suppress(Exception):
            led.undo(undo)
    assert not pending, f"the test left ledger records pending: {pending}"
    led.close()
    assert not led.path.exists()
