"""The results contract: one JSON document per experiment, written atomically beside its timeline.

Reports (terminal table, JUnit properties) read these documents and never recompute metrics.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from chaos.checkers import PASS, Verdict
from chaos.errors import HarnessError, InvalidConfig
from chaos.slo import SLO
from chaos.timeline import Event, Timeline, to_jsonl

__all__ = [
    "SCHEMA",
    "RESULT_FILE",
    "DISTRIBUTION_FILE",
    "DISTRIBUTION_METRICS",
    "Repeat",
    "repeat_seed",
    "run_name",
    "distribution",
    "distributions",
    "distribution_table",
    "write_distributions",
    "build_result",
    "result_dir",
    "write_result",
    "load_results",
    "summary_table",
    "slo_text",
    "prediction_text",
    "junit_properties",
]

SCHEMA = 1
RESULT_FILE = "result.json"
DISTRIBUTION_FILE = "distribution.json"
# The metrics whose spread over repeats is summarised (seconds, from the client's side).
DISTRIBUTION_METRICS = ("unavailability_s", "recovery_s")


@dataclass(frozen=True)
class Repeat:
    """Run `index` (1-based) of `of` runs of the same experiment."""

    index: int
    of: int

    def __post_init__(self):
        if not (isinstance(self.of, int) and self.of >= 1 and isinstance(self.index, int) and 1 <= self.index <= self.of):
            raise InvalidConfig(f"repeat {self.index} of {self.of}: need 1 <= index <= of", field="repeat")

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "of": self.of}


def repeat_seed(seed: int, index: int) -> int:
    """The seed of a repeat: the run's seed for the first, a distinct one derived from it for the
    others, so `--chaos-seed S` with the same repeat count replays every repeat."""
    if index == 1:
        return seed
    return (seed + (index - 1) * 1_000_003) % (2**31 - 1) or 1


def _repeat_of(result: Mapping[str, Any]) -> tuple[int, int] | None:
    rep = result.get("repeat")
    if isinstance(rep, Mapping) and isinstance(rep.get("index"), int) and isinstance(rep.get("of"), int) \
            and rep["of"] > 1:
        return rep["index"], rep["of"]
    return None


def run_name(result: Mapping[str, Any]) -> str:
    """The experiment's name, with "#<index>" for one run of a repeated experiment."""
    name = str(result.get("experiment", "?"))
    rep = _repeat_of(result)
    return f"{name} #{rep[0]}" if rep else name


