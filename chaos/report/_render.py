"""The self-contained HTML report: suite matrix, one section per experiment, the trend.

Reads only results documents and timelines (never recomputes a metric differently from the
checkers); inline CSS and SVG, no script, no network. Every text is escaped.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from chaos.checkers import FAIL_VERDICT, PASS, UNKNOWN
from chaos.errors import InvalidConfig
from chaos.results import (RESULT_FILE, atomic_write_text, distributions, load_results, prediction_text,
                           result_dir, run_name)

from ._charts import timeline_svg, trend_svg
from ._data import (
    MAX_BUCKETS,
    REGRESSION_MIN_DELTA_S,
    REGRESSION_MIN_RUNS,
    REGRESSION_RATIO,
    REGRESSION_WINDOW,
    ExperimentTrend,
    Matrix,
    anchor_ids,
    fault_window,
    is_regression,
    recovery_point,
    suite_matrix,
    trend,
)
from ._scan import TimelineSummary, summarise_timeline

__all__ = ["write_report", "render_report", "REPORT_FILE"]

REPORT_FILE = "report.html"
# Above this much timeline data, summarise timelines in worker processes (one per core).
_PARALLEL_BYTES = 64 * 1024 * 1024


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _verdict_class(verdict: Any) -> str:
    return verdict if verdict in (PASS, FAIL_VERDICT, UNKNOWN) else UNKNOWN


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}{unit}"
    return f"{value}{unit}"


# ---------------------------------------------------------------------------------------- loading

def _timeline_path(report_dir: Path, result: Mapping[str, Any], found: Mapping[str, Path]) -> Path | None:
    name = str(result.get("timeline") or "timeline.jsonl")
    if Path(name).name != name or name in (".", ".."):
        return None  # a results document must not point outside its own directory
    try:
        candidate = result_dir(report_dir, result)
    except (InvalidConfig, KeyError, TypeError):
        candidate = None
    if candidate is None or not (candidate / RESULT_FILE).is_file():
        candidate = found.get(run_name(result))
    return None if candidate is None else candidate / name


def _result_dirs(report_dir: Path) -> dict[str, Path]:
    """experiment name -> directory of its result.json, for layouts other than write_result's."""
    out: dict[str, Path] = {}
    for path in sorted(report_dir.rglob(RESULT_FILE)):
        try:
            name = run_name(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, AttributeError):
            continue
        out.setdefault(name, path.parent)
    return out


def _summaries(report_dir: Path, results: Sequence[Mapping[str, Any]], max_buckets: int,
               workers: int | None) -> list[TimelineSummary]:
    found = _result_dirs(report_dir)
    paths = [_timeline_path(report_dir, r, found) for r in results]
    sizes = [p.stat().st_size if p is not None and p.is_file() else 0 for p in paths]
    jobs = [(p, r) for p, r in zip(paths, results)]
    if workers is None:
        workers = min(os.cpu_count() or 1, len(jobs)) if sum(sizes) > _PARALLEL_BYTES else 1
    if workers > 1 and sys.platform.startswith("linux"):
        import multiprocessing

        # fork: no re-import of the caller's __main__; by report time the probes' threads are done.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_summarise, p, dict(r), max_buckets) for p, r in jobs]
            return [f.result() for f in futures]
    return [_summarise(p, r, max_buckets) for p, r in jobs]


def _summarise(path: Path | None, result: Mapping[str, Any], max_buckets: int) -> TimelineSummary:
    if path is None:
        from ._data import end_of

        return TimelineSummary(None, None, end_of(result), 0, note="no usable timeline file named in the result")
    return summarise_timeline(path, result, max_buckets)


def _run_label(path: Path) -> str:
    return path.resolve().name or str(path)


# ---------------------------------------------------------------------------------------- public

def render_report(
    report_dir: str | os.PathLike[str],
    *,
    history: Iterable[str | os.PathLike[str]] = (),
    max_buckets: int = MAX_BUCKETS,
    workers: int | None = None,
) -> str:
    """The report as one HTML string (see write_report)."""
    root = Path(report_dir)
    results = load_results(root)
    if not results:
        raise InvalidConfig(f"no {RESULT_FILE} under {root}", field="report_dir",
                            fix="give the --report-dir of a finished run")
    runs: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for h in history:
        h = Path(h)
        if not h.is_dir():
            raise InvalidConfig(f"history directory {h} does not exist", field="--history")
        runs.append((_run_label(h), load_results(h)))
    trends = trend(runs + [(f"{_run_label(root)} (this run)", results)]) if runs else []
    summaries = _summaries(root, results, max_buckets, workers)
    return _page(root, results, summaries, trends, [label for label, _ in runs])


