"""When a fault's hold may end before its full time: the component failed over and the
clients are served again, with no worker still waiting on the lost server.

Found in CI: a Redis master's node crash whose hold ended on two workers' successes while the
third's write to the crashed master was still in flight; it failed during the heal, and the
checker said "no failover while the fault held" of a cluster that had failed over."""

from chaos.components.base import Target
from chaos.run_loop import _failed_over, _FailoverWatch, _full_hold
from chaos.slo import SLO
from chaos.timeline import FAIL, INVOKE, OK, Timeline
import chaos


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _op(tl: Timeline, clock: _Clock, worker: str, start: float, end: float, kind: str = OK) -> None:
    """One probe operation of `worker`, invoked at `start` and completed at `end` (timeline seconds)."""
    clock.t = 100.0 + start
    tl.record(INVOKE, worker, "write", value=start)
    clock.t = 100.0 + end
    tl.record(kind, worker, "write", value=start, latency_s=round(end - start, 6))


def _served(tl: Timeline, clock: _Clock, workers, start: float, end: float, step: float = 0.1) -> None:
    t = start
    while t < end - 1e-9:
        for w in workers:
            _op(tl, clock, w, t, t + 0.01)
        t += step
    clock.t = 100.0 + end


def test_a_worker_still_waiting_on_the_lost_server_keeps_the_hold():
    clock = _Clock()
    tl = Timeline(clock=clock)
    _served(tl, clock, ["w0", "w1", "w2"], 0.0, 1.0)
    _op(tl, clock, "w0", 1.0, 1.5, FAIL)  # injected at 1.0: the lost server fails w0 once
    # w2 sends a write to the lost server at 1.6 and waits; w0 and w1 are served from 1.6 on.
    clock.t = 101.6
    tl.record(INVOKE, "w2", "write", value="stuck")
    _served(tl, clock, ["w0", "w1"], 1.6, 4.0)
    assert not _failed_over(tl, 1.0, 2.0)  # 2.4 s of success, but w2 has not come back
    clock.t = 104.1
    tl.record(FAIL, "w2", "write", value="stuck", latency_s=2.5)
    _served(tl, clock, ["w0", "w1", "w2"], 4.2, 5.0)
    assert not _failed_over(tl, 1.0, 2.0)  # its failure starts the count again
    _served(tl, clock, ["w0", "w1", "w2"], 5.0, 6.3)
    assert _failed_over(tl, 1.0, 2.0)


def test_served_clients_without_a_failure_since_injection_are_enough_when_every_worker_came_back():
    clock = _Clock()
    tl = Timeline(clock=clock)
    _served(tl, clock, ["w0", "w1"], 0.0, 3.5)
    assert _failed_over(tl, 1.0, 2.0)
    clock.t = 103.6
    tl.record(INVOKE, "w1", "write", value="new")  # an operation in flight that started after
    assert _failed_over(tl, 1.0, 2.0)              # the last failure is not waited for


class _Roles:
    """A component whose roles are read from a list the test changes."""

    def __init__(self, roles):
        self.roles = roles
        self.asked = 0

    def targets(self):
        self.asked += 1
        return [Target(pod, f"n{i}", "abcd"[i], role) for i, (pod, role) in enumerate(self.roles)]


def _ask(watch) -> bool:
    """One poll of the watch, waiting for the reading of roles it may have started."""
    done = watch()
    if watch.reading is not None:
        watch.reading.join(5)
    return done


def test_a_partition_holds_until_another_pod_took_the_role_and_clients_were_served_after_it():
    clock = _Clock()
    tl = Timeline(clock=clock)
    comp = _Roles([("pg-0", "primary"), ("pg-1", "standby"), ("pg-2", "standby")])
    before = {"pg-0": "primary", "pg-1": "standby", "pg-2": "standby"}
    watch = _FailoverWatch(comp, Target("pg-0", "n0", "a", "primary"), before, False, tl, 1.0, 2.0)
    _served(tl, clock, ["w0", "w1"], 0.0, 4.0)  # the clients still reach the cut-off primary
    assert not _ask(watch)
    assert comp.asked == 1
    comp.roles = [("pg-0", "primary"), ("pg-1", "primary"), ("pg-2", "standby")]  # promoted
    assert not _ask(watch)  # asked again only a second later
    assert comp.asked == 1
    watch._asked -= 1.0
    assert not _ask(watch)  # the reading sees the move
    assert not watch()  # the hold learns of it; clients must be served for settle_s after it
    assert watch.moved_at == 4.0
    _served(tl, clock, ["w0", "w1"], 4.0, 5.5)
    assert not watch()
    _served(tl, clock, ["w0", "w1"], 5.5, 6.2)
    assert watch()


def test_a_pod_that_held_the_role_before_is_no_move_and_a_kill_needs_none():
    clock = _Clock()
    tl = Timeline(clock=clock)
    masters = [("r-0", "master"), ("r-1", "master"), ("r-2", "master"), ("r-3", "replica")]
    comp = _Roles(masters)
    before = dict(masters)
    target = Target("r-0", "n0", "a", "master")
    _served(tl, clock, ["w0"], 0.0, 4.0)
    watch = _FailoverWatch(comp, target, before, False, tl, 1.0, 2.0)
    assert not _ask(watch) and not watch() and watch.moved_at is None  # r-1 and r-2 were masters already
    assert _FailoverWatch(comp, target, before, True, tl, 1.0, 2.0)()
    comp.roles = [("r-0", "master"), ("r-1", "master"), ("r-2", "master"), ("r-3", "master")]
    watch._asked -= 1.0
    assert not _ask(watch) and not watch() and watch.moved_at == 4.0


def test_unreadable_roles_are_no_proof_of_a_move():
    class Broken:
        def targets(self):
            raise TimeoutError("a broker does not answer")

    clock = _Clock()
    tl = Timeline(clock=clock)
    _served(tl, clock, ["w0"], 0.0, 4.0)
    watch = _FailoverWatch(Broken(), Target("k-0", "n0", "a", "leader"), {"k-0": "leader"}, False, tl, 1.0, 2.0)
    assert not _ask(watch) and not watch() and watch.moved_at is None


def test_holds_that_keep_their_full_time():
    kill = chaos.experiment("postgres", chaos.kill(role="primary"), hold_s=10)
    assert not _full_hold(kill, SLO())
    assert _full_hold(kill, SLO(recover_during_fault=False))
    assert _full_hold(kill, SLO(expect_writes_refused=True))
    assert _full_hold(chaos.experiment("postgres", chaos.kill(role="primary"), hold_s=10, during=lambda c: None),
                      SLO())
    both = chaos.experiment("zookeeper", chaos.together(chaos.partition(role="leader"), chaos.kill(role="leader")),
                            hold_s=10)
    assert _full_hold(both, SLO())


def test_a_reading_of_roles_that_stalls_does_not_stretch_the_hold():
    import threading
    import time

    from chaos.waits import poll_until

    release = threading.Event()

    class Stalled:
        def targets(self):
            release.wait(10)  # a lost broker's admin request
            return []

    clock = _Clock()
    tl = Timeline(clock=clock)
    _served(tl, clock, ["w0"], 0.0, 4.0)
    watch = _FailoverWatch(Stalled(), Target("k-0", "n0", "a", "leader"), {"k-0": "leader"}, False, tl, 1.0, 2.0)
    t0 = time.monotonic()
    assert not poll_until(watch, 0.5, poll_s=0.05)
    assert time.monotonic() - t0 < 1.0
    assert watch.reading.is_alive()  # left to finish on its own
    release.set()
    watch.reading.join(5)
