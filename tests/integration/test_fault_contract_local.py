"""The fault contract where only the local platform behaves so (the shared part is
tests/contract, run on every platform): zone partition and its isolation variant, node crash,
the local proofs of a kill (every process gone) and of a drain (graceful exit, the pod kept down
on the cordoned node). A small HTTP server stands in for a pod."""

import sys
import time

import pytest

from chaos.components.base import Target
from chaos.errors import InjectionError
from chaos.faults import NodeCrash, NodeDrain, PodKill, ZonePartition
from chaos.platforms.base import PodSpec
from chaos.timeline import Timeline

pytestmark = pytest.mark.integration
PORT = 18080


@pytest.fixture
def pod(chaos_platform):
    node = chaos_platform.nodes_in_zone("a")[0]
    name = "contract-0"
    chaos_platform.start_pod(PodSpec(name=name, component="contract", node=node.name, user="nobody",
                                     argv=(sys.executable, "-m", "http.server", str(PORT), "--bind", node.ip),
                                     port=PORT, termination_grace_s=3))
    _wait_serving(chaos_platform, node.ip)
    yield Target(pod=name, node=node.name, zone=node.zone, role="server")
    chaos_platform.remove_pod(name)


def _wait_serving(platform, ip, timeout_s=15.0):
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((ip, PORT), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"pod not serving on {ip}:{PORT}")


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
    _wait_serving(chaos_platform, ip)
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
    _wait_serving(chaos_platform, chaos_platform.node(pod.node).ip)
    assert _no_pending(chaos_platform)


def test_local_drain_stops_gracefully_and_keeps_the_pod_down_until_uncordon(chaos_platform, pod):
    with NodeDrain(chaos_platform, pod, Timeline()) as fault:
        stopped = fault.proof["pods"][0]
        assert stopped["graceful"] and stopped["exit"] is not None
        time.sleep(1.0)  # the supervisor must not restart a pod on a cordoned node
        assert not chaos_platform.pod_running(pod.pod)
    _wait_serving(chaos_platform, chaos_platform.node(pod.node).ip)
    assert _no_pending(chaos_platform)
