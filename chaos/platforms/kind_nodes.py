"""Node faults on kind: a kind node is a Docker container, so a node crash is a container
killed hard, and a zone partition is iptables DROP rules inside the node containers.

Used by the kube platform for kind clusters, and by the harness's own tests against stand-in
containers (tests/docker). Only the `docker` CLI is needed (any daemon version it can talk to).

Every change is written to the run's ledger before it is made, with an undo action registered
here at import, so `chaos heal` can undo what a crashed run left behind, from another process:

  kind-start-node    {container, docker}: start the container again (no-op if it is running
                     or no longer exists);
  kind-remove-rules  {containers, run_id, docker}: delete, in every running container, exactly
                     the iptables/ip6tables filter rules whose comment is `chaos-<run_id>` (a
                     stopped or removed container has no rules: its network namespace is gone).

Both are idempotent. Note: a node container that is stopped and started again gets a fresh
network namespace, so a crash of a partitioned node ends its part of the partition.
The actions exist only once this module is imported: whatever calls chaos.ledger.heal_stale
(`chaos heal`, a platform's start-up heal) must import it first.

    nodes = KindNodes(ledger, run_id)                        # docker="docker -H ..." optional
    proof = nodes.crash("kind-worker2")                      # proof["running"] is False
    nodes.restore("kind-worker2", ready_timeout_s=60)
    proof = nodes.partition(["kind-worker2"], ["kind-control-plane", "kind-worker"], run_id,
                            extra_cidrs={"kind-worker": ["10.244.1.0/24"]})
    assert proof["rules_present"] == proof["rules_added"] > 0
    nodes.heal_partition()                                   # {"rules_left": 0}
    nodes.heal_all()                                         # at close: whatever is still applied
    nodes.leftovers()                                        # {"rules": {}, "stopped": [], ...}
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import subprocess
import time
from typing import Any, Iterable, Mapping, Sequence

from .._run import run
from ..errors import InvalidConfig, PlatformError
from ..ledger import Ledger, Undo, undo_action
from ..waits import poll_until

__all__ = ["KindNodes", "rule_comment", "container_state", "container_ips", "rules_with_comment",
           "remove_rules", "start_node", "tcp_reachable", "docker_argv"]

# Chains that carry traffic to, from and through a node (pods on kind are routed by the node).
CHAINS = (("INPUT", "-s"), ("OUTPUT", "-d"), ("FORWARD", "-s"), ("FORWARD", "-d"))
START_TIMEOUT_S = 60.0  # the undo action's bound for a container to be running again


def rule_comment(run_id: str) -> str:
    return f"chaos-{run_id}"


def docker_argv(docker: str | Sequence[str] = "docker") -> list[str]:
    """The docker command as argv; a DOCKER_HOST in the environment is made explicit, so that
    `chaos heal` in another shell talks to the same daemon."""
    argv = shlex.split(docker) if isinstance(docker, str) else list(docker)
    if not argv:
        raise InvalidConfig("empty docker command", field="docker")
    host = os.environ.get("DOCKER_HOST")
    if host and "-H" not in argv and not any(a.startswith("--host") for a in argv):
        argv += ["-H", host]
    return argv


def _docker(docker: Sequence[str], *args: str, timeout: float = 30.0, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    return run([*docker, *args], check=check, timeout=timeout, input=input)


def _is_missing(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode != 0 and "no such" in (proc.stderr + proc.stdout).lower()


def _inspect(docker: Sequence[str], container: str) -> dict[str, Any] | None:
    """`docker container inspect`, or None when the container does not exist."""
    proc = _docker(docker, "container", "inspect", container, check=False)
    if _is_missing(proc):
        return None
    if proc.returncode != 0:
        raise PlatformError(f"docker container inspect {container} failed: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)[0]


def container_state(docker: Sequence[str], container: str) -> dict[str, Any] | None:
    """Running, status, pid, exit code and start time of a container; None if it does not exist."""
    info = _inspect(docker, container)
    if info is None:
        return None
    st = info.get("State", {})
    return {"running": bool(st.get("Running")), "status": st.get("Status"), "pid": st.get("Pid"),
            "exit_code": st.get("ExitCode"), "started_at": st.get("StartedAt")}


def container_ips(docker: Sequence[str], container: str) -> list[str]:
    """The container's addresses on its docker networks (IPv4 and global IPv6)."""
    info = _inspect(docker, container)
    if info is None:
        raise PlatformError(f"no container named {container}")
    ips = []
    for net in (info.get("NetworkSettings", {}).get("Networks") or {}).values():
        for key in ("IPAddress", "GlobalIPv6Address"):
            if net.get(key):
                ips.append(net[key])
    return list(dict.fromkeys(ips))


