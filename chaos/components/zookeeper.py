"""ZooKeeper: a three-server ensemble of Apache ZooKeeper's jars resolved through Maven
(fixtures/zookeeper/pom.xml, pinned, cached), one server per zone, election tuned for tests
(tickTime 1000, initLimit 5, syncLimit 2), and a kazoo probe.

The probe creates sequential znodes holding increasing ids; a connection-state listener records
when each client's session is suspended (disconnected) or lost (expired). Roles come from the
`srvr` four-letter word: leader or follower.

On a platform that deploys from manifests (kube, kind: `platform.deploy_stack`), the ensemble is
fixtures/kind/zookeeper/ (pods zookeeper-0..2, port 2181); its pods come back with new IPs when
replaced, so the servers' addresses are read from the platform every time (StackMembers) and the
probe's clients follow them (kazoo's set_hosts, applied at its next connection attempt).
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..cache import cache_dir, maven_artifact_missing, maven_libs
from ..errors import MissingPrerequisite
from ..platforms.base import PodSpec
from ..predictions import LogMarkers, Prediction
from ..probe import DEFAULT_INTERVAL_S, DefiniteFailure, Probe
from ..timeline import SESSION, Timeline
from .base import (STACK_DEPLOY_TIMEOUT_S, StackMembers, Steadiness, Target, chown_tree, missing_module,
                   on_manifest_platform, one_node_per_zone, settings_from_manifest, manifest_dir)
from ..waits import retry_until

__all__ = ["ZooKeeperEnsemble", "ZkClient", "ZK_VERSION", "ensure_zookeeper_jars", "parse_srvr", "prerequisites"]

ZK_VERSION = "3.9.5"  # keep in step with fixtures/zookeeper/pom.xml
POM = Path(__file__).resolve().parents[2] / "fixtures" / "zookeeper" / "pom.xml"
JAVA = os.environ.get("CHAOS_JAVA", "/usr/bin/java")
RUN_AS = "nobody"
CLIENT_PORT, QUORUM_PORT, ELECTION_PORT = 2181, 2888, 3888
ROOT = "/chaos"


def libs_dir() -> Path:
    return cache_dir() / f"zookeeper-{ZK_VERSION}" / "libs"


def prerequisites() -> list[str]:
    return (maven_artifact_missing(JAVA, f"ZooKeeper {ZK_VERSION} jars", libs_dir() / ".complete")
            + missing_module("kazoo"))


def ensure_zookeeper_jars(log: Callable[[str], None] = lambda m: None) -> Path:
    """The server's jars, resolved through Maven once and cached; later calls download nothing."""
    return maven_libs(libs_dir(), POM, f"ZooKeeper {ZK_VERSION} jars", log)


# Settings fields the kind manifests may set, under the names the official image's env or
# zoo.cfg and the JVM flags use.
MANIFEST_NAMES = {"tick_time_ms": ("ZOO_TICK_TIME", "tickTime"), "init_limit": ("ZOO_INIT_LIMIT", "initLimit"),
                  "sync_limit": ("ZOO_SYNC_LIMIT", "syncLimit"), "cnx_timeout_ms": ("zookeeper.cnxTimeout",),
                  "heap_mb": ("ZK_SERVER_HEAP",)}
# What the servers run with when the manifests leave a knob out (ZooKeeper's own defaults).
SERVER_DEFAULTS = {"cnx_timeout_ms": 5000}


def parse_srvr(text: str) -> dict[str, Any]:
    """Parse the answer to the `srvr` four-letter word.

    A serving server answers lines of `Key: value` (Mode: leader|follower|standalone, Zxid: 0x..);
    one that has lost its quorum answers "This ZooKeeper instance is not currently serving
    requests". Returns {"serving": bool, "mode": str | None, "zxid": int | None, ...}.
    """
    if "not currently serving requests" in text:
        return {"serving": False, "mode": None, "zxid": None}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    mode = fields.get("mode")
    if mode is None:
        raise ValueError(f"not a srvr answer: {text[:200]!r}")
    zxid = fields.get("zxid")
    return {"serving": True, "mode": mode, "zxid": int(zxid, 16) if zxid else None,
            "node_count": int(fields["node count"]) if "node count" in fields else None,
            "version": fields.get("zookeeper version")}


def four_letter(ip: str, word: str, port: int = CLIENT_PORT, timeout_s: float = 1.0) -> str:
    with socket.create_connection((ip, port), timeout=timeout_s) as sock:
        sock.sendall(word.encode())
        sock.settimeout(timeout_s)
        chunks = []
        while True:
            data = sock.recv(4096)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@dataclass(frozen=True)
