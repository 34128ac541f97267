"""Zone partition: the target's zone cut off from the other zones with DROP rules; clients
still reach every zone, or (cut_clients=True) are cut off from that zone too."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .base import Fault


class ZonePartition(Fault):
    kind = "partition"

    def __init__(self, platform, target, timeline, cut_clients: bool = False):
        super().__init__(platform, target, timeline, cut_clients=cut_clients)
        self.cut_clients = cut_clients

    def describe(self) -> str:
        extra = " and from the clients" if self.cut_clients else ""
        return (f"partition zone {self.target.zone} (with {self.target.role} {self.target.pod}) "
                f"from the other zones{extra}")

    def _reachability(self) -> dict[str, Any]:
        """Can the other zones' nodes and the clients open a TCP connection to the target? Asked
        in parallel: each unreachable answer costs a full timeout."""
        ip, port = self.platform.pod_endpoint(self.target.pod)
        sources = [n.name for n in self.platform.nodes() if n.zone != self.target.zone] + [None]
        with ThreadPoolExecutor(len(sources)) as pool:
            answers = dict(zip(sources, pool.map(lambda src: self.platform.reachable(src, ip, port), sources)))
        clients = answers.pop(None)
        return {"from_other_zones": answers, "from_clients": clients}

    def _inject(self) -> tuple[dict[str, Any], bool]:
        proof = self.platform.partition(self.target.zone, cut_clients=self.cut_clients)
        proof["reachable"] = r = self._reachability()
        proven = (proof["proven"] and not any(r["from_other_zones"].values())
                  and r["from_clients"] == (not self.cut_clients))
        return proof, proven

    def _heal(self) -> dict[str, Any]:
        result = self.platform.heal_partition()
        result["reachable"] = self._reachability()
        return result
