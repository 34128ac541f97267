"""The kind stack's images, built by the harness from one pinned base, with no container registry.

    base   Debian bookworm: `debootstrap --variant=minbase` from this machine's Debian mirror,
           imported as chaos/debian:bookworm-<key> (a user who reaches a registry may pass
           Debian's slim image instead: CHAOS_IMAGE_BASE=debian:bookworm-slim)
    jre    base + Debian's OpenJDK 17 (fixtures/images/jre), the parent of every JVM image
    the stack's images (stack.yaml `build`): base or jre + Debian packages, plus what the harness
           stages into the build context from its cache (Kafka's jars and Elasticsearch's
           distribution, both from Maven) - the same builds the local platform runs

Each image is keyed by a hash of everything that goes into it (its context's files, the staged
artifacts' names and sizes, its parent's key), labelled with that key, and saved as a tarball in
$CHAOS_CACHE_DIR/images/: a fresh Docker daemon only `docker load`s it; an image whose key is
current is not touched. `docker build --network host`: the build's apt-get reaches the Debian
mirror as this host does (a daemon without iptables gives build containers no network of their
own).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .._modules import load_file
from .._run import run
from ..cache import cache_dir, file_lock
from ..errors import PlatformError

REPO = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO / "fixtures" / "images"
ROOTFS_SCRIPT = REPO / "fixtures" / "node-image" / "build.py"
KEY_LABEL = "org.chaos-harness.image.key"
BASE_ENV = "CHAOS_IMAGE_BASE"
JRE_REF = "chaos/jre:17"
BUILD_TIMEOUT_S = 1800.0
SAVE_TIMEOUT_S = 600.0
# Bump when the staging or the tarball layout changes: it invalidates every cached image.
RECIPE_VERSION = "1"


def _kafka_libs(log: Callable[[str], None]) -> dict[str, Path]:
    from ..components.kafka import ensure_kafka_jars
    return {"libs": ensure_kafka_jars(log)}


def _zookeeper_libs(log: Callable[[str], None]) -> dict[str, Path]:
    from ..components.zookeeper import ensure_zookeeper_jars
    return {"libs": ensure_zookeeper_jars(log)}


def _elasticsearch(log: Callable[[str], None]) -> dict[str, Path]:
    from ..components import es_server
    return {"elasticsearch": es_server.ensure_distribution(log), "libfdlimit.so": es_server.ensure_fd_shim()}


@dataclass(frozen=True)
class Build:
    """How one image is made: its context (a Dockerfile inside), its parent ("base" or "jre"),
    and what the harness stages into the context first (name in the context -> cached path)."""
    context: Path
    parent: str = "base"
    stage: Callable[[Callable[[str], None]], dict[str, Path]] | None = None


# stack.yaml `build` names the contexts; these keys add a parent or staged artifacts. A key that
# is not here is built on the base with its context alone.
RECIPES: dict[str, dict[str, Any]] = {
    "zookeeper": {"parent": "jre", "stage": _zookeeper_libs},
    "kafka": {"parent": "jre", "stage": _kafka_libs},
    "elasticsearch": {"parent": "jre", "stage": _elasticsearch},
}
JRE_BUILD = Build(IMAGES_DIR / "jre")


def builds_for(contexts: Mapping[str, Path]) -> dict[str, Build]:
    """The builds of stack.yaml's `build` entries (key -> context), with the jre image they share."""
    return {"jre": JRE_BUILD, **{key: Build(Path(ctx), **RECIPES.get(key, {})) for key, ctx in contexts.items()}}


def _rootfs_script():
    return load_file(ROOTFS_SCRIPT, "chaos_node_image_build")


