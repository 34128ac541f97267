"""A predicted failover per component and fault class, and what the server logs say when a
measurement is far from it.

Fault classes (how the survivors learn that the target is gone):
  kill      the target's processes die: its connections are refused at once (fast detection);
  silent    the target stops answering (a crashed node, a partitioned zone): everything that
            talks to it waits for a timeout;
  graceful  the target is stopped on purpose (a drain): it may hand over before it goes.
A quorum loss has no failover to predict (writes must be refused until the heal).

Each component derives its prediction from the settings it deployed, with the formula written
beside those settings (`predict(fault_class, role)` on the component; None where the fault hits
a member whose loss needs no failover, such as a replica). The measured value is the worst
client's unavailability. When the two differ by more than TOLERANCE the harness reads the pods'
logs of the run for the component's failover markers: when the survivors noticed the loss
(detection) and when a new leader took over (election), both as seconds after the injection;
what is left of the measured outage is the clients' reconnect. Where no marker is found the
result says "unexplained".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

__all__ = ["FAULT_CLASSES", "TOLERANCE", "Prediction", "LogMarkers", "fault_class", "assess", "explain",
           "log_time"]

FAULT_CLASSES = {"kill": "kill", "crash": "silent", "partition": "silent", "drain": "graceful"}
TOLERANCE = 0.25  # a measurement off by more than 25 % from its prediction needs an explanation
LOG_SLACK_S = 1.0  # log timestamps of one-second resolution: a marker this early still counts


def fault_class(fault: str) -> str | None:
    """The fault class of a catalog fault (None: no failover to predict, e.g. a quorum loss)."""
    return FAULT_CLASSES.get(fault)


@dataclass(frozen=True)
class Prediction:
    fault_class: str
    predicted_s: float
    formula: str  # the formula, in the settings' own names
    inputs: dict[str, Any] = field(default_factory=dict)  # the settings it read, with their values

    def to_dict(self) -> dict[str, Any]:
        return {"fault_class": self.fault_class, "predicted_s": round(self.predicted_s, 3),
                "formula": self.formula, "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class LogMarkers:
    """The log lines that date a failover: the survivors noticing the loss (`detected`) and a new
    leader in charge (`elected`); each a regular expression searched in every pod's log."""

    detected: Sequence[str]
    elected: Sequence[str]


# Timestamp formats of the servers' logs, as written in the host's local time:
#   log4j/logback (ZooKeeper, Kafka, Flink, Elasticsearch): 2026-12-01 18:00:01,123 or [...]
#   PostgreSQL (log_line_prefix %m): 2026-12-01 18:00:01.123 UTC; repmgrd: [2026-12-01 18:00:01]
#   Redis: 1234:M 01 Dec 2026 18:00:01.123
_STAMPS = (
    (re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[,.](\d{1,6}))?"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"(\d\d \w{3} \d{4} \d\d:\d\d:\d\d)(?:\.(\d{1,6}))?"), "%d %b %Y %H:%M:%S"),
)


def log_time(line: str) -> float | None:
    """The line's timestamp as seconds since the epoch (local time), None without one."""
    for pattern, fmt in _STAMPS:
        found = pattern.search(line[:80])
        if found:
            try:
                stamp = datetime.strptime(found.group(1).replace("T", " "), fmt)
            except ValueError:
                continue
            fraction = found.group(2) or ""
            return stamp.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)
    return None


def _first_marker(logs: dict[str, Path], patterns: Sequence[str], after: float, until: float
                  ) -> tuple[float, str, str] | None:
    """The earliest line in [after - slack, until] matching any pattern: (time, pod, line)."""
    regexes = [re.compile(p) for p in patterns]
    best: tuple[float, str, str] | None = None
    for pod, path in logs.items():
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if not any(r.search(line) for r in regexes):
                continue
            t = log_time(line)
            if t is not None and after - LOG_SLACK_S <= t <= until and (best is None or t < best[0]):
                best = (t, pod, line.strip()[:300])
    return best


def explain(markers: LogMarkers | None, logs: dict[str, Path], injected_wall: float, until_wall: float,
            measured_s: float) -> dict[str, Any]:
    """Split a measured outage into detection, election and the clients' reconnect from the
    pods' logs; {"unexplained": why} when the logs do not date both steps."""
    if markers is None:
        return {"unexplained": "the component names no failover markers in its logs"}
    if not logs:
        return {"unexplained": "no pod logs on this platform"}
    detected = _first_marker(logs, markers.detected, injected_wall, until_wall)
    if detected is None:
        return {"unexplained": "no detection marker in the pods' logs after the injection"}
    elected = _first_marker(logs, markers.elected, detected[0], until_wall)
    if elected is None:
        return {"unexplained": "no election marker in the pods' logs after the detection"}
    detection_s = max(0.0, detected[0] - injected_wall)
    elected_s = max(detection_s, elected[0] - injected_wall)
    # The clients were served again before the new leader took charge: their outage did not
    # wait for the failover (a cut-off leader kept answering them, or the fault missed them).
    reconnect = None if measured_s < elected_s else round(measured_s - elected_s, 3)
    return {"detection_s": round(detection_s, 3), "election_s": round(elected_s - detection_s, 3),
            "reconnect_s": reconnect,
            "detected": {"pod": detected[1], "line": detected[2]},
            "elected": {"pod": elected[1], "line": elected[2]}}


def assess(prediction: Prediction | None, measured_s: float | None, *, markers: LogMarkers | None = None,
           logs: dict[str, Path] | None = None, injected_wall: float | None = None,
           until_wall: float | None = None) -> dict[str, Any] | None:
    """The result's "prediction": predicted, measured, their ratio and, when off by more than
    TOLERANCE, the logs' explanation (or "unexplained"). None without a prediction."""
    if prediction is None:
        return None
    out = prediction.to_dict()
    out["measured_s"] = None if measured_s is None else round(measured_s, 3)
    if measured_s is None or prediction.predicted_s <= 0:
        out.update(ratio=None, off=None)
        return out
    ratio = measured_s / prediction.predicted_s
    out.update(ratio=round(ratio, 2), off=abs(ratio - 1) > TOLERANCE)
    if out["off"]:
        if injected_wall is None or until_wall is None:
            out["explanation"] = {"unexplained": "the injection's wall-clock time is unknown"}
        else:
            out["explanation"] = explain(markers, logs or {}, injected_wall, until_wall, measured_s)
    return out
