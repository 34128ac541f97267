"""Predicted failover per fault class, from each component's deployed settings, and the split of
a far measurement into detection, election and reconnect from log lines in the servers' own
formats (written to real files here)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from chaos.components import elasticsearch, kafka, postgres, redis, zookeeper
from chaos.predictions import LogMarkers, Prediction, assess, explain, fault_class, log_time


def test_fault_classes():
    assert [fault_class(f) for f in ("kill", "crash", "partition", "drain", "quorum-loss")] == [
        "kill", "silent", "silent", "graceful", None]


@pytest.mark.parametrize("line, expected", [
    ("2026-12-01 18:00:01,250 [myid:2] - INFO  [QuorumPeer] - LEADING", "2026-12-01 18:00:01.250"),
    ("2026-12-01 18:00:01.250 WARN  [QuorumController] Fencing broker 2", "2026-12-01 18:00:01.250"),
    ("[2026-12-01 18:00:01] [NOTICE] promoting standby to primary", "2026-12-01 18:00:01.000"),
    ("2026-12-01 18:00:01.250 UTC [812] LOG:  received promote request", "2026-12-01 18:00:01.250"),
    ("1234:S 01 Dec 2026 18:00:01.250 # Failover election won for epoch 7.", "2026-12-01 18:00:01.250"),
])
def test_log_time_reads_each_servers_format(line, expected):
    assert log_time(line) == pytest.approx(datetime.strptime(expected, "%Y-%m-%d %H:%M:%S.%f").timestamp())


def test_log_time_without_a_stamp_is_none():
    assert log_time("SLF4J: Defaulting to no-operation (NOP) logger implementation") is None


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%d %b %Y %H:%M:%S.%f")[:-3]


def test_explain_splits_the_outage_from_the_logs(tmp_path):
    injected = time.time() - 60
    (tmp_path / "redis-1.log").write_text(
        f"1:M {_stamp(injected - 30)} # Marking node aaa as failing (quorum reached).\n"  # an earlier experiment
        f"1:M {_stamp(injected + 3.1)} * Marking node bbb as failing (quorum reached).\n")
    (tmp_path / "redis-4.log").write_text(f"4:S {_stamp(injected + 3.9)} # Failover election won for epoch 8.\n")
    logs = {"redis-1": tmp_path / "redis-1.log", "redis-4": tmp_path / "redis-4.log"}
    why = explain(redis.FAILOVER_LOG, logs, injected, injected + 30, measured_s=5.0)
    assert (why["detection_s"], why["election_s"], why["reconnect_s"]) == pytest.approx((3.1, 0.8, 1.1), abs=0.002)
    assert why["elected"]["pod"] == "redis-4" and "election won" in why["elected"]["line"]


def test_an_outage_shorter_than_the_election_has_no_negative_reconnect(tmp_path):
    # Found on Kafka with acks=1: the cut-off leader kept acknowledging, so the clients' 0.44 s
    # outage ended before the majority's election; a "reconnect" of -3.4 s said nothing true.
    from chaos.results import prediction_text

    injected = time.time() - 60
    (tmp_path / "redis-1.log").write_text(f"1:M {_stamp(injected + 2.0)} * Marking node bbb as failing.\n")
    (tmp_path / "redis-4.log").write_text(f"4:S {_stamp(injected + 3.8)} # Failover election won for epoch 8.\n")
    logs = {"redis-1": tmp_path / "redis-1.log", "redis-4": tmp_path / "redis-4.log"}
    why = explain(redis.FAILOVER_LOG, logs, injected, injected + 30, measured_s=0.44)
    assert why["reconnect_s"] is None
    assert why["election_s"] == pytest.approx(1.8, abs=0.002)
    text = prediction_text({"measured_s": 0.44, "ratio": 0.09, "predicted_s": 5.0, "fault_class": "silent",
                            "formula": "f", "explanation": why})
    assert "did not wait for the failover" in text and "-" not in text.split("logs:")[1]


def test_explain_says_unexplained_without_markers(tmp_path):
    (tmp_path / "p.log").write_text("nothing dated here\n")
    markers = LogMarkers(detected=("gone",), elected=("won",))
    assert "no detection marker" in explain(markers, {"p": tmp_path / "p.log"}, time.time(), time.time() + 9,
                                            1.0)["unexplained"]
    assert explain(markers, {}, 0, 1, 1.0) == {"unexplained": "no pod logs on this platform"}
    assert "names no failover markers" in explain(None, {"p": tmp_path / "p.log"}, 0, 1, 1.0)["unexplained"]


def test_assess_explains_only_a_measurement_off_by_more_than_25_percent(tmp_path):
    p = Prediction("kill", 4.0, "f", {"x": 1})
    near = assess(p, 4.9, injected_wall=0, until_wall=1)
    assert near["ratio"] == 1.23 and near["off"] is False and "explanation" not in near
    far = assess(p, 5.1, markers=LogMarkers(("a",), ("b",)), logs={}, injected_wall=0, until_wall=1)
    assert far["off"] is True and far["explanation"] == {"unexplained": "no pod logs on this platform"}
    assert assess(None, 3.0) is None
    assert assess(p, None)["ratio"] is None


@pytest.mark.parametrize("settings, fault, expected", [
    (postgres.Settings(), "kill", 4.0), (postgres.Settings(), "graceful", 4.0), (postgres.Settings(), "silent", 10.0),
    (postgres.Settings(reconnect_attempts=3), "kill", 6.0),
    (redis.Settings(), "kill", 4.0), (redis.Settings(), "silent", 5.0), (redis.Settings(cluster_node_timeout_ms=5000),
                                                                         "kill", 6.0),
    (kafka.Settings(), "kill", 5.0), (kafka.Settings(), "silent", 10.0), (kafka.Settings(), "graceful", 2.0),
    (zookeeper.Settings(), "kill", 0.7), (zookeeper.Settings(), "silent", 3.7),
    (zookeeper.Settings(cnx_timeout_ms=5000), "silent", 7.7),
    (elasticsearch.Settings(), "kill", 2.0), (elasticsearch.Settings(), "graceful", 2.0),
    (elasticsearch.Settings(), "silent", 17.0), (elasticsearch.Settings(leader_check_timeout_s=10.0,
                                                                       leader_check_retry_count=3), "silent", 42.0),
])
def test_each_prediction_follows_the_deployed_settings(settings, fault, expected):
    prediction = settings.predict(fault)
    assert prediction.predicted_s == pytest.approx(expected) and prediction.fault_class == fault
    assert prediction.formula and all(name in prediction.formula for name in prediction.inputs)


def test_a_member_whose_loss_needs_no_failover_has_no_prediction():
    cluster = redis.RedisCluster.__new__(redis.RedisCluster)
    cluster.settings = redis.Settings()
    assert cluster.predict("kill", "replica") is None and cluster.predict(None, "master") is None
    assert cluster.predict("kill", "master").predicted_s == pytest.approx(4.0)


# Lines as the servers wrote them in runs on this machine (the harness's own log settings).
REAL_LINES = {
    postgres: ('[2026-12-01 18:08:55] [WARNING] unable to ping "host=10.213.80.21 port=5432 user=repmgr"',
               "2026-12-01 18:09:01.802 UTC [4322] LOG:  received promote request"),
    redis: ("11230:M 01 Dec 2026 18:10:11.050 * Marking node d00d02aabc75 as failing (quorum reached).",
            "11240:S 01 Dec 2026 18:10:11.779 # Failover election won: I'm the new master."),
    zookeeper: ("2026-12-01 18:10:11.050 [QuorumPeer[myid=1](plain=10.213.80.11:2181)(secure=disabled)] WARN "
                "org.apache.zookeeper.server.quorum.Learner - Exception when following the leader",
                "2026-12-01 18:10:11.379 [QuorumPeer[myid=2](plain=10.213.80.21:2181)(secure=disabled)] INFO "
                "org.apache.zookeeper.server.quorum.Leader - LEADING - LEADER ELECTION TOOK - 329 MS"),
    # The controller moves a fenced broker's leaderships in the step that fences it: one line.
    kafka: ("2026-12-01 18:19:55.530 INFO  [ReplicationControlManager] [QuorumController id=1] Fencing broker 3 at "
            "epoch 21 because its session has timed out.",) * 2,
    elasticsearch: ("[2026-12-02T02:18:43,166][INFO ][o.e.c.c.Coordinator      ] [es-0] master node [{es-1}"
                    "{EZI1osdFQpmmxn82qeV3fQ}{5_P7QcPFRiqD_3B9rBtlNg}{es-1}{10.231.0.21}{10.231.0.21:9300}{dm}{8.19.0}"
                    "{7000099-8536000}] disconnected, restarting discovery",
                    "[2026-12-02T02:18:44,913][INFO ][o.e.c.s.MasterService    ] [es-2] elected-as-master ([2] nodes "
                    "joined in term 13)[_FINISH_ELECTION_, {es-0}"),
}


def test_a_kafka_controller_election_dates_the_takeover(tmp_path):
    (tmp_path / "k.log").write_text(
        "2026-12-01 18:21:30.763 INFO  [QuorumState] [RaftManager id=3] Completed transition to ProspectiveState(e\n"
        "2026-12-01 18:21:31.005 INFO  [QuorumState] [RaftManager id=3] Completed transition to Leader(localVoter\n")
    t0 = log_time("2026-12-01 18:21:30.000")
    why = explain(kafka.FAILOVER_LOG, {"kafka-2": tmp_path / "k.log"}, t0, t0 + 9, measured_s=2.0)
    assert (why["detection_s"], why["election_s"], why["reconnect_s"]) == pytest.approx((0.763, 0.242, 0.995))


@pytest.mark.parametrize("module", list(REAL_LINES), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_components_markers_find_its_real_log_lines(module, tmp_path):
    detected, elected = REAL_LINES[module]
    (tmp_path / "a.log").write_text("unrelated line without a stamp\n" + detected + "\n")
    (tmp_path / "b.log").write_text(elected + "\n")
    t_detected, t_elected = log_time(detected), log_time(elected)
    why = explain(module.FAILOVER_LOG, {"a": tmp_path / "a.log", "b": tmp_path / "b.log"}, t_detected - 0.5,
                  t_elected + 1, measured_s=t_elected - t_detected + 2)
    assert why["detected"]["line"] == detected.strip()[:300] and why["elected"]["line"] == elected.strip()[:300]
    assert why["detection_s"] == pytest.approx(0.5, abs=0.002)
