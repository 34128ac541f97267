"""Target choice: a pure, seeded function of the candidates and the wanted role, so a run can be
replayed from its seed and tested without servers."""

from __future__ import annotations

import random
from typing import Sequence

from .components.base import Target
from .errors import InjectionError

__all__ = ["choose", "ANY_ROLE", "POD_PREFIX"]

ANY_ROLE = "any"
POD_PREFIX = "pod:"  # a role of "pod:<name>" asks for that pod


def choose(targets: Sequence[Target], role: str, rng: random.Random) -> Target:
    """One target with the wanted role ("any" for any role; "pod:<name>" for that pod), chosen
    by `rng`.

    Candidates are sorted by pod name first, so the choice depends only on the seed and the
    cluster's state, never on the order the platform listed the pods in.
    """
    if role.startswith(POD_PREFIX):  # one pod by name, whatever its role
        candidates = [t for t in targets if t.pod == role[len(POD_PREFIX):]]
    else:
        candidates = sorted((t for t in targets if role == ANY_ROLE or t.role == role), key=lambda t: t.pod)
    if not candidates:
        seen = ", ".join(f"{t.pod}={t.role}" for t in targets) or "no pods"
        raise InjectionError(f"no target with role {role!r} (saw {seen})")
    return rng.choice(candidates)
