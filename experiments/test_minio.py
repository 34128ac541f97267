"""MinIO experiments: one per fault, each asserting its SLO from slo.yaml. MinIO is deployed from
fixtures/kind only, so these run on --chaos-platform kind and are skipped elsewhere."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("minio", chaos.kill(role="server"), name="server-kill", hold_s=20,
                     description="SIGKILL one of four MinIO servers; erasure coding keeps writes (3 of 4) and reads going"),
    chaos.experiment("minio", chaos.drain(role="server"), name="server-node-drain", hold_s=20,
                     description="cordon one server's node and evict its pods until uncordon"),
    chaos.experiment("minio", chaos.partition(role="server"), name="server-zone-partition", hold_s=20,
                     description=("cut one server's zone off (two of four servers): writes must be refused, nothing acked "
                                  "lost")),
    chaos.experiment("minio", chaos.quorum_loss(role="server"), name="quorum-loss", hold_s=15,
                     description=("hold three of four servers down: writes must be refused, then nothing acknowledged is "
                                  "lost")),
)

MINIO = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_minio_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("minio")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", MINIO, ids=lambda s: s.name)
def test_minio(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
