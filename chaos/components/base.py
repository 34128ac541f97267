"""What every component offers the run loop: deploy, roles, steadiness, a probe, a
verification read and its failover settings. Components never inject faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from ..probe import Probe
from ..timeline import Timeline

__all__ = ["Target", "Component"]


@dataclass(frozen=True)
class Target:
    """A pod and the role it plays right now (primary, standby, leader, ...)."""

    pod: str
    node: str
    zone: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {"pod": self.pod, "node": self.node, "zone": self.zone, "role": self.role}


class Component(Protocol):
    name: str

    def deploy(self, timeout_s: float) -> None: ...
    def remove(self) -> None: ...
    def targets(self) -> Sequence[Target]: ...
    def wait_steady(self, timeout_s: float) -> dict[str, Any]: ...
    def probe(self, timeline: Timeline, experiment: str) -> Probe: ...
    def verify(self, experiment: str, timeout_s: float) -> list[Any] | None: ...
    def config(self) -> dict[str, Any]: ...
