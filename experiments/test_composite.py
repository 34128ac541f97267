"""Composite faults on ZooKeeper, written with the public API (chaos.experiment): the leader
killed while its zone is cut off, and a rolling drain of the followers' nodes (each node
uncordoned, and the ensemble steady again, before the next drain). Each asserts the SLO file's
ZooKeeper entry, and that every part was proven and healed in reverse order."""

import pytest

import chaos

LEADER_KILLED_WHILE_CUT_OFF = chaos.experiment(
    "zookeeper", chaos.together(chaos.partition(role="leader"), chaos.kill(role="leader")),
    name="leader-killed-while-zone-cut-off", hold_s=20,
    description="cut the leader's zone off from the other zones, then SIGKILL the leader")

ROLLING_FOLLOWER_DRAIN = chaos.experiment(
    "zookeeper", chaos.one_after_another(chaos.drain(role="follower"), chaos.drain(role="follower"), step_s=8),
    name="rolling-follower-drain", hold_s=8,
    # Recovery counts from the first drain to the clients' last failure: the second drain comes
    # about 10 s after the first, so the single-fault bound (10 s) becomes 10 s more.
    slo={"max_recovery_s": 20},
    description="drain one follower's node, uncordon it, wait for the ensemble, then drain the other's")


@pytest.fixture(scope="module", autouse=True)
def _remove_zookeeper_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("zookeeper")


def check_together(result):
    parts = result["proof"]["parts"]
    assert [(p["fault"], p["proven"]) for p in parts] == [("partition", True), ("kill", True)]
    assert parts[0]["target"]["pod"] == parts[1]["target"]["pod"]  # the one leader, cut off and killed
    assert [h["fault"] for h in result["proof"]["heal"]["parts"]] == ["kill", "partition"]  # reverse order


def check_rolling(result):
    first, second = result["proof"]["parts"]
    assert first["proven"] and second["proven"]
    assert first["target"]["pod"] != second["target"]["pod"]
    assert first["healed_s"] is not None and first["healed_s"] < second["injected_s"]  # uncordoned first


CHECKS = {LEADER_KILLED_WHILE_CUT_OFF.name: check_together, ROLLING_FOLLOWER_DRAIN.name: check_rolling}


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", [LEADER_KILLED_WHILE_CUT_OFF, ROLLING_FOLLOWER_DRAIN], ids=lambda s: s.name)
def test_composite(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.passed, outcome.message
    CHECKS[scenario.name](outcome.result)
