"""The kind node faults for real (no mocks), against six containers standing in for kind nodes
(chaosnode-a1 .. chaosnode-c2, zones a/b/c, a TCP listener on each; see conftest.py):

- crash: the container is killed, proof says not running, its listener is unreachable from a
  neighbour; restore: running and reachable again, nothing left in the ledger;
- partition of zone b: b cut off from a and c both ways, a and c still talk, b1 and b2 still
  talk, exactly the rules added carry the run's comment; heal removes exactly those rules;
- heal_all (a platform's close) undoes a partition and a crash still applied;
- a run killed mid-fault (owner pid dead) is healed by chaos.ledger.heal_stale from a fresh
  process: rules gone, the stopped node started again;
- after the session's Docker daemon is stopped nothing of ours is left and the host's FORWARD
  policy is what it was before.

Every network check is bounded (1 s connect timeout) and runs between our containers only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chaos.ledger import UNDO_ACTIONS, owner_alive, pending_undos
from chaos.platforms.kind_nodes import KindNodes, rule_comment, rules_with_comment

from .conftest import REPO, SUBNET_PREFIX, host_snapshot, sh

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


def test_node_crash_and_restore(cluster, ledger):
    nodes = KindNodes(ledger, ledger.run_id, docker=cluster.docker)
    victim = "chaosnode-b1"
    assert cluster.reachable("chaosnode-a1", victim, CONNECT_TIMEOUT_S)

    proof = nodes.crash(victim)
    assert proof["running"] is False, proof
    assert proof["exit_code"] == 137, proof  # SIGKILL: a crash, not a shutdown
    assert proof["ips"] == [cluster.ips[victim]], proof
    assert nodes.state(victim)["running"] is False
    # The ledger names the crash before anything else can go wrong.
    pending = pending_undos(ledger.path)
    assert [(u.action, u.args["container"]) for u in pending] == [("kind-start-node", victim)]
    t0 = time.monotonic()
    assert not cluster.reachable("chaosnode-a1", victim, CONNECT_TIMEOUT_S)
    assert time.monotonic() - t0 < CONNECT_TIMEOUT_S + 10  # bounded
    assert nodes.leftovers()["stopped"] == [victim]

    restored = nodes.restore(victim, ready_timeout_s=30)
    assert restored["running"] is True and restored["ips"] == [cluster.ips[victim]], restored
    cluster.wait_ready([victim], timeout_s=READY_TIMEOUT_S)
    assert cluster.reachable("chaosnode-a1", victim, CONNECT_TIMEOUT_S)
    assert pending_undos(ledger.path) == []
    assert nodes.leftovers() == {"rules": {}, "stopped": [], "pending_undos": 0}


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


VICTIM = r"""
import sys, time
from pathlib import Path
from chaos.ledger import Ledger, new_run_id
from chaos.platforms.kind_nodes import KindNodes

