"""Pure checkers: a timeline of client operations in, numbers and a verdict out.

They never touch the network; each is one function of the history, tested with hand-written ones.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from chaos.slo import SLO
from chaos.timeline import COMPLETIONS, INFO, INVOKE, NEMESIS, OK, PHASE, SESSION, Event

__all__ = [
    "WriteLoss", "SplitBrain", "ProbeStats", "Verdict", "PASS", "FAIL_VERDICT", "UNKNOWN",
    "unavailability_s", "client_unavailability_s", "recovery_s", "sessions", "write_loss",
    "split_brain", "probe_stats", "CheckpointAck", "CheckpointObservation", "judge_checkpoints",
    "combine", "judge",
]

PASS = "pass"
UNKNOWN = "unknown"
FAIL_VERDICT = "fail"
# Jepsen's order: a failure is never hidden by an unknown, and an unknown never becomes a pass.
_SEVERITY = {PASS: 0, UNKNOWN: 1, FAIL_VERDICT: 2}

# Lists of ids stored in results are capped so a disaster does not produce a 100 MB JSON file.
MAX_IDS = 100

_COMPLETIONS = COMPLETIONS


@dataclass(frozen=True)
class WriteLoss:
    """Acknowledged writes compared with what the verification read returned."""

    acked_writes: int
    lost_writes: int
    lost_ids: list[Any]
    duplicate_writes: int
    duplicate_ids: list[Any]
    unexpected_writes: int
    indeterminate_writes: int
    verified: bool
    # Writes whose acknowledgement also confirmed a copy on a replica (e.g. Redis WAIT 1).
    replicated_writes: int = 0
    lost_replicated_writes: int = 0


@dataclass(frozen=True)
class SplitBrain:
    """Per node, the window in which it acknowledged writes; overlapping windows are split brain."""

    detected: bool
    nodes: dict[str, tuple[float, float]]
    overlaps: list[tuple[str, str, float, float]]


@dataclass(frozen=True)
class ProbeStats:
    """How much the probes did, and how regularly they issued operations."""

    ops: int
    ok: int
    errors: int
    probe_interval_s: float | None  # median
    probe_interval_p95_s: float | None
    probe_interval_max_s: float | None
    probe_interval_configured_s: float | None = None
    probe_ticks: int = 0  # ticks of the workers' grids: operations started plus ticks missed
    missed_ticks: int = 0  # ticks that passed while the worker's previous operation was in flight


@dataclass(frozen=True)
class Verdict:
    """pass | fail | unknown, why, and the numbers it was decided on."""

    verdict: str
    reasons: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in _SEVERITY:
            raise ValueError(f"verdict must be one of {sorted(_SEVERITY)}, got {self.verdict!r}")


def _completions(events: Iterable[Event]) -> list[Event]:
    return sorted((e for e in events if e.kind in _COMPLETIONS), key=lambda e: e.t)


def _ok_times(events: Iterable[Event]) -> list[float]:
    return sorted(e.t for e in events if e.kind == OK)


def _sorted_values(values: Iterable[Any]) -> list[Any]:
    # Ids are usually all ints or all strings; fall back to repr order for mixed types.
    vals = list(values)
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=repr)


def unavailability_s(events: Iterable[Event], injected_s: float, end_s: float) -> float:
    """Longest gap between successive successful completions among gaps ending after injection.

    The gap containing the injection starts at the last OK before it (what the client saw), or
    at the injection itself when there was none. The final gap runs from the last OK to end_s,
    so an outage still going on at the end is counted; pass the time the probes stopped as end_s.
    """
    oks = [t for t in _ok_times(events) if t <= end_s]
    before = [t for t in oks if t < injected_s]
    start = before[-1] if before else injected_s
    longest = 0.0
    for t in oks[len(before):]:
        longest = max(longest, t - start)
        start = t
    return max(longest, end_s - start)


def client_unavailability_s(events: Iterable[Event], injected_s: float, end_s: float) -> dict[str, float]:
    """unavailability_s seen by each probe worker (one client) on its own.

    Merged over all workers, a client stuck on a dead server is hidden by the others' successes;
    the worst single client is what an application with that connection string would see.
    """
    by_process: dict[str, list[Event]] = {}
    for e in events:
        if e.kind in _COMPLETIONS or e.kind == INVOKE:
            by_process.setdefault(e.process, []).append(e)
    return {p: unavailability_s(evs, injected_s, end_s) for p, evs in sorted(by_process.items())}


def sessions(events: Iterable[Event], injected_s: float, end_s: float) -> dict[str, Any]:
    """Client sessions (ZooKeeper-like): how many were lost after injection, and the longest
    time one client spent suspended (disconnected, session still alive) after injection."""
    lost = 0
    longest = 0.0
    suspended_since: dict[str, float] = {}
    for e in sorted(events, key=lambda e: e.t):
        if e.kind != SESSION:
            continue
        if e.value == "suspended":
            suspended_since.setdefault(e.process, e.t)
            continue
        start = suspended_since.pop(e.process, None)
        if start is not None and e.t >= injected_s:
            longest = max(longest, e.t - max(start, injected_s))
        if e.value == "lost" and e.t >= injected_s:
            lost += 1
    for start in suspended_since.values():  # still suspended at the end
        longest = max(longest, end_s - max(start, injected_s))
    return {"sessions_lost": lost, "suspended_max_s": longest}


def recovery_s(events: Iterable[Event], injected_s: float, end_s: float, settle_s: float) -> float | None:
    """Seconds from injection to the first success after which operations keep succeeding, or
    None when they never do for at least settle_s before end_s.

    "Keep succeeding" means through the end of observation: the candidate is the first OK after
    the last FAIL/INFO that completed after injection. An earlier run of success that later
    broke down (a primary that kept acknowledging until it was fenced, a flapping recovery) is
    not a recovery. Completion times are used: a request that failed after t_r is a failure the
    client saw after t_r.
    """
    done = [e for e in _completions(events) if e.t <= end_s]
    ok_times = [e.t for e in done if e.kind == OK]
    bad_after = [e.t for e in done if e.kind != OK and e.t >= injected_s]
    since = bad_after[-1] if bad_after else injected_s
    i = bisect_right(ok_times, since) if bad_after else bisect_left(ok_times, since)
    if i >= len(ok_times):
        return None
    t_r = ok_times[i]
    window_end = t_r + settle_s
    if window_end > end_s:
        return None
    next_ok = bisect_right(ok_times, t_r)
    if next_ok < len(ok_times) and ok_times[next_ok] <= window_end:
        return t_r - injected_s
    return None


def write_loss(events: Iterable[Event], present: Sequence[Any] | None) -> WriteLoss:
    """Compare acknowledged writes with the verification read (`present`, None if it failed)."""
    evs = list(events)
    acked = {e.value for e in evs if e.kind == OK and e.op == "write"}
    replicated = {e.value for e in evs if e.kind == OK and e.op == "write" and e.extra.get("replicated")}
    # Completions are included so a history whose invoke was lost is not flagged as corruption.
    written = {e.value for e in evs if e.op == "write" and e.kind in (INVOKE, *_COMPLETIONS)}
    indeterminate = sum(1 for e in evs if e.kind == INFO and e.op == "write")
    if present is None:
        return WriteLoss(len(acked), 0, [], 0, [], 0, indeterminate, verified=False,
                         replicated_writes=len(replicated))
    counts = Counter(present)
    lost = _sorted_values(acked - set(counts))
    duplicates = _sorted_values(v for v, n in counts.items() if n > 1)
    unexpected = [v for v in counts if v not in written]
    return WriteLoss(
        acked_writes=len(acked),
        lost_writes=len(lost),
        lost_ids=lost[:MAX_IDS],
        duplicate_writes=len(duplicates),
        duplicate_ids=duplicates[:MAX_IDS],
        unexpected_writes=len(unexpected),
        indeterminate_writes=indeterminate,
        verified=True,
        replicated_writes=len(replicated),
        lost_replicated_writes=len(replicated - set(counts)),
    )


def split_brain(events: Iterable[Event]) -> SplitBrain:
    """Detect two nodes acknowledging writes in overlapping windows (first to last ack each).

    Sharded systems (Redis Cluster) tag each acknowledgement with its shard (extra["shard"]):
    only nodes of the same shard are compared, since different shards have different primaries.
    A node that acknowledges again after a later failback spans the other node's window too,
    so experiments that fail back within one run will be reported as split brain.
    """
    windows: dict[tuple[Any, str], tuple[float, float]] = {}
    for e in sorted(events, key=lambda e: e.t):
        if e.kind != OK or e.op != "write" or e.node is None:
            continue
        key = (e.extra.get("shard"), e.node)
        first, _ = windows.get(key, (e.t, e.t))
        windows[key] = (first, e.t)
    overlaps: list[tuple[str, str, float, float]] = []
    keys = sorted(windows, key=lambda k: (str(k[0]), k[1]))
    for i, (shard_a, a) in enumerate(keys):
        for shard_b, b in keys[i + 1:]:
            if shard_a != shard_b:
                continue
            start = max(windows[(shard_a, a)][0], windows[(shard_b, b)][0])
            end = min(windows[(shard_a, a)][1], windows[(shard_b, b)][1])
            # Touching windows (end == start) are one ack handed over, not two primaries.
            if start < end:
                overlaps.append((a, b, start, end))
    nodes = {node if shard is None else f"{node} ({shard})": w for (shard, node), w in windows.items()}
    return SplitBrain(detected=bool(overlaps), nodes=nodes, overlaps=overlaps)


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    rank = math.ceil(0.95 * len(ordered))  # nearest-rank: always one of the observed values
    return ordered[max(rank, 1) - 1]


def probe_stats(events: Iterable[Event]) -> ProbeStats:
    """Counts of completions, the spacing of invokes per worker (median, p95, max: a stalled
    probe shows here) against the configured interval, and the ticks missed while an operation
    was still in flight."""
    evs = sorted(events, key=lambda e: e.t)
    completions = [e for e in evs if e.kind in _COMPLETIONS]
    ok = sum(1 for e in completions if e.kind == OK)
    configured = next((e.value.get("interval_s") for e in evs if e.kind == PHASE and e.op == "probe"
                       and isinstance(e.value, dict)), None)
    last_invoke: dict[str, float] = {}
    intervals: list[float] = []
    invokes = missed = 0
    for e in evs:
        if e.kind != INVOKE:
            continue
        invokes += 1
        missed += int(e.extra.get("missed_ticks", 0))
        if e.process in last_invoke:
            intervals.append(e.t - last_invoke[e.process])
        last_invoke[e.process] = e.t
    return ProbeStats(
        ops=len(completions),
        ok=ok,
        errors=len(completions) - ok,
        probe_interval_s=statistics.median(intervals) if intervals else None,
        probe_interval_p95_s=_p95(intervals) if intervals else None,
        probe_interval_max_s=max(intervals) if intervals else None,
        probe_interval_configured_s=configured,
        probe_ticks=invokes + missed,
        missed_ticks=missed,
    )


@dataclass(frozen=True)
class CheckpointObservation:
    """What a stream processor's coordinator answered about a running job (Flink: /jobs/<id> and
    its checkpoints): the job's state, its latest completed checkpoint and its latest restore."""

    now_ms: int                           # the coordinator's clock in the answer (orders answers)
    state: str
    running: bool
    completed: tuple[int, int] | None     # (checkpoint id, trigger timestamp ms)
    restored: tuple[int, int] | None      # (checkpoint id, restore timestamp ms)

    @property
    def checkpoint(self) -> int | None:
        """The newest checkpoint the job stands on."""
        ids = [c[0] for c in (self.completed, self.restored) if c]
        return max(ids) if ids else None


