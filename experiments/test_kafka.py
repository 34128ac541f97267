"""Kafka (KRaft) experiments: one per fault plus quorum loss, each asserting its SLO."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("kafka", chaos.kill(role="leader"), name="leader-kill", hold_s=30,
                     description="SIGKILL the broker leading the probe's partition; a replica in the ISR takes over"),
    chaos.experiment("kafka", chaos.kill(role="follower"), name="follower-kill", hold_s=10,
                     description="SIGKILL a follower of the probe's partition; min.insync.replicas 2 still holds"),
    chaos.experiment("kafka", chaos.drain(role="leader"), name="leader-node-drain", hold_s=20,
                     description="cordon the partition leader's node and stop its pods gracefully until uncordon"),
    chaos.experiment("kafka", chaos.partition(role="leader"), name="leader-zone-partition", hold_s=25,
                     description="cut the partition leader's zone off from the other zones; clients still reach it"),
    chaos.experiment("kafka", chaos.crash(role="leader"), name="leader-node-crash", hold_s=25,
                     description="kill every process on the partition leader's node hard and take its link down"),
    chaos.experiment("kafka", chaos.quorum_loss(role="leader"), name="quorum-loss", hold_s=15,
                     description=("hold the leader and one follower down (two of three brokers): with min.insync.replicas 2 "
                                  "writes must be refused, then the cluster recovers with nothing acknowledged lost")),
    chaos.experiment("kafka", chaos.partition(role="leader"), name="negative-leader-acks", hold_s=20,
                     description=("negative control: producers acknowledged by the leader alone (acks=1), "
                                  "min.insync.replicas 1, unclean leader election on; the leader's zone is cut off while "
                                  "clients still reach it, and the writes it acknowledged alone must be reported lost"),
                     deployment={"unsafe_acks": True, "name": "kafkaua", "port": 9192}, negative_control=True),
)

KAFKA = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_kafka_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("kafka")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", KAFKA, ids=lambda s: s.name)
def test_kafka(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
