"""ClickHouse: three replicas of one ReplicatedMergeTree table coordinated through ZooKeeper,
deployed from fixtures/kind/clickhouse on a manifest-deployed platform (kind); there is no
local-platform deployment (no ClickHouse server recent enough runs from Debian's packages).

The probe speaks ClickHouse's HTTP interface (port 8123) directly: clickhouse-connect has no
multi-host failover, so each worker POSTs its INSERT to one replica and, on an error, retries
the same insert on the next replica within the operation's deadline. Every insert carries
insert_quorum (2 of 3: acknowledged only once two replicas have the part),
insert_quorum_timeout, and insert_deduplication_token = "<experiment>:<value>", so a retry of an
insert whose first attempt did commit is deduplicated by ClickHouse rather than written twice.
Acknowledged = HTTP 200 (with wait_end_of_query=1, so the status reflects the outcome).
The verification counts the rows per id (select_sequential_consistency=1: only quorum-complete
data); an id counted twice is a duplicate.

Roles: every pod is a "replica"; a replica whose system.replicas row has is_leader = 1 (replicas
that may assign merges; several can lead at once) is also offered as "leader". Steady: every
replica answers, none is read-only (lost its ZooKeeper session), all are active, and each is
at most max_replica_delay_s behind.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import InvalidConfig, NotSteady
from ..probe import DEFAULT_INTERVAL_S, DefiniteFailure, Probe
from ..timeline import Timeline
from ..waits import retry_until
from .base import Steadiness, Target, require_manifest_platform

__all__ = ["ClickHouseCluster", "ClickHouseClient", "Settings", "ClickHouseError", "ConnectFailed", "prerequisites", "query",
           "parse_exception_code", "is_definite_code", "parse_replicas", "replica_state", "role_of",
           "sql_string", "table_ddl", "replicated_engine", "read_ids", "insert_params", "HTTP_PORT", "TABLE"]

HTTP_PORT = 8123
# The probe's own table (the manifests' schema.sql makes chaos.probe, without an experiment
# column, for other uses): created by the component on every replica, idempotently.
TABLE = "chaos.probe_writes"

# Errors raised before anything is written: the insert certainly did not happen.
DEFINITE_CODES = {
    60: "UNKNOWN_TABLE", 62: "SYNTAX_ERROR", 81: "UNKNOWN_DATABASE", 115: "UNKNOWN_SETTING",
    164: "READONLY", 192: "UNKNOWN_USER", 193: "WRONG_PASSWORD", 202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    225: "NO_ZOOKEEPER", 242: "TABLE_IS_READ_ONLY", 285: "TOO_FEW_LIVE_REPLICAS",
    286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE", 516: "AUTHENTICATION_FAILED",
}
# Everything else is indeterminate, notably 159 TIMEOUT_EXCEEDED (the quorum was not reached in
# time: the part may still be written and replicated), 319 UNKNOWN_STATUS_OF_INSERT and 999
# KEEPER_EXCEPTION (the session was lost during the commit).


def prerequisites() -> list[str]:
    return []  # the probe needs only the standard library


class ClickHouseError(Exception):
    """An HTTP answer other than 200: the status, ClickHouse's error code and its text."""

    def __init__(self, status: int, code: int | None, text: str):
        self.status, self.code, self.text = status, code, text
        super().__init__(f"HTTP {status}, code {code}: {text.strip()[:300]}")


def parse_exception_code(text: str, header: str | None = None) -> int | None:
    """ClickHouse's error code: the X-ClickHouse-Exception-Code header, else `Code: N.` in the body."""
    if header and header.strip().isdigit():
        return int(header.strip())
    m = re.search(r"Code: (\d+)\.", text)
    return int(m.group(1)) if m else None


def is_definite_code(code: int | None) -> bool:
    return code in DEFINITE_CODES


