"""The platform protocol: what a component and a fault may ask of the place the stack runs.

A platform knows nodes, zones and pods and performs raw actions on them; it never knows what
PostgreSQL is. Faults compose these actions and push their undo onto the run's ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

__all__ = ["Node", "PodSpec", "Pod", "Platform"]


@dataclass(frozen=True)
class Node:
    name: str
    zone: str
    ip: str


@dataclass(frozen=True)
class PodSpec:
    """What to run: like a container spec, reduced to what the local platform needs."""

    name: str
    component: str
    node: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    log_path: str | None = None
    port: int | None = None  # the service port, for readiness and reachability proofs
    termination_grace_s: float = 10.0


@dataclass
class Pod:
    spec: PodSpec
    pid: int | None = None
    restarts: int = 0  # like a container's restartCount
    crash_streak: int = 0  # consecutive exits after a short run: drives the back-off
    started_at: float | None = None  # monotonic
    last_exit: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def node(self) -> str:
        return self.spec.node


@runtime_checkable
class Platform(Protocol):
    name: str
    run_id: str

    def nodes(self) -> Sequence[Node]: ...
    def node(self, name: str) -> Node: ...
    def pods(self, component: str | None = None) -> Sequence[Pod]: ...
    def pod(self, name: str) -> Pod: ...

    # Raw actions. Each returns data describing what it did (it goes into the proof).
    def kill_pod(self, pod: str, sig: int) -> dict[str, Any]: ...
    def stop_node_pods(self, node: str, grace_s: float) -> dict[str, Any]: ...
    def cordon(self, node: str) -> None: ...
    def uncordon(self, node: str) -> None: ...
    def crash_node(self, node: str) -> dict[str, Any]: ...
    def restore_node(self, node: str) -> None: ...
    def partition(self, zone: str, *, cut_clients: bool) -> dict[str, Any]: ...
    def heal_partition(self) -> None: ...
    def close(self) -> None: ...
