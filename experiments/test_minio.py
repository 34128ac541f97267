"""MinIO experiments: one per fault, each asserting its SLO from slo.yaml. MinIO is deployed from
fixtures/kind only, so these run on --chaos-platform kind and are skipped elsewhere."""

import pytest

from chaos.catalog import SCENARIOS

MINIO = [s for s in SCENARIOS if s.component == "minio" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_minio_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("minio")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", MINIO, ids=lambda s: s.name)
def test_minio(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