def _wait_running(docker: Sequence[str], container: str, want: bool, timeout_s: float) -> dict[str, Any] | None:
    """The container's last state once it is (not) running as wanted, or at the deadline."""
    last: list[dict[str, Any] | None] = [None]

    def settled() -> bool:
        last[0] = container_state(docker, container)
        return last[0] is None or last[0]["running"] == want

    poll_until(settled, timeout_s)
    return last[0]


def _families(addresses: Iterable[str]) -> dict[str, list[str]]:
    """Addresses/CIDRs split by iptables binary: iptables for IPv4, ip6tables for IPv6."""
    out: dict[str, list[str]] = {"iptables": [], "ip6tables": []}
    for a in addresses:
        try:
            net = ipaddress.ip_network(a, strict=False)
        except ValueError as exc:
            raise InvalidConfig(f"not an IP address or CIDR: {a!r}", field="partition") from exc
        out["iptables" if net.version == 4 else "ip6tables"].append(str(net))
    return {k: list(dict.fromkeys(v)) for k, v in out.items() if v}


def _comment_of(line: str) -> str | None:
    if "--comment" not in line:
        return None
    try:
        args = shlex.split(line)
    except ValueError:
        return None
    i = args.index("--comment") if "--comment" in args else -1
    return args[i + 1] if 0 <= i < len(args) - 1 else None


