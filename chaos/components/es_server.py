"""The Elasticsearch server as the harness runs it outside Kubernetes: the distribution, the user,
the JDK and the node's JVM options. Shared by the local platform's pods (chaos.components.elasticsearch)
and the probe's integration tests (tests/servers/elasticsearch.py).

The server is Elastic's `integ-test-zip` distribution (the server with x-pack core and security
modules, no bundled JDK), resolved through Maven once:

    mvn -q dependency:get -Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:8.19.0:zip \
        -Dtransitive=false

and unpacked once into $CHAOS_CACHE_DIR/elasticsearch-8.19.0 (default /var/cache/chaos-harness;
a lock file serialises concurrent unpacks). It runs on the machine's Java 17 (ES_JAVA_HOME), as
the unprivileged user `chaos-es` (Elasticsearch refuses to run as root), created with useradd
when missing.

Bootstrap checks. A node whose transport binds a non-loopback address (every local pod: its
zone's IP) enforces Elasticsearch's bootstrap checks. Two concern the host:
  - the maximum map count (vm.max_map_count >= 262144, a host-wide sysctl): the pods set
    `node.store.allow_mmap: false` (the index store uses NIO instead of mmap), which lifts that
    check; the host's sysctl is never changed;
  - the file descriptor limit (>= 65535): the pods inherit the host's hard RLIMIT_NOFILE, which
    root cannot raise where CAP_SYS_RESOURCE is not in the capability bounding set (containers,
    CI sandboxes). There the pods preload a tiny shim (FD_SHIM_SOURCE, compiled once with gcc
    into the cache) that reports 65535 for RLIMIT_NOFILE when the real limit is lower; the real
    limit still applies. Three nodes holding one small index open a few hundred files, far
    below any such limit. The shim is used only when the real hard limit is below 65535
    (`needs_fd_shim`), and the pod's config records it.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import zipfile
from pathlib import Path
from typing import Callable

from .._run import proc_stat, run
from ..cache import cache_dir, cached_dir
from ..errors import PlatformError

__all__ = ["ES_VERSION", "ES_USER", "ARTIFACT", "M2_ZIP", "FD_LIMIT", "home_dir", "java_home", "prerequisites",
           "ensure_user", "remove_jvm_leftovers", "ensure_distribution", "needs_fd_shim", "ensure_fd_shim", "jvm_options"]

ES_VERSION = "8.19.0"
ES_USER = "chaos-es"
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
M2_ZIP = (Path.home() / ".m2/repository/org/elasticsearch/distribution/integ-test-zip/elasticsearch"
          / ES_VERSION / f"elasticsearch-{ES_VERSION}.zip")
JAVA_HOMES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/default-java")
FD_LIMIT = 65535  # Elasticsearch's file descriptor bootstrap check
FD_SHIM_SOURCE = r"""
/* Reports RLIMIT_NOFILE as at least 65535 to Elasticsearch's bootstrap check (see
   chaos/components/es_server.py for why); every other resource is answered truthfully. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/resource.h>
static void lift(int resource, struct rlimit *r) {
    if (resource == RLIMIT_NOFILE && r->rlim_max < 65535) { r->rlim_cur = 65535; r->rlim_max = 65535; }
}
int getrlimit(__rlimit_resource_t resource, struct rlimit *r) {
    int (*real)(__rlimit_resource_t, struct rlimit *) = dlsym(RTLD_NEXT, "getrlimit");
    int rc = real(resource, r);
    if (rc == 0) lift(resource, r);
    return rc;
}
int getrlimit64(__rlimit_resource_t resource, struct rlimit64 *r) {
    int (*real)(__rlimit_resource_t, struct rlimit64 *) = dlsym(RTLD_NEXT, "getrlimit64");
    int rc = real(resource, r);
    if (rc == 0) lift(resource, (struct rlimit *)r);
    return rc;
}
"""


def home_dir() -> Path:
    return cache_dir() / f"elasticsearch-{ES_VERSION}"


def java_home() -> str | None:
    env = os.environ.get("ES_JAVA_HOME")
    for candidate in ([env] if env else []) + list(JAVA_HOMES):
        if os.access(os.path.join(candidate, "bin", "java"), os.X_OK):
            return candidate
    return None


def needs_fd_shim() -> bool:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1] < FD_LIMIT


def prerequisites() -> list[str]:
    """What is missing to run the server, each with its fix (empty: nothing)."""
    missing = []
    if os.geteuid() != 0:
        missing.append(f"root (to run Elasticsearch as the unprivileged user {ES_USER})")
    if java_home() is None:
        missing.append("Java 17 (fix: apt-get install openjdk-17-jdk-headless, or set ES_JAVA_HOME)")
    if not (home_dir() / ".complete").exists() and not M2_ZIP.exists() and shutil.which("mvn") is None:
        missing.append(f"the Elasticsearch {ES_VERSION} distribution (fix: apt-get install maven, then `make install`)")
    if needs_fd_shim() and not (fd_shim_path().exists() or shutil.which("gcc")):
        missing.append(f"gcc, to build the file-descriptor shim (hard RLIMIT_NOFILE "
                       f"{resource.getrlimit(resource.RLIMIT_NOFILE)[1]} < {FD_LIMIT}; fix: apt-get install gcc libc6-dev)")
    return missing


def remove_jvm_leftovers(user: str = ES_USER, tmp: Path = Path("/tmp")) -> list[str]:
    """Remove what the user's dead JVMs left in /tmp: the attach socket `.java_pid<pid>` the node
    makes when it attaches its entitlement agent to itself (a SIGKILLed node never removes it),
    and the launcher's empty hsperfdata directory. Only files of pids no longer running; the
    directory only when empty. Returns what was removed."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return []
    removed = []
    for sock in tmp.glob(".java_pid*"):
        pid = sock.name[len(".java_pid"):]
        try:
            fields = proc_stat(pid) if pid.isdigit() else None
            # A killed JVM its parent has not reaped yet (a zombie) is gone too.
            if pid.isdigit() and sock.lstat().st_uid == uid and (fields is None or fields[0] == "Z"):
                sock.unlink()
                removed.append(str(sock))
        except OSError:
            continue
    try:
        (tmp / f"hsperfdata_{user}").rmdir()  # never while another JVM of the user keeps a file in it
        removed.append(str(tmp / f"hsperfdata_{user}"))
    except OSError:
        pass
    return removed


def ensure_user() -> str | None:
    """The unprivileged user the servers run as; created (system user, no home, no login) when
    missing. None, with nothing changed, when it cannot be created."""
    try:
        pwd.getpwnam(ES_USER)
        return ES_USER
    except KeyError:
        pass
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        return None
    try:
        proc = run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", ES_USER], check=False, timeout=30)
    except PlatformError:
        return None
    if proc.returncode != 0 and "already exists" not in proc.stderr:
        return None
    return ES_USER


def ensure_distribution(log: Callable[[str], None] = lambda m: None) -> Path:
    """ES_HOME, unpacked once from the Maven artifact (fetched through mvn when not in ~/.m2)."""
    def unpack(tmp: Path) -> Path:
        if not M2_ZIP.exists():
            log(f"fetching {ARTIFACT} through Maven (97 MB)")
            proc = run(["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"],
                       check=False, timeout=900)
            if proc.returncode != 0 or not M2_ZIP.exists():
                raise RuntimeError(f"mvn could not fetch {ARTIFACT}: {(proc.stdout + proc.stderr)[-1500:]}")
        with zipfile.ZipFile(M2_ZIP) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, tmp))
                mode = (info.external_attr >> 16) & 0o777
                if not info.is_dir():
                    os.chmod(path, 0o755 if mode & 0o111 else 0o644)
        return tmp / f"elasticsearch-{ES_VERSION}"

    cache_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(cache_dir(), 0o755)  # the server's own user reads the distribution
    return cached_dir(home_dir(), unpack, ES_VERSION)


def fd_shim_path() -> Path:
    return cache_dir() / "es-fd-shim" / "libfdlimit.so"


def ensure_fd_shim() -> Path:
    """The shim's shared object, compiled once (the stamp is the source's digest)."""
    import hashlib

    def build(tmp: Path) -> None:
        (tmp / "fdlimit.c").write_text(FD_SHIM_SOURCE)
        proc = run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(tmp / "libfdlimit.so"), str(tmp / "fdlimit.c"), "-ldl"],
                   check=False, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"gcc could not build the file-descriptor shim: {(proc.stdout + proc.stderr)[-800:]}")
        os.chmod(tmp / "libfdlimit.so", 0o755)

    cache_dir().mkdir(parents=True, exist_ok=True)
    os.chmod(cache_dir(), 0o755)
    home = cached_dir(fd_shim_path().parent, build, hashlib.sha256(FD_SHIM_SOURCE.encode()).hexdigest()[:12])
    return home / "libfdlimit.so"


def jvm_options(extra: tuple[str, ...] = (), serial_gc: bool = True) -> list[str]:
    """The node's jvm.options: the distribution's writes GC logs and heap dumps relative to the
    working directory, which a test node needs neither of; -Xms/-Xmx come from ES_JAVA_OPTS; no
    hsperfdata in /tmp; C1 only (TieredStopAtLevel=1): three nodes start in about 16 s instead
    of 33 s on two cores. A node that enforces the bootstrap checks refuses the serial
    collector (serial_gc=False there: the JVM's default, G1)."""
    return [*(["-XX:+UseSerialGC"] if serial_gc else []), "-XX:TieredStopAtLevel=1",
            "-Djava.io.tmpdir=${ES_TMPDIR}", "-XX:+ExitOnOutOfMemoryError", "-XX:-HeapDumpOnOutOfMemoryError",
            "-XX:-UsePerfData", *extra, *os.environ.get("CHAOS_ES_JVM_EXTRA", "").split()]
