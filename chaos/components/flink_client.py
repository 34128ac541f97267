"""What the probe sees of a Flink cluster: the JobManagers' REST API, the leader read from
ZooKeeper, the probe job's submission, and the ledger of acknowledged checkpoints.

The component (chaos.components.flink) explains why the probe looks like this; the rule that
judges its checkpoints is chaos.checkers.judge_checkpoints.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from ..checkers import CheckpointAck, CheckpointObservation
from ..probe import DefiniteFailure

if TYPE_CHECKING:
    from .flink import FlinkSession

JOB_NAME = "chaos-probe"
TERMINAL = ("FAILED", "CANCELED", "FINISHED")


# --------------------------------------------------------------------------- parsing


def leader_path(cluster_id: str, root: str = "/flink") -> str:
    """The ZooKeeper node holding the leading REST endpoint (high-availability.zookeeper.path.root
    + high-availability.cluster-id)."""
    return f"{root.rstrip('/')}/{cluster_id.strip('/')}/leader/rest_server/connection_info"


def parse_leader_info(data: bytes) -> tuple[str, str]:
    """(address, leader session id) from a ZooKeeper connection_info node.

    Flink writes it with Java serialization: ObjectOutputStream.writeUTF(address) (in a block data
    record), then writeObject(UUID) (fields leastSigBits, mostSigBits, the last 16 bytes)."""
    if len(data) < 6 or data[:4] != b"\xac\xed\x00\x05":
        raise ValueError(f"not a Java serialization stream: {data[:16]!r}")
    pos = 4
    if data[pos] == 0x77:  # TC_BLOCKDATA, 1-byte length
        pos += 2
    elif data[pos] == 0x7A:  # TC_BLOCKDATALONG, 4-byte length
        pos += 5
    else:
        raise ValueError(f"no block data record at byte 4: {data[:16]!r}")
    length = int.from_bytes(data[pos:pos + 2], "big")
    address = data[pos + 2:pos + 2 + length].decode("utf-8")
    if len(address) != length or b"java.util.UUID" not in data:
        raise ValueError(f"truncated connection info: {data[:80]!r}")
    least, most = int.from_bytes(data[-16:-8], "big"), int.from_bytes(data[-8:], "big")
    return address, str(uuid.UUID(int=(most << 64) | least))


def rest_error(status: int | None, body: str) -> str:
    """A short reason from a failed REST answer (Flink answers {"errors": [...]})."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    text = " ".join(str(e) for e in errors) or body
    if "ongoing leader election" in text:
        reason = "leader election in progress"
    elif "RecipientUnreachableException" in text or "recipient is unreachable" in text:
        reason = "leading JobManager unreachable"
    elif "NotFound" in text or "could not be found" in text:
        reason = "job not found"
    else:
        reason = text.strip().splitlines()[0][:160] if text.strip() else "empty answer"
    return f"HTTP {status}: {reason}" if status else reason


def parse_job(doc: dict[str, Any]) -> dict[str, Any]:
    """From /jobs/<id>: its state, the vertices' states, and whether everything runs."""
    vertices = [v.get("status") for v in doc.get("vertices") or []]
    state = doc.get("state")
    return {"state": state, "vertices": vertices, "now": doc.get("now"),
            "running": state == "RUNNING" and bool(vertices) and all(v == "RUNNING" for v in vertices)}


def parse_checkpoints(doc: dict[str, Any]) -> dict[str, Any]:
    """From /jobs/<id>/checkpoints: latest completed (id, trigger timestamp), latest restored
    (id, restore timestamp), and the counts."""
    latest = doc.get("latest") or {}
    completed, restored = latest.get("completed"), latest.get("restored")
    return {"completed": (int(completed["id"]), int(completed["trigger_timestamp"])) if completed else None,
            "restored": (int(restored["id"]), int(restored["restore_timestamp"])) if restored else None,
            "counts": doc.get("counts") or {}}


# --------------------------------------------------------------------------- REST


