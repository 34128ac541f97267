"""Platforms: where the stack runs (nodes, zones, pods) and the raw actions faults are made of."""

from .base import Node, Pod, PodSpec, Platform

__all__ = ["Node", "Pod", "PodSpec", "Platform", "get_platform", "PLATFORMS"]

PLATFORMS = ("local", "kube", "kind")


def get_platform(name: str, **kwargs) -> Platform:
    from ..errors import InvalidConfig

    if name == "local":
        from .local import LocalPlatform

        return LocalPlatform(**kwargs)
    if name == "kube":
        from .kube import KubePlatform

        return KubePlatform(**kwargs)
    if name == "kind":
        from .kind import KindPlatform

        return KindPlatform(**kwargs)
    raise InvalidConfig(f"unknown platform {name!r}", field="--platform",
                        fix=f"choose one of: {', '.join(PLATFORMS)}")

