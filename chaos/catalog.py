"""The experiments: which fault, on which role, held how long, per component. They are defined
in experiments/ (with chaos.experiment, at the top of each test module) and found there; this
module holds their record (Scenario) and the selectors (`postgres`, `postgres/primary-kill`,
`kill`, `postgres/kill`) that choose from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ._modules import load_file
from .errors import InvalidConfig

__all__ = ["Scenario", "select", "scenario", "on_platform", "discover", "EXPERIMENTS_DIR"]  # and SCENARIOS (found on first use)


@dataclass(frozen=True)
class Scenario:
    component: str
    name: str
    fault: str
    role: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    # How long the fault stays (kills: the most to wait for failover). Failover must happen
    # within it (SLO recover_during_fault), so it is about twice the expected failover time.
    hold_s: float = 15.0
    deployment: dict[str, Any] = field(default_factory=dict)  # component variant (e.g. async)
    negative_control: bool = False  # expected to fail: proves the harness can see a failure
    recovery_timeout_s: float | None = None  # None: the run's default
    only_on: tuple[str, ...] = ()  # the platforms its deployment variant exists on (empty: all of its component's)
    # Written with chaos.api: SLO keys on top of the SLO file's, and a function run while the fault holds.
    slo: dict[str, Any] = field(default_factory=dict, compare=False)
    during: Any = field(default=None, compare=False)
    # A composite fault's parts (fault "together" or "sequence"): (fault, role or "pod:<name>", params) each.
    parts: tuple[tuple[str, str, dict[str, Any]], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.component}/{self.name}"

    def slo_from(self, book) -> Any:
        """The SLO it is judged against: the SLO file's (a chaos.slo.SLOBook) entry, with the
        experiment's own keys on top."""
        from dataclasses import replace

        return replace(book.for_experiment(self.component, self.name), **self.slo)

    @property
    def platforms(self) -> tuple[str, ...]:
        """Where its component can be deployed: kind always; the local platform only for the
        components it runs from Debian's packages and Maven (chaos.components.LOCAL_COMPONENTS)."""
        from .components import LOCAL_COMPONENTS

        platforms = ("local", "kind") if self.component in LOCAL_COMPONENTS else ("kind",)
        return tuple(p for p in platforms if not self.only_on or p in self.only_on)


EXPERIMENTS_DIR = Path(__file__).resolve().parents[1] / "experiments"
_found: tuple[Scenario, ...] | None = None


def __getattr__(name: str):
    if name == "SCENARIOS":  # found in experiments/ on first use (its modules import this one)
        return discover()
    raise AttributeError(name)


def _module_scenarios(module) -> list[Scenario]:
    """The Scenarios a module defines at its top level, alone or in tuples and lists, in order."""
    out: list[Scenario] = []
    for value in vars(module).values():
        for item in (value if isinstance(value, (tuple, list)) else (value,)):
            if isinstance(item, Scenario) and item not in out:
                out.append(item)
    return out


def _module_order(path: Path) -> tuple[int, str]:
    from .components import COMPONENTS

    component = path.stem[len("test_"):]
    return (COMPONENTS.index(component) if component in COMPONENTS else len(COMPONENTS), path.name)


def discover(directory: Path = EXPERIMENTS_DIR) -> tuple[Scenario, ...]:
    """Every experiment defined in the directory's test_*.py modules (with chaos.experiment):
    the components' own modules in the order of chaos.components.COMPONENTS, then the others by
    name. Two definitions of one name are an error naming both modules."""
    global _found
    if _found is not None and directory == EXPERIMENTS_DIR:
        return _found
    where: dict[str, tuple[Scenario, str]] = {}
    for path in sorted(directory.glob("test_*.py"), key=_module_order):
        for sc in _module_scenarios(load_file(path, f"_chaos_experiments_.{path.stem}")):
            if sc.key in where and where[sc.key][0] != sc:
                raise InvalidConfig(f"experiment {sc.key} is defined twice: in {where[sc.key][1]} and {path}",
                                    field="experiments", fix="give one of them another name")
            where.setdefault(sc.key, (sc, str(path)))
    found = tuple(sc for sc, _ in where.values())
    if directory == EXPERIMENTS_DIR:
        _found = found
    return found


def on_platform(scenarios: Iterable[Scenario], platform: str) -> list[Scenario]:
    """The scenarios whose component can be deployed on the platform."""
    return [s for s in scenarios if platform in s.platforms]


def scenario(key: str) -> Scenario:
    for s in discover():
        if s.key == key:
            return s
    raise InvalidConfig(f"unknown experiment {key!r}", field="selector",
                        fix="`chaos list` shows the experiments")


def _matches(s: Scenario, selector: str) -> bool:
    parts = selector.strip("/").split("/")
    if len(parts) == 1:
        (p,) = parts
        return p in (s.component, s.fault, s.name)
    comp, rest = parts[0], "/".join(parts[1:])
    return comp == s.component and rest in (s.name, s.fault)


def _no_match(selector: str) -> InvalidConfig:
    """The closest selector if one is close (a typo), else what a selector can be; never all of
    them: `chaos list` shows those."""
    from .slo import did_you_mean

    selectors = ({s.component for s in discover()} | {s.key for s in discover()} | {s.name for s in discover()}
                 | {s.fault for s in discover()} | {f"{s.component}/{s.fault}" for s in discover()})
    hint = did_you_mean(selector, sorted(selectors))
    if hint:
        return InvalidConfig(f"{selector!r} matches no experiment; {hint.rstrip()}", field="selector",
                             fix="`chaos list` with no selector shows every experiment")
    components = ", ".join(sorted({s.component for s in discover()}))
    faults = ", ".join(sorted({s.fault for s in discover()}))
    return InvalidConfig(f"{selector!r} matches no experiment", field="selector",
                         fix=f"name a component ({components}), a fault ({faults}) or an experiment; "
                             "`chaos list` with no selector shows every experiment")


def select(selectors: Iterable[str], *, include_negative: bool = False) -> list[Scenario]:
    """Scenarios matching any selector; an empty list of selectors means all. A selector that
    matches nothing is an error naming it. Negative controls run only when named exactly."""
    selectors = [s for s in selectors if s]
    if not selectors:
        return [s for s in discover() if include_negative or not s.negative_control]
    chosen: list[Scenario] = []
    for sel in selectors:
        hits = [s for s in discover() if _matches(s, sel)
                and (include_negative or not s.negative_control or sel in (s.key, s.name))]
        if not hits:
            raise _no_match(sel)
        chosen += [h for h in hits if h not in chosen]
    return chosen
