"""Inline SVG charts for the report: an experiment's timeline and a small trend line per metric.

Coordinates are rounded to 0.1 px and each kind of bar is one <path>, so an hour-long chart
stays a few kilobytes; every text goes through html.escape.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

from ._data import FaultWindow, Series, Span

__all__ = ["timeline_svg", "trend_svg", "nice_ticks"]

_W, _H = 840, 270
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 62, 44, 44
_PW, _PH = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM


def _f(x: float) -> str:
    """A coordinate, rounded to 0.1 px, without a trailing .0."""
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0, step, 2*step ... up to at least `top`, with a step of 1, 2, 2.5 or 5 times a power of 10."""
    if not top or top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _label(value: float) -> str:
    if value == int(value):
        return f"{int(value)}"
    return f"{value:g}"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


class _XScale:
    """Seconds from start to x pixels, clamped to the plot."""

    def __init__(self, x_max: float):
        self.x_max = x_max

    def __call__(self, t: float) -> float:
        return _LEFT + min(max(t, 0.0), self.x_max) / self.x_max * _PW


def _fault_window_svg(window: FaultWindow, x: _XScale, fault: str) -> list[str]:
    x0, x1 = x(window.start_s), x(window.end_s)
    heal = f"{window.end_s:.2f} s" if window.healed else "not healed"
    return [
        f'<rect class="fault-window" x="{_f(x0)}" y="{_TOP}" width="{_f(max(x1 - x0, 1))}" height="{_PH}" '
        f'data-start-s="{window.start_s:.3f}" data-end-s="{window.end_s:.3f}">'
        f"<title>fault {escape(fault)}: injected {window.start_s:.2f} s, heal {heal}</title></rect>",
        f'<text class="fault-label" x="{_f(x0 + 4)}" y="{_TOP + 13}">fault'
        f'{" (" + escape(fault) + ")" if fault else ""}</text>',
    ]


def _span_svg(span: Span | None, x: _XScale) -> tuple[str, str]:
    """The unavailability span: (its band, drawn under the bars; its bracket and label, over them)."""
    if span is None or span.end_s <= span.start_s:
        return "", ""
    s0, s1 = x(span.start_s), x(span.end_s)
    who = f" ({escape(span.process)})" if span.process else ""
    label = f"unavailable {_seconds(span.length_s)}{who}"
    anchor_x = min(max((s0 + s1) / 2, _LEFT + 70), _LEFT + _PW - 70)
    return (
        f'<rect class="span-band" x="{_f(s0)}" y="{_TOP}" width="{_f(max(s1 - s0, 1))}" height="{_PH}"/>',
        f'<g class="unavailability-span" data-start-s="{span.start_s:.3f}" data-end-s="{span.end_s:.3f}">'
        f"<title>longest outage of the worst client{who}: {span.start_s:.3f} s to {span.end_s:.3f} s</title>"
        f'<path class="span-bracket" d="M{_f(s0)} {_TOP - 2}v-8H{_f(max(s1, s0 + 1))}v8"/>'
        f'<text class="span-label" x="{_f(anchor_x)}" y="{_TOP - 15}">{label}</text></g>',
    )


def _bars_svg(series: Series, x: _XScale) -> tuple[list[str], list[float], list[float]]:
    """Bars, one path per kind, stacked ok (bottom), info, fail (top) on an ops/s axis, and the
    max latency line: (the svg parts, the ops/s ticks, the latency ticks)."""
    out: list[str] = []
    base = _TOP + _PH
    w = series.width_s
    totals = [o + i + f for o, i, f in zip(series.ok, series.info, series.fail)]
    # Headroom above the tallest bar keeps the fault window visible over a steady load.
    y_ticks = nice_ticks(max(totals) / w * 1.3 if max(totals) else 1.0)
    y_top = y_ticks[-1]
    bar_w = _PW * w / x.x_max
    paths: dict[str, list[str]] = {"ok": [], "info": [], "fail": []}
    for i, (ok, info, fail) in enumerate(zip(series.ok, series.info, series.fail)):
        x0 = x(i * w)
        bw = min(bar_w, _LEFT + _PW - x0)
        if bw <= 0:
            break
        level = 0.0
        for kind, count in (("ok", ok), ("info", info), ("fail", fail)):
            if not count:
                continue
            h = count / w / y_top * _PH
            paths[kind].append(f"M{_f(x0)} {_f(base - level)}h{_f(bw)}v{_f(-h)}h{_f(-bw)}z")
            level += h
    for kind, parts in paths.items():
        if parts:
            out.append(f'<path class="bars bars-{kind}" d="{"".join(parts)}"/>')
    lat_ticks: list[float] = []
    latencies = [v for v in series.latency_max_s if v is not None]
    if latencies:
        lat_ticks = nice_ticks(max(latencies) or 1.0, 4)
        lat_top = lat_ticks[-1]
        segs, pen_down = [], False
        for i, v in enumerate(series.latency_max_s):
            if v is None:
                pen_down = False
                continue
            cx, cy = x((i + 0.5) * w), base - v / lat_top * _PH
            segs.append(f"{'L' if pen_down else 'M'}{_f(cx)} {_f(cy)}")
            pen_down = True
        out.append(f'<path class="latency" d="{"".join(segs)}"/>')
    return out, y_ticks, lat_ticks


def _recovery_svg(recovery_s: float, x: _XScale) -> list[str]:
    rx = x(recovery_s)
    right = rx > _LEFT + _PW - 90
    return [
        f'<line class="recovery-point" x1="{_f(rx)}" x2="{_f(rx)}" y1="{_TOP}" y2="{_TOP + _PH}" '
        f'data-t-s="{recovery_s:.3f}"><title>recovered at {recovery_s:.3f} s</title></line>',
        f'<text class="recovery-label{" end" if right else ""}" x="{_f(rx - 4 if right else rx + 4)}" '
        f'y="{_TOP + 27}">recovered</text>',
    ]


