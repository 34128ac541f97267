"""Faults: one kind each, a context manager that injects on enter, heals on exit (always), and
proves that it took effect. Faults never judge the outcome."""

from .base import Fault
from .composite import OneAfterAnother, Together
from .crash import NodeCrash
from .drain import NodeDrain
from .kill import PodKill
from .partition import ZonePartition
from .quorum import QuorumLoss

__all__ = ["Fault", "PodKill", "NodeDrain", "NodeCrash", "ZonePartition", "QuorumLoss", "Together", "OneAfterAnother",
           "FAULTS", "COMPOSITES", "make_fault", "make_composite"]

FAULTS = {"kill": PodKill, "drain": NodeDrain, "crash": NodeCrash, "partition": ZonePartition,
          "quorum-loss": QuorumLoss}
# Made of single faults (chaos.faults.composite): each part has its own kind and target.
COMPOSITES = {"together": Together, "sequence": OneAfterAnother}


def make_fault(kind: str, platform, target, timeline, **params) -> Fault:
    from ..errors import InvalidConfig

    try:
        cls = FAULTS[kind]
    except KeyError:
        raise InvalidConfig(f"unknown fault {kind!r}", field="fault", fix=f"one of {', '.join(FAULTS)}") from None
    return cls(platform, target, timeline, **params)


def make_composite(kind: str, platform, parts: list[Fault], timeline, **params) -> Fault:
    from ..errors import InvalidConfig

    try:
        cls = COMPOSITES[kind]
    except KeyError:
        raise InvalidConfig(f"unknown composite fault {kind!r}", field="fault",
                            fix=f"one of {', '.join(COMPOSITES)}") from None
    return cls(platform, parts, timeline, **params)
