"""A real Elasticsearch cluster on 127.0.0.1 for the harness's own tests.

The server (distribution, user, JDK, JVM options) is the harness's own (chaos/components/es_server.py).
Each node gets its own config, data, log and temp directories under one temporary directory
(removed by stop()), distinct HTTP and transport ports, security off, a 256 MB heap, and the
fault detection tuned as docs/components.md says. Each node runs in its own session, so kill()
takes the launcher and the server JVM down together, the way a pod kill does.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from chaos.components.elasticsearch import FAULT_DETECTION, prerequisites
from chaos.components.es_server import (ES_USER, ES_VERSION, ensure_distribution, ensure_user, java_home, jvm_options,
                                       remove_jvm_leftovers)
from tests.servers import free_ports

__all__ = ["ES_VERSION", "ES_USER", "EsNode", "EsCluster", "prerequisites", "ensure_distribution",
           "ensure_user", "FAULT_DETECTION"]

HEAP = "256m"
JVM_OPTIONS = jvm_options()


def _die_with_parent() -> None:
    """In the child, after the switch to the server's user: SIGKILL when the test process dies,
    so a killed pytest leaves no launcher behind (its server JVM exits when its stdin closes)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def http_json(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        return json.loads(resp.read())


class EsNode:
    """One Elasticsearch node: its directories, ports and process."""

    def __init__(self, name: str, root: Path, http_port: int, transport_port: int):
        self.name = name
        self.dir = root / name
        self.http_port = http_port
        self.transport_port = transport_port
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "stdout.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def configure(self, home: Path, seeds: list[str], masters: list[str], settings: dict[str, Any]) -> None:
        conf = self.dir / "config"
        for sub in ("config", "data", "logs", "tmp"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(home / "config" / "log4j2.properties", conf / "log4j2.properties")
        (conf / "jvm.options").write_text("\n".join(JVM_OPTIONS) + "\n")
        yml = {
            "cluster.name": "chaos-es-test",
            "node.name": self.name,
            "path.data": str(self.dir / "data"),
            "path.logs": str(self.dir / "logs"),
            "network.host": "127.0.0.1",
            "http.port": self.http_port,
            "transport.port": self.transport_port,
            "discovery.seed_hosts": seeds,
            "cluster.initial_master_nodes": masters,
            # The integ-test-zip carries the x-pack security module: off, plain HTTP.
            "xpack.security.enabled": False,
            # A nearly full /tmp must not make shards unallocatable in a test.
            "cluster.routing.allocation.disk.threshold_enabled": False,
            **FAULT_DETECTION,
            **settings,
        }
        (conf / "elasticsearch.yml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in yml.items()))

    def start(self, home: Path, user: str, jhome: str) -> None:
        pw = pwd.getpwnam(user)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "ES_JAVA_HOME": jhome,
               "ES_PATH_CONF": str(self.dir / "config"), "ES_TMPDIR": str(self.dir / "tmp"),
               "ES_JAVA_OPTS": f"-Xms{HEAP} -Xmx{HEAP}", "CLI_JAVA_OPTS": "-XX:-UsePerfData",
               "LANG": "C.UTF-8"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([str(home / "bin" / "elasticsearch")], env=env, cwd=self.dir,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                                         start_new_session=True, preexec_fn=_die_with_parent)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """Every process of the node's session (the launcher and the server JVM)."""
        if self.proc is None:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.getsid(int(entry)) == self.proc.pid:
                        out.append(int(entry))
        return sorted(out)

    def kill(self, sig: int = signal.SIGKILL, wait_s: float = 10.0) -> list[int]:
        """Signal every process of the node; on SIGKILL wait until they are gone. Returns the
        pids that were signalled (the proof that something was killed)."""
        pids = self.pids()
        if self.proc is None:
            return pids
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + wait_s
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait_s)
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        return pids

    def tail(self, lines: int = 40) -> str:
        logs = [self.log, self.dir / "logs" / "chaos-es-test.log"]
        text = []
        for path in logs:
            if path.exists():
                text.append(f"--- {path}")
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)


class EsCluster:
    """n nodes (all master-eligible data nodes) on 127.0.0.1; start() waits for green."""

    def __init__(self, n: int = 3, settings: dict[str, Any] | None = None,
                 log: Callable[[str], None] = lambda m: None):
        self.n = n
        self.settings = settings or {}
        self.log = log
        self.root: Path | None = None
        self.nodes: list[EsNode] = []
        self.timings: dict[str, float] = {}

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def node(self, name: str) -> EsNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self, timeout_s: float = 90.0) -> "EsCluster":
        t0 = time.monotonic()
        home = ensure_distribution(self.log)
        user = ensure_user()
        jhome = java_home()
        if user is None or jhome is None:
            raise RuntimeError(f"cannot run Elasticsearch: user {ES_USER} {'ok' if user else 'missing'}, "
                               f"Java {jhome or 'missing'}")
        self.root = Path(tempfile.mkdtemp(prefix="chaos-es-"))
        try:
            ports = free_ports(2 * self.n)
            self.nodes = [EsNode(f"es-{i}", self.root, ports[2 * i], ports[2 * i + 1]) for i in range(self.n)]
            seeds = [f"127.0.0.1:{n.transport_port}" for n in self.nodes]
            masters = [n.name for n in self.nodes]
            for node in self.nodes:
                node.configure(home, seeds, masters, self.settings)
            pw = pwd.getpwnam(user)
            os.chmod(self.root, 0o755)
            for base, dirs, files in os.walk(self.root):
                for entry in [base, *(os.path.join(base, f) for f in files)]:
                    os.chown(entry, pw.pw_uid, pw.pw_gid)
            for node in self.nodes:
                node.start(home, user, jhome)
            self.wait_health("green", self.n, timeout_s - (time.monotonic() - t0))
        except BaseException:
            self.stop()
            raise
        self.timings["start_s"] = round(time.monotonic() - t0, 2)
        return self

    def health(self, url: str | None = None) -> dict[str, Any] | None:
        for u in [url] if url else self.urls:
            with contextlib.suppress(OSError, ValueError):
                return http_json(f"{u}/_cluster/health?timeout=1s", timeout_s=2.0)
        return None

    def wait_health(self, status: str, nodes: int, timeout_s: float) -> dict[str, Any]:
        """Poll until the cluster health is at least `status` with `nodes` nodes; on timeout a
        RuntimeError with the last health and each node's log tail."""
        order = {"red": 0, "yellow": 1, "green": 2}
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            dead = [n.name for n in self.nodes if n.proc is not None and not n.running()]
            if dead:
                break
            urls = [n.url for n in self.nodes if n.running()]
            for url in urls:
                try:
                    last = http_json(f"{url}/_cluster/health?wait_for_nodes={nodes}&timeout=1s", timeout_s=3.0)
                except (OSError, ValueError) as exc:
                    last = {"error": str(exc)[:200]}
                    continue
                if order.get(last.get("status"), -1) >= order[status] and last.get("number_of_nodes") == nodes:
                    return last
                break
            time.sleep(0.25)
        tails = "\n".join(n.tail() for n in self.nodes)
        raise RuntimeError(f"Elasticsearch not {status} with {nodes} nodes after {timeout_s:.0f} s "
                           f"(last health {last}; exited: "
                           f"{[n.name for n in self.nodes if n.proc is not None and not n.running()]})\n{tails}")

    def stop(self) -> None:
        """SIGKILL every node (a test cluster needs no graceful shutdown), remove the directory."""
        for node in self.nodes:  # signal all first, then wait for each
            if node.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.kill(signal.SIGKILL)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        remove_jvm_leftovers(ES_USER)  # the killed JVMs' attach sockets and hsperfdata in /tmp

    def __enter__(self) -> "EsCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

