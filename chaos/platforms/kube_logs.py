"""The pods' logs of a Kubernetes platform as files, for the failover explainer
(chaos.predictions), which reads files with the servers' own timestamps.

The servers log to stdout there; the kubelet keeps each container's output and dates every
line (RFC 3339, UTC). Each pod's log is read through the API with those dates (the container
before its last restart first, when there is one: a killed server's replacement starts a new
log) and written to a file with each line's date put first in the host's local time, the form
the explainer reads. A pod that was deleted takes its log with it; its survivors' logs are what
date a failover anyway.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

__all__ = ["local_stamped", "write_pod_logs"]

_REQUEST_TIMEOUT_S = 15


def local_stamped(line: str) -> str:
    """A line the kubelet dated ('2026-12-08T00:57:28.123456789Z text') with that date in the
    host's local time first ('2026-12-08 00:57:28.123456 text'); other lines as they are."""
    stamp, sep, text = line.partition(" ")
    if not sep or not stamp.endswith("Z") or "T" not in stamp:
        return line
    whole, _, fraction = stamp[:-1].partition(".")
    try:
        t = datetime.fromisoformat(whole + "+00:00").timestamp() + float(f"0.{fraction or 0}")
    except ValueError:
        return line
    return f"{datetime.fromtimestamp(t).strftime('%Y-%m-%d %H:%M:%S.%f')} {text}"


def _read(core: Any, pod: str, namespace: str, previous: bool) -> str:
    try:
        return core.read_namespaced_pod_log(pod, namespace, timestamps=True, previous=previous,
                                            _request_timeout=_REQUEST_TIMEOUT_S) or ""
    except Exception:  # no previous container, or the pod is gone: no log to read
        return ""


def write_pod_logs(core: Any, pods: Iterable[tuple[str, str]], dest: Path) -> dict[str, Path]:
    """pod -> a file in `dest` with its log (previous container, then current), for each
    (pod, namespace) whose log could be read."""
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for pod, namespace in pods:
        text = _read(core, pod, namespace, True) + _read(core, pod, namespace, False)
        if not text:
            continue
        path = dest / f"{pod}.log"
        path.write_text("".join(local_stamped(line) + "\n" for line in text.splitlines()))
        out[pod] = path
    return out
