"""The public API for writing one's own experiments as pytest modules.

    import chaos

    standby_kill = chaos.experiment("postgres", chaos.kill(role="standby"), name="my-standby-kill",
                                    hold_s=10, slo={"max_unavailability_s": 5})

    def test_standby_kill(chaos_experiment):
        outcome = chaos_experiment(standby_kill)
        assert outcome.passed, outcome.message

A fault constructor (`kill`, `drain`, `crash`, `partition`, `quorum_loss`) says what happens to
whom: a role the component's pods play (its `target_roles`), or `pod=` one pod by name;
`together(...)` and `one_after_another(...)` compose them. `experiment`
binds it to a component, and checks everything at once: the component, the role, the fault's
options and the SLO keys. Called at module level, a mistake fails the module's collection, and
the error names the module and line of the definition. The `chaos_experiment` fixture (the
pytest plugin's) runs it through the same loop as the built-in experiments: the same probes,
proof, heal, results document and HTML report.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .catalog import Scenario
from .errors import InvalidConfig
from .run_loop import FaultContext, Outcome
from .slo import SLO_FIELDS
from .targeting import ANY_ROLE

__all__ = ["FaultSpec", "kill", "drain", "crash", "partition", "quorum_loss", "together", "one_after_another",
           "experiment", "Outcome", "FaultContext"]

# The fault options each constructor takes, as the faults (chaos.faults) name them.
_OPTIONS = {"kill": (), "drain": (), "crash": (), "partition": ("cut_clients",), "quorum-loss": ()}


@dataclass(frozen=True)
class FaultSpec:
    """A fault not yet bound to a component: its kind, whom it hits, its options."""

    fault: str
    role: str | None = None
    pod: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parts: tuple["FaultSpec", ...] = ()  # a composite's faults (fault "together" or "sequence")

    @property
    def aim(self) -> str:
        """What the run loop targets: the role, or `pod:<name>`."""
        return f"pod:{self.pod}" if self.pod else (self.role or ANY_ROLE)


def _spec(fault: str, role: str | None, pod: str | None, params: dict[str, Any]) -> FaultSpec:
    if role is not None and pod is not None:
        raise InvalidConfig("give a role or a pod, not both", field=fault, fix=f"{fault}(role=...) or {fault}(pod=...)")
    unknown = sorted(set(params) - set(_OPTIONS[fault]))
    if unknown:
        raise InvalidConfig(f"unknown option {', '.join(unknown)}", field=fault,
                            fix=f"options of {fault}: {', '.join(_OPTIONS[fault]) or 'none'}")
    return FaultSpec(fault, role, pod, dict(params))


def kill(role: str | None = None, *, pod: str | None = None) -> FaultSpec:
    """SIGKILL every process of the target pod; its supervisor (kubelet, the local platform)
    restarts it."""
    return _spec("kill", role, pod, {})


def drain(role: str | None = None, *, pod: str | None = None) -> FaultSpec:
    """Cordon the target's node and stop its pods gracefully, until the heal uncordons it."""
    return _spec("drain", role, pod, {})


def crash(role: str | None = None, *, pod: str | None = None) -> FaultSpec:
    """Kill everything on the target's node hard and take the node off the network."""
    return _spec("crash", role, pod, {})


def partition(role: str | None = None, *, pod: str | None = None, cut_clients: bool = False) -> FaultSpec:
    """Cut the target's zone off from the other zones (and from the clients with cut_clients)."""
    return _spec("partition", role, pod, {"cut_clients": bool(cut_clients)})


def quorum_loss(role: str | None = None, *, pod: str | None = None) -> FaultSpec:
    """Hold down a majority of the component's pods, the target among them."""
    return _spec("quorum-loss", role, pod, {})


def _composite(kind: str, faults: tuple[FaultSpec, ...], params: dict[str, Any]) -> FaultSpec:
    if len(faults) < 2 or not all(isinstance(f, FaultSpec) and not f.parts for f in faults):
        raise InvalidConfig(f"needs two or more single faults (kill, drain, crash, partition, quorum_loss), got "
                            f"{faults!r}", field=kind)
    return FaultSpec(kind, faults[0].role, faults[0].pod, params, parts=tuple(faults))


def together(*faults: FaultSpec) -> FaultSpec:
    """The faults at once: injected in the order given, held together, healed in reverse order.
    `together(partition(role="leader"), kill(role="leader"))`: the leader killed while its zone is
    cut off."""
    return _composite("together", faults, {})


