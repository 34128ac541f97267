"""Checkers against hand-written histories: each test is one story of a failover.

No servers: the timelines are written out event by event, like Jepsen's checker tests.
"""

from __future__ import annotations

import pytest

from chaos import checkers
from chaos.checkers import (
    Verdict,
    combine,
    judge,
    probe_stats,
    recovery_s,
    split_brain,
    unavailability_s,
    write_loss,
)
from chaos.slo import SLO
from chaos.timeline import FAIL, INFO, INVOKE, NEMESIS, OK, PHASE, Event


def op(t0: float, t1: float, kind: str, value: int, *, process: str = "w0", node: str | None = "pg0",
       op_name: str = "write") -> list[Event]:
    """One probe operation: invoke at t0, completion of `kind` at t1."""
    return [
        Event(t0, INVOKE, process, op_name, value=value),
        Event(t1, kind, process, op_name, value=value, node=node if kind == OK else None,
              error=None if kind == OK else "connection refused", latency_s=t1 - t0),
    ]


def history(spec: list[tuple[float, str, str | None]], *, start_id: int = 1) -> list[Event]:
    """Writes every entry of spec as (completion time, kind, node), each taking 0.01 s."""
    events: list[Event] = []
    for i, (t, kind, node) in enumerate(spec):
        events += op(t - 0.01, t, kind, start_id + i, node=node)
    return events


def acked_ids(events: list[Event]) -> list[int]:
    return [e.value for e in events if e.kind == OK and e.op == "write"]


# A clean failover: pg0 acks until 10.0, fault at 10.5, errors until 14, pg1 acks from 14.5 on.
INJECTED = 10.5
END = 30.0
CLEAN = history(
    [(t / 2, OK, "pg0") for t in range(1, 21)]  # 0.5 .. 10.0
    + [(11.0, FAIL, None), (12.0, FAIL, None), (13.0, INFO, None), (14.0, FAIL, None)]
    + [(14.5 + t / 2, OK, "pg1") for t in range(0, 31)]  # 14.5 .. 29.5
) + [Event(INJECTED, NEMESIS, "nemesis", "inject", value="kill pg0")]


def run_judge(events, present="acked", *, slo=SLO(), fault_proven=True, injected=INJECTED, end=END,
              healed=20.0) -> Verdict:
    if present == "acked":
        present = acked_ids(events)
    return judge(events, injected_s=injected, healed_s=healed, end_s=end, slo=slo,
                 fault_proven=fault_proven, present=present)


def test_clean_failover_passes_with_client_view_numbers():
    v = run_judge(CLEAN)
    assert v.verdict == "pass", v.reasons
    # Last OK before the kill was at 10.0, first after at 14.5.
    assert v.metrics["unavailability_s"] == pytest.approx(4.5)
    assert v.metrics["recovery_s"] == pytest.approx(4.0)
    assert v.metrics["acked_writes"] == 51
    assert v.metrics["lost_writes"] == 0
    assert v.metrics["split_brain"] is False
    assert v.metrics["ops"] == 55 and v.metrics["errors"] == 4


def test_metrics_carry_every_contract_key_rounded():
    v = run_judge(CLEAN)
    for key in ("unavailability_s", "recovery_s", "acked_writes", "lost_writes", "duplicate_writes",
                "unexpected_writes", "indeterminate_writes", "split_brain", "probe_interval_s",
                "probe_interval_p95_s", "probe_interval_max_s", "probe_interval_configured_s", "probe_ticks",
                "missed_ticks", "ops", "errors"):
        assert key in v.metrics, key
    assert v.metrics["indeterminate_writes"] == 1
    floats = [x for x in v.metrics.values() if isinstance(x, float)]
    assert floats and all(round(x, 3) == x for x in floats)


def test_unavailability_without_ok_after_injection_runs_to_end():
    events = history([(1.0, OK, "pg0"), (2.0, OK, "pg0"), (3.0, FAIL, None)])
    assert unavailability_s(events, injected_s=2.5, end_s=9.0) == pytest.approx(7.0)


