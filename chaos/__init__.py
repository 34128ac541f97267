"""Chaos harness: inject one fault at a time into a stateful stack and judge, from the
client's side, whether each component failed over within its SLO."""

__version__ = "0.1.0"

from .api import (FaultContext, FaultSpec, Outcome, crash, drain, experiment, kill,  # noqa: E402  the public API
                  one_after_another, partition, quorum_loss, together)

__all__ = ["experiment", "kill", "drain", "crash", "partition", "quorum_loss", "together", "one_after_another",
           "FaultSpec", "FaultContext", "Outcome", "__version__"]
