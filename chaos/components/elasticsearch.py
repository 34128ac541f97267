"""Elasticsearch: three master-eligible data nodes, one per zone: pods of the local platform (the
distribution and user of chaos.components.es_server, each pod with its own data directory), or
fixtures/kind/elasticsearch on a manifest-deployed platform. Fault detection is tuned for fast
failover (leader and follower checks every 1 s, 3 s timeout, 2 retries; publication timeout 5 s,
transport connect timeout 2 s: Settings), and an elasticsearch-py probe.

The probe indexes one document per id into the index `chaos-probe`: one primary shard and two
replicas, so every node holds a copy. Losing any one node leaves two copies, one of them the
primary or a replica the master promotes, so the index stays writable; an acknowledged write was
on every in-sync copy, so no single loss can take it away. (Three shards with one replica would
stay writable too, but each write would then be on two nodes only, and the probe would measure
three primaries' failovers mixed together.) A write is acknowledged only when it was indexed
with refresh=wait_for (visible to search) and the answer says result created or updated with
_shards.failed == 0. The document id is `<experiment>:<id>`, so a retried request (the client
retries timeouts and connection errors on the other nodes) overwrites itself instead of adding
a duplicate. The verification read searches the experiment's documents with search_after.

A failed write is definite (certainly not applied) only when no attempt may have reached a
server (every connection refused) or the answer refused it before execution (no master, write
block, inactive primary, rejected); anything else, including a timed-out attempt followed by a
refusal elsewhere, is indeterminate. Each acknowledgement names the node holding the primary:
the answer carries the primary term, and one cluster-state lookup per new term (a term names
one primary) maps it to the node, so the split-brain checker compares real primaries.

Roles: the elected master (every reachable node's local view of the cluster state; the name most
of them agree on) and the data nodes (every other node holding data).

The negative control deploys a single master-eligible node (the other two are data-only nodes):
when that node goes, no master can be elected and the cluster cannot fail over.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import json

from ..errors import MissingPrerequisite
from ..platforms.base import PodSpec
from ..predictions import LogMarkers, Prediction
from ..probe import DEFAULT_INTERVAL_S, Probe
from ..timeline import Timeline
from . import es_server
from .es_client import (INDEX, EsClient, NotAcknowledged, acknowledgement, cluster_view, elected_master,
                        ensure_index, is_definite, make_client, parse_master, parse_nodes, primary_of, read_values)
from .base import (STACK_DEPLOY_TIMEOUT_S, Steadiness, Target, chown_tree, missing_module, on_manifest_platform,
                   one_node_per_zone)
from ..waits import retry_until

__all__ = ["ElasticsearchCluster", "EsClient", "Settings", "NotAcknowledged", "INDEX", "prerequisites",
           "parse_master", "parse_nodes", "acknowledgement", "is_definite", "make_client", "ensure_index",
           "read_values", "cluster_view", "elected_master", "primary_of", "deployed_fault_detection",
           "settings_from_nodes", "CLIENT_PIN", "FAULT_DETECTION", "FAILOVER_LOG", "node_config"]

HTTP_PORT, TRANSPORT_PORT = 9200, 9300
# The client's major must match the server's (a 9.x client is refused by 8.x servers).
CLIENT_PIN = "elasticsearch==8.19.3"


def prerequisites() -> list[str]:
    """What the local platform lacks to run the cluster (the server, its JDK and user) and the
    probe's client module."""
    return es_server.prerequisites() + missing_module("elasticsearch", CLIENT_PIN)


