"""Composite faults, made of single faults that keep their own proofs and heals.

- `Together`: every part injected, in the order given, and held at once (the leader killed while
  its zone is cut off); healed in reverse order.
- `OneAfterAnother`: a rolling fault (nodes drained one after another): each part but the last
  is injected, held `step_s` and healed, and `between()` (the run loop passes: until the
  component is steady again, as a rolling drain waits for its disruption budget) returns before
  the next one starts; the last one is held as a single fault is, and healed on exit.

Either is proven only when every part was. If a part cannot be injected, the parts already in
place are healed, in reverse order, before the error goes up.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from .base import Fault

__all__ = ["Together", "OneAfterAnother"]


class _Composite(Fault):
    def __init__(self, platform, parts: Sequence[Fault], timeline, **params: Any):
        if not parts:
            raise ValueError("a composite fault needs at least one part")
        super().__init__(platform, parts[0].target, timeline, **params)
        self.parts = list(parts)

    def _proof(self) -> tuple[dict[str, Any], bool]:
        proofs = [{"fault": p.kind, "target": p.target.to_dict(), "injected_s": p.injected_s,
                   "healed_s": p.healed_s, **p.proof, "proven": p.proven} for p in self.parts]
        return {"parts": proofs}, all(p.proven for p in self.parts)

    def _heal(self) -> dict[str, Any]:
        """Every part healed, the last injected first; one that fails does not stop the others
        (its error is raised once all were tried)."""
        healed, failed = [], None
        for part in reversed(self.parts):
            try:
                healed.append({"fault": part.kind, "pod": part.target.pod, **part.heal()})
            except Exception as exc:
                failed = failed or exc
        if failed is not None:
            raise failed
        return {"order": "reverse", "parts": healed}


class Together(_Composite):
    kind = "together"

    def describe(self) -> str:
        return " + ".join(p.describe() for p in self.parts)

    def _inject(self) -> tuple[dict[str, Any], bool]:
        for part in self.parts:
            part.__enter__()  # a part that fails heals itself; Fault.__enter__ then heals the others
        return self._proof()


class OneAfterAnother(_Composite):
    kind = "sequence"

    def __init__(self, platform, parts: Sequence[Fault], timeline, step_s: float = 10.0,
                 between: Callable[[], Any] | None = None):
        super().__init__(platform, parts, timeline, step_s=step_s)
        self.step_s = step_s
        self.between = between  # after each heal, before the next part: e.g. until the component is steady
        self.waited_s: list[float] = []

    def describe(self) -> str:
        return " then ".join(p.describe() for p in self.parts)

    def _inject(self) -> tuple[dict[str, Any], bool]:
        for part in self.parts[:-1]:
            with part:  # healed before the next one starts
                time.sleep(self.step_s)
            t0 = time.monotonic()
            if self.between is not None:
                self.between()  # as a rolling drain waits for its disruption budget
            self.waited_s.append(round(time.monotonic() - t0, 3))
        self.parts[-1].__enter__()
        proof, proven = self._proof()
        return {**proof, "waited_between_s": self.waited_s}, proven
