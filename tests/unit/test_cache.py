"""The cache entries the harness makes once (chaos.cache.cached_dir): real directories in tmp_path."""

from __future__ import annotations

import threading

import pytest

from chaos.cache import STAMP, cached_dir


def test_an_entry_is_built_once_then_reused(tmp_path):
    calls = []

    def build(tmp):
        calls.append(tmp)
        (tmp / "a.jar").write_text("jar")

    home = tmp_path / "thing-1.0"
    assert cached_dir(home, build, "1.0") == home
    assert (home / "a.jar").read_text() == "jar" and (home / STAMP).read_text() == "1.0\n"
    assert cached_dir(home, build, "1.0") == home
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing-1.0", "thing-1.0.lock"]


def test_a_failed_build_leaves_nothing_and_a_half_entry_is_rebuilt(tmp_path):
    home = tmp_path / "thing"
    home.mkdir()
    (home / "partial").write_text("from a crashed run, no stamp")

    def broken(tmp):
        (tmp / "x").write_text("x")
        raise RuntimeError("mvn failed")

    with pytest.raises(RuntimeError, match="mvn failed"):
        cached_dir(home, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing", "thing.lock"]
    assert cached_dir(home, lambda tmp: (tmp / "y").write_text("y") and None) == home
    assert sorted(p.name for p in home.iterdir()) == [STAMP, "y"]


def test_a_build_may_name_a_directory_inside_its_temporary_one(tmp_path):
    def unpack(tmp):
        (tmp / "dist-2.0" / "bin").mkdir(parents=True)
        return tmp / "dist-2.0"

    home = cached_dir(tmp_path / "dist", unpack)
    assert (home / "bin").is_dir() and (home / STAMP).exists()


def test_concurrent_makers_build_once(tmp_path):
    calls = []
    gate = threading.Event()

    def slow(tmp):
        calls.append(1)
        gate.wait(2)
        (tmp / "f").write_text("f")

    home = tmp_path / "shared"
    threads = [threading.Thread(target=cached_dir, args=(home, slow)) for _ in range(3)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and (home / "f").exists()


def test_a_changed_stamp_builds_the_entry_again(tmp_path):
    home = tmp_path / "kafka-libs"
    cached_dir(home, lambda tmp: (tmp / "old.jar").write_text("1") and None, "4.4.0 pom aaaa")
    assert cached_dir(home, lambda tmp: (tmp / "new.jar").write_text("2") and None, "4.4.0 pom bbbb") == home
    assert sorted(p.name for p in home.iterdir()) == [STAMP, "new.jar"]


def test_the_poms_the_harness_resolves_are_well_formed_and_pin_the_versions_the_code_names():
    """Maven refuses a pom it cannot parse (a comment holding `--` is one) only when it
    resolves the jars, at install time; this finds it at once."""
    import xml.etree.ElementTree as ET

    from chaos.components import kafka, zookeeper

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    for module, prop, version in ((zookeeper, "zookeeper.version", zookeeper.ZK_VERSION),
                                  (kafka, "kafka.version", kafka.KAFKA_VERSION)):
        root = ET.parse(module.POM).getroot()
        assert root.find(f"m:properties/m:{prop}", ns).text == version, module.POM
