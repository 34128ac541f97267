"""The platform protocol: what a component and a fault may ask of the place the stack runs.

A platform knows nodes, zones and pods and performs raw actions on them; it never knows what
PostgreSQL is. Faults compose these actions and push their undo onto the run's ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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

    @property
    def component(self) -> str:
        return self.spec.component


@runtime_checkable
class Platform(Protocol):
    """What components and faults may ask of a platform. Raw actions return data describing
    what they did (it goes into the fault's proof) and write their undo to the run's ledger
    before changing anything."""

    name: str
    run_id: str

    def up(self) -> "Platform": ...
    def close(self) -> None: ...

    # Inventory.
    def nodes(self) -> Sequence[Node]: ...
    def node(self, name: str) -> Node: ...
    def nodes_in_zone(self, zone: str) -> Sequence[Node]: ...
    def pods(self, component: str | None = None) -> Sequence[Pod]: ...
    def pod(self, name: str) -> Pod: ...
    def pod_running(self, name: str) -> bool: ...
    def node_state(self, name: str) -> dict[str, bool]: ...
    def pod_endpoint(self, name: str) -> tuple[str | None, int | None]: ...
    def log_path(self, pod: str) -> Path: ...
    def pod_logs(self, names: Sequence[str]) -> dict[str, Path]: ...  # pod -> a file of its log
    def path(self, *parts: str) -> Path: ...

    # Workloads.
    def start_pod(self, spec: PodSpec) -> Pod: ...
    def remove_pod(self, name: str) -> None: ...

    # Raw actions for faults.
    def kill_pod(self, name: str, sig: int) -> dict[str, Any]: ...
    def wait_pod_restarted(self, name: str, old_instance: Any, timeout_s: float) -> Any: ...
    def suspend_pod(self, name: str) -> dict[str, Any]: ...
    def resume_pod(self, name: str) -> None: ...
    def cordon(self, node: str) -> None: ...
    def uncordon(self, node: str) -> None: ...
    def stop_node_pods(self, node: str, grace_s: float | None = None) -> dict[str, Any]: ...
    def crash_node(self, node: str) -> dict[str, Any]: ...
    def restore_node(self, node: str) -> None: ...
    def partition(self, zone: str, *, cut_clients: bool = False) -> dict[str, Any]: ...
    def heal_partition(self) -> dict[str, Any]: ...
    def reachable(self, from_node: str | None, to_ip: str, port: int, timeout_s: float = 1.0) -> bool: ...