def sql_string(value: str) -> str:
    """A ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def replicated_engine() -> str:
    """One replica per pod: the ZooKeeper path and replica name come from the servers' macros
    (fixtures/kind/clickhouse: shard 01, replica = the pod's name)."""
    return "ReplicatedMergeTree('/clickhouse/tables/{shard}/chaos/probe_writes', '{replica}')"


def table_ddl(engine: str, dedup_window: int = 100000) -> list[str]:
    """The probe's database and table. The deduplication window (blocks remembered for
    insert_deduplication_token) is set on the table, for either engine family."""
    window = ("replicated_deduplication_window" if engine.startswith("Replicated")
              else "non_replicated_deduplication_window")
    return ["CREATE DATABASE IF NOT EXISTS chaos",
            f"CREATE TABLE IF NOT EXISTS {TABLE} (experiment String, id UInt64, host String, "
            f"at DateTime64(3) DEFAULT now64(3)) ENGINE = {engine} ORDER BY (experiment, id) "
            f"SETTINGS {window} = {dedup_window}"]


def insert_params(token: str, quorum: int, quorum_timeout_ms: int) -> dict[str, str]:
    """URL parameters of one probe insert (ClickHouse takes settings as URL parameters)."""
    return {"insert_quorum": str(quorum), "insert_quorum_timeout": str(quorum_timeout_ms),
            "insert_deduplication_token": token, "wait_end_of_query": "1"}


class ConnectFailed(ConnectionError):
    """No connection could be made: nothing was sent."""


class _Http:
    """One POST over a fresh connection, abortable from another thread."""

    def __init__(self, user: str = "default", password: str = ""):
        self.user, self.password = user, password
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    def post(self, endpoint: str, sql: str, params: Mapping[str, str] | None = None, body: bytes = b"", *,
             connect_timeout_s: float = 0.5, timeout_s: float = 5.0) -> str:
        host, _, port = endpoint.rpartition(":")
        url = "/?" + urllib.parse.urlencode({"query": sql, **(params or {})})
        conn = http.client.HTTPConnection(host, int(port), timeout=connect_timeout_s)
        with self._lock:
            self._conn = conn
        try:
            try:
                conn.connect()
            except OSError as exc:
                raise ConnectFailed(f"{endpoint}: {type(exc).__name__}: {exc}") from exc
            conn.sock.settimeout(max(0.05, timeout_s))
            conn.request("POST", url, body=body, headers={
                "X-ClickHouse-User": self.user, "X-ClickHouse-Key": self.password,
                "Content-Type": "text/plain; charset=utf-8"})
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            if resp.status != 200:
                raise ClickHouseError(resp.status, parse_exception_code(text, resp.getheader("X-ClickHouse-Exception-Code")),
                                      text)
            return text
        finally:
            with self._lock:
                self._conn = None
            conn.close()

    def abort(self) -> None:
        with self._lock:
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def query(endpoint: str, sql: str, params: Mapping[str, str] | None = None, body: bytes = b"", *,
          timeout_s: float = 5.0, user: str = "default", password: str = "") -> str:
    """Run one statement over HTTP; the body of the answer (raises ClickHouseError or OSError)."""
    return _Http(user, password).post(endpoint, sql, params, body, connect_timeout_s=min(1.0, timeout_s),
                                      timeout_s=timeout_s)


# -- roles -----------------------------------------------------------------------------------

REPLICAS_SQL = ("SELECT database, table, replica_name, is_leader, is_readonly, is_session_expired, "
                "absolute_delay, queue_size, total_replicas, active_replicas FROM system.replicas "
                "WHERE database = 'chaos' AND table = 'probe_writes' FORMAT JSONEachRow")
_INT_FIELDS = ("is_leader", "is_readonly", "is_session_expired", "absolute_delay", "queue_size", "total_replicas",
               "active_replicas")


def parse_replicas(text: str) -> list[dict[str, Any]]:
    """Rows of system.replicas in JSONEachRow. With output_format_json_quote_64bit_integers on
    (the default of older servers) ClickHouse quotes UInt64 values (absolute_delay: "3"), so
    integer fields are normalised to int."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        for k in _INT_FIELDS:
            if k in row:
                row[k] = int(row[k])
        rows.append(row)
    return rows


def replica_state(rows: Sequence[Mapping[str, Any]], table: str = TABLE) -> dict[str, Any]:
    """The probe table's row of one replica's system.replicas, as facts; ValueError if absent."""
    db, _, name = table.partition(".")
    for r in rows:
        if r.get("database") == db and r.get("table") == name:
            return {"replica": r.get("replica_name"), "leader": bool(r.get("is_leader")),
                    "readonly": bool(r.get("is_readonly")), "session_expired": bool(r.get("is_session_expired")),
                    "absolute_delay_s": int(r.get("absolute_delay", 0)), "queue_size": int(r.get("queue_size", 0)),
                    "total_replicas": int(r.get("total_replicas", 0)),
                    "active_replicas": int(r.get("active_replicas", 0))}
    raise ValueError(f"no row for {table} in system.replicas")


def role_of(state: Mapping[str, Any] | None) -> str:
    """"leader" / "replica" for an answering replica, "readonly" when it lost ZooKeeper,
    "unknown" when it did not answer."""
    if not state:
        return "unknown"
    if state["readonly"]:
        return "readonly"
    return "leader" if state["leader"] else "replica"


def read_ids(endpoint: str, experiment: str, timeout_s: float = 10.0, **auth: str) -> list[int]:
    """Every id the experiment wrote, once per row (an id twice is a duplicate)."""
    text = query(endpoint, f"SELECT id, count() FROM {TABLE} WHERE experiment = {sql_string(experiment)} "
                           "GROUP BY id ORDER BY id FORMAT TabSeparated",
                 {"select_sequential_consistency": "1"}, timeout_s=timeout_s, **auth)
    out: list[int] = []
    for line in text.splitlines():
        if line.strip():
            ident, count = line.split("\t")
            out += [int(ident)] * int(count)
    return out


# -- probe -----------------------------------------------------------------------------------

class ClickHouseClient:
    """One probe worker: INSERTs one row per value over HTTP, rotating replicas on errors and
    retrying with the same deduplication token within the operation's deadline."""

    def __init__(self, endpoints: Sequence[tuple[str, str]], experiment: str, settings: "Settings", *,
                 op_timeout_s: float, start: int = 0):
        if not endpoints:
            raise InvalidConfig("no ClickHouse endpoints", field="clickhouse")
        self.endpoints = list(endpoints)  # (name, "ip:port")
        self.experiment = experiment
        self.settings = settings
        self.op_timeout_s = op_timeout_s
        self.i = start % len(self.endpoints)
        self.http = _Http(settings.user, settings.password)
        self.aborted = False

    def write(self, value: int) -> tuple[None, dict[str, Any]]:
        s = self.settings
        params = insert_params(f"{self.experiment}:{value}", s.insert_quorum, s.insert_quorum_timeout_ms)
        sql = f"INSERT INTO {TABLE} (experiment, id, host) FORMAT TabSeparated"
        deadline = time.monotonic() + self.op_timeout_s
        self.aborted = False
        errors: list[str] = []
        indeterminate = False
        for attempt in range(len(self.endpoints)):  # each replica at most once per write
            name, endpoint = self.endpoints[self.i]
            left = deadline - time.monotonic()
            if left <= 0.05 or self.aborted:
                break
            body = f"{self.experiment}\t{value}\t{name}\n".encode()
            try:
                self.http.post(endpoint, sql, params, body, connect_timeout_s=min(s.connect_timeout_s, left),
                               timeout_s=left)
                return None, {"server": name, **({"attempts": attempt + 1} if attempt else {})}
            except ConnectFailed as exc:  # refused or silent: nothing was sent
                errors.append(f"{name}: {exc.__cause__ or exc}")
            except ClickHouseError as exc:
                indeterminate |= not is_definite_code(exc.code)
                errors.append(f"{name}: code {exc.code}: {exc.text.strip().splitlines()[0][:160] if exc.text.strip() else ''}")
            except OSError as exc:  # read timeout, reset, broken pipe: the request was sent
                indeterminate = True
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
            self.i = (self.i + 1) % len(self.endpoints)
        message = "; ".join(errors) or "deadline passed before an attempt"
        if indeterminate:
            raise RuntimeError(message)
        raise DefiniteFailure(message)

    def abort(self) -> None:
        self.aborted = True
        self.http.abort()

    def close(self) -> None:
        self.abort()


# -- component -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    replicas: int = 3
    insert_quorum: int = 2
    insert_quorum_timeout_ms: int = 10000
    # What the manifests give the servers (fixtures/kind/clickhouse): ZooKeeper session timeout.
    keeper_session_timeout_ms: int = 10000
    connect_timeout_s: float = 0.5
    max_replica_delay_s: int = 5
    dedup_window: int = 100000
    # None: ReplicatedMergeTree, one replica per pod; another engine only for tests.
    engine: str | None = None
    user: str = "default"
    password: str = field(default="", repr=False)

    def op_timeout_s(self) -> float:
        # An insert may wait the whole quorum timeout, then one retry on another replica.
        return self.insert_quorum_timeout_ms / 1000 + 2.0


class ClickHouseCluster(Steadiness):
    """Three ClickHouse replicas deployed from fixtures/kind/clickhouse by a manifest-deployed
    platform (ZooKeeper, its dependency, first)."""

    name = "clickhouse"
    target_roles = ("replica", "leader")  # what targets() calls its pods
    steady_poll_s = 0.5

    def __init__(self, platform, *, name: str = "clickhouse", settings: Settings | None = None,
                 probe_workers: int = 3):
        require_manifest_platform(platform, "ClickHouse")
        self.platform = platform
        self.deployment = name
        self.settings = settings or Settings()
        self.probe_workers = probe_workers
        self.pods: list[str] = []
        self.endpoints: list[tuple[str, str]] = []  # (pod, "ip:8123")

    @property
    def _auth(self) -> dict[str, str]:
        return {"user": self.settings.user, "password": self.settings.password}

    def _refresh(self) -> None:
        found = self.platform.endpoints(self.name, HTTP_PORT)
        self.endpoints = [(pod, f"{ip}:{port}") for pod, ip, port in found]
        self.pods = [pod for pod, _ep in self.endpoints]

    def deploy(self, timeout_s: float = 300.0) -> dict[str, Any]:
        self.platform.deploy_stack(self.name, timeout_s=timeout_s)
        self._refresh()
        self.create_tables(min(120.0, timeout_s))
        return self.wait_steady(timeout_s)

    def create_tables(self, timeout_s: float = 60.0) -> None:
        """The probe's table on every replica (idempotent)."""
        def create(pod: str, endpoint: str) -> None:
            engine = self.settings.engine or replicated_engine()
            for sql in table_ddl(engine, self.settings.dedup_window):
                query(endpoint, sql, timeout_s=30.0, **self._auth)

        for pod, endpoint in self.endpoints:
            try:
                retry_until(lambda: create(pod, endpoint), timeout_s, poll_s=1.0)
            except TimeoutError as exc:
                raise NotSteady(f"{self.deployment}: could not create {TABLE} on {pod}: {exc}",
                                [f"no table on {pod}"]) from exc

    def remove(self) -> None:
        self.platform.remove_stack(self.name)

    def status(self) -> dict[str, dict[str, Any]]:
        """Each replica's state ({"state": facts} or {"state": None, "error": why})."""
        self._refresh()
        out: dict[str, dict[str, Any]] = {}
        for pod, endpoint in self.endpoints:
            try:
                out[pod] = {"state": replica_state(parse_replicas(query(endpoint, REPLICAS_SQL, timeout_s=2.0,
                                                                        **self._auth)))}
            except (OSError, ClickHouseError, ValueError) as exc:
                out[pod] = {"state": None, "error": str(exc)[:160]}
        return out

    def targets(self) -> list[Target]:
        st = self.status()
        out = []
        for p in sorted(self.platform.pods(self.name), key=lambda p: p.name):
            out.append(Target(pod=p.name, node=p.node or "", zone=p.zone or "", role="replica"))
            if role_of(st.get(p.name, {}).get("state")) == "leader":
                out.append(Target(pod=p.name, node=p.node or "", zone=p.zone or "", role="leader"))
        return out

    def steady(self) -> tuple[bool, dict[str, Any]]:
        st = self.status()
        s = self.settings
        problems = []
        if len(self.endpoints) != s.replicas:
            problems.append(f"{len(self.endpoints)} of {s.replicas} replicas have endpoints")
        for pod, _ep in self.endpoints:
            state = st.get(pod, {}).get("state")
            if state is None:
                problems.append(f"{pod} does not answer ({st.get(pod, {}).get('error')})")
            elif state["readonly"]:
                problems.append(f"{pod} is read-only (no ZooKeeper session)")
            elif state["absolute_delay_s"] > s.max_replica_delay_s:
                problems.append(f"{pod} is {state['absolute_delay_s']} s behind")
            elif state["active_replicas"] != s.replicas:
                problems.append(f"{pod} sees {state['active_replicas']} of {s.replicas} replicas active")
        return not problems, {"replicas": st, "problems": problems}

    def explain(self, seen: dict[str, Any]) -> str:
        return (f"replicas {seen.get('replicas')}; see `kubectl -n chaos-stack logs -l "
                "app.kubernetes.io/name=clickhouse`")

    def probe(self, timeline: Timeline, experiment: str, interval_s: float = DEFAULT_INTERVAL_S) -> Probe:
        self._refresh()
        op_timeout_s = self.settings.op_timeout_s()
        clients = [ClickHouseClient(self.endpoints, experiment, self.settings, op_timeout_s=op_timeout_s, start=i)
                   for i in range(self.probe_workers)]
        return Probe(timeline, clients, interval_s=interval_s, op_timeout_s=op_timeout_s + 0.5)

    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[int] | None:
        self._refresh()
        turn = iter(range(10**6))

        def attempt() -> list[int]:
            _pod, endpoint = self.endpoints[next(turn) % len(self.endpoints)]
            return read_ids(endpoint, experiment, timeout_s=10.0, **self._auth)

        try:
            return retry_until(attempt, timeout_s)
        except TimeoutError:
            return None

    def config(self) -> dict[str, Any]:
        s = self.settings
        return {**{k: v for k, v in asdict(s).items() if k != "password"},
                "engine": s.engine or replicated_engine(), "table": TABLE,
                "op_timeout_s": s.op_timeout_s(), "probe_workers": self.probe_workers,
                "insert": {"insert_quorum": s.insert_quorum, "insert_quorum_timeout": s.insert_quorum_timeout_ms,
                           "insert_deduplication_token": "<experiment>:<value>", "wait_end_of_query": 1,
                           "rotate_hosts_on_error": True},
                "verify": {"select_sequential_consistency": 1}}
