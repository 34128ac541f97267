"""The fault contract where the behaviour is shared by every platform: each fault injects,
proves its effect, heals on exit (also after an exception, Ctrl-C, or an injection that failed
halfway), heals twice safely, and leaves nothing in the ledger. Run once per platform (see
conftest.py); what only one platform does is tested beside it (tests/integration for local,
tests/kube and tests/docker for Kubernetes and kind)."""

from __future__ import annotations

import pytest

from chaos.errors import InjectionError
from chaos.faults import NodeDrain, PodKill
from chaos.timeline import NEMESIS, Timeline

pytestmark = pytest.mark.integration


def _nothing_pending(platform) -> None:
    assert platform.pending_fault_undos() == []


def test_kill_is_proven_and_the_pod_comes_back(subject):
    platform, target = subject.platform, subject.target
    tl = Timeline()
    with PodKill(platform, target, tl) as fault:
        assert fault.proven, fault.proof
        old = fault.proof["instance"]
    assert fault.heal_result["restarted"] not in (None, old)
    subject.wait_serving(target.node)
    _nothing_pending(platform)
    assert [e.op for e in tl.events if e.kind == NEMESIS] == ["inject", "proof", "heal"]


def test_graceful_kill_is_proven_by_a_new_instance(subject):
    with PodKill(subject.platform, subject.target, Timeline(), sig="SIGTERM") as fault:
        assert fault.proven, fault.proof
    assert fault.heal_result["restarted"] not in (None, fault.proof["instance"])
    subject.wait_serving(subject.target.node)
    _nothing_pending(subject.platform)


def test_drain_empties_and_cordons_the_node_and_uncordon_heals(subject):
    platform, target = subject.platform, subject.target
    with NodeDrain(platform, target, Timeline()) as fault:
        assert fault.proven, fault.proof
        assert fault.proof["still_running"] == [] and fault.proof["cordoned"]
        assert not platform.node_state(target.node)["schedulable"]
        assert [p["pod"] for p in fault.proof["pods"]] == [target.pod]
    assert fault.heal_result["uncordoned"]
    assert platform.node_state(target.node)["schedulable"]
    subject.wait_serving(target.node)
    _nothing_pending(platform)


def test_heal_runs_on_exception_and_on_ctrl_c(subject):
    platform, target = subject.platform, subject.target
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with NodeDrain(platform, target, Timeline()) as fault:
                assert fault.proven, fault.proof
                raise exc
        assert platform.node_state(target.node)["schedulable"]
        _nothing_pending(platform)
        subject.wait_serving(target.node)
        target = subject.target = subject.locate()  # the pod may have moved on Kubernetes


def test_half_done_injection_is_healed_and_heal_is_idempotent(subject, monkeypatch):
    platform, target = subject.platform, subject.target
    real = platform.stop_node_pods

    def half_done(node, *args, **kwargs):
        real(node, *args, **kwargs)  # cordoned and emptied...
        raise OSError("simulated failure after the pods were stopped")

    monkeypatch.setattr(platform, "stop_node_pods", half_done)
    fault = NodeDrain(platform, target, Timeline())
    with pytest.raises(InjectionError, match="simulated failure"):
        with fault:
            pass
    assert platform.node_state(target.node)["schedulable"]
    fault.heal()  # idempotent
    assert platform.node_state(target.node)["schedulable"]
    _nothing_pending(platform)
    subject.wait_serving(target.node)
