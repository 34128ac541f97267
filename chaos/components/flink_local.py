"""Flink on the local platform: a session cluster with ZooKeeper HA across the zones.

Layout (one node per zone, chaos-a1, -b1, -c1):
  zone a: JobManager flink-jm-0, TaskManager flink-tm-0, ZooKeeper flink-zk-0
  zone b: JobManager flink-jm-1, TaskManager flink-tm-1, ZooKeeper flink-zk-1
  zone c:                        TaskManager flink-tm-2, ZooKeeper flink-zk-2, S3 server flink-s3

- The JVMs come from the distribution PyPI ships in apache-flink-libraries (chaos.components.flink,
  `ensure_flink_dist`), run directly (StandaloneSessionClusterEntrypoint, TaskManagerRunner) with
  a config.yaml each, as user nobody.
- ZooKeeper: three servers of the harness's own ZooKeeper component (chaos.components.zookeeper,
  Debian's package), one per zone, on client port 2182: an ensemble of Flink's own, so that the
  ZooKeeper experiments (which kill, partition and take the quorum away from the `zookeeper`
  ensemble on 2181) never run against the ensemble Flink depends on, and a Flink fault never
  takes the ZooKeeper experiments' ensemble down.
- S3: high-availability.storageDir (job graphs, jars, checkpoint metadata pointers) and the
  checkpoints go to s3://flink/ on an s3proxy server (chaos.s3proxy, a real S3 server from Maven
  Central standing in for MinIO, whose community edition this project neither builds nor fetches),
  through Flink's S3 filesystem plugin (flink-s3-fs-presto from Maven Central, cached beside the
  distribution). It runs in zone c, where no JobManager runs: the JobManager faults never take it
  down (a regional object store survives a zone's loss; one s3proxy cannot, so it is kept out of
  the JobManagers' zones).
- More than one TaskManager (one slot each, one per zone): the probe job (parallelism 1) needs one
  slot; the others are where it is restarted when its TaskManager or its zone goes.

Roles: the leading JobManager ("leader", named by ZooKeeper), the other ("standby"); the
TaskManager running the probe job's tasks ("taskmanager") and the others ("spare-taskmanager"),
so that a TaskManager kill hits the job.

Variant `ha=False` (the negative control): high-availability.type none, one JobManager, no
ZooKeeper; killing the JobManager loses the job, which the verdict must report. The native
Kubernetes HA switch (high-availability.type kubernetes) needs a Kubernetes API: kind only.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from .._run import run
from ..cache import cache_dir, cached_dir
from ..errors import InvalidConfig, MissingPrerequisite, PlatformError
from ..platforms.base import PodSpec
from ..predictions import Prediction
from ..s3proxy import ACCESS_KEY, SECRET_KEY, argv as s3proxy_argv, ensure_s3proxy_jar
from ..s3proxy import properties as s3proxy_properties
from ..waits import retry_until
from .base import Target, chown_tree, on_manifest_platform, one_node_per_zone, wait_until_steady
from .flink import (FLINK_VERSION, FAILOVER_LOG, JAVA, JVM_OPENS, REST_PORT, RPC_PORT, BLOB_PORT, FlinkCluster,
                    FlinkRest, FlinkRestError, FlinkSession, Settings, ensure_flink_dist, ensure_probe_jar,
                    prerequisites as flink_prerequisites)

__all__ = ["LocalFlinkCluster", "ensure_s3_plugin", "prerequisites", "jvm_argv", "write_config", "log4j_properties",
           "TM_MEMORY", "ENTRYPOINT", "TASKMANAGER"]

ENTRYPOINT = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
TASKMANAGER = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
S3_PLUGIN = f"org.apache.flink:flink-s3-fs-presto:{FLINK_VERSION}"
ZK_PORT_LOCAL, S3_PORT, TM_RPC_PORT, TM_DATA_PORT = 2182, 9000, 6122, 6121
BUCKET = "flink"
RUN_AS = "nobody"
# The standby JobManager up, every TaskManager registered and a checkpoint completed since the
# job's latest restore: after a bring-up on two cores (nine JVMs) or an earlier fault that can
# take minutes, so the wait before an experiment is at least this long.
REDUNDANCY_WAIT_S = 180.0
# A TaskManager started without Flink's shell scripts gets no computed memory options: give them
# all (the scripts would pass them as -D options after running BashJavaUtils).
TM_MEMORY = {"taskmanager.cpu.cores": "2", "taskmanager.memory.framework.heap.size": "64m",
             "taskmanager.memory.task.heap.size": "128m", "taskmanager.memory.task.off-heap.size": "0m",
             "taskmanager.memory.framework.off-heap.size": "64m", "taskmanager.memory.managed.size": "32m",
             "taskmanager.memory.network.min": "32m", "taskmanager.memory.network.max": "32m",
             "taskmanager.memory.jvm-metaspace.size": "128m", "taskmanager.memory.jvm-overhead.min": "64m",
             "taskmanager.memory.jvm-overhead.max": "64m"}


def log4j_properties(log_file: bool) -> str:
    """Flink's log4j configuration: dated lines (chaos.predictions reads them), to ${sys:log.file}
    or to stdout (the local platform keeps a pod's stdout as its log)."""
    appender = ("appender.main.type = File\nappender.main.fileName = ${sys:log.file}\n" if log_file
                else "appender.main.type = Console\n")
    return ("rootLogger.level = INFO\nrootLogger.appenderRef.main.ref = MainAppender\n"
            "appender.main.name = MainAppender\n" + appender +
            "appender.main.layout.type = PatternLayout\n"
            "appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c{1} - %m%n\n"
            "logger.zk.name = org.apache.flink.shaded.zookeeper3\nlogger.zk.level = WARN\n"
            "logger.curator.name = org.apache.flink.shaded.curator5\nlogger.curator.level = WARN\n")


def write_config(conf_dir: Path, conf: dict[str, str], *, log_file: bool) -> dict[str, str]:
    """config.yaml (Flink 2's configuration file) and log4j.properties into conf_dir; the
    process's temporary directories go under it too. Returns the configuration written."""
    conf = {**conf, "io.tmp.dirs": str(conf_dir / "tmp"), "web.tmpdir": str(conf_dir / "web"),
            "web.upload.dir": str(conf_dir / "upload")}
    (conf_dir / "config.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in sorted(conf.items())))
    (conf_dir / "log4j.properties").write_text(log4j_properties(log_file))
    return conf


def jvm_argv(home: Path, conf_dir: Path, main: str, heap_mb: int) -> list[str]:
    """A JobManager's or TaskManager's command line. C1 only: the JVMs start in about half the
    CPU time (two cores here)."""
    return [JAVA, f"-Xmx{heap_mb}m", "-XX:MaxDirectMemorySize=256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            *JVM_OPENS, f"-Dlog.file={conf_dir / 'flink.log'}",
            f"-Dlog4j.configurationFile=file:{conf_dir / 'log4j.properties'}",
            "-cp", f"{home / 'lib'}/*", main, "--configDir", str(conf_dir)]


def plugins_dir() -> Path:
    return cache_dir() / f"flink-{FLINK_VERSION}-plugins"


def prerequisites() -> list[str]:
    """What this machine lacks to run Flink on the local platform, each with its fix: the JDK and
    Flink's distribution (chaos.components.flink), ZooKeeper, and the two jars `make install`
    fetches through Maven (the S3 plugin and s3proxy), which a bring-up does not fetch itself."""
    from ..s3proxy import S3PROXY_VERSION, cache_dir as s3proxy_cache
    from .zookeeper import prerequisites as zk_prerequisites

    missing = flink_prerequisites() + zk_prerequisites()
    for home, what in ((plugins_dir(), f"Flink's S3 plugin ({S3_PLUGIN})"),
                       (s3proxy_cache(), f"s3proxy {S3PROXY_VERSION}, the S3 server standing in for MinIO")):
        if not (home / ".complete").is_file():
            missing.append(f"{what} is not cached in {home} (fix: make install; it needs maven)")
    return list(dict.fromkeys(missing))


def ensure_s3_plugin() -> Path:
    """Flink's plugins directory holding the S3 filesystem (FLINK_PLUGINS_DIR), fetched through
    Maven once (about 100 MB) and cached."""
    def fetch(tmp: Path) -> None:
        dest = tmp / "s3-fs-presto"
        dest.mkdir()
        proc = run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={S3_PLUGIN}", f"-DoutputDirectory={dest}"],
                   check=False, timeout=900)
        if proc.returncode != 0 or not any(dest.glob("*.jar")):
            raise PlatformError(f"mvn could not fetch {S3_PLUGIN}: {(proc.stdout + proc.stderr)[-1500:]}")

    return cached_dir(plugins_dir(), fetch, FLINK_VERSION)


class OnlyJobManager:
    """The leader without HA: the one JobManager (no election, nothing in ZooKeeper)."""

    def __init__(self, jobmanagers: Callable[[], list[tuple[str, str]]]):
        self.jobmanagers = jobmanagers

    def leader(self) -> tuple[str | None, str, str]:
        name, url = self.jobmanagers()[0]
        return name, url, ""

    def close(self) -> None:
        pass


class LocalFlinkCluster(FlinkCluster):
    """Flink on the local platform (module docstring). FlinkCluster(platform) returns one of these
    when the platform does not deploy from manifests."""

    def __init__(self, platform, *, name: str = "flink", settings: Settings | None = None, ha: bool = True,
                 cluster_id: str = "/chaos-local", zk_root: str = "/flink", probe_workers: int = 1):
        from .zookeeper import ZooKeeperEnsemble

        if on_manifest_platform(platform):
            raise InvalidConfig("LocalFlinkCluster runs on the local platform", field="platform",
                                fix="use FlinkCluster, which deploys fixtures/kind/flink on kind")
        settings = settings or Settings()
        if not ha:
            settings = replace(settings, ha_type="none")
        if settings.ha_type not in ("zookeeper", "none"):
            raise InvalidConfig(f"high-availability.type {settings.ha_type!r} is not available on the local platform",
                                field="flink.ha_type",
                                fix="native Kubernetes HA needs a Kubernetes API: run it on --platform kind "
                                    "(fixtures/kind/flink/ha-kubernetes.yaml); locally use zookeeper")
        self.platform = platform
        self.deployment = name
        self.probe_workers = probe_workers
        self.ha = settings.ha_type == "zookeeper"
        nodes = one_node_per_zone(platform, "Flink")
        self.jm_nodes = nodes[:2] if self.ha else nodes[:1]
        self.tm_nodes = nodes
        self.s3_node = nodes[2]
        self.jm_pods = [f"{name}-jm-{i}" for i in range(len(self.jm_nodes))]
        self.tm_pods = [f"{name}-tm-{i}" for i in range(len(self.tm_nodes))]
        self.s3_pod = f"{name}-s3"
        self.zk = ZooKeeperEnsemble(platform, name=f"{name}-zk", client_port=ZK_PORT_LOCAL) if self.ha else None
        self.session = FlinkSession(jobmanagers=self._jobmanagers, zk_hosts=self._zk_hosts, cluster_id=cluster_id,
                                    settings=settings, zk_root=zk_root)
        if not self.ha:
            self.session.finder = OnlyJobManager(self._jobmanagers)
        self.pods = [*self.jm_pods, *self.tm_pods, self.s3_pod, *(self.zk.pods if self.zk else [])]
        self.rest = FlinkRest(timeout_s=1.5)

    # -- addresses
    def _jobmanagers(self) -> list[tuple[str, str]]:
        return [(pod, f"http://{node.ip}:{REST_PORT}") for pod, node in zip(self.jm_pods, self.jm_nodes)]

    def _zk_hosts(self) -> str:
        return self.zk._hosts() if self.zk else ""

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.s3_node.ip}:{S3_PORT}"

    # -- bring-up
    def deploy(self, timeout_s: float = 300.0) -> dict[str, Any]:
        missing = prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="flink")
        home, plugins, s3_jar = ensure_flink_dist(), ensure_s3_plugin(), ensure_s3proxy_jar()
        ensure_probe_jar()
        os.chmod(cache_dir(), 0o755)
        if self.zk:
            self.zk.deploy(timeout_s=120.0)
        self._start_s3(s3_jar)
        conf = self._common_conf()
        for pod, node in zip(self.jm_pods, self.jm_nodes):
            self._start_jvm(home, plugins, pod, node, ENTRYPOINT, 256, {
                **conf, "jobmanager.rpc.address": node.ip, "jobmanager.rpc.port": str(RPC_PORT),
                "jobmanager.bind-host": node.ip, "rest.address": node.ip, "rest.bind-address": node.ip,
                "rest.port": str(REST_PORT), "blob.server.port": str(BLOB_PORT),
                "jobmanager.memory.process.size": "1g"}, port=REST_PORT)
        for pod, node in zip(self.tm_pods, self.tm_nodes):
            self._start_jvm(home, plugins, pod, node, TASKMANAGER, 256, {
                **conf, **TM_MEMORY, "taskmanager.host": node.ip, "taskmanager.bind-host": node.ip,
                "taskmanager.rpc.port": str(TM_RPC_PORT), "taskmanager.data.port": str(TM_DATA_PORT),
                "taskmanager.numberOfTaskSlots": "1", "taskmanager.resource-id": pod,
                **({} if self.ha else {"jobmanager.rpc.address": self.jm_nodes[0].ip,
                                       "jobmanager.rpc.port": str(RPC_PORT)})}, port=TM_RPC_PORT)
        return self.prepare(timeout_s)

    def _common_conf(self) -> dict[str, str]:
        conf = {**self.settings.failover_conf(),
                "high-availability.storageDir": f"s3://{BUCKET}/ha",
                "execution.checkpointing.dir": f"s3://{BUCKET}/checkpoints",
                "s3.endpoint": self.s3_endpoint, "s3.path.style.access": "true", "s3.ssl.enabled": "false",
                "s3.access-key": ACCESS_KEY, "s3.secret-key": SECRET_KEY,
                "parallelism.default": "1"}
        if self.ha:
            conf.update({"high-availability.zookeeper.quorum": self._zk_hosts(),
                         "high-availability.cluster-id": self.session.cluster_id,
                         "high-availability.zookeeper.path.root": self.session.zk_root})
        else:
            conf.pop("high-availability.storageDir")
        return conf

    def _start_s3(self, jar: Path) -> None:
        pod_dir = self.platform.path(self.deployment, self.s3_pod)
        (pod_dir / "data" / BUCKET).mkdir(parents=True, exist_ok=True)  # a bucket is a directory
        conf = pod_dir / "s3proxy.conf"
        conf.write_text(s3proxy_properties(self.s3_node.ip, S3_PORT, pod_dir / "data"))
        chown_tree(pod_dir, RUN_AS)
        self.platform.start_pod(PodSpec(name=self.s3_pod, component=self.name, node=self.s3_node.name, user=RUN_AS,
                                        argv=tuple(s3proxy_argv(jar, conf)),
                                        env={"HOME": str(pod_dir), "LOG_LEVEL": "warn"}, port=S3_PORT))
        try:
            retry_until(lambda: self.platform.reachable(None, self.s3_node.ip, S3_PORT) or None, 60.0)
        except TimeoutError as exc:
            raise PlatformError(f"s3proxy did not listen on {self.s3_endpoint}; "
                                f"log {self.platform.log_path(self.s3_pod)}") from exc

    def _start_jvm(self, home: Path, plugins: Path, pod: str, node, main: str, heap_mb: int, conf: dict[str, str],
                   port: int) -> None:
        pod_dir = self.platform.path(self.deployment, pod)
        write_config(pod_dir, conf, log_file=False)
        chown_tree(pod_dir, RUN_AS)
        self.platform.start_pod(PodSpec(name=pod, component=self.name, node=node.name, user=RUN_AS,
                                        argv=tuple(jvm_argv(home, pod_dir, main, heap_mb)),
                                        env={"HOME": str(pod_dir), "FLINK_PLUGINS_DIR": str(plugins)},
                                        port=port, termination_grace_s=10.0))

    def remove(self) -> None:
        self.session.close()
        for pod in [*self.tm_pods, *self.jm_pods, self.s3_pod]:
            self.platform.remove_pod(pod)
        if self.zk:
            self.zk.remove()

    # -- roles and steadiness
    def _busy_taskmanagers(self) -> set[str]:
        """The TaskManagers running the probe job's tasks (their resource id is the pod's name)."""
        busy: set[str] = set()
        jid = self.session.job_id
        if jid is None:
            return busy
        try:
            url = self.session.leader_url()
            for v in self.rest.get(url, f"/jobs/{jid}").get("vertices") or []:
                answer = self.rest.get(url, f"/jobs/{jid}/vertices/{v['id']}/taskmanagers") or {}
                for tm in answer.get("taskmanagers") or []:
                    if tm.get("status") in ("RUNNING", "DEPLOYING", "INITIALIZING"):
                        busy.add(tm.get("taskmanager-id") or tm.get("taskmanagerId") or "")
        except (LookupError, ValueError, FlinkRestError, AttributeError, TypeError):
            return set()
        return busy & set(self.tm_pods)

    def targets(self) -> list[Target]:
        roles = self.session.roles()
        busy = self._busy_taskmanagers()
        out = [Target(pod=pod, node=node.name, zone=node.zone, role=roles.get(pod, "standby"))
               for pod, node in zip(self.jm_pods, self.jm_nodes)]
        out += [Target(pod=pod, node=node.name, zone=node.zone,
                       role="taskmanager" if pod in busy or not busy else "spare-taskmanager")
                for pod, node in zip(self.tm_pods, self.tm_nodes)]
        return out

    def steady(self) -> tuple[bool, dict[str, Any]]:
        """Redundant again: one leader and a standby whose REST answers, every TaskManager
        registered, the probe job RUNNING with a checkpoint completed since its latest restore,
        the ZooKeeper ensemble serving (a leader and two followers) and the S3 server up."""
        seen = self.session.status()
        problems = seen["problems"]
        for pod, url in self._jobmanagers():
            if not self.platform.pod_running(pod):
                problems.append(f"{pod} not running")
                continue
            try:
                self.rest.get(url, "/config")
            except FlinkRestError as exc:
                problems.append(f"{pod} REST: {exc.reason}")
        if seen["taskmanagers"] is not None and seen["taskmanagers"] < len(self.tm_pods):
            problems.append(f"{seen['taskmanagers']} of {len(self.tm_pods)} TaskManagers registered")
        if not problems and self.session.job_id:
            try:
                from .flink import parse_checkpoints

                cp = parse_checkpoints(self.rest.get(self.session.leader_url(),
                                                     f"/jobs/{self.session.job_id}/checkpoints"))
                restored = cp["restored"][1] if cp["restored"] else -1
                seen["checkpoint"] = cp["completed"][0] if cp["completed"] else None
                if not cp["completed"] or cp["completed"][1] <= restored:
                    problems.append("no checkpoint completed since the job's latest restore")
            except (LookupError, ValueError, FlinkRestError) as exc:
                problems.append(f"checkpoints: {exc}")
        if self.zk:
            ok, zk_seen = self.zk.steady()
            if not ok:
                problems.append(f"ZooKeeper {self.zk.deployment}: {zk_seen['problems']}")
        if not self.platform.pod_running(self.s3_pod):
            problems.append(f"{self.s3_pod} not running")
        return not problems, seen

    def explain(self, seen: dict[str, Any]) -> str:
        return f"seen {seen}; pod logs in {self.platform.log_path(self.pods[0]).parent}"

    def wait_steady(self, timeout_s: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        return wait_until_steady(self.steady, self.deployment, timeout_s, log, self.explain, 0.5)

    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        return super().prepare(max(timeout_s, REDUNDANCY_WAIT_S), log)

    # -- predictions and logs
    failover_log = FAILOVER_LOG

    def predict(self, fault_class: str | None, role: str) -> Prediction | None:
        if fault_class is None:
            return None
        return self.settings.predict(fault_class, role)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "platform": "local", "ha": self.ha, "jobmanagers": len(self.jm_pods),
                "taskmanagers": len(self.tm_pods), "taskmanager_slots": 1,
                "zookeeper": f"{self.zk.deployment} on port {ZK_PORT_LOCAL}" if self.zk else None,
                "s3": f"s3proxy {self.s3_endpoint} (zone {self.s3_node.zone}), bucket {BUCKET}"}