def test_unavailability_without_baseline_starts_at_injection():
    events = history([(5.0, OK, "pg0"), (6.0, OK, "pg0")])
    assert unavailability_s(events, injected_s=3.0, end_s=6.0) == pytest.approx(2.0)


def test_unavailability_ignores_gaps_that_end_before_injection():
    # A 5 s hiccup during warm-up is not the fault's doing.
    events = history([(1.0, OK, "pg0"), (6.0, OK, "pg0"), (7.0, OK, "pg0"), (8.0, OK, "pg0")])
    assert unavailability_s(events, injected_s=7.5, end_s=8.0) == pytest.approx(1.0)


def test_unavailability_counts_an_outage_still_going_at_the_end():
    events = history([(1.0, OK, "pg0"), (3.0, OK, "pg1"), (4.0, FAIL, None)])
    assert unavailability_s(events, injected_s=2.0, end_s=20.0) == pytest.approx(17.0)


def test_flapping_recovery_points_at_the_start_of_the_stable_run():
    events = history(
        [(1.0, OK, "pg0"), (2.0, OK, "pg0")]
        + [(4.0, OK, "pg1"), (4.5, FAIL, None), (5.0, OK, "pg1"), (5.5, INFO, None)]
        + [(7.0 + t / 4, OK, "pg1") for t in range(0, 20)]  # stable from 7.0
    )
    assert recovery_s(events, injected_s=3.0, end_s=12.0, settle_s=2.0) == pytest.approx(4.0)


def test_success_that_breaks_down_later_is_not_a_recovery():
    # An isolated old primary keeps acknowledging for 3 s after the fault (longer than settle_s),
    # is then fenced, and the new primary takes over at 9 s: recovery is at 9 s, not at once.
    events = history(
        [(1.0, OK, "pg0"), (2.0, OK, "pg0")]
        + [(3.0 + t / 4, OK, "pg0") for t in range(0, 13)]  # 3.0 .. 6.0, still acknowledging
        + [(7.0, INFO, None), (8.0, FAIL, None)]
        + [(9.0 + t / 4, OK, "pg1") for t in range(0, 20)]
    )
    assert recovery_s(events, injected_s=2.5, end_s=14.0, settle_s=2.0) == pytest.approx(6.5)


def test_recovery_needs_a_full_settle_window_before_end():
    events = history([(1.0, OK, "pg0"), (9.0, OK, "pg1"), (9.5, OK, "pg1")])
    assert recovery_s(events, injected_s=3.0, end_s=10.0, settle_s=2.0) is None
    assert recovery_s(events, injected_s=3.0, end_s=11.0, settle_s=2.0) == pytest.approx(6.0)


def test_recovery_needs_a_second_success_inside_the_window():
    # One lucky OK followed by silence is not sustained success.
    events = history([(1.0, OK, "pg0"), (5.0, OK, "pg1")])
    assert recovery_s(events, injected_s=3.0, end_s=20.0, settle_s=2.0) is None


def test_failure_completing_after_candidate_counts_even_if_invoked_before():
    events = history([(1.0, OK, "pg0")]) + op(3.5, 5.0, OK, 50, node="pg1") + op(4.0, 5.5, FAIL, 51, process="w1") \
        + op(5.9, 6.0, OK, 52, node="pg1") + op(6.9, 7.0, OK, 53, node="pg1") + op(7.9, 8.0, OK, 54, node="pg1")
    # The OK at 5.0 is followed by a FAIL at 5.5 (invoked at 4.0): recovery starts at 6.0.
    assert recovery_s(events, injected_s=3.0, end_s=8.0, settle_s=2.0) == pytest.approx(3.0)


def test_never_recovers_fails_with_settle_and_end_in_reason():
    events = history([(t / 2, OK, "pg0") for t in range(1, 21)] + [(11.0 + t, FAIL, None) for t in range(0, 49)])
    v = run_judge(events, end=60.2, slo=SLO(max_unavailability_s=None))
    assert v.verdict == "fail"
    assert v.metrics["recovery_s"] is None
    assert "did not recover (no sustained success for settle_s=2 s before end at 60.2 s)" in v.reasons


