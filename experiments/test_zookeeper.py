"""ZooKeeper experiments: one per fault plus quorum loss, each asserting its SLO from slo.yaml."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("zookeeper", chaos.kill(role="leader"), name="leader-kill", hold_s=30,
                     description="SIGKILL the leader's server; the followers elect a new leader"),
    chaos.experiment("zookeeper", chaos.kill(role="follower"), name="follower-kill", hold_s=10,
                     description="SIGKILL one follower's server; the quorum keeps serving"),
    chaos.experiment("zookeeper", chaos.drain(role="leader"), name="leader-node-drain", hold_s=15,
                     description="cordon the leader's node and stop its pods gracefully until uncordon"),
    chaos.experiment("zookeeper", chaos.partition(role="leader"), name="leader-zone-partition", hold_s=20,
                     description="cut the leader's zone off from the other zones; clients still reach it"),
    chaos.experiment("zookeeper", chaos.crash(role="leader"), name="leader-node-crash", hold_s=20,
                     description="kill every process on the leader's node hard and take its link down"),
    chaos.experiment("zookeeper", chaos.quorum_loss(role="leader"), name="quorum-loss", hold_s=15,
                     description=("hold the leader and one follower down (two of three): writes must be refused, then the "
                                  "ensemble recovers with nothing acknowledged lost")),
    chaos.experiment("zookeeper", chaos.partition(role="leader"), name="negative-two-servers", hold_s=15,
                     description=("negative control: an ensemble of two servers in two zones, so that losing either zone "
                                  "leaves no majority; cutting the leader's zone off stops all writes until the heal, which "
                                  "the verdict must report"),
                     deployment={"servers": 2, "name": "zk2", "client_port": 2191}, negative_control=True),
)

ZOOKEEPER = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_zookeeper_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("zookeeper")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", ZOOKEEPER, ids=lambda s: s.name)
def test_zookeeper(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