@dataclass(frozen=True)
class CheckpointAck:
    """An acknowledged probe operation: the checkpoint the running job stood on when it answered."""

    value: Any
    now_ms: int
    checkpoint: int | None
    trigger_ms: int | None    # of that checkpoint when it came from the latest completed one
    restore_ms: int | None    # the latest restore the answer showed (None: never restored)


def judge_checkpoints(acks: Sequence[CheckpointAck], observations: Sequence[CheckpointObservation],
                      mismatches: int | None = None, *, job_ended: str | None = None) -> dict[str, Any]:
    """Which acknowledged operations lost their checkpoint, and why.

    For a probe whose "writes" are checkpoints of a job's state (Flink): an ack is lost when
    (1) a restore newer than the one it saw went back to an older checkpoint than the one it
    acknowledged, (2) an answer from later (by the coordinator's clock) stood on an older
    checkpoint (the counter went backwards: a fresh job or lost HA metadata), (3) its checkpoint
    id reappeared with another trigger time (the counter was reset), (4) the job counted a record
    twice or not at all after recovery (mismatches > 0), or (5) the job ended (`job_ended`, its
    terminal state: FAILED, CANCELED, FINISHED), which takes its state with it.
    Returns the lost values (sorted), up to five distinct reasons, the newest acknowledged
    checkpoint, the restores seen and the mismatch count."""
    restores = sorted({o.restored for o in observations if o.restored}, key=lambda r: r[1])
    triggers: dict[int, set[int]] = {}
    for o in observations:
        if o.completed:
            triggers.setdefault(o.completed[0], set()).add(o.completed[1])
    lost: dict[Any, str] = {}
    for a in acks:
        if a.checkpoint is None:
            continue
        seen = a.restore_ms if a.restore_ms is not None else -1
        back = [r for r in restores if r[1] > seen and r[0] < a.checkpoint]
        if back:
            lost[a.value] = f"restored from checkpoint {back[0][0]} < acknowledged {a.checkpoint}"
            continue
        older = [o for o in observations if o.now_ms > a.now_ms and o.checkpoint is not None
                 and o.checkpoint < a.checkpoint]
        if older:
            lost[a.value] = f"checkpoint went back to {older[0].checkpoint} after acknowledged {a.checkpoint}"
            continue
        if a.trigger_ms is not None and triggers.get(a.checkpoint, set()) - {a.trigger_ms}:
            lost[a.value] = f"checkpoint id {a.checkpoint} reused (counter reset)"
            continue
        if mismatches:
            lost[a.value] = f"{mismatches} records counted against a restored position that did not match"
    reasons = sorted(set(lost.values()))[:5]
    if job_ended:
        ended = f"job {job_ended}: its state is gone"
        lost.update({a.value: ended for a in acks if a.checkpoint is not None and a.value not in lost})
        reasons = [ended, *reasons]
    acked_ids = [a.checkpoint for a in acks if a.checkpoint is not None]
    return {"lost": _sorted_values(lost), "reasons": reasons,
            "last_acked_checkpoint": max(acked_ids) if acked_ids else None,
            "restores": [{"id": r[0], "restore_ms": r[1]} for r in restores], "mismatches": mismatches}


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """fail beats unknown beats pass; every reason is kept, metrics are merged in order."""
    worst = PASS
    reasons: list[str] = []
    metrics: dict[str, Any] = {}
    for v in verdicts:
        if _SEVERITY[v.verdict] > _SEVERITY[worst]:
            worst = v.verdict
        reasons.extend(v.reasons)
        metrics.update(v.metrics)
    return Verdict(worst, tuple(reasons), metrics)


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _g(value: float) -> str:
    return f"{value:g}"