def _axes_svg(x: _XScale, y_ticks: list[float], lat_ticks: list[float]) -> list[str]:
    """Axes: x in seconds from start, ops/s on the left, latency on the right."""
    base = _TOP + _PH
    out = [f'<path class="axis" d="M{_LEFT} {_TOP}V{base}H{_LEFT + _PW}V{_TOP}"/>']
    ticks = []
    for t in nice_ticks(x.x_max, 8):
        if t > x.x_max + 1e-9:
            break
        tx = _f(x(t))
        ticks.append(f'<path class="tick" d="M{tx} {base}v5"/><text class="xt" x="{tx}" y="{base + 17}">{_label(t)}</text>')
    y_top = y_ticks[-1]
    for v in y_ticks:
        ty = _f(base - v / y_top * _PH)
        ticks.append(f'<path class="grid" d="M{_LEFT} {ty}h{_PW}"/><text class="yt" x="{_LEFT - 6}" y="{ty}">{_label(v)}</text>')
    for v in lat_ticks:
        ty = _f(base - v / lat_ticks[-1] * _PH)
        ticks.append(f'<text class="lt" x="{_LEFT + _PW + 6}" y="{ty}">{_label(v)}</text>')
    out.append("".join(ticks))
    out.append(f'<text class="axis-title" x="{_LEFT + _PW / 2}" y="{_H - 6}">seconds from start</text>')
    out.append(f'<text class="axis-title" transform="translate(14 {_TOP + _PH / 2}) rotate(-90)">ops/s</text>')
    if lat_ticks:
        out.append(f'<text class="axis-title latency-title" transform="translate({_W - 10} {_TOP + _PH / 2}) '
                   f'rotate(90)">max latency (s)</text>')
    return out


def timeline_svg(
    series: Series | None,
    end_s: float,
    *,
    window: FaultWindow | None,
    span: Span | None,
    recovery_s: float | None,
    title: str,
    fault: str = "",
) -> str:
    """The experiment's chart: stacked ok/info/fail bars (ops/s per bucket), max latency on the
    right axis, the fault window shaded, the unavailability span bracketed, the recovery line."""
    x_max = max(end_s, window.end_s if window else 0.0, span.end_s if span else 0.0)
    if x_max <= 0:
        x_max = len(series) * series.width_s if series is not None and len(series) else 1.0
    x = _XScale(x_max)
    out = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" '
        f'width="{_W}" height="{_H}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect class="plot" x="{_LEFT}" y="{_TOP}" width="{_PW}" height="{_PH}"/>',
    ]
    if window is not None:
        out += _fault_window_svg(window, x, fault)
    band, bracket = _span_svg(span, x)
    out.append(band)  # under the bars, so their colours stay true; the bracket goes over them
    y_ticks, lat_ticks = [0.0, 1.0], []
    if series is not None and len(series):
        bars, y_ticks, lat_ticks = _bars_svg(series, x)
        out += bars
    else:
        out.append(f'<text class="empty" x="{_LEFT + _PW / 2}" y="{_TOP + _PH / 2}">no operations recorded</text>')
    out.append(bracket)
    if recovery_s is not None:
        out += _recovery_svg(recovery_s, x)
    out += _axes_svg(x, y_ticks, lat_ticks)
    out.append("</svg>")
    return "".join(out)


def trend_svg(values: Sequence[float | None], *, flagged: bool, median: float | None, title: str,
              labels: Sequence[str] = ()) -> str:
    """A small line across runs (oldest left, this run right, a larger dot), the earlier median
    dashed; the last dot is red when the run is flagged as a regression."""
    w, h, pad_x, pad_y = 230, 64, 10, 10
    known = [v for v in values if v is not None]
    top = max(known + ([median] if median is not None else [])) if known else 1.0
    top = nice_ticks(top or 1.0, 3)[-1]
    n = len(values)

    def px(i: int) -> float:
        return pad_x + (i / (n - 1) if n > 1 else 0.5) * (w - 2 * pad_x)

    def py(v: float) -> float:
        return h - pad_y - v / top * (h - 2 * pad_y)

    cls = "trend regression" if flagged else "trend"
    out = [f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
           f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<path class="trend-axis" d="M{pad_x} {h - pad_y}H{w - pad_x}"/>',
           f'<text class="trend-top" x="2" y="9">{_label(top)} s</text>']
    if median is not None:
        out.append(f'<path class="trend-median" d="M{pad_x} {_f(py(median))}H{w - pad_x}"><title>median of earlier runs '
                   f"{median:.3f} s</title></path>")
    pts = [(px(i), py(v)) for i, v in enumerate(values) if v is not None]
    if len(pts) > 1:
        out.append('<path class="trend-line" d="' + "".join(
            f"{'M' if j == 0 else 'L'}{_f(a)} {_f(b)}" for j, (a, b) in enumerate(pts)) + '"/>')
    for i, v in enumerate(values):
        label = labels[i] if i < len(labels) else f"run {i + 1}"
        if v is None:
            out.append(f'<text class="trend-missing" x="{_f(px(i))}" y="{h - 2}">·<title>{escape(label)}: no value'
                       f"</title></text>")
            continue
        last = i == n - 1
        dot_cls = "trend-dot current" + (" regression" if flagged else "") if last else "trend-dot"
        out.append(f'<circle class="{dot_cls}" cx="{_f(px(i))}" cy="{_f(py(v))}" r="{4 if last else 2.5}">'
                   f"<title>{escape(label)}: {v:.3f} s</title></circle>")
    out.append("</svg>")
    return "".join(out)
