"""Flink with JobManager high availability: the probe job, leader discovery, and the component.

Where Flink comes from: the Apache Flink distribution that PyPI ships inside the
apache-flink-libraries wheel (pyflink/lib: flink-dist and friends). `ensure_flink_dist()` unpacks
its lib/ once into CHAOS_CACHE_DIR (default /var/cache/chaos-harness)/flink-<version>, under a
lock; the wheel is found through CHAOS_FLINK_WHEEL or in <cache>/downloads/ (fetch it with
`pip download apache-flink-libraries==<version> --no-deps -d <cache>/downloads`). The JVMs are run
directly (StandaloneSessionClusterEntrypoint, TaskManagerRunner with --configDir holding Flink 2's
config.yaml); on kind the official image runs them.

The probe, and why it looks like this. A Flink cluster stores nothing a client writes: the state
it must not lose is a running job's state, made durable by checkpoints. So the probe is a job
with keyed state, and a "write" is a checkpoint:

- the probe job (fixtures/flink/ChaosProbeJob.java, compiled with javac against flink-dist, no
  Maven; `ensure_probe_jar`) reads a rate-limited DataGeneratorSource (values 0, 1, 2, ...; its position is checkpointed),
  keys every record to one key and counts them in ValueState, into a DiscardingSink. With
  exactly-once state the count after record v is v + 1; the operator counts records where that
  does not hold in the metric chaosMismatches (restored state that does not match the restored
  source position shows up there), and exposes the count as the gauge chaosCount;
- it is submitted through the REST API (POST /jars/upload, then /jars/<jar>/run with a job id we
  choose), so the harness needs no Flink client;
- each probe operation asks the leading JobManager's REST for /jobs/<id> and
  /jobs/<id>/checkpoints. OK = the job and all its tasks are RUNNING; the operation's
  acknowledged "write" is the newest checkpoint the job then stands on (latest completed, or the
  checkpoint it was restored from), recorded with the restore it had seen. Anything else (no
  leader, 503 "ongoing leader election", 500 "recipient unreachable" while a standby forwards to
  a dead leader, INITIALIZING, RESTARTING) is a definite failure: the operation reads, it never
  changes anything, so there is no indeterminate outcome;
- verification, after the fault: the job must be RUNNING again (a terminal job has lost its
  state) and have completed a checkpoint after its latest restore; an acknowledged operation is
  lost when a restore that happened after it went back to a checkpoint older than the one it
  acknowledged, or a later answer stood on an older checkpoint (the checkpoint counter went
  backwards: a fresh job or lost HA metadata), or the job counted a record twice or not at all
  (chaosMismatches > 0). That rule is chaos.checkers.judge_checkpoints, pure and unit-tested.

A checkpoint becomes visible in the REST answer only after the CheckpointCoordinator has added it
to the completed-checkpoint store (ZooKeeper under HA), so a leader that takes over must restore
from it or from a later one: anything else is acknowledged state lost.

Roles. Every JobManager's REST endpoint answers job queries: a standby forwards them over RPC to
the leading dispatcher (and answers 500 RecipientUnreachableException while that leader is dead,
503 during the election). /jobmanager/config is answered locally, so no REST answer names the
leader. The leader is read from ZooKeeper: <root>/<cluster-id>/leader/rest_server/connection_info
holds the leading REST endpoint's URL and the leader session id, Java-serialized
(`parse_leader_info`). The leading JobManager's pod is the one whose IP and REST port that URL
names (the manifests must set rest.address to the pod IP); the other JobManagers are standbys.

The component runs on a manifest-deployed platform (kind): platform.deploy_stack("flink"), JobManager
REST endpoints from platform.endpoints("flink-jobmanager", 8081), ZooKeeper from
platform.endpoints("zookeeper", 2181). On the local platform FlinkCluster(platform) is a
LocalFlinkCluster (chaos.components.flink_local: the JVMs, ZooKeeper and an S3 server as pods).
Not implemented: the Kafka -> job -> exactly-once Kafka sink and ClickHouse data paths
(docs/components.md).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .._run import run
from ..cache import cache_dir, cached_dir
from ..checkers import judge_checkpoints
from ..errors import InvalidConfig, MissingPrerequisite, NotSteady, PlatformError
from ..predictions import LogMarkers, Prediction
from ..probe import DEFAULT_INTERVAL_S, Probe
from ..timeline import Timeline
from ..waits import retry_until
from .flink_client import (TERMINAL, CheckpointLedger, FlinkProbeClient, FlinkRest, FlinkRestError,
                           LeaderFinder, Observation, leader_path, match_jobmanager, parse_checkpoints,
                           parse_job, parse_leader_info, rest_error, submit_probe_job)
from .base import Target, on_manifest_platform, require_manifest_platform, wait_until_steady

__all__ = ["FlinkCluster", "FlinkSession", "FlinkRest", "FlinkRestError", "LeaderFinder", "Settings",
           "Observation", "CheckpointLedger", "FlinkProbeClient", "FLINK_VERSION", "JAVA", "JVM_OPENS",
           "ensure_flink_dist", "ensure_probe_jar", "prerequisites", "parse_leader_info", "parse_job",
           "parse_checkpoints", "rest_error", "submit_probe_job", "leader_path", "match_jobmanager"]

FLINK_VERSION = "2.3.0"
WHEEL = f"apache_flink_libraries-{FLINK_VERSION}-py2.py3-none-any.whl"
JAVA = os.environ.get("CHAOS_JAVA", "/usr/bin/java")
JAVAC = os.environ.get("CHAOS_JAVAC", "/usr/bin/javac")
JAR_TOOL = os.environ.get("CHAOS_JAR", "/usr/bin/jar")
REST_PORT, RPC_PORT, BLOB_PORT, ZK_PORT = 8081, 6123, 6124, 2181
# From the distribution's default config.yaml (env.java.opts.all): Flink 2 on Java 17 needs these.
JVM_OPENS = ("--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
             *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
                 "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text",
                 "java.time", "java.util", "java.util.concurrent", "java.util.concurrent.atomic",
                 "java.util.concurrent.locks")))

# --------------------------------------------------------------------------- distribution


def flink_home() -> Path:
    return cache_dir() / f"flink-{FLINK_VERSION}"


def find_wheel() -> Path | None:
    """The apache-flink-libraries wheel: CHAOS_FLINK_WHEEL, or <cache>/downloads/."""
    for candidate in (os.environ.get("CHAOS_FLINK_WHEEL", ""), str(cache_dir() / "downloads" / WHEEL)):
        if candidate and os.path.isfile(candidate):
            return Path(candidate)
    return None


def prerequisites(*, servers: bool = True) -> list[str]:
    """What is missing to build the probe job (javac, jar, flink-dist) and, with servers, to run
    Flink's JVMs here."""
    missing = []
    for tool, pkg in ((JAVA, "openjdk-17-jre-headless"), (JAVAC, "openjdk-17-jdk-headless"),
                      (JAR_TOOL, "openjdk-17-jdk-headless")):
        if (servers or tool != JAVA) and not os.access(tool, os.X_OK):
            missing.append(f"{tool} not found (fix: apt-get install {pkg})")
    if not (flink_home() / ".complete").exists() and find_wheel() is None:
        missing.append(f"Flink {FLINK_VERSION} is not unpacked in {flink_home()} and its wheel is not at hand (fix: "
                       f"pip download apache-flink-libraries=={FLINK_VERSION} --no-deps -d {cache_dir() / 'downloads'}, "
                       "or set CHAOS_FLINK_WHEEL)")
    return missing


