"""Composite faults (chaos.faults.composite) over stand-in single faults: the order of injection
and heal, the proof, a part that cannot be injected, and how a composite's targets are chosen.
The real faults under them are exercised by the experiments (experiments/test_composite.py)."""

from __future__ import annotations

import pytest

import chaos
from chaos.components.base import Target
from chaos.errors import InjectionError
from chaos.faults import OneAfterAnother, Together
from chaos.faults.base import Fault
from chaos.run_loop import _make_fault
from chaos.timeline import Timeline


class _Step(Fault):
    kind = "step"

    def __init__(self, log, name, proven=True, fails=False):
        super().__init__("platform", Target(name, f"n-{name}", "a", "leader"), TIMELINE)
        self.log, self.name, self.ok, self.fails = log, name, proven, fails

    def _inject(self):
        if self.fails:
            raise RuntimeError(f"{self.name} refused")
        self.log.append(f"inject {self.name}")
        return {"who": self.name}, self.ok

    def _heal(self):
        self.log.append(f"heal {self.name}")
        return {"healed": self.name}


TIMELINE = Timeline()


def test_together_injects_in_order_holds_all_and_heals_in_reverse():
    log = []
    with Together("platform", [_Step(log, "a"), _Step(log, "b"), _Step(log, "c")], TIMELINE) as fault:
        assert log == ["inject a", "inject b", "inject c"]
        assert fault.proven and [p["who"] for p in fault.proof["parts"]] == ["a", "b", "c"]
    assert log[3:] == ["heal c", "heal b", "heal a"]
    assert [p["healed"] for p in fault.heal_result["parts"]] == ["c", "b", "a"]


def test_a_part_that_cannot_be_injected_heals_the_others_in_reverse():
    log = []
    with pytest.raises(InjectionError, match="c refused"):
        with Together("platform", [_Step(log, "a"), _Step(log, "b"), _Step(log, "c", fails=True)], TIMELINE):
            pass
    # c's own heal first (a fault heals even when its injection failed halfway), then b, then a
    assert log == ["inject a", "inject b", "heal c", "heal b", "heal a"]


def test_one_unproven_part_leaves_the_whole_unproven():
    with Together("platform", [_Step([], "a"), _Step([], "b", proven=False)], TIMELINE) as fault:
        assert not fault.proven


def test_one_after_another_heals_each_part_before_the_next():
    log = []
    with OneAfterAnother("platform", [_Step(log, "a"), _Step(log, "b"), _Step(log, "c")], TIMELINE,
                         step_s=0.01) as fault:
        assert log == ["inject a", "heal a", "inject b", "heal b", "inject c"]
        parts = fault.proof["parts"]
        assert parts[0]["healed_s"] is not None and parts[0]["healed_s"] <= parts[1]["injected_s"]
    assert log[-1] == "heal c" and log.count("heal a") == 1  # healed once


class _Roles:
    def __init__(self, targets):
        self._targets = targets

    def targets(self):
        return self._targets


def _targets(*pairs):
    return [Target(pod, f"node-{pod}", "a", role) for pod, role in pairs]


def test_a_rolling_fault_takes_a_new_pod_for_each_part_and_the_one_leader_stays_the_same():
    zk = _Roles(_targets(("zk-0", "follower"), ("zk-1", "leader"), ("zk-2", "follower")))
    rolling = chaos.experiment("zookeeper", chaos.one_after_another(chaos.drain(role="follower"),
                                                                    chaos.drain(role="follower"), step_s=1))
    for seed in range(20):
        fault = _make_fault("platform", zk, rolling, Timeline(), seed, lambda m: None)
        assert sorted(p.target.pod for p in fault.parts) == ["zk-0", "zk-2"]
    both = chaos.experiment("zookeeper", chaos.together(chaos.partition(role="leader"), chaos.kill(role="leader")))
    fault = _make_fault("platform", zk, both, Timeline(), 7, lambda m: None)
    assert [(p.kind, p.target.pod) for p in fault.parts] == [("partition", "zk-1"), ("kill", "zk-1")]
    assert fault.kind == "together" and fault.target.pod == "zk-1"


def test_composites_are_checked_when_defined():
    with pytest.raises(chaos.errors.InvalidConfig, match="two or more single faults"):
        chaos.together(chaos.kill(role="leader"))
    with pytest.raises(chaos.errors.InvalidConfig, match="zookeeper has no role 'master'"):
        chaos.experiment("zookeeper", chaos.together(chaos.kill(role="leader"), chaos.drain(role="master")))
    sc = chaos.experiment("kafka", chaos.together(chaos.partition(role="controller"), chaos.kill(role="leader")))
    assert sc.fault == "together" and sc.parts == (("partition", "controller", {"cut_clients": False}),
                                                   ("kill", "leader", {}))
