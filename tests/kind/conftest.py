"""The kind tier: a real kind cluster on this machine (one control plane, six workers in zones
a/b/c, from kind-config.yaml) with the node image the harness builds offline
(fixtures/kind-node), on a Docker daemon the session starts itself.

The daemon (tests.docker.conftest.DockerDaemon, private directories and socket under
$CHAOS_STATE_DIR/test-dockerd-kind) leaves host networking alone: no iptables, no masquerade, no
forwarding changes. Where the host's capability bounding set lacks CAP_SYS_RESOURCE its default
runtime is fixtures/kind-node/runc-wrapper.sh, without which no kind node (privileged) starts.
The kind nodes sit on a Docker network `kind` the session creates first, on the bridge
chaoskind0 and CHAOS_KIND_SUBNET (default 10.215.0.0/24); the host gets one FORWARD ACCEPT rule
for that bridge (bridged frames between nodes pass FORWARD with br_netfilter).

At the end the cluster is deleted (CHAOS_KEEP_CLUSTER=1 keeps it, and the daemon, for the next
session), the network, the rule and the daemon go, and the host's FORWARD policies and sysctls
are put back; the teardown fails if anything is left.

Needs root, docker.io (dockerd), go 1.26+, gcc, debootstrap and jq; the first session builds the
node image (about 15 minutes on 2 cores, cached in /var/cache/chaos-harness).
"""

from __future__ import annotations

import contextlib
from chaos._modules import load_file
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.docker.conftest import (DockerDaemon, add_host_rule, host_snapshot, live_printer, remove_host_rules,
                                   remove_run_dirs, restore_host, sh)

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "fixtures" / "kind-node" / "build.py"
RUNC_WRAPPER = REPO / "fixtures" / "kind-node" / "runc-wrapper.sh"
NETWORK = "kind"
BRIDGE = "chaoskind0"
SUBNET = os.environ.get("CHAOS_KIND_SUBNET", "10.215.0.0/24")
CLUSTER = "chaos"
HOST_RULE_COMMENT = "chaos-kind-tests:bridge"
ZONES = {"a": 2, "b": 2, "c": 2}


def load_build_script():
    return load_file(BUILD_SCRIPT, "chaos_kind_node_build")


def first_line(proc: subprocess.Popen, prefix: str, timeout_s: float) -> str:
    """The first line a victim subprocess prints that starts with `prefix` (what it printed
    before, in the assertion, when it exits or the time runs out without one)."""
    line, seen = "", []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith(prefix) or not line:
            break
    assert line.startswith(prefix), f"the victim run never printed {prefix}: {''.join(seen)[-3000:]}"
    return line


def missing_prerequisites() -> list[str]:
    missing = load_build_script().missing_prerequisites()
    if shutil.which("dockerd") is None:
        missing.append("dockerd (apt-get install docker.io)")
    return missing


class KindTier:
    """Daemon + network + node image + kind cluster; close() removes them all."""

    def __init__(self, say: Callable[[str], None] = print, keep: bool = False):
        from chaos.platforms.kind import lacks_sys_resource

        self.say = say
        self.keep = keep
        self.before: dict[str, Any] | None = None
        self.wrapped = lacks_sys_resource()
        self.daemon = DockerDaemon(base=Path(os.environ.get("CHAOS_STATE_DIR", "/var/lib/chaos-harness"))
                                   / "test-dockerd-kind", flags=DockerDaemon.KIND_FLAGS,
                                   runc_wrapper=RUNC_WRAPPER if self.wrapped else None)
        self.docker = self.daemon.docker
        self.timings: dict[str, float] = {}
        self.cluster = None
        self.kind_binary: Path | None = None
        self.closed = False

    def up(self) -> "KindTier":
        from chaos.platforms.kind import KindCluster

        t0 = time.monotonic()
        self.before = host_snapshot()
        try:
            self.timings["dockerd_start_s"] = self.daemon.start()
            self.say(f"dockerd {'adopted' if self.daemon.adopted else 'started'} (pid {self.daemon.pid}"
                     + (", default runtime runc-wrapper.sh: this host lacks CAP_SYS_RESOURCE" if self.wrapped else "")
                     + ")")
            add_host_rule(BRIDGE, HOST_RULE_COMMENT)
            if sh(*self.docker, "network", "inspect", NETWORK).returncode != 0:
                sh(*self.docker, "network", "create", "--driver", "bridge", "--subnet", SUBNET,
                   "-o", f"com.docker.network.bridge.name={BRIDGE}", NETWORK, check=True)
            build = load_build_script()
            build._T0 = time.monotonic()
            build.emit = self.say
            t = time.monotonic()
            image = build.ensure_image(self.docker)
            self.kind_binary = build.kind_binary()
            self.timings["image_s"] = time.monotonic() - t
            self.cluster = KindCluster(CLUSTER, REPO / "kind-config.yaml", kind=[str(self.kind_binary)],
                                       docker=self.docker, state_dir=Path(os.environ.get(
                                           "CHAOS_STATE_DIR", "/var/lib/chaos-harness")),
                                       log=self.say, keep=self.keep, node_image=image)
            t = time.monotonic()
            self.cluster.up(routes=True)
            self.timings["cluster_up_s"] = time.monotonic() - t
            self.say(f"kind cluster {CLUSTER} up in {self.timings['cluster_up_s']:.0f} s "
                     f"({time.monotonic() - t0:.0f} s in all)")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> dict[str, Any]:
        """Delete the cluster (unless kept), then the network, the rule and the daemon; returns
        what is left (empty when nothing is)."""
        if self.closed:
            return {}
        self.closed = True
        errors = []
        if self.cluster is not None:
            try:
                self.cluster.down()
            except Exception as exc:
                errors.append(f"deleting the cluster: {exc}")
        if self.keep:
            self.say("cluster and dockerd kept (CHAOS_KEEP_CLUSTER=1)")
            return {"errors": errors} if errors else {}
        with contextlib.suppress(Exception):
            sh(*self.docker, "network", "rm", NETWORK, timeout=60)
        remove_host_rules(BRIDGE, HOST_RULE_COMMENT)
        self.daemon.stop()
        if self.before is not None:
            restore_host(self.before)
            remove_run_dirs(self.before, ours=True)
        left: dict[str, Any] = {}
        if errors:
            left["errors"] = errors
        if sh("ip", "link", "show", BRIDGE).returncode == 0:
            left["bridge"] = BRIDGE
        rules = [line for line in sh("iptables-save").stdout.splitlines() if HOST_RULE_COMMENT in line]
        if rules:
            left["host_rules"] = rules
        routes = [line for line in sh("ip", "route").stdout.splitlines() if line.startswith("10.244.")]
        if routes:
            left["host_routes"] = routes
        dl = self.daemon.leftovers()
        if any(dl.values()):
            left["dockerd"] = dl
        return left