def write_report(
    report_dir: str | os.PathLike[str],
    *,
    history: Iterable[str | os.PathLike[str]] = (),
    out: str | os.PathLike[str] | None = None,
    max_buckets: int = MAX_BUCKETS,
    workers: int | None = None,
) -> Path:
    """Write one self-contained HTML report of the results under report_dir (default
    report_dir/report.html), atomically; `history`: earlier runs' report dirs, oldest first."""
    text = render_report(report_dir, history=history, max_buckets=max_buckets, workers=workers)
    target = Path(out) if out is not None else Path(report_dir) / REPORT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, text)
    return target


# ---------------------------------------------------------------------------------------- HTML

_CSS = """
:root{--pass:#15803d;--pass-bg:#dcfce7;--fail:#b91c1c;--fail-bg:#fee2e2;--unknown:#b45309;--unknown-bg:#fef3c7;
--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--ok:#22c55e;--info:#f59e0b;--bad:#ef4444;--lat:#2563eb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#f8fafc}
main{max-width:1400px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:18px;margin:0}h3{font-size:14px;margin:14px 0 6px}
a{color:inherit}
.sub{color:var(--muted);margin:0 0 14px}
.counts span{display:inline-block;margin-right:10px;padding:1px 9px;border-radius:10px;font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;text-transform:uppercase;letter-spacing:.03em;vertical-align:middle}
.verdict-pass .badge,.counts .pass,.badge.verdict-pass{background:var(--pass-bg);color:var(--pass)}
.verdict-fail .badge,.counts .fail,.badge.verdict-fail{background:var(--fail-bg);color:var(--fail)}
.verdict-unknown .badge,.counts .unknown,.badge.verdict-unknown{background:var(--unknown-bg);color:var(--unknown)}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin:16px 0}
table{border-collapse:collapse}
#matrix th,#matrix td{border:1px solid var(--line);padding:0;vertical-align:top}
#matrix thead th,#matrix tbody th{background:#f1f5f9;padding:6px 12px;text-align:left;font-weight:600}
#matrix td.cell a{display:block;padding:7px 12px;text-decoration:none;min-width:190px}
#matrix td.cell a:hover{filter:brightness(.96)}
#matrix td.empty{background:#fafafa}
td.cell.verdict-pass a{background:var(--pass-bg);border-left:4px solid var(--pass)}
td.cell.verdict-fail a{background:var(--fail-bg);border-left:4px solid var(--fail)}
td.cell.verdict-unknown a{background:var(--unknown-bg);border-left:4px solid var(--unknown)}
.cell .name{font-weight:600;display:block}
.cell .verdict{font-size:11px;font-weight:700;text-transform:uppercase}
.cell.verdict-pass .verdict{color:var(--pass)}.cell.verdict-fail .verdict{color:var(--fail)}.cell.verdict-unknown .verdict{color:var(--unknown)}
.cell .nums{font-variant-numeric:tabular-nums;color:#374151;font-size:12.5px}
section.experiment{border-left:5px solid var(--line)}
section.experiment.verdict-pass{border-left-color:var(--pass)}
section.experiment.verdict-fail{border-left-color:var(--fail)}
section.experiment.verdict-unknown{border-left-color:var(--unknown)}
.exp-head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.exp-head .meta{color:var(--muted)}
.desc{color:#374151;margin:4px 0 8px}
.exp-body{display:flex;gap:22px;flex-wrap:wrap;align-items:flex-start}
figure{margin:0}
figure.chart{margin:0}
.main-col{flex:0 1 840px;min-width:0}
.legend{color:var(--muted);font-size:12px;margin:2px 0 0 56px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin:0 4px 0 12px;vertical-align:-1px}
.legend i.l-ok{background:var(--ok)}.legend i.l-info{background:var(--info)}.legend i.l-fail{background:var(--bad)}
.legend i.l-lat{background:var(--lat);height:3px;vertical-align:3px}.legend i.l-fw{background:rgba(239,68,68,.16);border:1px solid rgba(239,68,68,.5)}
.legend i.l-span{background:rgba(124,58,237,.18);border-top:2px solid #7c3aed}.legend i.l-rec{width:2px;background:#0f766e}
.side{flex:1 1 360px;min-width:340px}
table.metrics{width:100%;font-variant-numeric:tabular-nums}
table.metrics th,table.metrics td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left}
table.metrics td.num{text-align:right}
table.metrics tr.breach td{background:var(--fail-bg)}
table.metrics tr.unverified td{background:var(--unknown-bg)}
.mark-ok{color:var(--pass);font-weight:700}.mark-breach{color:var(--fail);font-weight:700}.mark-unknown{color:var(--unknown);font-weight:700}
ul.reasons{margin:8px 0;padding:8px 12px 8px 28px;border-radius:6px}
.verdict-fail ul.reasons{background:var(--fail-bg)}.verdict-unknown ul.reasons{background:var(--unknown-bg)}
dl.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:2px 14px;margin:10px 0 6px}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
details{margin:6px 0}summary{cursor:pointer;color:#1d4ed8}
pre{background:#f3f4f6;border-radius:6px;padding:8px 10px;overflow:auto;max-height:320px;font-size:12px}
table.config td{padding:2px 10px 2px 0;font-size:12.5px}table.config td:first-child{color:var(--muted)}
.note{color:var(--muted);font-style:italic}
svg.timeline{background:#fff;max-width:100%;height:auto}
svg.timeline .plot{fill:#fff}
svg.timeline .axis{fill:none;stroke:#9ca3af}
svg.timeline .grid{stroke:#f1f5f9}
svg.timeline .tick{stroke:#9ca3af}
svg.timeline text{font-size:11px;fill:#4b5563}
svg.timeline .xt{text-anchor:middle}
svg.timeline .yt{text-anchor:end;dominant-baseline:middle}
svg.timeline .lt{text-anchor:start;dominant-baseline:middle;fill:var(--lat)}
svg.timeline .axis-title{text-anchor:middle;font-size:11.5px;fill:#374151}
svg.timeline .latency-title{fill:var(--lat)}
svg.timeline .bars-ok{fill:var(--ok)}svg.timeline .bars-info{fill:var(--info)}svg.timeline .bars-fail{fill:var(--bad)}
svg.timeline .latency{fill:none;stroke:var(--lat);stroke-width:1.3;stroke-linejoin:round}
svg.timeline .fault-window{fill:rgba(239,68,68,.13);stroke:rgba(239,68,68,.55);stroke-dasharray:4 3}
svg.timeline .fault-label{fill:#b91c1c;font-weight:600}
svg.timeline .span-band{fill:rgba(124,58,237,.16)}
svg.timeline .span-bracket{fill:none;stroke:#7c3aed;stroke-width:2}
svg.timeline .span-label{fill:#6d28d9;font-weight:600;text-anchor:middle}
svg.timeline .recovery-point{stroke:#0f766e;stroke-width:2;stroke-dasharray:6 3}
svg.timeline .recovery-label{fill:#0f766e;font-weight:600}
svg.timeline .recovery-label.end{text-anchor:end}
svg.timeline .empty{text-anchor:middle;fill:var(--muted)}
#trend table{width:100%}
#trend td.verdicts{white-space:nowrap}
#trend th,#trend td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
#trend .vals{white-space:nowrap;font-variant-numeric:tabular-nums;font-size:12px;color:#374151}
#trend tr.regression{background:#fff1f2}
.flag{display:inline-block;background:var(--fail);color:#fff;border-radius:4px;padding:0 6px;font-size:11px;font-weight:700;margin:2px 0}
.regression-reason{color:var(--fail);font-size:12px}
svg.trend .trend-axis{stroke:#d1d5db}
svg.trend .trend-line{fill:none;stroke:#64748b;stroke-width:1.5}
svg.trend .trend-dot{fill:#64748b}
svg.trend .trend-dot.current{fill:#0f172a}
svg.trend .trend-dot.current.regression{fill:var(--fail)}
svg.trend .trend-median{stroke:#94a3b8;stroke-dasharray:3 3}
svg.trend text{font-size:9px;fill:var(--muted)}
footer{color:var(--muted);font-size:12px;margin-top:30px}
"""


