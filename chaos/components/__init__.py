"""Components: one system each (how to bring it up, find its roles, probe it, its SLOs)."""

from .base import Component, Target

__all__ = ["Component", "Target", "get_component", "COMPONENTS"]

COMPONENTS = ("postgres",)


def get_component(name: str):
    from ..errors import InvalidConfig

    if name == "postgres":
        from .postgres import PostgresCluster

        return PostgresCluster
    raise InvalidConfig(f"unknown component {name!r}", field="component",
                        fix=f"choose one of: {', '.join(COMPONENTS)}")
