"""The HA posture audit on manifests: the good ZooKeeper manifest passes, and each deliberately
broken one (tests/fixtures_audit/broken/<rule>.yaml: the good one with one mistake) is flagged
with exactly its rule, the object and the fix; bad input is exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos import cli
from chaos.audit import RULES, audit_objects, load_manifests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_audit"
BROKEN = sorted((FIXTURES / "broken").glob("*.yaml"))


def test_the_good_manifest_has_no_violation(capsys):
    assert cli.main(["audit", str(FIXTURES / "good")]) == cli.EXIT_OK
    assert "1 workload(s) checked, no violation" in capsys.readouterr().out


def test_there_is_a_broken_manifest_for_every_rule():
    assert {p.stem for p in BROKEN} == set(RULES)


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_each_broken_manifest_is_flagged_with_its_rule_only(path, capsys):
    violations, checked = audit_objects(load_manifests([path]))
    assert checked == 1
    assert {v.rule for v in violations} == {path.stem}, violations
    assert all(v.object == "StatefulSet chaos-stack/zookeeper" and v.fix == RULES[path.stem] for v in violations)
    assert cli.main(["audit", "--json", str(path)]) == cli.EXIT_SLO
    doc = json.loads(capsys.readouterr().out)
    assert doc["violations"][0]["rule"] == path.stem and doc["violations"][0]["fix"]


def _with_budget(spec: dict) -> list:
    objs = load_manifests([FIXTURES / "good" / "zookeeper.yaml"])
    budget = objs[1][0]
    assert budget["kind"] == "PodDisruptionBudget"
    budget["spec"] = {"selector": budget["spec"]["selector"], **spec}
    return objs


@pytest.mark.parametrize("spec", [{"minAvailable": 3}, {"minAvailable": "100%"}, {"maxUnavailable": "0%"}],
                         ids=str)
def test_budgets_that_allow_no_disruption(spec):
    assert [v.rule for v in audit_objects(_with_budget(spec))[0]] == ["pdb-allows-none"]


def test_a_budget_below_the_replicas_allows_a_drain():
    assert audit_objects(_with_budget({"minAvailable": 2}))[0] == []


def test_match_expressions_select_pods_too():
    objs = load_manifests([FIXTURES / "good" / "zookeeper.yaml"])
    pdb = objs[1][0]
    pdb["spec"]["selector"] = {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In",
                                                     "values": ["zookeeper", "kafka"]}]}
    assert audit_objects(objs)[0] == []
    pdb["spec"]["selector"]["matchExpressions"][0]["operator"] = "NotIn"
    assert [v.rule for v in audit_objects(objs)[0]] == ["pdb"]


def test_bad_input_is_exit_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    assert cli.main(["audit", str(bad)]) == cli.EXIT_INPUT
    assert str(bad) in capsys.readouterr().err
    (tmp_path / "nokind.yaml").write_text("just: a mapping\n")
    assert cli.main(["audit", str(tmp_path / "nokind.yaml")]) == cli.EXIT_INPUT
    assert "not a Kubernetes object" in capsys.readouterr().err
    assert cli.main(["audit"]) == cli.EXIT_INPUT
    assert "--namespace" in capsys.readouterr().err
