"""Elasticsearch experiments: one per fault, each asserting its SLO from slo.yaml, on the local
platform or kind. Its negative control (a single master-eligible node: no failover) is in
tests/integration/test_negative_control.py with the others."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("elasticsearch", chaos.kill(role="master"), name="master-kill", hold_s=30,
                     description="SIGKILL the elected master's pod; the other master-eligible nodes elect a new one"),
    chaos.experiment("elasticsearch", chaos.kill(role="data"), name="data-node-kill", hold_s=20,
                     description="SIGKILL a node that is not the master; its shards' replicas are promoted"),
    chaos.experiment("elasticsearch", chaos.drain(role="master"), name="master-node-drain", hold_s=20,
                     description="cordon the elected master's node and evict its pods until uncordon"),
    chaos.experiment("elasticsearch", chaos.partition(role="master"), name="master-zone-partition", hold_s=25,
                     description="cut the elected master's zone off from the other zones; clients still reach it"),
    chaos.experiment("elasticsearch", chaos.crash(role="master"), name="master-node-crash", hold_s=25,
                     description="kill every process on the elected master's node hard and take its link down"),
    chaos.experiment("elasticsearch", chaos.drain(role="master"), name="negative-single-master-drain", hold_s=20,
                     description=("negative control: one master-eligible node (the other two hold data only); draining its "
                                  "node leaves no master to elect, so writes stop until uncordon: no failover, which the "
                                  "verdict must report"),
                     deployment={"masters": 1, "name": "esone"}, negative_control=True),
)

# In `make test`: the two kills (with the negative control, 8 min 16 s and two bring-ups on a busy
# machine, load 13 to 21). Left to `make run` and `make test-elasticsearch` (marker outside_make_test):
#   master-node-drain: the failover itself takes 3 to 7 s, but when the drained node rejoins (its JVM
#     restarting, its shard copy recovering) every probe write stalled for 6 s in one run on a busy
#     machine (load 21), after the heal: recovery 118 s against 20 s;
#   master-zone-partition, master-node-crash: a silent master fails over in about 17 s by design
#     (slo.yaml, 25 s), measured 19 to 26 s in two runs on a busy machine: not yet reliable.
IN_MAKE_TEST = ("master-kill", "data-node-kill")
ELASTICSEARCH = [s if s.name in IN_MAKE_TEST else pytest.param(s, marks=pytest.mark.outside_make_test)
                 for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_elasticsearch_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("elasticsearch")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", ELASTICSEARCH, ids=lambda s: s.name)
def test_elasticsearch(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