class FlinkRestError(Exception):
    def __init__(self, url: str, status: int | None, reason: str):
        self.url, self.status, self.reason = url, status, reason
        super().__init__(f"{url}: {reason}")


class FlinkRest:
    """A small Flink REST client (stdlib only); every call is bounded by timeout_s."""

    def __init__(self, timeout_s: float = 2.0):
        self.timeout_s = timeout_s

    def request(self, base: str, path: str, *, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout_s: float | None = None) -> Any:
        url = base.rstrip("/") + path
        req = Request(url, data=body, method=method, headers=headers or {})
        try:
            with urlopen(req, timeout=timeout_s or self.timeout_s) as resp:
                text = resp.read().decode()
        except HTTPError as exc:
            raise FlinkRestError(url, exc.code, rest_error(exc.code, exc.read().decode(errors="replace"))) from exc
        except (URLError, OSError) as exc:
            raise FlinkRestError(url, None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise FlinkRestError(url, 200, f"not JSON: {text[:120]!r}") from exc

    def get(self, base: str, path: str, timeout_s: float | None = None) -> Any:
        return self.request(base, path, timeout_s=timeout_s)

    def upload_jar(self, base: str, jar: Path) -> str:
        """POST /jars/upload (multipart, field jarfile); returns the jar id."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"{jar.name}\"\r\n"
                "Content-Type: application/x-java-archive\r\n\r\n").encode() + jar.read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        answer = self.request(base, "/jars/upload", method="POST", body=body, timeout_s=30,
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if not answer or answer.get("status") != "success":
            raise FlinkRestError(base, 200, f"jar upload refused: {answer}")
        return Path(answer["filename"]).name

    def run_jar(self, base: str, jar_id: str, job_id: str, args: Sequence[str]) -> str:
        """POST /jars/<jar>/run with a chosen job id; returns the job id."""
        body = json.dumps({"programArgsList": list(args), "jobId": job_id}).encode()
        answer = self.request(base, f"/jars/{jar_id}/run", method="POST", body=body, timeout_s=60,
                              headers={"Content-Type": "application/json"})
        return answer["jobid"]


class LeaderFinder:
    """Which JobManager leads: the URL in ZooKeeper's rest_server connection_info, mapped to a
    JobManager by host and port. `jobmanagers()` returns [(name, REST base URL)]."""

    def __init__(self, zk_hosts: Callable[[], str], jobmanagers: Callable[[], list[tuple[str, str]]],
                 cluster_id: str, *, root: str = "/flink", timeout_s: float = 2.0):
        self.zk_hosts = zk_hosts
        self.jobmanagers = jobmanagers
        self.path = leader_path(cluster_id, root)
        self.timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def _zk(self):
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        if self._client is None or not self._client.connected:
            if self._client is not None:
                self._close()
            client = KazooClient(hosts=self.zk_hosts(), timeout=10.0,
                                 connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=0.5))
            client.start(timeout=self.timeout_s)
            self._client = client
        return self._client

    def leader(self) -> tuple[str | None, str, str]:
        """(JobManager name or None if the URL names none of them, leader URL, session id).
        Raises LookupError when no leader is published (an election, or ZooKeeper unreachable)."""
        from kazoo.exceptions import NoNodeError

        with self._lock:
            try:
                data, _stat = self._zk().get(self.path)
            except NoNodeError as exc:
                raise LookupError(f"no leader published at {self.path}") from exc
            except Exception as exc:
                self._close()
                raise LookupError(f"ZooKeeper unreachable: {type(exc).__name__}: {exc}") from exc
        if not data:
            raise LookupError(f"empty leader node {self.path}")
        url, session = parse_leader_info(data)
        return match_jobmanager(url, self.jobmanagers()), url, session

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.stop()
                client.close()
            except Exception:
                pass

    def close(self) -> None:
        with self._lock:
            self._close()


def match_jobmanager(url: str, jobmanagers: Iterable[tuple[str, str]]) -> str | None:
    """The name of the JobManager whose REST base URL has the leader URL's host and port."""
    want = urlsplit(url)
    for name, base in jobmanagers:
        have = urlsplit(base)
        if (have.hostname, have.port or 80) == (want.hostname, want.port or 80):
            return name
    return None


# --------------------------------------------------------------------------- the probe's ledger


class Observation(CheckpointObservation):
    """One successful pair of REST answers (/jobs/<id> and its checkpoints), as the checkpoint
    checker reads it."""

    @classmethod
    def from_answers(cls, job: dict[str, Any], checkpoints: dict[str, Any] | None) -> "Observation":
        j = parse_job(job)
        c = parse_checkpoints(checkpoints or {})
        return cls(now_ms=int(j["now"] or time.time() * 1000), state=j["state"], running=j["running"],
                   completed=c["completed"], restored=c["restored"])


class CheckpointLedger:
    """What one experiment's probe saw: every observation and every acknowledgement."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.observations: list[Observation] = []
        self.acks: list[CheckpointAck] = []
        self.checkpoints: list[int] = []   # new checkpoint ids in the order they were acknowledged

    def record(self, value: int, obs: Observation) -> tuple[int | None, bool]:
        """Keep the observation; for a running job, the ack. Returns (checkpoint, is it new)."""
        with self.lock:
            self.observations.append(obs)
            if not obs.running:
                return None, False
            trigger = obs.completed[1] if obs.completed and obs.completed[0] == obs.checkpoint else None
            self.acks.append(CheckpointAck(value, obs.now_ms, obs.checkpoint, trigger,
                                           obs.restored[1] if obs.restored else None))
            new = obs.checkpoint is not None and (not self.checkpoints or obs.checkpoint > self.checkpoints[-1])
            if new:
                self.checkpoints.append(obs.checkpoint)
            return obs.checkpoint, new

    def last_acked(self) -> int | None:
        with self.lock:
            return self.checkpoints[-1] if self.checkpoints else None


class FlinkProbeClient:
    """One probe worker: asks the leading JobManager for the probe job and its checkpoints."""

    def __init__(self, session: "FlinkSession", ledger: CheckpointLedger, op_timeout_s: float):
        self.session = session
        self.ledger = ledger
        self.rest = FlinkRest(timeout_s=op_timeout_s / 2)

    def write(self, value: int):
        try:
            name, url, _session_id = self.session.finder.leader()
        except LookupError as exc:
            raise DefiniteFailure(f"no leading JobManager: {exc}") from exc
        jid = self.session.job_id
        try:
            job = self.rest.get(url, f"/jobs/{jid}")
            checkpoints = self.rest.get(url, f"/jobs/{jid}/checkpoints")
        except FlinkRestError as exc:
            raise DefiniteFailure(f"leader {name or url}: {exc.reason}") from exc
        obs = Observation.from_answers(job, checkpoints)
        checkpoint, new = self.ledger.record(value, obs)
        if not obs.running:
            j = parse_job(job)
            raise DefiniteFailure(f"job {j['state']}, tasks {j['vertices']}")
        return name or url, {"checkpoint": checkpoint, "new_checkpoint": new}

    def abort(self) -> None:
        """Nothing to cut: each REST call is bounded by its own timeout."""

    def close(self) -> None:
        pass


def submit_probe_job(rest: FlinkRest, base: str, jar: Path, *, rate_per_s: int,
                     job_id: str | None = None) -> str:
    """The running probe job's id: an existing non-terminal job named chaos-probe is reused;
    otherwise the jar is uploaded and run with a fresh job id."""
    for job in (rest.get(base, "/jobs/overview") or {}).get("jobs", []):
        if job.get("name") == JOB_NAME and job.get("state") not in TERMINAL:
            return job["jid"]
    jar_id = rest.upload_jar(base, jar)
    return rest.run_jar(base, jar_id, job_id or uuid.uuid4().hex, [str(rate_per_s)])
