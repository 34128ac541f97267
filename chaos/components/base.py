"""What every component offers the run loop: deploy, roles, steadiness, a probe, a
verification read and its failover settings. Components never inject faults."""

from __future__ import annotations

from dataclasses import dataclass
import os
import pwd
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from ..errors import InvalidConfig, NotSteady
from ..probe import Probe
from ..timeline import Timeline

__all__ = ["Target", "Component", "Steadiness", "chown_tree", "one_node_per_zone", "wait_until_steady",
           "missing_user", "missing_module"]


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
    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]: ...
    def probe(self, timeline: Timeline, experiment: str, interval_s: float = 0.05) -> Probe: ...
    def verify(self, experiment: str, timeout_s: float = 30.0) -> list[Any] | None: ...
    def config(self) -> dict[str, Any]: ...


def one_node_per_zone(platform, component: str, count: int = 3) -> list:
    """The first node (by name) of each zone, `count` zones: one replica per zone."""
    zones: dict[str, Any] = {}
    for node in sorted(platform.nodes(), key=lambda n: n.name):
        zones.setdefault(node.zone, node)
    if len(zones) < count:
        raise InvalidConfig(f"{component} needs nodes in {count} zones, the platform has {len(zones)}",
                            field="platform", fix="use the default zones a, b, c")
    return list(zones.values())[:count]


def wait_until_steady(steady: Callable[[], tuple[bool, dict[str, Any]]], deployment: str, timeout_s: float,
                      log: Callable[[str], None] | None, explain: Callable[[dict[str, Any]], str],
                      poll_s: float = 0.25) -> dict[str, Any]:
    """Poll `steady()` until it holds; say what is missing every 10 s; on timeout raise NotSteady
    with the problems, what was last seen (`explain`) and where the logs are."""
    deadline = time.monotonic() + timeout_s
    said = 0.0
    while True:
        ok, seen = steady()
        if ok:
            return seen
        if log and time.monotonic() - said > 10:
            said = time.monotonic()
            log(f"{deployment} not steady yet: {'; '.join(seen['problems'])}")
        if time.monotonic() > deadline:
            raise NotSteady(f"{deployment} not steady after {timeout_s:.0f} s: {'; '.join(seen['problems'])}; "
                            f"{explain(seen)}", seen["problems"])
        time.sleep(poll_s)


class Steadiness:
    """wait_steady() and prepare() for a component that defines steady() -> (ok, seen) with
    seen["problems"], and has platform, pods and deployment."""

    steady_poll_s = 0.25

    def explain(self, seen: dict[str, Any]) -> str:
        """What to tell a person when steadiness times out."""
        return f"seen {seen}; pod logs in {self.platform.log_path(self.pods[0]).parent}"

    def wait_steady(self, timeout_s: float = 60.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        return wait_until_steady(self.steady, self.deployment, timeout_s, log, self.explain, self.steady_poll_s)

    def prepare(self, timeout_s: float = 90.0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Before an experiment: steady. A component whose faults can leave it steady but in
        another shape than designed restores that shape here (never during an experiment)."""
        return self.wait_steady(timeout_s, log)


def chown_tree(path: Path, user: str) -> None:
    """Give a pod's directory and everything in it to the user its processes run as."""
    pw = pwd.getpwnam(user)
    for root, _dirs, files in os.walk(path):
        for entry in [root, *(os.path.join(root, f) for f in files)]:
            os.chown(entry, pw.pw_uid, pw.pw_gid)


def missing_user(user: str, package: str) -> list[str]:
    """[] when the system user exists (the Debian package that runs the server creates it)."""
    try:
        pwd.getpwnam(user)
        return []
    except KeyError:
        return [f"user {user} does not exist (fix: apt-get install {package})"]


def missing_module(module: str, pip_name: str | None = None) -> list[str]:
    """[] when the Python client module can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return []
    label = f"{module} ({pip_name})" if pip_name and pip_name != module else module
    return [f"python module {label} missing (fix: pip install {pip_name or module}, or `make install`)"]
