"""The four components on a platform that deploys the stack from manifests (platform.deploy_stack):
wiring only, against a stand-in platform object that implements the kube-stack interface
(deploy_stack returning KubePod objects, endpoints whose IPs change after a pod is replaced,
remove_stack) and refuses every local-only call (start_pod, path, log_path, remove_pod).

Servers are stand-ins too: the network answers (ZooKeeper `srvr`, CLUSTER NODES, PostgreSQL
status) are patched per IP, so these tests prove which addresses the components ask and how they
map answers to pods after an IP change. The real run needs a kind cluster (tests/e2e, skipped
here: no kind cluster can start on these machines); the local platform's behaviour is covered by
tests/integration and the experiments suite.
"""

from __future__ import annotations

import pytest

from chaos.components import elasticsearch, kafka, postgres, redis, zookeeper
from chaos.components.base import STACK_FILE, StackMembers, manifest_knobs
from chaos.errors import InvalidConfig
from chaos.platforms.kube import KubePod

ZONES = {"kind-worker": "a", "kind-worker2": "b", "kind-worker3": "c"}
NODES = sorted(ZONES)
PORTS = {"postgres": 5432, "zookeeper": 2181, "kafka": 9092, "redis": 6379}
COUNT = {"postgres": 3, "zookeeper": 3, "kafka": 3, "redis": 6}
LOCAL_ONLY = ("start_pod", "path", "log_path", "remove_pod")


class FakeKube:
    """The kube-stack interface of chaos/platforms/kind.py, in memory. kill() replaces a pod the
    way a StatefulSet does: same name, new UID, new IP."""

    name = "kind"
    namespaces = ("chaos-stack",)

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.pods_by_component: dict[str, list[KubePod]] = {}
        self._next_ip = 10

    def __getattr__(self, name: str):
        if name in LOCAL_ONLY:
            raise AssertionError(f"local-only platform call {name}() on kube")
        raise AttributeError(name)

    def _ip(self, node: str) -> str:
        self._next_ip += 1
        return f"10.244.{NODES.index(node) + 1}.{self._next_ip}"

    def _pod(self, component: str, i: int, uid: str = "u0") -> KubePod:
        node = NODES[i % 3]
        return KubePod(name=f"{component}-{i}", namespace="chaos-stack", node=node, zone=ZONES[node],
                       uid=f"{component}-{i}-{uid}", ip=self._ip(node), phase="Running", ready=True, restarts=0,
                       component=component, owner=f"StatefulSet/{component}", port=PORTS[component])

    def deploy_stack(self, component: str, timeout_s: float = 600) -> list[KubePod]:
        self.calls.append(("deploy_stack", component, timeout_s))
        if component not in self.pods_by_component:
            self.pods_by_component[component] = [self._pod(component, i) for i in range(COUNT[component])]
        return list(self.pods_by_component[component])

    def remove_stack(self, component: str) -> None:
        self.calls.append(("remove_stack", component))
        self.pods_by_component.pop(component, None)

    def endpoints(self, component: str, port: int | None = None) -> list[tuple[str, str, int]]:
        self.calls.append(("endpoints", component))
        return [(p.name, p.ip, port or p.port) for p in sorted(self.pods_by_component.get(component, []),
                                                               key=lambda p: p.name) if p.ip]

    def pods(self, component: str | None = None) -> list[KubePod]:
        self.calls.append(("pods", component))
        return list(self.pods_by_component.get(component, []))

    def pod_running(self, name: str) -> bool:
        raise AssertionError("components list their pods once per poll on kube, not pod by pod")

    def exec_in_pod(self, pod: str, argv: list[str], timeout_s: float = 30) -> str:
        self.calls.append(("exec_in_pod", pod, tuple(argv)))
        return ""

    def kill(self, component: str, pod: str, *, pending: bool = False) -> tuple[str, str | None]:
        """Replace the pod; returns (old IP, new IP). pending: not scheduled yet, no IP."""
        pods = self.pods_by_component[component]
        i = next(k for k, p in enumerate(pods) if p.name == pod)
        old = pods[i]
        new = self._pod(component, int(pod.rpartition("-")[2]), uid=f"u{self._next_ip}")
        if pending:
            new = KubePod(**{**new.__dict__, "ip": None, "phase": "Pending", "ready": False, "node": None,
                             "zone": None})
        pods[i] = new
        return old.ip, new.ip

    def ip(self, component: str, pod: str) -> str:
        return next(p.ip for p in self.pods_by_component[component] if p.name == pod)


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


