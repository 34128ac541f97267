"""Flink experiments: one per fault, each asserting its SLO from slo.yaml. On the local platform
(the default) the cluster is chaos.components.flink_local (two JobManagers with ZooKeeper HA, three
TaskManagers across the zones, checkpoints and HA storage on an s3proxy S3 server standing in for
MinIO); on --chaos-platform kind it is fixtures/kind/flink."""

import pytest

from chaos.catalog import SCENARIOS

FLINK = [s for s in SCENARIOS if s.component == "flink" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_flink_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("flink")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", FLINK, ids=lambda s: s.name)
def test_flink(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
