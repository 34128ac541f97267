"""The README's "Write your own experiment" example, taken from the README's text and run as a
user would run it: a module in a directory outside this repository, `pytest --chaos-platform
local` on it. It runs on a local-platform instance of its own (namespaces, bridge, state
directory), beside the session's, and must write the same result.json and HTML report as the
built-in experiments, with the fault proven and the `during` check passed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local platform needs root")


def readme_example() -> tuple[str, str]:
    """(file name, code) of the README's example: the python block that starts with a file name."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Write your own experiment", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n# (test_\w+\.py)\n(.*?)```", section, re.S)
    assert block, "the README's section has no example"
    return block.group(1), block.group(2)


def _run_pytest(user_dir: Path, state: Path, out: Path, report: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--chaos-platform", "local", str(user_dir), "-p", "no:cacheprovider",
         "-rA", f"--rootdir={user_dir}", "--chaos-instance", "rx", "--chaos-subnet", "10.213.2.0/24",
         "--chaos-state-dir", str(state), "--chaos-report-dir", str(out), "--chaos-report", str(report)],
        cwd=user_dir, capture_output=True, text=True, timeout=900)


def test_the_readme_example_runs_as_written_and_its_assertion_can_fail(tmp_path):
    """Beside the example, in the same session (PostgreSQL deployed once), a copy whose during
    check is made to fail (it expects the node schedulable while it is cordoned): the control
    that the README's assertion can fail, and says why."""
    name, code = readme_example()
    broken = code.replace('["schedulable"] is False', '["schedulable"] is True').replace(
        '"my-standby-drain"', '"my-broken-drain"').replace("def test_standby_drain", "def test_broken_drain")
    assert broken.count("my-broken-drain") == 1 and "is True" in broken
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / name).write_text(code)
    (user_dir / "test_broken_copy.py").write_text(broken)
    out, report = tmp_path / "out", tmp_path / "r.html"
    # The servers run as their own users: their data must not sit under pytest's private tmp_path.
    state = Path(tempfile.mkdtemp(prefix="chaos-readme-test-", dir="/var/tmp"))
    os.chmod(state, 0o755)
    try:
        proc = _run_pytest(user_dir, state, out, report)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    log = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 1, log  # one test failed: the broken copy
    assert f"PASSED {name}::test_standby_drain" in proc.stdout, log
    assert f"PASSED {name}::test_one_primary_two_standbys_in_three_zones" in proc.stdout, log
    assert "FAILED test_broken_copy.py::test_broken_drain" in proc.stdout, log
    assert "during check failed: AssertionError" in proc.stdout, log  # the failed assertion prints the reason

    doc = json.loads((out / "postgres" / "my-standby-drain" / "result.json").read_text())
    assert doc["verdict"] == "pass" and doc["fault"] == "drain", doc["reasons"]
    assert doc["target"]["role"] == "standby" and doc["proof"]["proven"] is True
    assert doc["slo"]["max_unavailability_s"] == 5
    events = [json.loads(line) for line in (out / "postgres" / "my-standby-drain" / "timeline.jsonl").open()]
    assert any(e["kind"] == "phase" and e["op"] == "during" for e in events)  # the check ran in the hold
    broken_doc = json.loads((out / "postgres" / "my-broken-drain" / "result.json").read_text())
    # The failed check fails the verdict; the run went on: the fault held, healed, and recovery was seen.
    assert broken_doc["verdict"] == "fail", broken_doc["reasons"]
    assert any(r.startswith("during check failed: AssertionError") for r in broken_doc["reasons"]), broken_doc
    assert broken_doc["recovered_steady"] is True and broken_doc["windows"]["healed_s"] is not None
    assert "postgres/my-standby-drain" in report.read_text()