def _page(root: Path, results: Sequence[Mapping[str, Any]], summaries: Sequence[TimelineSummary],
          trends: Sequence[ExperimentTrend], history_labels: Sequence[str]) -> str:
    anchors = anchor_ids(run_name(r) for r in results)
    matrix = suite_matrix(results, anchors)
    counts = {v: sum(1 for r in results if _verdict_class(r.get("verdict")) == v) for v in (PASS, FAIL_VERDICT, UNKNOWN)}
    platforms = sorted({str(r.get("platform")) for r in results if r.get("platform")})
    started = sorted(str(r["started_at"]) for r in results if r.get("started_at"))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Chaos report: {_e(_run_label(root))}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        '<header id="summary">',
        f"<h1>Chaos report: {_e(_run_label(root))}</h1>",
        f'<p class="sub">{len(results)} experiment(s)'
        + (f" on {_e(', '.join(platforms))}" if platforms else "")
        + (f", started {_e(started[0])}" if started else "")
        + f"; generated {_e(generated)}</p>",
        '<p class="counts">' + "".join(
            f'<span class="{v}">{counts[v]} {v}</span>' for v in (PASS, FAIL_VERDICT, UNKNOWN)) + "</p>",
        "</header>",
        _matrix_html(matrix),
    ]
    spread = distributions(results)
    if spread:
        parts.append(_spread_html(spread, results, anchors))
    if trends:
        parts.append(_trend_html(trends, history_labels, anchors))
    for r, s in zip(results, summaries):
        parts.append(_experiment_html(r, s, anchors[run_name(r)]))
    parts.append(f"<footer>Report directory {_e(root)}. Metrics are the checkers' figures from each result.json "
                 "(chaos/checkers.py); charts bucket the probe operations of timeline.jsonl.</footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _matrix_html(matrix: Matrix) -> str:
    out = ['<section class="card" id="suite"><h2>Suite matrix</h2>',
           '<p class="sub">components × faults; one cell per experiment, coloured by verdict '
           "(green pass, red fail, amber unknown); click a cell for its timeline.</p>",
           '<table id="matrix"><thead><tr><th>component</th>']
    out += [f'<th scope="col">{_e(f)}</th>' for f in matrix.faults]
    out.append("</tr></thead><tbody>")
    for component in matrix.components:
        depth = max(len(matrix.slot(component, f)) for f in matrix.faults)
        for row in range(depth):
            out.append("<tr>")
            if row == 0:
                out.append(f'<th scope="row" rowspan="{depth}">{_e(component)}</th>')
            for fault in matrix.faults:
                slot = matrix.slot(component, fault)
                if row >= len(slot):
                    out.append('<td class="empty"></td>')
                    continue
                c = slot[row]
                short = c.experiment.split("/", 1)[-1]
                unavail = "–" if c.unavailability_s is None else f"{c.unavailability_s:.2f} s"
                lost = "–" if c.lost_writes is None else str(c.lost_writes)
                out.append(
                    f'<td class="cell verdict-{_e(c.verdict)}" data-experiment="{_e(c.experiment)}" '
                    f'data-verdict="{_e(c.verdict)}" data-unavailability-s="{_e(_fmt(c.unavailability_s))}" '
                    f'data-lost-writes="{_e(_fmt(c.lost_writes))}"><a href="#{_e(c.anchor)}">'
                    f'<span class="name">{_e(short)}</span><span class="verdict">{_e(c.verdict)}</span> '
                    f'<span class="nums">unavailable <b class="unavailability">{_e(unavail)}</b> · '
                    f'lost <b class="lost-writes">{_e(lost)}</b></span></a></td>'
                )
            out.append("</tr>")
    out.append("</tbody></table></section>")
    return "".join(out)


# (label, metric, SLO bound, unit); split brain is judged against allow_split_brain separately.
_BOUNDED = (
    ("unavailability (worst client)", "unavailability_s", "max_unavailability_s", " s"),
    ("recovery", "recovery_s", "max_recovery_s", " s"),
    ("lost writes", "lost_writes", "max_lost_writes", ""),
    ("duplicate writes", "duplicate_writes", "max_duplicate_writes", ""),
)
_INFO = (
    ("unavailability (all clients)", "unavailability_any_client_s", " s"),
    ("acknowledged writes", "acked_writes", ""),
    ("indeterminate writes", "indeterminate_writes", ""),
    ("unexpected values read", "unexpected_writes", ""),
    ("operations", "ops", ""),
    ("errors", "errors", ""),
    ("probe interval configured", "probe_interval_configured_s", " s"),
    ("probe interval (median)", "probe_interval_s", " s"),
    ("probe interval (p95)", "probe_interval_p95_s", " s"),
    ("probe ticks missed (operation in flight)", "missed_ticks", ""),
)


def _metrics_html(result: Mapping[str, Any]) -> str:
    m = result.get("metrics") or {}
    slo = result.get("slo") or {}
    rows = ['<table class="metrics"><thead><tr><th>metric</th><th>measured</th><th>SLO</th><th></th></tr></thead><tbody>']
    for label, key, bound_key, unit in _BOUNDED:
        value, bound = m.get(key), _num(slo.get(bound_key))
        v = _num(value)
        if bound is None:
            mark, cls = '<span class="mark-none">–</span>', ""
        elif v is None:
            text = "did not recover" if key == "recovery_s" else "not verified"
            mark = f'<span class="mark-{"breach" if key == "recovery_s" else "unknown"}" title="{text}">✗ {text}</span>' \
                if key == "recovery_s" else f'<span class="mark-unknown">? {text}</span>'
            cls = "breach" if key == "recovery_s" else "unverified"
        elif v <= bound:
            mark, cls = '<span class="mark-ok">✓</span>', ""
        else:
            mark, cls = '<span class="mark-breach">✗</span>', "breach"
        bound_text = "–" if bound is None else f"≤ {bound:g}{unit}"
        rows.append(f'<tr class="{cls}" data-metric="{_e(key)}"><td>{_e(label)}</td><td class="num">{_e(_fmt(value, unit))}'
                    f'</td><td>{_e(bound_text)}</td><td>{mark}</td></tr>')
    split = m.get("split_brain")
    allowed = slo.get("allow_split_brain")
    if split is None:
        mark, cls = '<span class="mark-unknown">?</span>', "unverified"
    elif split and not allowed:
        mark, cls = '<span class="mark-breach">✗</span>', "breach"
    else:
        mark, cls = '<span class="mark-ok">✓</span>', ""
    rows.append(f'<tr class="{cls}" data-metric="split_brain"><td>split brain</td><td class="num">{_e(_fmt(split))}</td>'
                f'<td>{"allowed" if allowed else "not allowed"}</td><td>{mark}</td></tr>')
    if slo.get("expect_writes_refused"):
        rows.append(_refused_row(result))
    for label, key, unit in _INFO:
        if key in m:
            rows.append(f'<tr data-metric="{_e(key)}"><td>{_e(label)}</td><td class="num">{_e(_fmt(m.get(key), unit))}'
                        "</td><td></td><td></td></tr>")
    per_client = m.get("client_unavailability_s") or {}
    if isinstance(per_client, dict) and per_client:
        text = ", ".join(f"{p} {_fmt(v)}" for p, v in per_client.items())
        rows.append(f'<tr data-metric="client_unavailability_s"><td>per client (s)</td><td colspan="3">{_e(text)}</td></tr>')
    rows.append("</tbody></table>")
    flags = {k: v for k, v in slo.items() if not k.startswith("max_") and k != "allow_split_brain"}
    if flags:
        rows.append('<p class="sub">SLO settings: ' + _e(", ".join(f"{k}={_fmt(v)}" for k, v in flags.items())) + "</p>")
    return "".join(rows)


def _refused_row(result: Mapping[str, Any]) -> str:
    """A quorum loss's own bound: no write acknowledged once the fault took full effect (the
    checkers' reason names the count when one was)."""
    accepted = [r for r in result.get("reasons") or [] if "expect_writes_refused" in r]
    if accepted:
        measured, cls, mark = accepted[0].split(" writes acknowledged", 1)[0] + " acknowledged", "breach", \
            '<span class="mark-breach">✗</span>'
    else:
        measured, cls, mark = "none acknowledged", "", '<span class="mark-ok">✓</span>'
    return (f'<tr class="{cls}" data-metric="writes_during_fault"><td>writes during the fault</td>'
            f'<td class="num">{_e(measured)}</td><td>refused</td><td>{mark}</td></tr>')


def _kv_table(values: Mapping[str, Any], cls: str) -> str:
    if not values:
        return '<p class="note">none recorded</p>'
    return f'<table class="{cls}">' + "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(json.dumps(v, default=str) if isinstance(v, (dict, list)) else _fmt(v))}</td></tr>"
        for k, v in values.items()) + "</table>"


