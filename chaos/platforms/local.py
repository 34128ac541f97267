"""The local platform, the embedded default: nodes are Linux network namespaces on this host,
joined by one bridge, with server processes ("pods") supervised like a kubelet would.

Layout (subnet configurable, default 10.213.0.0/24, or CHAOS_LOCAL_SUBNET):
  bridge chaosbr0 = .1 (the clients: the harness runs in the host's namespace)
  node chaos-<zone><n> = .(10*zone_index + 10 + n), e.g. chaos-a1 = .11, chaos-b1 = .21
Faults are built from the raw actions here; each action writes its undo into the run's ledger
before it changes anything, so `chaos heal` can undo it after a crash.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import pwd
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .._run import proc_stat, run, run_ok
from ..errors import InvalidConfig, MissingPrerequisite, PlatformError
from ..waits import value_within
from ..ledger import Ledger, Undo, default_state_dir, heal_stale, new_run_id
from .base import Node, Pod, PodSpec
from .local_host import (Names, _kill_netns, _netns_pids, _ns_exists, _prune_logs, _rules_with_comment, _undo_link,
                         _undo_link_up, _undo_netns, check_prerequisites, lock_path, tcp_reachable, veth_name)

__all__ = ["LocalPlatform", "DEFAULT_SUBNET", "BRIDGE"]

DEFAULT_SUBNET = "10.213.0.0/24"
BRIDGE = "chaosbr0"  # the default instance's bridge


ZONES = ("a", "b", "c")

# Restart back-off like a kubelet's, scaled down for tests: doubles per quick crash, capped.
RESTART_BACKOFF_S = (0.2, 1.0, 2.0, 4.0, 8.0)
RESTART_RESET_AFTER_S = 10.0
KEEP_LOG_RUNS = 20  # pod logs of the most recent runs are kept for post-mortems


@dataclass
class _NodeState:
    node: Node
    veth: str
    schedulable: bool = True
    up: bool = True


def parse_subnet(subnet: str, field: str = "subnet") -> ipaddress.IPv4Network:
    """The bridge's subnet: an IPv4 network of /24 or larger."""
    try:
        network = ipaddress.ip_network(subnet)
    except ValueError as exc:
        raise InvalidConfig(f"not an IPv4 network: {subnet!r}", field=field,
                            fix="give a /24 or larger, e.g. 10.213.0.0/24") from exc
    if network.version != 4 or network.prefixlen > 24:
        raise InvalidConfig(f"{subnet} is too small", field=field, fix="give an IPv4 /24 or larger, e.g. 10.213.0.0/24")
    return network


def _check_traversable(state_dir: Path) -> None:
    """The servers run as their own users and read their data under the state directory: every
    directory above it must let other users through (o+x). A private one (a 0700 temporary
    directory) would otherwise show up only as servers failing to start, over and over."""
    for parent in state_dir.resolve().parents:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            raise InvalidConfig(f"{parent} is closed to other users (mode {os.stat(parent).st_mode & 0o777:o}), so the "
                                f"servers, which run as their own users, cannot reach their data under {state_dir}",
                                field="state dir", fix=f"chmod o+x {parent}, or choose a state directory elsewhere")


