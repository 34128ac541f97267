"""Node crash: every process on the node killed hard and its link down, until healed."""

from __future__ import annotations

from typing import Any

from .base import Fault


class NodeCrash(Fault):
    kind = "crash"

    def describe(self) -> str:
        return f"crash node {self.target.node} (zone {self.target.zone}, hosting {self.target.role} {self.target.pod})"

    def _inject(self) -> tuple[dict[str, Any], bool]:
        # The platform proves the node is down (local: no process left and its link DOWN; kind:
        # the node's container stopped); the clients must no longer reach the target either.
        proof = self.platform.crash_node(self.target.node)
        ip, port = self.platform.pod_endpoint(self.target.pod)
        proof["reachable_from_clients"] = self.platform.reachable(None, ip, port, timeout_s=1.0)
        return proof, proof["proven"] and not proof["reachable_from_clients"]

    def _heal(self) -> dict[str, Any]:
        self.platform.restore_node(self.target.node)
        ip, port = self.platform.pod_endpoint(self.target.pod)
        return {"reachable_from_clients": self.platform.reachable(None, ip, port, timeout_s=2.0)}
