"""The harness's cache of things fetched or built once: jars resolved through Maven, server
distributions, compiled probe jobs. It lives in CHAOS_CACHE_DIR (default /var/cache/chaos-harness);
each entry is a directory that holds a `.complete` stamp once it is whole."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["cache_dir", "cached_dir", "file_lock", "maven_artifact_missing", "maven_libs", "STAMP"]

STAMP = ".complete"


def cache_dir() -> Path:
    return Path(os.environ.get("CHAOS_CACHE_DIR", "/var/cache/chaos-harness"))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created if missing): a second process waits for the first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _stamped(home: Path, stamp: str) -> bool:
    try:
        return (home / STAMP).read_text().strip() == stamp.strip()
    except OSError:
        return False


def cached_dir(home: Path, build: Callable[[Path], Path | None], stamp: str = "") -> Path:
    """`home`, made once. If it carries the stamp (the same text: a changed recipe, e.g. a new pom,
    stamps differently and is made again) it is returned at once. Otherwise, under a lock
    beside it (a concurrent maker is waited for, and its result reused), build(tmp) fills a fresh
    directory next to home; what it returns (a directory inside tmp, or tmp itself when None)
    gets the stamp and replaces home. A build that raises leaves nothing behind."""
    if _stamped(home, stamp):
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(home.parent / f"{home.name}.lock"):
        if _stamped(home, stamp):
            return home
        tmp = Path(tempfile.mkdtemp(prefix=f"{home.name}-", dir=home.parent))
        try:
            made = build(tmp) or tmp
            (made / STAMP).write_text(stamp + "\n")
            for root, _dirs, _files in os.walk(made):  # readable by the servers' own users
                os.chmod(root, 0o755)
            if home.exists():
                shutil.rmtree(home)
            made.rename(home)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return home


def maven_libs(home: Path, pom: Path, what: str, log: Callable[[str], None] = lambda m: None) -> Path:
    """The runtime jars of `pom`'s dependencies in `home`, resolved through Maven once (mvn
    dependency:copy-dependencies); later calls download nothing. The stamp names the pom's
    digest, so a changed pom resolves again."""
    from ._run import run  # a cache lookup alone never needs the command runner
    from .errors import PlatformError

    def resolve(tmp: Path) -> None:
        log(f"resolving {what} through Maven into {home}")
        proc = run(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"], check=False, timeout=900)
        if proc.returncode != 0:
            raise PlatformError(f"mvn could not resolve {what}: {(proc.stdout + proc.stderr)[-1500:]}")

    home.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(cache_dir(), 0o755)  # the servers' own users read the jars
    return cached_dir(home, resolve, f"{what} pom {hashlib.sha256(pom.read_bytes()).hexdigest()[:12]}")


def maven_artifact_missing(java: str, what: str, complete: Path) -> list[str]:
    """What a JVM server fetched through Maven lacks on this machine, each with its fix: the JVM,
    and the artifact (`what`) unless cached (its `complete` marker) or mvn is there to fetch it."""
    out = []
    if not os.access(java, os.X_OK):
        out.append(f"{java} not found (fix: apt-get install default-jre-headless)")
    if not complete.exists() and shutil.which("mvn") is None:
        out.append(f"{what} not cached in {complete.parent} and no mvn to fetch it "
                   "(fix: apt-get install maven, then make install)")
    return out
