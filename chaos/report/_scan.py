"""Read a timeline.jsonl into what one chart needs (buckets and the unavailability span), fast.

An hour of four probe clients is ~600k lines; parsing each into an Event takes seconds, so
timelines in the canonical form (one compact JSON object per line, "t" first, sorted by t, as
chaos.results.write_result writes them with chaos.timeline.to_jsonl) are scanned as bytes: bucket
edges by binary search on t, counts by substring counting, floats only for latencies and the
worst client's successes. Anything else falls back to chaos.timeline.load_jsonl; tests assert
both paths give the same answer.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from chaos.timeline import FAIL, INFO, OK, load_jsonl

from ._data import (
    MAX_BUCKETS,
    Series,
    Span,
    bucket_count,
    bucket_series,
    bucket_width,
    end_of,
    longest_outage,
    unavailability_span,
    worst_client,
)

__all__ = ["TimelineSummary", "summarise_timeline", "summarise_bytes", "summarise_events"]

_T_AT = re.compile(rb'\{"t":(-?[0-9][0-9.eE+-]*)[,}]')
_LATENCY = re.compile(rb'"latency_s":(-?[0-9][0-9.eE+-]*)')
# Event.to_dict writes "kind" then "process": requiring both keeps a nested "kind" key (in
# `extra`) from being counted.
_KIND_NEEDLE = {OK: b',"kind":"ok","process":"', FAIL: b',"kind":"fail","process":"',
                INFO: b',"kind":"info","process":"'}


@dataclass(frozen=True)
class TimelineSummary:
    """Everything a chart needs from one timeline; `note` says why there is no chart."""

    series: Series | None
    span: Span | None
    end_s: float
    completions: int
    note: str | None = None


def summarise_events(events, result: Mapping[str, Any], max_buckets: int = MAX_BUCKETS) -> TimelineSummary:
    """The reference path: Events (load_jsonl) through the pure functions of _data."""
    evs = sorted(events, key=lambda e: e.t)
    end = end_of(result, evs[-1].t if evs else None)
    series = bucket_series(evs, end, max_buckets)
    injected = _injected(result)
    span = unavailability_span(evs, injected, end) if injected is not None else None
    return TimelineSummary(series, span, end, sum(series.totals().values()))


def _injected(result: Mapping[str, Any]) -> float | None:
    value = (result.get("windows") or {}).get("injected_s")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarise_bytes(data: bytes, result: Mapping[str, Any], max_buckets: int = MAX_BUCKETS) -> TimelineSummary | None:
    """The fast path over the raw bytes of a canonical timeline; None when it is not canonical."""
    if not data:
        return None
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    starts = data.count(b'\n{"t":') + (1 if data.startswith(b'{"t":') else 0)
    # Every line (blank ones included) must start with "t"; a blank line fails this count.
    if starts != n_lines:
        return None

    def t_at(line_start: int) -> float:
        m = _T_AT.match(data, line_start)
        if m is None:
            raise _NotCanonical
        return float(m.group(1))

    def line_start_before(pos: int) -> int:
        return data.rfind(b"\n", 0, pos) + 1

    try:
        last = len(data)
        while last and data[last - 1] == 0x0A:  # no rstrip(): it would copy the whole file
            last -= 1
        last_t = t_at(line_start_before(last))
        end = end_of(result, last_t)
        width = bucket_width(end, max_buckets)
        n = bucket_count(end, width)

        def first_line_in_bucket(k: int) -> int:
            # The same predicate as bucket_series (t // width), so both paths agree exactly.
            lo, hi = 0, len(data)
            while lo < hi:
                s = line_start_before((lo + hi) // 2)
                if s < lo:  # the midpoint fell inside the line that starts at lo
                    s = lo
                if int(t_at(s) // width) < k:
                    e = data.find(b"\n", s)
                    lo = len(data) if e < 0 else e + 1
                else:
                    hi = s
            return lo

        edges = [0] + [first_line_in_bucket(k) for k in range(1, n)] + [len(data)]
    except _NotCanonical:
        return None
    if any(a > b for a, b in zip(edges, edges[1:])):
        return None  # not sorted by t
    ranges = list(zip(edges, edges[1:]))
    counts = {kind: tuple(data.count(needle, s, e) for s, e in ranges) for kind, needle in _KIND_NEEDLE.items()}
    latency = tuple(_max_number(_LATENCY.findall(data, s, e)) for s, e in ranges)
    series = Series(width, counts[OK], counts[FAIL], counts[INFO], latency)

    span = None
    injected = _injected(result)
    if injected is not None:
        worst = worst_client(result)
        if worst is None:
            return None  # no per-client figures recorded: let the reference path find the client
        span = _worst_span(data, edges, width, worst, injected, end, result)
        if span is None:
            return None
    return TimelineSummary(series, span, end, sum(series.totals().values()))


class _NotCanonical(Exception):
    pass


_NOT_PLAIN = re.compile(rb"[eE-]|(?:^|,)[0-9]{2}")


def _max_number(numbers: list[bytes]) -> float | None:
    """max(map(float, numbers)) without converting them all: plain non-negative decimals with a
    one-digit integer part (every latency under 10 s) order like their text."""
    if not numbers:
        return None
    if _NOT_PLAIN.search(b",".join(numbers)) is None:
        return float(max(numbers))
    return max(map(float, numbers))


def _worst_span(data: bytes, edges: list[int], width: float, worst: str, injected: float, end: float,
                result: Mapping[str, Any]) -> Span | None:
    """The worst client's longest outage. First only around the fault (from the bucket before
    the injection to the recovery plus the recorded outage), accepted when its length is the
    checkers' recorded figure; otherwise over the whole timeline."""
    quoted = json.dumps(worst)[1:-1].encode()
    needle = b',"kind":"ok","process":"' + quoted + b'"'
    ok_re = re.compile(rb'\{"t":(-?[0-9][0-9.eE+-]*)' + re.escape(needle))
    recorded = _number(((result.get("metrics") or {}).get("client_unavailability_s") or {}).get(worst))
    recovery = _number((result.get("metrics") or {}).get("recovery_s"))
    n = len(edges) - 1
    if recorded is not None and recovery is not None:
        first = max(int(injected // width) - 1, 0)
        last = min(int((injected + recovery + recorded) // width) + 2, n)
        lo, hi = edges[first], edges[last]
        window_oks = list(map(float, ok_re.findall(data, lo, hi)))
        # Without a success before the injection inside the window, the gap may start earlier.
        if window_oks and window_oks[0] < injected and len(window_oks) == data.count(needle, lo, hi):
            window_end = end if last == n else min(end, last * width)
            start, stop = longest_outage(window_oks, injected, window_end)
            if stop < window_end and abs((stop - start) - recorded) <= 0.0015:
                return Span(worst, start, stop)
    oks = list(map(float, ok_re.findall(data)))
    if len(oks) != data.count(needle):
        return None
    oks.sort()
    start, stop = longest_outage(oks, injected, end)
    return Span(worst, start, stop)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def summarise_timeline(path: str | os.PathLike[str], result: Mapping[str, Any],
                       max_buckets: int = MAX_BUCKETS) -> TimelineSummary:
    """Summarise the timeline file at `path` (fast path first, load_jsonl when not canonical)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TimelineSummary(None, None, end_of(result), 0, note=f"timeline {path.name} not found")
    except OSError as exc:
        return TimelineSummary(None, None, end_of(result), 0, note=f"cannot read timeline {path.name}: {exc}")
    summary = summarise_bytes(data, result, max_buckets)
    if summary is not None:
        return summary
    del data
    try:
        events = load_jsonl(str(path))
    except (ValueError, KeyError, TypeError) as exc:
        return TimelineSummary(None, None, end_of(result), 0, note=f"timeline {path.name} is malformed: {exc}")
    return summarise_events(events, result, max_buckets)