def build_result(
    *,
    experiment: str,
    component: str,
    fault: str,
    platform: str,
    seed: int | None,
    target: dict[str, Any],
    proof: dict[str, Any],
    config: dict[str, Any],
    windows: dict[str, Any],
    verdict: Verdict,
    slo: SLO,
    timeline_file: str = "timeline.jsonl",
    started_at: datetime | str | None = None,
    duration_s: float | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the results document (schema 1) from what the run loop knows.

    `experiment` may be "primary-kill" or "postgres/primary-kill"; it is stored qualified.
    duration_s defaults to windows["end_s"] (the run's monotonic end, seconds from start).
    """
    qualified = experiment if "/" in experiment else f"{component}/{experiment}"
    if duration_s is None:
        duration_s = windows.get("end_s")
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "experiment": qualified,
        "component": component,
        "fault": fault,
        "platform": platform,
        "seed": seed,
        "target": dict(target),
        "proof": dict(proof),
        "config": dict(config),
        "windows": {k: round(v, 3) if isinstance(v, float) else v for k, v in windows.items()},
        "metrics": dict(verdict.metrics),
        "slo": slo.to_dict(),
        "verdict": verdict.verdict,
        "reasons": list(verdict.reasons),
        "timeline": timeline_file,
        "duration_s": round(duration_s, 3) if isinstance(duration_s, float) else duration_s,
    }
    if started_at is not None:
        result["started_at"] = started_at.isoformat() if isinstance(started_at, datetime) else started_at
    if extra:
        # Extending the contract is fine; silently overwriting one of its fields is not.
        clash = sorted(set(extra) & set(result))
        if clash:
            raise ValueError(f"extra keys would overwrite contract fields: {', '.join(clash)}")
        result.update(extra)
    return result


def _safe_part(part: str, what: str) -> str:
    # The name becomes a directory: refuse anything that could escape report_dir.
    if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
        raise InvalidConfig(f"cannot use {part!r} as a directory name", field=what)
    return part


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write via a temp file in the same directory, fsync, rename: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it 0600; results and reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a stray temp file in the report directory.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # Persist the rename itself; without it a crash can roll the directory entry back.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def result_dir(report_dir: str | os.PathLike[str], result: dict[str, Any]) -> Path:
    """report_dir/<component>/<experiment name after the slash>/, and repeat-<index>/ below it
    for one run of a repeated experiment."""
    name = result["experiment"].rsplit("/", 1)[-1]
    out = Path(report_dir) / _safe_part(result["component"], "component") / _safe_part(name, "experiment")
    rep = _repeat_of(result)
    return out / f"repeat-{rep[0]}" if rep else out


def write_result(
    report_dir: str | os.PathLike[str], result: dict[str, Any], events: Iterable[Event] | Timeline
) -> Path:
    """Write timeline.jsonl, then result.json (so a result never points at a missing timeline)."""
    out = result_dir(report_dir, result)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / result.get("timeline", "timeline.jsonl"), to_jsonl(events))
    path = out / RESULT_FILE
    atomic_write_text(path, json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
    return path


def load_results(report_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every result.json under report_dir, ordered by experiment name."""
    root = Path(report_dir)
    if not root.is_dir():
        raise InvalidConfig(f"report directory {root} does not exist", field="report_dir")
    results = []
    for path in sorted(root.rglob(RESULT_FILE)):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise HarnessError(f"cannot read result {path}: {exc}") from exc
        results.append(doc)
    return sorted(results, key=lambda r: str(r.get("experiment", "")))


def _percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, linear between the closest ranks."""
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def distribution(values: Iterable[float | None]) -> dict[str, Any]:
    """n, median, p95, min and max of the values that exist (n counts them; None when none do)."""
    ordered = sorted(float(v) for v in values
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
    if not ordered:
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    return {"n": len(ordered), "median": round(statistics.median(ordered), 3),
            "p95": round(_percentile(ordered, 0.95), 3), "min": round(ordered[0], 3), "max": round(ordered[-1], 3)}


def distributions(results: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per experiment run more than once: its runs' verdicts and the distribution of each metric
    in DISTRIBUTION_METRICS (a metric a run could not measure is left out of n)."""
    runs: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        if _repeat_of(r):
            runs.setdefault(str(r.get("experiment", "?")), []).append(r)
    out = {}
    for name, docs in sorted(runs.items()):
        docs = sorted(docs, key=lambda d: _repeat_of(d) or (0, 0))
        out[name] = {"experiment": name, "runs": len(docs), "seeds": [d.get("seed") for d in docs],
                     "verdicts": [d.get("verdict") for d in docs],
                     **{m: distribution((d.get("metrics") or {}).get(m) for d in docs) for m in DISTRIBUTION_METRICS}}
    return out


def write_distributions(report_dir: str | os.PathLike[str], results: Iterable[Mapping[str, Any]]) -> list[Path]:
    """distribution.json beside each repeated experiment's repeat-<n>/ directories."""
    repeated = [r for r in results if _repeat_of(r)]
    paths = []
    for name, dist in distributions(repeated).items():
        first = next(r for r in repeated if str(r.get("experiment")) == name)
        out = result_dir(report_dir, {**first, "repeat": None})
        out.mkdir(parents=True, exist_ok=True)
        path = out / DISTRIBUTION_FILE
        atomic_write_text(path, json.dumps(dist, indent=2) + "\n")
        paths.append(path)
    return paths


def distribution_table(results: Iterable[Mapping[str, Any]]) -> str:
    """Plain-text table of each repeated experiment's spread ("" when nothing was repeated)."""
    dists = distributions(results)
    if not dists:
        return ""
    head = ("experiment", "runs", "pass", "unavail median", "p95", "min", "max",
            "recovery median", "p95", "min", "max")
    rows = []
    for name, d in dists.items():
        u, r = d["unavailability_s"], d["recovery_s"]
        rows.append((name, str(d["runs"]), str(sum(v == PASS for v in d["verdicts"])),
                     *(_cell(u[k]) for k in ("median", "p95", "min", "max")),
                     *(_cell(r[k]) for k in ("median", "p95", "min", "max"))))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells: Iterable[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(head), line("-" * w for w in widths), *(line(row) for row in rows)]) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


_COLUMNS = ("experiment", "verdict", "unavail_s", "pred_s", "ratio", "recovery_s", "acked", "lost", "dup", "split",
            "slo")
_NUMERIC = {"unavail_s", "pred_s", "ratio", "recovery_s", "acked", "lost", "dup"}


def _prediction_cells(result: dict[str, Any]) -> tuple[str, str]:
    """The predicted failover and measured/predicted; a ratio off by more than 25 % is marked *."""
    p = result.get("prediction") or {}
    if p.get("predicted_s") is None:
        return "-", "-"
    ratio = p.get("ratio")
    return f"{p['predicted_s']:.1f}", "-" if ratio is None else f"{ratio:.2f}" + ("*" if p.get("off") else "")


def slo_text(slo: dict[str, Any]) -> str:
    """The SLO column's cell: the unavailability bound; for an experiment whose writes must be
    refused while the fault holds (a quorum loss), that and its recovery bound."""
    parts = []
    if slo.get("expect_writes_refused"):
        parts.append("writes refused")
    if slo.get("max_unavailability_s") is not None:
        parts.append(f"unavail<={slo['max_unavailability_s']:g}s")
    if slo.get("expect_writes_refused") and slo.get("max_recovery_s") is not None:
        parts.append(f"recovery<={slo['max_recovery_s']:g}s")
    return ", ".join(parts) or "-"


def summary_table(results: Iterable[dict[str, Any]]) -> str:
    """Plain-text table, one row per experiment, then the reasons of every non-pass."""
    results = list(results)
    rows = []
    for r in results:
        m = r.get("metrics", {})
        rows.append(
            (
                str(r.get("experiment", "?")),
                str(r.get("verdict", "?")).upper(),
                _cell(m.get("unavailability_s")),
                *_prediction_cells(r),
                _cell(m.get("recovery_s")),
                _cell(m.get("acked_writes")),
                _cell(m.get("lost_writes")),
                _cell(m.get("duplicate_writes")),
                _cell(m.get("split_brain")),
                slo_text(r.get("slo") or {}),
            )
        )
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(_COLUMNS)]

    def line(cells: Iterable[str]) -> str:
        return "  ".join(
            cell.rjust(w) if name in _NUMERIC else cell.ljust(w) for name, cell, w in zip(_COLUMNS, cells, widths)
        ).rstrip()

    out = [line(_COLUMNS), line("-" * w for w in widths), *(line(row) for row in rows)]
    problems = [r for r in results if r.get("verdict") != PASS]
    if problems:
        out.append("")
        for r in problems:
            reasons = "; ".join(r.get("reasons") or ["(no reason recorded)"])
            out.append(f"{r.get('experiment', '?')} {str(r.get('verdict', '?')).upper()}: {reasons}")
    off = [r for r in results if (r.get("prediction") or {}).get("off")]
    if off:
        out.append("")
        out += [f"{r.get('experiment', '?')}: {prediction_text(r['prediction'])}" for r in off]
    return "\n".join(out) + "\n"