class Settings:
    tick_time_ms: int = 1000
    init_limit: int = 5
    sync_limit: int = 2
    session_timeout_s: float = 10.0  # the client's requested session timeout (kazoo's default)
    # kazoo's TCP connect timeout is the whole session timeout: one reconnect attempt that
    # picks a silent (crashed, partitioned) server would cost 10 s and expire the session.
    # The probe caps it, as a tuned application would.
    client_connect_timeout_s: float = 1.0
    # How long a server waits to connect to a silent peer during an election (default 5 s):
    # with a crashed or partitioned leader, the election would wait that long per attempt.
    cnx_timeout_ms: int = 1000
    heap_mb: int = 128

    # The predicted failover per fault class (chaos.predictions), from the knobs above:
    #   kill      the leader's connections close at once: the followers elect at once
    #             (FINALIZE_S, ZooKeeper's finalizeWait) and the new leader syncs them, and the
    #             clients reconnect (SYNC_S);
    #   silent    the followers notice after sync_limit * tick_time_ms (their read timeout), the
    #             election waits cnx_timeout_ms for the silent peer, then as a kill;
    #   graceful  a stopped server closes its connections: as a kill.
    def predict(self, fault_class: str) -> Prediction:
        kill = FINALIZE_S + SYNC_S
        formula = "0.2 s (finalizeWait) + 0.5 s (sync, client reconnect)"
        if fault_class == "silent":
            return Prediction(fault_class, self.sync_limit * self.tick_time_ms / 1000 + self.cnx_timeout_ms / 1000 + kill,
                              "sync_limit * tick_time_ms / 1000 + cnx_timeout_ms / 1000 + " + formula,
                              {"sync_limit": self.sync_limit, "tick_time_ms": self.tick_time_ms,
                               "cnx_timeout_ms": self.cnx_timeout_ms})
        return Prediction(fault_class, kill, formula, {})


FINALIZE_S, SYNC_S = 0.2, 0.5
# When a follower gave up on its leader, and when a server took the lead.
FAILOVER_LOG = LogMarkers(detected=(r"Exception when following the leader", r"shutdown Follower",
                                    r"PeerState set to LOOKING", r"Peer state changed: looking"),
                          elected=(r"LEADER ELECTION TOOK",))