def test_unavailability_over_slo_fails_with_the_numbers():
    v = run_judge(CLEAN, slo=SLO(max_unavailability_s=3))
    assert v.verdict == "fail"
    assert "unavailability 4.500 s > max_unavailability_s 3" in v.reasons


def test_recovery_over_slo_fails_with_the_numbers():
    v = run_judge(CLEAN, slo=SLO(max_recovery_s=2.5))
    assert v.verdict == "fail"
    assert "recovery 4.000 s > max_recovery_s 2.5" in v.reasons


def test_lost_write_fails_and_names_the_id():
    present = [i for i in acked_ids(CLEAN) if i != 7]
    loss = write_loss(CLEAN, present)
    assert (loss.lost_writes, loss.lost_ids, loss.verified) == (1, [7], True)
    v = run_judge(CLEAN, present)
    assert v.verdict == "fail"
    assert any(r.startswith("lost writes 1 of 51 acknowledged > max_lost_writes 0") and "7" in r for r in v.reasons)


def test_lost_ids_are_capped_but_the_count_is_not():
    events = history([(1.0 + t / 100, OK, "pg0") for t in range(250)])
    loss = write_loss(events, [])
    assert loss.lost_writes == 250
    assert len(loss.lost_ids) == checkers.MAX_IDS
    assert loss.lost_ids[:3] == [1, 2, 3]


def test_duplicate_fails():
    present = acked_ids(CLEAN) + [3, 3, 9]
    loss = write_loss(CLEAN, present)
    assert loss.duplicate_writes == 2 and loss.duplicate_ids == [3, 9]
    v = run_judge(CLEAN, present)
    assert v.verdict == "fail"
    assert any(r.startswith("duplicate writes 2 > max_duplicate_writes 0") for r in v.reasons)


def test_unexpected_value_is_counted_and_fails():
    present = acked_ids(CLEAN) + [99999]
    loss = write_loss(CLEAN, present)
    assert loss.unexpected_writes == 1
    v = run_judge(CLEAN, present)
    assert v.verdict == "fail"
    assert any("unexpected values" in r for r in v.reasons)


def test_indeterminate_write_read_back_is_neither_lost_nor_unexpected():
    info_id = next(e.value for e in CLEAN if e.kind == INFO)
    loss = write_loss(CLEAN, acked_ids(CLEAN) + [info_id])
    assert (loss.lost_writes, loss.unexpected_writes, loss.indeterminate_writes) == (0, 0, 1)


def test_verification_read_failed_is_unknown_not_zero_loss():
    v = run_judge(CLEAN, None)
    assert v.verdict == "unknown"
    assert any("verification read failed" in r for r in v.reasons)
    assert v.metrics["lost_writes"] is None  # not a reassuring 0 in the trend data


def test_no_acked_writes_is_unknown():
    reads = [e for t in range(1, 20) for e in op(t, t + 0.1, OK, 1000 + t, op_name="read")]
    v = run_judge(reads, [], injected=5.5, end=20.0)
    assert v.verdict == "unknown"
    assert v.metrics["acked_writes"] == 0
    assert any("no acknowledged writes" in r for r in v.reasons)


def test_unproven_fault_is_unknown_even_when_numbers_are_fine():
    v = run_judge(CLEAN, fault_proven=False)
    assert v.verdict == "unknown"
    assert "no proof the fault took effect" in v.reasons


def test_no_baseline_is_unknown():
    events = [e for e in CLEAN if e.t > INJECTED]
    v = run_judge(events)
    assert v.verdict == "unknown"
    assert any(r.startswith("no baseline") for r in v.reasons)


def test_crashed_checker_makes_verdict_unknown_and_others_still_run(monkeypatch):
    def boom(events):
        raise RuntimeError("bad history")

    monkeypatch.setattr(checkers, "split_brain", boom)
    v = run_judge(CLEAN)
    assert v.verdict == "unknown"
    assert "checker split_brain crashed: RuntimeError: bad history" in v.reasons
    assert v.metrics["split_brain"] is None
    assert v.metrics["unavailability_s"] == pytest.approx(4.5)


