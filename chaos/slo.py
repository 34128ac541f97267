"""Service-level objectives per experiment, and the YAML file they come from.

The file is validated completely when it is loaded, before any fault is injected.

File format (schema 1); every level below is optional, later levels override earlier ones:

    schema: 1
    defaults: {settle_s: 2, max_unavailability_s: 30}     # any SLO field
    components:
      postgres:
        defaults: {max_recovery_s: 30}                    # any SLO field
        experiments:
          primary-kill: {max_unavailability_s: 30}        # any SLO field; empty means defaults
          standby-kill:

SLO fields: max_unavailability_s, max_recovery_s (seconds >= 0 or null = not bounded),
max_lost_writes, max_lost_replicated_writes, max_duplicate_writes, max_sessions_lost (integers >= 0
or null), allow_split_brain,
expect_writes_refused, recover_during_fault (true/false), settle_s (seconds > 0).
Merge order: SLO dataclass defaults < file defaults < component defaults < experiment entry.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterable, Mapping

import yaml

from chaos.errors import InvalidConfig

__all__ = ["SLO", "SLOBook", "ComponentSLOs", "load_slo_file", "parse_slo_document", "validate_selection",
           "did_you_mean"]

SCHEMA = 1


class _Problem(Exception):
    """A validation problem before we know which file it came from; becomes InvalidConfig."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_error(self, source: str | None = None) -> InvalidConfig:
        where = f" (in {source})" if source else ""
        return InvalidConfig(f"{self.message}{where}", field=self.field)


@dataclass(frozen=True)
class SLO:
    """What one experiment must achieve; None means the quantity is not bounded."""

    max_unavailability_s: float | None = 30
    max_recovery_s: float | None = 30
    max_lost_writes: int | None = 0
    # Writes acknowledged AND confirmed on a replica (Redis WAIT); None = unbounded.
    max_lost_replicated_writes: int | None = None
    max_duplicate_writes: int | None = 0
    allow_split_brain: bool = False
    # How long operations must keep succeeding before the system counts as recovered.
    settle_s: float = 2.0
    # For quorum-loss experiments: any write acknowledged between injection and heal is a failure.
    expect_writes_refused: bool = False
    # Failover must happen while the fault holds: a system that only comes back once the harness
    # heals the fault did not fail over, however short the outage was.
    recover_during_fault: bool = True
    # Clients with sessions (ZooKeeper): how many sessions may be lost (expired); None = unbounded.
    max_sessions_lost: int | None = None

    def __post_init__(self) -> None:
        # Programmatic SLOs get the same checks as file ones.
        try:
            for name, value in asdict(self).items():
                _check_value(name, value, name)
        except _Problem as problem:
            raise problem.to_error() from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SLO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SLO))
