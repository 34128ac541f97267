"""Elasticsearch experiments: one per fault, each asserting its SLO from slo.yaml, on the local
platform or kind. Its negative control (a single master-eligible node: no failover) is in
tests/integration/test_negative_control.py with the others."""

import pytest

from chaos.catalog import SCENARIOS

# In `make test`: the two kills (with the negative control, 8 min 16 s and two bring-ups on a busy
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
