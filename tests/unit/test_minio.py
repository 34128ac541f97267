"""MinIO without servers: what /minio/health/cluster answers mean, erasure-set quorums, probe
objects and checksums, which PUT errors are definite, and the component's kind-only guard,
targets and config on a fake manifest-deployed platform.

The health answers follow MinIO's healthcheck documentation (docs/metrics/healthcheck): 200
with write quorum, 503 without, 412 for ?maintenance=true when taking the server down would
lose quorum, each with Server: MinIO and X-Minio-Write-Quorum. The non-MinIO answer is what
s3proxy 3.0.0 answers to the same path (a 404 NoSuchBucket error from the S3 API).
"""

from dataclasses import dataclass

import pytest

from chaos.components import minio as mc

MINIO = {"Server": "MinIO", "X-Minio-Write-Quorum": "3", "X-Amz-Request-Id": "16239D6AB80EBECF"}


def test_health_200_is_healthy_with_quorum():
    seen = mc.interpret_cluster_health(200, MINIO)
    assert seen == {"minio": True, "healthy": True, "status": 200, "write_quorum": 3, "maintenance_safe": True}


def test_health_503_is_no_write_quorum():
    seen = mc.interpret_cluster_health(503, {"server": "MinIO", "x-minio-write-quorum": "3"})
    assert seen["minio"] and seen["healthy"] is False


def test_health_412_maintenance_is_healthy_but_not_safe_to_take_down():
    seen = mc.interpret_cluster_health(412, MINIO)
    assert seen["healthy"] and seen["maintenance_safe"] is False


@pytest.mark.parametrize("status,headers", [
    (404, {"Server": "Jetty(11.0.26)", "Content-Type": "application/xml"}),  # s3proxy
    (403, {}),
    (200, {"Server": "nginx"}),  # a proxy's page is not MinIO's verdict
    (500, MINIO),
])
def test_anything_else_is_not_minios_health_endpoint(status, headers):
    assert mc.interpret_cluster_health(status, headers)["minio"] is False


@pytest.mark.parametrize("drives,parity,read,write", [
    (4, None, 2, 3),  # the stack: 4 servers x 1 drive, EC:2 -> writes need 3, reads 2
    (4, 1, 3, 3),
    (8, None, 4, 5),
    (16, None, 12, 12),
    (6, None, 3, 4),
])
def test_erasure_quorums(drives, parity, read, write):
    q = mc.erasure_quorums(drives, parity)
    assert (q["read_quorum"], q["write_quorum"]) == (read, write)


def test_parity_above_half_is_refused():
    with pytest.raises(ValueError):
        mc.erasure_quorums(4, 3)


def test_objects_are_deterministic_and_distinct():
    a = mc.object_content("minio/server-kill", 7)
    assert a == mc.object_content("minio/server-kill", 7) and len(a) == 256
    assert a != mc.object_content("minio/server-kill", 8)
    assert a.startswith(b"minio/server-kill 7\n")
    key = mc.object_key("minio/server-kill@1", 7)
    assert key == "minio_server-kill_1/000000000007" and mc.value_of_key(key) == 7
    assert mc.value_of_key("minio_server-kill_1/readme.txt") is None


def test_put_errors_definite_or_indeterminate():
    import urllib3.exceptions as u3
    from minio.error import S3Error, ServerError

    class Resp:
        def __init__(self, status):
            self.status = status

    refused = u3.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    assert mc.is_definite_failure(refused)
    assert mc.is_definite_failure(u3.MaxRetryError(None, "/b/k", refused))
    no_quorum = S3Error(Resp(503), "SlowDownWrite", "Resource requested is unwritable", "/b/k", "r", "h")
    assert mc.is_definite_failure(no_quorum)
    internal = S3Error(Resp(500), "InternalError", "We encountered an internal error", "/b/k", "r", "h")
    assert not mc.is_definite_failure(internal)
    assert not mc.is_definite_failure(u3.ReadTimeoutError(None, "/b/k", "Read timed out"))
    assert not mc.is_definite_failure(u3.ProtocolError("Connection aborted.", ConnectionResetError()))
    assert mc.is_definite_failure(ServerError("service unavailable", 503))


@dataclass(frozen=True)
class Pod:
    name: str
    node: str
    zone: str


class FakeKind:
    name = "kind"

    def deploy_stack(self, component, timeout_s=600):
        return []

    def endpoints(self, component, port=None):
        return [(f"minio-{i}", f"10.0.{i}.7", 9000) for i in range(4)]

    def pods(self, component):
        return [Pod(f"minio-{i}", f"w{i}", "abca"[i]) for i in (3, 1, 0, 2)]


def test_every_pod_is_a_server_target():
    targets = mc.MinioCluster(FakeKind()).targets()
    assert [(t.pod, t.role) for t in targets] == [(f"minio-{i}", "server") for i in range(4)]


def test_steady_needs_every_server_healthy(monkeypatch):
    health = {f"10.0.{i}.7:9000": {"minio": True, "healthy": True, "status": 200} for i in range(4)}
    monkeypatch.setattr(mc, "server_health", lambda ep, **kw: health[ep])
    cluster = mc.MinioCluster(FakeKind())
    assert cluster.steady()[0]
    health["10.0.2.7:9000"] = {"minio": True, "healthy": False, "status": 503}
    ok, seen = cluster.steady()
    assert not ok and seen["problems"] == ["minio-2: HTTP 503"]


def test_config_has_erasure_facts_and_no_secret():
    cfg = mc.MinioCluster(FakeKind()).config()
    assert cfg["erasure_set"] == {"drives": 4, "parity": 2, "data": 2, "read_quorum": 2, "write_quorum": 3}
    assert "secret_key" not in cfg and "access_key" not in cfg
