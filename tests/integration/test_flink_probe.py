"""The Flink probe against a real Flink 2.3 HA session cluster: JobManager failover keeps the
probe job's checkpointed state.

Real servers on loopback (tests/servers/flink.py): one ZooKeeper (the harness's, from Maven), two
JobManagers (leader and standby, distinct REST/RPC/blob ports) and one TaskManager from the
distribution PyPI ships in apache-flink-libraries; ZooKeeper HA, heartbeat 2 s / timeout 10 s,
checkpoints every 2 s, fixed-delay restarts. Stand-in: the HA storage directory and the
checkpoints are a local file:// directory where the kind stack uses MinIO's S3.

The probe job (keyed counting state, compiled with javac against flink-dist) is submitted through
the REST API; the harness's Probe runs the Flink probe client; the leading JobManager is found
through ZooKeeper; it is SIGKILLed; the standby must take over, the job must run again, restored
from a checkpoint at least as new as the last acknowledged one, and count exactly once.
"""

from __future__ import annotations

import time

import pytest

from chaos import checkers
from chaos.components.flink import FlinkSession, Settings, ensure_probe_jar, prerequisites
from chaos.timeline import FAIL, OK, Timeline

pytestmark = pytest.mark.integration


@pytest.fixture
def flink(tmp_path):
    from tests.servers import flink as servers

    missing = prerequisites() + servers.missing()
    if missing:
        pytest.skip("Flink probe test needs " + "; ".join(missing))
    ensure_probe_jar()
    with servers.FlinkLocalCluster(tmp_path, jobmanagers=2, taskmanagers=1, settings=Settings()) as cluster:
        yield cluster


def _wait(condition, timeout_s: float, what: str, cluster) -> float:
    """Seconds until condition() held; fails with the servers' log tails on timeout."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(f"{what} not within {timeout_s:.0f} s\n{cluster.logs()}")
        time.sleep(0.1)
    return time.monotonic() - t0


def test_leader_kill_keeps_acknowledged_checkpoints(flink):
    t_start = time.monotonic()
    session = FlinkSession(jobmanagers=flink.jobmanagers, zk_hosts=lambda: flink.zk_hosts,
                           cluster_id=flink.cluster_id, settings=flink.settings)
    try:
        # Roles: one JobManager leads (ZooKeeper names it), the other stands by; both REST
        # endpoints answer job queries (the standby forwards them to the leader).
        _wait(lambda: "leader" in session.roles().values(), 40, "a leading JobManager", flink)
        roles = session.roles()
        assert sorted(roles.values()) == ["leader", "standby"], roles
        leader = [n for n, r in roles.items() if r == "leader"][0]
        standby = [n for n, r in roles.items() if r == "standby"][0]
        session.submit(ensure_probe_jar())
        _wait(lambda: session.steady()[0], 45, "steady (leader, TaskManager, probe job RUNNING)", flink)

        timeline = Timeline()
        probe = session.probe(timeline, "flink/jm-kill", interval_s=0.1).start()
        try:
            # Warm up until the probe acknowledged two new checkpoints.
            ledger = session.ledgers["flink/jm-kill"]
            _wait(lambda: len(ledger.checkpoints) >= 2, 20, "two acknowledged checkpoints", flink)
            acked_before = ledger.last_acked()

            assert session.roles()[leader] == "leader", session.roles()
            injected_s = timeline.now()
            t_kill, kill_ms = time.monotonic(), time.time() * 1000
            flink.kill(leader)
            assert not flink.alive(leader)

            # The standby takes over: ZooKeeper names it once the dead leader's session expired.
            takeover_s = _wait(lambda: session.roles().get(standby) == "leader", 40, f"{standby} leading", flink)
            running_s = _wait(lambda: session.steady()[0], 40, "probe job RUNNING again", flink)
            # Keep probing after recovery until a new checkpoint was acknowledged.
            _wait(lambda: (ledger.last_acked() or 0) > acked_before + 1, 20, "a checkpoint after recovery", flink)
            time.sleep(1.0)
        finally:
            probe.stop()
        end_s = timeline.now()
        present = session.verify("flink/jm-kill", timeout_s=30)
        v = session.last_verification
    finally:
        session.close()

    events = timeline.events
    oks = [e for e in events if e.kind == OK]
    fails = [e for e in events if e.kind == FAIL]
    loss = checkers.write_loss(events, present)
    unavailable_s = checkers.unavailability_s(events, injected_s, end_s)
    acked_by = {e.node for e in oks}
    print(f"\nFlink JobManager failover: leader {leader} SIGKILLed; {standby} leading after {takeover_s:.2f} s, "
          f"probe job RUNNING after {takeover_s + running_s:.2f} s; probe unavailable {unavailable_s:.2f} s; "
          f"ops {len(oks)} ok / {len(fails)} failed; acknowledged checkpoints {ledger.checkpoints}; "
          f"restored from checkpoint {[r['id'] for r in v['restores'] if r['restore_ms'] > kill_ms]} "
          f"(last acknowledged before the kill: {acked_before}); count {v['count']}, "
          f"mismatches {v['mismatches']}; test took {time.monotonic() - t_start:.1f} s")

    assert len(oks) > 20 and fails, "the probe must succeed before and fail during the failover"
    assert acked_by == {leader, standby}, f"acknowledged by {acked_by}: the leader acknowledges, before and after"
    assert v["verified"] and v["final_state"] == "RUNNING", v
    # The new leader restored the job from a checkpoint at least as new as the last acknowledged one.
    restores_after_kill = [r for r in v["restores"] if r["restore_ms"] > kill_ms]
    assert restores_after_kill, f"no restore seen after the leader was killed: {v}"
    assert restores_after_kill[-1]["id"] >= acked_before, v
    assert v["mismatches"] == 0 and v["count"] and v["count"] > 0, v
    assert loss.verified and loss.lost_writes == 0 and loss.acked_writes == len(oks), loss
    # Failover bound: ZooKeeper session timeout (6 s) + recovery; well under the 60 s SLO.
    assert takeover_s < flink.settings.zk_session_timeout_ms / 1000 + 10, takeover_s
    assert 0 < unavailable_s < 60, unavailable_s
    assert time.monotonic() - t_kill < 90
