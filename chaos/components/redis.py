"""Redis Cluster: six redis-server processes from Debian's package, three masters and three
replicas, one master per zone and each master's replica in the next zone; failure detection
tuned for tests (cluster-node-timeout 3000, cluster-replica-validity-factor 0).

The probe writes keys spread over all three masters (one hash tag per client), and after every
SET asks WAIT 1
on the same connection: a write is acknowledged when the master answers OK, and counted as
replicated when a replica confirmed it too. Redis Cluster replicates asynchronously and can lose
acknowledged writes by design (its specification says so); the SLOs bound the replicated count.

On every platform the servers are asked their state (CLUSTER NODES, INFO replication) and told
to fail back (CLUSTER FAILOVER) over the network with redis-py; redis-cli only creates the
cluster on the local platform. The designed shape (one master per zone) is restored by zone:
a replica in a zone without a master takes over from a master whose zone has two.

On a platform that deploys from manifests (kube, kind: `platform.deploy_stack`) the cluster is
fixtures/kind/redis/ (pods redis-0..5, port 6379; its Job creates the cluster with one master
per zone, and the pods are Ready only once the cluster is ok). Each node announces its pod IP,
which changes when the pod is replaced: the addresses are read from the platform every time,
the probe's clients re-seed their slot-map refreshes from the current IPs, and addresses in a
cluster view map to pods through every IP each pod ever had.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

from .._run import run
from ..errors import MissingPrerequisite, NotSteady, PlatformError
from ..platforms.base import Node
from ..platforms.base import PodSpec
from ..predictions import LogMarkers, Prediction
from ..probe import DEFAULT_INTERVAL_S, DefiniteFailure, Probe
from ..timeline import Timeline
from .base import (STACK_DEPLOY_TIMEOUT_S, StackMembers, Steadiness, Target, chown_tree, missing_module,
                   missing_user, on_manifest_platform, one_node_per_zone, settings_from_manifest, manifest_dir,
                   wait_until_steady)
from ..waits import poll_until, retry_until

__all__ = ["RedisCluster", "parse_cluster_nodes", "prerequisites"]

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
MASTER_PORT = 7000  # replicas listen on MASTER_PORT + 1
KUBE_PORT = 6379  # every pod's port on kube
# Settings fields the kind manifests set on redis-server's command line.
MANIFEST_NAMES = {"cluster_node_timeout_ms": ("cluster-node-timeout",),
                  "cluster_replica_validity_factor": ("cluster-replica-validity-factor",),
                  "cluster_require_full_coverage": ("cluster-require-full-coverage",),
                  "appendonly": ("appendonly",), "appendfsync": ("appendfsync",)}
HASH_SLOTS = 16384


def prerequisites() -> list[str]:
    missing = []
    for binary in (REDIS_SERVER, REDIS_CLI):
        if not os.access(binary, os.X_OK):
            missing.append(f"{binary} not found (fix: apt-get install redis-server)")
    return missing + missing_user("redis", "redis-server") + missing_module("redis")


def parse_cluster_nodes(text: str) -> list[dict[str, Any]]:
    """Parse CLUSTER NODES: one dict per node with id, address ("ip:port"), role ("master" or
    "replica"), master_id (for replicas), failed (fail or fail? flag), connected (link state),
    myself, and the slots it serves as (start, end) ranges."""
    nodes = []
    for line in text.strip().splitlines():
        parts = line.split()
        if len(parts) < 8:
            raise ValueError(f"not a CLUSTER NODES line: {line!r}")
        node_id, addr, flags, master, _ping, _pong, epoch, link = parts[:8]
        flag_set = set(flags.split(","))
        slots = []
        for item in parts[8:]:
            if item.startswith("["):  # a slot being migrated or imported
                continue
            start, _, end = item.partition("-")
            slots.append((int(start), int(end or start)))
        nodes.append({
            "id": node_id, "address": addr.split("@")[0], "myself": "myself" in flag_set,
            "role": "master" if "master" in flag_set else ("replica" if "slave" in flag_set else "unknown"),
            "master_id": None if master == "-" else master, "failed": bool(flag_set & {"fail", "fail?"}),
            "connected": link == "connected", "config_epoch": int(epoch), "slots": slots,
        })
    return nodes


@dataclass(frozen=True)
class Settings:
    cluster_node_timeout_ms: int = 3000
    cluster_replica_validity_factor: int = 0
    cluster_require_full_coverage: bool = False  # other masters' slots stay writable
    appendonly: bool = True
    appendfsync: str = "everysec"
    wait_replicas_timeout_ms: int = 200
    # Unsafe, for the negative control only: replicas never start a failover of their master.
    cluster_replica_no_failover: bool = False

    client_socket_timeout_s: float = 1.0  # the probe's redis-py socket and connect timeouts

    # The predicted failover per fault class (chaos.predictions), from the knobs above:
    #   kill      cluster_node_timeout_ms (the master is marked failing once it has not answered
    #             a ping for that long; the survivors retry the refused link every 100 ms)
    #             + ELECTION_DELAY_S (its replica waits 500 ms plus a random 0-500 ms, rank 0)
    #             + REFRESH_S (the vote, and the client's slot-map refresh);
    #   silent    the same, plus client_socket_timeout_s: the client's write to the silent master
    #             times out before the client refreshes its slot map;
    #   graceful  Redis 7.0 does not hand over on SIGTERM: as a kill.
    def predict(self, fault_class: str) -> Prediction:
        inputs: dict[str, Any] = {"cluster_node_timeout_ms": self.cluster_node_timeout_ms}
        value = self.cluster_node_timeout_ms / 1000 + ELECTION_DELAY_S + REFRESH_S
        formula = "cluster_node_timeout_ms / 1000 + 0.75 s (replica election delay) + 0.25 s (vote, slot refresh)"
        if fault_class == "silent":
            inputs["client_socket_timeout_s"] = self.client_socket_timeout_s
            return Prediction(fault_class, value + self.client_socket_timeout_s, formula + " + client_socket_timeout_s",
                              inputs)
        return Prediction(fault_class, value, formula, inputs)


ELECTION_DELAY_S = 0.75  # a replica's election delay: 500 ms + half its random 0-500 ms
REFRESH_S = 0.25
# When the survivors agreed the master failed, and when its replica won the election.
FAILOVER_LOG = LogMarkers(detected=(r"Marking node \S+ as failing", r"FAIL message received from"),
                          elected=(r"Failover election won", r"configEpoch set to \d+ after successful failover"))


def _slot(key: str) -> int:
    from redis.crc import key_slot

    return key_slot(key.encode())


class RedisClient:
    """One probe worker: a cluster-aware client; each write is SET + WAIT 1 on one connection."""

    def __init__(self, startup: list[tuple[str, int]], experiment: str, tags: list[str], settings: Settings,
                 names, seeds_source: Callable[[], list[tuple[str, int]]] | None = None):
        from redis.backoff import ExponentialBackoff
        from redis.cluster import ClusterNode, RedisCluster
        from redis.retry import Retry

        self.experiment = experiment
        self.tags = tags
        self.settings = settings
        self.names = names
        self.seeds = [ClusterNode(h, p) for h, p in startup]
        self.next_seed = 0
        # Where the servers are now (None: fixed seeds), read without I/O at every refresh.
        self.seeds_source = seeds_source
        self._seed_addrs = list(startup)
        # dynamic_startup_nodes=False: redis-py would otherwise replace the seeds by the nodes of
        # the first view it got, in that view's order, and _refresh could not walk past them.
        self.cluster = RedisCluster(startup_nodes=self.seeds, dynamic_startup_nodes=False,
                                    socket_timeout=settings.client_socket_timeout_s,
                                    socket_connect_timeout=settings.client_socket_timeout_s,
                                    retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1))

    def key(self, value: int) -> str:
        return f"{{{self.tags[value % len(self.tags)]}}}:{self.experiment}:{value}"

    def write(self, value: int):
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError, ResponseError, TimeoutError as RedisTimeoutError

        key = self.key(value)
        try:
            node = self.cluster.get_node_from_key(key)
        except RedisError as exc:
            self._refresh()
            raise DefiniteFailure(str(exc)) from exc
        pipe = node.redis_connection.pipeline(transaction=False)
        pipe.set(key, value)
        pipe.execute_command("WAIT", 1, self.settings.wait_replicas_timeout_ms)
        try:
            set_ok, replicas = pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError):
            self._refresh()
            raise  # the SET may have been applied: indeterminate
        if isinstance(set_ok, ResponseError):
            self._refresh()
            # MOVED / CLUSTERDOWN / READONLY: the server refused the write.
            raise DefiniteFailure(str(set_ok))
        if isinstance(set_ok, Exception):
            self._refresh()
            raise set_ok
        replicated = isinstance(replicas, int) and replicas >= 1
        return (self.names.get(f"{node.host}:{node.port}", node.name),
                {"replicated": replicated, "shard": self.tags[value % len(self.tags)]})

    def _refresh(self) -> None:
        """Reload the slot map, asking the next seed of the fixed list first. redis-py takes the
        first complete view it gets, and a node cut off with its master (the master itself, or
        a replica in its zone) still names that master as the owner of its slots; starting each
        refresh one seed further along the fixed list guarantees that consecutive refreshes ask
        every node in turn, so the client reaches a node that saw the failover within one round."""
        if self.seeds_source is not None:
            self._follow_seeds()
        self.next_seed = (self.next_seed + 1) % len(self.seeds)
        order = self.seeds[self.next_seed:] + self.seeds[:self.next_seed]
        manager = self.cluster.nodes_manager
        try:
            manager.startup_nodes = {node.name: node for node in order}
            manager.initialize()
        except Exception:
            pass

    def _follow_seeds(self) -> None:
        """A replaced pod answers on a new IP: seed refreshes from the current addresses."""
        from redis.cluster import ClusterNode

        try:
            now = list(self.seeds_source())
        except Exception:
            return
        if now and now != self._seed_addrs:
            self._seed_addrs = now
            self.seeds = [ClusterNode(h, p) for h, p in now]
            self.next_seed %= len(self.seeds)

    def abort(self) -> None:
        """Nothing to cut: socket timeouts (1 s) bound every call."""

    def close(self) -> None:
        try:
            self.cluster.close()
        except Exception:
            pass


class _AddressNames:
    """"ip:port" -> pod through every IP each pod ever had (kept current by StackMembers)."""

    def __init__(self, members: StackMembers):
        self.members = members

    def get(self, address: str, default: Any = None) -> Any:
        pod = self.members.pod_of(address.rpartition(":")[0])
        return default if pod is None else pod

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and self.members.pod_of(address.rpartition(":")[0]) is not None

    def __getitem__(self, address: str) -> str:
        pod = self.get(address)
        if pod is None:
            raise KeyError(address)
        return pod


def _answer(address: str, *args: Any, timeout_s: float = 2.0) -> Any:
    """`_raw`, or None when the server did not answer (down, refused, timed out, an error reply)."""
    try:
        return _raw(address, *args, timeout_s=timeout_s)
    except Exception:
        return None


def _raw(address: str, *args: Any, timeout_s: float = 2.0) -> Any:
    """One command to one server, the reply unparsed (CLUSTER NODES and INFO come back as text,
    as redis-cli prints them)."""
    from redis.connection import Connection

    host, _, port = address.rpartition(":")
    conn = Connection(host=host, port=int(port), socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                      decode_responses=True)
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        conn.disconnect()


class RedisCluster(Steadiness):
    """Three masters and three replicas: on the local platform master i on zone i's node and its
    replica on the next zone's node; on a platform with deploy_stack, the manifests' six pods."""

    name = "redis"
    target_roles = ("master", "replica")  # what targets() calls its pods
    leader_roles = ("master",)
    failover_log = FAILOVER_LOG
    steady_poll_s = 0.5

    def __init__(self, platform, *, name: str = "redis", settings: Settings | None = None, probe_workers: int = 3,
                 no_failover: bool = False, port: int = MASTER_PORT):
        """`no_failover` and `port` make the negative control's variant: replicas that never fail
        over (cluster-replica-no-failover), on ports of its own (masters `port`, replicas `port`+1)."""
        self.platform = platform
        self.deployment = name
        self.settings = settings or Settings()
        if no_failover:
            self.settings = replace(self.settings, cluster_replica_no_failover=True)
        self.ports = (port, port + 1)
        self.probe_workers = probe_workers
        self.tags: list[str] = []
        self.kube = on_manifest_platform(platform)
        if self.kube:
            self.members = StackMembers(platform, self.name, KUBE_PORT)
            self.settings, self.from_manifest = settings_from_manifest(self.settings, self.name, MANIFEST_NAMES)
            self.nodes, self.masters, self.replicas, self.pods = [], [], [], []
            self.address: dict[str, str] = {}
            self.pod_of = _AddressNames(self.members)
            return
        self.nodes = one_node_per_zone(platform, "Redis Cluster")
        self.masters = [f"{name}-m{i}" for i in range(3)]
        self.replicas = [f"{name}-r{i}" for i in range(3)]  # replica of master i, in zone i+1
        self.pods = self.masters + self.replicas
        master_port, replica_port = self.ports
        self.address = {**{m: f"{self.nodes[i].ip}:{master_port}" for i, m in enumerate(self.masters)},
                        **{r: f"{self.nodes[(i + 1) % 3].ip}:{replica_port}" for i, r in enumerate(self.replicas)}}
        self.pod_of = {addr: pod for pod, addr in self.address.items()}
        self.tags: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def _node_of(self, pod: str):
        if self.kube:  # where the pod runs now; an unknown pod is in a zone of its own
            node, zone = self.members.placement().get(pod, (pod, f"?{pod}"))
            return Node(node, zone, self.members.ip(pod) or "")
        i = int(pod[-1])
        return self.nodes[i] if pod in self.masters else self.nodes[(i + 1) % 3]

    def _refresh_addresses(self) -> None:
        """On kube: pod -> "ip:port" as the platform says now (no-op on the local platform)."""
        if self.kube:
            self.address = {pod: f"{ip}:{KUBE_PORT}" for pod, ip in self.members.read().items()}

    def deploy(self, timeout_s: float = 120.0) -> dict[str, Any]:
        if self.kube:
            # The manifests' Job creates the cluster; the pods are Ready once it is ok.
            self.members.deploy(max(timeout_s, STACK_DEPLOY_TIMEOUT_S))
            self.pods = list(self.members.pods)
            seen = self.wait_steady(timeout_s)
            self.tags = self._tags_per_master()
            return seen
        missing = prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="redis")
        s = self.settings
        for pod in self.pods:
            node = self._node_of(pod)
            port = self.ports[0] if pod in self.masters else self.ports[1]
            pod_dir = self.platform.path(self.deployment, pod)
            (pod_dir / "redis.conf").write_text("\n".join([
                f"port {port}", f"bind {node.ip}", "protected-mode no", "daemonize no",
                f"dir {pod_dir}", "cluster-enabled yes", f"cluster-config-file {pod_dir}/nodes.conf",
                f"cluster-node-timeout {s.cluster_node_timeout_ms}",
                f"cluster-replica-validity-factor {s.cluster_replica_validity_factor}",
                f"cluster-require-full-coverage {'yes' if s.cluster_require_full_coverage else 'no'}",
                f"cluster-replica-no-failover {'yes' if s.cluster_replica_no_failover else 'no'}",
                f"cluster-announce-ip {node.ip}", f"appendonly {'yes' if s.appendonly else 'no'}",
                f"appendfsync {s.appendfsync}", 'save ""', "logfile \"\"", ""]))
            chown_tree(pod_dir, "redis")
            self.platform.start_pod(PodSpec(name=pod, component=self.name, node=node.name, user="redis",
                                            argv=(REDIS_SERVER, str(pod_dir / "redis.conf")), port=port,
                                            termination_grace_s=10.0))
        self._create_cluster(timeout_s)
        seen = self.wait_steady(timeout_s)
        self.tags = self._tags_per_master()
        return seen

    def _cli(self, *args: str, timeout: float = 30.0) -> str:
        """redis-cli for creating the cluster; a failure (or a hang) means it was not created."""
        try:
            proc = run([REDIS_CLI, *args], check=False, timeout=timeout)
        except PlatformError as exc:
            raise NotSteady(f"redis-cli {' '.join(args)}: {exc}", ["cluster not created"]) from exc
        if proc.returncode != 0:
            raise NotSteady(f"redis-cli {' '.join(args)} failed: {(proc.stdout + proc.stderr)[-500:]}",
                            ["cluster not created"])
        return proc.stdout

    def _wait_ping(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for pod, addr in self.address.items():
            if not poll_until(lambda: _answer(addr, "PING") == "PONG", max(0.0, deadline - time.monotonic())):
                raise NotSteady(f"{pod} does not answer PING", [f"{pod} down"])

    def _create_cluster(self, timeout_s: float) -> None:
        self._wait_ping(timeout_s)
        masters = [self.address[m] for m in self.masters]
        self._cli("--cluster", "create", *masters, "--cluster-yes")
        ids = {}
        for m in self.masters:
            host, port = self.address[m].split(":")
            ids[m] = self._cli("-h", host, "-p", port, "cluster", "myid").strip()
        for i, r in enumerate(self.replicas):
            self._cli("--cluster", "add-node", self.address[r], masters[i], "--cluster-slave",
                      "--cluster-master-id", ids[self.masters[i]])

    def remove(self) -> None:
        if self.kube:
            # Always removed (PVCs too), like the local pods: the next component gets the nodes,
            # and the next deploy creates a fresh cluster.
            self.members.stop()
            self.platform.remove_stack(self.name)
            return
        for pod in self.pods:
            self.platform.remove_pod(pod)

    # --- roles and steadiness -------------------------------------------------------------------

    def cluster_nodes(self) -> list[dict[str, Any]] | None:
        """CLUSTER NODES in the newest view among the servers that answer: the one whose highest
        config epoch is greatest (the first server's on a tie). A master cut off from the others
        still sees itself in charge of its slots after its replica took them over (the epoch
        that promotion bumped has not reached it), so one server's answer alone can be stale."""
        self._refresh_addresses()
        views = []
        for addr in self.address.values():
            text = _answer(addr, "CLUSTER", "NODES")
            if isinstance(text, str) and text.strip():
                views.append(parse_cluster_nodes(text))
        return max(views, key=lambda v: max((n["config_epoch"] for n in v), default=0)) if views else None

    def targets(self) -> list[Target]:
        view = self.cluster_nodes() or []
        roles = {self.pod_of.get(n["address"]): n["role"] for n in view if not n["failed"]}
        out = []
        for pod in self.pods:
            node = self._node_of(pod)
            out.append(Target(pod=pod, node=node.name, zone=node.zone, role=roles.get(pod, "unknown")))
        return out

    def _zone_of_address(self, address: str) -> str | None:
        pod = self.pod_of.get(address)
        return self._node_of(pod).zone if pod else None

    def _restore_topology(self, view: list[dict[str, Any]]) -> str | None:
        """After a failover a master's replica, in the next zone, serves its slots; when the
        old master is back as a replica, two masters share a zone and losing that zone loses the
        majority of masters (no failover at all). Fail back, as an operator rebalancing the
        cluster would: CLUSTER FAILOVER on the designated master that is now a replica."""
        masters = [n for n in view if n["role"] == "master" and n["slots"] and not n["failed"]]
        zones = [self._zone_of_address(m["address"]) for m in masters]
        if len(set(zones)) == len(zones):
            return None
        return self._restore_by_zone(view, masters, zones)

    def _restore_by_zone(self, view: list[dict[str, Any]], masters: list[dict[str, Any]],
                         zones: list[str | None]) -> str:
        """Fail over to a healthy replica that sits in a zone without a master and follows a
        master whose zone has two (no pod is designated master: on kind the manifests' Job chose
        by zone; locally the old master, back as a replica in its own zone, is that replica)."""
        crowded = {z for z in zones if zones.count(z) > 1}
        for n in view:
            if n["role"] != "replica" or n["failed"]:
                continue
            zone = self._zone_of_address(n["address"])
            master = next((m for m in masters if m["id"] == n["master_id"]), None)
            if (master is None or zone is None or zone in zones
                    or self._zone_of_address(master["address"]) not in crowded
                    or not self._replica_online(master["address"])):
                continue
            if _answer(n["address"], "CLUSTER", "FAILOVER", timeout_s=5.0) is None:
                continue  # steadiness checks the outcome of one that was sent
            return f"failing back to {self.pod_of.get(n['address'], n['address'])}"
        return "two masters share a zone"

    def steady(self, restore_topology: bool = False) -> tuple[bool, dict[str, Any]]:
        view = self.cluster_nodes()
        if view is None:
            return False, {"problems": ["no server answers CLUSTER NODES"]}
        problems = []
        masters = [n for n in view if n["role"] == "master" and n["slots"] and not n["failed"]]
        covered = sum(end - start + 1 for n in masters for start, end in n["slots"])
        if covered != HASH_SLOTS:
            problems.append(f"{covered} of {HASH_SLOTS} slots served by healthy masters")
        for m in masters:
            replicas = [n for n in view if n["master_id"] == m["id"] and not n["failed"] and n["connected"]]
            if not replicas:
                problems.append(f"master {self.pod_of.get(m['address'], m['address'])} has no connected replica")
            elif all(self._node_of(self.pod_of.get(r["address"], "x-0")).zone ==
                     self._node_of(self.pod_of.get(m["address"], "x-0")).zone for r in replicas
                     if r["address"] in self.pod_of and m["address"] in self.pod_of):
                problems.append(f"master {self.pod_of.get(m['address'])} has its replicas in its own zone")
        for m in masters:
            if not self._replica_online(m["address"]):
                problems.append(f"master {self.pod_of.get(m['address'], m['address'])} has no replica online "
                                "(INFO replication)")
        failed = [self.pod_of.get(n["address"], n["address"]) for n in view if n["failed"]]
        if failed:
            problems.append(f"failed: {', '.join(failed)}")
        if restore_topology and not problems:
            moved = self._restore_topology(view)
            if moved:
                problems.append(moved)
        return not problems, {"nodes": view, "problems": problems}

    def _replica_online(self, address: str) -> bool:
        """A replica has finished its sync and streams from this master (WAIT can succeed)."""
        if ":" not in address:
            return False
        text = _answer(address, "INFO", "replication")
        return any(line.startswith("slave") and "state=online" in line for line in str(text or "").splitlines())

    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Before an experiment: steady, and back to the designed topology (one master per zone),
        failing back where an earlier experiment moved a master. Never during an experiment."""
        return wait_until_steady(lambda: self.steady(restore_topology=True), self.deployment, timeout_s, log,
                                 self.explain, self.steady_poll_s)

    def _tags_per_master(self) -> list[str]:
        """Hash tags whose slots fall on each master, so the probe writes to all of them."""
        view = self.cluster_nodes() or []
        ranges = [n["slots"] for n in view if n["role"] == "master" and n["slots"]]
        tags = []
        for slots in ranges:
            for i in range(10000):
                tag = f"t{i}"
                slot = _slot(tag)
                if any(a <= slot <= b for a, b in slots):
                    tags.append(tag)
                    break
        return tags

    # --- probe and verification -------------------------------------------------------------------

    def _startup(self, fresh: bool = True) -> list[tuple[str, int]]:
        if self.kube:
            now = self.members.read() if fresh else self.members.snapshot()
            return [(now[pod], KUBE_PORT) for pod in self.members.pods if pod in now]
        return [(a.split(":")[0], int(a.split(":")[1])) for a in self.address.values()]

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        # Worker i writes only to master i's slots (its hash tag), so the worst client's
        # unavailability is that of the slots the fault took away, not diluted by the others.
        startup = self._startup()
        if self.kube:
            self.members.watch()

            def seeds(i: int) -> Callable[[], list[tuple[str, int]]]:
                def now() -> list[tuple[str, int]]:
                    current = self._startup(fresh=False)
                    k = i % len(current) if current else 0
                    return current[k:] + current[:k]
                return now

            clients = [RedisClient(startup[i:] + startup[:i], experiment, [self.tags[i % len(self.tags)]],
                                   self.settings, self.pod_of, seeds_source=seeds(i))
                       for i in range(self.probe_workers)]
            return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=2.5)
        clients = [RedisClient(startup[i:] + startup[:i], experiment, [self.tags[i % len(self.tags)]],
                               self.settings, self.pod_of) for i in range(self.probe_workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=2.5)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        """Read every key the probe may have written for this experiment (SCAN on each master)."""
        from redis.cluster import ClusterNode
        from redis.cluster import RedisCluster as Client

        def read_all() -> list[int]:
            client = Client(startup_nodes=[ClusterNode(h, p) for h, p in self._startup()],
                            socket_timeout=2.0, socket_connect_timeout=1.0)
            try:
                values = []
                for node in client.get_primaries():
                    conn = node.redis_connection
                    for key in conn.scan_iter(match=f"*:{experiment}:*", count=1000):
                        raw = conn.get(key)
                        if raw is not None:
                            values.append(int(raw))
                return values
            finally:
                client.close()

        try:
            return retry_until(read_all, timeout_s)
        except TimeoutError:
            return None

    def config(self) -> dict[str, Any]:
        out = {**asdict(self.settings), "masters": 3, "replicas_per_master": 1,
               "probe_workers": self.probe_workers,
               "probe": "SET then WAIT 1 on the same connection; keys on every master"}
        if self.kube:
            out.update(manifests=str(manifest_dir(self.name)), from_manifest=self.from_manifest,
                       pods=list(self.pods))
        return out
