"""What killed Elasticsearch JVMs leave in /tmp (their attach sockets, the launcher's hsperfdata
directory) is removed, and only that: files of the servers' user whose pid no longer runs."""

from __future__ import annotations

import os
import pwd
import subprocess
import time

import pytest

from chaos.components.es_server import ES_USER, ensure_user, remove_jvm_leftovers


@pytest.fixture
def es_uid():
    if os.geteuid() != 0 or ensure_user() is None:
        pytest.skip("needs root to create and chown to the servers' user")
    return pwd.getpwnam(ES_USER).pw_uid


def test_only_a_dead_jvms_attach_socket_of_the_servers_user_goes(tmp_path, es_uid):
    gone, alive, foreign = (tmp_path / f".java_pid{_dead_pid()}", tmp_path / f".java_pid{os.getpid()}",
                            tmp_path / f".java_pid{_dead_pid()}")
    for f in (gone, alive, foreign):
        f.touch()
    os.chown(gone, es_uid, -1)
    os.chown(alive, es_uid, -1)  # foreign stays root's
    perf = tmp_path / f"hsperfdata_{ES_USER}"
    perf.mkdir()
    removed = remove_jvm_leftovers(ES_USER, tmp_path)
    assert sorted(removed) == sorted([str(gone), str(perf)])
    assert not gone.exists() and alive.exists() and foreign.exists() and not perf.exists()


def test_a_hsperfdata_directory_in_use_stays(tmp_path, es_uid):
    perf = tmp_path / f"hsperfdata_{ES_USER}"
    perf.mkdir()
    (perf / "4242").touch()
    assert remove_jvm_leftovers(ES_USER, tmp_path) == [] and perf.exists()


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_killed_jvm_not_yet_reaped_counts_as_dead(tmp_path, es_uid):
    zombie = subprocess.Popen(["true"])
    try:
        for _ in range(200):  # exited, not reaped: a zombie until wait()
            if open(f"/proc/{zombie.pid}/stat").read().rpartition(")")[2].split()[0] == "Z":
                break
            time.sleep(0.01)
        sock = tmp_path / f".java_pid{zombie.pid}"
        sock.touch()
        os.chown(sock, es_uid, -1)
        assert remove_jvm_leftovers(ES_USER, tmp_path) == [str(sock)]
    finally:
        zombie.wait()
