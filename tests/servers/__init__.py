"""Helpers that fetch (once, cached) and run real servers for the harness's own tests, on
127.0.0.1, always stopped by their fixtures. One module per server."""

# The control-plane tier's picker (standard library only, like every helper here).
from tests.kube.controlplane import free_ports

__all__ = ["free_ports", "free_port"]


def free_port() -> int:
    return free_ports(1)[0]
