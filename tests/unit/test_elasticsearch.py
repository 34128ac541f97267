"""Elasticsearch answers, parsed: role discovery, the acknowledgement rule and which errors are
definite failures. The answers were recorded from a real 3-node Elasticsearch 8.19.0 cluster
through elasticsearch-py 8.19.3 (tests/unit/recorded/elasticsearch_answers.json, see its _note);
the few answers no run gave (a write only the primary took) are derived from recorded ones, and say so."""

import copy
import json
from pathlib import Path

import pytest

es_module = pytest.importorskip("elasticsearch", reason="pip install elasticsearch==8.19.3")

from elastic_transport import ApiResponseMeta, ConnectionError as TransportConnectionError  # noqa: E402
from elastic_transport import ConnectionTimeout, HttpHeaders, NodeConfig  # noqa: E402
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError  # noqa: E402

from chaos.components.elasticsearch import (  # noqa: E402
    NotAcknowledged, Settings, acknowledgement, deployed_fault_detection, elected_master,
    is_definite, parse_master, parse_nodes, primary_of, seconds, settings_from_nodes)

RECORDED = json.loads((Path(__file__).parent / "recorded" / "elasticsearch_answers.json").read_text())


def api_error(status, body):
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.01,
                           node=NodeConfig("http", "127.0.0.1", 9200))
    return es_module.ApiError(message=str(body)[:80], meta=meta, body=body)


def transport_error(cls, cause):
    """A transport error the way elastic-transport raises it: `raise err from <urllib3 error>`."""
    try:
        try:
            raise cause
        except Exception as exc:
            raise cls(str(exc), errors=(exc,)) from exc
    except cls as err:
        return err


# --- roles -----------------------------------------------------------------------------------

def test_elected_master_from_the_cluster_state_and_from_cat_master():
    assert parse_master(RECORDED["cluster_state_master_nodes_local"]) == "es-2"
    assert parse_master(RECORDED["cat_master"]) == "es-2"


def test_a_node_without_a_master_names_none():
    assert parse_master(RECORDED["cluster_state_no_master_local"]) is None
    assert parse_master([]) is None


def test_an_answer_that_is_not_a_cluster_state_is_refused():
    with pytest.raises(ValueError):
        parse_master({"cluster_name": "x"})
    state = copy.deepcopy(RECORDED["cluster_state_master_nodes_local"])
    state["master_node"] = "no-such-node-id"
    with pytest.raises(ValueError, match="not among the nodes"):
        parse_master(state)


def test_nodes_with_their_roles_and_transport_ip():
    nodes = parse_nodes(RECORDED["cluster_state_master_nodes_local"])
    assert sorted(nodes) == ["es-0", "es-1", "es-2"]
    for info in nodes.values():
        assert {"master", "data"} <= set(info["roles"])
        assert info["ip"] == "127.0.0.1"
    # The survivor of two kills still lists the nodes it last knew, but names no master.
    assert sorted(parse_nodes(RECORDED["cluster_state_no_master_local"]))


def test_the_master_is_the_one_most_answering_nodes_name():
    assert elected_master({"a": {"master": "es-1"}, "b": {"master": "es-1"}, "c": {"error": "refused"}}) == "es-1"
    # Two nodes still see the old master, one already the new one: the majority wins.
    assert elected_master({"a": {"master": "es-0"}, "b": {"master": "es-0"}, "c": {"master": "es-1"}}) == "es-0"
    # No majority, or the majority has none: no master.
    assert elected_master({"a": {"master": "es-0"}, "b": {"master": "es-1"}}) is None
    assert elected_master({"a": {"master": None}, "b": {"master": None}, "c": {"master": "es-1"}}) is None
    assert elected_master({"a": {"error": "refused"}}) is None


def test_primary_node_of_the_probe_index_in_its_primary_term():
    state = RECORDED["routing_state"]
    assert primary_of(state, 1) == "es-0"
    # A state from another term says nothing about this term's primary.
    assert primary_of(state, 2) is None
    unassigned = copy.deepcopy(state)
    for shard in unassigned["routing_table"]["indices"]["chaos-probe"]["shards"]["0"]:
        if shard["primary"]:
            shard["state"], shard["node"] = "UNASSIGNED", None
    assert primary_of(unassigned, 1) is None


# --- the acknowledgement rule ----------------------------------------------------------------

def test_created_and_updated_with_no_failed_copy_are_acknowledged():
    facts = acknowledgement(RECORDED["index_created"])
    assert facts == {"primary_term": 1, "seq_no": 0, "copies": 3, "replicated": True}
    assert acknowledgement(RECORDED["index_updated"])["seq_no"] == 1


def test_a_failed_shard_copy_is_not_an_acknowledgement():
    # Recorded: the replica on the killed master failed the write; primary and one replica have it.
    answer = RECORDED["index_failed_replica"]
    assert answer["result"] == "updated" and answer["_shards"]["successful"] == 2
    with pytest.raises(NotAcknowledged, match="1 of 3 shard copies failed") as caught:
        acknowledgement(answer)
    assert caught.value.answer is answer


def test_an_answer_without_a_result_or_shard_counts_is_not_an_acknowledgement():
    answer = copy.deepcopy(RECORDED["index_created"])
    answer["result"] = "noop"
    with pytest.raises(NotAcknowledged):
        acknowledgement(answer)
    answer = copy.deepcopy(RECORDED["index_created"])
    del answer["_shards"]["failed"]
    with pytest.raises(NotAcknowledged):
        acknowledgement(answer)


