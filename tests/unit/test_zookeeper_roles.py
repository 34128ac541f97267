"""Role discovery for ZooKeeper from `srvr` answers recorded from the real Debian 3.8 servers
of this harness (tests/unit/recorded/zookeeper_srvr.json: a leader, two followers, and a
server whose quorum was held down)."""

import json
from pathlib import Path

import pytest

from chaos.components.zookeeper import parse_srvr

RECORDED = json.loads((Path(__file__).parent / "recorded" / "zookeeper_srvr.json").read_text())


def test_leader_and_followers():
    modes = {pod: parse_srvr(text)["mode"] for pod, text in RECORDED.items() if pod.startswith("zk-")}
    assert sorted(modes.values()) == ["follower", "follower", "leader"]


def test_leader_zxid_and_node_count_are_parsed():
    leader = next(parse_srvr(t) for p, t in RECORDED.items() if "Mode: leader" in t)
    assert leader["serving"] and leader["zxid"] == 0x100000000 and leader["node_count"] == 5
    assert leader["version"].startswith("3.8.0")


def test_a_server_without_quorum_is_not_serving():
    assert parse_srvr(RECORDED["not-serving"]) == {"serving": False, "mode": None, "zxid": None}


@pytest.mark.parametrize("garbage", ["", "imok", "<html>"])
def test_anything_else_is_an_error_not_a_role(garbage):
    with pytest.raises(ValueError):
        parse_srvr(garbage)
