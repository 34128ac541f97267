"""Role discovery for Redis Cluster from CLUSTER NODES recorded from this harness's real
six-server cluster (tests/unit/recorded/redis_cluster_nodes.txt)."""

from pathlib import Path

import pytest

from chaos.components.redis import HASH_SLOTS, parse_cluster_nodes

RECORDED = (Path(__file__).parent / "recorded" / "redis_cluster_nodes.txt").read_text()


def test_three_masters_cover_every_slot_and_three_replicas_follow_them():
    nodes = parse_cluster_nodes(RECORDED)
    masters = [n for n in nodes if n["role"] == "master"]
    replicas = [n for n in nodes if n["role"] == "replica"]
    assert len(masters) == 3 and len(replicas) == 3
    assert sum(b - a + 1 for m in masters for a, b in m["slots"]) == HASH_SLOTS
    assert {r["master_id"] for r in replicas} == {m["id"] for m in masters}
    assert all(n["connected"] and not n["failed"] for n in nodes)
    assert sum(n["myself"] for n in nodes) == 1


def test_a_replica_never_runs_on_its_masters_port():
    nodes = parse_cluster_nodes(RECORDED)
    by_id = {n["id"]: n for n in nodes}
    for r in (n for n in nodes if n["role"] == "replica"):
        assert r["address"].endswith(":7001") and by_id[r["master_id"]]["address"].endswith(":7000")


def test_failed_flags_migrating_slots_and_garbage():
    line = ("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 10.0.0.1:7000@17000 master,fail - 0 0 1 disconnected "
            "0-5460 [5461->-0f3a6e]")
    (node,) = parse_cluster_nodes(line)
    assert node["failed"] and not node["connected"] and node["slots"] == [(0, 5460)]
    with pytest.raises(ValueError):
        parse_cluster_nodes("ERR This instance has cluster support disabled")
