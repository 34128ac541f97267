"""ZooKeeper experiments: one per fault plus quorum loss, each asserting its SLO from slo.yaml."""

import pytest

from chaos.catalog import SCENARIOS

ZOOKEEPER = [s for s in SCENARIOS if s.component == "zookeeper" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_zookeeper_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("zookeeper")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", ZOOKEEPER, ids=lambda s: s.name)
def test_zookeeper(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
