"""The kind stack's image builder (chaos.platforms.images): which image builds on which parent,
what its cache key covers, and that a current image is left alone. The Docker daemon here is a
stand-in script that records its arguments (the real builds run in tests/kind)."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from chaos.errors import PlatformError
from chaos.platforms.images import JRE_BUILD, KEY_LABEL, RECIPES, ImageBuilder, builds_for
from chaos.platforms.stack import load_stack


def test_every_stack_build_has_a_dockerfile_and_every_recipe_a_stack_entry():
    stack = load_stack()
    builds = builds_for(stack.build)
    assert builds["jre"] == JRE_BUILD
    for key, build in builds.items():
        assert (build.context / "Dockerfile").is_file(), key
        assert build.parent in ("base", "jre"), key
    assert set(RECIPES) <= set(stack.build), "a recipe for an image stack.yaml does not build"
    assert builds["kafka"].parent == "jre" and builds["kafka"].stage is not None
    assert builds["postgres-repmgr"].parent == "base" and builds["postgres-repmgr"].stage is None


def _builder(tmp_path: Path, docker=("docker",)) -> ImageBuilder:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text("FROM scratch\n")
    builder = ImageBuilder(docker=docker, log=lambda m: None, builds=builds_for({"thing": ctx}))
    builder._keys["base"] = "base-key-1"
    return builder


def test_the_key_covers_the_context_the_staged_artifacts_and_the_parent(tmp_path):
    builder = _builder(tmp_path)
    staged = tmp_path / "libs"
    staged.mkdir()
    (staged / "a-1.0.jar").write_bytes(b"x" * 10)
    first = builder.image_key("thing", {"libs": staged})
    assert builder.image_key("thing", {"libs": staged}) == first
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\nLABEL x=1\n")
    second = builder.image_key("thing", {"libs": staged})
    assert second != first
    (staged / "a-1.0.jar").write_bytes(b"x" * 11)
    third = builder.image_key("thing", {"libs": staged})
    assert third != second
    builder._keys["base"] = "base-key-2"
    assert builder.image_key("thing", {"libs": staged}) != third


def test_an_unknown_image_names_the_ones_there_are(tmp_path):
    with pytest.raises(PlatformError, match=r"no build for image 'nope' \(fix: one of jre, thing\)"):
        _builder(tmp_path).ensure("nope", "x:1")


def test_a_current_image_is_neither_built_nor_loaded(tmp_path, monkeypatch):
    """The stand-in daemon answers `image inspect` with the label of the key the builder computes;
    every other command would be recorded, and none may be run."""
    monkeypatch.setenv("CHAOS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CHAOS_IMAGE_BASE", "debian:bookworm-slim")
    calls, label = tmp_path / "calls", tmp_path / "label"
    fake = tmp_path / "docker"
    fake.write_text(f"#!{sys.executable}\nimport sys, pathlib\n"
                    f"pathlib.Path({str(calls)!r}).open('a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                    f"if sys.argv[1:3] == ['image', 'inspect']:\n"
                    f"    print(pathlib.Path({str(label)!r}).read_text())\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    builder = _builder(tmp_path, docker=(str(fake),))
    builder._keys.pop("base")  # CHAOS_IMAGE_BASE decides
    assert builder.base() == "debian:bookworm-slim"
    label.write_text(builder.image_key("thing", {}))
    assert builder.ensure("thing", "chaos/thing:1") == "current"
    commands = calls.read_text().splitlines()
    assert commands and all(c.startswith("image inspect") for c in commands), commands
    assert all(KEY_LABEL in c for c in commands)
    label.write_text("stale")
    with pytest.raises(PlatformError, match="left no chaos/thing:1 labelled"):  # the stand-in builds nothing
        builder.ensure("thing", "chaos/thing:1")
    assert any(c.startswith("build ") for c in calls.read_text().splitlines())