def rules_with_comment(docker: Sequence[str], container: str, run_id: str | None = None,
                       binaries: Sequence[str] = ("iptables", "ip6tables")) -> list[str]:
    """`-A ...` rules of the filter table inside the container whose comment is exactly
    `chaos-<run_id>` (any `chaos-...` comment when run_id is None), prefixed by the binary
    that lists them (`iptables -A ...`). A stopped or missing container has none."""
    st = container_state(docker, container)
    if st is None or not st["running"]:
        return []
    want = rule_comment(run_id) if run_id else None
    found = []
    for binary in binaries:
        proc = _docker(docker, "exec", container, binary, "-w", "5", "-t", "filter", "-S",
                       timeout=30, check=False)
        if proc.returncode != 0:
            if binary == "ip6tables":
                continue  # a node without IPv6 support
            raise PlatformError(f"{binary} -S in {container} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
        for line in proc.stdout.splitlines():
            comment = _comment_of(line) if line.startswith("-A ") else None
            if comment and (comment == want if want else comment.startswith("chaos-")):
                found.append(f"{binary} {line}")
    return found


def _restore(docker: Sequence[str], container: str, binary: str, lines: Sequence[str]) -> None:
    """Apply rule changes in one `iptables-restore --noflush` inside the container (atomic)."""
    script = "*filter\n" + "".join(line + "\n" for line in lines) + "COMMIT\n"
    _docker(docker, "exec", "-i", container, f"{binary}-restore", "-w", "5", "--noflush",
            input=script, timeout=60)


def remove_rules(docker: Sequence[str], containers: Sequence[str], run_id: str) -> dict[str, int]:
    """Delete exactly the rules with comment `chaos-<run_id>` from every container (idempotent:
    nothing to delete, a stopped or missing container are all fine). Returns rules removed per
    container; raises if any is left."""
    removed: dict[str, int] = {}
    left: dict[str, list[str]] = {}
    for container in containers:
        count = 0
        for _attempt in range(3):
            rules = rules_with_comment(docker, container, run_id)
            if not rules:
                break
            by_binary: dict[str, list[str]] = {}
            for rule in rules:
                binary, line = rule.split(" ", 1)
                by_binary.setdefault(binary, []).append("-D" + line[2:])
            for binary, lines in by_binary.items():
                try:
                    _restore(docker, container, binary, lines)
                    count += len(lines)
                except PlatformError:
                    # A rule vanished in between (another healer): list again and retry.
                    continue
        removed[container] = count
        rest = rules_with_comment(docker, container, run_id)
        if rest:
            left[container] = rest
    if left:
        raise PlatformError(f"iptables rules with comment {rule_comment(run_id)} still present: {left}")
    return removed


def start_node(docker: Sequence[str], container: str, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
    """Start a stopped node container and wait until it runs (idempotent)."""
    t0 = time.monotonic()
    st = container_state(docker, container)
    if st is None:
        return {"container": container, "exists": False}
    if not st["running"]:
        proc = _docker(docker, "start", container, check=False, timeout=max(timeout_s, 30))
        if proc.returncode != 0 and not _is_missing(proc):
            raise PlatformError(f"docker start {container} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
        st = _wait_running(docker, container, True, max(0.0, timeout_s - (time.monotonic() - t0)))
        if st is not None and not st["running"]:
            raise PlatformError(f"container {container} is not running {timeout_s:.0f} s after docker start "
                                f"(status {st['status']}, exit code {st['exit_code']})")
    return {"container": container, "exists": st is not None, "running": bool(st and st["running"]),
            "start_s": round(time.monotonic() - t0, 3)}


# --- undo actions (registered at import; idempotent; also run by `chaos heal`) -----------------

@undo_action("kind-start-node")
def _undo_start_node(args: dict[str, Any]) -> None:
    start_node(args.get("docker") or ["docker"], args["container"])


@undo_action("kind-remove-rules")
def _undo_remove_rules(args: dict[str, Any]) -> None:
    remove_rules(args.get("docker") or ["docker"], args["containers"], args["run_id"])


def tcp_reachable(docker: Sequence[str], from_container: str, ip: str, port: int,
                  timeout_s: float = 1.0) -> bool:
    """Does a TCP SYN from inside a container to ip:port get an answer (accepted or refused)?
    Silence (a DROP) is False. Bounded by timeout_s (plus docker exec overhead). Needs bash and
    coreutils' timeout in the container (kind node images have both)."""
    script = f"exec 3<>/dev/tcp/{ipaddress.ip_address(ip)}/{int(port)}"  # IPv6 literals need no brackets
    proc = _docker(docker, "exec", from_container, "timeout", f"{timeout_s:g}", "bash", "-c", script,
                   timeout=timeout_s + 15, check=False)
    err = proc.stderr.lower()
    if proc.returncode == 0 or "connection refused" in err:
        return True  # connected, or refused: either way the host answered
    if proc.returncode == 124 or "connect:" in err or "/dev/tcp/" in err:
        return False  # silence until the timeout, no route, network unreachable
    # The check itself could not run (source container stopped or missing, no bash): not an
    # answer about the network, so never report it as "unreachable".
    raise PlatformError(f"reachability check from {from_container} to {ip}:{port} could not run "
                        f"(exit status {proc.returncode}): {proc.stderr.strip()[-400:]}")


class KindNodes:
    """Crash and partition kind node containers, ledger first.

    `ledger`: the run's chaos.ledger.Ledger; `run_id`: the run's id (rules carry the comment
    `chaos-<run_id>`); `docker`: the docker command (string or argv), e.g. "docker -H unix:///x".
    """

    def __init__(self, ledger: Ledger, run_id: str, docker: str | Sequence[str] = "docker"):
        self.ledger = ledger
        self.run_id = run_id
        self.docker = docker_argv(docker)
        self._crash_undos: dict[str, Undo] = {}
        self._partition_undos: list[Undo] = []
        self._touched: dict[str, None] = {}  # containers this instance changed, in order

    # --- inventory -------------------------------------------------------------------------

    def state(self, container: str) -> dict[str, Any] | None:
        return container_state(self.docker, container)

    def ips(self, container: str) -> list[str]:
        return container_ips(self.docker, container)

    def gateways(self, container: str) -> list[str]:
        """The gateways of the container's docker networks: where the host's clients come from."""
        info = _inspect(self.docker, container)
        if info is None:
            raise PlatformError(f"no container named {container}")
        nets = (info.get("NetworkSettings", {}).get("Networks") or {}).values()
        return list(dict.fromkeys(g for n in nets for g in (n.get("Gateway"), n.get("IPv6Gateway")) if g))

    def reachable(self, from_container: str, ip: str, port: int, timeout_s: float = 1.0) -> bool:
        return tcp_reachable(self.docker, from_container, ip, port, timeout_s)

    # --- a pod's processes killed from its node -------------------------------------------------

    def kill_containers(self, container: str, container_ids: Sequence[str]) -> dict[str, Any]:
        """SIGKILL every one of a pod's containers from its node's containerd (outside the pod's
        PID namespace, where its PID 1 is not shielded from SIGKILL): no SIGTERM, no preStop
        hook, no shutdown code runs, as in a crash. Returns the ids killed and the failures."""
        killed, errors = [], []
        for cid in container_ids:
            proc = _docker(self.docker, "exec", container, "ctr", "-n", "k8s.io", "tasks", "kill",
                           "--signal", "SIGKILL", cid, check=False, timeout=15)
            if proc.returncode == 0:
                killed.append(cid)
            else:
                errors.append(f"{cid[:12]}: {(proc.stderr or proc.stdout).strip()[-200:]}")
        return {"killed": killed, "errors": errors}

    # --- node crash --------------------------------------------------------------------------

    def crash(self, container: str, stop_timeout_s: float = 10.0) -> dict[str, Any]:
        """Kill the node container hard (SIGKILL to every process in it, like pulling the power).
        Proof: the container is no longer running. Reachability is for the caller to check."""
        before = self.state(container)
        if before is None:
            raise PlatformError(f"no node container named {container}")
        if not before["running"]:
            raise PlatformError(f"node container {container} is not running: nothing to crash")
        ips = self.ips(container)
        undo = self.ledger.record("kind-start-node", f"node container {container} stopped",
                                  container=container, docker=self.docker)
        self._crash_undos[container] = undo
        self._touched[container] = None
        t0 = time.monotonic()
        proc = _docker(self.docker, "kill", "--signal", "KILL", container, check=False, timeout=30)
        if proc.returncode != 0:
            # Already exiting, or a daemon that refuses kill for a paused container: stop -t 0.
            _docker(self.docker, "stop", "-t", "0", container, timeout=30)
        after = _wait_running(self.docker, container, False, stop_timeout_s)
        running = bool(after and after["running"])
        return {"container": container, "ips": ips, "pid_before": before["pid"],
                "running": running, "status": after["status"] if after else "removed",
                "exit_code": after["exit_code"] if after else None,
                "stopped_after_s": round(time.monotonic() - t0, 3)}

    def restore(self, container: str, ready_timeout_s: float = 60.0) -> dict[str, Any]:
        """Start the crashed node container again, wait until it runs; resolves its record."""
        result = start_node(self.docker, container, ready_timeout_s)
        undo = self._crash_undos.pop(container, None)
        if undo is not None:
            self.ledger.resolve(undo)
        result["ips"] = self.ips(container) if result.get("exists") else []
        return result

    # --- zone partition ------------------------------------------------------------------------

    def partition(self, zone_containers: Sequence[str], other_containers: Sequence[str],
                  run_id: str | None = None, *,
                  extra_cidrs: Mapping[str, Sequence[str]] | None = None,
                  extra_peers: Sequence[str] = ()) -> dict[str, Any]:
        """Cut every zone container off from every other container: DROP rules inside each of
        them (INPUT from, OUTPUT to, FORWARD from/to the other side's addresses), each carrying
        the comment `chaos-<run_id>`. The other side's addresses are its node IPs on the docker
        networks plus `extra_cidrs[container]` (e.g. its pod CIDR, so routed pod traffic is cut).
        `extra_peers`: more addresses the zone containers alone drop, e.g. the docker network's
        gateway (`gateways()`) to cut the zone off from clients on the host too.
        Proof: the rules listed back (`iptables -S`) number exactly the rules added."""
        run_id = run_id or self.run_id
        zone, others = list(dict.fromkeys(zone_containers)), list(dict.fromkeys(other_containers))
        if not zone or not others:
            raise InvalidConfig("a partition needs containers on both sides", field="partition")
        if set(zone) & set(others):
            raise InvalidConfig(f"containers on both sides: {sorted(set(zone) & set(others))}", field="partition")
        extra = extra_cidrs or {}
        addrs = {c: self.ips(c) + list(extra.get(c, ())) for c in zone + others}
        for c, a in addrs.items():
            if not a:
                raise PlatformError(f"node container {c} has no address (is it running?)")
        comment = rule_comment(run_id)
        every = zone + others
        undo = self.ledger.record("kind-remove-rules", f"partition rules ({comment}) in {', '.join(every)}",
                                  containers=every, run_id=run_id, docker=self.docker)
        self._partition_undos.append(undo)
        self._touched.update(dict.fromkeys(every))
        added: dict[str, int] = {}
        cut: dict[str, list[str]] = {}
        for side, far, more in ((zone, others, list(extra_peers)), (others, zone, [])):
            peers = [a for c in far for a in addrs[c]] + more
            for container in side:
                cut[container] = peers
                n = 0
                for binary, nets in _families(peers).items():
                    lines = [f"-I {chain} 1 {flag} {net} -m comment --comment {comment} -j DROP"
                             for net in nets for chain, flag in CHAINS]
                    _restore(self.docker, container, binary, lines)
                    n += len(lines)
                added[container] = n
        present = {c: len(rules_with_comment(self.docker, c, run_id)) for c in every}
        return {"zone_containers": zone, "other_containers": others, "comment": comment,
                "addresses": addrs, "extra_peers": list(extra_peers), "cut_from": cut,
                "rules_added": sum(added.values()), "rules_present": sum(present.values()),
                "rules_per_container": present}

    def heal_partition(self) -> dict[str, Any]:
        """Remove exactly this run's partition rules from every container involved (idempotent)."""
        left = 0
        while self._partition_undos:
            undo = self._partition_undos[-1]
            self.ledger.undo(undo)  # raises (record kept) if a rule could not be removed
            self._partition_undos.pop()
            left += sum(len(rules_with_comment(self.docker, c, undo.args["run_id"]))
                        for c in undo.args["containers"])
        return {"rules_left": left}

    def heal_all(self, ready_timeout_s: float = 60.0) -> dict[str, Any]:
        """Undo whatever this instance still has applied: partitions healed, crashed nodes
        started again (a platform's close()). Tries everything; raises PlatformError naming what
        could not be undone (those records stay in the ledger for `chaos heal`)."""
        errors: list[str] = []
        result: dict[str, Any] = {"rules_left": 0, "restored": []}
        try:
            result["rules_left"] = self.heal_partition()["rules_left"]
        except Exception as exc:
            errors.append(f"partition rules: {exc}")
        for container in list(self._crash_undos):
            try:
                self.restore(container, ready_timeout_s)
                result["restored"].append(container)
            except Exception as exc:
                errors.append(f"start {container}: {exc}")
        if errors:
            raise PlatformError("could not undo every kind node fault: " + "; ".join(errors))
        return result

    # --- what is left ----------------------------------------------------------------------

    def leftovers(self, run_id: str | None = None, containers: Sequence[str] | None = None) -> dict[str, Any]:
        """Rules with this run's comment (any `chaos-` comment when run_id is None) and stopped
        containers, among `containers` (default: every container this instance touched)."""
        names = list(containers) if containers is not None else list(self._touched)
        rules = {}
        stopped = []
        for c in names:
            found = rules_with_comment(self.docker, c, run_id if run_id else None)
            if found:
                rules[c] = found
            st = self.state(c)
            if st is not None and not st["running"]:
                stopped.append(c)
        return {"rules": rules, "stopped": stopped,
                "pending_undos": len(self._crash_undos) + len(self._partition_undos)}
