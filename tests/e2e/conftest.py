"""The kind end-to-end tier (marker kind_e2e): a real kind cluster from kind-config.yaml, the
whole stack of fixtures/kind/stack.yaml deployed, the experiments run on it.

Skipped, naming exactly what is missing, without the `kind` binary, a running Docker daemon, or a
container registry to pull the stack's images from (images present in the local Docker, or built
by the harness from stack.yaml `build`, need none). Options: --keep-cluster (reuse and keep the
cluster; CHAOS_KEEP_CLUSTER=1), --chaos-kind-name, --chaos-image key=ref, --chaos-state-dir.

    python3 -m pytest tests/e2e -m kind_e2e --keep-cluster -ra
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chaos.platforms.kind import KindPlatform, kind_prerequisites
from chaos.platforms.stack import STACK_FILE, load_stack, parse_image_options, resolve_images

REGISTRY_CHECK_TIMEOUT_S = 30.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kind_e2e: needs kind, a Docker daemon and a container registry (or the "
                                       "stack's images loaded); creates a kind cluster")


def images_without_source(images: dict[str, str], build: set[str], docker: str = "docker") -> list[str]:
    """Images neither in the local Docker, nor built by the harness, nor pullable: for each, why.
    Stops at the first one a registry does not answer for (the others would wait as long)."""
    missing = []
    for key, ref in images.items():
        if key in build:
            continue
        if subprocess.run([docker, "image", "inspect", ref], capture_output=True, timeout=30).returncode == 0:
            continue
        try:
            proc = subprocess.run([docker, "manifest", "inspect", ref], capture_output=True, text=True,
                                  timeout=REGISTRY_CHECK_TIMEOUT_S)
            ok, why = proc.returncode == 0, (proc.stderr or proc.stdout).strip()[-200:]
        except subprocess.TimeoutExpired:
            ok, why = False, f"no answer within {REGISTRY_CHECK_TIMEOUT_S:.0f} s"
        if not ok:
            missing.append(f"no container registry reachable to pull {ref} ({why}) (fix: give the machine a "
                           f"registry, or `docker pull`/`docker load` the stack's images first)")
            break
    return missing


def e2e_missing(config: pytest.Config) -> list[str]:
    missing = kind_prerequisites()
    if missing:
        return missing
    stack = load_stack(STACK_FILE)
    images = resolve_images(stack, parse_image_options(config.getoption("chaos_image")))
    return images_without_source(images, set(stack.build))


@pytest.fixture(scope="session")
def kind_platform(pytestconfig):
    """A KindPlatform on the kind cluster (created, or reused with --keep-cluster), closed at the
    end: routes removed, the cluster deleted unless kept."""
    missing = e2e_missing(pytestconfig)
    if missing:
        pytest.skip("the kind end-to-end tier needs " + "; ".join(missing))
    state_dir = pytestconfig.getoption("chaos_state_dir")
    platform = KindPlatform(cluster_name=pytestconfig.getoption("chaos_kind_name"),
                            keep_cluster=pytestconfig.getoption("keep_cluster"),
                            images=parse_image_options(pytestconfig.getoption("chaos_image")),
                            state_dir=Path(state_dir) if state_dir else None,
                            log=lambda msg: print(f"[kind-e2e] {msg}", flush=True))
    platform.up()
    try:
        yield platform
    finally:
        platform.close()
