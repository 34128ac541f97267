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
        # The platform proves what it can: every process gone (local, SIGKILL) or the old pod
        # object gone (Kubernetes). A graceful signal to a process is proven once the pod's main
        # process has been replaced.
        proof = self.platform.kill_pod(self.target.pod, self.sig)
        if "proven" not in proof:
            proof["restarted"] = self.platform.wait_pod_restarted(self.target.pod, proof["instance"],
                                                                  self.restart_timeout_s)
            proof["proven"] = proof["restarted"] is not None
        return proof, proof["proven"]

    def _heal(self) -> dict[str, Any]:
        # Nothing to undo: the platform (or the pod's controller) restarts the pod. Record that it
        # did: a new PID, or a new pod UID.
        return {"restarted": self.platform.wait_pod_restarted(self.target.pod, self.proof.get("instance", -1),
                                                              self.restart_timeout_s)}