state, zone, others, crash, docker = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4], sys.argv[5:]
run_id = new_run_id()
ledger = Ledger(run_id, state)
nodes = KindNodes(ledger, run_id, docker=docker)
proof = nodes.partition(zone, others)
crashed = nodes.crash(crash)
print("INJECTED", run_id, proof["rules_added"], proof["rules_present"], crashed["running"], flush=True)
time.sleep(600)
"""

HEALER = r"""
import json, sys
from pathlib import Path
import chaos.platforms.kind_nodes  # registers the kind undo actions, as `chaos heal` must
from chaos.ledger import heal_stale
print(json.dumps(heal_stale(Path(sys.argv[1]), log=lambda m: print(m, file=sys.stderr))))
"""


def test_heal_stale_undoes_a_killed_runs_partition_and_crash(cluster, tmp_path):
    state = tmp_path / "state"
    zone, others, crash = cluster.zone("c"), cluster.others("c"), "chaosnode-a2"
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, str(state), ",".join(zone), ",".join(others),
                               crash, *cluster.docker], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        line, seen = "", []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = victim.stdout.readline()
            seen.append(line)
            if line.startswith("INJECTED") or not line:
                break
        assert line.startswith("INJECTED"), f"victim did not inject: {''.join(seen)[-2000:]}"
        _, run_id, added, present, was_running = line.split()
        assert int(added) == int(present) > 0 and was_running == "False", line
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)

        # The killed run really left its fault behind: otherwise this would prove nothing.
        comment = rule_comment(run_id)
        assert not running(cluster, crash)
        # The crashed node's own rules went with its network namespace; the others' are there.
        assert sum(map(len, rules_with(cluster, comment).values())) == int(added) - 4 * len(zone)
        [path] = (state / "ledger").glob("*.jsonl")
        assert not owner_alive(path)
        assert sorted(u.action for u in pending_undos(path)) == ["kind-remove-rules", "kind-start-node"]

        heal = subprocess.run([sys.executable, "-c", HEALER, str(state)], cwd=REPO, capture_output=True,
                              text=True, timeout=180)
        assert heal.returncode == 0, heal.stdout + heal.stderr
        assert len(json.loads(heal.stdout)) == 2, heal.stdout

        assert rules_with(cluster, comment) == {}
        assert all(not rules_with_comment(cluster.docker, c, run_id) for c in cluster.nodes)
        assert running(cluster, crash)
        cluster.wait_ready([crash], timeout_s=READY_TIMEOUT_S)
        pairs = [(z, o) for z in zone for o in others[:2]] + [(crash, "chaosnode-a1")]
        assert all(reach_all(cluster, pairs).values())
        assert not list((state / "ledger").glob("*.jsonl"))

        again = subprocess.run([sys.executable, "-c", HEALER, str(state)], cwd=REPO, capture_output=True,
                               text=True, timeout=60)
        assert again.returncode == 0 and json.loads(again.stdout) == [], again.stdout + again.stderr
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        # Whatever happened above, leave the nodes whole for the other tests.
        from chaos.platforms.kind_nodes import remove_rules, start_node

        for path in (state / "ledger").glob("*.jsonl") if (state / "ledger").is_dir() else []:
            for u in pending_undos(path):
                if u.action == "kind-remove-rules":
                    remove_rules(cluster.docker, u.args["containers"], u.args["run_id"])
        start_node(cluster.docker, crash)


def test_kube_platform_drives_the_node_faults_of_its_nodes(cluster, control_plane, tmp_path):
    """KubePlatform's kind side, from the API down: the zone comes from the nodes' labels on the
    real control plane (kwok nodes kwok-a1 .. kwok-c2), the rules go into the node containers
    (the stand-ins chaosnode-a1 .. c2; on kind a node's container has the node's name), and
    close() heals what is still applied."""
    import yaml

    from chaos.platforms.kube import MARKER, KubePlatform, api_client, mark_cluster

    cfg = yaml.safe_load(open(control_plane.kubeconfig))
    cfg["contexts"] = [{"name": "kind-glue", "context": next(
        c["context"] for c in cfg["contexts"] if c["name"] == control_plane.context)}]
    cfg["current-context"] = "kind-glue"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(cfg))
    api, _, _ = api_client(str(kubeconfig), "kind-glue")
    mark_cluster(api, "glue")
    platform = KubePlatform(kubeconfig=str(kubeconfig), context="kind-glue", state_dir=tmp_path / "state",
                            docker=cluster.docker, node_container=lambda n: n.replace("kwok-", "chaosnode-"))
    try:
        platform.up()
        proof = platform.partition("b")
        assert proof["proven"] and proof["zone"] == "b", proof
        assert proof["zone_containers"] == ["chaosnode-b1", "chaosnode-b2"]
        assert sorted(proof["other_containers"]) == ["chaosnode-a1", "chaosnode-a2", "chaosnode-c1", "chaosnode-c2"]
        answers = reach_all(cluster, [("chaosnode-a1", "chaosnode-b1"), ("chaosnode-b2", "chaosnode-c1"),
                                      ("chaosnode-b1", "chaosnode-b2"), ("chaosnode-a1", "chaosnode-c2")])
        assert list(answers.values()) == [False, False, True, True], answers
        assert not platform.reachable("kwok-c1", cluster.ips["chaosnode-b2"], cluster.port, CONNECT_TIMEOUT_S)
        assert platform.heal_partition() == {"rules_left": 0}
        assert platform.reachable("kwok-c1", cluster.ips["chaosnode-b2"], cluster.port, CONNECT_TIMEOUT_S)

        proof = platform.crash_node("kwok-c2")
        assert proof["proven"] and not running(cluster, "chaosnode-c2"), proof
        platform.restore_node("kwok-c2")
        assert running(cluster, "chaosnode-c2")
        cluster.wait_ready(["chaosnode-c2"], timeout_s=READY_TIMEOUT_S)
        assert platform.pending_fault_undos() == []

        platform.partition("a")  # left applied on purpose: close() must heal it
        assert rules_with(cluster, rule_comment(platform.run_id))
    finally:
        platform.close()
        client_api = __import__("kubernetes").client.CoreV1Api(api)
        client_api.delete_namespaced_config_map(MARKER[1], MARKER[0])
        api.close()
    assert rules_with(cluster, rule_comment(platform.run_id)) == {}
    assert not list((tmp_path / "state" / "ledger").glob("*.jsonl"))


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
