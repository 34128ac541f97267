"""A Flink HA session cluster on loopback for integration tests: one ZooKeeper server (Debian's
package, the way chaos/components/zookeeper.py runs it), JobManagers and TaskManagers as plain
JVMs from the distribution that chaos.components.flink unpacks from the apache-flink-libraries
wheel, each with its own config.yaml (Flink 2's configuration file) and ports.

Stand-in: high-availability.storageDir and the checkpoint directory are local file:// directories
where the kind stack uses MinIO's S3. Every process runs in its own session (process group);
stop() kills them all and removes the directory, also after a failed start.

    with FlinkLocalCluster(tmp_path, jobmanagers=2, taskmanagers=1) as fc:
        fc.jobmanagers()   # [("jm0", "http://127.0.0.1:port"), ...]
        fc.zk_hosts        # "127.0.0.1:port"
        fc.kill("jm0")     # SIGKILL the JobManager's process group
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from chaos.components import zookeeper
from chaos.components.flink import JAVA, Settings, ensure_flink_dist
from chaos.components.flink_local import ENTRYPOINT, TASKMANAGER, TM_MEMORY, jvm_argv, write_config
from tests.servers import free_port

CLUSTER_ID = "/chaos-test"


def missing() -> list[str]:
    """What the loopback cluster lacks: its ZooKeeper is the harness's (jars through Maven)."""
    return zookeeper.prerequisites()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    dir: Path
    rest: str | None = None

    def log_tail(self, lines: int = 15) -> str:
        for f in (self.dir / "flink.log", self.dir / "out"):
            if f.exists():
                return "\n".join(f.read_text(errors="replace").splitlines()[-lines:])
        return ""


class FlinkLocalCluster:
    def __init__(self, base: Path, *, jobmanagers: int = 2, taskmanagers: int = 1,
                 settings: Settings | None = None):
        self.base = Path(base) / "flink"
        self.n_jm, self.n_tm = jobmanagers, taskmanagers
        self.settings = settings or Settings()
        self.procs: dict[str, Proc] = {}
        self.zk_hosts = ""
        self.cluster_id = CLUSTER_ID

    # -- lifecycle
    def __enter__(self) -> "FlinkLocalCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout_s: float = 60.0) -> None:
        home = ensure_flink_dist()
        self.base.mkdir(parents=True, exist_ok=True)
        self._start_zookeeper()
        common = {**self.settings.failover_conf(),
                  "high-availability.zookeeper.quorum": self.zk_hosts,
                  "high-availability.cluster-id": self.cluster_id,
                  # Stand-in for MinIO's S3 bucket on kind:
                  "high-availability.storageDir": f"file://{self.base}/ha",
                  "execution.checkpointing.dir": f"file://{self.base}/checkpoints",
                  "parallelism.default": "1"}
        for i in range(self.n_jm):
            rest = free_port()
            self._start_jvm(home, f"jm{i}", ENTRYPOINT, 256, {
                **common, "jobmanager.rpc.address": "127.0.0.1", "jobmanager.rpc.port": str(free_port()),
                "jobmanager.bind-host": "127.0.0.1", "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1",
                "rest.port": str(rest), "blob.server.port": str(free_port()),
                "jobmanager.memory.process.size": "1g"}, rest=f"http://127.0.0.1:{rest}")
        for i in range(self.n_tm):
            self._start_jvm(home, f"tm{i}", TASKMANAGER, 256, {
                **common, **TM_MEMORY, "taskmanager.host": "127.0.0.1", "taskmanager.bind-host": "127.0.0.1",
                "taskmanager.rpc.port": "0", "taskmanager.data.port": "0", "taskmanager.numberOfTaskSlots": "2"})
        for p in self.procs.values():
            if p.rest:
                self._wait_rest(p, timeout_s)

    def stop(self) -> None:
        for p in self.procs.values():
            self._kill(p)
        self.procs.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- access
    def jobmanagers(self) -> list[tuple[str, str]]:
        return [(p.name, p.rest) for p in self.procs.values() if p.rest]

    def pid(self, name: str) -> int:
        return self.procs[name].popen.pid

    def alive(self, name: str) -> bool:
        return self.procs[name].popen.poll() is None

    def kill(self, name: str) -> None:
        """SIGKILL the process (group): a crashed JobManager, no graceful leadership release."""
        self._kill(self.procs[name])

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in self.procs.values())

    # -- internals
    def _start_zookeeper(self) -> None:
        d = self.base / "zk"
        (d / "data").mkdir(parents=True)
        port = free_port()
        (d / "zoo.cfg").write_text(
            f"tickTime=1000\ninitLimit=5\nsyncLimit=2\ndataDir={d / 'data'}\nclientPort={port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n"
            "maxSessionTimeout=60000\n")
        argv = [JAVA, "-Xmx128m", "-XX:+UseSerialGC", "-Dzookeeper.jmx.log4j.disable=true", "-cp",
                f"{zookeeper.ensure_zookeeper_jars()}/*", "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(d / "zoo.cfg")]
        self.procs["zk"] = Proc("zk", self._popen(argv, d), d)
        self.zk_hosts = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"ruok")
                    if s.recv(16) == b"imok":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.procs["zk"].popen.poll() is not None:
                raise RuntimeError(f"ZooKeeper did not start:\n{self.procs['zk'].log_tail()}")
            time.sleep(0.1)

    def _start_jvm(self, home: Path, name: str, main: str, heap_mb: int, conf: dict[str, str],
                   rest: str | None = None) -> None:
        d = self.base / name
        d.mkdir()
        write_config(d, conf, log_file=True)
        argv = jvm_argv(home, d, main, heap_mb)
        self.procs[name] = Proc(name, self._popen(argv, d), d, rest)

    @staticmethod
    def _popen(argv: list[str], d: Path) -> subprocess.Popen:
        with open(d / "out", "wb") as out:
            return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=d, start_new_session=True)

    @staticmethod
    def _kill(p: Proc) -> None:
        if p.popen.poll() is None:
            try:
                os.killpg(p.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _wait_rest(self, p: Proc, timeout_s: float) -> None:
        from chaos.components.flink import FlinkRest, FlinkRestError

        rest, deadline = FlinkRest(timeout_s=1.0), time.monotonic() + timeout_s
        while True:
            try:
                rest.get(p.rest, "/config")
                return
            except FlinkRestError:
                pass
            if time.monotonic() > deadline or p.popen.poll() is not None:
                raise RuntimeError(f"{p.name} REST {p.rest} did not answer:\n{p.log_tail()}")
            time.sleep(0.2)