def _experiment_html(result: Mapping[str, Any], summary: TimelineSummary, anchor: str) -> str:
    name = run_name(result)
    verdict = _verdict_class(result.get("verdict"))
    window = fault_window(result)
    recovered_at = recovery_point(result)
    target = result.get("target") or {}
    proof = result.get("proof") or {}
    out = [f'<section class="experiment card verdict-{verdict}" id="{_e(anchor)}" data-experiment="{_e(name)}" '
           f'data-verdict="{verdict}">',
           f'<div class="exp-head"><h2>{_e(name)}</h2><span class="badge">{_e(verdict)}</span>'
           f'<span class="meta">fault {_e(result.get("fault", "?"))} · platform {_e(result.get("platform", "?"))}'
           f' · seed {_e(_fmt(result.get("seed")))}</span></div>']
    if result.get("description"):
        out.append(f'<p class="desc">{_e(result["description"])}</p>')
    reasons = result.get("reasons") or []
    if verdict != PASS:
        out.append('<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in reasons)
                   + ("" if reasons else "<li>(no reason recorded)</li>") + "</ul>")
    out.append('<div class="exp-body"><div class="main-col"><figure class="chart">')
    if summary.series is None:
        out.append(f'<p class="note no-timeline">{_e(summary.note or "no timeline")}</p>')
    out.append(timeline_svg(summary.series, summary.end_s, window=window, span=summary.span,
                            recovery_s=recovered_at, title=f"{name}: probe operations over time",
                            fault=str(result.get("fault", ""))))
    width = f"{summary.series.width_s:g} s" if summary.series is not None else "–"
    out.append('<figcaption class="legend"><i class="l-ok"></i>ok<i class="l-info"></i>indeterminate'
               '<i class="l-fail"></i>failed<i class="l-lat"></i>max latency<i class="l-fw"></i>fault window'
               '<i class="l-span"></i>unavailability (worst client)<i class="l-rec"></i>recovery'
               f' · buckets of {_e(width)}, {summary.completions} operations</figcaption></figure>')
    facts = [("target", ", ".join(f"{k} {v}" for k, v in target.items()) or "–")]
    if window is not None:
        facts.append(("fault window", f"{window.start_s:.3f} s → "
                      + (f"{window.end_s:.3f} s" if window.healed else "not healed")))
    if recovered_at is not None:
        facts.append(("recovered at", f"{recovered_at:.3f} s"))
    if summary.span is not None:
        facts.append(("longest outage", f"{summary.span.start_s:.3f} s → {summary.span.end_s:.3f} s"
                      + (f" ({summary.span.process})" if summary.span.process else "")))
    for key in ("started_at", "duration_s", "run_id"):
        if result.get(key) is not None:
            facts.append((key.replace("_", " "), _fmt(result[key])))
    prediction = result.get("prediction")
    if isinstance(prediction, dict) and prediction.get("predicted_s") is not None:
        facts.append(("predicted failover", prediction_text(prediction) if prediction.get("off") else
                      f"{_fmt(prediction['predicted_s'])} s ({prediction.get('fault_class')}: "
                      f"{prediction.get('formula')}), measured/predicted {_fmt(prediction.get('ratio'))}"))
    proven = proof.get("proven") if isinstance(proof, dict) else None
    facts.append(("fault proven", "–" if proven is None else ("yes" if proven else "NO")))
    out.append('<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>")
    out.append('<details class="proof"><summary>proof that the fault took effect</summary><pre>'
               + _e(json.dumps(proof, indent=2, sort_keys=True, default=str)) + "</pre></details>")
    out.append('<details class="config"><summary>failover settings (config)</summary>'
               + _kv_table(result.get("config") or {}, "config") + "</details>")
    out.append("</div>")
    out.append('<div class="side">' + _metrics_html(result) + "</div>")
    out.append("</div></section>")
    return "".join(out)


def _spread_html(spread: Mapping[str, Mapping[str, Any]], results: Sequence[Mapping[str, Any]],
                 anchors: Mapping[str, str]) -> str:
    """One row per repeated experiment: its runs' verdicts and the spread of each metric."""
    out = ['<section class="card" id="spread"><h2>Spread over repeats</h2>',
           '<p class="sub">Each experiment below ran several times, each run with its own seed; the numbers are '
           "seconds from the clients' side (median, 95th percentile, min and max over the runs that measured "
           "them).</p><table><thead><tr><th>experiment</th><th>runs</th>"
           "<th>unavailability_s median / p95 / min / max</th><th>recovery_s median / p95 / min / max</th>"
           "</tr></thead><tbody>"]
    for name, d in spread.items():
        links = " ".join(
            f'<a class="badge verdict-{_e(_verdict_class(r.get("verdict")))}" href="#{_e(anchors.get(run_name(r), ""))}">'
            f'{_e(str(r.get("verdict", "?"))[0].upper())}</a>'
            for r in results if str(r.get("experiment")) == name)
        cells = "".join(
            "<td>" + " / ".join(_fmt(d[m][k]) for k in ("median", "p95", "min", "max")) + f" (n={d[m]['n']})</td>"
            for m in ("unavailability_s", "recovery_s"))
        out.append(f'<tr data-experiment="{_e(name)}"><td>{_e(name)}</td><td>{links}</td>{cells}</tr>')
    out.append("</tbody></table></section>")
    return "".join(out)


def _trend_html(trends: Sequence[ExperimentTrend], history_labels: Sequence[str], anchors: Mapping[str, str]) -> str:
    flagged = sum(1 for t in trends if t.regressions)
    out = ['<section class="card" id="trend"><h2>Trend</h2>',
           f'<p class="sub">{len(history_labels)} earlier run(s), oldest first: {_e(", ".join(history_labels))}; '
           "then this run (the large dot). "
           f"<b>Regression rule:</b> a run's value is the median of its repeats (or its one value). A metric is "
           f"flagged when at least {REGRESSION_MIN_RUNS} earlier runs have it and this run's value is more than "
           f"{REGRESSION_RATIO:g} × the median of the last (up to) {REGRESSION_WINDOW} earlier runs' values, "
           f"more than {REGRESSION_MIN_DELTA_S:g} s above it (a noise floor), <i>and</i> above their 95th "
           "percentile (the spread those runs already showed); a verdict that went from pass to fail or unknown "
           f"is always flagged. Dashed line: that median. {flagged} experiment(s) flagged.</p>",
           "<table><thead><tr><th>experiment</th><th>verdicts</th><th>unavailability_s</th><th>recovery_s</th>"
           "<th>regression</th></tr></thead><tbody>"]
    for t in trends:
        cls = "regression" if t.regressions else ""
        verdicts = " ".join(
            f'<span class="badge verdict-{_e(v)}" title="{_e(run)}">{_e(v[0].upper())}</span>' if v else
            f'<span class="badge" title="{_e(run)}: absent">·</span>' for run, v in zip(t.runs, t.verdicts))
        cells = []
        for metric, values in (("unavailability_s", t.unavailability_s), ("recovery_s", t.recovery_s)):
            series = t.samples.get(metric) or values
            _, median = is_regression(series[:-1], series[-1])
            svg = trend_svg(values, flagged=t.regressed(metric), median=median, labels=t.runs,
                            title=f"{t.experiment} {metric} across runs")
            cur = "–" if values[-1] is None else f"{values[-1]:.2f} s"
            now = (t.samples.get(metric) or ((),))[-1]
            if len(now) > 1:
                cur += f" (median of {len(now)}: {min(now):.2f}–{max(now):.2f} s)"
            med = "" if median is None else f" (median {median:.2f} s)"
            cells.append(f'<td class="metric-{metric}{" regression" if t.regressed(metric) else ""}">{svg}'
                         f'<div class="vals">this run {_e(cur)}{_e(med)}</div></td>')
        flags = "".join(f'<div><span class="flag">REGRESSION</span> <span class="regression-reason">{_e(r.reason)}</span></div>'
                        for r in t.regressions) or '<span class="note">none</span>'
        anchor = anchors.get(t.experiment, "")
        out.append(f'<tr class="{cls}" data-experiment="{_e(t.experiment)}"><td><a href="#{_e(anchor)}">{_e(t.experiment)}'
                   f"</a></td><td class=\"verdicts\">{verdicts}</td>{''.join(cells)}<td>{flags}</td></tr>")
    out.append("</tbody></table></section>")
    return "".join(out)
