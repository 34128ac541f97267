"""Kafka (KRaft) experiments: one per fault plus quorum loss, each asserting its SLO."""

import pytest

from chaos.catalog import SCENARIOS

KAFKA = [s for s in SCENARIOS if s.component == "kafka" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_kafka_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("kafka")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", KAFKA, ids=lambda s: s.name)
def test_kafka(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