def test_crashed_recovery_checker_is_unknown_not_did_not_recover(monkeypatch):
    monkeypatch.setattr(checkers, "recovery_s", lambda *a: 1 / 0)
    v = run_judge(CLEAN)
    assert v.verdict == "unknown"
    assert not any("did not recover" in r for r in v.reasons)


def test_crashed_checker_never_hides_a_failure(monkeypatch):
    monkeypatch.setattr(checkers, "probe_stats", lambda events: 1 / 0)
    v = run_judge(CLEAN, slo=SLO(max_unavailability_s=1))
    assert v.verdict == "fail"
    assert any("crashed" in r for r in v.reasons) and any("unavailability" in r for r in v.reasons)


def test_split_brain_overlap_detected():
    events = history([(1.0, OK, "pg0"), (2.0, OK, "pg1"), (3.0, OK, "pg0"), (4.0, OK, "pg1"), (5.0, OK, None)])
    sb = split_brain(events)
    assert sb.detected
    assert sb.nodes == {"pg0": (1.0, 3.0), "pg1": (2.0, 4.0)}
    assert sb.overlaps == [("pg0", "pg1", 2.0, 3.0)]
    v = run_judge(events, injected=1.5, end=5.0, slo=SLO(max_unavailability_s=None, max_recovery_s=None))
    assert v.verdict == "fail"
    assert any(r.startswith("split brain: pg0 and pg1") for r in v.reasons)


def test_split_brain_allowed_by_slo_does_not_fail_on_it():
    events = history([(1.0, OK, "pg0"), (2.0, OK, "pg1"), (3.0, OK, "pg0"), (4.0, OK, "pg1")])
    v = run_judge(events, injected=1.5, end=4.0, slo=SLO(allow_split_brain=True))
    assert v.metrics["split_brain"] is True
    assert not any("split brain" in r for r in v.reasons)


def test_sequential_failover_is_not_split_brain():
    sb = split_brain(CLEAN)
    assert not sb.detected
    assert sb.nodes["pg0"] == (0.5, 10.0) and sb.nodes["pg1"] == (14.5, 29.5)


def test_probe_stats_intervals_per_worker():
    events = op(0.0, 0.1, OK, 1) + op(1.0, 1.1, OK, 2) + op(4.0, 4.1, FAIL, 3) \
        + op(0.5, 0.6, OK, 10, process="w1") + op(1.5, 1.6, INFO, 11, process="w1")
    stats = probe_stats(events)
    assert (stats.ops, stats.ok, stats.errors) == (5, 3, 2)
    # w0: 1.0, 3.0; w1: 1.0 -- never the 0.5 between different workers. The median, not the mean.
    assert stats.probe_interval_s == pytest.approx(1.0)
    assert stats.probe_interval_max_s == pytest.approx(3.0)
    assert stats.probe_interval_p95_s == pytest.approx(3.0)


def test_probe_stats_count_missed_ticks_against_the_configured_interval():
    events = [Event(0.0, PHASE, "harness", "probe", value={"interval_s": 0.02, "workers": 2})] \
        + op(0.00, 0.01, OK, 1) + op(0.02, 0.09, OK, 2)
    late = op(0.10, 0.11, OK, 3)  # the ticks at 0.04, 0.06 and 0.08 passed while write 2 was in flight
    late[0] = Event(0.10, INVOKE, "w0", "write", value=3, extra={"missed_ticks": 3})
    stats = probe_stats(events + late)
    assert stats.probe_interval_configured_s == 0.02
    assert (stats.probe_ticks, stats.missed_ticks) == (6, 3)
    assert stats.probe_interval_max_s == pytest.approx(0.08)


def test_probe_stats_without_invokes_has_no_intervals():
    stats = probe_stats([Event(1.0, NEMESIS, "nemesis", "inject")])
    assert stats.ops == 0 and stats.probe_interval_s is None


