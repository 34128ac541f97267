"""The run loop stops observing only when no probe operation is in flight (found in CI: a
ZooKeeper write hung for its full timeout right as the loop stopped the probe, and the checker
then saw that failure last, with nothing after it: "did not recover")."""

from chaos.experiment import _no_operation_in_flight
from chaos.timeline import FAIL, INVOKE, NEMESIS, OK, Timeline


def test_an_operation_still_in_flight_holds_the_stop():
    tl = Timeline()
    tl.record(INVOKE, "w0", "write", value=1)
    tl.record(INVOKE, "w1", "write", value=2)
    tl.record(OK, "w0", "write", value=1)
    tl.record(NEMESIS, "nemesis", "heal", value="x")  # not a probe operation
    assert not _no_operation_in_flight(tl)
    tl.record(FAIL, "w1", "write", value=2)
    assert _no_operation_in_flight(tl)
    tl.record(INVOKE, "w0", "write", value=3)
    assert not _no_operation_in_flight(tl)
