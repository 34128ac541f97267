"""--chaos-repeat N runs every experiment N times through the pytest plugin, each run with its
own seed (derived from --chaos-seed, so a seed replays every repeat), its own results directory
and probe key, and prints their spread. The platform, the deployment and the run loop are
replaced by stand-ins here (this checks the plugin's wiring, not an experiment); the run loop's
own handling of `repeat` is what the experiments exercise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFTEST = '''
import pytest
from chaos import pytest_plugin
from chaos.checkers import Verdict
from chaos.run_loop import Outcome
from chaos.results import build_result, write_result
from chaos.slo import SLO


@pytest.fixture(scope="session")
def chaos_platform():
    return "stand-in platform"


@pytest.fixture(scope="session")
def chaos_deployments():
    class Deployments:
        def get(self, component, **kwargs):
            return component
    return Deployments()


def fake_run_scenario(platform, component, scenario, slo, *, seed, report_dir, run_id, log, progress, repeat,
                      settings):
    unavail = 1.0 + repeat.index
    doc = build_result(experiment=scenario.key, component=scenario.component, fault=scenario.fault,
                       platform="local", seed=seed, target={}, proof={"proven": True}, config={},
                       windows={"injected_s": 1.0, "healed_s": 2.0, "end_s": 3.0},
                       verdict=Verdict("pass", (), {"unavailability_s": unavail, "recovery_s": unavail}), slo=slo,
                       extra={"repeat": repeat.to_dict()} if repeat.of > 1 else None)
    return Outcome(doc, write_result(report_dir, doc, []), Verdict("pass"))


pytest_plugin.run_scenario = fake_run_scenario
'''

TEST = '''
import pytest
from chaos.catalog import SCENARIOS

KILL = [s for s in SCENARIOS if s.key == "redis/master-kill"]


@pytest.mark.parametrize("scenario", KILL, ids=lambda s: s.name)
def test_it(scenario, chaos_experiment):
    assert chaos_experiment(scenario).verdict.verdict == "pass"
'''


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_repeat_here.py").write_text(TEST)
    return subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-p", "no:cacheprovider", "-v",
                           f"--rootdir={tmp_path}", "--chaos-report-dir", str(tmp_path / "out"), *args],
                          capture_output=True, text=True, timeout=120)


def test_each_experiment_runs_n_times_with_its_own_seed_and_directory(tmp_path):
    proc = _run(tmp_path, "--chaos-repeat", "3", "--chaos-seed", "1913123867")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for i in (1, 2, 3):
        assert f"test_it[r{i}-master-kill] PASSED" in proc.stdout
    docs = [json.loads((tmp_path / "out" / "redis" / "master-kill" / f"repeat-{i}" / "result.json").read_text())
            for i in (1, 2, 3)]
    seeds = [d["seed"] for d in docs]
    assert seeds[0] == 1913123867 and len(set(seeds)) == 3
    assert [d["repeat"] for d in docs] == [{"index": i, "of": 3} for i in (1, 2, 3)]
    spread = json.loads((tmp_path / "out" / "redis" / "master-kill" / "distribution.json").read_text())
    assert spread["unavailability_s"] == {"n": 3, "median": 3.0, "p95": 3.9, "min": 2.0, "max": 4.0}
    assert "spread over 3 runs of each experiment" in proc.stdout

    # The same seed replays the same repeats.
    again = _run(tmp_path, "--chaos-repeat", "3", "--chaos-seed", "1913123867",
                 "--chaos-report-dir", str(tmp_path / "again"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert [json.loads((tmp_path / "again" / "redis" / "master-kill" / f"repeat-{i}" / "result.json").read_text())
            ["seed"] for i in (1, 2, 3)] == seeds


def test_without_repeat_one_run_in_the_usual_directory(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_it[master-kill] PASSED" in proc.stdout
    doc = json.loads((tmp_path / "out" / "redis" / "master-kill" / "result.json").read_text())
    assert "repeat" not in doc
    assert not (tmp_path / "out" / "redis" / "master-kill" / "distribution.json").exists()


def test_a_bad_repeat_count_is_a_usage_error(tmp_path):
    proc = _run(tmp_path, "--chaos-repeat", "0")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "--chaos-repeat" in proc.stderr and "whole number" in proc.stderr