@pytest.mark.parametrize(
    "verdicts, expected",
    [
        (["pass", "pass"], "pass"),
        (["pass", "unknown"], "unknown"),
        (["unknown", "fail", "pass"], "fail"),
        (["fail", "unknown"], "fail"),
        ([], "pass"),
    ],
)
def test_combine_fail_beats_unknown_beats_pass(verdicts, expected):
    combined = combine(Verdict(v, (f"r{i}",)) for i, v in enumerate(verdicts))
    assert combined.verdict == expected
    assert combined.reasons == tuple(f"r{i}" for i in range(len(verdicts)))


def test_verdict_rejects_unknown_values():
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict("ok")


def test_expect_writes_refused_fails_when_a_write_is_acknowledged_during_the_fault():
    slo = SLO(expect_writes_refused=True, max_unavailability_s=None)
    # Quorum lost 10.5 .. 20.0: writes should be refused until the heal.
    refused = history([(t / 2, OK, "pg0") for t in range(1, 21)] + [(11.0 + t, FAIL, None) for t in range(9)]
                      + [(20.5 + t / 2, OK, "pg0") for t in range(15)])
    assert run_judge(refused, slo=slo).verdict == "pass"
    accepted = refused + op(15.0, 15.2, OK, 777, node="pg0")
    v = run_judge(accepted, acked_ids(accepted), slo=slo)
    assert v.verdict == "fail"
    assert any("1 writes acknowledged after the fault took full effect" in r for r in v.reasons)


def test_expect_writes_refused_ignores_a_write_sent_before_the_fault():
    slo = SLO(expect_writes_refused=True, max_unavailability_s=None)
    events = history([(t / 2, OK, "pg0") for t in range(1, 21)] + [(20.5 + t / 2, OK, "pg0") for t in range(15)]) \
        + op(10.4, 10.6, OK, 888, node="pg0")  # had its quorum before the partition
    v = run_judge(events, slo=slo)
    assert not any("expect_writes_refused" in r for r in v.reasons)


def test_expect_writes_refused_counts_from_when_the_fault_took_full_effect():
    # A quorum loss holds down one pod after another: between the first step (injection at
    # 10.5) and the last (the proof at 11.5) a quorum remains and may acknowledge a write.
    slo = SLO(expect_writes_refused=True, max_unavailability_s=None)
    base = history([(t / 2, OK, "pg0") for t in range(1, 21)] + [(20.5 + t / 2, OK, "pg0") for t in range(15)]) \
        + [Event(INJECTED, NEMESIS, "nemesis", "inject"), Event(11.5, NEMESIS, "nemesis", "proof")]
    between = base + op(10.8, 11.7, OK, 888, node="pg1")  # sent while pg1's quorum still stood
    v = run_judge(between, slo=slo)
    assert not any("expect_writes_refused" in r for r in v.reasons), v.reasons
    after = base + op(12.0, 12.1, OK, 999, node="pg1")  # sent into the complete fault
    v = run_judge(after, slo=slo)
    assert v.verdict == "fail"
    assert any("1 writes acknowledged after the fault took full effect at 11.5 s" in r for r in v.reasons), v.reasons


def test_recovery_only_after_heal_is_no_failover():
    # The fault holds from 10.5 to 13.0; operations only come back at 14.5, after the heal.
    verdict = run_judge(CLEAN, healed=13.0)
    assert verdict.verdict == "fail"
    assert any("no failover while the fault held" in r and "13" in r for r in verdict.reasons), verdict.reasons


def test_a_failure_after_the_heal_of_a_held_failover_is_the_recovery_bounds_not_no_failover():
    # Failover at 14.5, held until the heal at 20.0; one write times out at 26.0 (a rejoining
    # broker took the leadership back; seen in a Kafka drain on a loaded machine). Recovery counts
    # to the last failure, so max_recovery_s judges it; it is not "no failover".
    late = CLEAN + op(25.0, 26.0, INFO, 777, node=None)
    v = run_judge(late, healed=20.0, slo=SLO(max_recovery_s=10))
    assert v.metrics["recovery_s"] > 15
    assert not any("no failover" in r for r in v.reasons), v.reasons
    assert any("max_recovery_s" in r for r in v.reasons), v.reasons


