"""PostgreSQL with repmgr: three nodes, one per zone, streaming replication with a synchronous
standby (ANY 1), repmgrd automatic failover tuned for tests, and a psycopg probe.

Each pod runs fixtures/postgres/entrypoint.sh as the postgres user; the entrypoint decides at
every start whether to bootstrap, clone, follow or rejoin, so a returning old primary rejoins as
a standby. The probe writes increasing ids through a multi-host connection string with
target_session_attrs=read-write and records which server acknowledged each.

On a platform that deploys from manifests (kube, kind: `platform.deploy_stack`) the cluster is
fixtures/kind/postgres/ (pods postgres-0..2, port 5432, the same entrypoint in the image
fixtures/postgres builds). A replaced pod comes back with a new IP: the status queries read the
IPs from the platform every time, the probe's clients rebuild their multi-host connection
string from the current IPs whenever they reconnect, and acknowledging servers are named by pod
through every IP each pod ever had. Replication peers name each other by the pods' DNS names
there, so a standby's upstream is matched by pod name as well as by IP.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import psycopg

from ..errors import HarnessError, InvalidConfig, MissingPrerequisite
from ..platforms.base import PodSpec
from ..predictions import LogMarkers, Prediction
from ..probe import DEFAULT_INTERVAL_S, DefiniteFailure, Probe
from ..timeline import Timeline
from .base import (STACK_DEPLOY_TIMEOUT_S, StackMembers, Steadiness, Target, chown_tree, missing_module,
                   missing_user, on_manifest_platform, one_node_per_zone, settings_from_manifest, manifest_dir)
from ..waits import retry_until

__all__ = ["PostgresCluster", "PgClient", "PG_BIN", "prerequisites"]

PG_BIN = os.environ.get("CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin")
ENTRYPOINT = Path(__file__).resolve().parents[2] / "fixtures" / "postgres" / "entrypoint.sh"
PROBE_TABLE = "chaos_probe"


def prerequisites() -> list[str]:
    """What this machine lacks to run the component, each with its fix."""
    missing = []
    for binary in ("postgres", "initdb", "pg_rewind", "pg_isready", "psql", "repmgr", "repmgrd"):
        if not os.access(os.path.join(PG_BIN, binary), os.X_OK):
            pkg = "postgresql-15-repmgr" if binary.startswith("repmgr") else "postgresql-15"
            missing.append(f"{PG_BIN}/{binary} not found (fix: apt-get install {pkg})")
    missing += missing_user("postgres", "postgresql-15") + missing_module("psycopg", "psycopg[binary]")
    if not ENTRYPOINT.is_file():
        missing.append(f"{ENTRYPOINT} is missing (fix: run from a checkout of the harness)")
    return missing


# Settings fields the kind manifests may set: the entrypoint's environment, or repmgr.conf /
# postgresql.conf keys.
MANIFEST_NAMES = {
    "synchronous_standby_names": ("SYNC_STANDBY_NAMES", "synchronous_standby_names"),
    "monitor_interval_secs": ("REPMGR_MONITOR_INTERVAL", "monitor_interval_secs"),
    "reconnect_attempts": ("REPMGR_RECONNECT_ATTEMPTS", "reconnect_attempts"),
    "reconnect_interval": ("REPMGR_RECONNECT_INTERVAL", "reconnect_interval"),
    "location": ("REPMGR_LOCATION", "location"),
    "primary_visibility_consensus": ("PRIMARY_VISIBILITY_CONSENSUS", "primary_visibility_consensus"),
    "fence_after_s": ("FENCE_AFTER_S",), "resume_grace_s": ("RESUME_GRACE_S",),
    "wal_sender_timeout_s": ("WAL_TIMEOUT_S",),
}


@dataclass(frozen=True)
class Settings:
    """The failover knobs as deployed; they go into every result under "config"."""

    synchronous_standby_names: str = "ANY 1 (*)"
    monitor_interval_secs: int = 1
    reconnect_attempts: int = 2
    reconnect_interval: int = 2
    location: str = "default"
    # One repmgr location per zone: a known misconfiguration (losing the primary's zone then
    # cancels the election); deployed only by the negative control that proves it is caught.
    location_per_zone: bool = False
    primary_visibility_consensus: bool = True
    fence_after_s: int = 4
    resume_grace_s: int = 12
    wal_sender_timeout_s: int = 5
    connect_timeout_s: int = 2

    # The predicted failover per fault class (chaos.predictions), from the knobs above:
    #   kill      monitor_interval_secs + (reconnect_attempts - 1) * reconnect_interval + ELECT_S:
    #             repmgrd notices at its next check, retries, then elects and promotes;
    #   silent    the same, each check and retry first waiting connect_timeout_s for the silent
    #             primary, plus one connect_timeout_s for the clients' attempt at it;
    #   graceful  a drain stops postgres with a fast shutdown: its connections close as in a kill.
    def predict(self, fault_class: str) -> Prediction:
        inputs = {k: getattr(self, k) for k in ("monitor_interval_secs", "reconnect_attempts", "reconnect_interval")}
        kill = self.monitor_interval_secs + (self.reconnect_attempts - 1) * self.reconnect_interval + ELECT_S
        formula = "monitor_interval_secs + (reconnect_attempts - 1) * reconnect_interval + 1 s (elect, promote)"
        if fault_class == "silent":
            return Prediction(fault_class, kill + (self.reconnect_attempts + 1) * self.connect_timeout_s,
                              formula + " + (reconnect_attempts + 1) * connect_timeout_s",
                              {**inputs, "connect_timeout_s": self.connect_timeout_s})
        return Prediction(fault_class, kill, formula, inputs)


ELECT_S = 1.0  # elect, promote and have the other standby follow: about a second
# When repmgrd on the standbys noticed the primary gone, and when one was promoted.
FAILOVER_LOG = LogMarkers(
    detected=(r"unable to ping|unable to connect to upstream|upstream node .* unreachable",),
    elected=(r"promoting standby|STANDBY PROMOTE successful|received promote request|selected as new primary",),
)


def conninfo(hosts: list[str], port: int, connect_timeout_s: int = 2) -> str:
    return (f"host={','.join(hosts)} port={port} dbname=postgres user=postgres "
            f"target_session_attrs=read-write connect_timeout={connect_timeout_s}")


class PgClient:
    """One probe worker's connection. Hosts are tried in the given order (libpq multi-host).

    A long-lived client keeps its connection until an operation fails, like an application
    with a pool. A `fresh` client connects anew for every operation, starting at the next host
    each time, like short-lived clients arriving: it is the one that finds a second primary
    while the pooled clients are still attached to the first.
    """

    def __init__(self, hosts: list[str], port: int, experiment: str, connect_timeout_s: int = 2,
                 fresh: bool = False, names: dict[str, str] | None = None,
                 hosts_source: Callable[[], list[str]] | None = None):
        self.hosts = hosts
        # Where the servers are now, read (without I/O) before every new connection; None: the
        # given hosts are fixed. `names` may be a live mapping (IP -> pod) kept current elsewhere.
        self.hosts_source = hosts_source
        self._start = hosts[0] if hosts else None
        self.names = names or {}
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.conninfo = conninfo(hosts, port, connect_timeout_s)
        self.experiment = experiment
        self.fresh = fresh
        self._ops = 0
        self.conn: psycopg.Connection | None = None

    def _follow_hosts(self) -> None:
        """Rebuild the host list from the current IPs, keeping this client's starting server."""
        try:
            now = list(self.hosts_source())
        except Exception:
            return
        if not now or now == self.hosts:
            return
        start = self.names.get(self._start) if self._start else None
        first = next((i for i, ip in enumerate(now) if start is not None and self.names.get(ip) == start), 0)
        self.hosts = now[first:] + now[:first]
        self._start = self.hosts[0]
        self.conninfo = conninfo(self.hosts, self.port, self.connect_timeout_s)

    def _connect(self) -> psycopg.Connection:
        if self.hosts_source is not None and (self.fresh or self.conn is None or self.conn.closed):
            self._follow_hosts()
        if self.fresh:
            self.close()
            n = self._ops % len(self.hosts)
            self._ops += 1
            self.conninfo = conninfo(self.hosts[n:] + self.hosts[:n], self.port, self.connect_timeout_s)
        if self.conn is None or self.conn.closed:
            try:
                self.conn = psycopg.connect(self.conninfo, autocommit=True)
            except Exception as exc:  # nothing was sent: the write certainly did not happen
                raise DefiniteFailure(str(exc)) from exc
        return self.conn

    def write(self, value: int) -> str | None:
        conn = self._connect()
        try:
            row = conn.execute(
                f"INSERT INTO {PROBE_TABLE} (exp, id) VALUES (%s, %s) RETURNING host(inet_server_addr())",
                (self.experiment, value)).fetchone()
            return self.names.get(row[0], row[0]) if row else None
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            self.close()
            raise DefiniteFailure(str(exc)) from exc
        except BaseException:
            # Anything after the statement was sent is indeterminate: with synchronous
            # replication a commit can be durable locally and still not acknowledged.
            self.close()
            raise

    def abort(self) -> None:
        """Cut the socket without sending a cancel: a cancelled synchronous-replication wait
        returns success to the client for a commit that was never replicated."""
        conn = self.conn
        if conn is None:
            return
        try:
            fd = conn.pgconn.socket
        except Exception:
            return
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


