"""The public API for one's own experiments (chaos.api): definitions checked when they are made,
errors that name the definition's file and line, a pod aimed at by name, and the function run
while the fault holds (with a stand-in fault: the real faults are exercised by the experiments
and by the README's example, tests/integration/test_readme_experiment.py)."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

import chaos
from chaos.api import _OPTIONS
from chaos.catalog import SCENARIOS
from chaos.components import COMPONENTS, get_component
from chaos.components.base import Target
from chaos.errors import InvalidConfig
from chaos.catalog import Scenario
from chaos.run_loop import FaultContext, RunSettings, _inject_and_hold, _no_progress, _Observed, _Phases, _verdict
from chaos.faults import FAULTS
from chaos.slo import SLO
from chaos.targeting import choose
from chaos.timeline import Timeline


def test_a_definition_becomes_a_scenario_with_its_slo_on_top():
    sc = chaos.experiment("postgres", chaos.partition(role="primary", cut_clients=True), name="cut-off",
                          hold_s=20, slo={"max_unavailability_s": 12})
    assert (sc.key, sc.fault, sc.role, sc.params, sc.hold_s, sc.slo) == (
        "postgres/cut-off", "partition", "primary", {"cut_clients": True}, 20.0, {"max_unavailability_s": 12})
    assert chaos.experiment("redis", chaos.kill(pod="redis-m1")).role == "pod:redis-m1"
    assert chaos.experiment("redis", chaos.drain()).name == "custom-any-drain"


@pytest.mark.parametrize("make, words", [
    (lambda: chaos.experiment("postgress", chaos.kill(role="primary")), "unknown component 'postgress'"),
    (lambda: chaos.experiment("postgres", chaos.kill(role="leader")), "postgres has no role 'leader'"),
    (lambda: chaos.experiment("postgres", chaos.kill(role="primary"), slo={"max_unavail_s": 3}),
     "unknown SLO key max_unavail_s"),
    (lambda: chaos.experiment("postgres", chaos.kill(role="primary"), slo={"max_lost_writes": -1}),
     "max_lost_writes"),
    (lambda: chaos.experiment("postgres", chaos.kill(role="primary"), hold_s=0), "hold_s must be above 0"),
    (lambda: chaos.experiment("postgres", "kill"), "expected a fault"),
    (lambda: chaos.experiment("postgres", chaos.kill(role="primary"), name="my/kill"), "is not a name"),
])
def test_a_wrong_definition_names_its_file_and_line(make, words):
    with pytest.raises(InvalidConfig) as err:
        make()
    assert words in str(err.value)
    assert f"{__file__}:" in str(err.value)


def test_a_fault_refuses_a_role_and_a_pod_at_once():
    with pytest.raises(InvalidConfig, match="a role or a pod, not both"):
        chaos.crash(role="primary", pod="pg-0")


def test_every_fault_has_a_constructor_and_every_builtin_role_is_a_target_role():
    assert set(_OPTIONS) == set(FAULTS)
    for name in COMPONENTS:
        assert get_component(name).target_roles, name
    for sc in SCENARIOS:
        assert sc.role in get_component(sc.component).target_roles, sc.key


def test_pod_by_name_is_chosen_whatever_its_role():
    targets = [Target("pg-0", "n1", "a", "primary"), Target("pg-1", "n2", "b", "standby")]
    assert choose(targets, "pod:pg-1", random.Random(1)).pod == "pg-1"
    with pytest.raises(Exception, match="no target with role 'pod:pg-9'"):
        choose(targets, "pod:pg-9", random.Random(1))


def test_a_bad_definition_fails_collection_naming_the_module_and_line(tmp_path):
    (tmp_path / "test_mine.py").write_text(
        "import chaos\n\n"
        "oops = chaos.experiment('redis', chaos.kill(role='primary'))\n\n"
        "def test_it(chaos_experiment):\n    chaos_experiment(oops)\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--rootdir={tmp_path}", str(tmp_path / "test_mine.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert f"{tmp_path / 'test_mine.py'}:3: role: redis has no role 'primary'" in proc.stdout + proc.stderr


class _StandInFault:
    """Records when it was entered and left; the hook must run between the two."""

    def __init__(self, events):
        self.events, self.proof, self.proven = events, {"pids": [42], "proven": True}, True
        self.injected_s = self.healed_s = None

    def __enter__(self):
        self.events.append("inject")
        self.injected_s = 0.0
        return self

    def __exit__(self, *exc):
        self.events.append("heal")
        self.healed_s = 0.1
        return False

    def describe(self):
        return "stand-in"


def _hold(scenario, events):
    seen = _Observed()
    seen.target = Target("pg-1", "n2", "b", "standby")
    seen.fault = _StandInFault(events)
    _inject_and_hold("platform", scenario, SLO(), seen, Timeline(), _Phases(), lambda m: None, _no_progress,
                     "component")
    return seen


def test_during_runs_while_the_fault_holds_with_the_target_and_proof():
    events, got = [], []

    def during(ctx: FaultContext):
        events.append("during")
        got.append((ctx.target.pod, ctx.proof["pids"], ctx.component, ctx.platform))

    _hold(chaos.experiment("postgres", chaos.drain(role="standby"), hold_s=0.05, during=during), events)
    assert events == ["inject", "during", "heal"]
    assert got == [("pg-1", [42], "component", "platform")]


@pytest.mark.parametrize("raised, verdict, words", [
    (AssertionError("my check failed"), "fail", "during check failed: AssertionError: my check failed"),
    (KeyError("oops"), "unknown", "during raised: KeyError: 'oops'"),
])
def test_what_during_raises_is_kept_for_the_verdict_and_the_hold_goes_on(raised, verdict, words, monkeypatch):
    from chaos import run_loop
    from chaos.checkers import Verdict

    monkeypatch.setattr(run_loop.checkers, "judge", lambda *a, **k: Verdict("pass"))  # the clients saw no harm
    events = []

    def during(ctx):
        events.append("during")
        raise raised

    seen = _hold(chaos.experiment("postgres", chaos.drain(role="standby"), hold_s=0.05, during=during), events)
    assert events == ["inject", "during", "heal"] and seen.during_error is raised
    seen.injected_s, seen.healed_s, seen.recovered = 0.0, 0.1, True
    judged = _verdict(Scenario("postgres", "x", "drain", "standby", ""), SLO(), seen, Timeline(), 1.0, None,
                      RunSettings())
    assert judged.verdict == verdict and words in judged.reasons
