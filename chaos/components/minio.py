"""MinIO: four servers with one drive each, one erasure set, deployed from fixtures/kind/minio
on a manifest-deployed platform (kind); there is no local-platform deployment (MinIO's community
edition is source-only, so no package of it runs on these machines).

There is no leader: every server takes every request, and each PUT or GET needs its own quorum
of drives (4 drives at the default parity EC:2: writes need 3, reads 2). So role discovery is
trivial: every pod is a "server".

The probe: the `minio` SDK PUTs one object per value, key `<experiment>/<value>`, content
derived from the value; acknowledged = the server returned an ETag. Each worker talks to one
server and moves to the next after an error, the way a load balancer drops a failing endpoint.
The verification lists the experiment's objects and GETs every one, comparing a SHA-256 of the
body with the content the value should have: an object that is there but wrong counts as lost.
Health: /minio/health/cluster (200 = the cluster has write quorum, 503 = not; unauthenticated).
A server that does not answer that path as MinIO does (an S3-compatible stand-in in the
harness's own tests) is judged by a signed HEAD of the probe's bucket instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import InvalidConfig, NotSteady
from ..probe import DEFAULT_INTERVAL_S, DefiniteFailure, Probe
from ..timeline import Timeline
from ..waits import retry_until
from .base import Steadiness, Target, missing_module, require_manifest_platform

__all__ = ["MinioCluster", "MinioClient", "Settings", "prerequisites", "object_key", "object_content",
           "value_of_key", "erasure_quorums", "default_parity", "interpret_cluster_health", "server_health",
           "is_definite_failure", "read_back", "BUCKET", "API_PORT", "HEALTH_PATH"]

BUCKET = "chaos"  # created by fixtures/kind/minio/buckets-job.yaml (and by deploy(), idempotently)
API_PORT = 9000
HEALTH_PATH = "/minio/health/cluster"
# The test-only root credentials the manifests give the servers (fixtures/kind/minio/minio.yaml,
# Secret minio-credentials); overridable for a stack deployed by someone else.
ACCESS_KEY = os.environ.get("CHAOS_MINIO_ACCESS_KEY", "chaos-minio")
SECRET_KEY = os.environ.get("CHAOS_MINIO_SECRET_KEY", "chaos-minio-test-only")


def prerequisites() -> list[str]:
    return missing_module("minio")


# -- objects -------------------------------------------------------------------------------

def _prefix(experiment: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", experiment)


def object_key(experiment: str, value: int) -> str:
    """The key of one probe write: the experiment's prefix and the zero-padded value."""
    return f"{_prefix(experiment)}/{value:012d}"


def value_of_key(key: str) -> int | None:
    """The value a probe key carries, None for a key the probe did not write."""
    _, _, tail = key.rpartition("/")
    return int(tail) if tail.isdigit() else None


def object_content(experiment: str, value: int, size: int = 256) -> bytes:
    """Deterministic content for a value: a readable header, padded with a SHA-256 stream of
    the value, so a body of the wrong object or a truncated body fails the checksum."""
    head = f"{experiment} {value}\n".encode()
    pad = b""
    block = hashlib.sha256(head).digest()
    while len(head) + len(pad) < size:
        pad += block.hex().encode()
        block = hashlib.sha256(block).digest()
    return (head + pad)[:max(size, len(head))]


# -- erasure coding facts ----------------------------------------------------------------------

def default_parity(drives: int) -> int:
    """MinIO's default parity (storage class STANDARD) for an erasure set of `drives` drives."""
    if drives < 1:
        raise ValueError("an erasure set has at least one drive")
    if drives == 1:
        return 0
    if drives <= 3:
        return 1
    if drives <= 5:
        return 2
    if drives <= 7:
        return 3
    return 4


