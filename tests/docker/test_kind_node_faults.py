"""The kind node faults (chaos.platforms.kind_nodes) at the level of their rules and undo
records, against six containers standing in for kind nodes (chaosnode-a1 .. chaosnode-c2, zones
a/b/c, a TCP listener on each; see conftest.py). Node crash, zone partition, heal after a
SIGKILLed run and the kube platform driving them are tested on a real kind cluster
(tests/kind); what stays here is what that does not show:

- partition of zone b: exactly the rules added carry the run's comment, and heal removes exactly
  those, leaving rules of others in place;
- heal_all (a platform's close) undoes a partition and a crash still applied;
- the undo actions are idempotent and tolerate containers that no longer exist;
- after the session's Docker daemon is stopped nothing of ours is left and the host's FORWARD
  policy is what it was before.

Every network check is bounded (1 s connect timeout) and runs between our containers only.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from chaos.ledger import UNDO_ACTIONS, pending_undos
from chaos.platforms.kind_nodes import KindNodes, rule_comment

from .conftest import SUBNET_PREFIX, host_snapshot, sh

pytestmark = pytest.mark.integration

# Before any fixture of this module ran: what the last test compares the host against.
FORWARD_BEFORE = {k: v for k, v in host_snapshot().items() if k.endswith("FORWARD")} if os.geteuid() == 0 else {}
CONNECT_TIMEOUT_S = 1.0
READY_TIMEOUT_S = 20.0


@pytest.fixture
def cluster(standin_cluster):
    if standin_cluster.closed:
        pytest.fail("the stand-in cluster was already torn down (the teardown test must run last)")
    return standin_cluster


def reach_all(cluster, pairs):
    """Reachability of every (src, dst) pair, checked in parallel (each silence costs a timeout)."""
    with ThreadPoolExecutor(len(pairs)) as pool:
        answers = pool.map(lambda p: cluster.reachable(p[0], p[1], CONNECT_TIMEOUT_S), pairs)
        return dict(zip(pairs, answers))


def iptables_lines(cluster, container: str) -> list[str]:
    """`iptables -S` inside the container, read independently of the module under test."""
    out = []
    for binary in ("iptables", "ip6tables"):
        proc = sh(*cluster.docker, "exec", container, binary, "-w", "5", "-S")
        assert proc.returncode == 0 or binary == "ip6tables", proc.stderr
        out += proc.stdout.splitlines()
    return out


def running(cluster, container: str) -> bool:
    return sh(*cluster.docker, "inspect", "-f", "{{.State.Running}}", container).stdout.strip() == "true"


def rules_with(cluster, comment: str) -> dict[str, list[str]]:
    """Rules carrying the comment in each running node (a stopped one has no network namespace)."""
    found = {}
    for c in cluster.nodes:
        if not running(cluster, c):
            continue
        lines = [l for l in iptables_lines(cluster, c) if f"--comment {comment} " in l + " "
                 or f'--comment "{comment}"' in l]
        if lines:
            found[c] = lines
    return found


def test_zone_partition_and_heal(cluster, ledger):
    nodes = KindNodes(ledger, ledger.run_id, docker=cluster.docker)
    comment = rule_comment(ledger.run_id)
    zone, others = cluster.zone("b"), cluster.others("b")
    # Rules that are not this run's must survive the heal: another run's, and an unrelated one.
    foreign = [("INPUT", "-s", f"{SUBNET_PREFIX}.99", "chaos-someotherrun", "DROP"),
               ("OUTPUT", "-d", f"{SUBNET_PREFIX}.98", "not-chaos", "ACCEPT")]
    for chain, flag, ip, c, target in foreign:
        sh(*cluster.docker, "exec", "chaosnode-b1", "iptables", "-w", "5", "-A", chain, flag, ip,
           "-m", "comment", "--comment", c, "-j", target, check=True)
    try:
        # Pod CIDRs ride along, as a kind node routes its pods' traffic.
        extra = {"chaosnode-b1": ["10.244.2.0/24"], "chaosnode-a1": ["10.244.1.0/24"]}
        # An extra peer only the zone drops (a caller passes the network's gateway to cut the
        # zone off from the host's clients too); an unused address, so no traffic is affected.
        assert nodes.gateways("chaosnode-b1") == [f"{cluster.ips['chaosnode-b1'].rsplit('.', 1)[0]}.1"]
        proof = nodes.partition(zone, others, ledger.run_id, extra_cidrs=extra, extra_peers=[f"{SUBNET_PREFIX}.250"])
        # Each side drops the other side's addresses on INPUT, OUTPUT and FORWARD (src and dst).
        expected = sum(4 * (len(others) + 2) for _ in zone) + sum(4 * (len(zone) + 1) for _ in others)
        assert proof["rules_added"] == proof["rules_present"] == expected, proof
        assert proof["comment"] == comment
        listed = rules_with(cluster, comment)
        assert sorted(listed) == sorted(cluster.nodes)
        assert sum(map(len, listed.values())) == expected
        assert all(l.endswith("-j DROP") for ls in listed.values() for l in ls)
        assert any("10.244.1.0/24" in l for l in listed["chaosnode-b2"])
        assert any("10.244.2.0/24" in l for l in listed["chaosnode-c1"])
        assert [c for c, ls in listed.items() if any(f"{SUBNET_PREFIX}.250/32" in l for l in ls)] == zone
        assert [(u.action, u.args["run_id"], sorted(u.args["containers"])) for u in pending_undos(ledger.path)] \
            == [("kind-remove-rules", ledger.run_id, sorted(cluster.nodes))]

        cut = [("chaosnode-a1", "chaosnode-b1"), ("chaosnode-b1", "chaosnode-a1"),
               ("chaosnode-c2", "chaosnode-b2"), ("chaosnode-b2", "chaosnode-c1")]
        kept = [("chaosnode-a1", "chaosnode-c1"), ("chaosnode-b1", "chaosnode-b2"),
                ("chaosnode-b2", "chaosnode-b1"), ("chaosnode-c1", "chaosnode-a2"),
                ("chaosnode-a1", "chaosnode-a2")]
        during = reach_all(cluster, cut + kept)
        assert {p: during[p] for p in cut} == dict.fromkeys(cut, False), during
        assert {p: during[p] for p in kept} == dict.fromkeys(kept, True), during

        healed = nodes.heal_partition()
        assert healed == {"rules_left": 0}
        assert rules_with(cluster, comment) == {}
        assert nodes.leftovers(ledger.run_id, list(cluster.nodes)) == {"rules": {}, "stopped": [],
                                                                       "pending_undos": 0}
        assert nodes.heal_partition() == {"rules_left": 0}  # twice is safe
        b1 = iptables_lines(cluster, "chaosnode-b1")
        for chain, flag, ip, c, target in foreign:
            assert any(ip in l and c in l for l in b1), (c, b1)
        after = reach_all(cluster, cut + kept)
        assert all(after.values()), after
        assert pending_undos(ledger.path) == []
    finally:
        for chain, flag, ip, c, target in foreign:
            sh(*cluster.docker, "exec", "chaosnode-b1", "iptables", "-w", "5", "-D", chain, flag, ip,
               "-m", "comment", "--comment", c, "-j", target)


def test_heal_all_undoes_whatever_is_still_applied(cluster, ledger):
    """What a platform's close() calls: a partition and a crash left applied are both undone."""
    nodes = KindNodes(ledger, ledger.run_id, docker=cluster.docker)
    proof = nodes.partition(cluster.zone("a"), cluster.others("a"))
    assert proof["rules_present"] == proof["rules_added"] > 0
    assert nodes.crash("chaosnode-c2")["running"] is False
    assert len(pending_undos(ledger.path)) == 2

    result = nodes.heal_all(ready_timeout_s=30)
    assert result == {"rules_left": 0, "restored": ["chaosnode-c2"]}, result
    assert pending_undos(ledger.path) == []
    assert rules_with(cluster, rule_comment(ledger.run_id)) == {}
    assert nodes.leftovers() == {"rules": {}, "stopped": [], "pending_undos": 0}
    cluster.wait_ready(["chaosnode-c2"], timeout_s=READY_TIMEOUT_S)
    assert all(reach_all(cluster, [("chaosnode-a1", "chaosnode-b1"), ("chaosnode-c1", "chaosnode-a2"),
                                   ("chaosnode-b2", "chaosnode-c2")]).values())
    assert nodes.heal_all() == {"rules_left": 0, "restored": []}  # nothing left: a no-op