def called(kube: FakeKube, name: str) -> list[tuple]:
    return [c for c in kube.calls if c[0] == name]


# --- StackMembers --------------------------------------------------------------------------------


def test_members_follow_a_replaced_pod_and_remember_its_old_ip(kube):
    members = StackMembers(kube, "zookeeper", 2181)
    members.deploy(600)
    assert members.pods == ["zookeeper-0", "zookeeper-1", "zookeeper-2"]
    before = members.ips()
    old, new = kube.kill("zookeeper", "zookeeper-1")
    assert members.snapshot()["zookeeper-1"] == old  # no I/O: as last read
    after = members.ips()
    assert after == [before[0], new, before[2]] and new != old
    assert members.pod_of(old) == members.pod_of(new) == "zookeeper-1"


def test_a_pod_without_ip_is_left_out_until_it_has_one(kube):
    members = StackMembers(kube, "postgres", 5432)
    members.deploy(600)
    kube.kill("postgres", "postgres-2", pending=True)
    assert list(members.read()) == ["postgres-0", "postgres-1"]
    assert members.running() == {"postgres-0": True, "postgres-1": True, "postgres-2": False}
    # The placement of a pod being recreated is its last known one.
    assert members.placement(max_age_s=0)["postgres-2"] == ("kind-worker3", "c")


def test_watch_refreshes_the_snapshot_in_the_background(kube):
    import time

    members = StackMembers(kube, "kafka", 9092)
    members.deploy(600)
    _old, new = kube.kill("kafka", "kafka-0")
    members.watch(interval_s=0.05)
    try:
        deadline = time.monotonic() + 5
        while members.snapshot()["kafka-0"] != new and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        members.stop()
    assert members.snapshot()["kafka-0"] == new


# --- ZooKeeper -----------------------------------------------------------------------------------


def srvr(mode: str) -> str:
    return f"Zookeeper version: 3.9.3\nLatency min/avg/max: 0/0/0\nMode: {mode}\nNode count: 5\nZxid: 0x100000000\n"


def test_zookeeper_deploys_through_the_stack_and_reads_roles_at_current_ips(kube, monkeypatch):
    ens = zookeeper.ZooKeeperEnsemble(kube)
    assert called(kube, "deploy_stack") == []  # nothing before deploy()
    modes: dict[str, str] = {}
    asked: list[str] = []

    def four_letter(ip, word, port=2181, timeout_s=1.0):
        asked.append(ip)
        if ip not in modes:
            raise OSError("connection refused")
        return srvr(modes[ip])

    monkeypatch.setattr(zookeeper, "four_letter", four_letter)
    kube.deploy_stack("zookeeper")  # the pods exist: give them modes before deploy() waits
    for pod, mode in zip(("zookeeper-0", "zookeeper-1", "zookeeper-2"), ("follower", "leader", "follower")):
        modes[kube.ip("zookeeper", pod)] = mode
    seen = ens.deploy(timeout_s=5)
    assert not seen["problems"]
    assert ("deploy_stack", "zookeeper", 600.0) in kube.calls
    assert ens.pods == ["zookeeper-0", "zookeeper-1", "zookeeper-2"]
    leader = [t for t in ens.targets() if t.role == "leader"]
    assert [(t.pod, t.node, t.zone) for t in leader] == [("zookeeper-1", "kind-worker2", "b")]

    # The leader is killed: its pod comes back with a new IP, and a new leader was elected.
    old, new = kube.kill("zookeeper", "zookeeper-1")
    modes.pop(old)
    modes[new] = "follower"
    modes[kube.ip("zookeeper", "zookeeper-2")] = "leader"
    asked.clear()
    ok, seen = ens.steady()
    assert ok, seen
    assert new in asked and old not in asked
    assert seen["pods"]["zookeeper-1"]["ip"] == new
    assert f"{new}:2181" in ens._hosts(0) and old not in ens._hosts(0)
    assert "kubectl logs -n chaos-stack zookeeper-0" in ens.explain(seen)


