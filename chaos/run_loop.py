"""The run loop of one experiment: steady -> probe -> choose target -> inject and prove ->
hold -> heal -> observe -> verify -> judge -> results document.

Everything here composes platform, component, fault, probe and checkers; nothing here talks to
servers or runs commands directly.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, ContextManager

from . import checkers
from .catalog import Scenario
from .checkers import Verdict
from .components.base import Target
from .errors import HarnessError, NotSteady
from .faults import make_composite, make_fault
from .predictions import assess, fault_class
from .results import Repeat, build_result, write_result
from .slo import SLO
from .targeting import ANY_ROLE, choose
from .timeline import COMPLETIONS, INVOKE, OK, PHASE, Timeline
from .probe import DEFAULT_INTERVAL_S
from .waits import poll_until

__all__ = ["RunSettings", "Outcome", "FaultContext", "run_scenario"]


@dataclass(frozen=True)
class RunSettings:
    steady_timeout_s: float = 90.0
    warmup_s: float = 2.0  # the probe must succeed throughout this window before injection
    recovery_timeout_s: float = 90.0
    verify_timeout_s: float = 30.0
    probe_interval_s: float = DEFAULT_INTERVAL_S


@dataclass
class Outcome:
    result: dict[str, Any]
    path: Path | None
    verdict: Verdict
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """The verdict is a pass (a fail and an unknown are not)."""
        return self.verdict.verdict == checkers.PASS

    @property
    def metrics(self) -> dict[str, Any]:
        return self.result["metrics"]

    @property
    def message(self) -> str:
        m = self.result["metrics"]
        return (f"{self.result['experiment']}: {self.verdict.verdict} "
                f"(unavailability {m.get('unavailability_s')} s, recovery {m.get('recovery_s')} s, "
                f"lost {m.get('lost_writes')} of {m.get('acked_writes')} acknowledged writes)"
                + "".join(f"\n  - {r}" for r in self.verdict.reasons))


def _sustained_success(timeline: Timeline, since_s: float, settle_s: float) -> bool:
    """Have operations kept succeeding for settle_s since their last failure after `since_s`?

    The same rule the recovery checker applies afterwards, so the run loop never stops observing
    at a moment the checker would call "not recovered yet"."""
    return checkers.recovery_s(timeline.events, since_s, timeline.now(), settle_s) is not None


def _no_operation_in_flight(timeline: Timeline) -> bool:
    """Every probe worker's last operation has completed. Stopping the probe while one hangs
    would record its timeout after the run loop judged the clients recovered: the checker would
    then see a failure at the very end and no success after it."""
    last: dict[str, str] = {}
    for e in list(timeline.events):
        if e.kind == INVOKE or e.kind in COMPLETIONS:
            last[e.process] = e.kind
    return all(kind != INVOKE for kind in last.values())


def _failed_over(timeline: Timeline, since_s: float, settle_s: float) -> bool:
    """The clients are served again: operations have kept succeeding for settle_s since their last
    failure after `since_s` (the checker's rule), and every probe worker has completed an
    operation it started after that failure. Workers run one operation at a time, so none is
    still waiting on the lost server: an operation sent there before the failover would otherwise
    fail after a hold that ended on the other workers' successes, and the checker would see that
    failure while the fault was being healed ("no failover while the fault held")."""
    if not _sustained_success(timeline, since_s, settle_s):
        return False
    events = list(timeline.events)
    last_bad = max((e.t for e in events if e.kind in COMPLETIONS and e.kind != OK and e.t >= since_s),
                   default=since_s)
    workers = {e.process for e in events if e.kind == INVOKE}
    served = {e.process for e in events
              if e.kind == OK and e.latency_s is not None and e.t - e.latency_s >= last_bad}
    return workers <= served


class _FailoverWatch:
    """When a hold may end before its full time: the component has failed over and the clients
    are served again (`_failed_over`).

    A killed server cannot serve, so served clients are the proof. Any other fault (drain,
    crash, partition) also waits until another pod has taken the target's role (from the
    component's roles, read at most once a second once the clients are served), then for
    settle_s of served clients after that: a partitioned primary the clients still reach would
    otherwise look recovered before anything failed over, and the writes it acknowledged alone
    would never be put to the test. Roles are read in a thread of their own, so a component whose
    lost server stalls its queries (Kafka's admin client, tens of seconds) cannot stretch the
    hold past its time: a reading still running when the hold ends is left to finish unheard."""

    def __init__(self, component, target: Target, roles_before: dict[str, str], kill: bool,
                 timeline: Timeline, injected_s: float, settle_s: float):
        self.component, self.target, self.roles_before, self.kill = component, target, roles_before, kill
        self.timeline, self.injected_s, self.settle_s = timeline, injected_s, settle_s
        self.moved_at: float | None = None
        self.reading: threading.Thread | None = None
        self._asked = float("-inf")
        self._moved = threading.Event()  # set by a reading that saw the role elsewhere

    def _read_roles(self) -> None:
        try:
            now = self.component.targets()
        except Exception:  # roles unreadable while the fault holds: not proof of anything
            return
        if any(t.role == self.target.role and t.pod != self.target.pod
               and self.roles_before.get(t.pod) != self.target.role for t in now):
            self._moved.set()

    def __call__(self) -> bool:
        since = self.injected_s if self.moved_at is None else self.moved_at
        if not _failed_over(self.timeline, since, self.settle_s):
            return False
        if self.kill or self.moved_at is not None:
            return True
        if self._moved.is_set():
            self.moved_at = self.timeline.now()  # counted from when the hold learns of it
            return False
        idle = self.reading is None or not self.reading.is_alive()
        if idle and time.monotonic() - self._asked >= 1.0:
            self._asked = time.monotonic()
            self.reading = threading.Thread(target=self._read_roles, name="hold-roles", daemon=True)
            self.reading.start()
        return False


def _full_hold(scenario: Scenario, slo: SLO) -> bool:
    """Holds that keep their whole time: where no failover is expected (writes refused, the
    SLO does not ask for one, a negative control), a scenario's own `during` code, and a
    composite fault."""
    return (not slo.recover_during_fault or slo.expect_writes_refused or scenario.negative_control
            or scenario.during is not None or bool(scenario.parts))


def _settled(timeline: Timeline, probe, since_s: float, settle_s: float) -> bool:
    """Sustained success since `since_s` and no operation in flight. Workers whose operations
    take longer than the probe's interval run them back to back, so there is rarely a moment
    with none in flight: then the probe starts nothing new until those in flight have completed
    (a hung one is cut at its deadline), and the rule is judged again on what they returned. If
    it fails (an operation in flight failed), the probe resumes and observing goes on."""
    if not _sustained_success(timeline, since_s, settle_s):
        return False
    if _no_operation_in_flight(timeline):
        return True
    probe.pause(probe.op_timeout_s + 1.0)
    if _no_operation_in_flight(timeline) and _sustained_success(timeline, since_s, settle_s):
        return True
    probe.resume()
    return False


def _no_progress(label: str) -> ContextManager:
    return nullcontext()


class _Phases(dict):
    """Seconds spent per step of the run loop (results' phases_s)."""

    @contextmanager
    def timed(self, name: str):
        t0 = time.monotonic()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.monotonic() - t0, 3)

    def close(self, t_start: float) -> None:
        """Total, and the harness's overhead: everything but waiting for the system (warm-up,
        hold, recovery, verify): steadiness checks, target choice, inject and proof, heal,
        judging. (Writing the files afterwards takes milliseconds and is not included.)"""
        self["total"] = round(time.monotonic() - t_start, 3)
        waits = ("warmup", "fault_hold", "recovery", "verify")
        self["overhead"] = round(self["total"] - sum(self.get(k, 0.0) for k in waits), 3)


@dataclass
class _Observed:
    """What the fault steps of one run saw."""

    fault: Any = None
    target: Target | None = None
    roles_before: dict[str, str] = field(default_factory=dict)  # pod -> role, read to choose the target
    injected_s: float | None = None
    healed_s: float | None = None
    recovered: bool = False
    recovery_timeout_s: float | None = None
    not_steady: str | None = None
    error: BaseException | None = None
    during_error: Exception | None = None  # what the scenario's `during` raised


def _warm_up(scenario: Scenario, timeline: Timeline, settings: RunSettings, progress) -> None:
    """The probe succeeds steadily for warmup_s before anything is injected."""
    timeline.record(PHASE, "harness", "warmup")
    with progress(f"{scenario.key}: warm-up"):
        warmed = poll_until(lambda: _sustained_success(timeline, 0.0, settings.warmup_s), settings.steady_timeout_s)
    if not warmed:
        raise HarnessError(f"{scenario.key}: the probe did not succeed steadily for {settings.warmup_s} s "
                           f"before injection: {checkers.probe_stats(timeline.events)}")


@dataclass(frozen=True)
class FaultContext:
    """What a function run while the fault holds (an experiment's `during`) may use."""

    target: Target
    component: Any
    platform: Any
    proof: dict[str, Any]
    timeline: Timeline


def _run_during(scenario: Scenario, seen: _Observed, ctx: FaultContext, log) -> None:
    """The scenario's own code, while the fault holds. What it raises is kept for the verdict
    (Ctrl-C still stops the run): the fault holds its time and the run goes on as usual."""
    ctx.timeline.record(PHASE, "harness", "during")
    try:
        scenario.during(ctx)
    except Exception as exc:
        seen.during_error = exc
        log(f"{scenario.key}: during raised {type(exc).__name__}: {exc}")


def _inject_and_hold(platform, scenario: Scenario, slo: SLO, seen: _Observed, timeline: Timeline,
                     phases: _Phases, log, progress, component=None) -> None:
    """Inject, prove, run the scenario's `during` if any, hold, heal (the fault's context
    manager heals on any exit, the hook's exceptions included)."""
    fault = seen.fault
    t0 = time.monotonic()
    with fault:
        phases["inject"] = round(time.monotonic() - t0, 3)
        seen.injected_s = injected_s = fault.injected_s
        log(f"{scenario.key}: injected {fault.describe()}; proven={fault.proven}")
        with phases.timed("fault_hold"), progress(f"{scenario.key}: fault hold"):
            hold_until = time.monotonic() + scenario.hold_s
            if scenario.during is not None:
                _run_during(scenario, seen, FaultContext(seen.target, component, platform, dict(fault.proof),
                                                         timeline), log)
            left_s = max(0.0, hold_until - time.monotonic())
            if _full_hold(scenario, slo):
                time.sleep(left_s)
            elif poll_until(_FailoverWatch(component, seen.target, seen.roles_before, scenario.fault == "kill",
                                           timeline, injected_s, slo.settle_s), left_s, poll_s=0.05):
                log(f"{scenario.key}: failed over and clients served for {slo.settle_s:g} s: hold ends")
        t0 = time.monotonic()
    phases["heal"] = round(time.monotonic() - t0, 3)
    seen.healed_s = fault.healed_s
    log(f"{scenario.key}: healed after {seen.healed_s - seen.injected_s:.1f} s")


def _recovery_timeout(scenario: Scenario, component, settings: RunSettings) -> float:
    """How long to wait after the heal: the scenario's own timeout, else the component's (one
    whose nodes take longer to come back), else the run's."""
    return (scenario.recovery_timeout_s or getattr(component, "recovery_timeout_s", None)
            or settings.recovery_timeout_s)


def _observe_recovery(component, probe, scenario: Scenario, slo: SLO, seen: _Observed, timeline: Timeline,
                      settings: RunSettings, log, progress) -> None:
    """Observe until steady again: the component is back to its steady shape (all replicas, one
    primary), and after that the probe has succeeded for settle_s with nothing in flight (a
    rejoin can disturb clients), or the recovery timeout. The shape is watched from the heal on,
    while the clients recover, so the two waits overlap instead of adding up."""
    with progress(f"{scenario.key}: recovery"):
        seen.recovery_timeout_s = recovery_timeout_s = _recovery_timeout(scenario, component, settings)
        deadline = time.monotonic() + recovery_timeout_s
        try:
            component.wait_steady(recovery_timeout_s, log=log)
        except NotSteady as exc:
            seen.recovered = False
            seen.not_steady = "; ".join(exc.problems)
            log(f"{scenario.key}: not steady after heal: {exc}")
            return
        steady_at = timeline.now()
        seen.recovered = poll_until(lambda: _settled(timeline, probe, steady_at, slo.settle_s),
                                    max(slo.settle_s + 5, deadline - time.monotonic()), poll_s=0.01)
        seen.not_steady = None if seen.recovered else "the probe never succeeded steadily after heal"


def _verdict(scenario: Scenario, slo: SLO, seen: _Observed, timeline: Timeline, end_s: float,
             present, settings: RunSettings) -> Verdict:
    """The checkers' verdict, made unknown by an interrupted run and failed by a system that did
    not return to its steady shape (e.g. two primaries) within the recovery timeout, whatever
    the clients saw."""
    fault = seen.fault
    verdict = checkers.judge(timeline.events, injected_s=seen.injected_s, healed_s=seen.healed_s, end_s=end_s,
                             slo=slo, fault_proven=bool(fault and fault.proven), present=present)
    if seen.during_error is not None:
        # A failed assertion is a failed check; any other exception broke the check itself.
        failed = isinstance(seen.during_error, AssertionError)
        verdict = checkers.combine([verdict, Verdict("fail" if failed else "unknown", (
            f"during {'check failed' if failed else 'raised'}: {type(seen.during_error).__name__}: "
            f"{seen.during_error}",))])
    if seen.error is not None:
        return checkers.combine([verdict, Verdict("unknown", (f"run interrupted: {seen.error}",))])
    if seen.not_steady:
        return checkers.combine([verdict, Verdict("fail", (
            f"not steady {seen.recovery_timeout_s or settings.recovery_timeout_s:.0f} s after heal: "
            f"{seen.not_steady}",))])
    return verdict


def _make_fault(platform, component, scenario: Scenario, timeline: Timeline, seed: int, log,
                steady_timeout_s: float = RunSettings.steady_timeout_s, roles: dict[str, str] | None = None):
    """The scenario's fault on targets chosen from one reading of the component's roles (for a
    composite: each part's, in order); that reading goes into `roles` (pod -> role) if given."""
    rng, now = random.Random(seed), component.targets()
    if roles is not None:
        roles.update({t.pod: t.role for t in now})
    parts, taken = [], set()
    for kind, aim, params in scenario.parts or ((scenario.fault, scenario.role, scenario.params),):
        # A pod no earlier part took, where the role has one (a rolling drain moves on); else the
        # same pod (the one leader, partitioned and then killed).
        fresh = [t for t in now if t.pod not in taken]
        target = choose(fresh if any(aim in (t.role, ANY_ROLE) for t in fresh) else now, aim, rng)
        taken.add(target.pod)
        log(f"{scenario.key}: {kind} target {target.pod} on {target.node} (zone {target.zone}, {target.role}), "
            f"seed {seed}")
        parts.append(make_fault(kind, platform, target, timeline, **params))
    if not scenario.parts:
        return parts[0]
    extra = {"between": lambda: component.wait_steady(steady_timeout_s, log=log)} \
        if scenario.fault == "sequence" else {}
    return make_composite(scenario.fault, platform, parts, timeline, **scenario.params, **extra)


def run_scenario(platform, component, scenario: Scenario, slo: SLO, *, seed: int, report_dir: Path | str,
                 run_id: str, settings: RunSettings = RunSettings(),
                 log: Callable[[str], None] = lambda m: None,
                 progress: Callable[[str], ContextManager] = _no_progress,
                 repeat: Repeat | None = None) -> Outcome:
    """Run one experiment end to end and write its results document. `progress(label)` wraps
    each long step (e.g. chaos.progress.Progress, to show it live). `repeat` says which of a
    repeated experiment's runs this is (each has its own seed, probe key and results directory)."""
    phases = _Phases()
    wall_start = datetime.now(timezone.utc)
    t_start = time.monotonic()

    # 1. Steady before anything. prepare() may restore the designed topology first (e.g. Redis
    # masters back to one per zone after an earlier failover); never during the experiment itself.
    with phases.timed("steady_wait"), progress(f"{scenario.key}: waiting for {component.deployment} to be steady"):
        component.prepare(settings.steady_timeout_s, log=log)

    timeline = Timeline()
    probe_key = f"{scenario.key}@{run_id}" + (f"-{repeat.index}" if repeat and repeat.of > 1 else "")
    probe = component.probe(timeline, probe_key, interval_s=settings.probe_interval_s)
    seen = _Observed()
    try:
        # 2. Probe and baseline: operations succeed throughout the warm-up window.
        with phases.timed("warmup"):
            probe.start()
            _warm_up(scenario, timeline, settings, progress)
        # 3. Target (each part's, for a composite fault), chosen by role with the run's seed.
        seen.fault = _make_fault(platform, component, scenario, timeline, seed, log, settings.steady_timeout_s,
                                 seen.roles_before)
        seen.target = seen.fault.target
        # 4-6. Inject, prove, hold, heal.
        _inject_and_hold(platform, scenario, slo, seen, timeline, phases, log, progress, component)
        # 7. Observe until steady again.
        with phases.timed("recovery"):
            _observe_recovery(component, probe, scenario, slo, seen, timeline, settings, log, progress)
    except BaseException as exc:
        seen.error = exc
    finally:
        probe.stop()
    end_s = timeline.now()

    if isinstance(seen.error, (KeyboardInterrupt, SystemExit)):
        raise seen.error
    if seen.error is not None and seen.injected_s is None:
        # Nothing was injected: this is the harness's or the setup's failure, not a verdict.
        raise seen.error

    # 8. Verification read of every acknowledged write.
    with phases.timed("verify"):
        present = component.verify(probe_key, settings.verify_timeout_s)

    # 9. Checkers -> verdict -> results document.
    with phases.timed("judge"):
        verdict = _verdict(scenario, slo, seen, timeline, end_s, present, settings)
    phases.close(t_start)
    fault = seen.fault
    proof = dict(fault.proof) if fault else {}
    proof["proven"] = bool(fault and fault.proven)
    if fault and fault.heal_result:
        proof["heal"] = fault.heal_result
    result = build_result(
        experiment=scenario.key, component=scenario.component, fault=scenario.fault, platform=platform.name,
        seed=seed, target=seen.target.to_dict() if seen.target else {}, proof=proof, config=component.config(),
        windows={"injected_s": seen.injected_s, "healed_s": seen.healed_s, "end_s": round(end_s, 3)},
        verdict=verdict, slo=slo, started_at=wall_start,
        extra={"run_id": run_id, **({"repeat": repeat.to_dict()} if repeat and repeat.of > 1 else {}),
               "phases_s": dict(phases), "description": scenario.description,
               "negative_control": scenario.negative_control, "recovered_steady": seen.recovered,
               "acked_by": _acked_by(timeline),
               "prediction": _prediction(component, scenario, seen, timeline, verdict)})
    path = write_result(report_dir, result, timeline.events)
    return Outcome(result, path, verdict, dict(phases))


def _prediction(component, scenario: Scenario, seen: _Observed, timeline: Timeline,
                verdict: Verdict) -> dict[str, Any] | None:
    """The failover the component's settings predict for this fault on this target, beside the
    measured unavailability and, when far from it, what the pods' logs say (chaos.predictions)."""
    predict = getattr(component, "predict", None)  # a component without a model of its failover
    if predict is None or seen.target is None or seen.injected_s is None:
        return None
    prediction = predict(fault_class(scenario.fault), seen.target.role)
    return assess(prediction, verdict.metrics.get("unavailability_s"), markers=component.failover_log,
                  logs=component.pod_logs(), injected_wall=timeline.wall(seen.injected_s),
                  until_wall=timeline.wall(timeline.now()))


def _acked_by(timeline: Timeline) -> dict[str, int]:
    """How many writes each server acknowledged (servers are named by pod)."""
    counts: dict[str, int] = {}
    for e in timeline.events:
        if e.kind == OK and e.node:
            counts[e.node] = counts.get(e.node, 0) + 1
    return counts
