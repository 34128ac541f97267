"""The run loop of one experiment: steady -> probe -> choose target -> inject and prove ->
hold -> heal -> observe -> verify -> judge -> results document.

Everything here composes platform, component, fault, probe and checkers; nothing here talks to
servers or runs commands directly.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from contextlib import nullcontext
from typing import Any, Callable, ContextManager

from . import checkers
from .catalog import Scenario
from .checkers import Verdict
from .components.base import Target
from .errors import HarnessError, NotSteady
from .faults import make_fault
from .results import Repeat, build_result, write_result
from .slo import SLO
from .targeting import choose
from .timeline import COMPLETIONS, INVOKE, OK, PHASE, Timeline
from .waits import poll_until

__all__ = ["RunSettings", "Outcome", "run_scenario"]


@dataclass(frozen=True)
class RunSettings:
    steady_timeout_s: float = 90.0
    warmup_s: float = 2.0  # the probe must succeed throughout this window before injection
    recovery_timeout_s: float = 90.0
    verify_timeout_s: float = 30.0
    probe_interval_s: float = 0.05


@dataclass
class Outcome:
    result: dict[str, Any]
    path: Path | None
    verdict: Verdict
    phases_s: dict[str, float] = field(default_factory=dict)

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


def _no_progress(label: str) -> ContextManager:
    return nullcontext()


def run_scenario(platform, component, scenario: Scenario, slo: SLO, *, seed: int, report_dir: Path | str,
                 run_id: str, settings: RunSettings = RunSettings(),
                 log: Callable[[str], None] = lambda m: None,
                 progress: Callable[[str], ContextManager] = _no_progress,
                 repeat: Repeat | None = None) -> Outcome:
    """Run one experiment end to end and write its results document. `progress(label)` wraps
    each long step (e.g. chaos.progress.Progress, to show it live). `repeat` says which of a
    repeated experiment's runs this is (each has its own seed, probe key and results directory)."""
    phases: dict[str, float] = {}
    wall_start = datetime.now(timezone.utc)
    t_start = time.monotonic()

    def phase(name: str, t0: float) -> None:
        phases[name] = round(phases.get(name, 0.0) + time.monotonic() - t0, 3)

    # 1. Steady before anything.
    t0 = time.monotonic()
    with progress(f"{scenario.key}: waiting for {component.deployment} to be steady"):
        # prepare() may restore the designed topology first (e.g. Redis masters back to one per
        # zone after an earlier failover); never during the experiment itself.
        component.prepare(settings.steady_timeout_s, log=log)
    phase("steady_wait", t0)

    timeline = Timeline()
    probe_key = f"{scenario.key}@{run_id}" + (f"-{repeat.index}" if repeat and repeat.of > 1 else "")
    probe = component.probe(timeline, probe_key, interval_s=settings.probe_interval_s)
    fault = None
    target: Target | None = None
    injected_s = healed_s = None
    recovered = False
    not_steady: str | None = None
    error: BaseException | None = None
    try:
        # 2. Probe and baseline: operations succeed throughout the warm-up window.
        t0 = time.monotonic()
        probe.start()
        timeline.record(PHASE, "harness", "warmup")
        with progress(f"{scenario.key}: warm-up"):
            warmed = poll_until(lambda: _sustained_success(timeline, 0.0, settings.warmup_s),
                                settings.steady_timeout_s)
        if not warmed:
            raise HarnessError(f"{scenario.key}: the probe did not succeed steadily for {settings.warmup_s} s "
                               f"before injection: {checkers.probe_stats(timeline.events)}")
        phase("warmup", t0)

        # 3. Target, chosen by role with the run's seed.
        rng = random.Random(seed)
        target = choose(component.targets(), scenario.role, rng)
        log(f"{scenario.key}: target {target.pod} on {target.node} (zone {target.zone}, {target.role}), seed {seed}")

        # 4-6. Inject, prove, hold, heal (the context manager heals on any exit).
        fault = make_fault(scenario.fault, platform, target, timeline, **scenario.params)
        t0 = time.monotonic()
        with fault:
            phase("inject", t0)
            injected_s = fault.injected_s
            log(f"{scenario.key}: injected {fault.describe()}; proven={fault.proven}")
            t0 = time.monotonic()
            with progress(f"{scenario.key}: fault hold"):
                if scenario.fault == "kill":
                    # Hold until failover: sustained success again, at most hold_s.
                    poll_until(lambda: _sustained_success(timeline, injected_s, slo.settle_s), scenario.hold_s)
                else:
                    time.sleep(scenario.hold_s)
            phase("fault_hold", t0)
            t0 = time.monotonic()
        phase("heal", t0)
        healed_s = fault.healed_s
        log(f"{scenario.key}: healed after {healed_s - injected_s:.1f} s")

        # 7. Observe until steady again: the probe succeeds for settle_s and the component is
        # back to its steady shape (all replicas, one primary), or the recovery timeout.
        t0 = time.monotonic()
        with progress(f"{scenario.key}: recovery"):
            recovery_timeout_s = scenario.recovery_timeout_s or settings.recovery_timeout_s
            deadline = time.monotonic() + recovery_timeout_s
            recovered = poll_until(lambda: _sustained_success(timeline, healed_s, slo.settle_s), recovery_timeout_s)
            not_steady = None if recovered else "the probe never succeeded steadily after heal"
            if recovered:
                try:
                    component.wait_steady(max(1.0, deadline - time.monotonic()), log=log)
                    # Keep observing after steadiness until operations have kept succeeding for
                    # settle_s (a rejoin can disturb clients), up to the recovery deadline.
                    steady_at = timeline.now()
                    poll_until(lambda: _sustained_success(timeline, steady_at, slo.settle_s)
                               and _no_operation_in_flight(timeline),
                               max(slo.settle_s + 5, deadline - time.monotonic()), poll_s=0.01)
                except NotSteady as exc:
                    recovered = False
                    not_steady = "; ".join(exc.problems)
                    log(f"{scenario.key}: not steady after heal: {exc}")
        phase("recovery", t0)
    except BaseException as exc:
        error = exc
    finally:
        probe.stop()
    end_s = timeline.now()

    if isinstance(error, (KeyboardInterrupt, SystemExit)):
        raise error
    if error is not None and injected_s is None:
        # Nothing was injected: this is the harness's or the setup's failure, not a verdict.
        raise error

    # 8. Verification read of every acknowledged write.
    t0 = time.monotonic()
    present = component.verify(probe_key, settings.verify_timeout_s)
    phase("verify", t0)

    # 9. Checkers -> verdict -> results document.
    t_judge = time.monotonic()
    verdict = checkers.judge(timeline.events, injected_s=injected_s, healed_s=healed_s, end_s=end_s, slo=slo,
                             fault_proven=bool(fault and fault.proven), present=present)
    if error is not None:
        verdict = checkers.combine([verdict, Verdict("unknown", (f"run interrupted: {error}",))])
    elif not_steady:
        # The system under test did not return to its steady shape (e.g. two primaries) within
        # the recovery timeout: whatever the clients saw, that is a failure.
        verdict = checkers.combine([verdict, Verdict("fail", (
            f"not steady {scenario.recovery_timeout_s or settings.recovery_timeout_s:.0f} s after heal: "
            f"{not_steady}",))])
    # Harness overhead: everything but waiting for the system (warm-up, hold, recovery, verify):
    # steadiness checks, target choice, inject and proof, heal, judging. (Writing the files
    # afterwards takes milliseconds and is not included.)
    phases["judge"] = round(time.monotonic() - t_judge, 3)
    phases["total"] = round(time.monotonic() - t_start, 3)
    waits = ("warmup", "fault_hold", "recovery", "verify")
    phases["overhead"] = round(phases["total"] - sum(phases.get(k, 0.0) for k in waits), 3)
    proof = dict(fault.proof) if fault else {}
    proof["proven"] = bool(fault and fault.proven)
    if fault and fault.heal_result:
        proof["heal"] = fault.heal_result
    result = build_result(
        experiment=scenario.key, component=scenario.component, fault=scenario.fault, platform=platform.name,
        seed=seed, target=target.to_dict() if target else {}, proof=proof, config=component.config(),
        windows={"injected_s": injected_s, "healed_s": healed_s, "end_s": round(end_s, 3)},
        verdict=verdict, slo=slo, started_at=wall_start,
        extra={"run_id": run_id, **({"repeat": repeat.to_dict()} if repeat and repeat.of > 1 else {}),
               "phases_s": phases, "description": scenario.description,
               "negative_control": scenario.negative_control, "recovered_steady": recovered,
               "acked_by": _acked_by(timeline)})
    path = write_result(report_dir, result, timeline.events)
    return Outcome(result, path, verdict, phases)


def _acked_by(timeline: Timeline) -> dict[str, int]:
    """How many writes each server acknowledged (servers are named by pod)."""
    counts: dict[str, int] = {}
    for e in timeline.events:
        if e.kind == OK and e.node:
            counts[e.node] = counts.get(e.node, 0) + 1
    return counts
