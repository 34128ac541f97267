"""The stack on the kind tier's cluster: each component the harness builds an image for (from
Debian's packages and Maven's artifacts, on one debootstrap base: chaos.platforms.images) is
deployed from fixtures/kind/ and put through one kill by the run loop, exactly as
`chaos run --platform kind <component>` runs it, and must meet its SLO from experiments/slo.yaml.

The images are built once and cached as tarballs (a later session only loads them), then loaded
into the worker nodes. Each component is removed after its kill: seven kubelets and one
component at a time is what two cores carry. Flink is not here: its HA storage and checkpoints
live in MinIO, and MinIO has no server on this machine (no registry for its image, and its
source build needs a Go toolchain image).

CHAOS_KIND_NUMBERS=FILE appends each kill's numbers to FILE as JSON lines (the README's kind
column comes from one such run).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from chaos.catalog import SCENARIOS
from chaos.components import get_component
from chaos.predictions import log_time
from chaos.run_loop import run_scenario
from chaos.slo import load_slo_file

pytestmark = [pytest.mark.integration, pytest.mark.kind]
REPO = Path(__file__).resolve().parents[2]
KILLS = {"postgres": "primary-kill", "redis": "master-kill", "zookeeper": "leader-kill",
         "kafka": "leader-kill", "elasticsearch": "master-kill"}
DEPLOY_TIMEOUT_S = 900.0
# Where each kill's numbers go, for the README's side-by-side table (appended, one JSON per line).
NUMBERS = os.environ.get("CHAOS_KIND_NUMBERS")


def scenario(component: str):
    return next(s for s in SCENARIOS if s.component == component and s.name == KILLS[component])


@pytest.mark.parametrize("component", list(KILLS))
def test_one_kill_per_component_on_kind(component, kind_platform, tmp_path):
    scen = scenario(component)
    slo = load_slo_file(REPO / "experiments" / "slo.yaml").for_experiment(component, scen.name)
    deployment = get_component(component)(kind_platform)
    t0 = time.monotonic()
    try:
        deployment.deploy(timeout_s=DEPLOY_TIMEOUT_S)
        deploy_s = time.monotonic() - t0
        outcome = run_scenario(kind_platform, deployment, scen, slo, seed=1, report_dir=tmp_path,
                               run_id=f"kind-{component}", log=lambda m: print(f"[kind-stack] {m}", flush=True))
        logs = deployment.pod_logs()  # what the failover explainer reads: each pod's log, dated
        dated = {pod: log_time(path.read_text().splitlines()[0]) for pod, path in logs.items()}
    finally:
        deployment.remove()
    metrics = outcome.result["metrics"]
    if NUMBERS:
        with open(NUMBERS, "a") as out:
            out.write(json.dumps({"platform": "kind", "experiment": scen.key, "deploy_s": round(deploy_s, 1),
                                  "verdict": outcome.verdict.verdict, **metrics}) + "\n")
    assert outcome.path is not None and outcome.path.is_file()
    # A crash, not a clean shutdown: the containers were SIGKILLed from the node before the pod
    # was deleted (a deletion alone lets the kubelet send SIGTERM first).
    crash = outcome.result["proof"]["sigkill_from_node"]
    assert crash and crash["killed"] and not crash["errors"], outcome.result["proof"]
    assert outcome.verdict.verdict == "pass", outcome.message
    assert sorted(dated) == sorted(deployment.pods) and None not in dated.values(), dated
