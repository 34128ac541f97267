"""Pod kill: SIGKILL (or SIGTERM) to every process of one pod; the platform restarts it."""

from __future__ import annotations

import signal
from typing import Any

from .base import Fault


class PodKill(Fault):
    kind = "kill"

    def __init__(self, platform, target, timeline, sig: str = "SIGKILL", restart_timeout_s: float = 30.0):
        super().__init__(platform, target, timeline, sig=sig)
        self.sig = signal.Signals[sig]
        self.restart_timeout_s = restart_timeout_s

    def _inject(self) -> tuple[dict[str, Any], bool]:
        proof = self.platform.kill_pod(self.target.pod, self.sig)
        if self.sig == signal.SIGKILL:
            proven = proof["processes_signalled"] > 0 and proof["processes_left"] == 0
        else:
            # A graceful signal is proven when the pod's main process has gone (PID changed).
            new_pid = self.platform.wait_pod_restarted(self.target.pod, proof["pid"], self.restart_timeout_s)
            proof["restarted_pid"] = new_pid
            proven = new_pid is not None
        return proof, proven

    def _heal(self) -> dict[str, Any]:
        # Nothing to undo: the platform restarts the pod. Record that it did (new PID).
        new_pid = self.platform.wait_pod_restarted(self.target.pod, self.proof.get("pid", -1), self.restart_timeout_s)
        return {"restarted_pid": new_pid}