def test_a_write_only_the_primary_took_is_acknowledged_but_not_replicated():
    # Derived: two of three nodes gone, the unassigned replicas count in total, not in failed.
    answer = copy.deepcopy(RECORDED["index_created"])
    answer["_shards"] = {"total": 3, "successful": 1, "failed": 0}
    assert acknowledgement(answer)["replicated"] is False


# --- definite failures -----------------------------------------------------------------------

def test_no_master_refusals_are_definite():
    for key in ("index_no_master_error", "cat_master_no_master_error"):
        rec = RECORDED[key]
        assert is_definite(api_error(rec["status"], rec["body"])), key


def test_a_refusal_after_an_attempt_that_may_have_reached_a_server_is_not_definite():
    rec = RECORDED["index_no_master_error"]
    assert not is_definite(api_error(rec["status"], rec["body"]), maybe_delivered=True)


def test_other_server_errors_are_indeterminate():
    body = {"error": {"type": "node_closed_exception", "reason": "node closed"}, "status": 500}
    assert not is_definite(api_error(500, body))
    assert is_definite(api_error(429, {"error": {"type": "circuit_breaking_exception"}, "status": 429}))


def test_a_connection_never_made_is_definite_a_cut_or_timed_out_one_is_not():
    refused = transport_error(TransportConnectionError, NewConnectionError(None, "Connection refused"))
    assert is_definite(refused)
    reset = transport_error(TransportConnectionError, ProtocolError("Connection aborted."))
    assert not is_definite(reset)
    timed_out = transport_error(ConnectionTimeout, ReadTimeoutError(None, "/", "Read timed out."))
    assert not is_definite(timed_out)
    # The transport keeps earlier attempts in .errors: one read timeout among them is enough.
    refused.errors = (timed_out,)
    assert not is_definite(refused)
    assert not is_definite(RuntimeError("anything else"))


# --- configuration ---------------------------------------------------------------------------

def test_fault_detection_as_the_recorded_nodes_run_it():
    deployed = deployed_fault_detection(RECORDED["nodes_settings"])
    assert sorted(deployed) == ["es-0", "es-1", "es-2"]
    for knobs in deployed.values():
        assert knobs["leader_check.timeout"] == "3s" and knobs["leader_check.retry_count"] == "2"
        assert knobs["follower_check.timeout"] == "3s" and knobs["follower_check.retry_count"] == "2"
        assert knobs["leader_check.interval"] == "1s"  # not set: the default


def test_the_deployed_knobs_replace_the_expected_ones():
    knobs = deployed_fault_detection(RECORDED["nodes_settings"])["es-0"]
    s = settings_from_nodes(Settings(leader_check_timeout_s=99.0), knobs)
    assert (s.leader_check_timeout_s, s.leader_check_retry_count, s.leader_check_interval_s) == (3.0, 2, 1.0)
    untuned = settings_from_nodes(Settings(), deployed_fault_detection({"nodes": {"x": {"name": "es-0"}}})["es-0"])
    assert untuned.follower_check_timeout_s == 10.0 and untuned.predicted_failover_s() == 67.0  # 3 * (10 + 1) twice + 1
    assert seconds("500ms") == 0.5 and seconds("1m") == 60.0
    with pytest.raises(ValueError):
        seconds("soon")


def test_settings_predict_the_failover_and_bound_a_probe_write():
    s = Settings()
    assert s.predicted_failover_s() == 17.0  # a silent master: 2 * (3 + 1) twice + 1 (election)
    assert s.op_timeout_s() == pytest.approx(6.5)




def test_doctor_names_the_missing_jdk_distribution_and_shim_compiler(tmp_path, monkeypatch):
    from chaos.components import es_server

    monkeypatch.setenv("CHAOS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(es_server, "M2_ZIP", tmp_path / "none.zip")
    monkeypatch.setattr(es_server, "java_home", lambda: None)
    monkeypatch.setattr(es_server.shutil, "which", lambda name: None)
    monkeypatch.setattr(es_server, "needs_fd_shim", lambda: True)
    missing = "\n".join(es_server.prerequisites())
    assert "Java 17" in missing and "openjdk-17-jdk-headless" in missing
    assert "Elasticsearch 8.19.0 distribution" in missing and "make install" in missing
    assert "gcc" in missing


def test_a_local_pod_enforces_the_bootstrap_checks_without_mmap_and_with_the_tuned_detection():
    from chaos.components.elasticsearch import Settings, node_config

    yml = node_config("es-0", "10.0.0.11", "/pods/es-0", ["10.0.0.11", "10.0.0.21", "10.0.0.31"],
                      ["es-0"], False, Settings())
    assert yml["network.host"] == "10.0.0.11" and yml["node.roles"] == ["data"]
    assert yml["node.store.allow_mmap"] is False  # lifts the vm.max_map_count check
    assert yml["discovery.seed_hosts"] == ["10.0.0.11:9300", "10.0.0.21:9300", "10.0.0.31:9300"]
    assert yml["cluster.fault_detection.leader_check.timeout"] == "3s"
    assert yml["cluster.fault_detection.follower_check.retry_count"] == 2
    assert yml["cluster.publish.timeout"] == "5s" and yml["transport.connect_timeout"] == "2s"
