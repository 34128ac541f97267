"""Chaos harness: inject one fault at a time into a stateful stack and judge, from the
client's side, whether each component failed over within its SLO."""

__version__ = "0.1.0"
