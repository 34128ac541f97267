"""Host-wide names of the local platform and log pruning: pure, no namespaces created."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from chaos.errors import InvalidConfig
from chaos.platforms.local import LocalPlatform
from chaos.platforms.local_host import Names, _prune_logs, veth_name


def test_default_instance_names():
    names = Names()
    assert (names.bridge, names.lock, names.netns("a", 1)) == ("chaosbr0", "local.lock", "chaos-a1")
    assert veth_name("chaos-a1") == "cz-a1"
    assert names.is_netns("chaos-b2") and names.is_veth("cz-b2")


def test_other_instances_never_match_the_default_ones():
    h = Names("h")
    assert (h.bridge, h.lock, h.netns("c", 1)) == ("chaosbrh", "local-h.lock", "chaos-hc1")
    assert veth_name("chaos-hc1") == "czh-c1"
    assert not Names().is_netns("chaos-hc1") and not Names().is_veth("czh-c1")
    assert not h.is_netns("chaos-c1") and not h.is_veth("cz-c1")
    assert len(veth_name("chaos-xyzc9")) <= 15  # kernel limit on interface names


@pytest.mark.parametrize("bad", ["H", "toolong", "a-b"])
def test_instance_names_are_validated(bad):
    with pytest.raises(InvalidConfig, match="instance"):
        Names(bad)


def test_node_addresses_follow_the_documented_layout():
    platform = LocalPlatform(subnet="10.99.0.0/24", run_id="test")
    assert platform.client_ip == "10.99.0.1"
    assert {n.name: (n.zone, n.ip) for n in platform.nodes()} == {
        "chaos-a1": ("a", "10.99.0.11"), "chaos-b1": ("b", "10.99.0.21"), "chaos-c1": ("c", "10.99.0.31")}


@pytest.mark.parametrize("subnet", ["10.99.0.0/25", "not-a-net", "fd00::/64"])
def test_bad_subnet_names_the_field(subnet):
    with pytest.raises(InvalidConfig, match="subnet"):
        LocalPlatform(subnet=subnet)


def test_prune_logs_keeps_the_most_recent_runs(tmp_path):
    for run_id in ["20261101-000000-aaaaaa", "20261102-000000-bbbbbb", "20261103-000000-cccccc"]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "pod.log").write_text("x")
    _prune_logs(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261102-000000-bbbbbb", "20261103-000000-cccccc"]


def test_a_heal_given_another_state_dir_leaves_an_instance_in_use_alone(tmp_path, monkeypatch):
    """The lock guarding an instance's host-wide namespaces is host-wide too: a `chaos heal
    --state-dir X` (or a run with another state directory) must see a live run of the instance."""
    import fcntl

    from chaos.platforms.local_host import heal_leftovers, local_platform_in_use, lock_path

    monkeypatch.setenv("CHAOS_LOCK_DIR", str(tmp_path / "locks"))
    names = Names("ut")
    path = lock_path(names)
    assert path.parent == tmp_path / "locks"
    path.parent.mkdir()
    with open(path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        logged: list[str] = []
        assert heal_leftovers(state_dir=tmp_path / "elsewhere", instance="ut", log=logged.append) == []
        assert logged and logged[0].startswith("skipping the sweep for leftovers")
        assert local_platform_in_use(names)
    assert not local_platform_in_use(names)



def test_a_state_dir_under_a_private_directory_is_refused_naming_it(tmp_path):
    from chaos.platforms.local import _check_traversable

    private = tmp_path / "private"
    private.mkdir()
    os.chmod(private, 0o700)
    with pytest.raises(InvalidConfig) as err:
        _check_traversable(private / "state")
    assert str(private) in str(err.value) and "chmod o+x" in str(err.value)
    shared = Path(tempfile.mkdtemp(prefix="chaos-unit-", dir="/var/tmp"))  # the control: open parents pass
    try:
        os.chmod(shared, 0o755)
        _check_traversable(shared / "state")
    finally:
        shutil.rmtree(shared)