def erasure_quorums(drives: int, parity: int | None = None) -> dict[str, int]:
    """Read and write quorum (in drives) of one erasure set. Reads need the data drives; writes
    need them too, plus one when data == parity (else two halves could each take a write)."""
    parity = default_parity(drives) if parity is None else parity
    if not 0 <= parity <= drives // 2:
        raise ValueError(f"parity {parity} is not between 0 and half of {drives} drives")
    data = drives - parity
    return {"drives": drives, "parity": parity, "data": data, "read_quorum": data,
            "write_quorum": data + 1 if data == parity else data}


# -- health --------------------------------------------------------------------------------

def interpret_cluster_health(status: int, headers: Mapping[str, str]) -> dict[str, Any]:
    """What an answer to GET /minio/health/cluster says. MinIO answers 200 (write quorum
    available), 503 (not), or with ?maintenance=true 412 (taking this server down would lose
    quorum; the cluster itself is healthy), and sets X-Minio-Write-Quorum. Anything else, or
    an answer not from MinIO (no Server: MinIO nor X-Minio-* header), is "not MinIO's health
    endpoint": {"minio": False} and the caller needs another check."""
    h = {k.lower(): v for k, v in headers.items()}
    from_minio = h.get("server", "").lower().startswith("minio") or any(k.startswith("x-minio-") for k in h)
    if not from_minio or status not in (200, 412, 503):
        return {"minio": False, "healthy": None, "status": status}
    quorum = h.get("x-minio-write-quorum")
    return {"minio": True, "healthy": status in (200, 412), "status": status,
            "write_quorum": int(quorum) if quorum and quorum.isdigit() else None,
            "maintenance_safe": status == 200}


def _http(timeout_s: float):
    import urllib3

    # No retries: one attempt per operation, bounded by the timeouts; the probe records it.
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=min(0.5, timeout_s), read=timeout_s),
                               retries=False, maxsize=4)


def _sdk(endpoint: str, access_key: str, secret_key: str, timeout_s: float):
    from minio import Minio

    # The region is given so the SDK does not ask the server for the bucket's location first.
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False, region="us-east-1",
                 http_client=_http(timeout_s))


def server_health(endpoint: str, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
                  bucket: str = BUCKET, timeout_s: float = 2.0) -> dict[str, Any]:
    """One server's health: MinIO's cluster endpoint; for a server that is not MinIO, a signed
    HEAD of the bucket (healthy = it answers that the bucket exists)."""
    try:
        answer = _http(timeout_s).request("GET", f"http://{endpoint}{HEALTH_PATH}")
    except Exception as exc:
        return {"healthy": False, "via": "health", "error": _short(exc)}
    seen = interpret_cluster_health(answer.status, answer.headers)
    if seen["minio"]:
        return {**seen, "via": "health"}
    try:
        exists = _sdk(endpoint, access_key, secret_key, timeout_s).bucket_exists(bucket)
    except Exception as exc:
        return {"healthy": False, "via": "bucket-head", "error": _short(exc)}
    return {"minio": False, "healthy": bool(exists), "via": "bucket-head",
            **({} if exists else {"error": f"bucket {bucket} missing"})}


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:160]


def is_definite_failure(exc: BaseException) -> bool:
    """True when a PUT that raised `exc` certainly stored nothing: no connection was made, or
    the server refused it with an S3 error that is decided before anything is written (4xx,
    503 = no write quorum / slow down). A 500, a reset or a read timeout after the request was
    sent is indeterminate: the object may have been committed."""
    import urllib3.exceptions as u3

    from minio.error import S3Error, ServerError

    reason = getattr(exc, "reason", None)
    for e in (exc, reason):
        if isinstance(e, (u3.NewConnectionError, u3.ConnectTimeoutError, ConnectionRefusedError)):
            return True
    if isinstance(exc, S3Error):
        status = exc.response.status if exc.response is not None else None
        return status is not None and (400 <= status < 500 or status == 503)
    if isinstance(exc, ServerError):
        return exc.status_code == 503
    return False


