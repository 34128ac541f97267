"""Pure data shaping for the HTML report: results documents and timelines in, plain values out.

No HTML here, and no metric is recomputed differently from chaos.checkers: the unavailability
span is located with the checkers' own rule, and tests assert its length equals their figure.

Regression rule (the trend section). Each run contributes a *distribution* per metric
(unavailability_s, recovery_s): its values over the experiment's repeats (`chaos run --repeat N`),
or its single value. The current run's metric is flagged when its median is *clearly* worse than
the earlier runs' pooled values, that is when all of these hold:
  - at least REGRESSION_MIN_RUNS (3) earlier runs have a value for it;
  - the pooled values are those of the last REGRESSION_WINDOW (7) such runs;
  - current median > pooled median * REGRESSION_RATIO (1.5);
  - current median - pooled median > REGRESSION_MIN_DELTA_S (1.0 s): a noise floor, so 0.05 s ->
    0.2 s on a standby kill is not a regression;
  - current median > the pooled values' 95th percentile: a value the earlier runs themselves
    reached now and then is the experiment's normal spread, not a regression.
A verdict that went from pass (in the most recent earlier run that has the experiment) to fail
or unknown is always flagged, whatever the numbers; a run's verdict is its worst repeat's.
"""

from __future__ import annotations

import math
import re
import statistics
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from chaos.checkers import FAIL_VERDICT, PASS, UNKNOWN, client_unavailability_s
from chaos.timeline import FAIL, INFO, OK, Event

__all__ = [
    "MAX_BUCKETS",
    "REGRESSION_RATIO",
    "REGRESSION_MIN_DELTA_S",
    "REGRESSION_MIN_RUNS",
    "REGRESSION_WINDOW",
    "FaultWindow",
    "Span",
    "Series",
    "MatrixCell",
    "Matrix",
    "Regression",
    "ExperimentTrend",
    "anchor_ids",
    "fault_window",
    "end_of",
    "longest_outage",
    "unavailability_span",
    "worst_client",
    "recovery_point",
    "bucket_width",
    "bucket_count",
    "bucket_series",
    "suite_matrix",
    "is_regression",
    "trend",
]

MAX_BUCKETS = 300
REGRESSION_RATIO = 1.5
REGRESSION_MIN_DELTA_S = 1.0
REGRESSION_MIN_RUNS = 3
REGRESSION_WINDOW = 7

# Bucket widths people can read off an axis; the smallest that keeps the count under the cap.
# Not below 0.1 s: with probes every 50 ms a smaller bucket holds one or two operations per
# client and the ops/s bars show sampling jitter instead of the outage.
_NICE_WIDTHS_S = (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)


@dataclass(frozen=True)
class FaultWindow:
    """From injection to heal; `healed` is False when no heal was recorded (shaded to the end)."""

    start_s: float
    end_s: float
    healed: bool


@dataclass(frozen=True)
class Span:
    """The worst client's longest outage: from its last success before the gap to the next one."""

    process: str | None
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Series:
    """Completions per time bucket: bucket i covers [i*width_s, (i+1)*width_s).

    latency_max_s is the slowest completion in the bucket (None when it had none): during a
    failover that is the number that moves, while a mean hides the stalled requests.
    """

    width_s: float
    ok: tuple[int, ...]
    fail: tuple[int, ...]
    info: tuple[int, ...]
    latency_max_s: tuple[float | None, ...]

    def __len__(self) -> int:
        return len(self.ok)

    def totals(self) -> dict[str, int]:
        return {OK: sum(self.ok), FAIL: sum(self.fail), INFO: sum(self.info)}


@dataclass(frozen=True)
class MatrixCell:
    experiment: str
    anchor: str
    component: str
    fault: str
    verdict: str
    unavailability_s: float | None
    lost_writes: int | None


@dataclass(frozen=True)
class Matrix:
    """components x faults; each slot holds every experiment with that component and fault."""

    components: tuple[str, ...]
    faults: tuple[str, ...]
    cells: Mapping[tuple[str, str], tuple[MatrixCell, ...]]

    def slot(self, component: str, fault: str) -> tuple[MatrixCell, ...]:
        return self.cells.get((component, fault), ())


@dataclass(frozen=True)
class Regression:
    experiment: str
    metric: str  # "unavailability_s" | "recovery_s" | "verdict"
    current: Any
    baseline: Any  # the median of earlier values, or the earlier verdict
    reason: str


@dataclass(frozen=True)
class ExperimentTrend:
    """One experiment across runs (oldest first, the current run last); None where absent."""

    experiment: str
    runs: tuple[str, ...]
    verdicts: tuple[str | None, ...]
    unavailability_s: tuple[float | None, ...]  # per run: the median of its repeats
    recovery_s: tuple[float | None, ...]
    regressions: tuple[Regression, ...] = field(default=())
    # Per metric, per run: every repeat's value (one value when the run was not repeated).
    samples: Mapping[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)

    def regressed(self, metric: str) -> bool:
        return any(r.metric == metric for r in self.regressions)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def end_of(result: Mapping[str, Any], last_event_s: float | None = None) -> float:
    """End of observation: windows.end_s, else duration_s, else the last event, else 0."""
    windows = result.get("windows") or {}
    for value in (windows.get("end_s"), result.get("duration_s"), last_event_s):
        v = _num(value)
        if v is not None:
            return v
    return 0.0


