"""The probe runner with fake clients: every operation is recorded as invoke + completion, and
nothing a client does (raise, hang) escapes the probe's threads."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

import pytest

from chaos.probe import DefiniteFailure, Probe, missed_ticks
from chaos.timeline import COMPLETIONS, FAIL, INFO, INVOKE, OK, PHASE, Timeline


class FakeClient:
    """write() acknowledges on `node`, or raises what `fail_with` returns for that value."""

    def __init__(self, node: str = "pg0", fail_with=None):
        self.node = node
        self.fail_with = fail_with
        self.written: list[int] = []
        self.aborts = 0
        self.closed = threading.Event()

    def write(self, value: int) -> str:
        self.written.append(value)
        if self.fail_with is not None:
            raise self.fail_with(value)
        return self.node

    def abort(self) -> None:
        self.aborts += 1

    def close(self) -> None:
        self.closed.set()


class HangingClient(FakeClient):
    """The first `hangs` writes block until abort() is called, then raise as a driver would;
    later writes succeed."""

    def __init__(self, hangs: int = 10**9):
        super().__init__()
        self.hangs = hangs
        self.released = threading.Event()

    def write(self, value: int) -> str:
        self.written.append(value)
        if len(self.written) > self.hangs:
            return self.node
        self.released.wait(30)
        self.released.clear()
        raise ConnectionError("connection aborted")

    def abort(self) -> None:
        self.aborts += 1
        self.released.set()


class ProbeCrash(BaseException):
    """Not an Exception: a probe must record even these."""


def run_probe(clients, *, seconds: float = 0.2, interval_s: float = 0.01, op_timeout_s: float = 1.0,
              until=None) -> tuple[Timeline, Probe]:
    tl = Timeline()
    probe = Probe(tl, clients, interval_s=interval_s, op_timeout_s=op_timeout_s).start()
    try:
        if until is not None:
            assert probe.wait_for(lambda: until(tl), timeout_s=5, poll_s=0.005)
        else:
            time.sleep(seconds)
    finally:
        probe.stop(timeout_s=3)
    return tl, probe


def ops_by_value(tl: Timeline) -> dict[int, list]:
    ops = defaultdict(list)
    for e in tl.events:
        if e.kind == INVOKE or e.kind in COMPLETIONS:
            ops[e.value].append(e)
    return ops


def assert_no_live_threads(probe: Probe) -> None:
    assert not any(w.thread.is_alive() for w in probe.workers)
    assert not probe._watchdog.is_alive()


def test_each_op_is_invoke_then_ok_with_same_value_and_process():
    clients = [FakeClient("pg0"), FakeClient("pg1")]
    tl, probe = run_probe(clients)
    ops = ops_by_value(tl)
    assert len(ops) >= 4
    for value, events in ops.items():
        assert [e.kind for e in events] == [INVOKE, OK], events
        invoke, done = events
        assert invoke.process == done.process
        assert invoke.op == done.op == "write"
        assert done.node == {"w0": "pg0", "w1": "pg1"}[done.process]
        assert done.latency_s is not None and done.latency_s >= 0
        assert invoke.t <= done.t
    # Both workers ran, and each wrote exactly what the timeline says it did.
    for i, c in enumerate(clients):
        recorded = sorted(e.value for e in tl.events if e.kind == INVOKE and e.process == f"w{i}")
        assert recorded == sorted(c.written) and c.written
    assert_no_live_threads(probe)


def test_values_are_unique_across_workers():
    clients = [FakeClient() for _ in range(4)]
    tl, _ = run_probe(clients, interval_s=0.001)
    invoked = [e.value for e in tl.events if e.kind == INVOKE]
    assert len(invoked) > 20
    assert len(invoked) == len(set(invoked))
    written = [v for c in clients for v in c.written]
    assert Counter(written) == Counter(invoked)


def test_first_value_sets_the_sequence_start():
    tl = Timeline()
    probe = Probe(tl, [FakeClient()], interval_s=0.01, first_value=1000).start()
    probe.wait_for(lambda: len(tl) >= 2, timeout_s=5, poll_s=0.005)
    probe.stop(timeout_s=3)
    assert min(e.value for e in tl.events if e.kind == INVOKE) == 1000


def test_definite_failure_is_recorded_as_fail_with_cause():
    def refuse(value):
        try:
            raise OSError("connection refused")
        except OSError as cause:
            raise DefiniteFailure("no connection") from cause

    tl, _ = run_probe([FakeClient(fail_with=refuse)], until=lambda tl: len(tl) >= 4)
    done = [e for e in tl.events if e.kind in COMPLETIONS]
    assert done and all(e.kind == FAIL for e in done)
    assert all(e.error == "OSError: connection refused" for e in done)
    assert all(e.node is None for e in done)


@pytest.mark.parametrize("exc", [TimeoutError("commit timed out"), RuntimeError("driver bug"),
                                 ProbeCrash("not an Exception")])
def test_any_other_exception_is_recorded_as_info(exc):
    client = FakeClient(fail_with=lambda value: exc)
    tl, probe = run_probe([client], until=lambda tl: len(tl) >= 4)
    done = [e for e in tl.events if e.kind in COMPLETIONS]
    assert done and all(e.kind == INFO for e in done)
    assert all(e.error == f"{type(exc).__name__}: {exc}" for e in done)
    # The worker survived the exception: it went on to further operations and closed its client.
    assert len(client.written) >= 2
    assert client.closed.is_set()
    assert_no_live_threads(probe)


def test_hanging_write_is_aborted_by_the_watchdog_and_recorded_as_timeout():
    client = HangingClient(hangs=1)
    tl, probe = run_probe([client], interval_s=0.01, op_timeout_s=0.1,
                          until=lambda tl: any(e.kind in COMPLETIONS for e in tl.events))
    first = next(e for e in tl.events if e.kind in COMPLETIONS)
    assert first.kind == INFO
    assert "deadline 0.1 s passed" in first.error
    assert "connection aborted" in first.error
    assert client.aborts >= 1
    # Aborted at its deadline, not much later (the watchdog polls every 0.02 s).
    assert 0.1 <= first.latency_s < 0.6
    assert_no_live_threads(probe)


def test_achieved_interval_is_close_to_interval_s():
    interval_s = 0.02
    tl, _ = run_probe([FakeClient()], seconds=0.5, interval_s=interval_s)
    invokes = [e.t for e in tl.events if e.kind == INVOKE and e.process == "w0"]
    assert len(invokes) >= 10
    gaps = [b - a for a, b in zip(invokes, invokes[1:])]
    mean = sum(gaps) / len(gaps)
    assert mean < interval_s * 1.5
    # Paced, not a busy loop.
    assert mean > interval_s * 0.8


class SlowClient(FakeClient):
    """Every write takes `seconds`."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def write(self, value: int) -> str:
        time.sleep(self.seconds)
        return super().write(value)