def test_zookeeper_probe_client_follows_new_ips_without_dropping_its_connection(kube):
    class FakeKazoo:
        connected = True
        set_to: list[str] = []

        def set_hosts(self, hosts):
            self.set_to.append(hosts)

    current = {"hosts": "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181"}
    client = zookeeper.ZkClient.__new__(zookeeper.ZkClient)
    client.client, client.hosts = FakeKazoo(), current["hosts"]
    client.hosts_source = lambda: current["hosts"]
    client._follow_hosts()
    assert client.client.set_to == []  # unchanged: nothing to do
    current["hosts"] = "10.0.0.1:2181,10.0.0.9:2181,10.0.0.3:2181"
    client._follow_hosts()
    assert client.client.set_to == [current["hosts"]] and client.hosts == current["hosts"]


def test_zookeeper_config_is_the_manifests(kube):
    if not (STACK_FILE.parent / "zookeeper").is_dir():
        pytest.skip("fixtures/kind/zookeeper is missing")
    cfg = zookeeper.ZooKeeperEnsemble(kube).config()
    assert (cfg["tick_time_ms"], cfg["init_limit"], cfg["sync_limit"]) == (1000, 5, 2)
    assert {"tick_time_ms", "init_limit", "sync_limit", "cnx_timeout_ms"} <= set(cfg["from_manifest"])
    # zookeeper.cnxTimeout travels in JVMFLAGS (-Dzookeeper.cnxTimeout=1000), as local sets it.
    assert cfg["cnx_timeout_ms"] == 1000


def test_zookeeper_remove_removes_the_stack(kube):
    ens = zookeeper.ZooKeeperEnsemble(kube)
    ens.remove()
    assert called(kube, "remove_stack") == [("remove_stack", "zookeeper")]


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_postgres_variants_are_refused_on_kube(kube):
    with pytest.raises(InvalidConfig, match="local platform"):
        postgres.PostgresCluster(kube, sync=False, name="pgasync", port=5433)


def test_postgres_steadiness_matches_dns_upstreams_and_follows_a_new_primary_ip(kube, monkeypatch):
    cluster = postgres.PostgresCluster(kube)
    cluster.members.deploy(600)
    cluster.pods = list(cluster.members.pods)
    roles = {"postgres-0": "primary", "postgres-1": "standby", "postgres-2": "standby"}

    def node_status(ip):
        pod = cluster.members.pod_of(ip)
        if roles[pod] == "primary":
            return {"role": "primary", "replicas": [
                {"name": p, "state": "streaming", "sync": "quorum", "replay_lag_bytes": 0}
                for p in roles if p != pod]}
        primary = next(p for p, r in roles.items() if r == "primary")
        return {"role": "standby", "receiver": "streaming",
                "upstream": f"{primary}.postgres-headless.chaos-stack.svc.cluster.local"}

    monkeypatch.setattr(cluster, "_node_status", node_status)
    ok, seen = cluster.steady()
    assert ok, seen["problems"]
    # Failover to postgres-1; postgres-0 comes back (new IP) as a standby.
    old, new = kube.kill("postgres", "postgres-0")
    roles.update({"postgres-0": "standby", "postgres-1": "primary"})
    ok, seen = cluster.steady()
    assert ok, seen["problems"]
    assert seen["pods"]["postgres-0"]["ip"] == new
    # A standby following an IP that is not the primary's is a problem.
    monkeypatch.setattr(cluster, "_node_status", lambda ip: {**node_status(ip), "upstream": old}
                        if cluster.members.pod_of(ip) == "postgres-2" else node_status(ip))
    ok, seen = cluster.steady()
    assert not ok and any("postgres-2 is standby following" in p for p in seen["problems"])


def test_postgres_probe_clients_rebuild_conninfo_from_current_ips(kube):
    cluster = postgres.PostgresCluster(kube)
    cluster.members.deploy(600)
    cluster.pods = list(cluster.members.pods)
    clients = cluster.clients("postgres/primary-kill@run")
    try:
        pooled, fresh = clients[1], clients[-1]
        assert pooled.hosts[0] == kube.ip("postgres", "postgres-1")
        old, new = kube.kill("postgres", "postgres-1")
        cluster.members.read()  # what the watch thread does every second
        pooled._follow_hosts()
        assert pooled.hosts[0] == new and old not in pooled.conninfo and new in pooled.conninfo
        fresh._follow_hosts()
        assert new in fresh.hosts
        # An acknowledgement from either IP is named by the pod (split-brain checks use names).
        assert pooled.names.get(old) == pooled.names.get(new) == "postgres-1"
    finally:
        cluster.members.stop()
    assert cfg_ok(cluster.config())