def prediction_text(p: dict[str, Any]) -> str:
    """One line on a measurement far from its prediction: the logs' split of it, or why none."""
    head = (f"measured {p.get('measured_s')} s is {p.get('ratio')}x the predicted {p.get('predicted_s')} s "
            f"({p.get('fault_class')}: {p.get('formula')})")
    why = p.get("explanation") or {}
    if "unexplained" in why or not why:
        return f"{head}; unexplained: {why.get('unexplained', 'no explanation recorded')}"
    split = f"{head}; from the pods' logs: detection {why['detection_s']} s, election {why['election_s']} s, "
    if why.get("reconnect_s") is None:
        return split + ("and the clients were served again before the election ended: their outage did not wait "
                        "for the failover")
    return split + f"clients' reconnect {why['reconnect_s']} s"


def junit_properties(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Properties for the JUnit XML record of the experiment's test (values as text, "" for none)."""
    m = result.get("metrics", {})
    values = [
        ("unavailability_s", m.get("unavailability_s")),
        ("recovery_s", m.get("recovery_s")),
        ("lost_writes", m.get("lost_writes")),
        ("acked_writes", m.get("acked_writes")),
        ("verdict", result.get("verdict")),
        ("seed", result.get("seed")),
    ]
    return [(name, "" if value is None else str(value)) for name, value in values]
