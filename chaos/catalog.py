"""The catalog of experiments: which fault, on which role, held how long, per component.
Selectors (`postgres`, `postgres/primary-kill`, `kill`, `postgres/kill`) choose from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import InvalidConfig

__all__ = ["Scenario", "SCENARIOS", "select", "scenario", "on_platform"]


@dataclass(frozen=True)
class Scenario:
    component: str
    name: str
    fault: str
    role: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    # How long the fault stays (kills: the most to wait for failover). Failover must happen
    # within it (SLO recover_during_fault), so it is about twice the expected failover time.
    hold_s: float = 15.0
    deployment: dict[str, Any] = field(default_factory=dict)  # component variant (e.g. async)
    negative_control: bool = False  # expected to fail: proves the harness can see a failure
    recovery_timeout_s: float | None = None  # None: the run's default
    only_on: tuple[str, ...] = ()  # the platforms its deployment variant exists on (empty: all of its component's)
    # Written with chaos.api: SLO keys on top of the SLO file's, and a function run while the fault holds.
    slo: dict[str, Any] = field(default_factory=dict, compare=False)
    during: Any = field(default=None, compare=False)
    # A composite fault's parts (fault "together" or "sequence"): (fault, role or "pod:<name>", params) each.
    parts: tuple[tuple[str, str, dict[str, Any]], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.component}/{self.name}"

    @property
    def platforms(self) -> tuple[str, ...]:
        """Where its component can be deployed: kind always; the local platform only for the
        components it runs from Debian's packages and Maven (chaos.components.LOCAL_COMPONENTS)."""
        from .components import LOCAL_COMPONENTS

        platforms = ("local", "kind") if self.component in LOCAL_COMPONENTS else ("kind",)
        return tuple(p for p in platforms if not self.only_on or p in self.only_on)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("postgres", "primary-kill", "kill", "primary",
             "SIGKILL every process of the primary's pod; repmgrd promotes a standby", hold_s=30.0),
    Scenario("postgres", "standby-kill", "kill", "standby",
             "SIGKILL every process of one standby's pod; writes continue on the primary", hold_s=10.0),
    Scenario("postgres", "primary-node-drain", "drain", "primary",
             "cordon the primary's node and stop its pods gracefully until uncordon", hold_s=15.0),
    Scenario("postgres", "primary-zone-partition", "partition", "primary",
             "cut the primary's zone off from the other zones; clients still reach it", hold_s=25.0,
             params={"cut_clients": False}),
    Scenario("postgres", "primary-zone-isolation", "partition", "primary",
             "cut the primary's zone off from the other zones and from the clients", hold_s=25.0,
             params={"cut_clients": True}),
    Scenario("postgres", "primary-node-crash", "crash", "primary",
             "kill every process on the primary's node hard and take its link down", hold_s=25.0),
    Scenario("postgres", "negative-async-partition", "partition", "primary",
             "negative control: asynchronous replication, primary cut off from its standbys while "
             "clients still write to it; acknowledged writes must be reported lost", hold_s=20.0,
             params={"cut_clients": False}, deployment={"sync": False, "name": "pgasync", "port": 5433},
             negative_control=True),
    Scenario("postgres", "negative-unfenced-split-brain", "partition", "primary",
             "negative control: asynchronous replication and no fencing; the old primary keeps "
             "taking writes after a standby is promoted: split brain and lost writes must be reported",
             hold_s=20.0, params={"cut_clients": False},
             deployment={"sync": False, "fence": False, "name": "pgsplit", "port": 5434},
             negative_control=True, recovery_timeout_s=20.0),  # two primaries never converge
    Scenario("postgres", "negative-location-per-zone", "partition", "primary",
             "negative control: repmgr location set to each node's zone; cutting the primary's zone "
             "off cancels the election (no failover), which the verdict must report", hold_s=20.0,
             params={"cut_clients": False},
             deployment={"location_per_zone": True, "name": "pgzoned", "port": 5435},
             negative_control=True),
)