class ZkClient:
    """One probe worker: a kazoo client that creates sequential znodes holding the ids."""

    def __init__(self, hosts: str, experiment: str, worker: str, timeline: Timeline, settings: Settings,
                 op_timeout_s: float, hosts_source: Callable[[], str] | None = None):
        from kazoo.client import KazooClient
        from kazoo.handlers.threading import SequentialThreadingHandler
        from kazoo.retry import KazooRetry

        class CappedConnectHandler(SequentialThreadingHandler):
            def create_connection(self, *args, **kwargs):
                kwargs["timeout"] = min(kwargs.get("timeout") or settings.client_connect_timeout_s,
                                        settings.client_connect_timeout_s)
                return super().create_connection(*args, **kwargs)

        self.path = f"{ROOT}/{experiment.replace('/', '_').replace('@', '_')}"
        self.timeline = timeline
        self.worker = worker
        self.op_timeout_s = op_timeout_s
        # Where the servers are now (None: fixed addresses). Read without I/O before each write.
        self.hosts_source = hosts_source
        self.hosts = hosts
        # Reconnect forever, quickly: the probe wants to see the ensemble come back.
        self.client = KazooClient(hosts=hosts, timeout=settings.session_timeout_s, handler=CappedConnectHandler(),
                                  connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
        self.client.add_listener(self._state)
        self.client.start(timeout=15)
        self.client.ensure_path(self.path)

    def _state(self, state) -> None:
        # Called from kazoo's thread: only record.
        self.timeline.record(SESSION, self.worker, "session", value=str(state).lower())

    def write(self, value: int) -> str | None:
        from kazoo.exceptions import ConnectionLoss, NoNodeError, OperationTimeoutError, SessionExpiredError

        if self.hosts_source is not None:
            self._follow_hosts()
        if not self.client.connected:
            raise DefiniteFailure("not connected (session suspended or lost)")
        try:
            self.client.create_async(f"{self.path}/n-", str(value).encode(), sequence=True).get(
                timeout=self.op_timeout_s)
        except NoNodeError as exc:
            raise DefiniteFailure(str(exc)) from exc
        except (ConnectionLoss, SessionExpiredError, OperationTimeoutError):
            raise  # sent, outcome unknown: indeterminate
        # Every write is ordered by the leader whichever server the client is connected to, so
        # naming that server would make the split-brain checker see two "primaries" where
        # there is one: report no server.
        return None

    def _follow_hosts(self) -> None:
        """A replaced server answers on a new IP: hand kazoo the current list. It takes effect at
        the next connection attempt and never drops a working connection."""
        try:
            hosts = self.hosts_source()
        except Exception:
            return
        if hosts and hosts != self.hosts:
            self.client.set_hosts(hosts)
            self.hosts = hosts

    def abort(self) -> None:
        """Nothing to cut: write() waits at most op_timeout_s itself."""

    def close(self) -> None:
        # Stopping the client ends its session on purpose: that is not a lost session.
        self.client.remove_listener(self._state)
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass

    def values(self) -> list[int]:
        """Every value written under the experiment's path: the reads are sent all at once and
        their answers collected after (one round trip each, in sequence, took seconds for the
        thousands a run writes)."""
        pending = [self.client.get_async(f"{self.path}/{child}") for child in self.client.get_children(self.path)]
        return [int(result.get(timeout=self.op_timeout_s)[0].decode()) for result in pending]


class ZooKeeperEnsemble(Steadiness):
    """Three ZooKeeper servers, one per zone: started by the harness on the local platform, or
    the manifests' StatefulSet on a platform with deploy_stack."""

    name = "zookeeper"
    target_roles = ("leader", "follower")  # what targets() calls its pods
    leader_roles = ("leader",)
    failover_log = FAILOVER_LOG

    def __init__(self, platform, *, name: str = "zk", settings: Settings | None = None, probe_workers: int = 3,
                 client_port: int = CLIENT_PORT, servers: int = 3):
        self.platform = platform
        # Another ensemble on the same nodes (Flink's, chaos.components.flink_local, or the
        # negative control's) takes other ports: client_port, and the quorum and election ports
        # shifted by as much. `servers` 2 is the negative control's ensemble: one server in each of
        # two zones, so that losing either zone leaves no majority.
        self.client_port = client_port
        shift = client_port - CLIENT_PORT
        self.quorum_port, self.election_port = QUORUM_PORT + shift, ELECTION_PORT + shift
        self.deployment = name
        self.settings = settings or Settings()
        self.probe_workers = probe_workers
        self.kube = on_manifest_platform(platform)
        if self.kube:
            # Pods, nodes and addresses come from the platform once deployed; the server knobs
            # are the manifests' (the client's own stay as given).
            self.members = StackMembers(platform, self.name, CLIENT_PORT)
            self.settings, self.from_manifest = settings_from_manifest(self.settings, self.name, MANIFEST_NAMES,
                                                                        SERVER_DEFAULTS)
            self.nodes, self.pods, self.hosts = [], [], []
            return
        self.nodes = one_node_per_zone(platform, "ZooKeeper")[:servers]
        self.pods = [f"{name}-{i}" for i in range(servers)]
        self.hosts = [n.ip for n in self.nodes]

    def deploy(self, timeout_s: float = 120.0) -> dict[str, Any]:
        if self.kube:
            self.members.deploy(max(timeout_s, STACK_DEPLOY_TIMEOUT_S))
            self.pods = list(self.members.pods)
            return self.wait_steady(timeout_s)
        missing = prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="zookeeper")
        libs = ensure_zookeeper_jars()
        s = self.settings
        servers = "\n".join(f"server.{i + 1}={ip}:{self.quorum_port}:{self.election_port}"
                            for i, ip in enumerate(self.hosts))
        for i, (pod, node) in enumerate(zip(self.pods, self.nodes)):
            pod_dir = self.platform.path(self.deployment, pod)
            data = pod_dir / "data"
            data.mkdir(exist_ok=True)
            (data / "myid").write_text(f"{i + 1}\n")
            (pod_dir / "zoo.cfg").write_text(
                f"tickTime={s.tick_time_ms}\ninitLimit={s.init_limit}\nsyncLimit={s.sync_limit}\n"
                f"dataDir={data}\nclientPort={self.client_port}\nclientPortAddress={node.ip}\n"
                "admin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,mntr\n"
                "quorumListenOnAllIPs=false\nmaxSessionTimeout=60000\n" + servers + "\n")
            chown_tree(pod_dir, RUN_AS)
            argv = (JAVA, f"-Xmx{s.heap_mb}m", "-XX:+UseSerialGC", "-Dzookeeper.jmx.log4j.disable=true",
                    f"-Dzookeeper.cnxTimeout={s.cnx_timeout_ms}",
                    "-Dorg.slf4j.simpleLogger.showDateTime=true",
                    # dated, so that the failover can be read off the log (chaos.predictions)
                    "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS", "-cp", f"{libs}/*",
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(pod_dir / "zoo.cfg"))
            self.platform.start_pod(PodSpec(name=pod, component=self.name, node=node.name, user=RUN_AS,
                                            argv=argv, env={"HOME": str(pod_dir)}, port=self.client_port,
                                            termination_grace_s=10.0))
        return self.wait_steady(timeout_s)

    def remove(self) -> None:
        if self.kube:
            # Always removed (PVCs too), like the local pods: the next component gets the nodes,
            # and the next deploy starts from fresh volumes.
            self.members.stop()
            self.platform.remove_stack(self.name)
            return
        for pod in self.pods:
            self.platform.remove_pod(pod)

    def _addresses(self) -> list[tuple[str, str | None]]:
        """(pod, IP) of every server: fixed on the local platform, read now on kube."""
        if not self.kube:
            return list(zip(self.pods, self.hosts))
        now = self.members.read()
        return [(pod, now.get(pod)) for pod in self.members.pods]

    def _srvr(self, ip: str) -> dict[str, Any]:
        try:
            return parse_srvr(four_letter(ip, "srvr", self.client_port))
        except (OSError, ValueError) as exc:
            return {"serving": False, "mode": "unreachable", "error": str(exc)[:120]}

    def status(self) -> dict[str, dict[str, Any]]:
        if self.kube:
            running = self.members.running()
            return {pod: {**(self._srvr(ip) if ip else {"serving": False, "mode": "no pod IP"}),
                          "ip": ip, "running": running.get(pod, False)} for pod, ip in self._addresses()}
        return {pod: {**self._srvr(ip), "running": self.platform.pod_running(pod)}
                for pod, ip in zip(self.pods, self.hosts)}

    def targets(self) -> list[Target]:
        st = self.status()
        if self.kube:
            where = self.members.placement()
            return [Target(pod=pod, node=where.get(pod, ("", ""))[0], zone=where.get(pod, ("", ""))[1],
                           role=st[pod].get("mode") or "unknown") for pod in st]
        return [Target(pod=pod, node=node.name, zone=node.zone, role=st[pod].get("mode") or "unknown")
                for pod, node in zip(self.pods, self.nodes)]

    def explain(self, seen: dict[str, Any]) -> str:
        return f"status {seen['pods']}; {self.logs_hint()}"

    def steady(self) -> tuple[bool, dict[str, Any]]:
        st = self.status()
        modes = sorted(s.get("mode") or "none" for s in st.values())
        problems = [] if modes == sorted(["leader"] + ["follower"] * (len(st) - 1)) else [f"modes {modes}"]
        return not problems, {"pods": st, "problems": problems}

    def _hosts(self, start: int = 0, fresh: bool = True) -> str:
        """The connection string, starting at the start-th server. On kube: the current IPs
        (fresh=False: as last read, no I/O, for the probe's clients)."""
        ips = self.members.ips(fresh) if self.kube else self.hosts
        if self.kube and ips:
            start %= len(ips)
        hosts = ips[start:] + ips[:start]
        return ",".join(f"{ip}:{self.client_port}" for ip in hosts)

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        op_timeout_s = 1.0
        if self.kube:
            self.members.watch()
        clients = [ZkClient(self._hosts(i), experiment, f"w{i}", timeline, self.settings, op_timeout_s,
                            hosts_source=(lambda i=i: self._hosts(i, fresh=False)) if self.kube else None)
                   for i in range(self.probe_workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=op_timeout_s + 0.5)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        def read_all() -> list[int]:
            reader = ZkClient(self._hosts(), experiment, "verify", Timeline(), self.settings, 5.0)
            try:
                return reader.values()
            finally:
                reader.close()

        try:
            return retry_until(read_all, timeout_s)
        except TimeoutError:
            return None

    def config(self) -> dict[str, Any]:
        out = {**asdict(self.settings), "servers": len(self.pods),
               "probe_workers": self.probe_workers}
        if self.kube:
            out.update(manifests=str(manifest_dir(self.name)), from_manifest=self.from_manifest,
                       pods=list(self.pods))
        return out
