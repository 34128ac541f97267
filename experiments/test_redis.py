"""Redis Cluster experiments: one per fault, each asserting its SLO from slo.yaml."""

import pytest

from chaos.catalog import SCENARIOS

REDIS = [s for s in SCENARIOS if s.component == "redis" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_redis_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("redis")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", REDIS, ids=lambda s: s.name)
def test_redis(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