@dataclass(frozen=True)
class Settings:
    # Fault detection, as the deployment sets it (defaults: timeout 10s, retry_count 3, interval 1s).
    leader_check_interval_s: float = 1.0
    leader_check_timeout_s: float = 3.0
    leader_check_retry_count: int = 2
    follower_check_interval_s: float = 1.0
    follower_check_timeout_s: float = 3.0
    follower_check_retry_count: int = 2
    # The probe's index.
    shards: int = 1
    replicas: int = 2
    refresh_interval: str = "100ms"  # wait_for returns at the next refresh (default 1s)
    # The probe's client: each attempt waits request_timeout_s; timeouts and connection errors
    # are retried max_retries times on the other nodes. The server waits for an inactive primary
    # at most server_timeout_s before it answers unavailable_shards_exception.
    request_timeout_s: float = 2.0
    max_retries: int = 2
    server_timeout_s: float = 1.0
    # The local platform's pods (the kind manifests set their own).
    # How long the master waits for a cluster state update to reach every node (default 30 s):
    # a silent node would hold every update, the failover's included, that long.
    publish_timeout_s: float = 5.0
    # How long a node waits for a TCP connection (default 30 s): to a silent peer it never comes.
    connect_timeout_s: float = 2.0
    heap_mb: int = 256

    # The predicted failover per fault class (chaos.predictions), from the knobs above:
    #   kill      the killed node's connections close at once: its peers notice it within a check
    #             interval; electing a master and promoting a replica take about ELECTION_S;
    #   silent    the followers give up on the master after leader_check_retry_count failed
    #             checks, each waiting leader_check_timeout_s and then leader_check_interval_s, and
    #             elect a new one; its follower checks must then give up on the old master the same
    #             way (follower_check_*) before the primary the old master held is promoted
    #             elsewhere (measured: node-left about 10 s after the election);
    #   graceful  a stopping node closes its connections: as a kill.
    def predict(self, fault_class: str) -> Prediction:
        if fault_class == "silent":
            n, t, i = self.leader_check_retry_count, self.leader_check_timeout_s, self.leader_check_interval_s
            fn, ft, fi = (self.follower_check_retry_count, self.follower_check_timeout_s,
                          self.follower_check_interval_s)
            return Prediction(fault_class, n * (t + i) + fn * (ft + fi) + ELECTION_S,
                              "leader_check_retry_count * (leader_check_timeout_s + leader_check_interval_s) + "
                              "follower_check_retry_count * (follower_check_timeout_s + follower_check_interval_s) + "
                              f"{ELECTION_S} s",
                              {"leader_check_retry_count": n, "leader_check_timeout_s": t, "leader_check_interval_s": i,
                               "follower_check_retry_count": fn, "follower_check_timeout_s": ft,
                               "follower_check_interval_s": fi})
        return Prediction(fault_class, self.leader_check_interval_s + ELECTION_S,
                          f"leader_check_interval_s + {ELECTION_S} s (election, replica promotion)",
                          {"leader_check_interval_s": self.leader_check_interval_s})

    def predicted_failover_s(self) -> float:
        return self.predict("silent").predicted_s

    def op_timeout_s(self) -> float:
        """The longest a probe write can take with every attempt timing out."""
        return self.request_timeout_s * (self.max_retries + 1) + 0.5


ELECTION_S = 1.0
# When the survivors noticed the master gone (a follower's leader check; the master's own node-left
# task) and when a new master took over, as Elasticsearch 8 logs them.
FAILOVER_LOG = LogMarkers(detected=(r"master node \[.*\] (?:failed|disconnected)", r"node-left\[",
                                    r"master not discovered"),
                          elected=(r"elected-as-master",))


def _time_value(seconds_: float) -> str:
    return f"{int(seconds_)}s" if float(seconds_).is_integer() else f"{int(round(seconds_ * 1000))}ms"


def fault_detection(settings: "Settings") -> dict[str, Any]:
    """The nodes' cluster.fault_detection.* settings (elasticsearch.yml) from Settings."""
    return {f"cluster.fault_detection.{check}_check.{knob}": (
                getattr(settings, f"{check}_check_{knob}") if knob == "retry_count"
                else _time_value(getattr(settings, f"{check}_check_{knob}_s")))
            for check in ("leader", "follower") for knob in ("interval", "timeout", "retry_count")}


# --- answers ---------------------------------------------------------------------------------