ZOOKEEPER = (
    Scenario("zookeeper", "leader-kill", "kill", "leader",
             "SIGKILL the leader's server; the followers elect a new leader", hold_s=30.0),
    Scenario("zookeeper", "follower-kill", "kill", "follower",
             "SIGKILL one follower's server; the quorum keeps serving", hold_s=10.0),
    Scenario("zookeeper", "leader-node-drain", "drain", "leader",
             "cordon the leader's node and stop its pods gracefully until uncordon", hold_s=15.0),
    Scenario("zookeeper", "leader-zone-partition", "partition", "leader",
             "cut the leader's zone off from the other zones; clients still reach it", hold_s=20.0,
             params={"cut_clients": False}),
    Scenario("zookeeper", "leader-node-crash", "crash", "leader",
             "kill every process on the leader's node hard and take its link down", hold_s=20.0),
    Scenario("zookeeper", "quorum-loss", "quorum-loss", "leader",
             "hold the leader and one follower down (two of three): writes must be refused, "
             "then the ensemble recovers with nothing acknowledged lost", hold_s=15.0),
    Scenario("zookeeper", "negative-two-servers", "partition", "leader",
             "negative control: an ensemble of two servers in two zones, so that losing either zone leaves "
             "no majority; cutting the leader's zone off stops all writes until the heal, which the verdict "
             "must report", hold_s=15.0, params={"cut_clients": False},
             deployment={"servers": 2, "name": "zk2", "client_port": 2191}, negative_control=True),
)
KAFKA = (
    Scenario("kafka", "leader-kill", "kill", "leader",
             "SIGKILL the broker leading the probe's partition; a replica in the ISR takes over", hold_s=30.0),
    Scenario("kafka", "follower-kill", "kill", "follower",
             "SIGKILL a follower of the probe's partition; min.insync.replicas 2 still holds", hold_s=10.0),
    Scenario("kafka", "leader-node-drain", "drain", "leader",
             "cordon the partition leader's node and stop its pods gracefully until uncordon", hold_s=20.0),
    Scenario("kafka", "leader-zone-partition", "partition", "leader",
             "cut the partition leader's zone off from the other zones; clients still reach it", hold_s=25.0,
             params={"cut_clients": False}),
    Scenario("kafka", "leader-node-crash", "crash", "leader",
             "kill every process on the partition leader's node hard and take its link down", hold_s=25.0),
    Scenario("kafka", "quorum-loss", "quorum-loss", "leader",
             "hold the leader and one follower down (two of three brokers): with min.insync.replicas 2 "
             "writes must be refused, then the cluster recovers with nothing acknowledged lost", hold_s=15.0),
    Scenario("kafka", "negative-leader-acks", "partition", "leader",
             "negative control: producers acknowledged by the leader alone (acks=1), min.insync.replicas 1, "
             "unclean leader election on; the leader's zone is cut off while clients still reach it, and the "
             "writes it acknowledged alone must be reported lost", hold_s=20.0, params={"cut_clients": False},
             deployment={"unsafe_acks": True, "name": "kafkaua", "port": 9192}, negative_control=True),
)
REDIS = (
    Scenario("redis", "master-kill", "kill", "master",
             "SIGKILL a master; its replica (in another zone) is promoted after cluster-node-timeout",
             hold_s=30.0),
    Scenario("redis", "replica-kill", "kill", "replica",
             "SIGKILL a replica; its master keeps serving (WAIT 1 cannot be confirmed meanwhile)", hold_s=10.0),
    Scenario("redis", "master-node-drain", "drain", "master",
             "cordon a master's node and stop its pods gracefully (a master and another's replica)",
             hold_s=20.0),
    Scenario("redis", "master-zone-partition", "partition", "master",
             "cut a master's zone off from the other zones; clients still reach it", hold_s=25.0,
             params={"cut_clients": False}),
    Scenario("redis", "master-node-crash", "crash", "master",
             "kill every process on a master's node hard and take its link down", hold_s=25.0),
    Scenario("redis", "negative-no-failover", "crash", "master",
             "negative control: replicas that never fail over (cluster-replica-no-failover); a master's "
             "node crashes and its slots stay down until the heal, which the verdict must report",
             hold_s=15.0, deployment={"no_failover": True, "name": "redisnf", "port": 7100},
             negative_control=True),
)
ELASTICSEARCH = (
    Scenario("elasticsearch", "master-kill", "kill", "master",
             "SIGKILL the elected master's pod; the other master-eligible nodes elect a new one", hold_s=30.0),
    Scenario("elasticsearch", "data-node-kill", "kill", "data",
             "SIGKILL a node that is not the master; its shards' replicas are promoted", hold_s=20.0),
    Scenario("elasticsearch", "master-node-drain", "drain", "master",
             "cordon the elected master's node and evict its pods until uncordon", hold_s=20.0),
    Scenario("elasticsearch", "master-zone-partition", "partition", "master",
             "cut the elected master's zone off from the other zones; clients still reach it", hold_s=25.0,
             params={"cut_clients": False}),
    Scenario("elasticsearch", "master-node-crash", "crash", "master",
             "kill every process on the elected master's node hard and take its link down", hold_s=25.0),
    Scenario("elasticsearch", "negative-single-master-drain", "drain", "master",
             "negative control: one master-eligible node (the other two hold data only); draining its node "
             "leaves no master to elect, so writes stop until uncordon: no failover, which the verdict must report",
             hold_s=20.0, deployment={"masters": 1, "name": "esone"}, negative_control=True),
)
CLICKHOUSE = (
    Scenario("clickhouse", "replica-kill", "kill", "replica",
             "SIGKILL one replica's pod; quorum inserts (2 of 3) continue on the others", hold_s=20.0),
    Scenario("clickhouse", "replica-node-drain", "drain", "replica",
             "cordon one replica's node and evict its pods until uncordon", hold_s=20.0),
    Scenario("clickhouse", "replica-zone-partition", "partition", "replica",
             "cut one replica's zone off from the other zones", hold_s=25.0, params={"cut_clients": False}),
    Scenario("clickhouse", "replica-node-crash", "crash", "replica",
             "stop one replica's node container hard", hold_s=25.0),
)
MINIO = (
    Scenario("minio", "server-kill", "kill", "server",
             "SIGKILL one of four MinIO servers; erasure coding keeps writes (3 of 4) and reads going",
             hold_s=20.0),
    Scenario("minio", "server-node-drain", "drain", "server",
             "cordon one server's node and evict its pods until uncordon", hold_s=20.0),
    Scenario("minio", "server-zone-partition", "partition", "server",
             "cut one server's zone off (two of four servers): writes must be refused, nothing acked lost",
             hold_s=20.0, params={"cut_clients": False}),
    Scenario("minio", "quorum-loss", "quorum-loss", "server",
             "hold three of four servers down: writes must be refused, then nothing acknowledged is lost",
             hold_s=15.0),
)
FLINK = (
    Scenario("flink", "jobmanager-kill", "kill", "leader",
             "SIGKILL the leading JobManager; the standby takes leadership and recovers the job from "
             "its latest checkpoint", hold_s=60.0),
    Scenario("flink", "taskmanager-kill", "kill", "taskmanager",
             "SIGKILL the TaskManager running the job; the job restarts from its latest checkpoint", hold_s=45.0),
    Scenario("flink", "jobmanager-node-drain", "drain", "leader",
             "cordon the leading JobManager's node and evict its pods until uncordon", hold_s=30.0),
    Scenario("flink", "jobmanager-node-crash", "crash", "leader",
             "kill everything on the leading JobManager's node hard and take the node down", hold_s=30.0),
    Scenario("flink", "jobmanager-zone-partition", "partition", "leader",
             "cut the leading JobManager's zone off from the other zones; the standby takes over and "
             "resumes the job from the last acknowledged checkpoint or a later one", hold_s=30.0,
             params={"cut_clients": False}),
    Scenario("flink", "negative-no-ha", "kill", "leader",
             "negative control: high availability off (one JobManager); SIGKILL it: it comes back "
             "without the job, which must be reported as no recovery and lost checkpoints", hold_s=20.0,
             deployment={"ha": False, "name": "flink-noha"}, negative_control=True, recovery_timeout_s=20.0,
             only_on=("local",)),
)
SCENARIOS = SCENARIOS + ZOOKEEPER + KAFKA + REDIS + ELASTICSEARCH + CLICKHOUSE + MINIO + FLINK


