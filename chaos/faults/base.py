"""The fault contract: `with fault:` injects on enter and heals on exit, even when the
injection failed halfway, on an exception or on Ctrl-C; heal is idempotent.

Subclasses implement `_inject()` (returns the proof data and whether it proves the fault took
effect) and `_heal()` (returns what healing found). Every action is recorded on the timeline.
"""

from __future__ import annotations

from typing import Any

from ..components.base import Target
from ..errors import HealError, InjectionError
from ..timeline import NEMESIS, Timeline

__all__ = ["Fault"]


class Fault:
    kind = "fault"

    def __init__(self, platform, target: Target, timeline: Timeline, **params: Any):
        self.platform = platform
        self.target = target
        self.timeline = timeline
        self.params = params
        self.proof: dict[str, Any] = {}
        self.proven = False
        self.injected_s: float | None = None
        self.healed_s: float | None = None
        self.heal_result: dict[str, Any] = {}
        self._entered = False
        self._healed = False

    def describe(self) -> str:
        return f"{self.kind} {self.target.pod} on {self.target.node} (zone {self.target.zone}, {self.target.role})"

    def _inject(self) -> tuple[dict[str, Any], bool]:
        raise NotImplementedError

    def _heal(self) -> dict[str, Any]:
        raise NotImplementedError

    def __enter__(self) -> "Fault":
        self._entered = True
        try:
            self.injected_s = self.timeline.now()
            self.timeline.record(NEMESIS, "nemesis", "inject", value=self.describe())
            self.proof, self.proven = self._inject()
            self.timeline.record(NEMESIS, "nemesis", "proof", value=self.describe(),
                                 extra={"proven": self.proven, **self.proof})
        except BaseException as exc:
            self.timeline.record(NEMESIS, "nemesis", "inject-failed", value=self.describe(), error=str(exc))
            self.heal()
            if isinstance(exc, Exception) and not isinstance(exc, InjectionError):
                raise InjectionError(f"could not inject {self.describe()}: {exc}") from exc
            raise
        return self

    def heal(self) -> dict[str, Any]:
        if self._healed or not self._entered:
            return self.heal_result
        self._healed = True
        self.healed_s = self.timeline.now()
        try:
            self.heal_result = self._heal() or {}
        except Exception as exc:
            self.timeline.record(NEMESIS, "nemesis", "heal-failed", value=self.describe(), error=str(exc))
            raise HealError(f"could not heal {self.describe()}: {exc} (run `chaos heal`)") from exc
        self.timeline.record(NEMESIS, "nemesis", "heal", value=self.describe(), extra=self.heal_result)
        return self.heal_result

    def __exit__(self, *exc_info) -> None:
        self.heal()