def ensure_flink_dist(log: Callable[[str], None] = lambda m: None) -> Path:
    """Flink's home (lib/ with flink-dist), unpacked from the wheel once; later calls read nothing."""
    def unpack(tmp: Path) -> None:
        wheel = find_wheel()
        if wheel is None:
            raise MissingPrerequisite("; ".join(prerequisites(servers=False)), field="flink")
        log(f"unpacking Flink {FLINK_VERSION} from {wheel} into {flink_home()}")
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                if info.filename.startswith("pyflink/lib/") and not info.is_dir():
                    dest = tmp / "lib" / Path(info.filename).name
                    dest.parent.mkdir(exist_ok=True)
                    with z.open(info) as src, open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
        if not (tmp / "lib" / f"flink-dist-{FLINK_VERSION}.jar").is_file():
            raise PlatformError(f"{wheel} holds no pyflink/lib/flink-dist-{FLINK_VERSION}.jar")

    return cached_dir(flink_home(), unpack, FLINK_VERSION)


# The probe job's Java source; compiled by ensure_probe_jar (the file name is its class name).
PROBE_JOB_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "flink" / "ChaosProbeJob.java"


def ensure_probe_jar(log: Callable[[str], None] = lambda m: None) -> Path:
    """The probe job's jar, compiled with javac against flink-dist once per source version."""
    home = ensure_flink_dist(log)
    try:
        source = PROBE_JOB_FILE.read_bytes()
    except OSError as exc:
        raise MissingPrerequisite(f"cannot read the probe job's source {PROBE_JOB_FILE}: {exc}", field="flink",
                                  fix="run the harness from its repository (the job lives in fixtures/flink/)") from exc
    digest = hashlib.sha256(source).hexdigest()[:12]

    def compile_job(work: Path) -> None:
        (work / "src").mkdir()
        (work / "classes").mkdir()
        (work / "src" / PROBE_JOB_FILE.name).write_bytes(source)
        # --release 11: the job also runs on images whose JVM is older than ours.
        steps = ([JAVAC, "--release", "11", "-nowarn", "-cp", str(home / "lib" / f"flink-dist-{FLINK_VERSION}.jar"),
                  "-d", str(work / "classes"), str(work / "src" / PROBE_JOB_FILE.name)],
                 [JAR_TOOL, "--create", "--file", str(work / "chaos-probe.jar"), "--main-class", PROBE_JOB_FILE.stem,
                  "-C", str(work / "classes"), "."])
        for argv in steps:
            proc = run(argv, check=False, timeout=120)
            if proc.returncode != 0:
                raise PlatformError(f"building the Flink probe job failed: {' '.join(argv[:2])}: "
                                    f"{(proc.stdout + proc.stderr)[-1500:]}")

    return cached_dir(home / "probe" / digest, compile_job, digest) / "chaos-probe.jar"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Failover knobs, tuned for tests (Flink's defaults in the comments; docs/components.md)."""

    ha_type: str = "zookeeper"            # default: none
    heartbeat_interval_ms: int = 2000     # default 10000
    heartbeat_timeout_ms: int = 10000     # default 50000
    checkpoint_interval_ms: int = 2000    # default: checkpointing off
    restart_strategy: str = "fixed-delay"  # default with checkpointing: exponential-delay
    restart_attempts: int = 1000
    restart_delay_ms: int = 1000
    # A killed leader keeps its ZooKeeper session (and its latch node) until the session times
    # out: that bounds the JobManager failover (default 60000).
    zk_session_timeout_ms: int = 6000
    probe_rate_per_s: int = 50            # records per second through the probe job

    def failover_conf(self) -> dict[str, str]:
        """Flink configuration keys (config.yaml) for these knobs."""
        return {
            "high-availability.type": self.ha_type,
            "high-availability.zookeeper.client.session-timeout": str(self.zk_session_timeout_ms),
            "high-availability.zookeeper.client.connection-timeout": "3000",
            "heartbeat.interval": str(self.heartbeat_interval_ms),
            "heartbeat.timeout": str(self.heartbeat_timeout_ms),
            "execution.checkpointing.interval": f"{self.checkpoint_interval_ms}ms",
            "restart-strategy.type": self.restart_strategy,
            "restart-strategy.fixed-delay.attempts": str(self.restart_attempts),
            "restart-strategy.fixed-delay.delay": f"{self.restart_delay_ms}ms",
            "state.backend.type": "hashmap",
            "metrics.fetcher.update-interval": "1000",  # default 10000: the verification reads metrics
            "zookeeper.sasl.disable": "true",
        }

    def predicted_failover_s(self) -> float:
        # The standby's latch waits for the dead leader's ZooKeeper session to expire, then the
        # job is recovered from the HA store and redeployed (a few seconds).
        return self.zk_session_timeout_ms / 1000 + JOB_RECOVERY_S

    # The predicted failover per fault class and role (chaos.predictions), from the knobs above:
    #   leader, kill     the dead leader's ZooKeeper session (and its latch node) lives until
    #                    zk_session_timeout_ms; then the standby leads, recovers the job graph
    #                    from the HA store and restores the job from its latest checkpoint
    #                    (JOB_RECOVERY_S: the TaskManagers register with it, slots, deployment);
    #   leader, silent   the same: a crashed or cut-off leader's session expires as well;
    #   leader, graceful a stopped leader closes its session: the standby leads at once;
    #   taskmanager      the JobManager loses the killed TaskManager when its next heartbeat RPC
    #                    to it fails (within a heartbeat interval) or, silent, after
    #                    heartbeat_timeout_ms; then the job restarts after restart_delay_ms on a
    #                    spare slot (TASK_REDEPLOY_S).
    def predict(self, fault_class: str, role: str = "leader") -> Prediction | None:
        if role in ("taskmanager", "spare-taskmanager"):
            if role == "spare-taskmanager":
                return None  # no task of the job there: nothing fails over
            if fault_class == "silent":
                detect, formula = self.heartbeat_timeout_ms / 1000, "heartbeat_timeout_ms / 1000"
            else:
                detect, formula = self.heartbeat_interval_ms / 1000, "heartbeat_interval_ms / 1000"
            return Prediction(fault_class, detect + self.restart_delay_ms / 1000 + TASK_REDEPLOY_S,
                              f"{formula} + restart_delay_ms / 1000 + {TASK_REDEPLOY_S} s (redeploy, restore)",
                              {"heartbeat_interval_ms": self.heartbeat_interval_ms,
                               "heartbeat_timeout_ms": self.heartbeat_timeout_ms,
                               "restart_delay_ms": self.restart_delay_ms})
        if role != "leader" or self.ha_type == "none":
            return None  # without HA nothing fails over: the job is gone (the negative control)
        if fault_class == "graceful":
            return Prediction(fault_class, JOB_RECOVERY_S, f"{JOB_RECOVERY_S} s (job recovery on the new leader)", {})
        return Prediction(fault_class, self.predicted_failover_s(),
                          f"zk_session_timeout_ms / 1000 + {JOB_RECOVERY_S} s (job recovery on the new leader)",
                          {"zk_session_timeout_ms": self.zk_session_timeout_ms})


# Seconds a new leader takes from its election to the job RUNNING again (recover the job graph from
# S3, TaskManagers re-register, slots, deploy, restore), and a TaskManager's replacement slot
# from the restart to RUNNING; measured on the local platform (docs/components.md).
JOB_RECOVERY_S, TASK_REDEPLOY_S = 8.0, 0.5
# When the survivors noticed the loss, and when a new leader (or the restarted job) took over.
FAILOVER_LOG = LogMarkers(
    detected=(r"Connection to ZooKeeper suspended", r"lost leadership", r"has been revoked leadership",
              r"heartbeat of TaskManager with id .* timed out", r"is no longer reachable",
              r"Disconnect TaskExecutor", r"switched from state RUNNING to RESTARTING"),
    elected=(r"was granted leadership", r"switched from state RESTARTING to RUNNING",
             r"Restoring job .* from Checkpoint"))


# --------------------------------------------------------------------------- session and component


@dataclass
class FlinkSession:
    """A Flink HA cluster seen from the harness: its JobManagers' REST endpoints, ZooKeeper, and
    the probe job. Platform-neutral: the component builds it from pod endpoints, the
    integration test from loopback ports."""

    jobmanagers: Callable[[], list[tuple[str, str]]]   # [(name, REST base URL)]
    zk_hosts: Callable[[], str]
    cluster_id: str
    settings: Settings = field(default_factory=Settings)
    zk_root: str = "/flink"
    job_id: str | None = None
    ledgers: dict[str, CheckpointLedger] = field(default_factory=dict)
    last_verification: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.finder = LeaderFinder(self.zk_hosts, self.jobmanagers, self.cluster_id, root=self.zk_root)
        self.rest = FlinkRest(timeout_s=3.0)

    def leader_url(self) -> str:
        return self.finder.leader()[1]

    def roles(self) -> dict[str, str]:
        """{JobManager name: "leader" | "standby"}; all standby while no leader is published."""
        try:
            leader = self.finder.leader()[0]
        except (LookupError, ValueError):
            leader = None
        return {name: "leader" if name == leader else "standby" for name, _url in self.jobmanagers()}

    def submit(self, jar: Path) -> str:
        self.job_id = submit_probe_job(self.rest, self.leader_url(), jar, rate_per_s=self.settings.probe_rate_per_s)
        return self.job_id

    def status(self) -> dict[str, Any]:
        """Leader, TaskManagers, and the probe job, as the leader's REST answers them."""
        seen: dict[str, Any] = {"leader": None, "taskmanagers": None, "job": None, "problems": []}
        try:
            name, url, _session_id = self.finder.leader()
        except (LookupError, ValueError) as exc:
            seen["problems"].append(f"no leading JobManager ({exc})")
            return seen
        seen["leader"] = name or url
        if name is None:
            seen["problems"].append(f"the leader {url} is none of the JobManagers {[n for n, _ in self.jobmanagers()]}")
        try:
            seen["taskmanagers"] = self.rest.get(url, "/overview").get("taskmanagers", 0)
            if seen["taskmanagers"] < 1:
                seen["problems"].append("no TaskManager registered")
            if self.job_id is None:
                seen["problems"].append("probe job not submitted")
            else:
                job = parse_job(self.rest.get(url, f"/jobs/{self.job_id}"))
                seen["job"] = {"state": job["state"], "vertices": job["vertices"]}
                if not job["running"]:
                    seen["problems"].append(f"probe job {job['state']}, tasks {job['vertices']}")
        except FlinkRestError as exc:
            seen["problems"].append(f"leader REST: {exc.reason}")
        return seen

    def steady(self) -> tuple[bool, dict[str, Any]]:
        seen = self.status()
        return not seen["problems"], seen

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S, workers: int = 1) -> Probe:
        if self.job_id is None:
            raise InvalidConfig("no probe job submitted yet", field="flink", fix="deploy the component first")
        ledger = self.ledgers[experiment] = CheckpointLedger()
        op_timeout_s = 2.0
        clients = [FlinkProbeClient(self, ledger, op_timeout_s) for _ in range(workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=op_timeout_s + 0.5)

    def _metrics(self, url: str) -> tuple[int | None, int | None]:
        """(chaosMismatches, chaosCount) of the counting operator, or Nones while not reported."""
        job = self.rest.get(url, f"/jobs/{self.job_id}")
        for v in job.get("vertices") or []:
            if "chaos-probe-count" in (v.get("name") or ""):
                names = "0.chaos-probe-count.chaosMismatches,0.chaos-probe-count.chaosCount"
                got = {m["id"]: m.get("value") for m in
                       self.rest.get(url, f"/jobs/{self.job_id}/vertices/{v['id']}/metrics?get={names}") or []}
                mis, cnt = got.get("0.chaos-probe-count.chaosMismatches"), got.get("0.chaos-probe-count.chaosCount")
                return (int(float(mis)) if mis is not None else None, int(float(cnt)) if cnt is not None else None)
        return None, None

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        """The values of acknowledged operations whose checkpoint survived (see the module doc);
        None when the job could not be read at all. Details in self.last_verification."""
        ledger = self.ledgers.get(experiment)
        if ledger is None:
            return None
        deadline = time.monotonic() + timeout_s
        final: Observation | None = None
        mismatches: int | None = None
        count: int | None = None
        problem = "no answer yet"
        gone = False
        while time.monotonic() < deadline:
            try:
                url = self.leader_url()
                job = self.rest.get(url, f"/jobs/{self.job_id}")
                obs = Observation.from_answers(job, self.rest.get(url, f"/jobs/{self.job_id}/checkpoints"))
                if obs.state in TERMINAL:
                    final, problem = obs, f"job {obs.state}: its state is gone"
                    break
                restore_ms = obs.restored[1] if obs.restored else -1
                checkpointed_since = obs.completed is not None and obs.completed[1] > restore_ms
                if obs.running and checkpointed_since:
                    mismatches, count = self._metrics(url)
                    final = obs
                    if mismatches is not None:
                        problem = ""
                        break
                    problem = "operator metrics not reported yet"
                else:
                    problem = f"job {obs.state}, checkpointed since restore: {checkpointed_since}"
            except FlinkRestError as exc:
                problem = str(exc)
                if exc.status == 404 and "job not found" in exc.reason:
                    gone = True  # a JobManager without the job (no HA, or HA metadata lost)
                    break
            except (LookupError, ValueError) as exc:
                problem = str(exc)
            time.sleep(0.5)
        with ledger.lock:
            acks, observations = list(ledger.acks), list(ledger.observations)
        if gone:
            verdict = judge_checkpoints(acks, observations, None, job_ended="NOT FOUND")
            self.last_verification = {**verdict, "lost": len(set(verdict["lost"])), "verified": True,
                                      "problem": problem, "final_state": "NOT FOUND", "acks": len(acks)}
            return [a.value for a in acks if a.value not in set(verdict["lost"])]
        if final is None:
            self.last_verification = {"verified": False, "problem": problem, "acks": len(acks)}
            return None
        observations.append(final)
        verdict = judge_checkpoints(acks, observations, mismatches,
                                    job_ended=final.state if final.state in TERMINAL else None)
        lost = set(verdict["lost"])
        self.last_verification = {**verdict, "lost": len(lost), "verified": True, "problem": problem,
                                  "final_state": final.state, "final_checkpoint": final.checkpoint,
                                  "final_restored": final.restored, "count": count, "acks": len(acks)}
        return [a.value for a in acks if a.value not in lost]

    def close(self) -> None:
        self.finder.close()


class FlinkCluster:
    """Flink session cluster with ZooKeeper HA, deployed from fixtures/kind/flink on a
    manifest-deployed platform: JobManagers labelled flink-jobmanager (REST 8081), TaskManagers
    labelled flink-taskmanager, ZooKeeper from the stack's zookeeper component. On the local
    platform the constructor returns a LocalFlinkCluster (chaos.components.flink_local)."""

    name = "flink"
    target_roles = ("leader", "standby", "taskmanager", "spare-taskmanager")  # what targets() calls its pods
    JOBMANAGER, TASKMANAGER = "flink-jobmanager", "flink-taskmanager"

    def __new__(cls, platform, **kwargs):
        if cls is FlinkCluster and not on_manifest_platform(platform):
            from .flink_local import LocalFlinkCluster

            return super().__new__(LocalFlinkCluster)
        return super().__new__(cls)

    def __init__(self, platform, *, name: str = "flink", settings: Settings | None = None,
                 cluster_id: str = "/chaos-stack", zk_root: str = "/flink", probe_workers: int = 1):
        require_manifest_platform(platform, "Flink")
        self.platform = platform
        self.deployment = name
        self.probe_workers = probe_workers
        self.session = FlinkSession(jobmanagers=self._jobmanagers, zk_hosts=self._zk_hosts, cluster_id=cluster_id,
                                    settings=settings or Settings(), zk_root=zk_root)
        self.pods: list[str] = []

    @property
    def settings(self) -> Settings:
        return self.session.settings

    def _jobmanagers(self) -> list[tuple[str, str]]:
        return [(pod, f"http://{ip}:{port}") for pod, ip, port in self.platform.endpoints(self.JOBMANAGER, REST_PORT)]

    def _zk_hosts(self) -> str:
        return ",".join(f"{ip}:{port}" for _pod, ip, port in self.platform.endpoints("zookeeper", ZK_PORT))

    def deploy(self, timeout_s: float = 600.0) -> dict[str, Any]:
        missing = prerequisites(servers=False)
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="flink")
        ensure_probe_jar()
        deadline = time.monotonic() + timeout_s
        pods = self.platform.deploy_stack("flink", timeout_s=timeout_s)
        self.pods = [p.name for p in pods]
        return self.prepare(max(30.0, deadline - time.monotonic()))

    def remove(self) -> None:
        self.session.close()
        self.platform.remove_stack("flink")

    def targets(self) -> list[Target]:
        roles = self.session.roles()
        out = []
        for label in (self.JOBMANAGER, self.TASKMANAGER):
            for pod in self.platform.pods(label):
                role = roles.get(pod.name, "standby") if label == self.JOBMANAGER else "taskmanager"
                out.append(Target(pod=pod.name, node=pod.node or "", zone=pod.zone or "", role=role))
        return out

    def steady(self) -> tuple[bool, dict[str, Any]]:
        """One leading JobManager, at least one TaskManager registered, the probe job RUNNING."""
        return self.session.steady()

    def pod_logs(self) -> dict[str, Path]:
        """pod -> a file with its log, as the platform keeps it."""
        return self.platform.pod_logs(self.pods)

    def explain(self, seen: dict[str, Any]) -> str:
        return (f"seen {seen}; JobManager logs: kubectl -n chaos-stack logs -l "
                f"app.kubernetes.io/name={self.JOBMANAGER}")

    def wait_steady(self, timeout_s: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        return wait_until_steady(self.steady, self.deployment, timeout_s, log, self.explain, 0.5)

    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Steady, with a probe job: adopts a running chaos-probe job, or submits one when there
        is none or the last one ended (a job that FAILED in an experiment keeps its verdict; the
        next experiment needs a live job)."""
        deadline = time.monotonic() + timeout_s

        def ensure_job() -> str:
            job = self.session.status().get("job")
            if self.session.job_id is None or (job and job["state"] in TERMINAL):
                self.session.job_id = None
                return self.session.submit(ensure_probe_jar())
            return self.session.job_id

        try:
            retry_until(ensure_job, timeout_s)
        except TimeoutError as exc:
            raise NotSteady(f"{self.deployment}: could not submit the probe job: {exc}", [str(exc)]) from exc
        return self.wait_steady(max(5.0, deadline - time.monotonic()), log)

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        return self.session.probe(timeline, experiment, interval_s, self.probe_workers)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        return self.session.verify(experiment, timeout_s)

    def config(self) -> dict[str, Any]:
        """The knobs as deployed (the leader's /jobmanager/config) where readable, else as intended."""
        wanted = self.settings.failover_conf()
        deployed: dict[str, str] = {}
        try:
            answer = self.session.rest.get(self.session.leader_url(), "/jobmanager/config")
            deployed = {e["key"]: e["value"] for e in answer if e.get("key") in wanted}
        except (LookupError, ValueError, FlinkRestError):
            pass
        return {**asdict(self.settings), "deployed": deployed, "job_id": self.session.job_id,
                "predicted_failover_s": self.settings.predicted_failover_s(), "probe_workers": self.probe_workers}
