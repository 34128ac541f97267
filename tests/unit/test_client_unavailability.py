"""Per-client unavailability: one client stuck on a dead server must not be hidden by another
client's successes."""

from __future__ import annotations

import pytest

from chaos.checkers import client_unavailability_s, judge, unavailability_s
from chaos.slo import SLO
from chaos.timeline import INFO, INVOKE, NEMESIS, OK, Event

INJECTED = 10.25
END = 30.0


def op(t_done: float, kind: str, value: int, process: str, node: str | None = "pg0") -> list[Event]:
    t0 = t_done - 0.01 if kind == OK else t_done - 1.0  # a stuck op times out after 1 s
    return [
        Event(t0, INVOKE, process, "write", value=value),
        Event(t_done, kind, process, "write", value=value, node=node if kind == OK else None,
              error=None if kind == OK else "timeout after 1.0 s", latency_s=round(t_done - t0, 6)),
    ]


def stuck_client_history() -> list[Event]:
    """w0 succeeds every 0.5 s throughout; w1 succeeds until 10.0, then only gets indeterminate
    completions (it kept its connection to the dead primary) until it succeeds again at 20.0."""
    events: list[Event] = [Event(INJECTED, NEMESIS, "nemesis", "inject", value="kill pg0")]
    value = 0
    for i in range(1, 60):  # 0.5 .. 29.5
        value += 1
        events += op(i / 2, OK, value, "w0")
    for i in range(1, 21):  # 0.5 .. 10.0
        value += 1
        events += op(i / 2, OK, value, "w1")
    for t in range(11, 20):  # 11 .. 19
        value += 1
        events += op(float(t), INFO, value, "w1")
    for i in range(40, 60):  # 20.0 .. 29.5
        value += 1
        events += op(i / 2, OK, value, "w1")
    return sorted(events, key=lambda e: e.t)


def test_per_client_unavailability_names_every_worker():
    per_client = client_unavailability_s(stuck_client_history(), INJECTED, END)
    assert set(per_client) == {"w0", "w1"}
    assert per_client["w1"] == pytest.approx(10.0)  # last OK 10.0, next OK 20.0
    assert per_client["w0"] == pytest.approx(0.5)
    # Merged, w0's successes hide w1's outage.
    assert unavailability_s(stuck_client_history(), INJECTED, END) == pytest.approx(0.5)


def test_nemesis_events_are_not_a_client():
    per_client = client_unavailability_s(stuck_client_history(), INJECTED, END)
    assert "nemesis" not in per_client


def test_worker_with_no_completion_after_injection_counts_to_the_end():
    events = op(5.0, OK, 1, "w0") + [Event(12.0, INVOKE, "w0", "write", value=2)]
    events += op(5.0, OK, 3, "w1") + op(29.0, OK, 4, "w1")
    per_client = client_unavailability_s(events, INJECTED, END)
    assert per_client["w0"] == pytest.approx(END - 5.0)
    assert per_client["w1"] == pytest.approx(24.0)


def test_judge_bounds_the_worst_client_and_reports_the_merged_figure():
    events = stuck_client_history()
    acked = [e.value for e in events if e.kind == OK]
    v = judge(events, injected_s=INJECTED, healed_s=None, end_s=END, slo=SLO(max_unavailability_s=5),
              fault_proven=True, present=acked)
    assert v.metrics["unavailability_s"] == pytest.approx(10.0)
    assert v.metrics["unavailability_any_client_s"] == pytest.approx(0.5)
    assert v.metrics["client_unavailability_s"] == {"w0": pytest.approx(0.5), "w1": pytest.approx(10.0)}
    assert v.verdict == "fail"
    assert any("unavailability 10.000 s > max_unavailability_s 5" in r for r in v.reasons), v.reasons


def test_judge_passes_when_worst_client_is_within_slo():
    events = stuck_client_history()
    acked = [e.value for e in events if e.kind == OK]
    v = judge(events, injected_s=INJECTED, healed_s=None, end_s=END, slo=SLO(max_unavailability_s=11),
              fault_proven=True, present=acked)
    assert v.verdict == "pass", v.reasons
    assert v.metrics["unavailability_s"] == pytest.approx(10.0)
