"""ClickHouse experiments: one per fault, each asserting its SLO from slo.yaml. ClickHouse is deployed from
fixtures/kind only, so these run on --chaos-platform kind and are skipped elsewhere."""

import pytest

from chaos.catalog import SCENARIOS

CLICKHOUSE = [s for s in SCENARIOS if s.component == "clickhouse" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_clickhouse_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("clickhouse")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", CLICKHOUSE, ids=lambda s: s.name)
def test_clickhouse(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
