"""Quorum loss: the target and enough other pods of its component held down that a majority
is gone (two of three); heal lets them start again. The expected, passing outcome is that the
component refuses writes rather than accepting them unsafely, and recovers with nothing lost."""

from __future__ import annotations

from typing import Any

from .base import Fault


class QuorumLoss(Fault):
    kind = "quorum-loss"

    def __init__(self, platform, target, timeline):
        super().__init__(platform, target, timeline)
        self.victims: list[str] = []

    def _choose_victims(self) -> list[str]:
        pod = self.platform.pod(self.target.pod)
        peers = sorted(p.name for p in self.platform.pods(pod.component))
        majority = len(peers) // 2 + 1
        # The target first, then the next pods by name (deterministic: the target was seeded).
        start = peers.index(self.target.pod)
        return [peers[(start + i) % len(peers)] for i in range(majority)]

    def describe(self) -> str:
        victims = ", ".join(self.victims) if self.victims else f"{self.target.pod} and others"
        return f"quorum loss: hold down {victims} (target {self.target.role} {self.target.pod})"

    def _inject(self) -> tuple[dict[str, Any], bool]:
        self.victims = self._choose_victims()
        stopped = []
        for name in self.victims:
            stopped.append(self.platform.suspend_pod(name))
        running = [name for name in self.victims if self.platform.pod_running(name)]
        proof = {"held_down": stopped, "still_running": running,
                 "pods": len(self.platform.pods(self.platform.pod(self.target.pod).component))}
        proven = not running and all(s["processes_left"] == 0 and s["pid"] for s in stopped)
        return proof, proven

    def _heal(self) -> dict[str, Any]:
        for name in self.victims:
            self.platform.resume_pod(name)
        return {"resumed": list(self.victims)}
