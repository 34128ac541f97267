"""Components: one system each (how to bring it up, find its roles, probe it, its SLOs)."""

from .base import Component, Target

__all__ = ["Component", "Target", "get_component", "prerequisites", "missing_on_local", "COMPONENTS",
           "LOCAL_COMPONENTS"]

# Deployed on the local platform (Debian's packages, Maven's jars) and on kind.
LOCAL_COMPONENTS = ("postgres", "zookeeper", "kafka", "redis", "elasticsearch", "flink")
# Everything, the two deployed from fixtures/kind only included.
COMPONENTS = LOCAL_COMPONENTS + ("clickhouse", "minio")
# Where a component's local prerequisites live when not in its own module.
_LOCAL_MODULES = {"flink": "flink_local"}
_CLASSES = {"postgres": ("postgres", "PostgresCluster"), "zookeeper": ("zookeeper", "ZooKeeperEnsemble"),
            "kafka": ("kafka", "KafkaCluster"), "redis": ("redis", "RedisCluster"),
            "elasticsearch": ("elasticsearch", "ElasticsearchCluster"),
            "clickhouse": ("clickhouse", "ClickHouseCluster"), "minio": ("minio", "MinioCluster"),
            "flink": ("flink", "FlinkCluster")}


def get_component(name: str):
    import importlib

    from ..errors import InvalidConfig

    if name not in _CLASSES:
        raise InvalidConfig(f"unknown component {name!r}", field="component",
                            fix=f"choose one of: {', '.join(COMPONENTS)}")
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def prerequisites(name: str) -> list[str]:
    """What this machine lacks to run the component, each with its fix."""
    import importlib

    get_component(name)  # unknown names raise InvalidConfig
    return importlib.import_module(f"{__name__}.{_LOCAL_MODULES.get(name, name)}").prerequisites()


def missing_on_local(components) -> list[str]:
    """Everything this machine lacks to run these components on the local platform, each with
    its fix: the platform's own needs first, then each component's."""
    from ..platforms.local_host import check_prerequisites

    missing = check_prerequisites()
    for component in sorted(set(components)):
        missing += prerequisites(component)
    return missing