# Package scope: the cluster (seven kubelets on two cores) runs only while tests/kind runs, not
# under the local platform's timed experiments.
@pytest.fixture(scope="package")
def kind_tier(pytestconfig):
    """The kind tier's cluster (see the module docstring)."""
    missing = missing_prerequisites()
    if missing:
        pytest.skip("the kind tier needs: " + "; ".join(missing))
    tier = KindTier(live_printer(pytestconfig, "kind-tier"), keep=os.environ.get("CHAOS_KEEP_CLUSTER") == "1")
    try:
        tier.up()
    except Exception as exc:
        pytest.fail(f"could not bring the kind cluster up: {exc}", pytrace=False)
    yield tier
    left = tier.close()
    assert left == {}, f"the kind tier left things behind: {left}"


@pytest.fixture(scope="package")
def kind_platform(kind_tier, tmp_path_factory):
    """The kind platform on the session's cluster, with its host routes to the pods."""
    from chaos.platforms.kind import KindPlatform

    from kubernetes import client

    platform = KindPlatform(cluster=kind_tier.cluster, docker=kind_tier.docker,
                            state_dir=tmp_path_factory.mktemp("kind-state"), eviction_deadline_s=60).up()
    core = client.CoreV1Api(platform.api)
    if not [n for n in core.list_namespace().items if n.metadata.name == platform.namespaces[0]]:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=platform.namespaces[0])))
    try:
        yield platform
    finally:
        platform.close()


class KindSubject:
    """The fault contract's subject on real kubelets (tests/contract): a pod of a three-replica
    StatefulSet (socat answering TCP, a budget allowing one disruption). A recreated pod may
    land elsewhere with a new IP; serving means Ready and answering from this host through the
    host routes."""
    name = "kind"
    NAMESPACE, SET, PORT = "chaos-stack", "contract", 18080

    def __init__(self, platform):
        self.platform = platform

    def _core(self):
        from kubernetes import client

        return client.CoreV1Api(self.platform.api)

    def start(self):
        from tests.kind.test_kind_cluster import tools_statefulset, wait_ready

        selector = f"app.kubernetes.io/name={self.SET}"
        if not self._core().list_namespaced_pod(self.NAMESPACE, label_selector=selector).items:
            tools_statefulset(self.platform.api, self.SET, 3, self.PORT)
        wait_ready(self._core(), self.SET, 3)
        return self.locate()

    def locate(self):
        from chaos.components.base import Target

        pod = self.platform.pod(f"{self.SET}-0")
        return Target(pod=pod.name, node=pod.node, zone=pod.zone, role="server")

    def wait_serving(self, node: str, timeout_s: float = 120.0) -> None:
        from tests.contract.conftest import wait_serving
        from tests.kind.test_kind_cluster import wait_ready

        wait_ready(self._core(), self.SET, 3, timeout_s)
        wait_serving(self.platform.pod(f"{self.SET}-0").ip, self.PORT, timeout_s)

    def stop(self) -> None:
        pass


@pytest.fixture
def subject(kind_platform):
    """tests/contract's fault contract, run by tests/kind/test_fault_contract.py on kind."""
    s = KindSubject(kind_platform)
    s.target = s.start()
    yield s
    s.stop()