def node_config(pod: str, ip: str, pod_dir: str, hosts: Sequence[str], masters: Sequence[str], master: bool,
                settings: Settings) -> dict[str, Any]:
    """One local pod's elasticsearch.yml. Its transport binds the zone's IP, so the node enforces
    the bootstrap checks (chaos.components.es_server says how the host-wide ones are met)."""
    return {
        "cluster.name": "chaos-es", "node.name": pod,
        "node.roles": ["master", "data"] if master else ["data"],
        "path.data": f"{pod_dir}/data", "path.logs": f"{pod_dir}/logs",
        "network.host": ip, "http.port": HTTP_PORT, "transport.port": TRANSPORT_PORT,
        "discovery.seed_hosts": [f"{h}:{TRANSPORT_PORT}" for h in hosts],
        "cluster.initial_master_nodes": list(masters),
        "xpack.security.enabled": False,
        # NIO instead of mmap: lifts the vm.max_map_count bootstrap check (a host-wide sysctl).
        "node.store.allow_mmap": False,
        # The harness's state directory may be nearly full: shards must stay allocatable.
        "cluster.routing.allocation.disk.threshold_enabled": False,
        **fault_detection(settings),
        "cluster.publish.timeout": _time_value(settings.publish_timeout_s),
        "transport.connect_timeout": _time_value(settings.connect_timeout_s),
    }


FAULT_DETECTION = fault_detection(Settings())


