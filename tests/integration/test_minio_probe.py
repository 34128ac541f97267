"""The MinIO probe (chaos.components.minio) against a real S3 server: s3proxy 3.0.0.

s3proxy stands in for MinIO: MinIO's community edition is source-only under the AGPL and this
project neither builds nor fetches it, while s3proxy (Apache-2.0, from Maven Central) is a real
S3 server speaking the same API the `minio` SDK uses (signed PUT/GET/LIST/HEAD). What this does
not exercise: erasure coding and quorum (one s3proxy process, one filesystem backend), and
MinIO's /minio/health/cluster (s3proxy answers 404 there, so health takes its bucket-HEAD
fallback; the MinIO status codes are unit-tested). The server runs on 127.0.0.1 with the
filesystem-nio2 backend, so objects survive a SIGKILL and restart on the same directory.

One run: write for a few seconds, SIGKILL the server, see definite failures (connection
refused) and no acknowledgement while it is down, start it again on the same port and data
directory, see writes acknowledged again, then GET every object and check every acknowledged
write is there with the right checksum.
"""

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from chaos.checkers import write_loss
from chaos.components import minio as mc
from chaos.probe import Probe
from chaos.timeline import FAIL, INFO, OK, Timeline
from tests.servers.s3 import ACCESS_KEY, SECRET_KEY, S3Proxy, missing

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing() + mc.prerequisites()),
                                 reason="; ".join(missing() + mc.prerequisites()) or "ok")]

EXPERIMENT = "minio/s3proxy-restart@1"


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="chaos-s3-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sdk(endpoint):
    return mc._sdk(endpoint, ACCESS_KEY, SECRET_KEY, 5.0)


def _completions(tl, kinds, after=0.0, before=float("inf")):
    return [e for e in tl.events if e.kind in kinds and e.op == "write" and after <= e.t < before]


def test_probe_through_a_server_kill_and_restart(workdir):
    server = S3Proxy(workdir / "data")
    restarted = None
    probe = None
    try:
        t0 = time.monotonic()
        server.start()
        started_s = time.monotonic() - t0
        endpoint = server.endpoint
        _sdk(endpoint).make_bucket(mc.BUCKET)
        health = mc.server_health(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        assert health["healthy"] and health["via"] == "bucket-head", health

        tl = Timeline()
        clients = [mc.MinioClient([("s3proxy-0", endpoint)], EXPERIMENT, op_timeout_s=1.0, access_key=ACCESS_KEY,
                                  secret_key=SECRET_KEY, start=i) for i in range(2)]
        probe = Probe(tl, clients, interval_s=0.05, op_timeout_s=2.0).start()
        assert probe.wait_for(lambda: len(_completions(tl, (OK,))) >= 40, 15), "no writes acknowledged"

        server.kill()
        down_at = tl.now()
        assert probe.wait_for(lambda: len(_completions(tl, (FAIL,), after=down_at)) >= 10, 10)
        down = mc.server_health(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, timeout_s=0.5)
        assert down["healthy"] is False, down

        # While the new server starts, its port may accept connections before it answers: only
        # the failures before the restart began are certainly refused connections.
        restart_at = tl.now()
        restarted = S3Proxy(workdir / "data", port=server.port).start()
        up_at = tl.now()
        # An operation in flight when the server died may complete just after; a write invoked
        # a moment after the kill must not be acknowledged while no server runs. (The new server
        # may answer before start() has seen its port open: its acknowledgements are no proof.)
        acked_while_down = _completions(tl, (OK,), after=down_at + 0.3, before=restart_at)
        assert acked_while_down == [], acked_while_down[:3]
        failures = _completions(tl, (FAIL,), after=down_at, before=restart_at)
        assert len(failures) >= 10 and all("Connection refused" in (e.error or "") for e in failures), failures[:3]
        # Only a PUT in flight at the kill can be indeterminate; a refused connection is definite.
        assert len(_completions(tl, (INFO,), after=down_at, before=restart_at)) <= len(clients)
        assert probe.wait_for(lambda: len(_completions(tl, (OK,), after=up_at)) >= 20, 20), "writes did not come back"
        probe.stop()
        probe = None

        seen = mc.read_back(_sdk(endpoint), EXPERIMENT)
        loss = write_loss(tl.events, seen["values"])
        acked = {e.value for e in _completions(tl, (OK,))}
        assert seen["corrupted"] == []
        assert loss.acked_writes == len(acked) >= 60
        assert loss.lost_writes == 0, loss.lost_ids
        assert loss.duplicate_writes == 0
        assert loss.unexpected_writes == 0
        print(f"\ns3proxy start {started_s:.2f} s; acked {loss.acked_writes}, objects {seen['objects']}, failures "
              f"while down {len(failures)}, down {up_at - down_at:.2f} s, indeterminate {loss.indeterminate_writes}")
    finally:
        if probe is not None:
            probe.stop()
        server.stop()
        if restarted is not None:
            restarted.stop()