_SECONDS = {"max_unavailability_s", "max_recovery_s"}
_COUNTS = {"max_lost_writes", "max_duplicate_writes", "max_sessions_lost", "max_lost_replicated_writes"}
_FLAGS = {"allow_split_brain", "expect_writes_refused", "recover_during_fault"}


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_value(name: str, value: Any, path: str) -> None:
    """Raise InvalidConfig unless `value` is acceptable for SLO field `name`."""
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise _Problem(f"expected true or false, found {_describe(value)}", field=path)
        return
    if name in _COUNTS:
        # bool is an int in Python; `true` here is a typo, not 1.
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Problem(f"expected an integer >= 0 or null, found {_describe(value)}", field=path)
        if value < 0:
            raise _Problem(f"expected an integer >= 0 or null, found {value}", field=path)
        return
    if value is None and name in _SECONDS:
        return
    expected = "a number of seconds > 0" if name == "settle_s" else "a number of seconds >= 0 or null"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Problem(f"expected {expected}, found {_describe(value)}", field=path)
    if value != value or value in (float("inf"), float("-inf")):
        raise _Problem(f"expected {expected}, found {value}", field=path)
    if value < 0 or (name == "settle_s" and value == 0):
        raise _Problem(f"expected {expected}, found {value}", field=path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """The words `did you mean 'X'? ` (closing space included) for the choice closest to a misspelt
    word, or "" if none is close; shared by every message that answers a typo (SLO keys and
    experiments, selectors)."""
    near = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {near[0]!r}? " if near else ""


def _unknown_key(key: Any, valid: Iterable[str], path: str) -> _Problem:
    valid = sorted(valid)
    hint = did_you_mean(str(key), valid)
    return _Problem(f"unknown key {key!r}; {hint}valid keys: {', '.join(valid)}", field=path)


def _mapping(value: Any, path: str, what: str) -> dict[str, Any]:
    # An empty YAML entry (`standby-kill:`) is None and means "nothing to override".
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Problem(f"expected a mapping of {what}, found {_describe(value)}", field=path)
    for key in value:
        if not isinstance(key, str):
            raise _Problem(f"expected string keys, found {_describe(key)}", field=f"{path}.{key}")
    return dict(value)


def _slo_overrides(value: Any, path: str) -> dict[str, Any]:
    entries = _mapping(value, path, "SLO fields")
    for key, val in entries.items():
        if key not in SLO_FIELDS:
            raise _unknown_key(key, SLO_FIELDS, f"{path}.{key}")
        _check_value(key, val, f"{path}.{key}")
    return entries


@dataclass(frozen=True)
class ComponentSLOs:
    """One component's section of the file: its defaults and per-experiment overrides."""

    defaults: dict[str, Any] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SLOBook:
    """A validated SLO file; `for_experiment` resolves the merged SLO of one experiment."""

    defaults: dict[str, Any] = field(default_factory=dict)
    components: dict[str, ComponentSLOs] = field(default_factory=dict)
    source: str | None = None

    def component_names(self) -> list[str]:
        return sorted(self.components)

    def experiment_names(self, component: str) -> list[str]:
        section = self.components.get(component)
        return sorted(section.experiments) if section else []

    def for_experiment(self, component: str, experiment: str) -> SLO:
        """Merged SLO; an experiment or component absent from the file gets the defaults.

        `experiment` may be given as "primary-kill" or "postgres/primary-kill".
        """
        prefix = f"{component}/"
        if experiment.startswith(prefix):
            experiment = experiment[len(prefix):]
        section = self.components.get(component, ComponentSLOs())
        merged = {**self.defaults, **section.defaults, **section.experiments.get(experiment, {})}
        return replace(SLO(), **merged)


def parse_slo_document(doc: Any, source: str | None = None) -> SLOBook:
    """Validate an already-parsed YAML document and build the SLOBook."""
    try:
        return _parse(doc, source)
    except _Problem as problem:
        raise problem.to_error(source) from None


def _parse(doc: Any, source: str | None) -> SLOBook:
    if not isinstance(doc, Mapping):
        raise _Problem(
            f"expected a mapping with keys schema, defaults, components at the top level, found {_describe(doc)}",
            field="(top level)",
        )
    top_keys = ("schema", "defaults", "components")
    for key in doc:
        if key not in top_keys:
            raise _unknown_key(key, top_keys, str(key))
    if "schema" not in doc:
        raise _Problem(f"missing; expected schema: {SCHEMA}", field="schema")
    schema = doc["schema"]
    if isinstance(schema, bool) or schema != SCHEMA:
        raise _Problem(
            f"expected {SCHEMA}, found {_describe(schema)}; this harness reads schema {SCHEMA} only",
            field="schema",
        )
    defaults = _slo_overrides(doc.get("defaults"), "defaults")
    components: dict[str, ComponentSLOs] = {}
    for name, body in _mapping(doc.get("components"), "components", "component names").items():
        path = f"components.{name}"
        section = _mapping(body, path, "defaults/experiments")
        for key in section:
            if key not in ("defaults", "experiments"):
                raise _unknown_key(key, ("defaults", "experiments"), f"{path}.{key}")
        experiments = {
            exp: _slo_overrides(entry, f"{path}.experiments.{exp}")
            for exp, entry in _mapping(section.get("experiments"), f"{path}.experiments", "experiments").items()
        }
        components[name] = ComponentSLOs(_slo_overrides(section.get("defaults"), f"{path}.defaults"), experiments)
    return SLOBook(defaults, components, source)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would silently let the last one win."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable key: construct_mapping reports it with its position
        if duplicate:
            mark = key_node.start_mark
            raise InvalidConfig(
                f"duplicate key {key!r} at line {mark.line + 1}, column {mark.column + 1} of {loader.name}",
                field=str(key),
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_slo_file(path: str | os.PathLike[str]) -> SLOBook:
    """Read and validate an SLO file; every problem raises InvalidConfig naming the field."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InvalidConfig(f"SLO file {path} does not exist", field="slo_file") from None
    except OSError as exc:
        raise InvalidConfig(f"cannot read SLO file {path}: {exc}", field="slo_file") from exc
    try:
        loader = _UniqueKeyLoader(text)
        loader.name = path
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidConfig(f"invalid YAML in {path}{where}: {problem}", field="slo_file") from exc
    return parse_slo_document(doc, source=path)


def validate_selection(book: SLOBook, component: str, experiments: Iterable[str]) -> None:
    """Raise InvalidConfig if the file names an experiment the component does not have.

    Such an entry is usually a typo, and its SLO would silently never apply.
    """
    known = sorted(set(experiments))
    for name in book.experiment_names(component):
        if name not in known:
            hint = did_you_mean(name, known)
            raise InvalidConfig(
                f"{component} has no experiment {name!r}; {hint}known experiments: {', '.join(known) or '(none)'}",
                field=f"components.{component}.experiments.{name}",
            )
