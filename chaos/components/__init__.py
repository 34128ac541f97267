"""Components: one system each (how to bring it up, find its roles, probe it, its SLOs)."""

from .base import Component, Target

__all__ = ["Component", "Target", "get_component", "prerequisites", "missing_on_local", "COMPONENTS"]

COMPONENTS = ("postgres", "zookeeper", "kafka", "redis")


def get_component(name: str):
    from ..errors import InvalidConfig

    if name == "postgres":
        from .postgres import PostgresCluster

        return PostgresCluster
    if name == "zookeeper":
        from .zookeeper import ZooKeeperEnsemble

        return ZooKeeperEnsemble
    if name == "kafka":
        from .kafka import KafkaCluster

        return KafkaCluster
    if name == "redis":
        from .redis import RedisCluster

        return RedisCluster
    raise InvalidConfig(f"unknown component {name!r}", field="component",
                        fix=f"choose one of: {', '.join(COMPONENTS)}")


def prerequisites(name: str) -> list[str]:
    """What this machine lacks to run the component, each with its fix."""
    import importlib

    get_component(name)  # unknown names raise InvalidConfig
    return importlib.import_module(f"{__name__}.{name}").prerequisites()


def missing_on_local(components) -> list[str]:
    """Everything this machine lacks to run these components on the local platform, each with
    its fix: the platform's own needs first, then each component's."""
    from ..platforms.local import check_prerequisites

    missing = check_prerequisites()
    for component in sorted(set(components)):
        missing += prerequisites(component)
    return missing
