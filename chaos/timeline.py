"""An append-only history of frozen events on one monotonic clock.

Probes and faults record into the same Timeline; checkers read a snapshot of it.
Times are seconds since the timeline started (time.monotonic based), never wall clock.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

__all__ = ["Event", "Timeline", "INVOKE", "OK", "FAIL", "INFO", "NEMESIS", "PHASE", "SESSION", "load_jsonl", "to_jsonl"]

# Event kinds. A probe operation is an INVOKE followed by exactly one completion:
# OK (it took effect and was acknowledged), FAIL (it certainly did not take effect) or
# INFO (indeterminate: it may or may not have taken effect, e.g. a timeout during commit).
INVOKE = "invoke"
OK = "ok"
FAIL = "fail"
INFO = "info"
# Fault actions (op = "inject" / "heal" / "proof") and run phases (op = "warmup", "observe"...).
NEMESIS = "nemesis"
PHASE = "phase"
# A client's session changed state (op = "session", value = "connected" | "suspended" | "lost"),
# for clients with sessions, like ZooKeeper's.
SESSION = "session"

COMPLETIONS = (OK, FAIL, INFO)


@dataclass(frozen=True)
class Event:
    """One thing that happened, at `t` seconds since the timeline started."""

    t: float
    kind: str  # invoke | ok | fail | info | nemesis | phase
    process: str  # which worker or actor ("w0", "nemesis", "harness")
    op: str  # "write", "read", "inject", "heal", ...
    value: Any = None  # the written id, the fault description...
    node: str | None = None  # server that served/acknowledged the operation
    error: str | None = None  # short error text for fail/info
    latency_s: float | None = None  # for completions: completion time minus invoke time
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # Keep the JSONL compact: drop empty optional fields.
        return {k: v for k, v in d.items() if v is not None and v != {}}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Event":
        return Event(
            t=float(d["t"]),
            kind=d["kind"],
            process=d.get("process", ""),
            op=d.get("op", ""),
            value=d.get("value"),
            node=d.get("node"),
            error=d.get("error"),
            latency_s=d.get("latency_s"),
            extra=d.get("extra", {}) or {},
        )


class Timeline:
    """Thread-safe, append-only list of Events sharing one monotonic origin."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._origin = clock()
        self._wall_origin = time.time()  # to date the timeline's events against the servers' logs
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the timeline started."""
        return self._clock() - self._origin

    def wall(self, t: float) -> float:
        """The wall-clock time (seconds since the epoch) of timeline time t."""
        return self._wall_origin + t

    def record(self, kind: str, process: str, op: str, *, t: float | None = None, **fields: Any) -> Event:
        ev = Event(t=self.now() if t is None else t, kind=kind, process=process, op=op, **fields)
        with self._lock:
            self._events.append(ev)
        return ev

    def append(self, ev: Event) -> None:
        with self._lock:
            self._events.append(ev)

    @property
    def events(self) -> tuple[Event, ...]:
        """A sorted snapshot (stable by time)."""
        with self._lock:
            evs = list(self._events)
        evs.sort(key=lambda e: e.t)
        return tuple(evs)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

def to_jsonl(events: Iterable[Event]) -> str:
    """Events as JSON lines, oldest first (the timeline.jsonl format)."""
    ordered = sorted(events, key=lambda e: e.t)
    return "".join(json.dumps(e.to_dict(), default=str, separators=(",", ":")) + "\n" for e in ordered)


def load_jsonl(path: str) -> tuple[Event, ...]:
    with open(path, encoding="utf-8") as fh:
        return tuple(Event.from_dict(json.loads(line)) for line in fh if line.strip())
