"""Faults: one kind each, a context manager that injects on enter, heals on exit (always), and
proves that it took effect. Faults never judge the outcome."""

from .base import Fault
from .crash import NodeCrash
from .drain import NodeDrain
from .kill import PodKill
from .partition import ZonePartition
from .quorum import QuorumLoss

__all__ = ["Fault", "PodKill", "NodeDrain", "NodeCrash", "ZonePartition", "QuorumLoss", "FAULTS", "make_fault"]

FAULTS = {"kill": PodKill, "drain": NodeDrain, "crash": NodeCrash, "partition": ZonePartition,
          "quorum-loss": QuorumLoss}


def make_fault(kind: str, platform, target, timeline, **params) -> Fault:
    from ..errors import InvalidConfig

    try:
        cls = FAULTS[kind]
    except KeyError:
        raise InvalidConfig(f"unknown fault {kind!r}", field="fault", fix=f"one of {', '.join(FAULTS)}") from None
    return cls(platform, target, timeline, **params)