def fault_window(result: Mapping[str, Any]) -> FaultWindow | None:
    """injected_s..healed_s from the results document; None when nothing was injected."""
    windows = result.get("windows") or {}
    start = _num(windows.get("injected_s"))
    if start is None:
        return None
    healed = _num(windows.get("healed_s"))
    if healed is None:
        return FaultWindow(start, max(start, end_of(result)), healed=False)
    return FaultWindow(start, healed, healed=True)


def recovery_point(result: Mapping[str, Any]) -> float | None:
    """injected_s + metrics.recovery_s (the checkers' figure); None when it did not recover."""
    injected = _num((result.get("windows") or {}).get("injected_s"))
    recovery = _num((result.get("metrics") or {}).get("recovery_s"))
    if injected is None or recovery is None:
        return None
    return injected + recovery


def longest_outage(ok_times: Sequence[float], injected_s: float, end_s: float) -> tuple[float, float]:
    """Where checkers.unavailability_s finds its figure: (start, end) of the longest gap between
    successive successes among gaps ending after injection; the gap containing the injection
    starts at the last success before it, and the last gap runs to end_s. `ok_times` sorted.

    Same rule, same order of comparison (the first longest gap wins, as max() keeps it).
    """
    oks = ok_times[:bisect_right(ok_times, end_s)]
    n_before = bisect_left(oks, injected_s)
    start = oks[n_before - 1] if n_before else injected_s
    best = (start, start)
    for t in oks[n_before:]:
        if t - start > best[1] - best[0]:
            best = (start, t)
        start = t
    if end_s - start > best[1] - best[0]:
        best = (start, end_s)
    return best


def unavailability_span(events: Iterable[Event], injected_s: float, end_s: float) -> Span | None:
    """The span behind metrics.unavailability_s: the worst client (by
    checkers.client_unavailability_s) and where its longest outage lies."""
    evs = list(events)
    per_client = client_unavailability_s(evs, injected_s, end_s)
    if per_client:
        worst = max(per_client, key=lambda p: per_client[p])  # first in sorted order on ties
        oks = sorted(e.t for e in evs if e.kind == OK and e.process == worst)
    else:
        if not evs:
            return None
        worst = None
        oks = sorted(e.t for e in evs if e.kind == OK)
    start, end = longest_outage(oks, injected_s, end_s)
    return Span(worst, start, end)


def worst_client(result: Mapping[str, Any]) -> str | None:
    """The client whose outage the checkers reported (max of metrics.client_unavailability_s)."""
    per_client = (result.get("metrics") or {}).get("client_unavailability_s") or {}
    if not isinstance(per_client, Mapping):
        return None
    values = {p: _num(v) for p, v in per_client.items() if _num(v) is not None}
    if not values:
        return None
    return max(sorted(values), key=lambda p: values[p])


def bucket_width(duration_s: float, max_buckets: int = MAX_BUCKETS) -> float:
    """The smallest readable width that gives at most max_buckets buckets over duration_s."""
    if max_buckets < 1:
        raise ValueError("max_buckets must be at least 1")
    for width in _NICE_WIDTHS_S:
        if duration_s / width <= max_buckets:
            return float(width)
    # Longer than max_buckets hours: whole hours.
    return float(3600 * math.ceil(duration_s / 3600 / max_buckets))


def bucket_count(duration_s: float, width_s: float) -> int:
    return max(1, math.ceil(duration_s / width_s - 1e-9))


