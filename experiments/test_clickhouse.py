"""ClickHouse experiments: one per fault, each asserting its SLO from slo.yaml. ClickHouse is deployed from
fixtures/kind only, so these run on --chaos-platform kind and are skipped elsewhere."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("clickhouse", chaos.kill(role="replica"), name="replica-kill", hold_s=20,
                     description="SIGKILL one replica's pod; quorum inserts (2 of 3) continue on the others"),
    chaos.experiment("clickhouse", chaos.drain(role="replica"), name="replica-node-drain", hold_s=20,
                     description="cordon one replica's node and evict its pods until uncordon"),
    chaos.experiment("clickhouse", chaos.partition(role="replica"), name="replica-zone-partition", hold_s=25,
                     description="cut one replica's zone off from the other zones"),
    chaos.experiment("clickhouse", chaos.crash(role="replica"), name="replica-node-crash", hold_s=25,
                     description="stop one replica's node container hard"),
)

CLICKHOUSE = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_clickhouse_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("clickhouse")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", CLICKHOUSE, ids=lambda s: s.name)
def test_clickhouse(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
