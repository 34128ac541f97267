"""Redis Cluster experiments: one per fault, each asserting its SLO from slo.yaml."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("redis", chaos.kill(role="master"), name="master-kill", hold_s=30,
                     description="SIGKILL a master; its replica (in another zone) is promoted after cluster-node-timeout"),
    chaos.experiment("redis", chaos.kill(role="replica"), name="replica-kill", hold_s=10,
                     description="SIGKILL a replica; its master keeps serving (WAIT 1 cannot be confirmed meanwhile)"),
    chaos.experiment("redis", chaos.drain(role="master"), name="master-node-drain", hold_s=20,
                     description="cordon a master's node and stop its pods gracefully (a master and another's replica)"),
    chaos.experiment("redis", chaos.partition(role="master"), name="master-zone-partition", hold_s=25,
                     description="cut a master's zone off from the other zones; clients still reach it"),
    chaos.experiment("redis", chaos.crash(role="master"), name="master-node-crash", hold_s=25,
                     description="kill every process on a master's node hard and take its link down"),
    chaos.experiment("redis", chaos.crash(role="master"), name="negative-no-failover", hold_s=15,
                     description=("negative control: replicas that never fail over (cluster-replica-no-failover); a "
                                  "master's node crashes and its slots stay down until the heal, which the verdict must "
                                  "report"),
                     deployment={"no_failover": True, "name": "redisnf", "port": 7100}, negative_control=True),
)

REDIS = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_redis_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("redis")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", REDIS, ids=lambda s: s.name)
def test_redis(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
