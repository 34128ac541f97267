"""Negative control for Flink on the local platform: high availability off (one JobManager, no
ZooKeeper). SIGKILLing the JobManager must be reported as a failure: the platform restarts it,
but it comes back without the job, so the probe never sees the job again (no recovery) and every
acknowledged checkpoint is gone. A harness that passed this would prove nothing about the HA runs."""

import pytest

from tests.integration.test_negative_control import run_negative

pytestmark = pytest.mark.integration


def test_flink_without_ha_loses_the_job_and_the_harness_sees_it(chaos_experiment, chaos_deployments):
    outcome = run_negative("flink/negative-no-ha", chaos_experiment, chaos_deployments)
    assert outcome.result["config"]["ha"] is False, outcome.result["config"]
    assert outcome.verdict.verdict == "fail", outcome.message
    reasons = " ".join(outcome.verdict.reasons)
    assert "recover" in reasons or "lost" in reasons, outcome.verdict.reasons
    assert outcome.result["metrics"]["lost_writes"], outcome.message
