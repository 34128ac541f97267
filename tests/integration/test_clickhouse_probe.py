"""The ClickHouse probe (chaos.components.clickhouse) against ClickHouse's SQL engine through a
stand-in of its HTTP interface (tests/servers/clickhouse.py).

Stand-in: no ClickHouse server recent enough runs here, so the HTTP layer is ours (query and
settings as URL parameters, the INSERT's data in the body, exception text with HTTP 500 and
X-ClickHouse-Exception-Code) while every statement runs in a real ClickHouse engine (chdb-core
26.9: MergeTree, insert_deduplication_token with non_replicated_deduplication_window, FORMAT
parsing, GROUP BY). Two stand-in "hosts" on two ports share one engine, as two replicas share
one table. Not exercised here (no Keeper): ReplicatedMergeTree, insert_quorum (accepted and
ignored on MergeTree), read-only replicas and leadership; those are unit-tested on recorded
system.replicas rows.

The component class itself runs: ClickHouseCluster on a fake manifest-deployed platform whose
endpoints are the two stand-in hosts creates the table, builds the probe and verifies.
"""

import time
from dataclasses import dataclass

import pytest

from chaos.checkers import write_loss
from chaos.components import clickhouse as ch
from chaos.probe import DefiniteFailure
from chaos.timeline import FAIL, INFO, OK, Timeline
from tests.servers.clickhouse import ChdbEngine, StandInServer, missing

pytestmark = [pytest.mark.integration, pytest.mark.skipif(bool(missing()), reason="; ".join(missing()) or "ok")]

EXPERIMENT = "clickhouse/stand-in@1"


@dataclass(frozen=True)
class Pod:
    name: str
    node: str
    zone: str


class TwoHosts:
    """A manifest-deployed platform as ClickHouseCluster sees it, over the stand-in hosts."""

    name = "kind"

    def __init__(self, servers):
        self.servers = servers

    def deploy_stack(self, component, timeout_s=600):
        return []

    def endpoints(self, component, port=None):
        return [(f"clickhouse-{i}", "127.0.0.1", s.port) for i, s in enumerate(self.servers)]

    def pods(self, component):
        return [Pod(f"clickhouse-{i}", f"n{i}", "ab"[i]) for i in range(len(self.servers))]


@pytest.fixture
def hosts():
    engine = ChdbEngine()
    servers = [StandInServer(engine, name=f"clickhouse-{i}").start() for i in range(2)]
    try:
        yield servers
    finally:
        for s in servers:
            s.stop()
        engine.close()


def _cluster(servers, workers=2):
    settings = ch.Settings(engine="MergeTree", replicas=2, insert_quorum_timeout_ms=2000)
    cluster = ch.ClickHouseCluster(TwoHosts(servers), settings=settings, probe_workers=workers)
    cluster._refresh()
    cluster.create_tables(10)
    return cluster


def _writes(tl, kinds, after=0.0):
    return [e for e in tl.events if e.op == "write" and e.kind in kinds and e.t >= after]


def test_probe_rotates_to_the_second_host_and_every_ack_verifies(hosts):
    first, second = hosts
    cluster = _cluster(hosts)
    tl = Timeline()
    probe = cluster.probe(tl, EXPERIMENT, interval_s=0.05).start()
    try:
        assert probe.wait_for(lambda: len(_writes(tl, (OK,))) >= 30, 10)
        served_before = {e.extra.get("server") for e in _writes(tl, (OK,))}
        first.stop()
        stopped_at = tl.now()
        assert probe.wait_for(lambda: len(_writes(tl, (OK,), after=stopped_at)) >= 40, 10)
    finally:
        probe.stop()
    after = _writes(tl, (OK,), after=stopped_at + 0.2)
    assert served_before == {"clickhouse-0", "clickhouse-1"}  # both workers' first hosts
    assert {e.extra.get("server") for e in after} == {"clickhouse-1"}
    # The worker that was on the stopped host was refused there and retried on the second one
    # within the same operation: no failure reached the timeline.
    assert any(e.extra.get("attempts") == 2 for e in _writes(tl, (OK,), after=stopped_at))
    assert _writes(tl, (FAIL, INFO)) == []

    present = cluster.verify(EXPERIMENT, timeout_s=10)
    loss = write_loss(tl.events, present)
    assert loss.verified and loss.acked_writes >= 70
    assert (loss.lost_writes, loss.duplicate_writes, loss.unexpected_writes) == (0, 0, 0), loss
    print(f"\nacked {loss.acked_writes}, rows {len(present)}, requests on the second host {second.requests}")


def test_a_retried_insert_with_the_same_token_is_not_duplicated(hosts):
    cluster = _cluster(hosts)
    client = ch.ClickHouseClient(cluster.endpoints, EXPERIMENT, cluster.settings, op_timeout_s=3.0)
    for _ in range(3):
        client.write(7)  # a client retrying an insert whose answer it did not see
    client.write(8)
    # The control: the same row inserted under two different tokens is two rows, and the
    # verification reports it twice (so a duplicate cannot go unseen). Without a token the
    # engine drops an identical block anyway (the table's deduplication window hashes it).
    for token in ("manual-1", "manual-2"):
        ch.query(hosts[1].endpoint, f"INSERT INTO {ch.TABLE} (experiment, id, host) FORMAT TabSeparated",
                 {"wait_end_of_query": "1", "insert_deduplication_token": token},
                 f"{EXPERIMENT}\t9\tmanual\n".encode())
    assert sorted(cluster.verify(EXPERIMENT, timeout_s=10)) == [7, 8, 9, 9]


def test_every_host_down_is_a_definite_failure(hosts):
    cluster = _cluster(hosts)
    client = ch.ClickHouseClient(cluster.endpoints, EXPERIMENT, cluster.settings, op_timeout_s=3.0)
    for s in hosts:
        s.stop()
    t0 = time.monotonic()
    with pytest.raises(DefiniteFailure, match="clickhouse-0: .*refused.*clickhouse-1: .*refused"):
        client.write(1)
    assert time.monotonic() - t0 < 1.0


def test_engine_errors_come_back_as_clickhouse_errors(hosts):
    endpoint = _cluster(hosts).endpoints[0][1]
    with pytest.raises(ch.ClickHouseError) as unknown:
        ch.query(endpoint, "SELECT * FROM chaos.nowhere")
    assert (unknown.value.status, unknown.value.code) == (404, 60)
    with pytest.raises(ch.ClickHouseError) as bad_setting:
        ch.query(endpoint, "SELECT 1", {"insert_quorum_typo": "2"})
    assert bad_setting.value.code == 115 and not ch.is_definite_code(159)
    # system.replicas has the columns the role discovery reads (empty: no replicated table).
    assert ch.parse_replicas(ch.query(endpoint, ch.REPLICAS_SQL)) == []
