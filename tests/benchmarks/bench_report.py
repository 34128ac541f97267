"""Benchmark (prints numbers; not a test): HTML report generation for a suite of 40 experiments
with one hour of timeline each (4 clients x 20 ops/s x 3600 s = 288k completions + 288k invokes).

Targets: generation under 10 s, report under 5 MB.
Usage: python tests/benchmarks/bench_report.py [--experiments 40] [--hours 1] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chaos.checkers import judge
from chaos.results import build_result, result_dir, write_result
from chaos.slo import SLO
from chaos.timeline import FAIL, INFO, INVOKE, NEMESIS, OK, Event

TARGET_S = 10.0
TARGET_BYTES = 5 * 1024 * 1024
CLIENTS, RATE_HZ = 4, 20
FAULTS = ("kill", "drain", "crash", "partition")
# Distinct synthetic timelines; the other experiments reuse their files (each is still read,
# scanned and charted separately), which keeps the setup at seconds instead of minutes.
TEMPLATES = 4


def synth_events(duration_s: float, injected_s: float, outage_s: float, seed: int) -> list[Event]:
    """Four clients writing every 50 ms; fail fast, then indeterminate timeouts, during the outage."""
    rng = random.Random(seed)
    events = [Event(injected_s, NEMESIS, "nemesis", "inject", "synthetic fault")]
    value = 0
    for c in range(CLIENTS):
        process = f"w{c}"
        t = rng.random() / RATE_HZ
        while t < duration_s:
            value += 1
            latency = 0.002 + rng.random() * 0.01
            if injected_s <= t < injected_s + outage_s:
                kind, latency = (INFO, 1.0) if rng.random() < 0.2 else (FAIL, latency)
            else:
                kind = OK
            events.append(Event(t, INVOKE, process, "write", value))
            events.append(Event(t + latency, kind, process, "write", value, node="postgres-0",
                                error=None if kind == OK else "OperationalError: connection refused",
                                latency_s=round(latency, 6)))
            t += 1 / RATE_HZ
    events.append(Event(injected_s + 60, NEMESIS, "nemesis", "heal", "synthetic fault"))
    return events


def build_suite(root: Path, experiments: int, duration_s: float) -> None:
    slo = SLO(max_unavailability_s=30, max_lost_writes=0)
    template_files: list[Path] = []
    template_verdicts = []
    for i in range(experiments):
        component = f"comp{i // len(FAULTS)}"
        fault = FAULTS[i % len(FAULTS)]
        tpl = i % TEMPLATES
        injected = duration_s / 2
        events = None
        if i < TEMPLATES:
            events = synth_events(duration_s, injected, 4.0 + 3 * tpl, seed=tpl)
            template_verdicts.append(judge(events, injected_s=injected, healed_s=injected + 60, end_s=duration_s,
                                           slo=slo, fault_proven=True,
                                           present=[e.value for e in events if e.kind == OK]))
        verdict = template_verdicts[tpl]
        result = build_result(
            experiment=f"{component}/{fault}-{i}", component=component, fault=fault, platform="synthetic",
            seed=i, target={"pod": f"{component}-0", "node": "node-a", "zone": "a", "role": "primary"},
            proof={"proven": True}, config={"synthetic": True},
            windows={"injected_s": injected, "healed_s": injected + 60, "end_s": duration_s},
            verdict=verdict, slo=slo,
        )
        if events is not None:
            write_result(root, result, events)
            template_files.append(result_dir(root, result) / "timeline.jsonl")
        else:
            write_result(root, result, [])
            shutil.copyfile(template_files[tpl], result_dir(root, result) / "timeline.jsonl")


def main(argv: list[str] | None = None) -> int:
    from chaos.report import write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=40)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic report directory")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="chaos-bench-report-"))
    try:
        t0 = time.perf_counter()
        build_suite(root, args.experiments, args.hours * 3600)
        setup_s = time.perf_counter() - t0
        timeline_bytes = sum(p.stat().st_size for p in root.rglob("timeline.jsonl"))
        print(f"setup: {args.experiments} experiments, {timeline_bytes / 1e6:.0f} MB of timelines in {setup_s:.1f} s")
        t0 = time.perf_counter()
        out = write_report(root)
        took = time.perf_counter() - t0
        size = out.stat().st_size
        print(f"report generation: {took:.2f} s (target < {TARGET_S:g} s) {'OK' if took < TARGET_S else 'SLOW'}")
        print(f"report size:       {size / 1e6:.2f} MB (target < {TARGET_BYTES / 2**20:g} MB) "
              f"{'OK' if size < TARGET_BYTES else 'TOO LARGE'}")
        print(f"report:            {out}" if args.keep else "")
        return 0 if took < TARGET_S and size < TARGET_BYTES else 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
