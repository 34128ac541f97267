"""Selectors choose experiments from the catalog; a typo is the user's error, named as such."""

from __future__ import annotations

import pytest

from chaos.catalog import SCENARIOS, scenario, select
from chaos.errors import InvalidConfig

NEGATIVE = "postgres/negative-async-partition"
POSITIVE_KEYS = [s.key for s in SCENARIOS if not s.negative_control]
POSTGRES_POSITIVE = [k for k in POSITIVE_KEYS if k.startswith("postgres/")]


def keys(scenarios) -> list[str]:
    return [s.key for s in scenarios]


def test_catalog_negative_controls_and_unique_keys():
    # The other tests assume these facts about the catalog; fail loudly if it changes.
    assert len({s.key for s in SCENARIOS}) == len(SCENARIOS)
    assert [s.key for s in SCENARIOS if s.negative_control] == [
        NEGATIVE, "postgres/negative-unfenced-split-brain", "postgres/negative-location-per-zone",
        "zookeeper/negative-two-servers", "kafka/negative-leader-acks", "redis/negative-no-failover",
        "elasticsearch/negative-single-master-drain", "flink/negative-no-ha"]


def test_no_selector_means_every_positive_experiment():
    assert keys(select([])) == POSITIVE_KEYS
    assert keys(select(["", ""])) == POSITIVE_KEYS
    assert keys(select([], include_negative=True)) == [s.key for s in SCENARIOS]


def test_component_selector_selects_its_positive_experiments():
    assert keys(select(["postgres"])) == POSTGRES_POSITIVE
    assert all(k.startswith("zookeeper/") for k in keys(select(["zookeeper"])))


LOCAL_KILLS = ["postgres/primary-kill", "postgres/standby-kill", "zookeeper/leader-kill", "zookeeper/follower-kill",
               "kafka/leader-kill", "kafka/follower-kill", "redis/master-kill", "redis/replica-kill",
               "elasticsearch/master-kill", "elasticsearch/data-node-kill"]
KIND_ONLY_KILLS = ["clickhouse/replica-kill", "minio/server-kill"]
FLINK_KILLS = ["flink/jobmanager-kill", "flink/taskmanager-kill"]  # local and kind, after the others local


def test_fault_selector():
    assert keys(select(["kill"])) == LOCAL_KILLS + FLINK_KILLS + KIND_ONLY_KILLS  # chaos.components.COMPONENTS order
    assert {s.fault for s in select(["drain"])} == {"drain"}


def test_component_and_fault_selector():
    assert keys(select(["postgres/kill"])) == ["postgres/primary-kill", "postgres/standby-kill"]


def test_exact_key_selects_one():
    assert keys(select(["postgres/primary-kill"])) == ["postgres/primary-kill"]
    assert keys(select(["primary-kill"])) == ["postgres/primary-kill"]


def test_surrounding_slashes_are_ignored():
    assert keys(select(["/postgres/primary-kill/"])) == ["postgres/primary-kill"]


def test_negative_control_only_when_named_exactly():
    assert keys(select([NEGATIVE])) == [NEGATIVE]
    assert keys(select(["negative-async-partition"])) == [NEGATIVE]
    assert NEGATIVE not in keys(select(["postgres"]))
    assert NEGATIVE not in keys(select(["partition"]))
    assert NEGATIVE not in keys(select(["postgres/partition"]))
    # The partition selector still selects the positive partition experiments.
    assert keys(select(["postgres/partition"])) == ["postgres/primary-zone-partition",
                                                   "postgres/primary-zone-isolation"]


def test_include_negative_lets_broad_selectors_match_it():
    assert NEGATIVE in keys(select(["partition"], include_negative=True))
    assert NEGATIVE in keys(select(["postgres"], include_negative=True))


def test_overlapping_selectors_give_no_duplicates_and_keep_first_order():
    chosen = keys(select(["postgres/primary-kill", "kill", "postgres"]))
    assert len(chosen) == len(set(chosen))
    assert chosen[0] == "postgres/primary-kill"
    assert chosen[1] == "postgres/standby-kill"
    assert set(chosen) == set(POSTGRES_POSITIVE) | set(LOCAL_KILLS) | set(KIND_ONLY_KILLS) | set(FLINK_KILLS)


def test_components_deployed_from_fixtures_kind_only_are_left_out_of_the_local_platform():
    from chaos.catalog import SCENARIOS, on_platform

    local = {s.component for s in on_platform(SCENARIOS, "local")}
    kind = {s.component for s in on_platform(SCENARIOS, "kind")}
    assert local == {"postgres", "zookeeper", "kafka", "redis", "elasticsearch", "flink"}
    assert kind == local | {"clickhouse", "minio"}
    assert keys(on_platform(select(["kill"]), "local")) == LOCAL_KILLS + FLINK_KILLS


@pytest.mark.parametrize("selector", ["mysql", "postgres/nope", "nope/kill", "primary", "/", "kil"])
def test_unknown_selector_names_itself_and_the_field(selector):
    with pytest.raises(InvalidConfig) as info:
        select(["postgres", selector])
    assert info.value.field == "selector"
    assert repr(selector) in str(info.value)
    assert "chaos list" in str(info.value)


def test_scenario_by_key():
    s = scenario("postgres/primary-kill")
    assert (s.component, s.name, s.fault, s.role) == ("postgres", "primary-kill", "kill", "primary")
    assert scenario(NEGATIVE).negative_control is True


@pytest.mark.parametrize("key", ["primary-kill", "postgres", "postgres/kill", "postgres/nope"])
def test_scenario_needs_the_exact_key(key):
    with pytest.raises(InvalidConfig) as info:
        scenario(key)
    assert info.value.field == "selector"
    assert repr(key) in str(info.value)


@pytest.mark.parametrize("typo, meant", [("postgres/primary-kil", "postgres/primary-kill"), ("kafak", "kafka"),
                                         ("postgres/partiton", "postgres/partition"), ("drian", "drain"),
                                         ("standby-kil", "standby-kill")])
def test_a_misspelt_selector_gets_the_closest_one_not_every_name(typo, meant):
    with pytest.raises(InvalidConfig) as info:
        select([typo])
    message = str(info.value)
    assert f"did you mean {meant!r}?" in message and "`chaos list`" in message
    assert "zookeeper/leader-kill" not in message and "clickhouse" not in message


def test_a_selector_close_to_nothing_names_what_a_selector_can_be_not_every_experiment():
    with pytest.raises(InvalidConfig) as info:
        select(["xyzzy"])
    message = str(info.value)
    assert "did you mean" not in message and "`chaos list`" in message
    assert "postgres, redis, zookeeper" in message and "kill, partition, quorum-loss" in message
    assert not any(s.key in message for s in SCENARIOS)


def test_the_experiments_are_found_in_experiments_modules_in_component_order(tmp_path):
    from chaos.catalog import discover
    from chaos.components import COMPONENTS

    found = discover()
    assert [c for c in dict.fromkeys(s.component for s in found)][:len(COMPONENTS)] == list(COMPONENTS)
    assert {"zookeeper/rolling-follower-drain", "zookeeper/leader-killed-while-zone-cut-off"} <= {s.key for s in found}
    (tmp_path / "test_a.py").write_text("import chaos\nX = chaos.experiment('redis', chaos.kill(role='master'), "
                                        "name='same')\n")
    (tmp_path / "test_b.py").write_text("import chaos\nY = [chaos.experiment('redis', chaos.drain(role='master'), "
                                        "name='same')]\n")
    with pytest.raises(InvalidConfig, match="redis/same is defined twice: in .*test_a.py and .*test_b.py"):
        discover(tmp_path)
