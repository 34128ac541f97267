"""The kube tier: a real control plane (kube-apiserver, kube-controller-manager, kube-scheduler,
etcd) built from source, with six kwok nodes in zones a/b/c. See controlplane.py.

The module fixture `control_plane` builds the binaries once (cached in CHAOS_CACHE_DIR, default
/var/cache/chaos-harness; a cold build takes minutes, see fixtures/controlplane/README.md), starts
the control plane and always stops it. It yields the ControlPlane: .kubeconfig (path), .context,
.node_names, .zones ({zone: [node, ...]}), .node_zone ({node: zone}), .version, .server, .token,
and crash_node(node) / restore_node(node) (kill / restart that node's kwok, its "kubelet").

Tests outside tests/kube use it by importing it into their conftest:
    from tests.kube.conftest import control_plane  # noqa: F401
Each conftest that imports it registers its own fixture; they share one control plane
(reference counted here), so a session never runs two at once. The scope is the module: a cached
start takes about 4 s, and the control plane does not keep running (and taking CPU) while the
experiments measure failover times later in the same session.
"""

from __future__ import annotations

import contextlib

import pytest

from .controlplane import ControlPlane, prerequisites

_shared: dict = {"cp": None, "users": 0}


@pytest.fixture(scope="module")
def api(control_plane):
    """A kubernetes ApiClient for the control plane (tests in tests/kube)."""
    from chaos.platforms.kube import api_client

    api, _path, _ctx = api_client(control_plane.kubeconfig, control_plane.context)
    yield api
    api.close()


@pytest.fixture(scope="module")
def control_plane(request):
    missing = prerequisites()
    if missing:
        pytest.skip("the kube control-plane tier needs " + "; ".join(missing))
    if _shared["cp"] is None:
        cp = ControlPlane()
        if not cp.is_built():
            # A cold build takes minutes: show its progress lines instead of capturing them.
            capture = request.config.pluginmanager.getplugin("capturemanager")
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                cp.build()
        cp.start()  # stops what it started if it fails
        _shared["cp"] = cp
    _shared["users"] += 1
    try:
        yield _shared["cp"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            cp, _shared["cp"] = _shared["cp"], None
            cp.stop()
