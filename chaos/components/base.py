"""What every component offers the run loop: deploy, roles, steadiness, a probe, a
verification read and its failover settings. Components never inject faults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

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
    """One deployed system. `name` is the component ("postgres"); `deployment` names this
    instance of it (a variant, e.g. an asynchronous cluster, is another deployment)."""

    name: str
    deployment: str

    def deploy(self, timeout_s: float = 120.0) -> dict[str, Any]: ...
    def remove(self) -> None: ...
    def targets(self) -> Sequence[Target]: ...
    def wait_steady(self, timeout_s: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]: ...
    def probe(self, timeline: Timeline, experiment: str, interval_s: float = 0.05) -> Probe: ...
    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[Any] | None: ...
    def config(self) -> dict[str, Any]: ...
