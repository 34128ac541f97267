"""Kafka in KRaft mode: three nodes that are both brokers and controllers, one per zone, from
the Apache Kafka jars resolved through Maven (fixtures/kafka/pom.xml, pinned, cached), on Java
17; a topic with replication factor 3, min.insync.replicas 2 and unclean leader election off.

The probe: kafka-python producers with acks=all set explicitly and idempotence, each record's
key naming the experiment; the verification consumes the topic from the earliest offset and
matches every acknowledged record. Roles: leader of the probe's partition, follower (another
replica), and the active controller (the KRaft quorum's leader).

On a platform that deploys from manifests (kube, kind: `platform.deploy_stack`) the cluster is
fixtures/kind/kafka/ (pods kafka-0..2, broker port 9092), whose brokers must advertise their pod
IPs (the pods' DNS names do not resolve on the host). A replaced pod comes back with a new IP:
the bootstrap list is read from the platform whenever a client is made, the producers follow
the brokers' own metadata (each broker re-registers its new address), and node ids are mapped to
pods once, from the brokers' registrations (a pod keeps its node id).
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ..cache import cache_dir, maven_artifact_missing, maven_libs
from ..errors import InvalidConfig, MissingPrerequisite, NotSteady
from ..platforms.base import PodSpec
from ..predictions import LogMarkers, Prediction
from ..probe import DEFAULT_INTERVAL_S, DefiniteFailure, Probe
from ..timeline import Timeline
from .base import (STACK_DEPLOY_TIMEOUT_S, StackMembers, Steadiness, Target, chown_tree, missing_module,
                   on_manifest_platform, one_node_per_zone, settings_from_manifest, manifest_dir)
from ..waits import retry_until

__all__ = ["KafkaCluster", "KAFKA_VERSION", "ensure_kafka_jars", "prerequisites", "parse_partition_roles",
           "quorum_leader"]

KAFKA_VERSION = "4.4.0"  # keep in step with fixtures/kafka/pom.xml
POM = Path(__file__).resolve().parents[2] / "fixtures" / "kafka" / "pom.xml"
JAVA = os.environ.get("CHAOS_JAVA", "/usr/bin/java")
BROKER_PORT = 9092  # controllers listen on BROKER_PORT + 1
TOPIC = "chaos-probe"
RUN_AS = "nobody"


def libs_dir() -> Path:
    return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def prerequisites() -> list[str]:
    return (maven_artifact_missing(JAVA, f"Kafka {KAFKA_VERSION} jars", libs_dir() / ".complete")
            + missing_module("kafka", "kafka-python"))


def ensure_kafka_jars(log: Callable[[str], None] = lambda m: None) -> Path:
    """The broker's jars, resolved through Maven once and cached; later calls download nothing."""
    return maven_libs(libs_dir(), POM, f"Kafka {KAFKA_VERSION} jars", log)


def parse_partition_roles(topics: list[dict[str, Any]], topic: str, partition: int = 0) -> dict[str, Any]:
    """From kafka-python's describe_topics() answer: the partition's leader, replicas and ISR
    (node ids). A topic or partition answered with an error code raises ValueError."""
    for t in topics:
        if t.get("name") != topic:
            continue
        if t.get("error_code"):
            raise ValueError(f"topic {topic}: error code {t['error_code']}")
        for p in t.get("partitions", []):
            if p.get("partition_index") == partition:
                if p.get("error_code"):
                    raise ValueError(f"{topic}-{partition}: error code {p['error_code']}")
                return {"leader": p.get("leader_id"), "replicas": list(p.get("replica_nodes", [])),
                        "isr": list(p.get("isr_nodes", []))}
    raise ValueError(f"no partition {partition} of {topic} in the answer")


def quorum_leader(quorum: dict[str, Any]) -> int | None:
    """The active controller: the leader of the KRaft metadata quorum, from kafka-python's
    describe_metadata_quorum() answer."""
    for t in quorum.get("topics", []):
        if t.get("topic_name") == "__cluster_metadata":
            for p in t.get("partitions", []):
                if p.get("partition_index") == 0 and not p.get("error"):
                    leader = p.get("leader_id")
                    return leader if leader is not None and leader >= 0 else None
    return None


