"""Elasticsearch experiments: one per fault, each asserting its SLO from slo.yaml. Elasticsearch is deployed from
fixtures/kind only, so these run on --chaos-platform kind and are skipped elsewhere."""

import pytest

from chaos.catalog import SCENARIOS

ELASTICSEARCH = [s for s in SCENARIOS if s.component == "elasticsearch" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_elasticsearch_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("elasticsearch")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", ELASTICSEARCH, ids=lambda s: s.name)
def test_elasticsearch(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
