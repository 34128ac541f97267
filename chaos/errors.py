"""Errors that say who is at fault: the user's input, the harness, or the system under test.

Every exception the library raises derives from ChaosError; the CLI maps InvalidConfig to exit
status 2 and anything else to 3 (the harness itself failed). A broken SLO is no exception: it is
a verdict in the results, and `chaos run` exits 1 for it.
"""

from __future__ import annotations

__all__ = [
    "ChaosError",
    "InvalidConfig",
    "MissingPrerequisite",
    "HarnessError",
    "NotSteady",
    "InjectionError",
    "HealError",
    "PlatformError",
]


class ChaosError(Exception):
    """Root of every error the harness raises."""


class InvalidConfig(ChaosError):
    """The user's input is wrong (SLO file, selector, option). Raised before any fault."""

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None):
        self.field = field
        self.fix = fix
        parts = []
        if field:
            parts.append(f"{field}: ")
        parts.append(message)
        if fix:
            parts.append(f" (fix: {fix})")
        super().__init__("".join(parts))


class MissingPrerequisite(InvalidConfig):
    """The machine lacks something the run needs (root, a binary, a package)."""


class HarnessError(ChaosError):
    """The harness itself failed; the system under test is not to blame."""


class PlatformError(HarnessError):
    """A platform action (start a process, add a rule) failed."""


class NotSteady(HarnessError):
    """A component did not reach its steady shape in time. Before a fault that is a setup
    problem; after a heal the run loop turns it into a failed verdict."""

    def __init__(self, message: str, problems: list[str]):
        self.problems = problems
        super().__init__(message)


class InjectionError(HarnessError):
    """A fault could not be injected (or its effect could not be proven)."""


class HealError(HarnessError):
    """A fault could not be healed; `chaos heal` is the way out."""