def lagging_voters(quorum: dict[str, Any], max_lag_ms: int = 2000) -> list[int] | None:
    """Controllers whose copy of the KRaft metadata log is behind, from the quorum leader's
    describe_metadata_quorum() answer: a voter is lagging when it last caught up with the
    leader more than max_lag_ms before the newest fetch the leader saw. None when the answer
    carries no quorum (an error, or no leader).

    A broker that was cut off keeps serving its last metadata after the heal until its log
    catches up: it still names itself leader of partitions it lost, with the ISR it had, and a
    consumer that asks it reads a truncated log. Steadiness waits for this list to be empty."""
    for t in quorum.get("topics", []):
        if t.get("topic_name") != "__cluster_metadata":
            continue
        for p in t.get("partitions", []):
            if p.get("partition_index") != 0 or p.get("error") or p.get("leader_id") is None or p["leader_id"] < 0:
                return None
            voters = p.get("current_voters") or []
            if not voters:
                return None
            ref = max(v.get("last_fetch_timestamp") or -1 for v in voters)
            return sorted(v["replica_id"] for v in voters
                          if (v.get("last_caught_up_timestamp") or -1) < 0
                          or ref - v["last_caught_up_timestamp"] > max_lag_ms)
    return None


# Settings fields the kind manifests may set: server.properties keys, or the apache/kafka
# image's KAFKA_* environment (KAFKA_BROKER_SESSION_TIMEOUT_MS -> broker.session.timeout.ms).
MANIFEST_NAMES = {
    "broker_session_timeout_ms": ("broker.session.timeout.ms", "KAFKA_BROKER_SESSION_TIMEOUT_MS"),
    "broker_heartbeat_interval_ms": ("broker.heartbeat.interval.ms", "KAFKA_BROKER_HEARTBEAT_INTERVAL_MS"),
    "replica_lag_time_max_ms": ("replica.lag.time.max.ms", "KAFKA_REPLICA_LAG_TIME_MAX_MS"),
    "min_insync_replicas": ("min.insync.replicas", "KAFKA_MIN_INSYNC_REPLICAS"),
    "replication_factor": ("default.replication.factor", "KAFKA_DEFAULT_REPLICATION_FACTOR"),
    "unclean_leader_election": ("unclean.leader.election.enable", "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"),
    "heap_mb": ("Xmx",),  # from KAFKA_HEAP_OPTS, see _heap_from_manifest
}


@dataclass(frozen=True)
class Settings:
    broker_session_timeout_ms: int = 4000
    broker_heartbeat_interval_ms: int = 1000
    replica_lag_time_max_ms: int = 10000
    min_insync_replicas: int = 2
    replication_factor: int = 3
    unclean_leader_election: bool = False
    request_timeout_ms: int = 5000
    # The producer's acknowledgement: "all" (the ISR, at least min_insync_replicas). The
    # negative control's "1" is the leader's own log only: unsafe.
    producer_acks: str = "all"
    heap_mb: int = 384

    # The predicted failover per fault class (chaos.predictions), from the knobs above:
    #   kill      broker_session_timeout_ms (the controller fences the dead leader when its
    #             session times out) + ELECT_S (a new leader from the ISR, and the producer's
    #             metadata refresh);
    #   silent    the same, plus request_timeout_ms: the producer's request in flight to the silent
    #             leader times out before it refreshes its metadata;
    #   graceful  a controlled shutdown: the controller learns of it at the next heartbeat
    #             (broker_heartbeat_interval_ms) and moves the leadership before the broker stops.
    def predict(self, fault_class: str) -> Prediction:
        if fault_class == "graceful":
            return Prediction(fault_class, self.broker_heartbeat_interval_ms / 1000 + ELECT_S,
                              "broker_heartbeat_interval_ms / 1000 + 1 s (leadership moved, metadata refresh)",
                              {"broker_heartbeat_interval_ms": self.broker_heartbeat_interval_ms})
        inputs: dict[str, Any] = {"broker_session_timeout_ms": self.broker_session_timeout_ms}
        value = self.broker_session_timeout_ms / 1000 + ELECT_S
        formula = "broker_session_timeout_ms / 1000 + 1 s (election from the ISR, metadata refresh)"
        if fault_class == "silent":
            inputs["request_timeout_ms"] = self.request_timeout_ms
            return Prediction(fault_class, value + self.request_timeout_ms / 1000, formula + " + request_timeout_ms / 1000",
                              inputs)
        return Prediction(fault_class, value, formula, inputs)