@dataclass
class _Measured:
    """What the checkers measured for one run (None where a checker crashed or found nothing)."""

    any_client: float | None
    per_client: dict[str, float] | None
    unavail: float | None
    recovery: float | None
    loss: WriteLoss | None
    brain: SplitBrain | None
    stats: ProbeStats | None
    session: dict[str, Any] | None
    crashed: set[str]


class _Findings(list):
    """The verdicts of one judgement, one reason each."""

    def unknown(self, reason: str) -> None:
        self.append(Verdict(UNKNOWN, (reason,)))

    def fail(self, reason: str) -> None:
        self.append(Verdict(FAIL_VERDICT, (reason,)))


def judge(
    events: Iterable[Event],
    *,
    injected_s: float,
    healed_s: float | None,
    end_s: float,
    slo: SLO,
    fault_proven: bool,
    present: Sequence[Any] | None,
) -> Verdict:
    """Run every checker and turn the numbers into one verdict, with a reason per finding.

    A crashed checker makes the verdict unknown (never pass); the other checkers still run.
    """
    evs = sorted(events, key=lambda e: e.t)
    findings = _Findings()
    m = _measure(evs, findings, injected_s=injected_s, end_s=end_s, slo=slo, present=present)
    if not fault_proven:
        findings.unknown("no proof the fault took effect")
    if not any(e.kind == OK and e.t < injected_s for e in evs):
        findings.unknown(f"no baseline: no successful operation before injection at {_g(injected_s)} s")
    _judge_availability(findings, m, slo, end_s=end_s)
    if m.loss is not None:
        _judge_loss(findings, m.loss, slo)
    _judge_consistency(findings, m, evs, slo, injected_s=injected_s, healed_s=healed_s, end_s=end_s)
    combined = combine(findings)
    return Verdict(combined.verdict, combined.reasons, _metrics(m))


