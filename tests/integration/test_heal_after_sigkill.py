"""A harness killed with SIGKILL in the middle of a zone partition leaves rules, namespaces,
links and server processes behind; `chaos heal` must remove every one of them.

The victim runs on its own platform instance ("h": namespaces chaos-h*, bridge chaosbrh,
subnet 10.213.1.0/24) and state directory, so it never touches the session's platform."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VICTIM = r"""
import sys, time
from pathlib import Path
from chaos.components.postgres import PostgresCluster
from chaos.faults import ZonePartition
from chaos.platforms.local import LocalPlatform
from chaos.timeline import Timeline

platform = LocalPlatform(state_dir=Path(sys.argv[1]), instance="h", subnet="10.213.1.0/24").up()
cluster = PostgresCluster(platform)
cluster.deploy(120)
primary = [t for t in cluster.targets() if t.role == "primary"][0]
fault = ZonePartition(platform, primary, Timeline())
fault.__enter__()
assert fault.proven, fault.proof
print("INJECTED", platform.run_id, primary.zone, flush=True)
time.sleep(600)
"""


def _sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def _leftovers(run_id: str, state_dir: Path) -> dict[str, list[str]]:
    namespaces = [l.split()[0] for l in _sh("ip", "netns", "list").splitlines() if l.startswith("chaos-h")]
    links = [l.split()[0] for l in _sh("ip", "-br", "link").splitlines()
             if l.startswith("czh-") or l.startswith("chaosbrh")]
    rules = [l for l in _sh("iptables-save").splitlines() if run_id in l]
    for ns in namespaces:
        rules += [l for l in _sh("ip", "netns", "exec", ns, "iptables-save").splitlines() if run_id in l]
    processes = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(state_dir) in cmd or str(state_dir) in env:
            processes.append(f"{pid} {cmd[:80]}")
    return {"namespaces": namespaces, "links": links, "rules": rules, "processes": processes}


def test_chaos_heal_removes_everything_a_sigkilled_run_left_mid_partition():
    state_dir = Path(tempfile.mkdtemp(prefix="chaos-heal-test-", dir="/var/tmp"))
    os.chmod(state_dir, 0o755)  # the postgres user must reach its data directory below it
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, str(state_dir)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        line = ""
        while time.monotonic() < deadline:
            line = victim.stdout.readline()
            if line.startswith("INJECTED") or not line:
                break
        assert line.startswith("INJECTED"), f"victim did not inject: {line!r} {victim.stdout.read()[-2000:]}"
        run_id = line.split()[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)

        # The crash really left things behind: otherwise this test would prove nothing.
        before = _leftovers(run_id, state_dir)
        assert len(before["namespaces"]) == 3, before
        assert before["rules"], before
        assert before["processes"], before
        assert any(l.startswith("chaosbrh") for l in before["links"]), before

        heal = subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state_dir),
                               "--instance", "h"], capture_output=True, text=True, timeout=120)
        assert heal.returncode == 0, heal.stdout + heal.stderr
        assert "partition rules" in heal.stdout, heal.stdout

        after = _leftovers(run_id, state_dir)
        assert after == {"namespaces": [], "links": [], "rules": [], "processes": []}, after
        assert not list((state_dir / "ledger").glob("*.jsonl"))

        again = subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state_dir),
                                "--instance", "h"], capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and "nothing left to heal" in again.stdout, again.stdout + again.stderr
    finally:
        if victim.poll() is None:
            victim.kill()
        subprocess.run([sys.executable, "-m", "chaos.cli", "heal", "--state-dir", str(state_dir),
                        "--instance", "h", "--force"], capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", str(state_dir)])


def test_a_namespace_kill_also_kills_what_forks_while_it_kills():
    """A process that forks all the time (as PostgreSQL's fencer starts `timeout ... bash -c`
    per peer) must leave nothing behind when its namespace's processes are killed: a child forked
    between listing the namespace's processes and killing its parent would otherwise survive."""
    from chaos.platforms.local_host import _kill_netns, _netns_pids
    from chaos.waits import poll_until

    netns = f"chaos-forktest-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.Popen(["ip", "netns", "exec", netns, "bash", "-c",
                          "for i in $(seq 1 100000); do (sleep 30 &); sleep 0.001; done"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert poll_until(lambda: len(_netns_pids(netns)) > 20, 10), _netns_pids(netns)
        killed = _kill_netns(netns)
        assert len(killed) > 20, killed
        # Nothing is left, and nothing comes back: no survivor goes on forking.
        assert _netns_pids(netns) == []
        time.sleep(0.5)
        assert _netns_pids(netns) == []
    finally:
        for pid in _netns_pids(netns):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", netns], check=False)