ELECT_S = 1.0
# When the controller fenced the lost broker (its leaderships move in the same step), and when a
# new leader took over (a KRaft quorum election, if the lost broker was the active controller).
FAILOVER_LOG = LogMarkers(detected=(r"Fencing broker \d+ at epoch", r"inControlledShutdown=1",
                                    r"Completed transition to (Prospective|Candidate)State"),
                          elected=(r"Fencing broker \d+ at epoch", r"inControlledShutdown=1",
                                   r"Completed transition to Leader"))


class KafkaClient:
    """One probe worker: an idempotent producer with acks=all."""

    def __init__(self, bootstrap: list[str], experiment: str, settings: Settings, op_timeout_s: float,
                 names: dict[int, str]):
        from kafka import KafkaProducer

        self.experiment = experiment
        self.op_timeout_s = op_timeout_s
        self.names = names
        acks_all = settings.producer_acks == "all"
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all" if acks_all else int(settings.producer_acks),
            enable_idempotence=acks_all,  # idempotence needs acks=all
            request_timeout_ms=settings.request_timeout_ms, max_block_ms=int(op_timeout_s * 1000),
            linger_ms=0, retries=2**31 - 1, delivery_timeout_ms=120000, reconnect_backoff_ms=100,
            reconnect_backoff_max_ms=500, metadata_max_age_ms=5000)

    def write(self, value: int) -> str | None:
        from kafka.errors import KafkaTimeoutError

        try:
            future = self.producer.send(TOPIC, key=self.experiment.encode(), value=str(value).encode(),
                                        partition=0)
        except KafkaTimeoutError as exc:  # metadata unavailable: the record was never queued
            raise DefiniteFailure(str(exc)) from exc
        # Queued: from here on the producer may still deliver it after a timeout (indeterminate).
        future.get(timeout=self.op_timeout_s)
        leader = self.producer._metadata.leader_for_partition(_tp())
        return self.names.get(leader, str(leader)) if leader is not None and leader >= 0 else None

    def abort(self) -> None:
        """Nothing to cut: write() waits at most op_timeout_s itself."""

    def close(self) -> None:
        try:
            self.producer.close(timeout=2)
        except Exception:
            pass


def _tp():
    from kafka import TopicPartition

    return TopicPartition(TOPIC, 0)


