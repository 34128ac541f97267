"""The run loop stops observing only when no probe operation is in flight (found in CI: a
ZooKeeper write hung for its full timeout right as the loop stopped the probe, and the checker
then saw that failure last, with nothing after it: "did not recover")."""

from chaos.run_loop import _no_operation_in_flight
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


class _Slow:
    """A client whose writes take longer than the probe's interval (as Elasticsearch's
    refresh=wait_for writes do); `fail` makes the writes fail from then on."""

    def __init__(self, latency_s: float):
        self.latency_s = latency_s
        self.fail = False

    def write(self, value):
        import time

        time.sleep(self.latency_s)
        if self.fail:
            raise TimeoutError("timed out")
        return None

    def abort(self):
        pass

    def close(self):
        pass


def test_back_to_back_operations_settle_by_pausing_the_probe_not_by_waiting_for_a_gap():
    import time

    from chaos.run_loop import _settled
    from chaos.probe import Probe

    tl = Timeline()
    probe = Probe(tl, [_Slow(0.12), _Slow(0.12), _Slow(0.12)], interval_s=0.05, op_timeout_s=1.0).start()
    try:
        time.sleep(0.6)
        t0 = time.monotonic()
        assert _settled(tl, probe, 0.0, 0.3)
        assert time.monotonic() - t0 < 1.0
        assert _no_operation_in_flight(tl)
        count = len(tl.events)
        time.sleep(0.2)
        assert len(tl.events) == count  # paused: nothing new started
    finally:
        probe.stop()


def test_an_operation_that_fails_while_the_probe_pauses_keeps_the_loop_observing():
    import time

    from chaos.run_loop import _settled
    from chaos.probe import Probe

    tl = Timeline()
    clients = [_Slow(0.12), _Slow(0.12)]
    probe = Probe(tl, clients, interval_s=0.05, op_timeout_s=1.0).start()
    try:
        time.sleep(0.6)
        clients[0].fail = True  # the operation in flight now fails
        assert not _settled(tl, probe, 0.0, 0.3)
        assert not probe.paused.is_set()  # resumed: observing goes on
        clients[0].fail = False
        time.sleep(0.2)
        assert any(e.kind == INVOKE for e in tl.events[-6:])
    finally:
        probe.stop()


def test_the_recovery_timeout_is_the_scenarios_then_the_components_then_the_runs():
    from chaos.catalog import scenario
    from chaos.components.elasticsearch import ElasticsearchCluster
    from chaos.run_loop import RunSettings, _recovery_timeout

    class Plain:
        pass

    settings = RunSettings()
    assert _recovery_timeout(scenario("postgres/primary-kill"), Plain(), settings) == settings.recovery_timeout_s
    es = ElasticsearchCluster.__new__(ElasticsearchCluster)  # the class attribute; nothing deployed
    assert _recovery_timeout(scenario("elasticsearch/master-kill"), es, settings) == 180.0
    assert _recovery_timeout(scenario("postgres/negative-unfenced-split-brain"), es, settings) == 20.0