def test_missed_ticks_are_the_grid_ticks_that_passed_without_an_operation():
    assert missed_ticks(0.0, 0.02) == 0
    assert missed_ticks(0.019, 0.02) == 0  # late, but its own tick: no other tick passed
    assert missed_ticks(0.021, 0.02) == 1
    assert missed_ticks(0.1, 0.02) == 5


def test_a_slow_operation_is_never_started_twice_and_its_passed_ticks_are_counted():
    # Each write takes 3.5 intervals: the worker never overlaps itself, starts the next write
    # as soon as one ends (late for its tick, no burst of catch-up operations) and counts the
    # ticks that passed, so that started plus missed ticks cover the elapsed time.
    interval_s = 0.02
    tl, _ = run_probe([SlowClient(0.07)], seconds=0.6, interval_s=interval_s)
    events = [e for e in tl.events if e.process == "w0"]
    kinds = [e.kind for e in events]
    assert kinds[:6] == [INVOKE, OK] * 3  # strictly alternating: one operation at a time
    assert all(a != b for a, b in zip(kinds, kinds[1:]))
    invokes = [e for e in events if e.kind == INVOKE]
    assert len(invokes) >= 4
    missed = [e.extra.get("missed_ticks", 0) for e in invokes[1:]]
    assert all(m >= 2 for m in missed), missed  # 0.07 s in flight passes 2 or 3 ticks of 0.02 s
    ticks = len(invokes) + sum(missed)
    elapsed_ticks = (invokes[-1].t - invokes[0].t) / interval_s + 1
    assert abs(ticks - elapsed_ticks) <= 2, (ticks, elapsed_ticks)


def test_the_probe_records_its_configured_interval_first():
    tl, probe = run_probe([FakeClient(), FakeClient()], seconds=0.05, interval_s=0.02)
    first = tl.events[0]
    assert (first.kind, first.op) == (PHASE, "probe")
    assert first.value == {"interval_s": 0.02, "workers": 2}


def test_stop_returns_promptly_and_leaves_no_thread_alive():
    clients = [FakeClient() for _ in range(3)]
    tl = Timeline()
    probe = Probe(tl, clients, interval_s=0.5).start()
    assert probe.wait_for(lambda: len(tl) >= 6, timeout_s=5, poll_s=0.005)
    started = time.monotonic()
    probe.stop()
    # A worker sleeping until its next operation is woken by stop, not left to finish its wait.
    assert time.monotonic() - started < 0.3
    assert_no_live_threads(probe)
    assert all(c.closed.is_set() for c in clients)
    count = len(tl)
    time.sleep(0.05)
    assert len(tl) == count


def test_every_invoke_has_exactly_one_completion_after_stop():
    clients = [FakeClient(), FakeClient(fail_with=lambda v: DefiniteFailure("refused")),
               FakeClient(fail_with=lambda v: ValueError("odd"))]
    tl, _ = run_probe(clients, seconds=0.1, interval_s=0.005)
    for value, events in ops_by_value(tl).items():
        kinds = [e.kind for e in events]
        assert kinds[0] == INVOKE and len(kinds) == 2 and kinds[1] in COMPLETIONS, (value, kinds)


def test_close_raising_does_not_escape_the_worker():
    class BadClose(FakeClient):
        def close(self):
            raise RuntimeError("close failed")

    errors = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args)
    try:
        _, probe = run_probe([BadClose()], seconds=0.05)
    finally:
        threading.excepthook = old_hook
    assert errors == []
    assert_no_live_threads(probe)


def test_stop_aborts_an_op_in_flight_at_its_deadline():
    client = HangingClient()
    tl = Timeline()
    probe = Probe(tl, [client], interval_s=0.01, op_timeout_s=0.1).start()
    assert probe.wait_for(lambda: len(tl) >= 1, timeout_s=5, poll_s=0.005)
    started = time.monotonic()
    probe.stop(timeout_s=1.0)
    elapsed = time.monotonic() - started
    assert_no_live_threads(probe)
    done = [e for e in tl.events if e.kind in COMPLETIONS]
    # Documented: "an operation in flight is aborted after its deadline" (op_timeout_s = 0.1 s).
    assert elapsed < 0.6
    assert done and "deadline" in done[-1].error
