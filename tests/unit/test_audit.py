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


# Three objects before the workload, as in the Kubernetes docs' ZooKeeper example (its StatefulSet
# is the 4th document): the location must be the line the object starts on, not "4".
SERVICES_THEN_WORKLOAD = """\
# header comment
apiVersion: v1
kind: Service
metadata: {name: zk-hs}
---
apiVersion: v1
kind: Service
metadata: {name: zk-cs}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: zk-config}
---
# the workload starts below this comment
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: zk}
spec: {replicas: 1}
"""


def test_a_violation_names_the_line_where_its_object_starts(tmp_path, capsys):
    path = tmp_path / "zookeeper.yaml"
    path.write_text(SERVICES_THEN_WORKLOAD)
    assert SERVICES_THEN_WORKLOAD.splitlines()[15 - 1] == "apiVersion: apps/v1"
    violations, _ = audit_objects(load_manifests([path]))
    assert violations and {(v.source, v.line) for v in violations} == {(f"{path}:15", 15)}
    assert cli.main(["audit", str(path)]) == cli.EXIT_SLO
    assert f"({path}:15)" in capsys.readouterr().out
    assert cli.main(["audit", "--json", str(path)]) == cli.EXIT_SLO
    found = json.loads(capsys.readouterr().out)["violations"]
    assert {(v["source"], v["line"]) for v in found} == {(f"{path}:15", 15)}


def test_each_item_of_a_list_has_its_own_line(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems:\n"
                    "- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n"
                    "-   kind: StatefulSet\n    apiVersion: apps/v1\n    metadata: {name: b}\n")
    assert [(obj["kind"], str(origin), origin.line) for obj, origin in load_manifests([path])] == [
        ("Service", f"{path}:4", 4), ("StatefulSet", f"{path}:7", 7)]


def test_a_directory_skips_yaml_that_is_not_a_kubernetes_object_and_says_so(tmp_path, capsys):
    (tmp_path / "stack.yaml").write_text("# the harness's own settings, not a Kubernetes object\n"
                                         "components: {zookeeper: {dir: zookeeper}}\n")
    (tmp_path / "zookeeper.yaml").write_text((FIXTURES / "broken" / "replicas.yaml").read_text())
    skipped = f"chaos: skipped {tmp_path / 'stack.yaml'}:2: not a Kubernetes object (no kind)"
    assert cli.main(["audit", str(tmp_path)]) == cli.EXIT_SLO  # the manifest beside it was audited
    out, err = capsys.readouterr()
    assert "[replicas]" in out and skipped in err.splitlines()
    assert cli.main(["audit", "--json", str(tmp_path)]) == cli.EXIT_SLO
    out, err = capsys.readouterr()
    assert [v["rule"] for v in json.loads(out)["violations"]] == ["replicas"] and skipped in err.splitlines()
    # Named explicitly, the same file is still the user's mistake.
    assert cli.main(["audit", str(tmp_path / "stack.yaml")]) == cli.EXIT_INPUT
    assert "stack.yaml:2: not a Kubernetes object" in capsys.readouterr().err


def test_auditing_the_kind_stack_directory_skips_its_stack_file(capsys):
    kind_dir = Path(__file__).resolve().parents[2] / "fixtures" / "kind"
    assert cli.main(["audit", str(kind_dir)]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert "no violation" in out and f"chaos: skipped {kind_dir / 'stack.yaml'}:" in err


def test_a_source_with_no_workload_exits_2_instead_of_passing_on_nothing(tmp_path, capsys):
    # An empty directory, or one holding only a Service: "0 workloads checked, no violation" used
    # to exit 0, so a CI gate given a mistyped path passed.
    assert cli.main(["audit", str(tmp_path)]) == cli.EXIT_INPUT
    assert f"no workload (StatefulSet or Deployment) found in {tmp_path}" in capsys.readouterr().err
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: zk}\nspec: {}\n")
    assert cli.main(["audit", "--json", str(tmp_path)]) == cli.EXIT_INPUT
    out, err = capsys.readouterr()
    assert out == "" and "no workload" in err
