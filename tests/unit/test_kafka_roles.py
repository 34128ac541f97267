"""Role discovery for Kafka from kafka-python answers recorded from this harness's real KRaft
cluster (tests/unit/recorded/kafka_metadata.json): describe_topics before and after the probe's
topic existed, and describe_metadata_quorum."""

import json
from pathlib import Path

import pytest

from chaos.components.kafka import TOPIC, parse_partition_roles, quorum_leader

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