def cfg_ok(cfg) -> bool:
    if not (STACK_FILE.parent / "postgres").is_dir():
        return True
    return (cfg["monitor_interval_secs"], cfg["reconnect_attempts"], cfg["reconnect_interval"]) == (1, 2, 2) \
        and cfg["synchronous_standby_names"] == "ANY 1 (*)" and "monitor_interval_secs" in cfg["from_manifest"]


# --- Kafka ---------------------------------------------------------------------------------------


def test_kafka_bootstrap_and_node_ids_follow_the_pods(kube, monkeypatch):
    cluster = kafka.KafkaCluster(kube)
    cluster.members.deploy(600)
    cluster.pods = list(cluster.members.pods)
    first = cluster.bootstrap
    assert first == [f"{kube.ip('kafka', p)}:9092" for p in cluster.pods]

    class Admin:
        def describe_cluster(self):
            return {"brokers": [{"node_id": i + 1, "host": kube.ip("kafka", f"kafka-{i}"), "port": 9092}
                                for i in range(3)]}

        def close(self):
            pass

    monkeypatch.setattr(cluster, "_admin", lambda timeout_ms=3000: Admin())
    cluster._learn_ids()
    assert cluster.ids == {1: "kafka-0", 2: "kafka-1", 3: "kafka-2"}
    _old, new = kube.kill("kafka", "kafka-2")
    assert cluster.bootstrap[2] == f"{new}:9092" and cluster.bootstrap != first
    monkeypatch.setattr(cluster, "roles", lambda: {"leader": 3, "replicas": [1, 2, 3], "isr": [1, 2, 3],
                                                   "controller": 1, "lagging_controllers": []})
    targets = {(t.pod, t.role, t.zone) for t in cluster.targets()}
    assert ("kafka-2", "leader", "c") in targets and ("kafka-0", "controller", "a") in targets
    assert cluster.steady()[0]


def test_kafka_config_is_the_manifests(kube):
    if not (STACK_FILE.parent / "kafka").is_dir():
        pytest.skip("fixtures/kind/kafka is missing")
    cfg = kafka.KafkaCluster(kube).config()
    assert cfg["broker_session_timeout_ms"] == 4000 and cfg["min_insync_replicas"] == 2
    assert "broker_session_timeout_ms" in cfg["from_manifest"]
    assert cfg["kafka_version"] != kafka.KAFKA_VERSION or "kafka_version" in cfg  # the image's tag on kind


# --- Redis ---------------------------------------------------------------------------------------


def nodes_text(kube: FakeKube, masters: list[str], replica_of: dict[str, str], failed: set[str] = frozenset()) -> str:
    ids = {f"redis-{i}": f"{i:040x}" for i in range(6)}
    slots = {m: r for m, r in zip(masters, ("0-5460", "5461-10922", "10923-16383"))}
    lines = []
    for pod, node_id in ids.items():
        ip = kube.ip("redis", pod)
        flag = "master" if pod in masters else "slave"
        flag += ",fail" if pod in failed else ""
        master = ids[replica_of[pod]] if pod in replica_of else "-"
        lines.append(f"{node_id} {ip}:6379@16379 {flag} {master} 0 0 1 connected {slots.get(pod, '')}".rstrip())
    return "\n".join(lines) + "\n"


