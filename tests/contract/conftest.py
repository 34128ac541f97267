"""The fault contract runs once per platform, on the same tests. Each platform gives a subject:
the platform, a target pod on it, and a way to wait until that pod serves again.

- local: a small HTTP server as a pod in a network namespace (the session's local platform);
- kube: a pod of a three-replica StatefulSet on the real control plane (kube-apiserver, etcd,
  controller-manager, scheduler built from source) with kwok nodes: kwok stands in for the
  kubelets and makes pods Running and Ready, so "serving" there means Ready, not a TCP answer.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

from chaos.components.base import Target
from chaos.platforms.base import PodSpec
from chaos.waits import poll_until
from tests.kube.conftest import control_plane  # noqa: F401  (one control plane per session, shared)

PORT = 18080


def wait_serving(ip: str, port: int, timeout_s: float = 15.0) -> None:
    """A TCP connection is accepted (a refusal is not serving)."""
    def accepts() -> bool:
        try:
            socket.create_connection((ip, port), timeout=0.5).close()
            return True
        except OSError:
            return False

    assert poll_until(accepts, timeout_s, poll_s=0.05), f"pod not serving on {ip}:{port}"


class LocalSubject:
    name = "local"

    def __init__(self, platform):
        self.platform = platform

    def start(self) -> Target:
        node = self.platform.nodes_in_zone("a")[0]
        self.platform.start_pod(PodSpec(name="contract-0", component="contract", node=node.name, user="nobody",
                                        argv=(sys.executable, "-m", "http.server", str(PORT), "--bind", node.ip),
                                        port=PORT, termination_grace_s=3))
        self.wait_serving(node.name)
        return Target(pod="contract-0", node=node.name, zone=node.zone, role="server")

    def wait_serving(self, node: str, timeout_s: float = 15.0) -> None:
        wait_serving(self.platform.node(node).ip, PORT, timeout_s)

    def locate(self) -> Target:
        return self.target  # a local pod stays on its node

    def stop(self) -> None:
        self.platform.remove_pod("contract-0")


class KubeSubject:
    name = "kube"
    NAMESPACE, SET = "chaos-stack", "contract"

    def __init__(self, platform):
        self.platform = platform

    def start(self) -> Target:
        from tests.kube import kubeutil

        kubeutil.wait_ready(self.platform.core, self.NAMESPACE, self.SET, 3)
        return self.locate()

    def locate(self) -> Target:
        """Where the pod is now: a recreated StatefulSet pod may land on another node."""
        pod = self.platform.pod(f"{self.SET}-0")
        return Target(pod=pod.name, node=pod.node, zone=pod.zone, role="server")

    def wait_serving(self, node: str, timeout_s: float = 60.0) -> None:
        from tests.kube import kubeutil

        kubeutil.wait_ready(self.platform.core, self.NAMESPACE, self.SET, 3, timeout_s)

    def stop(self) -> None:
        pass


@pytest.fixture(scope="module")
def kube_contract_platform(control_plane, tmp_path_factory):
    from kubernetes import client

    from chaos.platforms.kube import KubePlatform
    from tests.kube import kubeutil

    platform = KubePlatform(kubeconfig=control_plane.kubeconfig, context=control_plane.context,
                            allow_contexts=[control_plane.context], namespaces=[KubeSubject.NAMESPACE],
                            state_dir=tmp_path_factory.mktemp("kube-state"), eviction_deadline_s=20).up()
    core = client.CoreV1Api(platform.api)
    kubeutil.ensure_namespace(core, KubeSubject.NAMESPACE)
    kubeutil.statefulset(platform.api, KubeSubject.NAMESPACE, KubeSubject.SET, replicas=3)
    try:
        kubeutil.wait_ready(core, KubeSubject.NAMESPACE, KubeSubject.SET, 3)
        yield platform
    finally:
        try:
            platform.close()
        finally:
            kubeutil.delete_namespace(core, KubeSubject.NAMESPACE)


@pytest.fixture(params=["local", "kube"])
def subject(request):
    if request.param == "local":
        if os.geteuid() != 0:
            pytest.skip("the local platform needs root (network namespaces)")
        s = LocalSubject(request.getfixturevalue("chaos_platform"))
    else:
        s = KubeSubject(request.getfixturevalue("kube_contract_platform"))
    s.target = s.start()
    yield s
    s.stop()