class LocalPlatform:
    """Nodes as network namespaces, pods as supervised process groups inside them."""

    name = "local"

    def __init__(self, *, run_id: str | None = None, state_dir: Path | None = None,
                 subnet: str | None = None, nodes_per_zone: int = 1, zones: Sequence[str] = ZONES,
                 instance: str = "",
                 log: Callable[[str], None] = lambda msg: None):
        self.run_id = run_id or new_run_id()
        self.state_dir = Path(state_dir or default_state_dir())
        self.log = log
        self.names = Names(instance)
        self.bridge = self.names.bridge
        self.subnet = parse_subnet(subnet or os.environ.get("CHAOS_LOCAL_SUBNET", DEFAULT_SUBNET))
        self.zones = tuple(zones)
        self.nodes_per_zone = nodes_per_zone
        hosts = list(self.subnet.hosts())
        self.client_ip = str(hosts[0])
        self._nodes: dict[str, _NodeState] = {}
        for zi, zone in enumerate(self.zones):
            for n in range(1, nodes_per_zone + 1):
                name = self.names.netns(zone, n)
                ip = str(hosts[10 * zi + 10 + n - 1])
                self._nodes[name] = _NodeState(Node(name, zone, ip), veth=veth_name(name))
        self._pods: dict[str, Pod] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._wanted: dict[str, bool] = {}
        self._next_start: dict[str, float] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock_fh = None
        self.ledger: Ledger | None = None
        self.run_dir = self.state_dir / "runs" / self.run_id
        self._infra: list[Undo] = []
        self._cordon_undos: dict[str, Undo] = {}
        self._crash_undos: dict[str, Undo] = {}
        self._partition_undos: list[Undo] = []
        self._suspend_undos: dict[str, Undo] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def up(self) -> "LocalPlatform":
        """Check prerequisites, heal what crashed runs left, create the bridge and namespaces."""
        missing = check_prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="local platform")
        _check_traversable(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        lock_path(self.names).parent.mkdir(parents=True, exist_ok=True)
        self._lock_fh = open(lock_path(self.names), "w")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise InvalidConfig("another chaos run is using the local platform on this host",
                                field="local platform",
                                fix="wait for it to finish, or stop it and run `chaos heal`") from exc
        _prune_logs(self.state_dir / "logs", keep=KEEP_LOG_RUNS)
        healed = heal_stale(self.state_dir, log=self.log)
        for line in healed:
            self.log(f"healed leftover of a crashed run: {line}")
        # Names are fixed per host; anything still there belongs to a run with no ledger.
        self._remove_unledgered_leftovers()
        self.ledger = Ledger(self.run_id, self.state_dir)
        try:
            self._create_network()
        except BaseException:
            self.close()
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="chaos-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def _remove_unledgered_leftovers(self) -> None:
        for st in self._nodes.values():
            if _ns_exists(st.node.name) or run_ok(["ip", "link", "show", st.veth]):
                self.log(f"removing leftover namespace {st.node.name}")
                _undo_netns({"netns": st.node.name})
        _undo_link({"dev": self.bridge})

    def _record(self, action: str, what: str, **args: Any) -> Undo:
        assert self.ledger is not None, "platform is not up"
        return self.ledger.record(action, what, **args)

    def _create_network(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        os.chmod(self.run_dir.parent, 0o755)
        self._infra.append(self._record("rmtree", f"run directory {self.run_dir}", path=str(self.run_dir)))
        bridge = self.bridge
        self._infra.append(self._record("delete_link", f"bridge {bridge}", dev=bridge))
        run(["ip", "link", "add", bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{self.client_ip}/{self.subnet.prefixlen}", "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])
        # With br_netfilter (Docker loads it) bridged frames traverse FORWARD, whose policy
        # Docker sets to DROP: let our bridge's own traffic through.
        comment = f"chaos:{self.run_id}:bridge"
        self._infra.append(self._record("iptables_comment", "host FORWARD accept for the bridge",
                                        netns=None, comment=comment))
        run(["iptables", "-I", "FORWARD", "1", "-i", bridge, "-o", bridge, "-m", "comment",
             "--comment", comment, "-j", "ACCEPT"])
        for st in self._nodes.values():
            ns, ip = st.node.name, st.node.ip
            self._infra.append(self._record("delete_netns", f"namespace {ns}", netns=ns))
            run(["ip", "netns", "add", ns])
            run(["ip", "link", "add", st.veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "link", "set", st.veth, "master", bridge, "up"])
            run(["ip", "-n", ns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self.log(f"local platform up: {len(self._nodes)} nodes in zones {','.join(self.zones)} "
                 f"on {self.subnet} (run {self.run_id})")

    def close(self) -> None:
        """Stop every pod and remove everything this run created. Safe to call twice."""
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            for name in list(self._procs):
                self._kill_group(name, signal.SIGKILL)
        if self.ledger is not None:
            errors = []
            # Faults still applied (a fault left unhealed by its caller): undo them too, so the
            # ledger ends empty; each undo is idempotent and the namespaces go next anyway.
            leftovers = [*self._partition_undos, *self._crash_undos.values(), *self._cordon_undos.values(),
                         *self._suspend_undos.values()]
            self._partition_undos.clear()
            self._crash_undos.clear()
            self._cordon_undos.clear()
            self._suspend_undos.clear()
            for undo in sorted(leftovers, key=lambda u: u.key, reverse=True) + list(reversed(self._infra)):
                try:
                    self.ledger.undo(undo)
                except Exception as exc:  # heal the rest; report at the end
                    errors.append(f"{undo.what}: {exc}")
            self._infra.clear()
            self.ledger.close()
            if errors:
                raise PlatformError("teardown incomplete (run `chaos heal`): " + "; ".join(errors))
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> "LocalPlatform":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.close()

    def pending_fault_undos(self) -> list[Undo]:
        """Undo records of faults still applied (the run's own infrastructure excluded)."""
        from ..ledger import pending_undos

        infra = {u.key for u in self._infra}
        return [u for u in pending_undos(self.ledger.path) if u.key not in infra]

    # --- inventory ------------------------------------------------------------------------

    def nodes(self) -> list[Node]:
        return [st.node for st in self._nodes.values()]

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name].node
        except KeyError:
            raise InvalidConfig(f"no node named {name!r}", field="node",
                                fix=f"one of {', '.join(self._nodes)}") from None

    def nodes_in_zone(self, zone: str) -> list[Node]:
        return [n for n in self.nodes() if n.zone == zone]

    def pods(self, component: str | None = None) -> list[Pod]:
        with self._lock:
            return [p for p in self._pods.values() if component is None or p.spec.component == component]

    def pod(self, name: str) -> Pod:
        with self._lock:
            return self._pods[name]

    def pod_running(self, name: str) -> bool:
        with self._lock:
            proc = self._procs.get(name)
            return proc is not None and proc.poll() is None

    def node_state(self, name: str) -> dict[str, bool]:
        st = self._nodes[name]
        return {"schedulable": st.schedulable, "up": st.up}

    def pod_endpoint(self, name: str) -> tuple[str, int | None]:
        """Where clients reach the pod: its node's address and its service port."""
        pod = self.pod(name)
        return self.node(pod.node).ip, pod.spec.port

    def log_path(self, pod: str) -> Path:
        """Pod logs live outside the run directory so they outlive the run for a post-mortem."""
        d = self.state_dir / "logs" / self.run_id
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{pod}.log"

    def pod_logs(self, names: Sequence[str]) -> dict[str, Path]:
        """pod -> its log file."""
        return {name: self.log_path(name) for name in names}

    def path(self, *parts: str) -> Path:
        """A directory for pod data under this run's directory, readable by service users."""
        p = self.run_dir.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    # --- pods and the supervisor ------------------------------------------------------------

    def start_pod(self, spec: PodSpec) -> Pod:
        """Register a pod; the supervisor starts it and restarts it whenever it exits."""
        self.node(spec.node)
        with self._lock:
            pod = Pod(spec)
            self._pods[spec.name] = pod
            self._wanted[spec.name] = True
            self._next_start[spec.name] = 0.0
            self._start(pod)
        return pod

    def remove_pod(self, name: str) -> None:
        """Stop the pod for good (SIGKILL to its group) and forget it."""
        with self._lock:
            self._wanted[name] = False
            self._kill_group(name, signal.SIGKILL)
            self._pods.pop(name, None)
            self._procs.pop(name, None)

    def suspend_pod(self, name: str) -> dict[str, Any]:
        """SIGKILL the pod and keep it down until resume_pod (a replica scaled away, or a pod
        whose node is gone for good). The platform restarts nothing in between."""
        undo = self._record("noop", f"pod {name} held down")
        with self._lock:
            self._suspend_undos[name] = undo
            self._wanted[name] = False
            proc = self._procs.get(name)
            pid = proc.pid if proc is not None else None
            pids = self._kill_group(name, signal.SIGKILL) if proc is not None else []
            left = self._group_pids(pid) if pid else []
        return {"pod": name, "pid": pid, "processes_killed": len(pids), "processes_left": len(left)}

    def resume_pod(self, name: str) -> None:
        undo = self._suspend_undos.pop(name, None)
        if undo is not None:
            self.ledger.undo(undo)
        with self._lock:
            if name in self._pods:
                self._wanted[name] = True
                self._next_start[name] = 0.0

    def _start(self, pod: Pod) -> None:
        spec = pod.spec
        ns = spec.node
        argv = ["ip", "netns", "exec", ns]
        if spec.user:
            pw = pwd.getpwnam(spec.user)  # numeric ids: a user's group need not share its name
            argv += ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"]
        argv += list(spec.argv)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", **spec.env}
        log_path = spec.log_path or str(self.log_path(spec.name))
        with open(log_path, "ab") as log:
            log.write(f"--- chaos: start {spec.name} on {ns} (restart {pod.restarts}) at "
                      f"{time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd="/", start_new_session=True)
        self._procs[spec.name] = proc
        pod.pid = proc.pid
        pod.started_at = time.monotonic()

    def _supervise(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                now = time.monotonic()
                for name, pod in self._pods.items():
                    proc = self._procs.get(name)
                    if proc is not None:
                        code = proc.poll()
                        if code is None:
                            continue
                        # The main process is gone; make sure the rest of its group goes too,
                        # as a container's processes do when PID 1 exits.
                        self._kill_group(name, signal.SIGKILL)
                        self._procs.pop(name, None)
                        pod.last_exit = code
                        ran_s = now - (pod.started_at or now)
                        # Back-off grows only with consecutive short runs (a crash loop); a pod
                        # that ran a while before it was killed restarts at once.
                        pod.crash_streak = pod.crash_streak + 1 if ran_s < RESTART_RESET_AFTER_S else 0
                        step = min(pod.crash_streak, len(RESTART_BACKOFF_S) - 1)
                        self._next_start[name] = now + RESTART_BACKOFF_S[step]
                        continue
                    st = self._nodes[pod.node]
                    if not (self._wanted[name] and st.schedulable and st.up):
                        continue
                    if now >= self._next_start[name]:
                        pod.restarts += 1
                        self._start(pod)

    def _group_pids(self, pgid: int) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            fields = proc_stat(entry) if entry.isdigit() else None
            if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
                pids.append(int(entry))
        return pids

    def _kill_group(self, name: str, sig: int, wait_s: float = 5.0) -> list[int]:
        """Signal the pod's whole process group; with SIGKILL wait until none is left."""
        proc = self._procs.get(name)
        if proc is None:
            return []
        pgid = proc.pid
        pids = self._group_pids(pgid)
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + wait_s
            while self._group_pids(pgid) and time.monotonic() < deadline:
                time.sleep(0.02)
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        # The supervisor notices the exit and restarts the pod (unless its node is down).
        return pids

    # --- raw actions for faults ---------------------------------------------------------------

    def kill_pod(self, name: str, sig: int = signal.SIGKILL) -> dict[str, Any]:
        """Signal every process of the pod. The supervisor restarts it (as a kubelet would)."""
        with self._lock:
            pod = self._pods[name]
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                raise PlatformError(f"pod {name} is not running")
            old_pid = proc.pid
            pids = self._group_pids(old_pid)
            t0 = time.monotonic()
            if sig == signal.SIGKILL:
                self._kill_group(name, sig)
                still = self._group_pids(old_pid)
                gone_s = time.monotonic() - t0
            else:
                os.kill(old_pid, sig)  # the pod's PID 1 passes it on, like a container runtime
                still = None
                gone_s = None
            restarts = pod.restarts
        proof = {"pod": name, "node": pod.node, "signal": signal.Signals(sig).name, "pid": old_pid,
                 "instance": old_pid, "processes_signalled": len(pids),
                 "processes_left": None if still is None else len(still),
                 "gone_after_s": None if gone_s is None else round(gone_s, 3), "restarts_before": restarts}
        if still is not None:  # SIGKILL: proven when every process of the pod is gone
            proof["proven"] = len(pids) > 0 and not still
        return proof

    def wait_pod_restarted(self, name: str, old_pid: int, timeout_s: float) -> int | None:
        """The new PID (the pod's new instance) once the supervisor restarted the pod, None if it
        did not in time."""
        def restarted() -> int | None:
            with self._lock:
                proc = self._procs.get(name)
                return proc.pid if proc is not None and proc.pid != old_pid and proc.poll() is None else None

        return value_within(restarted, timeout_s, poll_s=0.05)

    def cordon(self, node: str) -> None:
        # A cordon lives in this process's memory and dies with it: the ledger entry only
        # records that it happened.
        self._cordon_undos[node] = self._record("noop", f"cordon {node}")
        with self._lock:
            self._nodes[node].schedulable = False

    def uncordon(self, node: str) -> None:
        undo = self._cordon_undos.pop(node, None)
        if undo is not None:
            self.ledger.undo(undo)
        with self._lock:
            self._nodes[node].schedulable = True
            for pod in self._pods.values():
                if pod.node == node:
                    self._next_start[pod.name] = 0.0

    def stop_node_pods(self, node: str, grace_s: float | None = None) -> dict[str, Any]:
        """Graceful stop of every pod on the node: SIGTERM, then SIGKILL after the grace."""
        stopped = []
        with self._lock:
            pods = [p for p in self._pods.values() if p.node == node]
            procs = {p.name: self._procs.get(p.name) for p in pods}
        for pod in pods:
            proc = procs[pod.name]
            if proc is None or proc.poll() is not None:
                stopped.append({"pod": pod.name, "was_running": False})
                continue
            grace = pod.spec.termination_grace_s if grace_s is None else grace_s
            t0 = time.monotonic()
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                code = proc.wait(timeout=grace)
                graceful = True
            except subprocess.TimeoutExpired:
                graceful = False
            with self._lock:
                self._kill_group(pod.name, signal.SIGKILL)
                code = proc.poll()
            stopped.append({"pod": pod.name, "was_running": True, "pid": proc.pid, "exit": code,
                            "graceful": graceful, "stop_s": round(time.monotonic() - t0, 3)})
        running = [p["pod"] for p in stopped if self.pod_running(p["pod"])]
        cordoned = not self.node_state(node)["schedulable"]
        return {"node": node, "pods": stopped, "still_running": running, "cordoned": cordoned,
                "proven": any(p["was_running"] for p in stopped) and not running and cordoned}

    def crash_node(self, node: str) -> dict[str, Any]:
        """Hard kill of every process on the node and its link down, until restore_node."""
        st = self._nodes[node]
        undo = self._record("link_up", f"link of {node} down", dev=st.veth)
        with self._lock:
            st.up = False
            killed = _kill_netns(node, signal.SIGKILL)
            for pod in self._pods.values():
                if pod.node == node and pod.name in self._procs:
                    proc = self._procs.pop(pod.name)
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                    pod.last_exit = proc.returncode
        run(["ip", "link", "set", st.veth, "down"])
        left = _netns_pids(node)
        link = run(["ip", "-br", "link", "show", st.veth]).stdout.split()
        self._crash_undos[node] = undo
        link_state = link[1] if len(link) > 1 else "?"
        return {"node": node, "processes_killed": len(killed), "processes_left": len(left),
                "link": st.veth, "link_state": link_state,
                "proven": len(killed) > 0 and not left and link_state == "DOWN"}

    def restore_node(self, node: str) -> None:
        st = self._nodes[node]
        undo = self._crash_undos.pop(node, None)
        if undo is not None:
            self.ledger.undo(undo)
        else:
            _undo_link_up({"dev": st.veth})
        with self._lock:
            st.up = True
            for pod in self._pods.values():
                if pod.node == node:
                    self._next_start[pod.name] = 0.0

    def partition(self, zone: str, *, cut_clients: bool = False, label: str = "partition") -> dict[str, Any]:
        """Cut the zone's nodes off from the other zones (and from the clients if asked) with
        DROP rules inside the zone's namespaces, each carrying this run's comment."""
        inside = self.nodes_in_zone(zone)
        if not inside:
            raise InvalidConfig(f"no nodes in zone {zone!r}", field="zone", fix=f"one of {self.zones}")
        outside = [n for n in self.nodes() if n.zone != zone]
        comment = f"chaos:{self.run_id}:{label}"
        peers = [n.ip for n in outside] + ([self.client_ip] if cut_clients else [])
        rules = 0
        for node in inside:
            self._partition_undos.append(
                self._record("iptables_comment", f"{label} rules in {node.name}", netns=node.name, comment=comment))
            for ip in peers:
                for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
                    run(["iptables", "-I", chain, "1", flag, ip, "-m", "comment", "--comment", comment,
                         "-j", "DROP"], netns=node.name)
                    rules += 1
        present = sum(len(_rules_with_comment(n.name, comment)) for n in inside)
        return {"zone": zone, "nodes": [n.name for n in inside], "cut_from": peers, "cut_clients": cut_clients,
                "comment": comment, "rules_added": rules, "rules_present": present,
                "proven": present == rules > 0}

    def heal_partition(self) -> dict[str, Any]:
        undos = self._partition_undos
        left = 0
        while undos:
            undo = undos.pop()
            self.ledger.undo(undo)
            left += len(_rules_with_comment(undo.args["netns"], undo.args["comment"]))
        return {"rules_left": left}

    def reachable(self, from_node: str | None, to_ip: str, port: int, timeout_s: float = 1.0) -> bool:
        """Does a TCP SYN from a node (None: the clients) to ip:port get any answer?"""
        return tcp_reachable(to_ip, port, timeout_s, netns=from_node)