# -- probe ---------------------------------------------------------------------------------

class MinioClient:
    """One probe worker: PUTs through one server at a time; after an error, the next server."""

    def __init__(self, endpoints: Sequence[tuple[str, str]], experiment: str, *, op_timeout_s: float,
                 access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, bucket: str = BUCKET,
                 object_size: int = 256, start: int = 0):
        if not endpoints:
            raise InvalidConfig("no MinIO endpoints", field="minio")
        self.endpoints = list(endpoints)  # (name, "ip:port")
        self.experiment = experiment
        self.bucket = bucket
        self.object_size = object_size
        self.i = start % len(self.endpoints)
        self.sdks = [_sdk(ep, access_key, secret_key, op_timeout_s) for _name, ep in self.endpoints]

    def write(self, value: int) -> tuple[None, dict[str, Any]]:
        name, _ep = self.endpoints[self.i]
        data = object_content(self.experiment, value, self.object_size)
        try:
            result = self.sdks[self.i].put_object(self.bucket, object_key(self.experiment, value), io.BytesIO(data),
                                                  len(data), content_type="application/octet-stream")
        except Exception as exc:
            self.i = (self.i + 1) % len(self.endpoints)
            if is_definite_failure(exc):
                raise DefiniteFailure(f"{name}: {_short(exc)}") from exc
            raise
        if not result.etag:
            raise RuntimeError(f"{name}: PUT answered without an ETag")
        # Every server takes writes (no primary): name the server in the facts, not as the
        # acknowledging primary, or the split-brain checker would see four primaries.
        return None, {"server": name}

    def abort(self) -> None:
        """Nothing to cut: every request is bounded by the client's connect and read timeouts."""

    def close(self) -> None:
        for sdk in self.sdks:
            try:
                sdk._http.clear()
            except Exception:
                pass


def read_back(sdk, experiment: str, *, bucket: str = BUCKET, object_size: int = 256,
              workers: int = 8) -> dict[str, Any]:
    """List the experiment's objects and GET every one; {"values": [intact values...],
    "corrupted": [values whose body fails the checksum], "objects": n}. Raises on any error."""
    prefix = _prefix(experiment) + "/"
    values = [v for v in (value_of_key(o.object_name) for o in sdk.list_objects(bucket, prefix=prefix, recursive=True))
              if v is not None]

    def intact(value: int) -> bool:
        resp = sdk.get_object(bucket, object_key(experiment, value))
        try:
            body = resp.read()
        finally:
            resp.close()
            resp.release_conn()
        want = hashlib.sha256(object_content(experiment, value, object_size)).hexdigest()
        return hashlib.sha256(body).hexdigest() == want

    with ThreadPoolExecutor(max_workers=workers) as pool:
        ok = list(pool.map(intact, values))
    return {"objects": len(values), "values": [v for v, good in zip(values, ok) if good],
            "corrupted": [v for v, good in zip(values, ok) if not good]}


# -- component -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    servers: int = 4
    drives_per_server: int = 1
    parity: int | None = None  # None: MinIO's default for the set size (EC:2 for 4 drives)
    op_timeout_s: float = 2.0
    object_size: int = 256
    access_key: str = field(default=ACCESS_KEY, repr=False)
    secret_key: str = field(default=SECRET_KEY, repr=False)

    def erasure(self) -> dict[str, int]:
        return erasure_quorums(self.servers * self.drives_per_server, self.parity)


