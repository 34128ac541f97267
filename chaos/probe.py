"""The probe runner: client workers that operate at a fixed rate in background threads and
record every operation on the timeline as invoke + ok/fail/info. A probe never raises out of
its thread; it records.

Fixed rate: each worker starts an operation on every tick of its own grid (every `interval_s`),
whatever the previous operation took. An operation still in flight is never started twice: the
ticks that pass meanwhile are missed, counted on the next invoke (extra["missed_ticks"]), and
the worker resumes on the grid. The probe's first event (a phase "probe") records the
configured interval, so the results can set the achieved one beside it.

A component supplies a Client per worker. `Client.write(value)` returns the node that
acknowledged the write (or a tuple (node, extra) with facts about the acknowledgement, e.g.
{"replicated": True}, kept on the event), raises DefiniteFailure when the write certainly did not happen, and
anything else it raises is recorded as indeterminate (info). `Client.abort()` is called from the
watchdog when an operation overruns its deadline; it must make the blocked call return.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Protocol, Sequence

from .timeline import FAIL, INFO, INVOKE, OK, PHASE, Timeline
from .waits import poll_until

__all__ = ["Client", "DefiniteFailure", "Probe", "DEFAULT_INTERVAL_S", "missed_ticks"]

DEFAULT_INTERVAL_S = 0.02


class DefiniteFailure(Exception):
    """The operation certainly did not take effect (e.g. no connection could be made)."""


class Client(Protocol):
    def write(self, value: int) -> str | None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200]


def missed_ticks(late_s: float, interval_s: float) -> int:
    """Ticks of the grid that passed, `late_s` after the one due, without an operation starting."""
    return int(late_s // interval_s) if late_s >= interval_s else 0


class _Worker:
    def __init__(self, name: str, client: Client, probe: "Probe"):
        self.name = name
        self.client = client
        self.probe = probe
        self.deadline: float | None = None
        self.aborted = False
        self.idle = threading.Event()  # set while paused with no operation in flight
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.loop, name=f"probe-{name}", daemon=True)

    def loop(self) -> None:
        p = self.probe
        next_at = time.monotonic()
        while not p.stopping.is_set():
            if p.paused.is_set():  # start nothing new until resume() or stop()
                self.idle.set()
                if p.stopping.wait(0.01):
                    break
                next_at = time.monotonic()
                continue
            self.idle.clear()
            if p.paused.is_set():
                continue
            now = time.monotonic()
            if now < next_at:
                if p.stopping.wait(next_at - now):
                    break
                if p.paused.is_set():
                    continue
            started = time.monotonic()
            # A fixed grid, so sleep overshoot does not accumulate. The ticks that passed while
            # the previous operation was in flight are missed, not fired later as a burst.
            missed = missed_ticks(started - next_at, p.interval_s)
            next_at += (missed + 1) * p.interval_s
            value = p.next_value()
            t0 = p.timeline.record(INVOKE, self.name, "write", value=value,
                                   extra={"missed_ticks": missed} if missed else {}).t
            with self.lock:
                self.deadline = started + p.op_timeout_s
                self.aborted = False
            kind, node, error, extra = OK, None, None, {}
            try:
                node = self.client.write(value)
                if isinstance(node, tuple):  # (node, facts about the acknowledgement)
                    node, extra = node
            except DefiniteFailure as exc:
                kind, error = FAIL, _short(exc.__cause__ or exc)
            except BaseException as exc:  # a probe records; it never crashes the test
                kind, error = INFO, _short(exc)
            with self.lock:
                self.deadline = None
                if self.aborted and kind != OK:
                    # Say the deadline passed; keep the kind: a connection that was never made
                    # is still a definite failure, a cut query is already indeterminate.
                    error = f"deadline {p.op_timeout_s:.1f} s passed ({error})"
            t1 = p.timeline.now()
            p.timeline.record(kind, self.name, "write", value=value, node=node, error=error,
                              latency_s=round(t1 - t0, 6), extra=extra or {})
        try:
            self.client.close()
        except Exception:
            pass


class Probe:
    """Runs one worker per client until stop(); all workers share one sequence of values."""

    def __init__(self, timeline: Timeline, clients: Sequence[Client], *, interval_s: float = DEFAULT_INTERVAL_S,
                 op_timeout_s: float = 1.0, first_value: int = 1):
        self.timeline = timeline
        self.interval_s = interval_s
        self.op_timeout_s = op_timeout_s
        self.stopping = threading.Event()
        self.paused = threading.Event()
        self._workers_done = threading.Event()
        self._counter = itertools.count(first_value)
        self._counter_lock = threading.Lock()
        self.workers = [_Worker(f"w{i}", c, self) for i, c in enumerate(clients)]
        self._watchdog = threading.Thread(target=self._watch, name="probe-watchdog", daemon=True)

    def next_value(self) -> int:
        with self._counter_lock:
            return next(self._counter)

    def start(self) -> "Probe":
        self.timeline.record(PHASE, "harness", "probe",
                             value={"interval_s": self.interval_s, "workers": len(self.workers)})
        for w in self.workers:
            w.thread.start()
        self._watchdog.start()
        return self

    def _watch(self) -> None:
        # Runs until the workers have finished (not merely until stop() is asked for), so an
        # operation in flight during stop() is still cut at its deadline.
        while not self._workers_done.wait(0.02):
            now = time.monotonic()
            for w in self.workers:
                with w.lock:
                    overdue = w.deadline is not None and now > w.deadline and not w.aborted
                    if overdue:
                        w.aborted = True
                if overdue:
                    try:
                        w.client.abort()
                    except Exception:
                        pass

    def pause(self, timeout_s: float) -> bool:
        """Start no new operation and wait (at most timeout_s) until none is in flight; the
        watchdog still cuts an overdue one at its deadline. True when every worker is idle."""
        self.paused.set()
        deadline = time.monotonic() + timeout_s
        return all(w.idle.wait(max(0.0, deadline - time.monotonic())) for w in self.workers
                   if w.thread.is_alive())

    def resume(self) -> None:
        for w in self.workers:
            w.idle.clear()
        self.paused.clear()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every worker; an operation in flight is aborted after its deadline."""
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        for w in self.workers:
            w.thread.join(timeout=max(0.1, deadline - time.monotonic()))
            if w.thread.is_alive():
                try:
                    w.client.abort()
                except Exception:
                    pass
                w.thread.join(timeout=2)
        self._workers_done.set()
        if self._watchdog.is_alive():
            self._watchdog.join(timeout=1)

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
        return poll_until(condition, timeout_s, poll_s)
