"""An on-disk record of every change the harness makes, written before the change is applied,
so that `chaos heal` (and the start of every run) can undo what a crashed run left behind.

Each run owns one append-only JSON-lines file. A record names how to undo one change; when the
change is undone in the normal way a `resolved` record follows. Healing a dead run executes the
unresolved undo actions newest first. Every undo action is idempotent, so healing twice is safe.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ._run import proc_stat
from .errors import HealError

__all__ = ["Ledger", "Undo", "default_state_dir", "new_run_id", "heal_stale", "UNDO_ACTIONS"]

# Undo actions by name; each takes the record's `args` dict. Platforms register theirs at import.
UNDO_ACTIONS: dict[str, Callable[[dict[str, Any]], None]] = {}


def undo_action(name: str):
    def register(fn: Callable[[dict[str, Any]], None]):
        UNDO_ACTIONS[name] = fn
        return fn

    return register


def default_state_dir() -> Path:
    return Path(os.environ.get("CHAOS_STATE_DIR", "/var/lib/chaos-harness"))


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Undo:
    key: int
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    what: str = ""


def _proc_start_time(pid: int) -> str | None:
    """Start time of a process in clock ticks, to tell a live owner from a reused pid."""
    fields = proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


_OPEN_HERE: set[str] = set()  # paths of the ledgers this process has open


class Ledger:
    """The ledger of one run. Use `record()` before applying a change and `resolve()` after
    undoing it."""

    def __init__(self, run_id: str, state_dir: Path | None = None):
        self.run_id = run_id
        self.dir = (state_dir or default_state_dir()) / "ledger"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{run_id}.jsonl"
        # Reopening a run's ledger continues its keys, so earlier records keep their own.
        self._next = max((r.get("key", 0) for r in read_records(self.path) if r.get("type") == "undo"),
                         default=0) if self.path.exists() else 0
        if not self.path.exists():
            self._append({"type": "owner", "run_id": run_id, "pid": os.getpid(),
                          "start": _proc_start_time(os.getpid()), "t": time.time()})
        _OPEN_HERE.add(os.path.abspath(self.path))

    def _append(self, rec: dict[str, Any]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def record(self, action: str, what: str = "", **args: Any) -> Undo:
        """Write down how to undo a change, before making it."""
        if action not in UNDO_ACTIONS:
            raise KeyError(f"unknown undo action {action!r}")
        self._next += 1
        undo = Undo(self._next, action, args, what)
        self._append({"type": "undo", "key": undo.key, "action": action, "args": args, "what": what})
        return undo

    def resolve(self, undo: Undo) -> None:
        self._append({"type": "resolved", "key": undo.key})

    def undo(self, undo: Undo) -> None:
        """Run one undo action now and mark it resolved."""
        UNDO_ACTIONS[undo.action](undo.args)
        self.resolve(undo)

    def close(self) -> None:
        """The run ended cleanly: everything was undone; drop the file."""
        _OPEN_HERE.discard(os.path.abspath(self.path))
        pending = pending_undos(self.path)
        if pending:
            # Leave the file for `chaos heal`; it names what is still applied.
            return
        self.path.unlink(missing_ok=True)


def read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line from a crash: everything before it is still valid.
                continue
    return records


def pending_undos(path: Path) -> list[Undo]:
    undos: dict[int, Undo] = {}
    for rec in read_records(path):
        if rec.get("type") == "undo":
            undos[rec["key"]] = Undo(rec["key"], rec["action"], rec.get("args", {}), rec.get("what", ""))
        elif rec.get("type") == "resolved":
            undos.pop(rec["key"], None)
    return sorted(undos.values(), key=lambda u: u.key, reverse=True)


def owner_alive(path: Path) -> bool:
    """Is the run that owns this ledger still running? A ledger of this very process counts as
    alive only while it is open here (a kind cluster's record beside its platform's ledger);
    one left behind by an earlier run in this process is a leftover like any other."""
    for rec in read_records(path):
        if rec.get("type") == "owner":
            pid = rec.get("pid")
            if pid == os.getpid():
                return _proc_start_time(pid) == rec.get("start") and os.path.abspath(path) in _OPEN_HERE
            return bool(pid) and _proc_start_time(pid) == rec.get("start")
    return False


PLATFORM_MODULES = ("chaos.platforms.local", "chaos.platforms.kube", "chaos.platforms.kind_nodes",
                    "chaos.platforms.kind")


def _register_platform_undo_actions() -> None:
    """A crashed run may have used any platform: load every platform's undo actions (the modules
    import their clients lazily, so this needs none of them installed)."""
    import importlib

    for module in PLATFORM_MODULES:
        importlib.import_module(module)


def heal_stale(state_dir: Path | None = None, *, force: bool = False, log=print) -> list[str]:
    """Undo everything left by runs whose process is gone. Returns what was undone.

    A run whose process is still alive is skipped unless `force`: it is healing itself.
    """
    ledger_dir = (state_dir or default_state_dir()) / "ledger"
    if not ledger_dir.is_dir():
        return []
    _register_platform_undo_actions()
    done: list[str] = []
    errors: list[str] = []
    for path in sorted(ledger_dir.glob("*.jsonl")):
        if owner_alive(path) and not force:
            log(f"skipping run {path.stem}: its process is still running (use --force to heal it anyway)")
            continue
        failed = False
        for undo in pending_undos(path):
            action = UNDO_ACTIONS.get(undo.action)
            if action is None:
                errors.append(f"{path.stem}: no undo action named {undo.action!r}")
                failed = True
                continue
            try:
                action(undo.args)
                done.append(f"{path.stem}: {undo.what or undo.action}")
            except Exception as exc:  # keep going: heal as much as possible, report the rest
                errors.append(f"{path.stem}: {undo.what or undo.action}: {exc}")
                failed = True
        if not failed:
            path.unlink(missing_ok=True)
    if errors:
        raise HealError("could not heal everything: " + "; ".join(errors))
    return done
