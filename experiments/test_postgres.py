"""PostgreSQL + repmgr experiments: one per fault, each asserting its SLO from slo.yaml."""

import pytest

from chaos.catalog import SCENARIOS

POSTGRES = [s for s in SCENARIOS if s.component == "postgres" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_postgres_after_module(chaos_deployments):
    # The next component's experiments get the nodes to themselves.
    yield
    chaos_deployments.remove("postgres")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", POSTGRES, ids=lambda s: s.name)
def test_postgres(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