def _tree_digest(h: "hashlib._Hash", root: Path, *, contents: bool) -> None:
    """Every file under root (or root itself), by relative path and content (contents=True) or
    size (large staged artifacts, whose names carry their versions)."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(root) if p != root else p.name).encode())
        h.update(p.read_bytes() if contents else str(p.stat().st_size).encode())


@dataclass
class ImageBuilder:
    """Builds (or loads from the cache) the stack's images into the Docker daemon `docker`."""
    docker: Sequence[str] = ("docker",)
    log: Callable[[str], None] = print
    builds: Mapping[str, Build] = field(default_factory=lambda: {"jre": JRE_BUILD})
    _keys: dict[str, str] = field(default_factory=dict)  # image key -> content key (base: its rootfs key)
    _base_ref: str = ""

    @property
    def cache(self) -> Path:
        return cache_dir() / "images"

    def _docker(self, *args: str, timeout: float = 120.0, check: bool = True):
        return run([*self.docker, *args], timeout=timeout, check=check)

    def label(self, ref: str) -> str | None:
        proc = self._docker("image", "inspect", "-f", f'{{{{index .Config.Labels "{KEY_LABEL}"}}}}', ref,
                            timeout=30, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    # --- the base --------------------------------------------------------------------------

    def base_key(self) -> str:
        """The base's key (its rootfs recipe, or CHAOS_IMAGE_BASE itself), with nothing built."""
        if "base" not in self._keys:
            if os.environ.get(BASE_ENV):
                self._keys["base"] = self._base_ref = os.environ[BASE_ENV]
            else:
                key = _rootfs_script().image_key(())
                self._keys["base"], self._base_ref = key, f"chaos/debian:bookworm-{key}"
        return self._keys["base"]

    def base(self) -> str:
        """The base image's reference: CHAOS_IMAGE_BASE, or the debootstrap rootfs, imported once."""
        key = self.base_key()
        if os.environ.get(BASE_ENV) or self.label(self._base_ref) == key:
            return self._base_ref
        script = _rootfs_script()
        script.emit = self.log
        try:
            tarball = script.build_rootfs(packages=(), name="chaos-debian")
        except SystemExit as exc:  # the script's way of failing: a message, no traceback
            raise PlatformError(f"cannot build the base image's rootfs: {exc}") from None
        self.log(f"importing the base image {self._base_ref} from {tarball.name}")
        self._docker("import", "--change", f"LABEL {KEY_LABEL}={key}", "--change", 'CMD ["/bin/bash"]',
                     str(tarball), self._base_ref, timeout=SAVE_TIMEOUT_S)
        return self._base_ref

    # --- one image -------------------------------------------------------------------------

    def _stage(self, key: str) -> dict[str, Path]:
        build = self.builds[key]
        return build.stage(self.log) if build.stage else {}

    def image_key(self, key: str, staged: Mapping[str, Path]) -> str:
        build = self.builds[key]
        h = hashlib.sha256(f"{key}|{RECIPE_VERSION}|{self._keys[build.parent]}".encode())
        _tree_digest(h, build.context, contents=True)
        for name, path in sorted(staged.items()):
            h.update(name.encode())
            _tree_digest(h, path, contents=path.is_file())
        return h.hexdigest()[:16]

    def ensure(self, key: str, ref: str) -> str:
        """The image `key` in the daemon as `ref` (its parent first): current already, loaded
        from the cache, or built and saved there. Returns how ("current", "loaded", "built")."""
        if key not in self.builds:
            raise PlatformError(f"no build for image {key!r} (fix: one of {', '.join(self.builds)})")
        build = self.builds[key]
        self.base_key()  # the parents' keys only: a current or cached image needs no parent present
        if build.parent == "jre" and "jre" not in self._keys:
            self._keys["jre"] = self.image_key("jre", {})
        staged = self._stage(key)
        image_key = self.image_key(key, staged)
        self._keys[key] = image_key
        if self.label(ref) == image_key:
            return "current"
        tarball = self.cache / f"{key}-{image_key}.tar"
        self.cache.mkdir(parents=True, exist_ok=True)
        with file_lock(self.cache / f"{key}.lock"):
            if tarball.is_file():
                self.log(f"docker load {tarball.name}")
                self._docker("load", "-i", str(tarball), timeout=SAVE_TIMEOUT_S)
                if self.label(ref) == image_key:
                    return "loaded"
            self.base() if build.parent == "base" else self.ensure("jre", JRE_REF)
            self._build(key, ref, image_key, staged)
            if self.label(ref) != image_key:
                raise PlatformError(f"docker build of image {key!r} left no {ref} labelled {KEY_LABEL}={image_key} "
                                    f"(fix: check the Docker daemon {' '.join(self.docker)})")
            for old in self.cache.glob(f"{key}-*.tar"):
                old.unlink()
            partial = tarball.with_suffix(".partial")
            self._docker("save", "-o", str(partial), ref, timeout=SAVE_TIMEOUT_S)
            partial.rename(tarball)
        return "built"

    def _build(self, key: str, ref: str, image_key: str, staged: Mapping[str, Path]) -> None:
        build = self.builds[key]
        context = self.cache / "context" / key
        shutil.rmtree(context, ignore_errors=True)
        shutil.copytree(build.context, context)
        for name, path in staged.items():
            target = context / name
            if path.is_dir():
                shutil.copytree(path, target, copy_function=_link_or_copy,
                                ignore=shutil.ignore_patterns(".complete", "*.lock"))
            else:
                _link_or_copy(str(path), str(target))
        parent = {"base": ("BASE", self._base_ref), "jre": ("JRE", JRE_REF)}[build.parent]
        where = build.context.relative_to(REPO) if build.context.is_relative_to(REPO) else build.context
        self.log(f"building image {ref} ({key}, key {image_key}) from {where}")
        try:
            self._docker("build", "--network", "host", "--build-arg", f"{parent[0]}={parent[1]}",
                         "--label", f"{KEY_LABEL}={image_key}", "-t", ref, str(context), timeout=BUILD_TIMEOUT_S)
        finally:
            shutil.rmtree(context, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
