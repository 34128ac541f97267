"""Every test in experiments/ runs one catalog scenario, given as its `scenario` parameter: that is
what a selection (`chaos run kafka/leader-kill`, --chaos-select) filters on. A test there without
it ran on every selection (found: Elasticsearch's negative control ran in a `chaos run` of two
Kafka experiments). Negative controls and other tests live in tests/integration."""

import ast
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
MODULES = sorted(EXPERIMENTS.glob("test_*.py"))


def _parametrizes_scenario(fn: ast.FunctionDef) -> bool:
    for deco in fn.decorator_list:
        if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == "parametrize"
                and deco.args and isinstance(deco.args[0], ast.Constant) and deco.args[0].value == "scenario"):
            return True
    return False


def test_there_are_experiment_modules():
    assert len(MODULES) >= 8


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_every_experiment_test_is_parametrized_by_its_scenario(module):
    tree = ast.parse(module.read_text())
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert tests, f"{module.name} has no tests"
    unselectable = [t.name for t in tests if not _parametrizes_scenario(t)]
    assert not unselectable, f"{module.name}: {unselectable} would run on every selection"
