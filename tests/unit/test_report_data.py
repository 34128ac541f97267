"""Data shaping of the HTML report, on recorded results documents (tests/fixtures_report)."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from chaos import checkers
from chaos.report import (
    MAX_BUCKETS,
    REGRESSION_RATIO,
    FaultWindow,
    anchor_ids,
    bucket_series,
    bucket_width,
    fault_window,
    is_regression,
    longest_outage,
    recovery_point,
    suite_matrix,
    summarise_events,
    summarise_timeline,
    trend,
    unavailability_span,
)
from chaos.results import build_result, load_results, write_result
from chaos.slo import SLO
from chaos.timeline import FAIL, INFO, INVOKE, NEMESIS, OK, Event, load_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_report"
CURRENT = FIXTURES / "run-current"
HISTORY = [FIXTURES / f"run-h{i}" for i in range(1, 5)]
EXPERIMENTS = sorted(p.parent.name for p in CURRENT.rglob("result.json"))


def _result(name: str) -> dict:
    return json.loads((CURRENT / "postgres" / name / "result.json").read_text())


def _events(name: str) -> tuple[Event, ...]:
    return load_jsonl(str(CURRENT / "postgres" / name / "timeline.jsonl"))


def test_fixtures_hold_a_pass_a_fail_and_an_unknown():
    verdicts = {r["experiment"]: r["verdict"] for r in load_results(CURRENT)}
    assert verdicts["postgres/negative-async-partition"] == "fail"
    assert verdicts["postgres/primary-node-crash"] == "unknown"
    assert "pass" in verdicts.values()


# ------------------------------------------------------------------------------ fault window


def test_fault_window_is_injection_to_heal():
    assert fault_window(_result("primary-kill")) == FaultWindow(2.036, 8.325, healed=True)


def test_fault_window_without_heal_runs_to_the_end_and_says_so():
    r = _result("primary-kill")
    r["windows"]["healed_s"] = None
    assert fault_window(r) == FaultWindow(2.036, 12.502, healed=False)


def test_no_fault_window_when_nothing_was_injected():
    assert fault_window({"windows": {"end_s": 10.0}}) is None


# ------------------------------------------------------------------------ unavailability span


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_unavailability_span_length_is_the_checkers_figure(name):
    r, events = _result(name), _events(name)
    w = r["windows"]
    span = unavailability_span(events, w["injected_s"], w["end_s"])
    per_client = checkers.client_unavailability_s(events, w["injected_s"], w["end_s"])
    assert span.length_s == pytest.approx(max(per_client.values()), abs=1e-9)
    assert per_client[span.process] == max(per_client.values())
    # ... and the figure recorded in result.json (rounded to ms there).
    assert span.length_s == pytest.approx(r["metrics"]["unavailability_s"], abs=0.0015)
    assert span.end_s > w["injected_s"]


def test_longest_outage_mirrors_unavailability_s_on_random_histories():
    rng = random.Random(6)
    for _ in range(300):
        oks = sorted(round(rng.uniform(0, 20), 2) for _ in range(rng.randrange(0, 30)))
        injected, end = rng.uniform(0, 15), rng.uniform(10, 25)
        start, stop = longest_outage(oks, injected, end)
        events = [Event(t, OK, "w0", "write", i) for i, t in enumerate(oks)]
        assert stop - start == pytest.approx(checkers.unavailability_s(events, injected, end), abs=1e-9)


def test_span_of_an_outage_that_lasts_to_the_end():
    events = [Event(t / 10, OK, "w0", "write", t) for t in range(30)]  # successes until 2.9 s
    span = unavailability_span(events, injected_s=1.0, end_s=10.0)
    assert (span.process, span.start_s, span.end_s) == ("w0", 2.9, 10.0)


# ------------------------------------------------------------------------------ recovery point


def test_recovery_point_is_injection_plus_recovery():
    r = _result("negative-async-partition")
    assert recovery_point(r) == pytest.approx(2.033 + 11.029)


def test_no_recovery_point_when_it_did_not_recover():
    r = _result("primary-kill")
    r["metrics"]["recovery_s"] = None
    assert recovery_point(r) is None


# ------------------------------------------------------------------------------ bucketing


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_bucketing_keeps_every_completion(name):
    events = _events(name)
    series = bucket_series(events, _result(name)["windows"]["end_s"])
    expected = {kind: sum(1 for e in events if e.kind == kind) for kind in (OK, FAIL, INFO)}
    assert series.totals() == expected
    assert len(series) <= MAX_BUCKETS


def test_an_hour_long_timeline_stays_under_the_bucket_cap():
    # The bucket count depends on the duration only; 8 ops/s keeps the test fast.
    events = [Event(i / 8, OK, f"w{i % 4}", "write", i, latency_s=0.004) for i in range(8 * 3600)]
    series = bucket_series(events, 3600.0)
    assert len(series) <= MAX_BUCKETS <= 1000
    assert sum(series.ok) == 8 * 3600


@pytest.mark.parametrize("late_outage_s", [0.0, 40.0])
def test_fast_scan_of_an_hour_agrees_with_the_reference_path(tmp_path, late_outage_s):
    """Outage at the fault, and (second case) a longer one late in the run, far from the fault."""
    events = [Event(1000.0, NEMESIS, "nemesis", "inject", "x")]
    for c in range(4):
        t, v = c * 0.1, c
        while t < 3600:
            down = 1000 <= t < 1010 or (c == 1 and 3000 <= t < 3000 + late_outage_s)
            events += [Event(t, INVOKE, f"w{c}", "write", v),
                       Event(t + 0.01, FAIL if down else OK, f"w{c}", "write", v, latency_s=0.01)]
            t, v = t + 2.0, v + 4
    slo = SLO(max_unavailability_s=30)
    verdict = checkers.judge(events, injected_s=1000.0, healed_s=1060.0, end_s=3600.0, slo=slo,
                             fault_proven=True, present=[e.value for e in events if e.kind == OK])
    result = build_result(experiment="c/e", component="c", fault="kill", platform="local", seed=1, target={},
                          proof={}, config={}, windows={"injected_s": 1000.0, "healed_s": 1060.0, "end_s": 3600.0},
                          verdict=verdict, slo=slo)
    path = write_result(tmp_path, result, events).parent / "timeline.jsonl"
    fast = summarise_timeline(path, result)
    assert fast == summarise_events(load_jsonl(str(path)), result)
    assert fast.span.length_s == pytest.approx(verdict.metrics["unavailability_s"], abs=0.0015)
    assert (fast.span.start_s > 2990) == bool(late_outage_s)


def test_completions_outside_the_range_are_clamped_not_dropped():
    events = [Event(-0.5, OK, "w0", "write", 1), Event(12.0, FAIL, "w0", "write", 2), Event(5, INVOKE, "w0", "write", 3)]
    series = bucket_series(events, 10.0)
    assert series.ok[0] == 1 and series.fail[-1] == 1 and series.totals() == {OK: 1, FAIL: 1, INFO: 0}


def test_latency_is_the_slowest_completion_of_the_bucket():
    events = [Event(1.01, OK, "w0", "write", 1, latency_s=0.01), Event(1.02, INFO, "w1", "write", 2, latency_s=1.0)]
    series = bucket_series(events, 10.0)
    assert max(v for v in series.latency_max_s if v is not None) == 1.0


@pytest.mark.parametrize("duration, width", [(8.0, 0.1), (30.0, 0.1), (33.0, 0.2), (600.0, 2.0), (3600.0, 15.0)])
def test_bucket_width_is_a_readable_step(duration, width):
    assert bucket_width(duration) == width


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fast_timeline_scan_agrees_with_load_jsonl(name):
    path = CURRENT / "postgres" / name / "timeline.jsonl"
    r = _result(name)
    assert summarise_timeline(path, r) == summarise_events(load_jsonl(str(path)), r)


def test_a_non_canonical_timeline_is_read_through_load_jsonl(tmp_path):
    r = _result("primary-kill")
    events = _events("primary-kill")
    path = tmp_path / "timeline.jsonl"
    # Spaces and another key order: still valid JSONL, not the compact form the fast path scans.
    path.write_text("".join(json.dumps(dict(reversed(list(e.to_dict().items())))) + "\n" for e in events))
    assert summarise_timeline(path, r) == summarise_events(events, r)


def test_a_missing_timeline_is_a_note_not_an_error(tmp_path):
    summary = summarise_timeline(tmp_path / "timeline.jsonl", _result("primary-kill"))
    assert summary.series is None and "not found" in summary.note


# ------------------------------------------------------------------------------ matrix


def test_matrix_places_every_experiment_by_component_and_fault():
    matrix = suite_matrix(load_results(CURRENT))
    assert matrix.components == ("postgres",)
    assert matrix.faults == ("crash", "kill", "partition")
    partition = {c.experiment: c for c in matrix.slot("postgres", "partition")}
    # Partition and isolation (and the negative control) share component and fault: all appear.
    assert set(partition) == {"postgres/negative-async-partition", "postgres/primary-zone-isolation",
                              "postgres/primary-zone-partition"}
    fail = partition["postgres/negative-async-partition"]
    assert (fail.verdict, fail.unavailability_s, fail.lost_writes) == ("fail", 5.463, 448)
    (crash,) = matrix.slot("postgres", "crash")
    assert crash.verdict == "unknown" and crash.anchor == "exp-postgres-primary-node-crash"


def test_an_unexpected_verdict_is_shown_as_unknown_never_pass():
    (cell,) = suite_matrix([{"experiment": "x/y", "component": "x", "fault": "kill", "verdict": "PASSED"}]).slot("x", "kill")
    assert cell.verdict == "unknown"


def test_anchor_ids_are_stable_and_unique():
    ids = anchor_ids(["postgres/primary-kill", "postgres/primary kill", "<b>"])
    assert ids["postgres/primary-kill"] == "exp-postgres-primary-kill"
    assert len(set(ids.values())) == 3 and ids["<b>"] == "exp-b"


# ------------------------------------------------------------------------------ trend


def _runs():
    return [(p.name, load_results(p)) for p in HISTORY] + [("current", load_results(CURRENT))]


def test_trend_follows_each_experiment_across_runs_oldest_first():
    by_name = {t.experiment: t for t in trend(_runs())}
    kill = by_name["postgres/primary-kill"]
    assert kill.runs == ("run-h1", "run-h2", "run-h3", "run-h4", "current")
    assert kill.unavailability_s[-1] == 4.303 and len(kill.recovery_s) == 5
    # Only in two of the four earlier runs.
    assert by_name["postgres/negative-async-partition"].verdicts == (None, "fail", "fail", None, "fail")


def test_trend_flags_the_regression_and_the_verdict_change():
    by_name = {t.experiment: t for t in trend(_runs())}
    kill = by_name["postgres/primary-kill"]  # history halved by hand (fixtures README)
    assert {r.metric for r in kill.regressions} == {"unavailability_s", "recovery_s"}
    crash = by_name["postgres/primary-node-crash"]  # pass in every earlier run, unknown now
    assert [(r.metric, r.baseline, r.current) for r in crash.regressions] == [("verdict", "pass", "unknown")]
    # Two earlier values only: never flagged, whatever they are (0.039 -> 11.03 s recovery).
    assert by_name["postgres/negative-async-partition"].regressions == ()
    assert by_name["postgres/standby-kill"].regressions == ()


def test_fewer_than_three_earlier_runs_are_never_a_regression():
    assert is_regression([1.0, 1.0], 50.0) == (False, 1.0)
    assert is_regression([1.0, None, None, 1.0], 50.0)[0] is False
    assert is_regression([], 50.0) == (False, None)


def test_noise_floor_small_absolute_changes_are_not_regressions():
    assert is_regression([0.05, 0.06, 0.05], 0.9)[0] is False  # 18x, but only 0.85 s worse
    assert is_regression([0.5, 0.5, 0.5], 1.6)[0] is True  # 3.2x and 1.1 s worse


def test_ratio_must_exceed_one_and_a_half_times_the_median():
    assert is_regression([10.0, 10.0, 10.0], 14.9)[0] is False
    assert is_regression([10.0, 10.0, 10.0], 15.1)[0] is True
    assert is_regression([10.0, 10.0, 10.0], None)[0] is False


def test_median_is_over_the_last_seven_earlier_runs():
    flagged, median = is_regression([100.0, 100.0, 100.0] + [2.0] * 7, 5.0)
    assert (flagged, median) == (True, 2.0)


def _doc(verdict, unavail=1.0):
    return {"experiment": "c/e", "component": "c", "fault": "kill", "verdict": verdict,
            "metrics": {"unavailability_s": unavail, "recovery_s": unavail}}


def test_pass_to_fail_is_flagged_even_with_one_earlier_run():
    (t,) = trend([("h1", [_doc("pass")]), ("now", [_doc("fail")])])
    assert [r.metric for r in t.regressions] == ["verdict"]


def test_fail_to_fail_and_unknown_to_fail_are_not_verdict_regressions():
    (t,) = trend([("h1", [_doc("pass")]), ("h2", [_doc("fail")]), ("now", [_doc("fail")])])
    assert t.regressions == ()
    (t,) = trend([("h1", [_doc("unknown")]), ("now", [_doc("fail")])])
    assert t.regressions == ()


def test_verdict_compares_with_the_last_run_that_had_the_experiment():
    (t,) = trend([("h1", [_doc("pass")]), ("h2", []), ("now", [_doc("unknown")])])
    assert t.verdicts == ("pass", None, "unknown") and [r.metric for r in t.regressions] == ["verdict"]


# ------------------------------------------------------------------------------ repeats


def _rep(index, of, unavail, verdict="pass"):
    return {**_doc(verdict, unavail), "repeat": {"index": index, "of": of}}


def test_a_value_the_earlier_runs_reached_is_spread_not_a_regression():
    # kafka/leader-kill measured 3.86 s and 6.61 s on one machine: with earlier runs 3.9, 4.0 and
    # 7.0, a 6.61 s is inside what those runs reached. The 1.5 x median rule alone flags it.
    earlier = [3.9, 4.0, 7.0]
    assert 6.61 > statistics.median(earlier) * REGRESSION_RATIO  # the ratio rule alone would flag
    assert is_regression(earlier, 6.61)[0] is False
    assert is_regression(earlier, 7.5)[0] is True  # above all of them, 1.5 x and 3.5 s worse


def test_the_rule_compares_the_current_runs_median_with_the_earlier_runs_pooled_values():
    earlier = [(4.0, 4.2, 3.9), (4.1, 6.6, 4.0), (3.8, 4.3, 4.1)]
    # One slow repeat of three is not the run's value: its median is.
    assert is_regression(earlier, (4.0, 9.0, 4.2)) == (False, 4.1)
    flagged, median = is_regression(earlier, (7.9, 8.4, 9.0))
    assert (flagged, median) == (True, 4.1)
    # Runs are counted, not values: two earlier runs of three repeats are still too few.
    assert is_regression(earlier[:2], (9.0, 9.0, 9.0))[0] is False


def test_trend_groups_repeats_per_run_and_shows_their_median():
    runs = [(f"h{i}", [_rep(1, 3, 4.0), _rep(2, 3, 4.4), _rep(3, 3, 3.8)]) for i in range(3)]
    runs.append(("now", [_rep(1, 3, 9.0), _rep(2, 3, 9.5, "fail"), _rep(3, 3, 8.7)]))
    (t,) = trend(runs)
    assert t.unavailability_s == (4.0, 4.0, 4.0, 9.0)
    assert t.samples["unavailability_s"][-1] == (9.0, 9.5, 8.7)
    assert t.verdicts == ("pass", "pass", "pass", "fail")  # a run's verdict is its worst repeat's
    assert {r.metric for r in t.regressions} == {"unavailability_s", "recovery_s", "verdict"}
    assert "median of 3 repeats" in next(r.reason for r in t.regressions if r.metric == "unavailability_s")