def one_after_another(*faults: FaultSpec, step_s: float = 10.0) -> FaultSpec:
    """A rolling fault: each fault but the last is injected, held step_s and healed before the
    next starts; the last is held as the experiment's hold_s says. Parts aimed at a role take a
    pod no earlier part took while there is one: `one_after_another(drain(role="follower"),
    drain(role="follower"))` drains two followers' nodes in turn."""
    if not step_s > 0:
        raise InvalidConfig(f"step_s must be above 0, not {step_s!r}", field="sequence")
    return _composite("sequence", faults, {"step_s": float(step_s)})


def _where(depth: int) -> str:
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def experiment(component: str, fault: FaultSpec, *, name: str | None = None, hold_s: float = 15.0,
               description: str = "", slo: dict[str, Any] | None = None,
               during: Callable[[FaultContext], None] | None = None,
               recovery_timeout_s: float | None = None, deployment: dict[str, Any] | None = None,
               negative_control: bool = False, only_on: tuple[str, ...] = ()) -> Scenario:
    """An experiment on `component`: the fault, held `hold_s` seconds (a kill's hold ends early
    once the clients are served again), judged against the SLO file's entry for the component
    with `slo` on top. `during(ctx)` runs while the fault holds, right after the injection was
    proven, with the target, component and platform in `ctx`. Whatever it raises, the fault holds
    its time and the run goes on; a failed assertion fails the verdict, any other exception makes
    it unknown, with the exception as the reason.

    `deployment` deploys a variant of the component (keyword arguments of its class: another
    name and port, unsafe settings); `negative_control` marks an experiment that must FAIL (it
    runs only when selected by its full name); `only_on` limits it to some platforms."""
    where = _where(2)
    try:
        scenario = _bind(component, fault, name, hold_s, description, slo or {}, during, recovery_timeout_s)
        bad = sorted(set(only_on) - {"local", "kind"})
        if bad:
            raise InvalidConfig(f"unknown platform {', '.join(bad)}", field="only_on", fix="local, kind")
        return replace(scenario, deployment=dict(deployment or {}), negative_control=bool(negative_control),
                       only_on=tuple(only_on))
    except InvalidConfig as exc:
        raise InvalidConfig(f"{where}: {exc}") from None


def _bind(component: str, fault: FaultSpec, name: str | None, hold_s: float, description: str,
          slo: dict[str, Any], during, recovery_timeout_s: float | None) -> Scenario:
    from .components import get_component

    roles = get_component(component).target_roles  # an unknown component raises, naming the known ones
    if not isinstance(fault, FaultSpec):
        raise InvalidConfig(f"expected a fault (chaos.kill(...), chaos.drain(...), ...), got {fault!r}",
                            field="fault")
    for part in fault.parts or (fault,):
        if part.role is not None and part.role != ANY_ROLE and part.role not in roles:
            raise InvalidConfig(f"{component} has no role {part.role!r}", field="role",
                                fix=f"one of {', '.join((*roles, ANY_ROLE))}, or pod=<name>")
    if name is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise InvalidConfig(f"{name!r} is not a name of lowercase letters, digits and dashes", field="name",
                            fix="e.g. my-standby-drain (it names the results directory)")
    unknown = sorted(set(slo) - set(SLO_FIELDS))
    if unknown:
        raise InvalidConfig(f"unknown SLO key {', '.join(unknown)}", field="slo", fix=f"keys: {', '.join(SLO_FIELDS)}")
    if not hold_s > 0:
        raise InvalidConfig(f"hold_s must be above 0, not {hold_s!r}", field="hold_s")
    if during is not None and not callable(during):
        raise InvalidConfig(f"during must be a function of one argument, not {during!r}", field="during")
    from .slo import SLO

    SLO(**slo)  # each value checked as the SLO file's would be
    label = fault.pod or fault.role or ANY_ROLE
    parts = tuple((p.fault, p.aim, dict(p.params)) for p in fault.parts)
    what = " + ".join(p.fault for p in fault.parts) if fault.parts else fault.fault
    return Scenario(component, name or f"custom-{label}-{fault.fault}", fault.fault, fault.aim,
                    description or f"{what} of {component}'s {label}", params=dict(fault.params),
                    hold_s=float(hold_s), recovery_timeout_s=recovery_timeout_s, slo=dict(slo), during=during,
                    parts=parts)

