"""PostgreSQL + repmgr experiments: one per fault, each asserting its SLO from slo.yaml."""

import pytest

from chaos.catalog import SCENARIOS

POSTGRES = [s for s in SCENARIOS if s.component == "postgres" and not s.negative_control]


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", POSTGRES, ids=lambda s: s.name)
def test_postgres(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