class MinioCluster(Steadiness):
    """Four MinIO servers deployed from fixtures/kind/minio by a manifest-deployed platform."""

    name = "minio"
    target_roles = ("server",)  # what targets() calls its pods
    steady_poll_s = 0.5

    def __init__(self, platform, *, name: str = "minio", settings: Settings | None = None, probe_workers: int = 4):
        require_manifest_platform(platform, "MinIO")
        self.platform = platform
        self.deployment = name
        self.settings = settings or Settings()
        self.probe_workers = probe_workers
        self.pods: list[str] = []
        self.endpoints: list[tuple[str, str]] = []  # (pod, "ip:port")
        self.last_verification: dict[str, Any] = {}

    def _refresh(self) -> None:
        found = self.platform.endpoints(self.name)
        self.endpoints = [(pod, f"{ip}:{port}") for pod, ip, port in found]
        self.pods = [pod for pod, _ep in self.endpoints]

    def _sdk(self, endpoint: str, timeout_s: float = 5.0):
        return _sdk(endpoint, self.settings.access_key, self.settings.secret_key, timeout_s)

    def deploy(self, timeout_s: float = 300.0) -> dict[str, Any]:
        self.platform.deploy_stack(self.name, timeout_s=timeout_s)
        self._refresh()
        self._make_bucket(min(60.0, timeout_s))
        return self.wait_steady(timeout_s)

    def _make_bucket(self, timeout_s: float) -> None:
        def make() -> None:
            errors = []
            for _pod, ep in self.endpoints:
                try:
                    sdk = self._sdk(ep)
                    if not sdk.bucket_exists(BUCKET):
                        sdk.make_bucket(BUCKET)
                    return
                except Exception as exc:
                    errors.append(_short(exc))
            raise RuntimeError("; ".join(errors) or "no endpoints")

        try:
            retry_until(make, timeout_s, poll_s=1.0)
        except TimeoutError as exc:
            raise NotSteady(f"{self.deployment}: could not create bucket {BUCKET}: {exc}", ["no bucket"]) from exc

    def remove(self) -> None:
        self.platform.remove_stack(self.name)

    def targets(self) -> list[Target]:
        return [Target(pod=p.name, node=p.node or "", zone=p.zone or "", role="server")
                for p in sorted(self.platform.pods(self.name), key=lambda p: p.name)]

    def status(self) -> dict[str, dict[str, Any]]:
        self._refresh()
        s = self.settings
        return {pod: server_health(ep, access_key=s.access_key, secret_key=s.secret_key) for pod, ep in self.endpoints}

    def steady(self) -> tuple[bool, dict[str, Any]]:
        st = self.status()
        problems = []
        if len(st) != self.settings.servers:
            problems.append(f"{len(st)} of {self.settings.servers} servers have endpoints")
        problems += [f"{pod}: {h.get('error') or 'HTTP ' + str(h.get('status'))}" for pod, h in st.items()
                     if not h.get("healthy")]
        return not problems, {"servers": st, "problems": problems}

    def explain(self, seen: dict[str, Any]) -> str:
        return f"health per server {seen.get('servers')}; see `kubectl -n chaos-stack logs -l app.kubernetes.io/name=minio`"

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        self._refresh()
        s = self.settings
        clients = [MinioClient(self.endpoints, experiment, op_timeout_s=s.op_timeout_s, access_key=s.access_key,
                               secret_key=s.secret_key, object_size=s.object_size, start=i)
                   for i in range(self.probe_workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=s.op_timeout_s + 1.0)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        self._refresh()
        turn = iter(range(10**6))

        def attempt() -> list[int]:
            _pod, ep = self.endpoints[next(turn) % len(self.endpoints)]
            seen = read_back(self._sdk(ep, 10.0), experiment, object_size=self.settings.object_size)
            self.last_verification = {k: v for k, v in seen.items() if k != "values"}
            return seen["values"]

        try:
            return retry_until(attempt, timeout_s)
        except TimeoutError:
            return None

    def config(self) -> dict[str, Any]:
        s = self.settings
        settings = {k: v for k, v in asdict(s).items() if k not in ("access_key", "secret_key")}
        return {**settings, "erasure_set": s.erasure(), "bucket": BUCKET, "probe_workers": self.probe_workers,
                "health": HEALTH_PATH, "client": {"retries": 0, "rotate_on_error": True}}
