"""s3proxy (Apache-2.0, org.gaul:s3proxy on Maven Central): a real S3 server that runs here,
standing in for MinIO, whose community edition is source-only under the AGPL and is neither
built nor fetched by this project.

The self-contained jar (`jar-with-dependencies` classifier: s3proxy and its whole dependency
closure, shaded) is resolved once through Maven with `mvn dependency:copy` and cached under
/var/cache/chaos-harness/s3proxy-<version>/ (CHAOS_CACHE_DIR); later runs download nothing.
`properties()` is its configuration: AWS v2/v4 authentication with test credentials, objects
stored with jclouds' filesystem-nio2 backend in a directory (each bucket a subdirectory), so data
survives a SIGKILL and a restart on the same directory. `argv()` is the JVM's command line.
Used by the Flink component on the local platform (its S3 store) and by the harness's own tests
(tests/servers/s3.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._run import run
from .cache import cache_dir as harness_cache, cached_dir, maven_artifact_missing
from .errors import PlatformError

__all__ = ["S3PROXY_VERSION", "ACCESS_KEY", "SECRET_KEY", "cache_dir", "ensure_s3proxy_jar", "missing",
           "properties", "argv"]

S3PROXY_VERSION = "3.0.0"
ARTIFACT = f"org.gaul:s3proxy:{S3PROXY_VERSION}:jar:jar-with-dependencies"
JAR_NAME = f"s3proxy-{S3PROXY_VERSION}-jar-with-dependencies.jar"
JAVA = os.environ.get("CHAOS_JAVA", "/usr/bin/java")
ACCESS_KEY, SECRET_KEY = "chaos-test", "chaos-test-secret"


def cache_dir() -> Path:
    return harness_cache() / f"s3proxy-{S3PROXY_VERSION}"


def missing() -> list[str]:
    """What this machine lacks to run s3proxy, each with its fix ([] when nothing)."""
    return maven_artifact_missing(JAVA, f"s3proxy {S3PROXY_VERSION}", cache_dir() / ".complete")


def ensure_s3proxy_jar() -> Path:
    """The cached self-contained jar; fetched through Maven on first use (about 50 MB)."""
    def fetch(tmp: Path) -> None:
        proc = run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={tmp}"],
                   check=False, timeout=900)
        if proc.returncode != 0 or not (tmp / JAR_NAME).is_file():
            raise PlatformError(f"mvn could not fetch {ARTIFACT}: {(proc.stdout + proc.stderr)[-1500:]}")

    return cached_dir(cache_dir(), fetch, S3PROXY_VERSION) / JAR_NAME


def properties(host: str, port: int, data_dir: Path) -> str:
    """s3proxy's configuration file: listen on host:port, store into data_dir."""
    return "\n".join([
        f"s3proxy.endpoint=http://{host}:{port}",
        "s3proxy.authorization=aws-v2-or-v4",
        f"s3proxy.identity={ACCESS_KEY}",
        f"s3proxy.credential={SECRET_KEY}",
        "jclouds.provider=filesystem-nio2",
        f"jclouds.filesystem.basedir={data_dir}", ""])


def argv(jar: Path, conf: Path, heap_mb: int = 256) -> list[str]:
    """The server's command line (C1 only and the serial collector: it starts in less CPU time)."""
    return [JAVA, f"-Xmx{heap_mb}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", str(jar),
            "--properties", str(conf)]
