"""A stand-in for ClickHouse's HTTP interface over a real ClickHouse SQL engine (chdb).

No ClickHouse server recent enough runs on these machines (Debian's 18.16 is too old; the
official binaries come from no registry we may use), but chdb (PyPI `chdb-core`) embeds the
ClickHouse engine in-process, without a server. This module puts the part of the HTTP interface
the harness's probe uses in front of a chdb session:

- POST or GET on / with the statement in the `query` URL parameter, the body appended to it (the
  data of an INSERT ... FORMAT), or the statement in the body when there is no `query`;
- every other URL parameter that is not an HTTP-handler option (database, default_format,
  query_id, user, password, wait_end_of_query, param_*...) is a setting for that statement only
  (applied with SET before it and reset with SET ... = DEFAULT after; an unknown setting is
  ClickHouse's own UNKNOWN_SETTING error);
- answers: 200 with the result (default format TabSeparated, or the query's FORMAT clause,
  e.g. JSONEachRow), X-ClickHouse-Query-Id, X-ClickHouse-Format and X-ClickHouse-Summary
  headers; on an error the engine's exception text ("Code: N. DB::Exception: ...") with
  X-ClickHouse-Exception-Code and HTTP 500 (400 for syntax errors, 404 for unknown tables or
  databases, as ClickHouse maps them); GET /ping answers "Ok.".

What it is not: authentication is not checked, GET is not made read-only, and there is no
replication: ReplicatedMergeTree, insert_quorum, ZooKeeper sessions and replica leadership are
not exercised (no Keeper here; insert_quorum is accepted and ignored on MergeTree, as
ClickHouse does). Several `StandInServer`s on one `ChdbEngine` act as several hosts serving
the same data. Statements run one at a time (one lock): chdb allows one session per process.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ChdbEngine", "StandInServer", "missing", "HANDLER_PARAMS"]

# URL parameters the HTTP handler itself reads; everything else is a setting.
HANDLER_PARAMS = {"query", "database", "default_format", "query_id", "session_id", "session_timeout",
                  "session_check", "user", "password", "quota_key", "wait_end_of_query", "buffer_size",
                  "compress", "decompress", "enable_http_compression", "http_zlib_compression_level"}
STATUS_OF_CODE = {62: 400, 60: 404, 81: 404, 516: 401}


def missing() -> list[str]:
    import importlib.util

    if importlib.util.find_spec("chdb") is None:
        return ["python module chdb (chdb-core) missing (fix: pip install chdb-core==26.9.0)"]
    return []


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ChdbEngine:
    """One chdb session on a data directory (a temporary one by default), one statement at a time."""

    def __init__(self, path: Path | None = None):
        from chdb import session

        self._own = path is None
        self.path = Path(path) if path else Path(tempfile.mkdtemp(prefix="chdb-standin-"))
        self.session = session.Session(str(self.path))
        self.lock = threading.Lock()
        self.statements = 0

    def execute(self, sql: str, settings: dict[str, str], fmt: str = "TabSeparated") -> tuple[bytes, dict]:
        """Run one statement with per-statement settings; (output, summary). Raises the engine's error."""
        for name in settings:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)")
        with self.lock:
            applied = []
            try:
                for name, value in settings.items():
                    self.session.query(f"SET {name} = {_literal(value)}")
                    applied.append(name)
                started = time.monotonic()
                result = self.session.query(sql, fmt)
                self.statements += 1
                summary = {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                           "written_rows": str(result.rows_written()), "elapsed_ns":
                           str(int((time.monotonic() - started) * 1e9))}
                return result.bytes(), summary
            finally:
                for name in applied:
                    self.session.query(f"SET {name} = DEFAULT")

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            if self._own:
                shutil.rmtree(self.path, ignore_errors=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, fmt, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if url.path in ("/ping",) or (url.path == "/" and not url.query and not body):
            return self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        sql = params.get("query", "")
        sql = f"{sql}\n{body}" if sql and body else (sql or body)
        fmt = params.get("default_format", "TabSeparated")
        settings = {k: v for k, v in params.items() if k not in HANDLER_PARAMS and not k.startswith("param_")}
        query_id = params.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Server-Display-Name": self.server.display_name}
        self.server.requests += 1
        try:
            out, summary = self.server.engine.execute(sql, settings, fmt)
        except Exception as exc:
            text = str(exc).strip()
            m = re.search(r"Code: (\d+)\.", text)
            code = int(m.group(1)) if m else 1000
            return self._send(STATUS_OF_CODE.get(code, 500), (text + "\n").encode(),
                              {**headers, "X-ClickHouse-Exception-Code": str(code),
                               "Content-Type": "text/plain; charset=UTF-8"})
        self._send(200, out, {**headers, "X-ClickHouse-Format": fmt, "X-ClickHouse-Summary": json.dumps(summary),
                              "Content-Type": "text/tab-separated-values; charset=UTF-8"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, engine: ChdbEngine, display_name: str):
        self.engine = engine
        self.display_name = display_name
        self.requests = 0
        super().__init__(addr, _Handler)


class StandInServer:
    """One stand-in "host": an HTTP listener on 127.0.0.1:port in front of `engine`. stop()
    closes the listener (connections are then refused), like a stopped server; start() again
    listens on the same port."""

    def __init__(self, engine: ChdbEngine, port: int = 0, name: str = "chdb"):
        self.engine = engine
        self.port = port
        self.name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return self._server.requests if self._server else 0

    def start(self) -> "StandInServer":
        self._server = _Server(("127.0.0.1", self.port), self.engine, self.name)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"clickhouse-standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