def bucket_series(events: Iterable[Event], end_s: float, max_buckets: int = MAX_BUCKETS) -> Series:
    """Count completions (ok / fail / info) per bucket over [0, end_s]; completions outside
    that range are clamped into the first or last bucket, so every completion is counted once."""
    width = bucket_width(end_s, max_buckets)
    n = bucket_count(end_s, width)
    counts = {OK: [0] * n, FAIL: [0] * n, INFO: [0] * n}
    latency: list[float | None] = [None] * n
    for e in events:
        per_kind = counts.get(e.kind)
        if per_kind is None:
            continue
        i = min(max(int(e.t // width), 0), n - 1)
        per_kind[i] += 1
        lat = _num(e.latency_s)
        if lat is not None and (latency[i] is None or lat > latency[i]):
            latency[i] = lat
    return Series(width, tuple(counts[OK]), tuple(counts[FAIL]), tuple(counts[INFO]), tuple(latency))


def anchor_ids(experiments: Iterable[str]) -> dict[str, str]:
    """A stable, unique HTML id per experiment name: "postgres/primary-kill" -> "exp-postgres-primary-kill"."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for name in experiments:
        if name in ids:
            continue
        base = "exp-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-").lower() or "unnamed")
        anchor, n = base, 2
        while anchor in used:
            anchor, n = f"{base}-{n}", n + 1
        used.add(anchor)
        ids[name] = anchor
    return ids


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def suite_matrix(results: Sequence[Mapping[str, Any]], anchors: Mapping[str, str] | None = None) -> Matrix:
    """One cell per experiment, placed by component (rows) and fault (columns), names sorted."""
    anchors = anchors if anchors is not None else anchor_ids(str(r.get("experiment", "?")) for r in results)
    cells: dict[tuple[str, str], list[MatrixCell]] = {}
    for r in results:
        name = str(r.get("experiment", "?"))
        component = str(r.get("component") or name.split("/", 1)[0])
        fault = str(r.get("fault") or "?")
        metrics = r.get("metrics") or {}
        cells.setdefault((component, fault), []).append(
            MatrixCell(
                experiment=name,
                anchor=anchors.get(name) or anchor_ids([name])[name],
                component=component,
                fault=fault,
                verdict=_verdict(r.get("verdict")),
                unavailability_s=_num(metrics.get("unavailability_s")),
                lost_writes=_int(metrics.get("lost_writes")),
            )
        )
    return Matrix(
        components=tuple(sorted({c for c, _ in cells})),
        faults=tuple(sorted({f for _, f in cells})),
        cells={k: tuple(sorted(v, key=lambda c: c.experiment)) for k, v in cells.items()},
    )


def _verdict(value: Any) -> str:
    # Anything unexpected is shown as unknown, never as a pass.
    return value if value in (PASS, FAIL_VERDICT, UNKNOWN) else UNKNOWN


def _samples(value: float | Sequence[float] | None) -> list[float]:
    if value is None:
        return []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return [float(v) for v in value if v is not None]


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * 0.95
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def is_regression(previous: Sequence[float | Sequence[float] | None],
                  current: float | Sequence[float] | None) -> tuple[bool, float | None]:
    """The numeric rule of the module docstring: (flagged, median of the earlier values used).

    Each entry of `previous` (oldest first) and `current` is one run: a value, the values of its
    repeats, or None where the run has none."""
    earlier = [v for v in (_samples(p) for p in previous) if v][-REGRESSION_WINDOW:]
    pooled = [x for run in earlier for x in run]
    median = statistics.median(pooled) if pooled else None
    now = _samples(current)
    if not now or len(earlier) < REGRESSION_MIN_RUNS:
        return False, median
    value = statistics.median(now)
    flagged = (value > median * REGRESSION_RATIO and value - median > REGRESSION_MIN_DELTA_S
               and value > _p95(pooled))
    return flagged, median


_TREND_METRICS = ("unavailability_s", "recovery_s")
_SEVERITY = {PASS: 0, UNKNOWN: 1, FAIL_VERDICT: 2}


def _worst(verdicts: Iterable[Any]) -> str | None:
    found = [_verdict(v) for v in verdicts]
    return max(found, key=_SEVERITY.__getitem__) if found else None


def trend(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> list[ExperimentTrend]:
    """Per experiment of the last run (the current one), its metrics across `runs`
    (label, results), oldest first, with the regressions of the current run. A run may hold
    several results of one experiment (its repeats)."""
    if not runs:
        return []
    by_run: list[dict[str, list[Mapping[str, Any]]]] = []
    for _, results in runs:
        grouped: dict[str, list[Mapping[str, Any]]] = {}
        for r in results:
            grouped.setdefault(str(r.get("experiment", "?")), []).append(r)
        by_run.append(grouped)
    labels = tuple(label for label, _ in runs)
    out = []
    for name in sorted(by_run[-1]):
        docs = [run.get(name, []) for run in by_run]
        verdicts = tuple(_worst(d.get("verdict") for d in group) for group in docs)
        samples = {
            metric: tuple(tuple(v for d in group if (v := _num((d.get("metrics") or {}).get(metric))) is not None)
                          for group in docs)
            for metric in _TREND_METRICS
        }
        medians = {metric: tuple(statistics.median(run) if run else None for run in samples[metric])
                   for metric in _TREND_METRICS}
        regressions: list[Regression] = []
        for metric in _TREND_METRICS:
            series = samples[metric]
            flagged, median = is_regression(series[:-1], series[-1])
            if flagged:
                current = medians[metric][-1]
                runs_used = min(REGRESSION_WINDOW, sum(bool(v) for v in series[:-1]))
                spread = f" (median of {len(series[-1])} repeats)" if len(series[-1]) > 1 else ""
                regressions.append(Regression(
                    name, metric, current, median,
                    f"{metric} {current:.3f} s{spread} > {REGRESSION_RATIO:g} x median {median:.3f} s of the last "
                    f"{runs_used} runs' values, {current - median:.3f} s worse (> {REGRESSION_MIN_DELTA_S:g} s), "
                    "and above their 95th percentile",
                ))
        earlier = [v for v in verdicts[:-1] if v is not None]
        if earlier and earlier[-1] == PASS and verdicts[-1] in (FAIL_VERDICT, UNKNOWN):
            regressions.append(Regression(
                name, "verdict", verdicts[-1], earlier[-1], f"verdict went from pass to {verdicts[-1]}"))
        out.append(ExperimentTrend(name, labels, verdicts, medians["unavailability_s"], medians["recovery_s"],
                                   tuple(regressions), samples))
    return out
