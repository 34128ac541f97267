"""s3proxy (Apache-2.0, org.gaul:s3proxy on Maven Central): a real S3 server that runs here,
standing in for MinIO, whose community edition is source-only under the AGPL and is neither
built nor fetched by this project.

The self-contained jar (`jar-with-dependencies` classifier: s3proxy and its whole dependency
closure, shaded) is resolved once through Maven with `mvn dependency:copy` and cached under
/var/cache/chaos-harness/s3proxy-<version>/ (CHAOS_CACHE_DIR); later runs download nothing.
The server listens on 127.0.0.1 with AWS v2/v4 authentication and test credentials, and stores
objects with jclouds' filesystem-nio2 backend in a directory the caller owns, so data survives
a SIGKILL and restart on the same directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from chaos.cache import cache_dir as harness_cache, cached_dir
from tests.servers import free_port

__all__ = ["S3PROXY_VERSION", "ACCESS_KEY", "SECRET_KEY", "S3Proxy", "ensure_s3proxy_jar", "missing", "free_port"]

S3PROXY_VERSION = "3.0.0"
ARTIFACT = f"org.gaul:s3proxy:{S3PROXY_VERSION}:jar:jar-with-dependencies"
JAR_NAME = f"s3proxy-{S3PROXY_VERSION}-jar-with-dependencies.jar"
JAVA = os.environ.get("CHAOS_JAVA", "/usr/bin/java")
ACCESS_KEY, SECRET_KEY = "chaos-test", "chaos-test-secret"


def cache_dir() -> Path:
    return harness_cache() / f"s3proxy-{S3PROXY_VERSION}"


def missing() -> list[str]:
    """What this machine lacks to run s3proxy, each with its fix ([] when nothing)."""
    out = []
    if not os.access(JAVA, os.X_OK):
        out.append(f"{JAVA} not found (fix: apt-get install default-jre-headless)")
    if not (cache_dir() / ".complete").is_file() and shutil.which("mvn") is None:
        out.append(f"s3proxy {S3PROXY_VERSION} not cached in {cache_dir()} and no mvn to fetch it "
                   "(fix: apt-get install maven)")
    return out


def ensure_s3proxy_jar() -> Path:
    """The cached self-contained jar; fetched through Maven on first use (about 50 MB)."""
    def fetch(tmp: Path) -> None:
        proc = subprocess.run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}",
                               f"-DoutputDirectory={tmp}"], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 or not (tmp / JAR_NAME).is_file():
            raise RuntimeError(f"mvn could not fetch {ARTIFACT}: {(proc.stdout + proc.stderr)[-1500:]}")

    return cached_dir(cache_dir(), fetch, S3PROXY_VERSION) / JAR_NAME


class S3Proxy:
    """One s3proxy process on 127.0.0.1:port storing into data_dir. start() waits until the port
    accepts connections; kill() is SIGKILL (no shutdown); stop() is kill() and wait. The
    process is its own session, so the fixture's stop() ends it and nothing else."""

    def __init__(self, data_dir: Path, port: int | None = None, heap_mb: int = 256):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.heap_mb = heap_mb
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"s3proxy-{self.port}.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> "S3Proxy":
        jar = ensure_s3proxy_jar()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir.parent / f"s3proxy-{self.port}.conf"
        conf.write_text("\n".join([
            f"s3proxy.endpoint=http://127.0.0.1:{self.port}",
            "s3proxy.authorization=aws-v2-or-v4",
            f"s3proxy.identity={ACCESS_KEY}",
            f"s3proxy.credential={SECRET_KEY}",
            "jclouds.provider=filesystem-nio2",
            f"jclouds.filesystem.basedir={self.data_dir}", ""]))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [JAVA, f"-Xmx{self.heap_mb}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", str(jar),
                 "--properties", str(conf)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "LOG_LEVEL": "warn"})
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3proxy exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"s3proxy did not listen on {self.endpoint} within {timeout_s:.0f} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crashed pod: no graceful shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