def test_recovery_during_the_fault_passes_and_the_rule_can_be_switched_off():
    assert run_judge(CLEAN, healed=20.0).verdict == "pass"
    assert run_judge(CLEAN, healed=13.0, slo=SLO(recover_during_fault=False)).verdict == "pass"


def test_sessions_count_losses_after_injection_and_the_longest_suspension():
    from chaos.checkers import sessions
    from chaos.timeline import SESSION

    events = [Event(0.0, SESSION, "w0", "session", value="connected"),
              Event(1.0, SESSION, "w1", "session", value="lost"),  # before injection: not counted
              Event(11.0, SESSION, "w0", "session", value="suspended"),
              Event(14.5, SESSION, "w0", "session", value="connected"),
              Event(12.0, SESSION, "w1", "session", value="suspended"),
              Event(20.0, SESSION, "w1", "session", value="lost")]
    assert sessions(events, injected_s=10.5, end_s=30.0) == {"sessions_lost": 1, "suspended_max_s": 8.0}


def test_a_lost_session_fails_when_bounded():
    from chaos.timeline import SESSION

    events = CLEAN + [Event(12.0, SESSION, "w0", "session", value="lost")]
    verdict = run_judge(events, slo=SLO(max_sessions_lost=0))
    assert verdict.verdict == "fail" and any("sessions lost: 1" in r for r in verdict.reasons)
    assert run_judge(events).verdict == "pass"  # unbounded by default


# --- judge_checkpoints: a probe whose "writes" are checkpoints of a job's state (Flink) ----------


def seen(now_ms: int, checkpoint: int | None, restored: tuple[int, int] | None = None,
         running: bool = True) -> checkers.CheckpointObservation:
    completed = (checkpoint, now_ms - 50) if checkpoint is not None else None
    return checkers.CheckpointObservation(now_ms=now_ms, state="RUNNING" if running else "RESTARTING",
                                          running=running, completed=completed, restored=restored)


def ack(value: int, o: checkers.CheckpointObservation) -> checkers.CheckpointAck:
    trigger = o.completed[1] if o.completed and o.completed[0] == o.checkpoint else None
    return checkers.CheckpointAck(value, o.now_ms, o.checkpoint, trigger, o.restored[1] if o.restored else None)


def test_checkpoints_restored_from_the_last_acknowledged_one_lose_nothing():
    history = [seen(1000, 5), seen(3000, 7), seen(9000, None, restored=(7, 8800)), seen(10000, 8, restored=(7, 8800))]
    verdict = checkers.judge_checkpoints([ack(i, o) for i, o in enumerate(history)], history, mismatches=0)
    assert verdict["lost"] == [] and verdict["reasons"] == []
    assert verdict["last_acked_checkpoint"] == 8 and verdict["restores"] == [{"id": 7, "restore_ms": 8800}]


def test_a_restore_older_than_the_last_acknowledged_checkpoint_loses_the_newer_acks():
    history = [seen(1000, 5), seen(3000, 7), seen(10000, 8, restored=(5, 8800))]
    acks = [ack(i, o) for i, o in enumerate(history[:2])]
    verdict = checkers.judge_checkpoints(acks, history)
    assert verdict["lost"] == [1] and verdict["reasons"] == ["restored from checkpoint 5 < acknowledged 7"]


def test_a_job_that_ended_loses_every_checkpointed_ack_and_says_so_first():
    history = [seen(1000, None), seen(2000, 1), seen(3000, 2, restored=(1, 2500))]
    acks = [ack(i, o) for i, o in enumerate(history)]
    verdict = checkers.judge_checkpoints(acks, history, job_ended="FAILED")
    assert verdict["lost"] == [1, 2]  # the ack before any checkpoint stood on nothing
    assert verdict["reasons"][0] == "job FAILED: its state is gone"
