"""The run loop stops observing only when no probe operation hangs (found in CI: a ZooKeeper
write hung for its full timeout right as the loop stopped the probe, and the checker then saw
that failure last, with nothing after it: "did not recover"). An operation merely under way does
not hold the stop: at a fixed rate, a worker whose operations take about its interval nearly
always has one in flight, and waiting for all workers to be idle at once held Elasticsearch's
runs for their whole recovery timeout."""

from chaos.experiment import _no_operation_hanging
from chaos.timeline import FAIL, INVOKE, NEMESIS, OK, Timeline


def test_an_operation_in_flight_longer_than_any_success_holds_the_stop():
    tl = Timeline()
    tl.record(INVOKE, "w0", "write", value=1, t=1.00)
    tl.record(OK, "w0", "write", value=1, t=1.05, latency_s=0.05)
    tl.record(INVOKE, "w1", "write", value=2, t=1.06)
    tl.record(NEMESIS, "nemesis", "heal", value="x", t=1.07)  # not a probe operation
    tl.now = lambda: 1.10  # w1's write is 0.04 s old: under way, as slow as the slowest success
    assert _no_operation_hanging(tl, since_s=0.0)
    tl.now = lambda: 2.00  # 0.94 s old: hanging
    assert not _no_operation_hanging(tl, since_s=0.0)
    tl.record(FAIL, "w1", "write", value=2, t=2.06, latency_s=1.0)
    assert _no_operation_hanging(tl, since_s=0.0)


def test_only_successes_since_the_window_set_the_bound():
    tl = Timeline()
    tl.record(INVOKE, "w0", "write", value=1, t=1.0)
    tl.record(OK, "w0", "write", value=1, t=3.0, latency_s=2.0)  # slow, before the window
    tl.record(INVOKE, "w0", "write", value=2, t=5.0)
    tl.record(OK, "w0", "write", value=2, t=5.01, latency_s=0.01)
    tl.record(INVOKE, "w0", "write", value=3, t=5.02)
    tl.now = lambda: 5.5
    assert _no_operation_hanging(tl, since_s=0.0)
    assert not _no_operation_hanging(tl, since_s=4.0)


def test_no_operation_at_all_does_not_hold_the_stop():
    tl = Timeline()
    assert _no_operation_hanging(tl, since_s=0.0)
