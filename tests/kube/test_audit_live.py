"""`chaos audit --namespace` against a live namespace of the real control plane: the API server
accepts the good manifest (server-side dry run, then for real), and the audit of what it stored
(with the server's defaults filled in) agrees with the audit of the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from chaos import cli
from chaos.audit import load_manifests
from tests.kube import kubeutil

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_audit"


def _create(api, namespace: str, path: Path, dry_run: bool) -> None:
    for obj, _src in load_manifests([path]):
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
        kw = {"dry_run": "All"} if dry_run else {}
        if obj["kind"] == "StatefulSet":
            client.AppsV1Api(api).create_namespaced_stateful_set(namespace, obj, **kw)
        elif obj["kind"] == "PodDisruptionBudget":
            client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(namespace, obj, **kw)
        else:
            raise AssertionError(f"unexpected kind {obj['kind']}")


@pytest.fixture
def namespaces(api):
    core = client.CoreV1Api(api)
    names = {"good": "audit-good", "broken": "audit-broken"}
    for ns in names.values():
        kubeutil.ensure_namespace(core, ns)
    try:
        _create(api, names["good"], FIXTURES / "good" / "zookeeper.yaml", dry_run=True)
        _create(api, names["good"], FIXTURES / "good" / "zookeeper.yaml", dry_run=False)
        _create(api, names["broken"], FIXTURES / "broken" / "hostname-anti-affinity.yaml", dry_run=False)
        yield names
    finally:
        for ns in names.values():
            kubeutil.delete_namespace(core, ns)
        api.close()


def test_live_namespaces_are_audited_like_their_manifests(control_plane, namespaces, capsys):
    base = ["audit", "--json", "--kubeconfig", control_plane.kubeconfig, "--context", control_plane.context]
    assert cli.main(base + ["--namespace", namespaces["good"]]) == cli.EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"workloads_checked": 1, "violations": []}
    assert cli.main(base + ["--namespace", namespaces["broken"]]) == cli.EXIT_SLO
    doc = json.loads(capsys.readouterr().out)
    assert [(v["object"], v["rule"], v["source"]) for v in doc["violations"]] == [
        ("StatefulSet audit-broken/zookeeper", "hostname-anti-affinity", "live")]
