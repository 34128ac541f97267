"""The Elasticsearch component against a real 3-node Elasticsearch 8.19.0 cluster on 127.0.0.1
(tests/servers/elasticsearch.py): steadiness, roles, the deployed failover knobs, the probe
through a kill of the elected master, and the verification read.

Stand-in: the component deploys through a manifest-deployed platform (kind), which cannot run
here (no kind cluster starts on these machines; the kwok nodes of tests/kube run no containers).
`LoopbackStack` stands in for that platform's interface only: deploy_stack() hands over the
already started local nodes and endpoints() their 127.0.0.1 HTTP ports. The servers, the client
and every request are real; the kill is a SIGKILL of every process of the master's node.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.waits import poll_until

from tests.servers.elasticsearch import ES_USER, EsCluster, ensure_user, prerequisites

pytestmark = pytest.mark.integration

EXPERIMENT = "es-probe/master-kill"
SLO_UNAVAILABILITY_S = 15.0  # experiments/slo.yaml: writes back within 15 s


@dataclass(frozen=True)
class StandInPod:
    name: str
    node: str
    zone: str
    ip: str
    port: int


class LoopbackStack:
    """The manifest-deployed platform's interface (deploy_stack, endpoints, pods) over local
    nodes: one "pod" per Elasticsearch node, named like the node, zones a/b/c."""

    name = "loopback-stand-in"

    def __init__(self, cluster: EsCluster):
        self.cluster = cluster

    def pods(self, component: str) -> list[StandInPod]:
        assert component == "elasticsearch"
        return [StandInPod(n.name, f"node-{z}", z, "127.0.0.1", n.http_port)
                for n, z in zip(self.cluster.nodes, "abc")]

    def deploy_stack(self, component: str, timeout_s: float = 600) -> list[StandInPod]:
        return self.pods(component)

    def remove_stack(self, component: str) -> None:
        pass

    def endpoints(self, component: str, port: int | None = None) -> list[tuple[str, str, int]]:
        return [(p.name, p.ip, p.port) for p in self.pods(component)]


@pytest.fixture(scope="module")
def es_cluster():
    missing = prerequisites()
    if missing:
        pytest.skip("Elasticsearch tests need " + "; ".join(missing))
    if ensure_user() is None:
        pytest.skip(f"Elasticsearch refuses root and user {ES_USER} is missing "
                    f"(fix: useradd --system --no-create-home --shell /usr/sbin/nologin {ES_USER})")
    cluster = EsCluster(3)
    try:
        cluster.start(timeout_s=150)
        print(f"\n3-node cluster green in {cluster.timings['start_s']:.1f} s")
        yield cluster
    finally:
        cluster.stop()


def test_master_kill_elects_a_new_master_and_loses_no_acknowledged_write(es_cluster):
    from chaos.checkers import probe_stats, recovery_s, split_brain, unavailability_s, write_loss
    from chaos.components.elasticsearch import ElasticsearchCluster, EsClient
    from chaos.probe import DefiniteFailure
    from chaos.timeline import FAIL, INFO, NEMESIS, OK, Timeline, to_jsonl

    t_start = time.monotonic()
    comp = ElasticsearchCluster(LoopbackStack(es_cluster))
    seen = comp.deploy(timeout_s=60)
    assert seen["health"]["status"] == "green" and seen["health"]["number_of_nodes"] == 3, seen

    # Roles: one elected master, the two other nodes hold data.
    targets = comp.targets()
    roles = sorted(t.role for t in targets)
    assert roles == ["data", "data", "master"], targets
    master = next(t.pod for t in targets if t.role == "master")
    assert master == seen["master"]

    # The failover knobs the nodes actually run with.
    config = comp.config()
    assert sorted(config["deployed"]) == ["es-0", "es-1", "es-2"], config["deployed"]
    for knobs in config["deployed"].values():
        assert knobs["leader_check.timeout"] == "3s" and knobs["follower_check.retry_count"] == "2", knobs
    assert config["knobs_from"] == "nodes" and config["leader_check_timeout_s"] == 3.0, config

    timeline = Timeline()
    probe = comp.probe(timeline, EXPERIMENT, interval_s=0.05)
    probe.start()
    try:
        def acked_since(t0: float) -> int:
            return sum(1 for e in timeline.events if e.kind == OK and e.t >= t0)

        assert probe.wait_for(lambda: acked_since(0) >= 30, timeout_s=20), timeline.events[-5:]
        # Acknowledgements name the node holding the primary.
        primary_before = {e.node for e in timeline.events if e.kind == OK}
        assert len(primary_before) == 1 and None not in primary_before, primary_before

        injected = timeline.now()
        killed = es_cluster.node(master).kill()
        timeline.record(NEMESIS, "nemesis", "inject", t=injected, value=f"SIGKILL {master} pids {killed}")
        assert killed and not es_cluster.node(master).running(), killed

        # A new master among the survivors; writes come back and keep succeeding.
        survivors = [(n.name, n.url) for n in es_cluster.nodes if n.name != master]
        from chaos.components.elasticsearch import cluster_view, elected_master

        new_master: list[str | None] = [None]

        def elected() -> bool:
            new_master[0] = elected_master(cluster_view(survivors))
            return new_master[0] not in (None, master)

        assert poll_until(elected, timeout_s=30, poll_s=0.2), cluster_view(survivors)
        elected_at = timeline.now()
        assert probe.wait_for(lambda: acked_since(elected_at) >= 30, timeout_s=30), timeline.events[-5:]
        roles_after = {t.pod: t.role for t in comp.targets()}
        assert roles_after[new_master[0]] == "master", roles_after
        assert roles_after[master] != "master", roles_after
    finally:
        probe.stop()
    end = timeline.now()

    # A client that can only reach the dead node fails definitely: no connection was ever made.
    dead = EsClient([es_cluster.node(master).url], EXPERIMENT, "dead", comp.settings)
    try:
        with pytest.raises(DefiniteFailure):
            dead.write(10**9)
    finally:
        dead.close()

    present = comp.verify(EXPERIMENT)
    events = timeline.events
    if os.environ.get("CHAOS_ES_TIMELINE"):  # for a person studying a run
        Path(os.environ["CHAOS_ES_TIMELINE"]).write_text(to_jsonl(events))
    loss = write_loss(events, present)
    stats = probe_stats(events)
    unavailable = unavailability_s(events, injected, end)
    recovered = recovery_s(events, injected, end, settle_s=1.0)
    brain = split_brain(events)
    after = [e for e in events if e.t >= injected and e.kind in (OK, FAIL, INFO)]
    print(f"\nmaster {master} killed at {injected:.2f} s; new master {new_master[0]} seen at {elected_at:.2f} s "
          f"({elected_at - injected:.2f} s); unavailability {unavailable:.2f} s; recovery "
          f"{recovered if recovered is None else round(recovered, 2)} s; acked {loss.acked_writes}, "
          f"lost {loss.lost_writes}, indeterminate {loss.indeterminate_writes}; after the kill: "
          f"{sum(e.kind == OK for e in after)} ok, {sum(e.kind == FAIL for e in after)} fail, "
          f"{sum(e.kind == INFO for e in after)} info; primaries {sorted(brain.nodes)}; "
          f"ops {stats.ops}, interval {stats.probe_interval_s:.3f} s; test {time.monotonic() - t_start:.1f} s")

    assert present is not None, "the verification read failed"
    assert loss.acked_writes >= 60 and loss.verified, loss
    assert loss.lost_writes == 0, loss.lost_ids
    assert loss.duplicate_writes == 0 and loss.unexpected_writes == 0, loss
    assert not brain.detected, brain.overlaps
    assert recovered is not None, "writes did not keep succeeding after the kill"
    assert unavailable < SLO_UNAVAILABILITY_S, f"{unavailable:.2f} s without a successful write"