def on_platform(scenarios: Iterable[Scenario], platform: str) -> list[Scenario]:
    """The scenarios whose component can be deployed on the platform."""
    return [s for s in scenarios if platform in s.platforms]


def scenario(key: str) -> Scenario:
    for s in SCENARIOS:
        if s.key == key:
            return s
    raise InvalidConfig(f"unknown experiment {key!r}", field="selector",
                        fix="`chaos list` shows the experiments")


def _matches(s: Scenario, selector: str) -> bool:
    parts = selector.strip("/").split("/")
    if len(parts) == 1:
        (p,) = parts
        return p in (s.component, s.fault, s.name)
    comp, rest = parts[0], "/".join(parts[1:])
    return comp == s.component and rest in (s.name, s.fault)


def _no_match(selector: str) -> InvalidConfig:
    """The closest selector if one is close (a typo), else what a selector can be; never all of
    them: `chaos list` shows those."""
    from .slo import did_you_mean

    selectors = ({s.component for s in SCENARIOS} | {s.key for s in SCENARIOS} | {s.name for s in SCENARIOS}
                 | {s.fault for s in SCENARIOS} | {f"{s.component}/{s.fault}" for s in SCENARIOS})
    hint = did_you_mean(selector, sorted(selectors))
    if hint:
        return InvalidConfig(f"{selector!r} matches no experiment; {hint.rstrip()}", field="selector",
                             fix="`chaos list` with no selector shows every experiment")
    components = ", ".join(sorted({s.component for s in SCENARIOS}))
    faults = ", ".join(sorted({s.fault for s in SCENARIOS}))
    return InvalidConfig(f"{selector!r} matches no experiment", field="selector",
                         fix=f"name a component ({components}), a fault ({faults}) or an experiment; "
                             "`chaos list` with no selector shows every experiment")


def select(selectors: Iterable[str], *, include_negative: bool = False) -> list[Scenario]:
    """Scenarios matching any selector; an empty list of selectors means all. A selector that
    matches nothing is an error naming it. Negative controls run only when named exactly."""
    selectors = [s for s in selectors if s]
    if not selectors:
        return [s for s in SCENARIOS if include_negative or not s.negative_control]
    chosen: list[Scenario] = []
    for sel in selectors:
        hits = [s for s in SCENARIOS if _matches(s, sel)
                and (include_negative or not s.negative_control or sel in (s.key, s.name))]
        if not hits:
            raise _no_match(sel)
        chosen += [h for h in hits if h not in chosen]
    return chosen
