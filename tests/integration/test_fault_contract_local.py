"""The fault contract where only the local platform behaves so (the shared part is
tests/contract, run on every platform): zone partition and its isolation variant, node crash,
the local proofs of a kill (every process gone) and of a drain (graceful exit, the pod kept down
on the cordoned node). A small HTTP server stands in for a pod."""

import time

import pytest

from chaos.errors import InjectionError
from chaos.faults import NodeCrash, NodeDrain, PodKill, ZonePartition
from chaos.timeline import Timeline
from tests.contract.conftest import PORT, LocalSubject, wait_serving

pytestmark = pytest.mark.integration


@pytest.fixture
def pod(chaos_platform):
    subject = LocalSubject(chaos_platform)
    yield subject.start()
    subject.stop()


def _no_pending(platform):
    return platform.pending_fault_undos() == []


def test_partition_cuts_other_zones_keeps_clients_and_heals(chaos_platform, pod):
    ip = chaos_platform.node(pod.node).ip
    with ZonePartition(chaos_platform, pod, Timeline()) as fault:
        assert fault.proven, fault.proof
        assert fault.proof["rules_present"] == fault.proof["rules_added"] == 4
        assert chaos_platform.reachable(None, ip, PORT)
        assert not chaos_platform.reachable("chaos-b1", ip, PORT)
    assert fault.heal_result["rules_left"] == 0
    assert all(fault.heal_result["reachable"]["from_other_zones"].values())
    assert _no_pending(chaos_platform)


def test_isolation_variant_also_cuts_the_clients(chaos_platform, pod):
    ip = chaos_platform.node(pod.node).ip
    with ZonePartition(chaos_platform, pod, Timeline(), cut_clients=True) as fault:
        assert fault.proven, fault.proof
        assert not chaos_platform.reachable(None, ip, PORT)
    assert chaos_platform.reachable(None, ip, PORT)


def test_crash_kills_everything_downs_the_link_and_restores(chaos_platform, pod):
    ip = chaos_platform.node(pod.node).ip
    with NodeCrash(chaos_platform, pod, Timeline()) as fault:
        assert fault.proven, fault.proof
        assert fault.proof["link_state"] == "DOWN"
        time.sleep(1.0)
        assert not chaos_platform.pod_running(pod.pod)
    wait_serving(ip, PORT)
    assert _no_pending(chaos_platform)


def test_heal_runs_on_exception_and_on_ctrl_c(chaos_platform, pod):
    ip = chaos_platform.node(pod.node).ip
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with ZonePartition(chaos_platform, pod, Timeline()):
                assert not chaos_platform.reachable("chaos-b1", ip, PORT)
                raise exc
        assert chaos_platform.reachable("chaos-b1", ip, PORT)
    assert _no_pending(chaos_platform)


def test_half_done_injection_is_healed(chaos_platform, pod, monkeypatch):
    ip = chaos_platform.node(pod.node).ip
    real = chaos_platform.partition

    def half_done(zone, **kw):
        real(zone, **kw)  # rules are in place...
        raise OSError("simulated failure after the rules were added")

    monkeypatch.setattr(chaos_platform, "partition", half_done)
    fault = ZonePartition(chaos_platform, pod, Timeline())
    with pytest.raises(InjectionError, match="simulated failure"):
        with fault:
            pass
    assert chaos_platform.reachable("chaos-b1", ip, PORT)
    fault.heal()  # idempotent
    assert _no_pending(chaos_platform)


def test_local_kill_proof_counts_processes(chaos_platform, pod):
    old = chaos_platform.pod(pod.pod).pid
    with PodKill(chaos_platform, pod, Timeline()) as fault:
        assert fault.proof["pid"] == old and fault.proof["processes_signalled"] >= 1
        assert fault.proof["processes_left"] == 0
    wait_serving(chaos_platform.node(pod.node).ip, PORT)
    assert _no_pending(chaos_platform)


def test_local_drain_stops_gracefully_and_keeps_the_pod_down_until_uncordon(chaos_platform, pod):
    with NodeDrain(chaos_platform, pod, Timeline()) as fault:
        stopped = fault.proof["pods"][0]
        assert stopped["graceful"] and stopped["exit"] is not None
        time.sleep(1.0)  # the supervisor must not restart a pod on a cordoned node
        assert not chaos_platform.pod_running(pod.pod)
    wait_serving(chaos_platform.node(pod.node).ip, PORT)
    assert _no_pending(chaos_platform)