def _measure(evs: Sequence[Event], findings: _Findings, *, injected_s: float, end_s: float, slo: SLO,
             present: Sequence[Any] | None) -> _Measured:
    crashed: set[str] = set()

    def run(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # a checker bug must not turn into a pass, nor hide the others
            crashed.add(name)
            findings.unknown(f"checker {name} crashed: {type(exc).__name__}: {exc}")
            return None

    # Looked up through the module so tests (and users) can substitute a checker.
    any_client = run("unavailability_s", lambda: unavailability_s(evs, injected_s, end_s))
    per_client = run("client_unavailability_s", lambda: client_unavailability_s(evs, injected_s, end_s))
    return _Measured(
        any_client=any_client,
        per_client=per_client,
        # The SLO bounds the worst client's outage; the merged figure is reported beside it.
        unavail=max(per_client.values()) if per_client else any_client,
        recovery=run("recovery_s", lambda: recovery_s(evs, injected_s, end_s, slo.settle_s)),
        loss=run("write_loss", lambda: write_loss(evs, present)),
        brain=run("split_brain", lambda: split_brain(evs)),
        stats=run("probe_stats", lambda: probe_stats(evs)),
        session=run("sessions", lambda: sessions(evs, injected_s, end_s)),
        crashed=crashed)


def _judge_availability(findings: _Findings, m: _Measured, slo: SLO, *, end_s: float) -> None:
    unavail, recovery = m.unavail, m.recovery
    if unavail is not None and slo.max_unavailability_s is not None and unavail > slo.max_unavailability_s:
        findings.fail(f"unavailability {unavail:.3f} s > max_unavailability_s {_g(slo.max_unavailability_s)}")
    # Only a recovery_s checker that ran and found nothing means "did not recover".
    if recovery is None and "recovery_s" not in m.crashed:
        findings.fail(
            f"did not recover (no sustained success for settle_s={_g(slo.settle_s)} s "
            f"before end at {_g(end_s)} s)"
        )
    elif recovery is not None and slo.max_recovery_s is not None and recovery > slo.max_recovery_s:
        findings.fail(f"recovery {recovery:.3f} s > max_recovery_s {_g(slo.max_recovery_s)}")


def _judge_loss(findings: _Findings, loss: WriteLoss, slo: SLO) -> None:
    if not loss.verified:
        findings.unknown("verification read failed: write loss cannot be judged")
        return
    if loss.acked_writes == 0:
        findings.unknown("no acknowledged writes: write loss cannot be judged")
        return
    if slo.max_lost_writes is not None and loss.lost_writes > slo.max_lost_writes:
        ids = ", ".join(map(str, loss.lost_ids[:10]))
        findings.fail(
            f"lost writes {loss.lost_writes} of {loss.acked_writes} acknowledged "
            f"> max_lost_writes {slo.max_lost_writes} (first ids: {ids})"
        )
    if (slo.max_lost_replicated_writes is not None
            and loss.lost_replicated_writes > slo.max_lost_replicated_writes):
        findings.fail(f"lost replicated writes {loss.lost_replicated_writes} of {loss.replicated_writes} "
                      f"confirmed on a replica > max_lost_replicated_writes {slo.max_lost_replicated_writes}")
    if slo.max_duplicate_writes is not None and loss.duplicate_writes > slo.max_duplicate_writes:
        ids = ", ".join(map(str, loss.duplicate_ids[:10]))
        findings.fail(
            f"duplicate writes {loss.duplicate_writes} > max_duplicate_writes "
            f"{slo.max_duplicate_writes} (first ids: {ids})"
        )
    if loss.unexpected_writes:
        # A value nobody wrote is corruption (or a stale table from another run).
        findings.fail(f"unexpected values read back: {loss.unexpected_writes} never written by the probes")


def _judge_consistency(findings: _Findings, m: _Measured, evs: Sequence[Event], slo: SLO, *,
                       injected_s: float, healed_s: float | None, end_s: float) -> None:
    brain, session = m.brain, m.session
    if brain is not None and brain.detected and not slo.allow_split_brain:
        a, b, start, end = brain.overlaps[0]
        findings.fail(
            f"split brain: {a} and {b} both acknowledged writes between {start:.3f} s and {end:.3f} s"
            + (f" (+{len(brain.overlaps) - 1} more overlaps)" if len(brain.overlaps) > 1 else "")
        )
    if (slo.recover_during_fault and not slo.expect_writes_refused and m.recovery is not None
            and healed_s is not None and injected_s + m.recovery > healed_s
            # A failover that held until the heal, followed by a failure after it (a rejoin
            # moving the leader back), is a failover: that late failure is the recovery bound's.
            and recovery_s(evs, injected_s, healed_s, slo.settle_s) is None):
        findings.fail(
            f"no failover while the fault held: operations recovered {injected_s + m.recovery - healed_s:.3f} s "
            f"after the heal at {_g(healed_s)} s (recover_during_fault is true)"
        )
    if session is not None and slo.max_sessions_lost is not None and session["sessions_lost"] > slo.max_sessions_lost:
        findings.fail(f"client sessions lost: {session['sessions_lost']} > max_sessions_lost {slo.max_sessions_lost}")
    if slo.expect_writes_refused:
        until_s = end_s if healed_s is None else healed_s
        accepted, effective_s = _writes_acked_during_fault(evs, injected_s, until_s)
        if accepted:
            findings.fail(
                f"{accepted} writes acknowledged after the fault took full effect at {_g(effective_s)} s and "
                f"before heal at {_g(until_s)} s; expect_writes_refused is true"
            )


def _metrics(m: _Measured) -> dict[str, Any]:
    loss, brain, stats, session = m.loss, m.brain, m.stats, m.session
    metrics: dict[str, Any] = {
        "unavailability_s": m.unavail,
        "unavailability_any_client_s": m.any_client,
        "client_unavailability_s": {p: _round(v) for p, v in (m.per_client or {}).items()},
        "recovery_s": m.recovery,
        "acked_writes": loss.acked_writes if loss else None,
        # An unverified read proves nothing: None, not a reassuring 0, in the trend data.
        "lost_writes": loss.lost_writes if loss and loss.verified else None,
        "duplicate_writes": loss.duplicate_writes if loss and loss.verified else None,
        "replicated_writes": loss.replicated_writes if loss else None,
        "lost_replicated_writes": loss.lost_replicated_writes if loss and loss.verified else None,
        "unexpected_writes": loss.unexpected_writes if loss and loss.verified else None,
        "indeterminate_writes": loss.indeterminate_writes if loss else None,
        "lost_ids": loss.lost_ids if loss else [],
        "duplicate_ids": loss.duplicate_ids if loss else [],
        "split_brain": brain.detected if brain else None,
        "split_brain_overlaps": [[a, b, _round(s), _round(e)] for a, b, s, e in brain.overlaps] if brain else [],
        "probe_interval_s": stats.probe_interval_s if stats else None,
        "probe_interval_p95_s": stats.probe_interval_p95_s if stats else None,
        "probe_interval_max_s": stats.probe_interval_max_s if stats else None,
        "probe_interval_configured_s": stats.probe_interval_configured_s if stats else None,
        "probe_ticks": stats.probe_ticks if stats else None,
        "missed_ticks": stats.missed_ticks if stats else None,
        "sessions_lost": session["sessions_lost"] if session else None,
        "session_suspended_max_s": session["suspended_max_s"] if session else None,
        "ops": stats.ops if stats else None,
        "errors": stats.errors if stats else None,
    }
    return {k: _round(v) for k, v in metrics.items()}


def _writes_acked_during_fault(events: Sequence[Event], injected_s: float, healed_s: float) -> tuple[int, float]:
    """Writes issued once the fault was in full effect and acknowledged before heal.

    The fault is in full effect when its proof is recorded: a fault of several steps (quorum
    loss holds down one pod after another) leaves a quorum between its first and last step, and
    a write sent then may legitimately be acknowledged. A write invoked before that had its
    quorum, so only writes the client sent into the complete fault count.
    """
    proofs = [e.t for e in events if e.kind == NEMESIS and e.op == "proof" and e.t >= injected_s]
    effective_s = min(proofs) if proofs else injected_s
    invoked_at: dict[tuple[str, Any], float] = {}
    count = 0
    for e in events:
        if e.op != "write":
            continue
        if e.kind == INVOKE:
            invoked_at[(e.process, e.value)] = e.t
        elif e.kind == OK and effective_s <= e.t <= healed_s:
            start = invoked_at.get((e.process, e.value))
            if start is None and e.latency_s is not None:
                start = e.t - e.latency_s
            if start is None or start >= effective_s:
                count += 1
    return count, effective_s
