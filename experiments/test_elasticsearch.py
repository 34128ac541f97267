"""Elasticsearch experiments: one per fault, each asserting its SLO from slo.yaml, and the negative
control (a single master-eligible node: no failover), on the local platform or kind."""

import pytest

from chaos.catalog import SCENARIOS, scenario

# In `make test`: the two kills and the negative control (8 min 16 s with two bring-ups on a busy
# machine, load 13 to 21). Left to `make run` and `make test-elasticsearch` (marker outside_make_test):
#   master-node-drain: the failover itself takes 3 to 7 s, but when the drained node rejoins (its JVM
#     restarting, its shard copy recovering) every probe write stalled for 6 s in one run on a busy
#     machine (load 21), after the heal: recovery 118 s against 20 s;
#   master-zone-partition, master-node-crash: a silent master fails over in about 17 s by design
#     (slo.yaml, 25 s), measured 19 to 26 s in two runs on a busy machine: not yet reliable.
IN_MAKE_TEST = ("master-kill", "data-node-kill")
ELASTICSEARCH = [s if s.name in IN_MAKE_TEST else pytest.param(s, marks=pytest.mark.outside_make_test)
                 for s in SCENARIOS if s.component == "elasticsearch" and not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_elasticsearch_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("elasticsearch")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", ELASTICSEARCH, ids=lambda s: s.name)
def test_elasticsearch(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message


@pytest.mark.chaos
def test_a_single_master_eligible_node_cannot_fail_over_and_the_verdict_says_so(chaos_experiment, chaos_deployments):
    """Negative control: with one master-eligible node, draining its node leaves no master to
    elect; writes stop (no_master_block) until uncordon. The verdict must fail for no failover."""
    chaos_deployments.remove("elasticsearch")  # the same ports on the same nodes
    sc = scenario("elasticsearch/negative-single-master-drain")
    try:
        outcome = chaos_experiment(sc)
    finally:
        chaos_deployments.remove(sc.component, **sc.deployment)
    assert outcome.result["proof"]["proven"], outcome.result["proof"]
    assert outcome.result["config"]["masters"] == 1
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("no failover while the fault held" in r or "did not recover" in r
               for r in outcome.verdict.reasons), outcome.verdict.reasons