def test_redis_reads_the_cluster_at_current_ips_and_names_pods(kube, monkeypatch):
    cluster = redis.RedisCluster(kube)
    cluster.members.deploy(600)
    cluster.pods = list(cluster.members.pods)
    # Pods 0,1,2 in zones a,b,c are masters; 3,4,5 (zones a,b,c) replicate the next zone's master.
    masters = ["redis-0", "redis-1", "redis-2"]
    replica_of = {"redis-3": "redis-2", "redis-4": "redis-0", "redis-5": "redis-1"}
    state = {"text": nodes_text(kube, masters, replica_of)}
    asked: list[str] = []

    def raw(address, *args, timeout_s=2.0):
        asked.append(address)
        if args[:2] == ("CLUSTER", "NODES"):
            return state["text"]
        if args[0] == "INFO":
            return "role:master\nslave0:ip=x,port=6379,state=online,offset=1,lag=0\n"
        raise AssertionError(args)

    monkeypatch.setattr(redis, "_raw", raw)
    ok, seen = cluster.steady()
    assert ok, seen["problems"]
    roles = {t.pod: t.role for t in cluster.targets()}
    assert roles == {**{m: "master" for m in masters}, **{r: "replica" for r in replica_of}}

    # redis-1 is killed: redis-5 took over its slots, redis-1 is back (new IP) as its replica.
    old, new = kube.kill("redis", "redis-1")
    state["text"] = nodes_text(kube, ["redis-0", "redis-5", "redis-2"],
                               {"redis-3": "redis-2", "redis-4": "redis-0", "redis-1": "redis-5"})
    asked.clear()
    roles = {t.pod: t.role for t in cluster.targets()}
    assert roles["redis-1"] == "replica" and roles["redis-5"] == "master"
    assert old + ":6379" not in asked
    assert cluster.pod_of.get(f"{old}:6379") == cluster.pod_of.get(f"{new}:6379") == "redis-1"
    # Zone b has lost its master (redis-5 is in zone c with redis-2): prepare() fails back, by zone,
    # on redis-1 (zone b, replica of the crowded zone's redis-5).
    failovers: list[str] = []

    def raw_failover(address, *args, timeout_s=2.0):
        if args[:2] == ("CLUSTER", "FAILOVER"):
            failovers.append(address)
            return "OK"
        return raw(address, *args, timeout_s=timeout_s)

    monkeypatch.setattr(redis, "_raw", raw_failover)
    ok, seen = cluster.steady(restore_topology=True)
    assert not ok and seen["problems"] == ["failing back to redis-1"]
    assert failovers == [f"{new}:6379"]


def test_redis_probe_client_reseeds_from_current_ips(kube):
    pytest.importorskip("redis")
    from redis.cluster import ClusterNode

    client = redis.RedisClient.__new__(redis.RedisClient)
    seeds = {"now": [("10.0.0.1", 6379), ("10.0.0.2", 6379)]}
    client.seeds_source = lambda: seeds["now"]
    client._seed_addrs = list(seeds["now"])
    client.seeds = [ClusterNode(h, p) for h, p in seeds["now"]]
    client.next_seed = 1
    seeds["now"] = [("10.0.0.1", 6379), ("10.0.0.7", 6379)]
    client._follow_seeds()
    assert [(n.host, n.port) for n in client.seeds] == seeds["now"]


def test_redis_config_is_the_manifests(kube):
    if not (STACK_FILE.parent / "redis").is_dir():
        pytest.skip("fixtures/kind/redis is missing")
    knobs = manifest_knobs("redis")
    assert knobs["cluster_node_timeout"] == "3000"
    cfg = redis.RedisCluster(kube).config()
    assert cfg["cluster_node_timeout_ms"] == 3000 and cfg["cluster_replica_validity_factor"] == 0
    assert "cluster_node_timeout_ms" in cfg["from_manifest"]


@pytest.mark.parametrize("cls", [zookeeper.ZooKeeperEnsemble, postgres.PostgresCluster, kafka.KafkaCluster,
                                 redis.RedisCluster, elasticsearch.ElasticsearchCluster])
def test_constructors_touch_no_local_platform_call(kube, cls):
    component = cls(kube)  # the stand-in raises on start_pod, path, log_path, remove_pod
    assert component.kube and component.pods == []
    component.remove()
    assert called(kube, "remove_stack") == [("remove_stack", component.name)]


@pytest.mark.parametrize("component", ["clickhouse", "minio"])
def test_a_kind_only_component_refuses_a_platform_without_manifests_naming_the_fix(component):
    from chaos.components import LOCAL_COMPONENTS, COMPONENTS, get_component
    from chaos.errors import InvalidConfig

    assert component in set(COMPONENTS) - set(LOCAL_COMPONENTS)

    class LocalLike:
        name = "local"

    with pytest.raises(InvalidConfig, match="kind only for now, not on local.*--chaos-platform kind") as err:
        get_component(component)(LocalLike())
    assert err.value.field == "platform"
