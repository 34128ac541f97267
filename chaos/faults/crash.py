"""Node crash: every process on the node killed hard and its link down, until healed."""

from __future__ import annotations

from typing import Any

from .base import Fault


class NodeCrash(Fault):
    kind = "crash"

    def describe(self) -> str:
        return f"crash node {self.target.node} (zone {self.target.zone}, hosting {self.target.role} {self.target.pod})"

    def _inject(self) -> tuple[dict[str, Any], bool]:
        proof = self.platform.crash_node(self.target.node)
        ip = self.platform.node(self.target.node).ip
        port = self.platform.pod(self.target.pod).spec.port
        proof["reachable_from_clients"] = self.platform.reachable(None, ip, port, timeout_s=1.0)
        proven = (proof["processes_killed"] > 0 and proof["processes_left"] == 0
                  and proof["link_state"] == "DOWN" and not proof["reachable_from_clients"])
        return proof, proven

    def _heal(self) -> dict[str, Any]:
        self.platform.restore_node(self.target.node)
        ip = self.platform.node(self.target.node).ip
        port = self.platform.pod(self.target.pod).spec.port
        return {"reachable_from_clients": self.platform.reachable(None, ip, port, timeout_s=2.0)}