class ElasticsearchCluster(Steadiness):
    """Three data nodes, one per zone (all master-eligible, or `masters` of them: the negative
    control's single master): pods of the local platform, or the manifests' StatefulSet (kind)."""

    name = "elasticsearch"
    target_roles = ("master", "data")  # what targets() calls its pods
    steady_poll_s = 0.5
    # A node that comes back (restarted pod, uncordoned or restored node) starts a JVM and recovers
    # its shard copy before the cluster is green again: 45 s on a quiet 2-core machine, over 90 s
    # (the run's default) on a busy one.
    recovery_timeout_s = 180.0
    leader_roles = ("master",)
    failover_log = FAILOVER_LOG

    def __init__(self, platform, *, name: str = "es", settings: Settings | None = None,
                 probe_workers: int = 3, nodes: int = 3, masters: int = 3):
        self.platform = platform
        self.settings = settings or Settings()
        self.probe_workers = probe_workers
        self.expected_nodes = nodes
        self.masters = masters
        self.kube = on_manifest_platform(platform)
        self.pods: list[str] = []
        if self.kube:
            self.deployment = "elasticsearch"
            return
        self.deployment = name
        self.nodes = one_node_per_zone(platform, "Elasticsearch", nodes)
        self.pods = [f"{name}-{i}" for i in range(nodes)]
        self.hosts = [n.ip for n in self.nodes]

    # endpoints
    def _endpoints(self) -> list[tuple[str, str]]:
        """(pod, http url) of every pod, sorted by pod name."""
        if not self.kube:
            return [(pod, f"http://{ip}:{HTTP_PORT}") for pod, ip in zip(self.pods, self.hosts)]
        return [(pod, f"http://{ip}:{port}") for pod, ip, port in self.platform.endpoints(self.name, HTTP_PORT)]

    def urls(self, start: int = 0) -> list[str]:
        urls = [u for _, u in self._endpoints()]
        return urls[start % len(urls):] + urls[:start % len(urls)] if urls else urls

    def deploy(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """Apply the manifests (waiting for Ready pods, up to the stack's deploy timeout), then
        wait up to timeout_s for steadiness."""
        if self.kube:
            missing = missing_module("elasticsearch", CLIENT_PIN)
            if missing:
                raise MissingPrerequisite("; ".join(missing), field="elasticsearch")
            pods = self.platform.deploy_stack(self.name, timeout_s=max(timeout_s, STACK_DEPLOY_TIMEOUT_S))
            self.pods = sorted(p.name for p in pods)
            return self.wait_steady(timeout_s)
        missing = prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="elasticsearch")
        self._start_pods()
        return self.wait_steady(max(timeout_s, 180.0))

    def _start_pods(self) -> None:
        home = es_server.ensure_distribution()
        user = es_server.ensure_user()
        jhome = es_server.java_home()
        if user is None or jhome is None:
            raise MissingPrerequisite(f"user {es_server.ES_USER} {'ok' if user else 'cannot be created'}, "
                                      f"Java {jhome or 'missing'}", field="elasticsearch")
        shim = str(es_server.ensure_fd_shim()) if es_server.needs_fd_shim() else None
        s = self.settings
        masters = self.pods[:self.masters]
        for pod, node, ip in zip(self.pods, self.nodes, self.hosts):
            pod_dir = self.platform.path(self.deployment, pod)
            conf = pod_dir / "config"
            for sub in ("config", "data", "logs", "tmp"):
                (pod_dir / sub).mkdir(exist_ok=True)
            (conf / "log4j2.properties").write_bytes((home / "config" / "log4j2.properties").read_bytes())
            # G1 (the JVM's default): a node that enforces the bootstrap checks refuses the serial collector.
            (conf / "jvm.options").write_text("\n".join(es_server.jvm_options(serial_gc=False)) + "\n")
            yml = node_config(pod, ip, str(pod_dir), self.hosts, masters, pod in masters, s)
            (conf / "elasticsearch.yml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in yml.items()))
            chown_tree(pod_dir, user)
            env = {"HOME": str(pod_dir), "ES_JAVA_HOME": jhome, "ES_PATH_CONF": str(conf),
                   "ES_TMPDIR": str(pod_dir / "tmp"), "ES_JAVA_OPTS": f"-Xms{s.heap_mb}m -Xmx{s.heap_mb}m",
                   # The launcher's own JVM (it reads the options and starts the node): short-lived,
                   # so the quick compiler and the serial collector; about 2 s less per node start.
                   "CLI_JAVA_OPTS": "-XX:-UsePerfData -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
            if shim:
                env["LD_PRELOAD"] = shim  # the file-descriptor check (chaos.components.es_server)
            self.platform.start_pod(PodSpec(name=pod, component=self.name, node=node.name, user=user,
                                            argv=(str(home / "bin" / "elasticsearch"),), env=env, port=HTTP_PORT,
                                            termination_grace_s=15.0))
        self.fd_shim = shim

    def remove(self) -> None:
        if self.kube:
            self.platform.remove_stack(self.name)
            return
        for pod in self.pods:
            self.platform.remove_pod(pod)
        es_server.remove_jvm_leftovers()

    # roles
    def views(self) -> dict[str, dict[str, Any]]:
        return cluster_view(self._endpoints())

    def targets(self) -> list[Target]:
        views = self.views()
        master = elected_master(views)
        known: dict[str, Any] = {}
        for v in views.values():
            known.update(v.get("nodes", {}))
        # Node names are pod names in the manifests; the transport IP is the fallback, used only
        # when one node has it (nodes sharing an address cannot be told apart by it).
        ips = Counter(info["ip"] for info in known.values())
        by_ip = {info["ip"]: name for name, info in known.items() if ips[info["ip"]] == 1}
        if self.kube:
            pods = [(p.name, p.ip, p.node or "", p.zone or "") for p in self.platform.pods(self.name)]
        else:
            pods = [(pod, ip, node.name, node.zone) for pod, ip, node in zip(self.pods, self.hosts, self.nodes)]
        out = []
        for pod, ip, node, zone in pods:
            es_name = pod if pod in known else by_ip.get(ip)
            roles = known.get(es_name, {}).get("roles", [])
            # A pod no answering node lists (killed, cut off, not joined) plays no role now.
            role = ("unreachable" if es_name is None else "master" if es_name == master
                    else "data" if "data" in roles else "node")
            out.append(Target(pod=pod, node=node, zone=zone, role=role))
        return sorted(out, key=lambda t: t.pod)

    # steadiness
    def steady(self) -> tuple[bool, dict[str, Any]]:
        views = self.views()
        master = elected_master(views)
        problems = []
        if master is None:
            problems.append(f"no elected master all agree on ({ {p: v.get('master', v.get('error')) for p, v in views.items()} })")
        health = None
        es = None
        try:
            es = make_client(self.urls(), Settings(request_timeout_s=2.0, max_retries=1))
            health = es.cluster.health(timeout="1s").body
        except Exception as exc:
            problems.append(f"health: {type(exc).__name__}: {str(exc)[:120]}")
        finally:
            if es is not None:
                es.close()
        if health is not None:
            if health.get("status") != "green":
                problems.append(f"health {health.get('status')}")
            if health.get("number_of_nodes") != self.expected_nodes:
                problems.append(f"{health.get('number_of_nodes')} nodes of {self.expected_nodes}")
        return not problems, {"master": master, "health": health, "views": views, "problems": problems}

    def explain(self, seen: dict[str, Any]) -> str:
        return f"health {seen.get('health')}; master {seen.get('master')}; {self.logs_hint()}"

    # probe and verification
    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        es = make_client(self.urls(), self.settings)
        try:
            ensure_index(es, self.settings)
        finally:
            es.close()
        clients = [EsClient(self.urls(i), experiment, f"w{i}", self.settings) for i in range(self.probe_workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=self.settings.op_timeout_s())

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        def read_all() -> list[int]:
            es = make_client(self.urls(), Settings(request_timeout_s=10.0, max_retries=2))
            try:
                return read_values(es, experiment)
            finally:
                es.close()

        try:
            return retry_until(read_all, timeout_s)
        except TimeoutError:
            return None

    def config(self) -> dict[str, Any]:
        """The failover knobs as the running nodes report them (`deployed`: per node, the
        server's default where a node sets none). When every node agrees, the fault detection
        fields and the predicted failover are the deployed values; otherwise (nodes disagree or
        do not answer) they are this harness's expected ones, and `knobs_from` says which."""
        settings = self.settings
        es = None
        try:
            es = make_client(self.urls(), Settings(request_timeout_s=3.0, max_retries=1))
            deployed: dict[str, Any] = deployed_fault_detection(es.nodes.info(metric="settings").body)
        except Exception as exc:
            deployed = {"error": f"{type(exc).__name__}: {str(exc)[:160]}"}
        finally:
            if es is not None:
                es.close()
        knobs_from = "harness settings (nodes did not answer)"
        views = [v for v in deployed.values() if isinstance(v, dict)]
        if views and all(v == views[0] for v in views):
            try:
                settings = settings_from_nodes(settings, views[0])
                knobs_from = "nodes"
            except ValueError:
                knobs_from = "harness settings (unparsable node settings)"
        elif views:
            knobs_from = "harness settings (nodes disagree)"
        local = {} if self.kube else {"masters": self.masters, "fd_shim": getattr(self, "fd_shim", None),
                                      "store_allow_mmap": False}
        return {**asdict(settings), "nodes": self.expected_nodes, "predicted_failover_s": settings.predicted_failover_s(),
                "probe_workers": self.probe_workers, "knobs_from": knobs_from, "deployed": deployed, **local}


def seconds(value: str) -> float:
    """An Elasticsearch time value ("500ms", "3s", "1m") in seconds."""
    value = value.strip()
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if value.endswith(unit) and value[: -len(unit)].replace(".", "", 1).isdigit():
            return float(value[: -len(unit)]) * factor
    raise ValueError(f"not a time value: {value!r}")


def settings_from_nodes(settings: Settings, knobs: dict[str, str]) -> Settings:
    """`settings` with the fault detection fields the nodes run with (deployed_fault_detection)."""
    return replace(settings, **{
        f"{check}_check_{field}" + ("" if field == "retry_count" else "_s"):
            int(knobs[f"{check}_check.{field}"]) if field == "retry_count" else seconds(knobs[f"{check}_check.{field}"])
        for check in ("leader", "follower") for field in ("interval", "timeout", "retry_count")})


FAULT_DETECTION_DEFAULTS = {"leader_check.interval": "1s", "leader_check.timeout": "10s",
                            "leader_check.retry_count": "3", "follower_check.interval": "1s",
                            "follower_check.timeout": "10s", "follower_check.retry_count": "3"}


def deployed_fault_detection(nodes_settings: dict[str, Any]) -> dict[str, dict[str, str]]:
    """From `GET _nodes/settings`: per node name, the cluster.fault_detection.* settings it runs
    with (the default where the node sets none)."""
    out = {}
    for node in nodes_settings.get("nodes", {}).values():
        fd = node.get("settings", {}).get("cluster", {}).get("fault_detection", {})
        values = dict(FAULT_DETECTION_DEFAULTS)
        for check, knobs in fd.items():
            for knob, value in knobs.items():
                values[f"{check}.{knob}"] = str(value)
        out[node["name"]] = values
    return out