class PostgresCluster(Steadiness):
    """Three PostgreSQL + repmgr pods, one per zone: started by the harness on the local platform,
    or the manifests' StatefulSet on a platform with deploy_stack."""

    name = "postgres"
    target_roles = ("primary", "standby")  # what targets() calls its pods
    leader_roles = ("primary",)
    failover_log = FAILOVER_LOG

    def __init__(self, platform, *, name: str = "postgres", port: int = 5432, sync: bool = True,
                 fence: bool = True, location_per_zone: bool = False, settings: Settings | None = None,
                 probe_workers: int = 3):
        self.platform = platform
        self.name = "postgres"
        self.deployment = name
        self.port = port
        base = settings or Settings()
        if not sync:
            base = Settings(**{**base.__dict__, "synchronous_standby_names": ""})
        if not fence:
            base = Settings(**{**base.__dict__, "fence_after_s": 0})
        if location_per_zone:
            base = Settings(**{**base.__dict__, "location_per_zone": True, "location": "<zone>"})
        self.settings = base
        self.probe_workers = probe_workers
        self.kube = on_manifest_platform(platform)
        if self.kube:
            variant = {k: v for k, v in (("name", name != "postgres"), ("port", port != 5432), ("sync", not sync),
                                         ("fence", not fence), ("location_per_zone", location_per_zone)) if v}
            if variant:
                raise InvalidConfig(f"PostgreSQL variant {sorted(variant)} cannot be deployed on {platform.name}: "
                                    "the manifests describe one cluster", field="deployment",
                                    fix="run the negative controls on the local platform")
            self.members = StackMembers(platform, self.name, port)
            self.settings, self.from_manifest = settings_from_manifest(base, self.name, MANIFEST_NAMES)
            self.nodes, self.pods, self.hosts = [], [], []
            self._ip_to_pod = self.members.known  # live: every IP each pod ever had
            return
        self.nodes = one_node_per_zone(platform, "PostgreSQL")
        self.pods = [f"{name}-{i}" for i in range(3)]
        self.hosts = [n.ip for n in self.nodes]
        self._ip_to_pod = dict(zip(self.hosts, self.pods))

    # --- lifecycle --------------------------------------------------------------------------

    def deploy(self, timeout_s: float = 120.0) -> dict[str, Any]:
        if self.kube:
            self.members.deploy(max(timeout_s, STACK_DEPLOY_TIMEOUT_S))
            self.pods = list(self.members.pods)
            seen = self.wait_steady(timeout_s)
            self._create_probe_table()
            return seen
        missing = prerequisites()
        if missing:
            raise MissingPrerequisite("; ".join(missing), field="postgres")
        for i, (pod, node) in enumerate(zip(self.pods, self.nodes)):
            pod_dir = self.platform.path(self.deployment, pod)
            shutil.copy(ENTRYPOINT, pod_dir / "entrypoint.sh")
            chown_tree(pod_dir, "postgres")
            s = self.settings
            env = {
                "HOME": str(pod_dir), "PG_BIN": PG_BIN, "PGDATA": str(pod_dir / "data"), "POD_DIR": str(pod_dir),
                "PG_PORT": str(self.port), "NODE_ID": str(i + 1), "NODE_NAME": pod, "NODE_HOST": node.ip,
                "PEERS": ",".join(self.hosts), "BOOTSTRAP_PRIMARY_ID": "1",
                "SYNC_STANDBY_NAMES": s.synchronous_standby_names,
                "REPMGR_LOCATION": node.zone if s.location_per_zone else s.location,
                "REPMGR_MONITOR_INTERVAL": str(s.monitor_interval_secs),
                "REPMGR_RECONNECT_ATTEMPTS": str(s.reconnect_attempts),
                "REPMGR_RECONNECT_INTERVAL": str(s.reconnect_interval),
                "FENCE_AFTER_S": str(s.fence_after_s), "RESUME_GRACE_S": str(s.resume_grace_s),
                "WAL_TIMEOUT_S": str(s.wal_sender_timeout_s),
                "PRIMARY_VISIBILITY_CONSENSUS": str(s.primary_visibility_consensus).lower(),
            }
            self.platform.start_pod(PodSpec(
                name=pod, component=self.name, node=node.name, user="postgres",
                argv=("/bin/bash", str(pod_dir / "entrypoint.sh")), env=env, port=self.port,
                termination_grace_s=10.0))
        seen = self.wait_steady(timeout_s)
        self._create_probe_table()
        return seen

    def remove(self) -> None:
        if self.kube:
            # Always removed (PVCs too), like the local pods: the next component gets the nodes,
            # and the next deploy bootstraps from fresh volumes.
            self.members.stop()
            self.platform.remove_stack(self.name)
            return
        for pod in self.pods:
            self.platform.remove_pod(pod)

    def _hosts_now(self, fresh: bool = True) -> list[str]:
        """The servers' IPs: fixed on the local platform; on kube read now (fresh) or as last read."""
        return self.members.ips(fresh) if self.kube else self.hosts

    def _create_probe_table(self) -> None:
        with self._connect_rw(10.0) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (exp text NOT NULL, id bigint NOT NULL, "
                         "at timestamptz NOT NULL DEFAULT clock_timestamp())")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {PROBE_TABLE}_exp ON {PROBE_TABLE} (exp)")

    def _connect_rw(self, timeout_s: float) -> psycopg.Connection:
        try:
            return retry_until(lambda: psycopg.connect(conninfo(self._hosts_now(), self.port), autocommit=True),
                               timeout_s, poll_s=0.2)
        except TimeoutError as exc:
            raise HarnessError(f"no read-write PostgreSQL server reachable: {exc}") from exc

    # --- roles and steadiness -----------------------------------------------------------------

    def _node_status(self, ip: str) -> dict[str, Any]:
        try:
            with psycopg.connect(host=ip, port=self.port, dbname="postgres", user="postgres",
                                 connect_timeout=1, autocommit=True) as conn:
                in_recovery = conn.execute("select pg_is_in_recovery()").fetchone()[0]
                status: dict[str, Any] = {"role": "standby" if in_recovery else "primary"}
                if in_recovery:
                    row = conn.execute("select status, sender_host from pg_stat_wal_receiver").fetchone()
                    status["receiver"] = row[0] if row else None
                    status["upstream"] = row[1] if row else None
                else:
                    rows = conn.execute(
                        "select application_name, state, sync_state, "
                        "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) from pg_stat_replication").fetchall()
                    status["replicas"] = [{"name": r[0], "state": r[1], "sync": r[2],
                                           "replay_lag_bytes": None if r[3] is None else int(r[3])} for r in rows]
                return status
        except Exception as exc:
            return {"role": "unknown", "error": str(exc).strip().splitlines()[0][:120] if str(exc) else type(exc).__name__}

    def status(self) -> dict[str, dict[str, Any]]:
        if self.kube:
            now, running = self.members.read(), self.members.running()
            return {pod: {**(self._node_status(now[pod]) if pod in now else {"role": "unknown", "error": "no pod IP"}),
                          "ip": now.get(pod), "running": running.get(pod, False)} for pod in self.members.pods}
        return {pod: {**self._node_status(ip), "running": self.platform.pod_running(pod)}
                for pod, ip in zip(self.pods, self.hosts)}

    def targets(self) -> list[Target]:
        if self.kube:
            now, where = self.members.read(), self.members.placement()
            return [Target(pod=pod, node=where.get(pod, ("", ""))[0], zone=where.get(pod, ("", ""))[1],
                           role=self._node_status(now[pod])["role"] if pod in now else "unknown")
                    for pod in self.members.pods]
        out = []
        for pod, node in zip(self.pods, self.nodes):
            out.append(Target(pod=pod, node=node.name, zone=node.zone, role=self._node_status(node.ip)["role"]))
        return out

    def explain(self, seen: dict[str, Any]) -> str:
        if self.kube:
            return f"status {seen['pods']}; hint: {self.logs_hint()}"
        return (f"status {seen['pods']}; last log lines:\n{self.log_tail()}"
                f"\nhint: the pod logs are in {self.platform.log_path(self.pods[0]).parent}")

    def _is_upstream(self, upstream: str | None, pod: str, ip: str | None) -> bool:
        """Does a standby's sender_host name this pod? An IP on the local platform; on kube the
        peers may name each other by DNS name (<pod>.<service>...) or by IP."""
        if upstream is None:
            return False
        if upstream == ip:
            return True
        return self.kube and (upstream.split(".")[0] == pod or self.members.pod_of(upstream) == pod)

    def steady(self) -> tuple[bool, dict[str, Any]]:
        st = self.status()
        primaries = [p for p, s in st.items() if s["role"] == "primary"]
        problems = []
        if len(primaries) != 1:
            problems.append(f"{len(primaries)} primaries")
        else:
            primary_ip = st[primaries[0]].get("ip") if self.kube else self.hosts[self.pods.index(primaries[0])]
            reps = st[primaries[0]].get("replicas", [])
            # Caught up: streaming, and replaying WAL close to the primary's position (a standby
            # stuck on a forked timeline connects and streams nothing).
            streaming = {r["name"] for r in reps if r["state"] == "streaming"
                         and r["replay_lag_bytes"] is not None and r["replay_lag_bytes"] < 4 * 1024 * 1024}
            if self.kube:  # application_name may be the pod's DNS name there
                streaming |= {str(name).split(".")[0] for name in streaming}
            lagging = [p for p in self.pods if p != primaries[0] and p not in streaming]
            if lagging:
                problems.append(f"not streaming and caught up: {', '.join(lagging)}")
            if self.settings.synchronous_standby_names and not any(r["sync"] in ("sync", "quorum") for r in reps):
                problems.append("no synchronous standby")
            for pod, s in st.items():
                if pod != primaries[0] and (s["role"] != "standby"
                                            or not self._is_upstream(s.get("upstream"), primaries[0], primary_ip)):
                    problems.append(f"{pod} is {s['role']} following {s.get('upstream')}")
        return (not problems), {"pods": st, "problems": problems}

    def log_tail(self, lines: int = 8) -> str:
        out = []
        for pod in self.pods:
            path = self.platform.log_path(pod)
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                tail = ["(no log)"]
            out.append(f"[{pod}]\n  " + "\n  ".join(tail))
        return "\n".join(out)

    # --- probe and verification ----------------------------------------------------------------

    def clients(self, experiment: str) -> list[PgClient]:
        # Pooled clients each start their host list at a different server; one more client
        # connects afresh for every write, rotating the first host. If two servers accept writes
        # as primary at once, the fresh client sees both: that is split brain.
        if self.kube:
            # Current IPs now, and after every reconnect (a replaced pod has a new IP).
            self.members.watch()
            hosts = self._hosts_now()
            n = len(hosts)
            source = lambda: self._hosts_now(fresh=False)  # noqa: E731
            pooled = [PgClient(hosts[i % n:] + hosts[:i % n], self.port, experiment, self.settings.connect_timeout_s,
                               names=self._ip_to_pod, hosts_source=source) for i in range(self.probe_workers)]
            return pooled + [PgClient(hosts, self.port, experiment, self.settings.connect_timeout_s, fresh=True,
                                      names=self._ip_to_pod, hosts_source=source)]
        n = len(self.hosts)
        pooled = [PgClient(self.hosts[i % n:] + self.hosts[:i % n], self.port, experiment,
                           self.settings.connect_timeout_s, names=self._ip_to_pod) for i in range(self.probe_workers)]
        return pooled + [PgClient(self.hosts, self.port, experiment, self.settings.connect_timeout_s, fresh=True,
                                  names=self._ip_to_pod)]

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        return Probe(timeline, self.clients(experiment), interval_s=interval_s, op_timeout_s=1.0)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        """Every id present for this experiment on the current primary (None if unreadable)."""
        try:
            with self._connect_rw(timeout_s) as conn:
                return [r[0] for r in conn.execute(f"SELECT id FROM {PROBE_TABLE} WHERE exp = %s", (experiment,))]
        except Exception:
            return None

    def config(self) -> dict[str, Any]:
        s = self.settings
        out = {**s.__dict__, "replicas": len(self.pods), "port": self.port,
               "probe_workers": self.probe_workers, "probe_fresh_connection_workers": 1,
               "probe_op_timeout_s": 1.0}
        if self.kube:
            out.update(manifests=str(manifest_dir(self.name)), from_manifest=self.from_manifest,
                       pods=list(self.pods))
        return out
