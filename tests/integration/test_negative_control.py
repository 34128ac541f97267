"""Negative control: a configuration known to lose acknowledged writes must be reported as
losing them. Asynchronous replication, the primary's zone cut off from the standbys while the
clients still write to it: the old primary acknowledges writes that the promoted standby never
received, and its rejoin (pg_rewind) discards them. A harness that cannot see this proves nothing."""

import pytest

from chaos.catalog import scenario

pytestmark = pytest.mark.integration


def run_negative(key, chaos_experiment, chaos_deployments):
    """Run a negative control on its own unsafe deployment, removed afterwards; the fault must
    have been proven, or the failure the test looks for would prove nothing."""
    sc = scenario(key)
    try:
        outcome = chaos_experiment(sc)
    finally:
        chaos_deployments.remove(sc.component, **sc.deployment)
    assert outcome.result["proof"]["proven"], outcome.result["proof"]
    return outcome


def test_async_partition_loses_acknowledged_writes_and_the_harness_sees_it(chaos_experiment, chaos_deployments):
    outcome = run_negative("postgres/negative-async-partition", chaos_experiment, chaos_deployments)
    metrics = outcome.result["metrics"]
    assert metrics["lost_writes"] and metrics["lost_writes"] > 0, outcome.message
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("lost writes" in r for r in outcome.verdict.reasons), outcome.verdict.reasons
    # The lost ids are ones the old primary acknowledged after the partition began.
    assert metrics["lost_ids"], metrics


def test_unfenced_old_primary_is_reported_as_split_brain(chaos_experiment, chaos_deployments):
    """Without fencing (and with asynchronous replication) the isolated old primary keeps
    acknowledging writes from the clients that reach it while the promoted standby takes writes
    from the others: two servers acknowledging in the same window must be reported."""
    outcome = run_negative("postgres/negative-unfenced-split-brain", chaos_experiment, chaos_deployments)
    metrics = outcome.result["metrics"]
    assert metrics["split_brain"] is True, outcome.message
    pods = {pod for a, b, *_ in metrics["split_brain_overlaps"] for pod in (a, b)}
    assert outcome.result["target"]["pod"] in pods, metrics["split_brain_overlaps"]
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("split brain" in r for r in outcome.verdict.reasons), outcome.verdict.reasons


def test_location_per_zone_cancels_the_failover_and_the_verdict_says_so(chaos_experiment, chaos_deployments):
    """docs/components.md: with repmgr's location set to each node's zone, losing the primary's zone
    cancels the election ("no nodes from the primary location visible"). Nothing fails over;
    writes come back only after the harness heals the partition, which is not a failover."""
    outcome = run_negative("postgres/negative-location-per-zone", chaos_experiment, chaos_deployments)
    assert outcome.result["config"]["location_per_zone"] is True
    assert outcome.verdict.verdict == "fail", outcome.message
    # Writes come back only after the heal (or, if the old primary never resumes, not at all).
    assert any("no failover while the fault held" in r or "did not recover" in r
               for r in outcome.verdict.reasons), outcome.verdict.reasons
    # Only the old primary ever acknowledged: no standby was promoted.
    assert set(outcome.result["acked_by"]) == {outcome.result["target"]["pod"]}, outcome.result["acked_by"]


def test_replicas_that_never_fail_over_leave_the_slots_down_and_the_verdict_says_so(chaos_experiment,
                                                                                       chaos_deployments):
    """cluster-replica-no-failover: a master's node crashes and no replica takes over; its slots
    answer again only after the heal. A harness that passed this would pass a cluster without
    failover."""
    outcome = run_negative("redis/negative-no-failover", chaos_experiment, chaos_deployments)
    assert outcome.result["config"]["cluster_replica_no_failover"] is True
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("no failover while the fault held" in r or "did not recover" in r
               for r in outcome.verdict.reasons), outcome.verdict.reasons
    # The crashed master's slots were down for the whole hold.
    held = outcome.result["windows"]["healed_s"] - outcome.result["windows"]["injected_s"]
    assert outcome.result["metrics"]["unavailability_s"] >= 0.9 * held, outcome.message


def test_an_ensemble_of_two_stops_when_a_zone_is_cut_off_and_the_verdict_says_so(chaos_experiment,
                                                                                    chaos_deployments):
    """Two ZooKeeper servers in two zones: the leader's zone cut off leaves one server on each
    side, neither a majority, so no write succeeds until the heal. Three servers one per zone
    (the designed ensemble) keep a majority through the same fault."""
    outcome = run_negative("zookeeper/negative-two-servers", chaos_experiment, chaos_deployments)
    assert outcome.result["config"]["servers"] == 2
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("no failover while the fault held" in r or "did not recover" in r
               for r in outcome.verdict.reasons), outcome.verdict.reasons
    held = outcome.result["windows"]["healed_s"] - outcome.result["windows"]["injected_s"]
    assert outcome.result["metrics"]["unavailability_s"] >= 0.9 * held, outcome.message


def test_writes_the_cut_off_leader_acknowledged_alone_are_reported_lost(chaos_experiment, chaos_deployments):
    """acks=1: the leader whose zone is cut off keeps acknowledging the clients' writes that no
    follower has; the majority elects another leader, and when the old one rejoins it truncates
    its log to the new leader's. Those acknowledged writes must be reported lost."""
    outcome = run_negative("kafka/negative-leader-acks", chaos_experiment, chaos_deployments)
    assert outcome.result["config"]["producer"]["acks"] == "1"
    metrics = outcome.result["metrics"]
    assert metrics["lost_writes"] and metrics["lost_writes"] > 0, outcome.message
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("lost writes" in r for r in outcome.verdict.reasons), outcome.verdict.reasons


def test_a_single_master_eligible_node_cannot_fail_over_and_the_verdict_says_so(chaos_experiment,
                                                                               chaos_deployments):
    """Elasticsearch with one master-eligible node: draining its node leaves no master to elect;
    writes stop (no_master_block) until the uncordon. The verdict must fail for no failover."""
    chaos_deployments.remove("elasticsearch")  # the designed cluster uses the same ports and nodes
    outcome = run_negative("elasticsearch/negative-single-master-drain", chaos_experiment, chaos_deployments)
    assert outcome.result["config"]["masters"] == 1
    assert outcome.verdict.verdict == "fail", outcome.message
    assert any("no failover while the fault held" in r or "did not recover" in r
               for r in outcome.verdict.reasons), outcome.verdict.reasons
