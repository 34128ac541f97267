"""s3proxy on loopback for the harness's tests: the jar, its cache and its configuration come from
chaos.s3proxy (a real S3 server standing in for MinIO). The server listens on 127.0.0.1 with AWS
v2/v4 authentication and test credentials, and stores objects with jclouds' filesystem-nio2
backend in a directory the caller owns, so data survives a SIGKILL and restart on the same
directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from chaos.s3proxy import (ACCESS_KEY, S3PROXY_VERSION, SECRET_KEY, argv, ensure_s3proxy_jar, missing,
                          properties)
from tests.servers import free_port

__all__ = ["S3PROXY_VERSION", "ACCESS_KEY", "SECRET_KEY", "S3Proxy", "ensure_s3proxy_jar", "missing", "free_port"]


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
        conf.write_text(properties("127.0.0.1", self.port, self.data_dir))
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                argv(jar, conf, self.heap_mb),
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