def test_undo_actions_are_idempotent_and_tolerate_missing_containers(cluster):
    UNDO_ACTIONS["kind-remove-rules"]({"containers": ["chaosnode-gone", "chaosnode-a1"],
                                       "run_id": "never-applied", "docker": cluster.docker})
    UNDO_ACTIONS["kind-start-node"]({"container": "chaosnode-gone", "docker": cluster.docker})
    UNDO_ACTIONS["kind-start-node"]({"container": "chaosnode-a1", "docker": cluster.docker})  # running: no-op
    assert running(cluster, "chaosnode-a1")


def test_teardown_leaves_nothing_and_restores_forward_policy(standin_cluster):
    """Runs last: tears the session's stand-ins and daemon down now (the session fixture's own
    teardown is then a no-op that checks again) and proves nothing is left."""
    left = standin_cluster.close()
    assert left == {}, left
    # Nothing needed restoring: our dockerd never touched the host's policies or sysctls.
    assert standin_cluster.restored == [], standin_cluster.restored
    now = host_snapshot()
    assert {k: now[k] for k in FORWARD_BEFORE} == FORWARD_BEFORE
    assert {k: now[k] for k in ("iptables FORWARD", "ip6tables FORWARD", "sysctl")} == \
        {k: standin_cluster.before[k] for k in ("iptables FORWARD", "ip6tables FORWARD", "sysctl")}
    if standin_cluster.daemon is not None:  # we started dockerd: it is gone with all its processes
        assert not standin_cluster.daemon.base.exists()
        assert sh("pgrep", "-f", str(standin_cluster.daemon.base)).stdout.strip() == ""
