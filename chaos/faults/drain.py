"""Node drain: cordon, then graceful stop of every pod on the node; the pods stay down until
the node is uncordoned (a StatefulSet pod with a node-local volume on kind behaves so)."""

from __future__ import annotations

from typing import Any

from .base import Fault


class NodeDrain(Fault):
    kind = "drain"

    def __init__(self, platform, target, timeline, grace_s: float | None = None):
        super().__init__(platform, target, timeline, grace_s=grace_s)
        self.grace_s = grace_s

    def describe(self) -> str:
        return f"drain node {self.target.node} (zone {self.target.zone}, hosting {self.target.role} {self.target.pod})"

    def _inject(self) -> tuple[dict[str, Any], bool]:
        # The platform proves the drain: pods it stopped (or evicted) are gone from the node and
        # the node is cordoned; on Kubernetes, evictions a PodDisruptionBudget kept refusing are
        # reported under "blocked", and leave the drain unproven.
        self.platform.cordon(self.target.node)
        proof = self.platform.stop_node_pods(self.target.node, self.grace_s)
        return proof, proof["proven"]

    def _heal(self) -> dict[str, Any]:
        self.platform.uncordon(self.target.node)
        return {"uncordoned": self.platform.node_state(self.target.node)["schedulable"]}
