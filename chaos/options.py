"""Validation of the run options that `chaos run` and the pytest plugin both take: the platform,
the kind image overrides, and what the machine lacks for the platform. Written once, used by both.

Each function raises InvalidConfig (or MissingPrerequisite) naming the option as the caller
spells it (`--platform` or `--chaos-platform`), before anything is created or injected.
"""

from __future__ import annotations

from typing import Iterable

from .errors import InvalidConfig, MissingPrerequisite

__all__ = ["check_platform", "check_experiment_platform", "image_overrides", "check_prerequisites", "repeat_count",
           "MAX_REPEAT", "probe_interval_ms", "PROBE_INTERVAL_MS"]

MAX_REPEAT = 100
# The probe's interval in milliseconds: below 5 ms the workers' own scheduling dominates; above
# 10 s a short outage falls between two operations.
PROBE_INTERVAL_MS = (5, 10000)


def check_platform(platform: str, option: str) -> None:
    """The platform is one the harness knows."""
    from .platforms import PLATFORMS

    if platform not in PLATFORMS:
        raise InvalidConfig(f"unknown platform {platform!r}", field=option, fix=f"one of: {', '.join(PLATFORMS)}")


def repeat_count(value: object, option: str) -> int:
    """How many times each experiment runs: a whole number from 1 to MAX_REPEAT."""
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_REPEAT:
        raise InvalidConfig(f"{value!r} is not a whole number from 1 to {MAX_REPEAT}", field=option,
                            fix=f"e.g. {option} 5")
    return int(text)


def probe_interval_ms(value: object, option: str) -> float:
    """The probe's interval in seconds, given in whole milliseconds (5 to 10000)."""
    text = str(value).strip()
    low, high = PROBE_INTERVAL_MS
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidConfig(f"{value!r} is not a whole number of milliseconds from {low} to {high}", field=option,
                            fix=f"e.g. {option} 20")
    return int(text) / 1000.0


def check_experiment_platform(platform: str, option: str) -> None:
    """The components' experiments can run on the platform: a known one that deploys the stack
    (local, kind); a plain kube context has its faults but no stack deployment."""
    check_platform(platform, option)
    if platform == "kube":
        raise InvalidConfig(f"the components' experiments do not run on {option} kube yet: deploying the stack "
                            "on Kubernetes is not built", field=option,
                            fix="run them on the local platform (the default); the kube platform's faults are "
                                "exercised by tests/kube and tests/contract")


def image_overrides(values: Iterable[str], platform: str) -> dict[str, str]:
    """KEY=REF image overrides, checked against fixtures/kind/stack.yaml's image keys (with the
    CHAOS_IMAGE_* variables) when given or on the kind platform; on kind the whole stack.yaml is
    validated (its directories too), so a broken stack is named before a cluster is created."""
    from .platforms.stack import load_stack, parse_image_options, resolve_images

    explicit = parse_image_options(values)
    on_kind = platform == "kind"
    if explicit or on_kind:
        resolve_images(load_stack(check_dirs=on_kind), explicit)
    return explicit


def check_prerequisites(platform: str, components: Iterable[str], option: str) -> None:
    """The machine has what the platform, and on the local platform these components, need."""
    if platform == "kind":
        from .platforms.kind import kind_prerequisites

        missing = kind_prerequisites()
        if missing:
            raise MissingPrerequisite("the kind platform needs " + "; ".join(missing), field=option)
    elif platform == "local":
        from .components import missing_on_local

        missing = missing_on_local(components)
        if missing:
            raise MissingPrerequisite("missing prerequisites: " + "; ".join(missing),
                                      fix="`chaos doctor` lists what is missing")