def new_cluster_id() -> str:
    """A random cluster id as Kafka makes one (Uuid.randomUuid: base64url of 16 random bytes),
    and like Kafka never one that starts with "-": the storage tool would read it as an option
    (found: one deploy in about 64 failed, every broker refusing to format)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaCluster(Steadiness):
    """Three KRaft nodes (broker + controller), one per zone: started by the harness on the local
    platform, or the manifests' StatefulSet on a platform with deploy_stack."""

    name = "kafka"
    target_roles = ("leader", "follower", "controller")  # what targets() calls its pods
    leader_roles = ("leader",)
    failover_log = FAILOVER_LOG
    steady_poll_s = 0.5

    def __init__(self, platform, *, name: str = "kafka", settings: Settings | None = None, probe_workers: int = 3,
                 unsafe_acks: bool = False, port: int = BROKER_PORT):
        """`unsafe_acks` and `port` make the negative control's variant: producers acknowledged
        by the leader alone (acks=1), min.insync.replicas 1 and unclean leader election on, on
        ports of its own (brokers `port`, controllers `port`+1)."""
        self.platform = platform
        self.deployment = name
        self.settings = settings or Settings()
        if unsafe_acks:
            self.settings = replace(self.settings, producer_acks="1", min_insync_replicas=1,
                                    unclean_leader_election=True)
        self.ports = (port, port + 1)
        self.probe_workers = probe_workers
        self.kube = on_manifest_platform(platform)
        if self.kube:
            self.members = StackMembers(platform, self.name, BROKER_PORT)
            names = {k: v for k, v in MANIFEST_NAMES.items() if k != "heap_mb"}
            self.settings, self.from_manifest = settings_from_manifest(self.settings, self.name, names)
            heap = _heap_from_manifest(self.name)
            if heap is not None:
                self.settings = replace(self.settings, heap_mb=heap)
                self.from_manifest = sorted([*self.from_manifest, "heap_mb"])
            self.nodes, self.pods, self.hosts = [], [], []
            self.ids: dict[int, str] = {}  # node.id -> pod, learnt from the brokers' registrations
            return
        self.nodes = one_node_per_zone(platform, "Kafka")
        self.pods = [f"{name}-{i}" for i in range(3)]
        self.hosts = [n.ip for n in self.nodes]
        self.bootstrap = [f"{ip}:{self.ports[0]}" for ip in self.hosts]
        self.ids = {i + 1: pod for i, pod in enumerate(self.pods)}  # node.id -> pod

    @property
    def bootstrap(self) -> list[str]:
        """Broker addresses: fixed on the local platform; the current pod IPs on kube."""
        if self.kube:
            return [f"{ip}:{BROKER_PORT}" for ip in self.members.ips()]
        return self._bootstrap

    @bootstrap.setter
    def bootstrap(self, value: list[str]) -> None:
        self._bootstrap = value

    def _learn_ids(self) -> None:
        """node.id -> pod from the registered brokers' hosts (a pod IP, or the pod's DNS name)."""
        admin = self._admin()
        try:
            brokers = admin.describe_cluster()["brokers"]
        finally:
            admin.close()
        for b in brokers:
            host = str(b.get("host", ""))
            pod = self.members.pod_of(host) or (host.split(".")[0] if host.split(".")[0] in self.pods else None)
            if pod is not None:  # DescribeCluster names it broker_id (Metadata's node_id: older brokers)
                self.ids[int(b["broker_id"] if "broker_id" in b else b["node_id"])] = pod
        if set(self.ids.values()) != set(self.pods):
            hosts = sorted(str(b.get("host")) for b in brokers)
            raise NotSteady(f"{self.deployment}: brokers registered as {hosts}, which name not every pod of "
                            f"{self.pods} (fix: the manifests advertise PLAINTEXT://$(POD_IP):9092; a client on "
                            "the host cannot resolve the pods' DNS names)", ["broker addresses"])

    def deploy(self, timeout_s: float = 180.0) -> dict[str, Any]:
        if self.kube:
            self.members.deploy(max(timeout_s, STACK_DEPLOY_TIMEOUT_S))
            self.pods = list(self.members.pods)
            self._wait_brokers(timeout_s)
            self._learn_ids()
            self._create_topic()
            return self.wait_steady(timeout_s)
        missing = prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="kafka")
        libs = ensure_kafka_jars()
        s = self.settings
        cluster_id = new_cluster_id()
        broker_port, controller_port = self.ports
        voters = ",".join(f"{i + 1}@{ip}:{controller_port}" for i, ip in enumerate(self.hosts))
        for i, (pod, node) in enumerate(zip(self.pods, self.nodes)):
            pod_dir = self.platform.path(self.deployment, pod)
            data = pod_dir / "data"
            data.mkdir(exist_ok=True)
            (pod_dir / "server.properties").write_text("\n".join([
                "process.roles=broker,controller", f"node.id={i + 1}", f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://{node.ip}:{broker_port},CONTROLLER://{node.ip}:{controller_port}",
                f"advertised.listeners=PLAINTEXT://{node.ip}:{broker_port}",
                "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={data}", "num.partitions=1", f"default.replication.factor={s.replication_factor}",
                f"min.insync.replicas={s.min_insync_replicas}",
                f"unclean.leader.election.enable={str(s.unclean_leader_election).lower()}",
                "offsets.topic.replication.factor=3", "transaction.state.log.replication.factor=3",
                "transaction.state.log.min.isr=2", "group.initial.rebalance.delay.ms=0",
                f"broker.session.timeout.ms={s.broker_session_timeout_ms}",
                f"broker.heartbeat.interval.ms={s.broker_heartbeat_interval_ms}",
                f"replica.lag.time.max.ms={s.replica_lag_time_max_ms}",
                "auto.create.topics.enable=false", ""]))
            (pod_dir / "log4j2.properties").write_text(
                "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=out\nappender.out.type=Console\n"
                "appender.out.name=out\nappender.out.layout.type=PatternLayout\n"
                "appender.out.layout.pattern=%d{yyyy-MM-dd HH:mm:ss.SSS} %-5p [%c{1}] %m%n\n"
                "logger.ctl.name=org.apache.kafka.controller\nlogger.ctl.level=INFO\n"
                "logger.raft.name=org.apache.kafka.raft\nlogger.raft.level=INFO\n")
            chown_tree(pod_dir, RUN_AS)
            java = (f"{JAVA} -Xmx{s.heap_mb}m -Xms{s.heap_mb}m -XX:+UseSerialGC "
                    f"-Dlog4j2.configurationFile={pod_dir}/log4j2.properties -cp '{libs}/*'")
            # Format the storage the first time (a formatted log directory has meta.properties; the
            # format tool's own JVM added seconds to every restart), then exec the broker as the
            # pod's PID 1.
            script = (f"{{ [ -f {data}/meta.properties ] || {java} kafka.tools.StorageTool format -t {cluster_id} "
                      f"-c {pod_dir}/server.properties --ignore-formatted >/dev/null; }} "
                      f"&& exec {java} kafka.Kafka {pod_dir}/server.properties")
            self.platform.start_pod(PodSpec(name=pod, component=self.name, node=node.name, user=RUN_AS,
                                            argv=("/bin/sh", "-c", script), env={"HOME": str(pod_dir)},
                                            port=broker_port, termination_grace_s=15.0))
        self._wait_brokers(timeout_s)
        self._create_topic()
        return self.wait_steady(timeout_s)

    def _admin(self, timeout_ms: int = 3000):
        from kafka.admin import KafkaAdminClient

        return KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=timeout_ms,
                                reconnect_backoff_ms=100, reconnect_backoff_max_ms=500)

    def _wait_brokers(self, timeout_s: float) -> None:
        def three_brokers() -> None:
            admin = self._admin()
            try:
                brokers = admin.describe_cluster()["brokers"]
            finally:
                admin.close()
            if len(brokers) != 3:
                raise RuntimeError(f"{len(brokers)} brokers registered")

        try:
            retry_until(three_brokers, timeout_s)
        except TimeoutError as exc:
            raise NotSteady(f"{self.deployment}: three brokers not up: {exc}; {self.logs_hint()}",
                            ["brokers not up"]) from exc

    def _create_topic(self, timeout_s: float = 60.0) -> None:
        """Create the probe's topic; the answer carries per-topic error codes rather than raising,
        and brokers that just registered may refuse it for a moment: retry until it exists."""
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        topic = NewTopic(TOPIC, num_partitions=1, replication_factor=self.settings.replication_factor,
                         topic_configs={"min.insync.replicas": str(self.settings.min_insync_replicas),
                                        "unclean.leader.election.enable":
                                            str(self.settings.unclean_leader_election).lower()})

        def create() -> None:
            admin = self._admin(10000)
            try:
                answer = admin.create_topics([topic])
            except TopicAlreadyExistsError:
                return
            finally:
                admin.close()
            codes = [t.get("error_code") for t in answer.get("topics", [])] if isinstance(answer, dict) else [0]
            if not all(code in (0, 36) for code in codes):  # 36: TOPIC_ALREADY_EXISTS
                raise RuntimeError(str(answer)[:300])

        try:
            retry_until(create, timeout_s, poll_s=1.0)
        except TimeoutError as exc:
            raise NotSteady(f"{self.deployment}: could not create topic {TOPIC}: {exc}", ["no topic"]) from exc

    def remove(self) -> None:
        if self.kube:
            # Always removed (PVCs too), like the local pods: the next component gets the nodes,
            # and the next deploy formats fresh volumes.
            self.members.stop()
            self.platform.remove_stack(self.name)
            return
        for pod in self.pods:
            self.platform.remove_pod(pod)

    def roles(self) -> dict[str, Any]:
        admin = self._admin()
        try:
            part = parse_partition_roles(admin.describe_topics([TOPIC]), TOPIC)
            try:
                quorum = admin.describe_metadata_quorum()
                controller, lagging = quorum_leader(quorum), lagging_voters(quorum)
            except Exception:
                controller, lagging = None, None
        finally:
            admin.close()
        return {**part, "controller": controller, "lagging_controllers": lagging}

    def targets(self) -> list[Target]:
        try:
            r = self.roles()
        except Exception:
            r = {"leader": None, "replicas": [], "isr": [], "controller": None}
        out = []
        if self.kube:
            where = self.members.placement()
            for node_id, pod in sorted(self.ids.items()):
                node, zone = where.get(pod, ("", ""))
                role = "leader" if node_id == r["leader"] else ("follower" if node_id in r["replicas"] else "unknown")
                out.append(Target(pod=pod, node=node, zone=zone, role=role))
                if node_id == r.get("controller"):
                    out.append(Target(pod=pod, node=node, zone=zone, role="controller"))
            return out
        for node_id, (pod, node) in zip(self.ids, zip(self.pods, self.nodes)):
            role = "leader" if node_id == r["leader"] else ("follower" if node_id in r["replicas"] else "unknown")
            out.append(Target(pod=pod, node=node.name, zone=node.zone, role=role))
            if node_id == r.get("controller"):
                out.append(Target(pod=pod, node=node.name, zone=node.zone, role="controller"))
        return out

    def steady(self) -> tuple[bool, dict[str, Any]]:
        try:
            r = self.roles()
        except Exception as exc:
            return False, {"problems": [f"metadata unavailable: {str(exc)[:120]}"]}
        problems = []
        if r["leader"] is None or r["leader"] < 0:
            problems.append("partition has no leader")
        all_ids = sorted(self.ids) if self.kube else [1, 2, 3]
        if sorted(r["isr"]) != all_ids:
            problems.append(f"ISR {sorted(r['isr'])} is not all three replicas")
        # The partition's view above may come from a broker that has not caught up yet (it then
        # reports the leader and ISR it had before the fault): require every controller's copy
        # of the metadata log to be current, as the quorum leader sees it.
        if r["lagging_controllers"] is None:
            problems.append("metadata quorum unavailable")
        elif r["lagging_controllers"]:
            problems.append(f"metadata log behind on node(s) {r['lagging_controllers']}")
        return not problems, {"roles": r, "problems": problems}

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        op_timeout_s = 1.0
        bootstrap = self.bootstrap  # read once (on kube: the current IPs)
        clients = [KafkaClient(bootstrap[i:] + bootstrap[:i], experiment, self.settings, op_timeout_s,
                               self.ids) for i in range(self.probe_workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=op_timeout_s + 0.5)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        from kafka import KafkaConsumer

        def read_all() -> list[int]:
            consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                     auto_offset_reset="earliest", consumer_timeout_ms=3000,
                                     isolation_level="read_committed")
            try:
                tp = _tp()
                consumer.assign([tp])
                consumer.seek_to_beginning(tp)
                end = consumer.end_offsets([tp])[tp]
                values: list[int] = []
                key = experiment.encode()
                deadline = time.monotonic() + timeout_s
                while consumer.position(tp) < end:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"read {consumer.position(tp)} of {end} records")
                    for records in consumer.poll(timeout_ms=1000).values():
                        values += [int(r.value) for r in records if r.key == key]
                return values
            finally:
                consumer.close()

        try:
            return retry_until(read_all, timeout_s)
        except TimeoutError:
            return None

    def config(self) -> dict[str, Any]:
        out = {**asdict(self.settings), "kafka_version": KAFKA_VERSION, "brokers": 3, "topic": TOPIC,
               "probe_workers": self.probe_workers,
               "producer": {"acks": self.settings.producer_acks,
                            "enable_idempotence": self.settings.producer_acks == "all"}}
        if self.kube:
            out.update(kafka_version=_image_version(self.name), manifests=str(manifest_dir(self.name)),
                       from_manifest=self.from_manifest, pods=list(self.pods),
                       node_ids={str(k): v for k, v in sorted(self.ids.items())})
        return out


def _heap_from_manifest(component: str) -> int | None:
    """-Xmx of KAFKA_HEAP_OPTS in the manifests, in MB."""
    import re

    from .base import knob, manifest_knobs

    opts = knob(manifest_knobs(component), "KAFKA_HEAP_OPTS") or ""
    m = re.search(r"-Xmx(\d+)([mMgG])", opts)
    if not m:
        return None
    return int(m.group(1)) * (1024 if m.group(2) in "gG" else 1)


def _image_version(component: str) -> str:
    """The server version on kind: the tag of the stack's pinned image (apache/kafka:4.1.0)."""
    from ..platforms.stack import load_stack

    try:
        images = load_stack(check_dirs=False).images
    except (OSError, InvalidConfig):
        return "unknown"
    return str(images.get(component, "")).rpartition(":")[2] or "unknown"
