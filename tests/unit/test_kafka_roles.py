"""Role discovery for Kafka from kafka-python answers recorded from this harness's real KRaft
cluster (tests/unit/recorded/kafka_metadata.json): describe_topics before and after the probe's
topic existed, and describe_metadata_quorum."""

import json
from pathlib import Path

import pytest

from chaos.components.kafka import TOPIC, lagging_voters, parse_partition_roles, quorum_leader

RECORDED = json.loads((Path(__file__).parent / "recorded" / "kafka_metadata.json").read_text())


def test_partition_leader_replicas_and_isr():
    roles = parse_partition_roles(RECORDED["describe_topics"], TOPIC)
    assert roles == {"leader": 2, "replicas": [2, 1, 3], "isr": [1, 2, 3]}


def test_a_topic_answered_with_an_error_is_not_a_role():
    with pytest.raises(ValueError, match="error code 3"):
        parse_partition_roles(RECORDED["describe_topics_before_creation"], TOPIC)


def test_unknown_topic_or_partition_raises():
    with pytest.raises(ValueError):
        parse_partition_roles(RECORDED["describe_topics"], "other-topic")
    with pytest.raises(ValueError):
        parse_partition_roles(RECORDED["describe_topics"], TOPIC, partition=1)


def test_active_controller_is_the_metadata_quorum_leader():
    assert quorum_leader(RECORDED["describe_metadata_quorum"]) == 1
    assert quorum_leader({"topics": []}) is None


def _voters(quorum):
    return quorum["topics"][0]["partitions"][0]["current_voters"]


def test_no_controller_lags_in_the_recorded_quorum():
    # Voter 2 is two records behind the high watermark but caught up 383 ms before the newest fetch.
    assert lagging_voters(RECORDED["describe_metadata_quorum"]) == []


def test_a_controller_that_last_caught_up_before_a_partition_lags():
    # What a broker cut off for 25 s looks like right after the heal: it has not caught up since.
    quorum = json.loads(json.dumps(RECORDED["describe_metadata_quorum"]))
    stale = _voters(quorum)[2]
    stale["last_caught_up_timestamp"] -= 25_000
    assert lagging_voters(quorum) == [3]
    stale["last_caught_up_timestamp"] = -1  # never caught up
    assert lagging_voters(quorum) == [3]


def test_a_quorum_answer_without_a_leader_is_no_answer():
    quorum = json.loads(json.dumps(RECORDED["describe_metadata_quorum"]))
    quorum["topics"][0]["partitions"][0]["leader_id"] = -1
    assert lagging_voters(quorum) is None
    quorum["topics"][0]["partitions"][0]["leader_id"] = 1
    quorum["topics"][0]["partitions"][0]["error"] = "NOT_LEADER_OR_FOLLOWER"
    assert lagging_voters(quorum) is None


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    import uuid

    from chaos.components import kafka

    # 0xf8 0x00...: base64url "-A..." (a dash first), then a plain one: the dash one is skipped
    ids = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x00" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(ids))
    assert kafka.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
